//! Token backends. Each backend lives in its own module; the slot construction only sees the
//! traits here, so a YubiKey serves the same P-256 ECDH path as a PKCS#11 token.

pub mod locate;
pub mod piv;
pub mod pkcs11;
pub mod uri;

use std::fmt;

use crate::crypto::Key32;
use crate::format::Descriptor;

/// A token key that encrypts and decrypts the token secret z itself (AES-GCM on the token).
pub trait AesKey {
    /// Encrypt z; `iv` is in/out because some tokens choose the IV. Returns ciphertext ‖ tag.
    fn encrypt_z(
        &self,
        iv: &mut [u8; 12],
        aad: &[u8],
        z: &[u8; 32],
    ) -> Result<[u8; 48], TokenError>;
    /// Decrypt z. A tag that does not verify is [`TokenError::WrongKey`].
    fn decrypt_z(&self, iv: &[u8; 12], aad: &[u8], ct: &[u8; 48]) -> Result<Key32, TokenError>;
}

/// A token key that does P-256 ECDH: one function every ECDH provider (PKCS#11, PIV) serves.
pub trait EcdhP256 {
    /// The key's public point, uncompressed.
    fn public_point(&self) -> [u8; 65];
    /// x-coordinate of (private key × peer). `peer` has been validated on the curve by the caller.
    fn ecdh(&self, peer: &p256::PublicKey) -> Result<Key32, TokenError>;
}

/// One usable key, with what the file records about it.
pub struct TokenKey<'a> {
    pub descriptor: Descriptor,
    /// For messages: which token and key.
    pub name: String,
    pub ops: KeyOps<'a>,
}

pub enum KeyOps<'a> {
    Aes(Box<dyn AesKey + 'a>),
    Ecdh(Box<dyn EcdhP256 + 'a>),
    /// A public key alone (`pubkey:` file): can make a slot, cannot open one.
    PublicOnly([u8; 65]),
}

/// What went wrong with a token, independent of the backend.
#[derive(Debug)]
#[non_exhaustive]
pub enum TokenError {
    /// The PIN was refused; `final_try` when the token says one more wrong PIN locks it.
    PinIncorrect { token: String, final_try: bool },
    /// The PIN is locked (blocked): it needs the SO PIN / PUK.
    PinLocked { token: String },
    /// No PIN could be had (none given, no terminal to ask on).
    NoPin { token: String, detail: String },
    /// No token, module or key matches.
    NotFound { what: String },
    /// The key exists but cannot do the job (missing CKA_DERIVE, not P-256, ...).
    KeyUnusable { key: String, reason: String },
    /// The key did not open this slot: another key than the one the slot was made with.
    WrongKey { key: String },
    /// Any other failure, naming the token and what it said.
    Failed { token: String, detail: String },
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::PinIncorrect { token, final_try } => {
                write!(f, "the PIN for {token} was refused")?;
                if *final_try {
                    write!(f, "; the token says the next wrong PIN will lock it")?;
                }
                Ok(())
            }
            TokenError::PinLocked { token } => write!(f, "the PIN of {token} is locked"),
            TokenError::NoPin { token, detail } => write!(f, "no PIN for {token}: {detail}"),
            TokenError::NotFound { what } => write!(f, "{what}"),
            TokenError::KeyUnusable { key, reason } => write!(f, "{key} cannot be used: {reason}"),
            TokenError::WrongKey { key } => write!(
                f,
                "{key} did not open this slot: it is another key than the one the slot was made \
                 with, or the file's header was deliberately altered"
            ),
            TokenError::Failed { token, detail } => write!(f, "{token}: {detail}"),
        }
    }
}

impl std::error::Error for TokenError {}
