//! Token backends. Each backend lives in its own module (`pkcs11/`, `piv/`) with its adapter,
//! error mapping and resolver; the slot construction only sees the traits here, so a YubiKey
//! serves the same P-256 ECDH path as a PKCS#11 token. [`registry`] holds the sessions and cards
//! one operation opened, whatever their backend. Nothing here reads a user file or parses a
//! file format: PINs come from the [`Prompter`](crate::prompt::Prompter)'s PIN source.

pub mod p11kit;
pub mod piv;
pub mod pkcs11;
pub mod registry;
pub mod uri;

use std::fmt;

use crate::format::Descriptor;
use crate::secret::TokenSecret;

/// A token key that encrypts and decrypts the token secret z itself (AES-GCM on the token).
pub trait AesKey {
    /// Encrypt z; `iv` is in/out because some tokens choose the IV. Returns ciphertext ‖ tag.
    fn encrypt_z(
        &self,
        iv: &mut [u8; 12],
        aad: &[u8],
        z: &TokenSecret,
    ) -> Result<[u8; 48], TokenError>;
    /// Decrypt z. A tag that does not verify is [`TokenError::WrongKey`].
    fn decrypt_z(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        ct: &[u8; 48],
    ) -> Result<TokenSecret, TokenError>;
}

/// A token key that does P-256 ECDH: one function every ECDH provider (PKCS#11, PIV) serves.
pub trait EcdhP256 {
    /// The key's public point, uncompressed.
    fn public_point(&self) -> [u8; 65];
    /// x-coordinate of (private key × peer). `peer` has been validated on the curve by the caller.
    fn ecdh(&self, peer: &p256::PublicKey) -> Result<TokenSecret, TokenError>;
}

/// One usable key, with what the file records about it.
pub struct TokenKey<'a> {
    /// The key as a slot made with it records it.
    pub descriptor: Descriptor,
    /// For messages: which token and key (token strings already escaped).
    pub name: String,
    /// What the key can do.
    pub ops: KeyOps<'a>,
    /// Whether the key's secret half is held in hardware that does not let it out (a token
    /// key that is sensitive and not extractable, a PIV key). A key made in software, a key
    /// the token says can be read or copied, and a public key alone are not.
    pub hardware_bound: bool,
}

