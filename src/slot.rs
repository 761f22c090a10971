//! Making and opening one slot: the step that wraps a file's secret s (the data key D, or one
//! share of it) under token ⊕ password. It knows the token only through the traits in
//! [`crate::token`], and the file only through its encoded regions.

use crate::crypto;
use crate::format::{self, BackupFile, Descriptor, Encoded, Slot, SlotMaterial};
use crate::secret::{FileSecret, PasswordKey, TokenSecret};
use crate::token::{KeyOps, TokenError, TokenKey};

/// Why a slot did not open.
#[derive(Debug)]
pub enum OpenError {
    /// The token failed or refused (PIN, wrong AES key, missing function, ...).
    Token(TokenError),
    /// The file's ephemeral point is not on P-256: never sent to the token.
    BadPoint(String),
    /// The token's P-256 key is not the one this slot names (checked before any ECDH).
    KeyHashMismatch,
    /// A `pubkey:` key cannot open anything.
    PublicOnly,
    /// The key commitment did not match: wrong password (the token part was right), or the
    /// file was deliberately altered.
    Commitment,
    /// Commitment matched but the AEAD did not open: deliberately altered.
    Aead,
    /// The key offered is of another kind than the slot (an AES key for an ECDH slot, or the
    /// other way round): not this key's slot.
    NotMine,
}

impl From<TokenError> for OpenError {
    fn from(e: TokenError) -> Self {
        OpenError::Token(e)
    }
}

/// Make a slot for `key` that wraps `s` under `a` (the file's Argon2id output).
pub fn make_slot(
    hc: &[u8; 32],
    file_fields: &[u8],
    key: &TokenKey<'_>,
    a: &PasswordKey,
    s: &FileSecret,
) -> Result<Slot, TokenError> {
    let salt: [u8; 32] = crypto::random_array();
    let descriptor = key.descriptor.clone();
    let (material, z, verified) = match &key.ops {
        KeyOps::Aes(k) => {
            let z = crypto::random_token_secret();
            let mut iv: [u8; 12] = crypto::random_array();
            let aad = crypto::token_aad(hc, &format::encode_descriptor(&descriptor));
            let ciphertext = k.encrypt_z(&mut iv, &aad, &z)?;
            (SlotMaterial::TokenCiphertext { iv, ciphertext }, z, true)
        }
        KeyOps::Ecdh(k) => {
            let (e, z) = ecdh_to(&k.public_point(), &key.name)?;
            (SlotMaterial::Ephemeral(e), z, true)
        }
        KeyOps::PublicOnly(p) => {
            let (e, z) = ecdh_to(p, &key.name)?;
            (SlotMaterial::Ephemeral(e), z, false)
        }
    };
    let slot_fields = format::encode_slot_fields(&descriptor, verified, &salt, &material);
    let aad = crypto::slot_aad(hc, file_fields, &slot_fields);
    let (kek, key_commitment) = crypto::slot_keys(&z, a, &salt, &aad);
    let wrap_nonce: [u8; 12] = crypto::random_array();
    let wrapped =
        crypto::wrap_file_secret(&kek, &wrap_nonce, &aad, s).map_err(|e| TokenError::Failed {
            token: key.name.clone(),
            detail: e.to_string(),
        })?;
    Ok(Slot {
        descriptor,
        verified,
        salt,
        material,
        wrap_nonce,
        wrapped,
        key_commitment,
    })
}

fn ecdh_to(point: &[u8; 65], name: &str) -> Result<([u8; 65], TokenSecret), TokenError> {
    let pk = crypto::validate_p256_point(point).map_err(|e| TokenError::KeyUnusable {
        key: name.to_owned(),
        reason: format!("its public key is {e}"),
    })?;
    let (e, z) = crypto::ephemeral_ecdh(&pk);
    let z = crypto::check_z(z.expose()).map_err(|reason| TokenError::KeyUnusable {
        key: name.to_owned(),
        reason,
    })?;
    Ok((e, z))
}

/// Before a token sees anything from slot `i`: the ephemeral point must be a valid P-256 point
/// and the token key must be the one the slot names.
pub fn precheck_ecdh(
    file: &BackupFile,
    i: usize,
    token_point: &[u8; 65],
) -> Result<p256::PublicKey, OpenError> {
    let slot = file.slots.get(i).ok_or(OpenError::NotMine)?;
    // The parser pairs ECDH slots with an ephemeral point and a key hash: a slot without them is
    // not an ECDH slot, so an ECDH key has nothing to do with it.
    let (SlotMaterial::Ephemeral(e), Some(want)) = (&slot.material, slot.descriptor.key_hash())
    else {
        return Err(OpenError::NotMine);
    };
    let peer = crypto::validate_p256_point(e).map_err(OpenError::BadPoint)?;
    if !crypto::ct_eq(want, &crypto::p256_key_hash(token_point)) {
        return Err(OpenError::KeyHashMismatch);
    }
    Ok(peer)
}

