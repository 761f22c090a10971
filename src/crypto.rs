//! Every cryptographic primitive custody uses, with every input named. docs/FORMAT.md §Construction
//! describes the same steps; each derivation has its own domain-separation label below.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use p256::elliptic_curve::sec1::ToSec1Point;
use rand::TryRng;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::Zeroizing;

pub const LABEL_COMMON_HEADER: &str = "custody v1 common-header";
pub const LABEL_SLOT_AAD: &str = "custody v1 slot-aad";
pub const LABEL_TOKEN_AAD: &str = "custody v1 token-aad";
pub const LABEL_SLOT_KEK: &str = "custody v1 slot-kek";
pub const LABEL_KEY_COMMITMENT: &str = "custody v1 key-commitment";
pub const LABEL_PAYLOAD_KEY: &str = "custody v1 payload-key";
pub const LABEL_FILE_MAC_KEY: &str = "custody v1 file-mac-key";
pub const LABEL_FINGERPRINT: &str = "custody v1 fingerprint";
pub const LABEL_SHARE_COMMITMENT: &str = "custody v1 share-commitment";
pub const LABEL_P256_KEY_HASH: &str = "custody v1 p256-key-hash";

/// Argon2id's cost parameters (memory in KiB, passes, lanes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct KdfParams {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl KdfParams {
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 1024 * 1024,
        iterations: 3,
        parallelism: 4,
    };
}

/// A 32-byte key held in memory: the data key D, a share value, a token secret z, a KEK.
pub type Key32 = Zeroizing<[u8; 32]>;

/// Fill a buffer from the operating system's generator. There is no safe way to go on without
/// one, so a failure aborts the operation with a panic rather than returning weak bytes.
pub fn fill_random(buf: &mut [u8]) {
    rand::rngs::SysRng
        .try_fill_bytes(buf)
        .expect("the operating system's random number generator failed");
}

pub fn random_array<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    fill_random(&mut b);
    b
}

pub fn random_key() -> Key32 {
    let mut k = Zeroizing::new([0u8; 32]);
    fill_random(&mut k[..]);
    k
}

/// `u32be(len) ‖ bytes`: every variable-length input to a hash is framed this way.
fn lp(out: &mut Vec<u8>, bytes: &[u8]) {
    out.extend_from_slice(&(bytes.len() as u32).to_be_bytes());
    out.extend_from_slice(bytes);
}

fn framed(parts: &[&[u8]]) -> Vec<u8> {
    let mut v = Vec::new();
    for p in parts {
        lp(&mut v, p);
    }
    v
}

/// Plain SHA-256 of the bytes before the checksum line (so `head -n -1 FILE | sha256sum` checks it).
pub fn checksum(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

/// Hc: binds every file of one set to the same header.
pub fn common_header_hash(common: &[u8]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(framed(&[LABEL_COMMON_HEADER.as_bytes()]));
    h.update(common);
    h.finalize().into()
}

/// AAD of a slot's AEAD (and input of its KEK and key commitment).
pub fn slot_aad(hc: &[u8; 32], file_fields: &[u8], slot_fields: &[u8]) -> Vec<u8> {
    framed(&[LABEL_SLOT_AAD.as_bytes(), hc, file_fields, slot_fields])
}

/// AAD the token's own AES-GCM uses when it encrypts z.
pub fn token_aad(hc: &[u8; 32], descriptor: &[u8]) -> Vec<u8> {
    framed(&[LABEL_TOKEN_AAD.as_bytes(), hc, descriptor])
}

/// Why the password was refused before use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PasswordError {
    Empty,
}

/// NFC-normalise a password; the normalised copy is zeroized on drop.
pub fn normalize_password(p: &SecretString) -> Result<Zeroizing<String>, PasswordError> {
    use unicode_normalization::UnicodeNormalization;
    let n: Zeroizing<String> = Zeroizing::new(p.expose_secret().nfc().collect());
    if n.is_empty() {
        return Err(PasswordError::Empty);
    }
    Ok(n)
}