/// What a token key can do for a slot, by kind.
pub enum KeyOps<'a> {
    /// An AES key on the token: encrypts and decrypts z there.
    Aes(Box<dyn AesKey + 'a>),
    /// A P-256 key on the token or card: ECDH there.
    Ecdh(Box<dyn EcdhP256 + 'a>),
    /// A public key alone (`pubkey:` file): can make a slot, cannot open one.
    PublicOnly([u8; 65]),
}

/// A token backend as the registry sees it: it answers for the locators it understands and
/// says "not mine" (`None`) for every other one, so the registry can ask each backend in turn.
pub trait Backend {
    /// The key a locator names, found and logged in to (the PIN through `prompter`).
    fn resolve(
        &mut self,
        prompter: &mut dyn crate::prompt::Prompter,
        loc: &uri::TokenLocator,
    ) -> Option<Result<TokenKey<'static>, TokenError>>;
}

/// What went wrong with a token, independent of the backend.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum TokenError {
    /// The PIN was refused; `final_try` when the token says one more wrong PIN locks it.
    PinIncorrect {
        /// Which token, for people (may say how many tries are left).
        token: String,
        /// The token says the next wrong PIN locks it.
        final_try: bool,
    },
    /// The PIN is locked (blocked): it needs the SO PIN / PUK.
    PinLocked {
        /// Which token, for people (may say how to unblock it).
        token: String,
    },
    /// No PIN could be had (none given, no terminal to ask on).
    NoPin {
        /// Which token, for people.
        token: String,
        /// Why there was none; never a PIN.
        detail: String,
    },
    /// No token, module or key matches.
    NotFound {
        /// The whole message: what was looked for and what is present.
        what: String,
    },
    /// The key exists but cannot do the job (missing CKA_DERIVE, not P-256, ...).
    KeyUnusable {
        /// Which key, for people.
        key: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// The key is not bound to its token (imported, or the token could let its value out), and
    /// the operation adds it to a backup: refused unless the request allows exportable keys.
    NotBound {
        /// Which key, for people.
        key: String,
        /// Each attribute that failed, and what it means.
        reason: String,
    },
    /// The key did not open this slot: another key than the one the slot was made with.
    WrongKey {
        /// Which key, for people.
        key: String,
    },
    /// The PIN file a locator names (`pin-source=file:`) could not be read: nothing was sent
    /// to the token. Not a wrong PIN and not a wrong key.
    PinSource {
        /// Which token the PIN was for, for people.
        token: String,
        /// Which file and why it could not be read; never its content.
        detail: String,
    },
    /// Any other failure, naming the token and what it said.
    Failed {
        /// Which token, for people.
        token: String,
        /// What failed and what the token or library said.
        detail: String,
    },
    /// A YubiKey refused the management key that key generation authenticated with.
    ManagementKeyRefused {
        /// The card, for people.
        token: String,
        /// What the card said.
        detail: String,
    },
    /// Key generation found a key where the new one would go; custody never replaces a key
    /// unless told to.
    KeyExists {
        /// The whole message: where, and what to do instead.
        what: String,
    },
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
            TokenError::NotBound { key, reason } => write!(
                f,
                "{key} is not bound to its token ({reason}): whoever has its value and the \
                 password could open the backup without the token"
            ),
            TokenError::WrongKey { key } => write!(
                f,
                "{key} did not open this slot: it is another key than the one the slot was made \
                 with, or the file's header was deliberately altered"
            ),
            TokenError::PinSource { token, detail } => {
                write!(f, "{detail} (the PIN for {token}; nothing was sent to it)")
            }
            TokenError::Failed { token, detail } => write!(f, "{token}: {detail}"),
            TokenError::KeyExists { what } => write!(f, "{what}"),
            TokenError::ManagementKeyRefused { token, detail } => write!(
                f,
                "{token}: the management key was refused ({detail}): give the card's own management key"
            ),
        }
    }
}

impl std::error::Error for TokenError {}

impl TokenError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            TokenError::PinIncorrect { .. } | TokenError::WrongKey { .. } => {
                ErrorKind::Authentication
            }
            TokenError::PinLocked { .. } => ErrorKind::PinBlocked,
            TokenError::NotFound { .. } | TokenError::KeyUnusable { .. } => ErrorKind::NotFound,
            TokenError::NotBound { .. } => ErrorKind::NotFound,
            TokenError::KeyExists { .. } => ErrorKind::OutputExists,
            TokenError::NoPin { .. } => ErrorKind::Interaction,
            TokenError::PinSource { .. } => ErrorKind::Io,
            TokenError::Failed { .. } => ErrorKind::Token,
            TokenError::ManagementKeyRefused { .. } => ErrorKind::Token,
        }
    }
}

/// What the locator that named a token said about its PIN (its query part), if anything.
#[derive(Clone, Copy, Default)]
pub struct PinHint<'a> {
    /// `pin-value=`.
    pub value: Option<&'a secrecy::SecretString>,
    /// `pin-source=file:`.
    pub source: Option<&'a std::path::Path>,
}

/// A key made on a token or card by key generation.
#[derive(Clone, Debug)]
pub struct GeneratedKey {
    /// Which key, as a backup's slot would name it.
    pub descriptor: Descriptor,
    /// The key's label (PKCS#11) — empty for a PIV slot.
    pub label: String,
    /// The key's id (PKCS#11) — empty for a PIV slot.
    pub id: Vec<u8>,
    /// The public point of a P-256 key.
    pub public_point: Option<[u8; 65]>,
}

