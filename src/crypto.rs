//! Every cryptographic primitive custody uses, with every input named. docs/FORMAT.md §Construction
//! describes the same steps; each derivation has its own domain-separation label below.
//!
//! Nothing here panics: HMAC and the single-block HKDF custody needs are written out (for keys
//! and outputs of these sizes they cannot fail, and the crates' APIs would make them look as if
//! they could), and the one failure that has no safe way on — the operating system's random
//! generator refusing — aborts the process rather than return weak bytes.

use aes_gcm::aead::{Aead, AeadInOut, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use p256::elliptic_curve::sec1::ToSec1Point;
use rand::TryRng;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;
use zeroize::{Zeroize, Zeroizing};

use crate::secret::{DataKey, FileSecret, Password, PasswordKey, TokenSecret};

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
    /// Memory, in KiB.
    pub memory_kib: u32,
    /// Passes over the memory (t).
    pub iterations: u32,
    /// Lanes (p).
    pub parallelism: u32,
}

impl KdfParams {
    /// custody's default for new files: 1 GiB, 3 passes, 4 lanes (RFC 9106's second
    /// recommendation, with more memory).
    pub const DEFAULT: KdfParams = KdfParams {
        memory_kib: 1024 * 1024,
        iterations: 3,
        parallelism: 4,
    };
}

/// A slot's key-encryption key: used once, to wrap or unwrap the file secret.
pub struct SlotKek(Zeroizing<[u8; 32]>);

/// An AES-GCM encryption that failed (only possible for messages far beyond custody's sizes).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SealError;

impl std::fmt::Display for SealError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "AES-GCM encryption failed")
    }
}

impl std::error::Error for SealError {}

/// Fill a buffer from the operating system's generator. There is no safe way to go on without
/// one: a failure aborts the process rather than return weak bytes (and never unwinds through
/// a caller that might catch it and go on).
pub fn fill_random(buf: &mut [u8]) {
    if rand::rngs::SysRng.try_fill_bytes(buf).is_err() {
        std::process::abort();
    }
}

/// `N` random bytes (salts, nonces, identifiers: nothing secret).
pub fn random_array<const N: usize>() -> [u8; N] {
    let mut b = [0u8; N];
    fill_random(&mut b);
    b
}

/// A fresh data key D.
pub fn random_data_key() -> DataKey {
    let mut d = DataKey::zeroed();
    fill_random(d.expose_mut());
    d
}