/// A = Argon2id(NFC(password), kdf-salt, m, t, p), 32 bytes, version 0x13.
pub fn argon2id(
    password: &SecretString,
    salt: &[u8; 32],
    kdf: &KdfParams,
) -> Result<Key32, String> {
    let pw = normalize_password(password).map_err(|_| "the password is empty".to_string())?;
    let params = argon2::Params::new(kdf.memory_kib, kdf.iterations, kdf.parallelism, Some(32))
        .map_err(|e| format!("Argon2id parameters rejected: {e}"))?;
    let a = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = Zeroizing::new([0u8; 32]);
    a.hash_password_into(pw.as_bytes(), salt, &mut out[..])
        .map_err(|e| format!("Argon2id failed: {e}"))?;
    Ok(out)
}

/// The KEK and key commitment of one slot: PRK = HKDF-Extract(slot-salt, z ‖ A), then one
/// HKDF-Expand per output with its own label, both bound to the slot AAD.
pub fn slot_keys(z: &[u8; 32], a: &[u8; 32], salt: &[u8; 32], aad: &[u8]) -> (Key32, [u8; 32]) {
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(z);
    ikm[32..].copy_from_slice(a);
    let hk = Hkdf::<Sha256>::new(Some(salt), &ikm[..]);
    let mut kek = Zeroizing::new([0u8; 32]);
    hk.expand(&framed(&[LABEL_SLOT_KEK.as_bytes(), aad]), &mut kek[..])
        .expect("32 bytes is a valid HKDF length");
    let mut commit = [0u8; 32];
    hk.expand(
        &framed(&[LABEL_KEY_COMMITMENT.as_bytes(), aad]),
        &mut commit,
    )
    .expect("32 bytes is a valid HKDF length");
    (kek, commit)
}

/// Constant-time comparison of a computed and a stored value.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

pub fn aead_seal(key: &[u8; 32], nonce: &[u8; 12], aad: &[u8], msg: &[u8]) -> Vec<u8> {
    Aes256Gcm::new(key.into())
        .encrypt(&Nonce::from(*nonce), Payload { msg, aad })
        .expect("AES-GCM encryption of a bounded message cannot fail")
}

pub fn aead_open(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    ct: &[u8],
) -> Option<Zeroizing<Vec<u8>>> {
    Aes256Gcm::new(key.into())
        .decrypt(&Nonce::from(*nonce), Payload { msg: ct, aad })
        .ok()
        .map(Zeroizing::new)
}

/// The key the secret is encrypted under: HKDF(salt = set id, ikm = D). D itself is never an AES key.
pub fn payload_key(d: &[u8; 32], set_id: &[u8; 16]) -> Key32 {
    let hk = Hkdf::<Sha256>::new(Some(set_id), d);
    let mut k = Zeroizing::new([0u8; 32]);
    hk.expand(&framed(&[LABEL_PAYLOAD_KEY.as_bytes()]), &mut k[..])
        .expect("valid length");
    k
}

/// The file MAC key, from the file's own secret s (D, or this file's share of D) and index.
pub fn file_mac_key(s: &[u8; 32], set_id: &[u8; 16], index: u8) -> Key32 {
    let hk = Hkdf::<Sha256>::new(Some(set_id), s);
    let mut k = Zeroizing::new([0u8; 32]);
    hk.expand(
        &framed(&[LABEL_FILE_MAC_KEY.as_bytes(), &[index]]),
        &mut k[..],
    )
    .expect("valid length");
    k
}

pub fn file_mac(key: &[u8; 32], before_mac: &[u8]) -> [u8; 32] {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    m.update(before_mac);
    m.finalize().into_bytes().into()
}

