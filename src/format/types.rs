//! The values a file holds, and why one could not be read or written.

use std::fmt;

use super::{
    KEY_BYTES, MAX_KDF_ITERATIONS, MAX_KDF_MEMORY_KIB, MAX_KDF_PARALLELISM, MIN_KDF_MEMORY_KIB,
    STRONG_KDF_ITERATIONS, STRONG_KDF_MEMORY_KIB, TAG_BYTES, display_escaped,
};

/// How a slot's token secret z is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// A PKCS#11 AES-256 key encrypts z with AES-GCM.
    Pkcs11Aes,
    /// A PKCS#11 EC P-256 key: z is ECDH with an ephemeral key.
    Pkcs11P256,
    /// A P-256 key in a PIV card slot (YubiKey): z is ECDH with an ephemeral key.
    PivP256,
}

impl SlotKind {
    /// The kind as the file's `slot:` line spells it (`pkcs11-aes`, `pkcs11-p256`, `piv-p256`).
    pub fn name(self) -> &'static str {
        match self {
            SlotKind::Pkcs11Aes => "pkcs11-aes",
            SlotKind::Pkcs11P256 => "pkcs11-p256",
            SlotKind::PivP256 => "piv-p256",
        }
    }
    pub(super) fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "pkcs11-aes" => SlotKind::Pkcs11Aes,
            "pkcs11-p256" => SlotKind::Pkcs11P256,
            "piv-p256" => SlotKind::PivP256,
            _ => return None,
        })
    }
    /// Whether z comes from ECDH (the file then carries an ephemeral point and a key hash).
    pub fn is_ecdh(self) -> bool {
        !matches!(self, SlotKind::Pkcs11Aes)
    }
}

/// Which key a slot needs: enough to find it again, nothing that decides what code runs.
#[derive(Clone, Debug, PartialEq, Eq)]
///
/// Every string here comes from an unauthenticated file when read: show it only through
/// [`display_escaped`](super::display_escaped) (as [`Descriptor::describe`] does).
pub enum Descriptor {
    /// A key on a PKCS#11 token, found again by token label or serial and key label or id.
    Pkcs11 {
        /// [`SlotKind::Pkcs11Aes`] or [`SlotKind::Pkcs11P256`]; never [`SlotKind::PivP256`].
        kind: SlotKind,
        /// The token's `CK_TOKEN_INFO.label`, trailing padding removed (at most 256 bytes).
        token_label: String,
        /// The token's serial number, padding removed; may be empty.
        token_serial: String,
        /// The key's `CKA_LABEL` (lossy UTF-8); may be empty.
        key_label: String,
        /// The key's `CKA_ID` (at most 64 bytes); may be empty.
        key_id: Vec<u8>,
        /// Present exactly for [`SlotKind::Pkcs11P256`].
        key_hash: Option<[u8; 32]>,
    },
    /// A P-256 key in a YubiKey's PIV slot.
    Piv {
        /// The YubiKey's serial number.
        card_serial: u32,
        /// The PIV key slot: 0x82..=0x95 (retired), 0x9a, 0x9c, 0x9d or 0x9e.
        piv_slot: u8,
        /// Hash of the slot's public key, so another key in the same slot is told apart.
        key_hash: [u8; 32],
    },
}

impl Descriptor {
    /// Which kind of slot this key serves.
    pub fn kind(&self) -> SlotKind {
        match self {
            Descriptor::Pkcs11 { kind, .. } => *kind,
            Descriptor::Piv { .. } => SlotKind::PivP256,
        }
    }
    /// The hash of the key's public point; `None` for an AES key (it has no public half).
    pub fn key_hash(&self) -> Option<&[u8; 32]> {
        match self {
            Descriptor::Pkcs11 { key_hash, .. } => key_hash.as_ref(),
            Descriptor::Piv { key_hash, .. } => Some(key_hash),
        }
    }
    /// A one-line description for people (values escaped: they are unauthenticated when shown).
    pub fn describe(&self) -> String {
        match self {
            Descriptor::Pkcs11 {
                kind,
                token_label,
                token_serial,
                key_label,
                key_id,
                ..
            } => format!(
                "PKCS#11 token \"{}\" (serial {}), {} key \"{}\"{}",
                display_escaped(token_label),
                display_escaped(token_serial),
                if *kind == SlotKind::Pkcs11Aes {
                    "AES"
                } else {
                    "P-256"
                },
                display_escaped(key_label),
                if key_id.is_empty() {
                    String::new()
                } else {
                    format!(" id {}", hex::encode(key_id))
                }
            ),
            Descriptor::Piv {
                card_serial,
                piv_slot,
                ..
            } => format!("YubiKey {card_serial}, PIV slot {piv_slot:02x}"),
        }
    }
}