/// A fresh token secret z (for a slot whose token encrypts z).
pub fn random_token_secret() -> TokenSecret {
    let mut z = TokenSecret::zeroed();
    fill_random(z.expose_mut());
    z
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

const HMAC_BLOCK: usize = 64;

/// HMAC-SHA256 (RFC 2104) over the concatenation of `parts`. A key longer than the block is
/// hashed first, as the RFC says; the padded key block is wiped after use.
fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    let mut block = Zeroizing::new([0u8; HMAC_BLOCK]);
    if key.len() > HMAC_BLOCK {
        let mut h: [u8; 32] = Sha256::digest(key).into();
        block[..32].copy_from_slice(&h);
        h.zeroize();
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut pad = Zeroizing::new([0u8; HMAC_BLOCK]);
    for (p, k) in pad.iter_mut().zip(block.iter()) {
        *p = k ^ 0x36;
    }
    let mut inner = Sha256::new();
    inner.update(&pad[..]);
    for part in parts {
        inner.update(part);
    }
    let mut inner_hash: [u8; 32] = inner.finalize().into();
    for (p, k) in pad.iter_mut().zip(block.iter()) {
        *p = k ^ 0x5c;
    }
    let mut outer = Sha256::new();
    outer.update(&pad[..]);
    outer.update(inner_hash);
    inner_hash.zeroize();
    outer.finalize().into()
}

/// HKDF-SHA256 (RFC 5869) Extract then Expand to exactly one block (32 bytes), which is all
/// custody ever derives: T(1) = HMAC(PRK, info ‖ 0x01).
struct Hkdf32 {
    prk: Zeroizing<[u8; 32]>,
}

impl Hkdf32 {
    fn extract(salt: &[u8], ikm: &[u8]) -> Self {
        Hkdf32 {
            prk: Zeroizing::new(hmac_sha256(salt, &[ikm])),
        }
    }
    fn expand(&self, info: &[u8], out: &mut [u8; 32]) {
        *out = hmac_sha256(&self.prk[..], &[info, &[1u8]]);
    }
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

/// A = Argon2id(password, kdf-salt, m, t, p), 32 bytes, version 0x13. The password was
/// normalized (NFC) when it was made.
pub fn argon2id(
    password: &Password,
    salt: &[u8; 32],
    kdf: &KdfParams,
) -> Result<PasswordKey, Argon2Error> {
    let params = argon2::Params::new(kdf.memory_kib, kdf.iterations, kdf.parallelism, Some(32))
        .map_err(|e| Argon2Error::Other(format!("Argon2id parameters rejected: {e}")))?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut a = PasswordKey::zeroed();
    // Its own mapping rather than the crate's Vec: locked when the limit allows, kept out of
    // core dumps, wiped before it is given back.
    let memory = crate::secret::Argon2Memory::new(argon.params().block_count())
        .map_err(|_| Argon2Error::OutOfMemory)?;
    argon
        .hash_password_into_with_memory(password.expose(), salt, a.expose_mut(), memory)
        .map_err(|e| match e {
            argon2::Error::OutOfMemory => Argon2Error::OutOfMemory,
            e => Argon2Error::Other(format!("Argon2id failed: {e}")),
        })?;
    Ok(a)
}

/// Why Argon2id did not run: its memory could not be had (the machine's failure, to be
/// reported as memory), or anything else (parameters out of bounds).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Argon2Error {
    /// The allocation of its memory blocks failed.
    OutOfMemory,
    /// Any other failure, for people.
    Other(String),
}

impl std::fmt::Display for Argon2Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Argon2Error::OutOfMemory => write!(f, "Argon2id could not allocate its memory"),
            Argon2Error::Other(s) => write!(f, "{s}"),
        }
    }
}

/// The memory and passes of [`argon2id_sample`]: small enough to cost a few milliseconds.
pub const SAMPLE_KDF: KdfParams = KdfParams {
    memory_kib: 8 * 1024,
    iterations: 1,
    parallelism: 1,
};

/// How long Argon2id at [`SAMPLE_KDF`]'s memory and passes, with `parallelism` lanes, takes on
/// this machine now: the unit an estimate of a costlier run with as many lanes is scaled from.
/// The lanes are measured rather than assumed to run in parallel, as the cores may be busy.
/// The better of two runs (the first also starts the thread pool). `None` if a run failed.
pub fn argon2id_sample(parallelism: u32) -> Option<std::time::Duration> {
    let k = SAMPLE_KDF;
    let params = argon2::Params::new(
        k.memory_kib,
        k.iterations,
        parallelism.clamp(1, 16),
        Some(32),
    )
    .ok()?;
    let argon = argon2::Argon2::new(argon2::Algorithm::Argon2id, argon2::Version::V0x13, params);
    let mut out = [0u8; 32];
    let mut best = None;
    for _ in 0..2 {
        let start = std::time::Instant::now();
        argon
            .hash_password_into(b"custody calibration", &[0u8; 32], &mut out)
            .ok()?;
        let d = start.elapsed();
        best = Some(best.map_or(d, |b: std::time::Duration| b.min(d)));
    }
    best
}