/// HMAC-SHA256(key = secret, label), first 16 bytes stored.
pub fn fingerprint(secret: &[u8]) -> [u8; 16] {
    let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).expect("any key length");
    m.update(LABEL_FINGERPRINT.as_bytes());
    let full: [u8; 32] = m.finalize().into_bytes().into();
    full[..16].try_into().expect("16 bytes")
}

/// `XXXX-XXXX-XXXX-XXXX`: the first 64 bits, for people to compare with the ceremony record.
pub fn fingerprint_display(fp: &[u8; 16]) -> String {
    let h = hex::encode_upper(&fp[..8]);
    format!("{}-{}-{}-{}", &h[0..4], &h[4..8], &h[8..12], &h[12..16])
}

/// SHA-256(label ‖ set id ‖ index ‖ value): commits to one share of D (D itself for 1-of-1).
pub fn share_commitment(set_id: &[u8; 16], index: u8, value: &[u8; 32]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(framed(&[LABEL_SHARE_COMMITMENT.as_bytes()]));
    h.update(set_id);
    h.update([index]);
    h.update(value);
    h.finalize().into()
}

/// Names a P-256 public key (uncompressed SEC1) without revealing it.
pub fn p256_key_hash(point: &[u8; 65]) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(framed(&[LABEL_P256_KEY_HASH.as_bytes()]));
    h.update(point);
    h.finalize().into()
}

/// Parse an uncompressed P-256 point and check it lies on the curve. This runs before any
/// token sees the point: an off-curve point sent to a token can leak its private key.
pub fn validate_p256_point(bytes: &[u8]) -> Result<p256::PublicKey, String> {
    if bytes.len() != 65 || bytes[0] != 0x04 {
        return Err("not an uncompressed P-256 point (04 ‖ X ‖ Y)".into());
    }
    p256::PublicKey::from_sec1_bytes(bytes).map_err(|_| "not a point on the P-256 curve".into())
}

pub fn p256_uncompressed(pk: &p256::PublicKey) -> [u8; 65] {
    pk.to_sec1_point(false)
        .as_bytes()
        .try_into()
        .expect("uncompressed P-256 point is 65 bytes")
}

/// Backup side of ECDH: a fresh ephemeral key against the token's public key. Returns the
/// ephemeral public point and z.
pub fn ephemeral_ecdh(token_pub: &p256::PublicKey) -> ([u8; 65], Key32) {
    use p256::elliptic_curve::Generate;
    let eph = p256::ecdh::EphemeralSecret::try_generate_from_rng(&mut rand::rngs::SysRng)
        .expect("the operating system's random number generator failed");
    let shared = eph.diffie_hellman(token_pub);
    let mut z = Zeroizing::new([0u8; 32]);
    z.copy_from_slice(shared.raw_secret_bytes());
    (p256_uncompressed(&eph.public_key()), z)
}

/// z from any source must be 32 bytes and not all zero.
pub fn check_z(z: &[u8]) -> Result<Key32, String> {
    if z.len() != 32 {
        return Err(format!(
            "the token returned {} bytes instead of 32",
            z.len()
        ));
    }
    if z.iter().all(|&b| b == 0) {
        return Err("the token returned an all-zero shared secret".into());
    }
    let mut k = Zeroizing::new([0u8; 32]);
    k.copy_from_slice(z);
    Ok(k)
}