/// What the token contributed, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotMaterial {
    /// z encrypted by the token (AES-GCM): the IV the token used and ciphertext ‖ tag.
    TokenCiphertext {
        /// The IV the token used (some tokens choose their own).
        iv: [u8; 12],
        /// z encrypted by the token: ciphertext ‖ tag.
        ciphertext: [u8; KEY_BYTES + TAG_BYTES],
    },
    /// The ephemeral public point, uncompressed SEC1 (04 ‖ X ‖ Y).
    Ephemeral([u8; 65]),
}

/// One way to open a file: a token key plus the password unwrap the file's secret s.
///
/// Nothing here is secret; `wrapped` is s encrypted.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    /// Which token key this slot needs.
    pub descriptor: Descriptor,
    /// custody opened this slot from the written bytes when it was made; `false` for a slot
    /// made from a public key alone, never opened.
    pub verified: bool,
    /// HKDF salt of this slot's keys (random).
    pub salt: [u8; 32],
    /// What the token contributed; its variant matches `descriptor`'s kind.
    pub material: SlotMaterial,
    /// Nonce of the slot AEAD (random).
    pub wrap_nonce: [u8; 12],
    /// The file's secret s (D, or a share of D) under the slot's KEK: ciphertext ‖ tag.
    pub wrapped: [u8; KEY_BYTES + TAG_BYTES],
    /// Tells a wrong password (commitment differs) from an altered slot (it matches but the
    /// AEAD fails).
    pub key_commitment: [u8; 32],
}

/// Argon2id's cost is crypto's type; what a file may ask for is the format's rule.
pub use crate::crypto::KdfParams;

impl KdfParams {
    /// Below the strong minimum (64 MiB, 3 passes): allowed, but worth a warning.
    pub fn is_weak(&self) -> bool {
        self.memory_kib < STRONG_KDF_MEMORY_KIB || self.iterations < STRONG_KDF_ITERATIONS
    }
    /// Within what any reader accepts (refused before anything is allocated). The error is a
    /// sentence for people, naming the values and the limits.
    pub fn check_readable(&self) -> Result<(), String> {
        if self.memory_kib > MAX_KDF_MEMORY_KIB
            || self.iterations > MAX_KDF_ITERATIONS
            || self.parallelism > MAX_KDF_PARALLELISM
        {
            return Err(format!(
                "Argon2id parameters m={} KiB, t={}, p={} exceed the limits m=4 GiB, t=16, p=16",
                self.memory_kib, self.iterations, self.parallelism
            ));
        }
        if self.memory_kib < MIN_KDF_MEMORY_KIB || self.iterations < 1 || self.parallelism < 1 {
            return Err(format!(
                "Argon2id parameters m={} KiB, t={}, p={} are below the minimum m=8 MiB, t=1, p=1",
                self.memory_kib, self.iterations, self.parallelism
            ));
        }
        // Argon2 needs at least 8 KiB per lane.
        if self.memory_kib < 8 * self.parallelism {
            return Err("Argon2id memory is below 8 KiB per lane".into());
        }
        Ok(())
    }
}

/// Fields every file of one backup set shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommonHeader {
    /// Identifies the set (random); salt of the payload and MAC keys.
    pub set_id: [u8; 16],
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    /// A name for people (free text, may be empty); unauthenticated until the MAC is checked.
    pub label: String,
    /// K, the shares needed: 1 only for a single backup, else 2..=`count`.
    pub threshold: u8,
    /// N, the shares in the set (1 for a single backup).
    pub count: u8,
    /// One per share, index order (a single backup has one).
    pub officers: Vec<String>,
    /// One per share, index order.
    pub commitments: Vec<[u8; 32]>,
    /// The first 16 bytes of the secret's fingerprint, for people to compare.
    pub fingerprint: [u8; 16],
    /// AES-GCM nonce of the payload (random).
    pub payload_nonce: [u8; 12],
}

/// Fields of one file that are its own (its officer's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFields {
    /// Which share this file holds, 1..=`count` (1 for a single backup).
    pub index: u8,
    /// Password hint shown at restore (free text, may be empty); never the password.
    pub hint: String,
    /// Argon2id cost of this file's password.
    pub kdf: KdfParams,
    /// Argon2id salt (random).
    pub kdf_salt: [u8; 32],
}