/// About how long Argon2id at `kdf` takes here, from an [`argon2id_sample`] time with as many
/// lanes: the work grows with memory × passes.
pub fn argon2id_estimate(kdf: &KdfParams, sample: std::time::Duration) -> std::time::Duration {
    let work = f64::from(kdf.memory_kib) * f64::from(kdf.iterations)
        / (f64::from(SAMPLE_KDF.memory_kib) * f64::from(SAMPLE_KDF.iterations));
    sample.mul_f64(work)
}

/// The KEK and key commitment of one slot: PRK = HKDF-Extract(slot-salt, z ‖ A), then one
/// HKDF-Expand per output with its own label, both bound to the slot AAD.
pub fn slot_keys(
    z: &TokenSecret,
    a: &PasswordKey,
    salt: &[u8; 32],
    aad: &[u8],
) -> (SlotKek, [u8; 32]) {
    let mut ikm = Zeroizing::new([0u8; 64]);
    ikm[..32].copy_from_slice(z.expose());
    ikm[32..].copy_from_slice(a.expose());
    let hk = Hkdf32::extract(salt, &ikm[..]);
    let mut kek = Zeroizing::new([0u8; 32]);
    hk.expand(&framed(&[LABEL_SLOT_KEK.as_bytes(), aad]), &mut kek);
    let mut commit = [0u8; 32];
    hk.expand(
        &framed(&[LABEL_KEY_COMMITMENT.as_bytes(), aad]),
        &mut commit,
    );
    (SlotKek(kek), commit)
}

/// Constant-time comparison of a computed and a stored value.
pub fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    a.ct_eq(b).into()
}

/// AES-256-GCM encryption: ciphertext ‖ tag.
pub fn aead_seal(
    key: &[u8; 32],
    nonce: &[u8; 12],
    aad: &[u8],
    msg: &[u8],
) -> Result<Vec<u8>, SealError> {
    Aes256Gcm::new(key.into())
        .encrypt(&Nonce::from(*nonce), Payload { msg, aad })
        .map_err(|_| SealError)
}

/// AES-256-GCM decryption; `None` when the tag does not verify.
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

/// Wrap a file secret under a slot's KEK: the 48 bytes of ciphertext ‖ tag a slot stores.
pub fn wrap_file_secret(
    kek: &SlotKek,
    nonce: &[u8; 12],
    aad: &[u8],
    s: &FileSecret,
) -> Result<[u8; 48], SealError> {
    let mut buf = [0u8; 32];
    buf.copy_from_slice(s.expose());
    let tag = Aes256Gcm::new((&*kek.0).into()).encrypt_inout_detached(
        &Nonce::from(*nonce),
        aad,
        (&mut buf[..]).into(),
    );
    let mut out = [0u8; 48];
    let result = match tag {
        Ok(tag) => {
            out[..32].copy_from_slice(&buf);
            out[32..].copy_from_slice(&tag);
            Ok(out)
        }
        Err(_) => Err(SealError),
    };
    buf.zeroize();
    result
}

/// Unwrap a slot's file secret; `None` when the tag does not verify.
pub fn unwrap_file_secret(
    kek: &SlotKek,
    nonce: &[u8; 12],
    aad: &[u8],
    wrapped: &[u8; 48],
) -> Option<FileSecret> {
    let plain = aead_open(&kek.0, nonce, aad, wrapped)?;
    let bytes: &[u8; 32] = plain.as_slice().try_into().ok()?;
    Some(FileSecret::from_bytes(bytes))
}

/// The key the secret is encrypted under: HKDF(salt = set id, ikm = D). D itself is never an AES key.
pub fn payload_key(d: &DataKey, set_id: &[u8; 16]) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf32::extract(set_id, d.expose());
    let mut k = Zeroizing::new([0u8; 32]);
    hk.expand(&framed(&[LABEL_PAYLOAD_KEY.as_bytes()]), &mut k);
    k
}

