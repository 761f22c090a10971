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
pub enum Descriptor {
    Pkcs11 {
        kind: SlotKind,
        token_label: String,
        token_serial: String,
        key_label: String,
        key_id: Vec<u8>,
        /// Present exactly for [`SlotKind::Pkcs11P256`].
        key_hash: Option<[u8; 32]>,
    },
    Piv {
        card_serial: u32,
        piv_slot: u8,
        key_hash: [u8; 32],
    },
}

impl Descriptor {
    pub fn kind(&self) -> SlotKind {
        match self {
            Descriptor::Pkcs11 { kind, .. } => *kind,
            Descriptor::Piv { .. } => SlotKind::PivP256,
        }
    }
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
        iv: [u8; 12],
        ciphertext: [u8; KEY_BYTES + TAG_BYTES],
    },
    /// The ephemeral public point, uncompressed SEC1 (04 ‖ X ‖ Y).
    Ephemeral([u8; 65]),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub descriptor: Descriptor,
    /// custody opened this slot from the written bytes when it was made.
    pub verified: bool,
    pub salt: [u8; 32],
    pub material: SlotMaterial,
    pub wrap_nonce: [u8; 12],
    /// The file's secret s (D, or a share of D) under the slot's KEK: ciphertext ‖ tag.
    pub wrapped: [u8; KEY_BYTES + TAG_BYTES],
    pub key_commitment: [u8; 32],
}

/// Argon2id's cost is crypto's type; what a file may ask for is the format's rule.
pub use crate::crypto::KdfParams;

impl KdfParams {
    pub fn is_weak(&self) -> bool {
        self.memory_kib < STRONG_KDF_MEMORY_KIB || self.iterations < STRONG_KDF_ITERATIONS
    }
    /// Within what any reader accepts (refused before anything is allocated).
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
    pub set_id: [u8; 16],
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    pub label: String,
    pub threshold: u8,
    pub count: u8,
    /// One per share, index order (a single backup has one).
    pub officers: Vec<String>,
    /// One per share, index order.
    pub commitments: Vec<[u8; 32]>,
    pub fingerprint: [u8; 16],
    pub payload_nonce: [u8; 12],
}

/// Fields of one file that are its own (its officer's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFields {
    pub index: u8,
    pub hint: String,
    pub kdf: KdfParams,
    pub kdf_salt: [u8; 32],
}

/// One backup file (a single backup, or one share of a split set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupFile {
    pub common: CommonHeader,
    pub own: FileFields,
    pub slots: Vec<Slot>,
    /// The secret under the payload key: ciphertext ‖ tag.
    pub payload: Vec<u8>,
    pub mac: [u8; 32],
}

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The checksum line is missing or does not match: the bytes were damaged (or truncated).
    Damaged { reason: String },
    /// The checksum matches but the content is not a valid v1 file.
    Invalid { line: usize, reason: String },
    /// A custody file of a version this build does not read.
    UnsupportedVersion { found: String },
    /// Not a custody backup at all.
    NotABackup,
    /// Refused while building a file (a value out of bounds).
    BadValue { field: &'static str, reason: String },
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
#[derive(Clone, Debug)]
pub struct Encoded {
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
    pub fn common(&self) -> &[u8] {
        &self.bytes[self.common.clone()]
    }
    pub fn file_fields(&self) -> &[u8] {
        &self.bytes[self.file_fields.clone()]
    }
    pub fn slot_descriptor(&self, i: usize) -> &[u8] {
        &self.bytes[self.slot_descriptors[i].clone()]
    }
    pub fn slot_fields(&self, i: usize) -> &[u8] {
        &self.bytes[self.slot_fields[i].clone()]
    }
    pub fn before_mac(&self) -> &[u8] {
        &self.bytes[self.before_mac.clone()]
    }
}