/// Open slot `i` of a parsed file with a token key and the file's Argon2id output: returns s.
/// The caller checks the file MAC with s before using it for anything else. A key of another
/// kind than the slot answers [`OpenError::NotMine`].
pub fn open_slot(
    file: &BackupFile,
    enc: &Encoded,
    i: usize,
    ops: &KeyOps<'_>,
    a: &PasswordKey,
) -> Result<FileSecret, OpenError> {
    let z = token_secret(file, enc, i, ops, false)?;
    open_with_z(file, enc, i, &z, a)
}

/// The token half of opening slot `i`: the key proves it is the slot's key, and gives z. No
/// password is involved, so this runs before any is asked: a wrong token or a PIN typo costs
/// no Argon2id.
///
/// What counts as proof: an AES key decrypts the slot's token ciphertext (its GCM tag
/// verifies); a P-256 key's public point hashes to the slot's key hash and, with `challenge`,
/// the token's ECDH of a fresh point agrees with software ECDH against that public point (so a
/// token that only claims the public key proves nothing). Anything else is
/// [`OpenError::Token`], [`OpenError::KeyHashMismatch`] or [`OpenError::NotMine`]: not proven.
pub fn token_secret(
    file: &BackupFile,
    enc: &Encoded,
    i: usize,
    ops: &KeyOps<'_>,
    challenge: bool,
) -> Result<TokenSecret, OpenError> {
    let slot = file.slots.get(i).ok_or(OpenError::NotMine)?;
    let hc = crypto::common_header_hash(enc.common());
    match (ops, &slot.material) {
        (KeyOps::Aes(k), SlotMaterial::TokenCiphertext { iv, ciphertext }) => {
            let aad = crypto::token_aad(&hc, enc.slot_descriptor(i));
            Ok(k.decrypt_z(iv, &aad, ciphertext)?)
        }
        (KeyOps::Ecdh(k), SlotMaterial::Ephemeral(_)) => {
            let point = k.public_point();
            let peer = precheck_ecdh(file, i, &point)?;
            if challenge {
                prove_ecdh(k.as_ref(), &point, &slot.descriptor)?;
            }
            let z = k.ecdh(&peer)?;
            crypto::check_z(z.expose()).map_err(|reason| {
                OpenError::Token(TokenError::Failed {
                    token: describe(&slot.descriptor),
                    detail: reason,
                })
            })
        }
        (KeyOps::PublicOnly(_), _) => Err(OpenError::PublicOnly),
        _ => Err(OpenError::NotMine),
    }
}

/// One ECDH with a fresh point: the token must agree with software ECDH against its claimed
/// public point, or it does not hold that key.
fn prove_ecdh(
    k: &dyn crate::token::EcdhP256,
    point: &[u8; 65],
    descriptor: &Descriptor,
) -> Result<(), OpenError> {
    let q = crypto::validate_p256_point(point).map_err(OpenError::BadPoint)?;
    let (challenge, want) = crypto::ephemeral_ecdh(&q);
    let challenge = crypto::validate_p256_point(&challenge).map_err(OpenError::BadPoint)?;
    let got = k.ecdh(&challenge)?;
    if !crypto::ct_eq(got.expose(), want.expose()) {
        return Err(OpenError::Token(TokenError::WrongKey {
            key: describe(descriptor),
        }));
    }
    Ok(())
}

/// The password half of opening slot `i`, with z from [`token_secret`]: the key commitment,
/// then the wrapped file secret.
pub fn open_with_z(
    file: &BackupFile,
    enc: &Encoded,
    i: usize,
    z: &TokenSecret,
    a: &PasswordKey,
) -> Result<FileSecret, OpenError> {
    let slot = file.slots.get(i).ok_or(OpenError::NotMine)?;
    let hc = crypto::common_header_hash(enc.common());
    let aad = crypto::slot_aad(&hc, enc.file_fields(), enc.slot_fields(i));
    let (kek, commitment) = crypto::slot_keys(z, a, &slot.salt, &aad);
    if !crypto::ct_eq(&commitment, &slot.key_commitment) {
        return Err(OpenError::Commitment);
    }
    crypto::unwrap_file_secret(&kek, &slot.wrap_nonce, &aad, &slot.wrapped).ok_or(OpenError::Aead)
}

fn describe(d: &Descriptor) -> String {
    d.describe()
}

/// The file MAC of an encoded file under its secret s.
pub fn compute_mac(file: &BackupFile, enc: &Encoded, s: &FileSecret) -> [u8; 32] {
    let k = crypto::file_mac_key(s, &file.common.set_id, file.own.index);
    crypto::file_mac(&k, enc.before_mac())
}