/// The file MAC key, from the file's own secret s (D, or this file's share of D) and index.
pub fn file_mac_key(s: &FileSecret, set_id: &[u8; 16], index: u8) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf32::extract(set_id, s.expose());
    let mut k = Zeroizing::new([0u8; 32]);
    hk.expand(&framed(&[LABEL_FILE_MAC_KEY.as_bytes(), &[index]]), &mut k);
    k
}

/// HMAC-SHA256 of the file's bytes before its MAC line.
pub fn file_mac(key: &[u8; 32], before_mac: &[u8]) -> [u8; 32] {
    hmac_sha256(key, &[before_mac])
}

/// HMAC-SHA256(key = secret, label), first 16 bytes stored.
pub fn fingerprint(secret: &[u8]) -> [u8; 16] {
    let full = hmac_sha256(secret, &[LABEL_FINGERPRINT.as_bytes()]);
    let mut fp = [0u8; 16];
    fp.copy_from_slice(&full[..16]);
    fp
}

/// `XXXX-XXXX-XXXX-XXXX`: the first 64 bits, for people to compare with the ceremony record.
pub fn fingerprint_display(fp: &[u8; 16]) -> String {
    let h = hex::encode_upper(&fp[..8]);
    format!("{}-{}-{}-{}", &h[0..4], &h[4..8], &h[8..12], &h[12..16])
}

