//! The on-disk format, version 1: pure code, no I/O. docs/FORMAT.md is the contract; this module
//! is its implementation. Parsing is strict: every file has exactly one canonical encoding, and the
//! parser proves it by re-encoding what it read and comparing byte for byte.

mod percent;
mod pubkey;
mod read;
mod text;
mod textcopy;
mod types;
mod validate;
mod write;

#[cfg(feature = "internals")]
pub use percent::PercentError;
pub use percent::{percent_decode_canonical, percent_encode};
#[cfg(feature = "internals")]
pub use pubkey::PUBKEY_MAGIC;
pub use pubkey::PubkeyFile;
#[cfg(feature = "internals")]
pub use read::check_checksum;
pub use read::parse;
pub use text::{
    UNICODE_VERSION, display_escaped, display_path, normalize_free_text, validate_free_text,
};
pub use textcopy::repair_text_copy;
pub use types::{
    BackupFile, CommonHeader, Descriptor, Encoded, FileFields, FormatError, KdfParams, Slot,
    SlotKind, SlotMaterial,
};
pub use write::{encode_common, encode_descriptor, encode_file_fields, encode_slot_fields};

/// First line of every file.
pub const MAGIC: &str = "custody-backup v1";
/// A file larger than this (bytes) is refused before it is read whole.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Longest line accepted (the payload line of a 4096-byte secret is about 5.5 KiB).
pub const MAX_LINE_BYTES: usize = 8192;
/// Most slots (tokens) one file may carry; a reader refuses more before parsing them.
pub const MAX_SLOTS: usize = 16;
/// Shortest secret a file may hold, in bytes (128 bits).
pub const MIN_SECRET_BYTES: usize = 16;
/// Longest secret a file may hold, in bytes.
pub const MAX_SECRET_BYTES: usize = crate::secret::MAX_SECRET_BYTES;
/// AES-GCM tag length.
pub const TAG_BYTES: usize = 16;
/// Length of the data key D, of a share value and of a token secret z.
pub const KEY_BYTES: usize = 32;
/// Longest decoded token string (PKCS#11 labels are 32 bytes; leave room for other tokens).
pub const MAX_TOKEN_STRING_BYTES: usize = 256;
/// Longest key id.
pub const MAX_KEY_ID_BYTES: usize = 64;
/// Reading refuses KDF parameters above these before anything is allocated, so that a crafted
/// file cannot make a reader allocate or compute without bound. Memory in KiB (4 GiB).
pub const MAX_KDF_MEMORY_KIB: u32 = 4 * 1024 * 1024;
/// Most Argon2id passes a file may ask for (see [`MAX_KDF_MEMORY_KIB`]).
pub const MAX_KDF_ITERATIONS: u32 = 16;
/// Most Argon2id lanes a file may ask for (see [`MAX_KDF_MEMORY_KIB`]).
pub const MAX_KDF_PARALLELISM: u32 = 16;
/// The smallest memory ever written or read, in KiB (8 MiB; `--allow-weak-kdf`).
pub const MIN_KDF_MEMORY_KIB: u32 = 8 * 1024;
/// Below this memory (KiB, 64 MiB) a file is "weak": readable, but worth a warning.
pub const STRONG_KDF_MEMORY_KIB: u32 = 64 * 1024;
/// Below this many passes a file is "weak" (see [`STRONG_KDF_MEMORY_KIB`]).
pub const STRONG_KDF_ITERATIONS: u32 = 3;

#[cfg(test)]
mod tests;