/// Whether a secret looks like text (then a clear fingerprint lets guesses be tested).
pub fn looks_like_text(secret: &[u8]) -> bool {
    std::str::from_utf8(secret).is_ok_and(|s| s.chars().all(|c| !c.is_control() || c == '\n'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_distinct() {
        let all = [
            LABEL_COMMON_HEADER,
            LABEL_SLOT_AAD,
            LABEL_TOKEN_AAD,
            LABEL_SLOT_KEK,
            LABEL_KEY_COMMITMENT,
            LABEL_PAYLOAD_KEY,
            LABEL_FILE_MAC_KEY,
            LABEL_FINGERPRINT,
            LABEL_SHARE_COMMITMENT,
            LABEL_P256_KEY_HASH,
        ];
        let set: std::collections::HashSet<_> = all.iter().collect();
        assert_eq!(set.len(), all.len());
    }

    #[test]
    fn slot_keys_depend_on_both_factors_and_aad() {
        let (k1, c1) = slot_keys(&[1; 32], &[2; 32], &[3; 32], b"aad");
        let (k2, c2) = slot_keys(&[9; 32], &[2; 32], &[3; 32], b"aad");
        let (k3, c3) = slot_keys(&[1; 32], &[9; 32], &[3; 32], b"aad");
        let (k4, c4) = slot_keys(&[1; 32], &[2; 32], &[3; 32], b"aaD");
        for (k, c) in [(&k2, c2), (&k3, c3), (&k4, c4)] {
            assert_ne!(&k1[..], &k[..]);
            assert_ne!(c1, c);
        }
        assert_ne!(&k1[..], &c1[..]);
    }

    #[test]
    fn aead_round_trip_and_tamper() {
        let key = [7u8; 32];
        let ct = aead_seal(&key, &[1; 12], b"a", b"hello world 1234");
        assert_eq!(
            &aead_open(&key, &[1; 12], b"a", &ct).unwrap()[..],
            b"hello world 1234"
        );
        assert!(aead_open(&key, &[1; 12], b"b", &ct).is_none());
        let mut bad = ct.clone();
        bad[0] ^= 1;
        assert!(aead_open(&key, &[1; 12], b"a", &bad).is_none());
    }

    #[test]
    fn argon2_known_answer_and_nfc() {
        let p = KdfParams {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 1,
        };
        let a = argon2id(&SecretString::from("caf\u{e9}"), &[0; 32], &p).unwrap();
        let b = argon2id(&SecretString::from("cafe\u{301}"), &[0; 32], &p).unwrap();
        assert_eq!(&a[..], &b[..], "passwords are NFC-normalised");
        let c = argon2id(&SecretString::from("caf"), &[0; 32], &p).unwrap();
        assert_ne!(&a[..], &c[..]);
        assert!(argon2id(&SecretString::from(""), &[0; 32], &p).is_err());
    }

    #[test]
    fn point_validation() {
        let (eph, _) = ephemeral_ecdh(
            &p256::SecretKey::from_bytes(&[5u8; 32].into())
                .unwrap()
                .public_key(),
        );
        assert!(validate_p256_point(&eph).is_ok());
        let mut off = eph;
        off[64] ^= 1;
        assert!(
            validate_p256_point(&off).is_err(),
            "off-curve point accepted"
        );
        assert!(validate_p256_point(&eph[..33]).is_err());
        let mut compressed = [0u8; 65];
        compressed[0] = 0x02;
        assert!(validate_p256_point(&compressed).is_err());
    }

    #[test]
    fn ecdh_matches_static_side() {
        let sk = p256::SecretKey::from_bytes(&[5u8; 32].into()).unwrap();
        let (eph, z) = ephemeral_ecdh(&sk.public_key());
        let peer = validate_p256_point(&eph).unwrap();
        let shared = p256::ecdh::diffie_hellman(sk.to_nonzero_scalar(), peer.as_affine());
        assert_eq!(&z[..], &shared.raw_secret_bytes()[..]);
    }

    #[test]
    fn z_checks() {
        assert!(check_z(&[0; 32]).is_err());
        assert!(check_z(&[1; 31]).is_err());
        assert!(check_z(&[1; 32]).is_ok());
    }

    #[test]
    fn fingerprint_shape() {
        let fp = fingerprint(&[1; 32]);
        let s = fingerprint_display(&fp);
        assert_eq!(s.len(), 19);
        assert_eq!(s.matches('-').count(), 3);
        assert_eq!(fp, fingerprint(&[1; 32]));
        assert_ne!(fp, fingerprint(&[2; 32]));
    }
}