/// SHA-256(label ‖ set id ‖ index ‖ value): commits to one share of D (D itself for 1-of-1).
pub fn share_commitment(set_id: &[u8; 16], index: u8, value: &FileSecret) -> [u8; 32] {
    let mut h = Sha256::new();
    h.update(framed(&[LABEL_SHARE_COMMITMENT.as_bytes()]));
    h.update(set_id);
    h.update([index]);
    h.update(value.expose());
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

/// The uncompressed SEC1 encoding `04 ‖ X ‖ Y` of a P-256 public key.
pub fn p256_uncompressed(pk: &p256::PublicKey) -> [u8; 65] {
    let point = pk.to_sec1_point(false);
    let mut out = [0u8; 65];
    // An uncompressed point of a valid key is always 65 bytes; anything else leaves zeros,
    // which no curve check accepts.
    if let Some(src) = point.as_bytes().get(..65) {
        out.copy_from_slice(src);
    }
    out
}

/// Backup side of ECDH: a fresh ephemeral key against the token's public key. Returns the
/// ephemeral public point and z.
pub fn ephemeral_ecdh(token_pub: &p256::PublicKey) -> ([u8; 65], TokenSecret) {
    let mut scalar = Zeroizing::new([0u8; 32]);
    // A random 32-byte string is a valid P-256 scalar except with probability ~2^-32; draw
    // again in that case.
    let eph = loop {
        fill_random(&mut scalar[..]);
        if let Ok(sk) = p256::NonZeroScalar::try_from(&scalar[..]) {
            break sk;
        }
    };
    let shared = p256::ecdh::diffie_hellman(eph, token_pub.as_affine());
    let mut z = TokenSecret::zeroed();
    z.expose_mut().copy_from_slice(shared.raw_secret_bytes());
    let eph_pub = p256::PublicKey::from_secret_scalar(&eph);
    (p256_uncompressed(&eph_pub), z)
}

/// z from any source must be 32 bytes and not all zero.
pub fn check_z(z: &[u8]) -> Result<TokenSecret, String> {
    let Ok(bytes) = <&[u8; 32]>::try_from(z) else {
        return Err(format!(
            "the token returned {} bytes instead of 32",
            z.len()
        ));
    };
    let k = TokenSecret::from_bytes(bytes);
    if k.is_all_zero() {
        return Err("the token returned an all-zero shared secret".into());
    }
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
        let z = |b| TokenSecret::from_bytes(&[b; 32]);
        let a = |b| PasswordKey::from_bytes(&[b; 32]);
        let (k1, c1) = slot_keys(&z(1), &a(2), &[3; 32], b"aad");
        let (k2, c2) = slot_keys(&z(9), &a(2), &[3; 32], b"aad");
        let (k3, c3) = slot_keys(&z(1), &a(9), &[3; 32], b"aad");
        let (k4, c4) = slot_keys(&z(1), &a(2), &[3; 32], b"aaD");
        for (k, c) in [(&k2, c2), (&k3, c3), (&k4, c4)] {
            assert_ne!(&k1.0[..], &k.0[..]);
            assert_ne!(c1, c);
        }
        assert_ne!(&k1.0[..], &c1[..]);
    }

    #[test]
    fn aead_round_trip_and_tamper() {
        let key = [7u8; 32];
        let ct = aead_seal(&key, &[1; 12], b"a", b"hello world 1234").unwrap();
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
    fn argon2_estimate_scales_with_memory_and_passes() {
        let unit = std::time::Duration::from_millis(10);
        assert_eq!(argon2id_estimate(&SAMPLE_KDF, unit), unit);
        // 1 GiB × 3 passes is 384 samples' work.
        assert_eq!(
            argon2id_estimate(&KdfParams::DEFAULT, unit).as_millis(),
            10 * 384
        );
        assert!(argon2id_sample(1).is_some());
        assert!(argon2id_sample(4).is_some());
    }

    #[test]
    fn argon2_known_answer_and_nfc() {
        let p = KdfParams {
            memory_kib: 8192,
            iterations: 1,
            parallelism: 1,
        };
        let pw = |s: &str| Password::new(s).unwrap();
        let a = argon2id(&pw("caf\u{e9}"), &[0; 32], &p).unwrap();
        let b = argon2id(&pw("cafe\u{301}"), &[0; 32], &p).unwrap();
        assert_eq!(a.expose(), b.expose(), "passwords are NFC-normalised");
        let c = argon2id(&pw("caf"), &[0; 32], &p).unwrap();
        assert_ne!(a.expose(), c.expose());
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
        assert_eq!(&z.expose()[..], &shared.raw_secret_bytes()[..]);
    }

    #[test]
    fn z_checks() {
        assert!(check_z(&[0; 32]).is_err());
        assert!(check_z(&[1; 31]).is_err());
        assert!(check_z(&[1; 32]).is_ok());
    }

    #[test]
    fn hmac_and_hkdf_match_the_reference_crates() {
        use hmac::{Hmac, KeyInit, Mac};
        for key_len in [0usize, 1, 32, 63, 64, 65, 200, 4096] {
            let key: Vec<u8> = (0..key_len).map(|i| i as u8).collect();
            let mut m = <Hmac<Sha256> as KeyInit>::new_from_slice(&key).unwrap();
            m.update(b"part one");
            m.update(b"part two");
            let want: [u8; 32] = m.finalize().into_bytes().into();
            assert_eq!(hmac_sha256(&key, &[b"part one", b"part two"]), want);
        }
        let hk = hkdf::Hkdf::<Sha256>::new(Some(&[7u8; 16][..]), &[9u8; 32]);
        let mut want = [0u8; 32];
        hk.expand(b"info", &mut want).unwrap();
        let mut got = [0u8; 32];
        Hkdf32::extract(&[7u8; 16], &[9u8; 32]).expand(b"info", &mut got);
        assert_eq!(got, want);
    }

    #[test]
    fn wrap_round_trip() {
        let kek = SlotKek(Zeroizing::new([5; 32]));
        let s = FileSecret::from_bytes(&[6; 32]);
        let w = wrap_file_secret(&kek, &[1; 12], b"aad", &s).unwrap();
        assert_eq!(
            &w[..],
            &aead_seal(&[5; 32], &[1; 12], b"aad", &[6; 32]).unwrap()[..]
        );
        let back = unwrap_file_secret(&kek, &[1; 12], b"aad", &w).unwrap();
        assert_eq!(back.expose(), s.expose());
        assert!(unwrap_file_secret(&kek, &[1; 12], b"aaD", &w).is_none());
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