/// A PKCS#11 token as a listing shows it.
#[derive(Clone, Debug)]
///
/// The strings are the token's own, unescaped: escape them before showing them.
pub struct TokenSummary {
    /// The slot holding it (slot ids may change between runs).
    pub slot_id: u64,
    /// Token label, trailing padding removed.
    pub label: String,
    /// Serial number, padding removed.
    pub serial: String,
    /// Manufacturer id, trailing padding removed.
    pub manufacturer: String,
    /// Model, trailing padding removed.
    pub model: String,
    /// The token needs a login (a PIN) before its private objects can be used.
    pub login_required: bool,
    /// A wrong user PIN was given since the last good one.
    pub pin_count_low: bool,
    /// One more wrong user PIN locks it.
    pub pin_final_try: bool,
    /// The user PIN is locked.
    pub pin_locked: bool,
}

/// A YubiKey as a listing shows it.
#[derive(Clone, Debug)]
///
/// The reader name is the system's own, unescaped: escape it before showing it.
pub struct CardSummary {
    /// The PC/SC reader the card is in.
    pub reader: String,
    /// The YubiKey's serial number, as `yubikey:serial=` names it.
    pub serial: u32,
    /// Firmware version, e.g. `5.7.1`.
    pub version: String,
    /// PIN tries left; `None` when the card would not say.
    pub pin_tries: Option<u8>,
    /// Slots holding a P-256 key with a custody certificate: slot, uncompressed public key.
    pub custody_slots: Vec<(u8, [u8; 65])>,
}

/// A key on a PKCS#11 token, as `token list` shows it (never its value).
#[derive(Clone, Debug)]
pub struct KeySummary {
    /// `aes-256`, `p256`, `aes-128`, `ec` (another curve), or what else it is.
    pub kind: String,
    /// `CKA_LABEL`.
    pub label: String,
    /// `CKA_ID` (empty when it has none).
    pub id: Vec<u8>,
    /// Why custody cannot use it; `None` when it can.
    pub unusable: Option<String>,
    /// What makes it not bound to its token (a backup refuses it without
    /// `--allow-exportable-key`); empty when it is bound.
    pub not_bound: Vec<String>,
    /// A P-256 key's public point.
    pub public_point: Option<[u8; 65]>,
}

/// How to authenticate with a YubiKey's management key for key generation.
pub enum MgmSource {
    /// The factory default (3DES before firmware 5.7, AES-192 from 5.7).
    Default,
    /// A management key stored on the card, protected by the PIN.
    Protected,
    /// A key given in hex (the bytes of a key file, read by the caller).
    Given(zeroize::Zeroizing<Vec<u8>>),
}

/// When a YubiKey asks for its PIN before using a new key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PivPinPolicy {
    /// Once per session (after the PIN is verified).
    Once,
    /// Before every use.
    Always,
    /// Never: anyone holding the card can use the key.
    Never,
}

/// When a YubiKey asks for a touch before using a new key.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PivTouchPolicy {
    /// Before every use.
    Always,
    /// Once, then not again for 15 seconds.
    Cached,
    /// Never.
    Never,
}

/// Options of YubiKey key generation.
pub struct PivKeygen {
    /// How to authenticate with the card's management key, which key generation needs.
    pub mgm: MgmSource,
    /// When the new key asks for the PIN.
    pub pin_policy: PivPinPolicy,
    /// When the new key asks for a touch.
    pub touch_policy: PivTouchPolicy,
    /// Replace a key already in the slot.
    pub force: bool,
}

/// A PIN that could not be had, as a token failure of `token`: an unreadable PIN file is a
/// failure of what was given (its own cause, never a wrong PIN or key); anything else means
/// there was no PIN to give.
pub(crate) fn pin_error(token: &str, e: crate::prompt::PromptError) -> TokenError {
    match e {
        crate::prompt::PromptError::Source { detail } => TokenError::PinSource {
            token: token.to_owned(),
            detail,
        },
        // Not used, by the person's choice or by policy: for the search, a token not there.
        crate::prompt::PromptError::Skipped => TokenError::NotFound {
            what: format!("{token}: skipped (no PIN entered)"),
        },
        crate::prompt::PromptError::Declined { detail } => TokenError::NotFound {
            what: format!("{token}: {detail}"),
        },
        other => TokenError::NoPin {
            token: token.to_owned(),
            detail: other.to_string(),
        },
    }
}