/// One backup file (a single backup, or one share of a split set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupFile {
    /// What every file of the set shares.
    pub common: CommonHeader,
    /// This file's own fields.
    pub own: FileFields,
    /// 1 to 16 ways to open the file.
    pub slots: Vec<Slot>,
    /// The secret under the payload key: ciphertext ‖ tag.
    pub payload: Vec<u8>,
    /// HMAC over everything before the `mac:` line, keyed from the file's secret s.
    pub mac: [u8; 32],
}

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The checksum line is missing or does not match: the bytes were damaged (or truncated).
    Damaged {
        /// What was wrong, for people.
        reason: String,
    },
    /// The checksum matches but the content is not a valid v1 file.
    Invalid {
        /// 1-based line of the problem; 0 when it concerns the whole file.
        line: usize,
        /// What was wrong, for people (file values in it are escaped).
        reason: String,
    },
    /// A custody file of a version this build does not read.
    UnsupportedVersion {
        /// The version text found, raw: escape it before showing it (`Display` does).
        found: String,
    },
    /// Not a custody backup at all.
    NotABackup,
    /// Refused while building a file (a value out of bounds).
    BadValue {
        /// The file field at fault, as the file names it.
        field: &'static str,
        /// Why it was refused.
        reason: String,
    },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Damaged { reason } => write!(f, "the file is damaged ({reason})"),
            FormatError::Invalid { line, reason } => {
                write!(
                    f,
                    "the file is not a valid custody v1 backup: line {line}: {reason}"
                )
            }
            FormatError::UnsupportedVersion { found } => write!(
                f,
                "the file is a custody backup of a version this build does not read (\"{}\")",
                display_escaped(found)
            ),
            FormatError::NotABackup => write!(f, "the file is not a custody backup"),
            FormatError::BadValue { field, reason } => write!(f, "{field}: {reason}"),
        }
    }
}

impl std::error::Error for FormatError {}

impl FormatError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            FormatError::Damaged { .. } => ErrorKind::Damaged,
            FormatError::Invalid { .. } => ErrorKind::InvalidFile,
            FormatError::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
            FormatError::NotABackup => ErrorKind::NotABackup,
            FormatError::BadValue { .. } => ErrorKind::InvalidRequest,
        }
    }
}

/// Byte regions of an encoded file that the cryptography binds, all taken from one encoding.
///
/// Made by [`BackupFile::encode`] or [`parse`](super::parse); the ranges index `bytes` and
/// there is one slot range per slot of the file it was made from. The accessors panic on an
/// `Encoded` built by hand that breaks this.
#[derive(Clone, Debug)]
pub struct Encoded {
    /// The whole file, exactly as written or read.
    pub bytes: Vec<u8>,
    /// Magic line through `payload-nonce:` (hashed to Hc).
    pub common: std::ops::Range<usize>,
    /// `index:` through `kdf-salt:`.
    pub file_fields: std::ops::Range<usize>,
    /// Per slot: `slot:` through the last descriptor line (the token's AES-GCM AAD).
    pub slot_descriptors: Vec<std::ops::Range<usize>>,
    /// Per slot: `slot:` through `ephemeral:` / `token-ciphertext:` (the slot AEAD's AAD).
    pub slot_fields: Vec<std::ops::Range<usize>>,
    /// Everything before the `mac:` line.
    pub before_mac: std::ops::Range<usize>,
    /// Everything before the `checksum:` line.
    pub before_checksum: std::ops::Range<usize>,
}

impl Encoded {
    /// The common header's bytes (the input of Hc).
    pub fn common(&self) -> &[u8] {
        &self.bytes[self.common.clone()]
    }
    /// The file fields' bytes (part of every slot's AAD).
    pub fn file_fields(&self) -> &[u8] {
        &self.bytes[self.file_fields.clone()]
    }
    /// Slot `i`'s descriptor bytes (the token's AES-GCM AAD).
    ///
    /// # Panics
    ///
    /// If the file has no slot `i`: the caller takes `i` from the same file's slots.
    pub fn slot_descriptor(&self, i: usize) -> &[u8] {
        &self.bytes[self.slot_descriptors[i].clone()]
    }
    /// Slot `i`'s fields up to its token material (the slot AEAD's AAD).
    ///
    /// # Panics
    ///
    /// If the file has no slot `i`: the caller takes `i` from the same file's slots.
    pub fn slot_fields(&self, i: usize) -> &[u8] {
        &self.bytes[self.slot_fields[i].clone()]
    }
    /// Everything the file MAC covers.
    pub fn before_mac(&self) -> &[u8] {
        &self.bytes[self.before_mac.clone()]
    }
}
