//! custody: two-factor (hardware token + password) backup and split custody of a master secret.
//!
//! A backup is one file locked by a key held in hardware — a PKCS#11 token or a YubiKey's PIV
//! applet — and a password (Argon2id) together; a split backup is K-of-N share files, one per
//! officer. docs/FORMAT.md is the on-disk contract.
//!
//! The library never touches a terminal: everything it needs from a person goes through
//! [`Prompter`], which the caller implements (the `custody` binary does so for a terminal).
//! Every error answers [`ErrorKind`] through its `kind()`.
//!
//! # Example
//!
//! A backup and a restore in memory, with a key of the embedder's own: here an AES-256 key in
//! software, which custody uses through the [`AesKey`] trait exactly as it uses a PKCS#11
//! token's AES key. (A software key protects nothing a stolen disk does not also hold: it is
//! for tests. Real keys come from a token through [`KeySpec::Locator`].)
//!
//! ```
//! use aes_gcm::aead::{Aead, KeyInit, Payload};
//! use aes_gcm::{Aes256Gcm, Nonce};
//! use custody::*;
//!
//! /// An AES key in memory that does what a token's AES key does with z.
//! struct SoftwareAes([u8; 32]);
//!
//! impl AesKey for SoftwareAes {
//!     fn encrypt_z(&self, iv: &mut [u8; 12], aad: &[u8], z: &TokenSecret)
//!         -> Result<[u8; 48], TokenError> {
//!         let ct = Aes256Gcm::new((&self.0).into())
//!             .encrypt(&Nonce::from(*iv), Payload { msg: z.expose(), aad })
//!             .map_err(|_| TokenError::Failed { token: "software".into(), detail: "seal".into() })?;
//!         ct.try_into().map_err(|_| TokenError::Failed { token: "software".into(), detail: "length".into() })
//!     }
//!     fn decrypt_z(&self, iv: &[u8; 12], aad: &[u8], ct: &[u8; 48])
//!         -> Result<TokenSecret, TokenError> {
//!         let z = Aes256Gcm::new((&self.0).into())
//!             .decrypt(&Nonce::from(*iv), Payload { msg: ct, aad })
//!             .map_err(|_| TokenError::WrongKey { key: "software key".into() })?;
//!         let z: [u8; 32] = z.try_into().map_err(|_| TokenError::WrongKey { key: "software key".into() })?;
//!         Ok(TokenSecret::from_bytes(&z))
//!     }
//! }
//!
//! /// The key, as a slot made with it records it (a v1 descriptor: a PKCS#11 AES slot).
//! fn software_key(bytes: [u8; 32]) -> TokenKey<'static> {
//!     TokenKey {
//!         descriptor: Descriptor::Pkcs11 {
//!             kind: SlotKind::Pkcs11Aes,
//!             token_label: "software".into(),
//!             token_serial: String::new(),
//!             key_label: "example".into(),
//!             key_id: Vec::new(),
//!             key_hash: None,
//!         },
//!         name: "the example's software key".into(),
//!         ops: KeyOps::Aes(Box::new(SoftwareAes(bytes))),
//!         hardware_bound: false,
//!     }
//! }
//!
//! /// Nobody at a keyboard: the password is given, messages are dropped.
//! struct Scripted;
//!
//! impl Prompter for Scripted {
//!     fn info(&mut self, _: &str) {}
//!     fn warn(&mut self, _: &str, _: &str) {}
//!     fn new_password(&mut self, _: &str, _: bool) -> Result<NewPassword, PromptError> {
//!         let password = Password::new("correct horse battery staple")
//!             .map_err(|e| PromptError::Refused { reason: e.to_string() })?;
//!         Ok(NewPassword { password, hint: None })
//!     }
//!     fn password(&mut self, _: &str) -> Result<Password, PromptError> {
//!         Password::new("correct horse battery staple")
//!             .map_err(|e| PromptError::Refused { reason: e.to_string() })
//!     }
//!     fn pin(&mut self, req: &PinRequest<'_>) -> Result<secrecy::SecretString, PromptError> {
//!         Err(PromptError::NotInteractive { what: format!("the PIN of {}", req.token) })
//!     }
//! }
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let key_bytes = [7u8; 32];
//! let secret = MasterSecret::from_slice(b"the vault's root key, 32 bytes!!")?;
//! // Weak Argon2id parameters keep the example quick; real backups use the default.
//! let kdf = KdfParams { memory_kib: 8 * 1024, iterations: 1, parallelism: 1 };
//! // A key held in software is not bound to any token: it must be allowed in so many words.
//! let options = BackupOptions {
//!     allow_weak_kdf: true,
//!     allow_exportable_key: true,
//!     ..BackupOptions::default()
//! };
//! let request = SetRequest::single(
//!     Output::Memory { name: "example.custody".into() },
//!     vec![KeySpec::Key(software_key(key_bytes))],
//!     Some("ask the example".into()),
//!     "example",
//!     kdf,
//!     options,
//! )?;
//! // No token is named, so no PKCS#11 module is ever loaded.
//! let env = TokenEnv::default();
//! let report = backup(request, secret, env.clone(), &mut Scripted)?;
//! let bytes = report.files[0].bytes.clone().ok_or("the backup is in memory")?;
//! assert!(bytes.starts_with(b"custody-backup v1\n"));
//!
//! let input = Input::Bytes { name: "example.custody".into(), bytes };
//! let opened = open_backup(&input, &[KeySpec::Key(software_key(key_bytes))], env, &mut Scripted)?;
//! assert_eq!(opened.secret.expose(), b"the vault's root key, 32 bytes!!");
//! # Ok(())
//! # }
//! ```
//!
//! The modules are private: this page lists what an embedder may use. Tests, benches and the
//! tools under `tools/` reach the rest through the non-default `internals` feature, which
//! carries no stability promise.

#![deny(missing_docs)]
#![deny(unsafe_code)]
// Library code never panics on its way through a ceremony: a key offered a slot that is not its
// own answers "not mine", bad input is an error. Tests may assert with expect and unwrap.
#![cfg_attr(
    not(test),
    deny(
        clippy::unreachable,
        clippy::panic,
        clippy::expect_used,
        clippy::unwrap_used
    )
)]

// Each module is private unless the `internals` feature makes it public for the project's own
// tests and tools (hidden from the documentation: it is not part of the API). Written out, not
// generated by a macro, so that tests/layers.rs can follow every module from here.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod ceremony;
#[cfg(not(feature = "internals"))]
mod ceremony;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod crypto;
#[cfg(not(feature = "internals"))]
mod crypto;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod error;
#[cfg(not(feature = "internals"))]
mod error;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod format;
#[cfg(not(feature = "internals"))]
mod format;
/// The fuzz targets' bodies (fuzz/ and tests/fuzz_replay.rs), with `internals` only.
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod fuzz;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod media;
#[cfg(not(feature = "internals"))]
mod media;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod prompt;
#[cfg(not(feature = "internals"))]
mod prompt;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod record;
#[cfg(not(feature = "internals"))]
mod record;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod secret;
#[cfg(not(feature = "internals"))]
mod secret;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod shamir;
#[cfg(not(feature = "internals"))]
mod shamir;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod slot;
#[cfg(not(feature = "internals"))]
mod slot;
#[cfg(feature = "internals")]
#[doc(hidden)]
pub mod token;
#[cfg(not(feature = "internals"))]
mod token;

/// Every module of the crate, for the project's own tests, benches and tools. No stability
/// promise: anything here may change in any release.
#[cfg(feature = "internals")]
pub mod internals {
    pub use crate::{
        ceremony, crypto, error, format, fuzz, media, prompt, record, secret, shamir, slot, token,
    };
}

pub use ceremony::{AllSlotsReport, AllSlotsRequest, SlotOutcome, SlotReport, verify_all_slots};
pub use ceremony::{
    BackupError, BackupOptions, BackupReport, CostlyFile, Expectation, ExpectedBy,
    ExpectedFingerprint, ExportError, ExportedKey, FINGERPRINT_QUESTION, FileReport,
    FingerprintCheck, FingerprintError, Input, KdfChange, KdfCostError, KdfLimits, KeySpec,
    KeygenError, LoadOptions, LoadedFile, OpenFileError, Opened, OpenedBackup, Output, Record,
    RecordError, RecordEvent, RecordHead, RecordNotWritten, RecordSummary, RecordedFingerprints,
    RequestError, ReshareError, ReshareRequest, RestoreError, RestoreRequest, RewrapError,
    RewrapReport, RewrapRequest, SetCheck, SetError, SetRequest, ShareSpec, TextCopy, TextField,
    backup, backup_set, check_kdf_request, check_secret_len, export_public_key, generate_key,
    inspect_json, inspect_text, load, load_bytes, load_bytes_with, load_input, load_input_with,
    load_with, open_backup, open_loaded_backup, open_set, operation_object, read_record, reshare,
    restore, rewrap, show_header, text_copy_notice, token_inventory, verify_record,
};
pub use crypto::{
    KdfParams, ct_eq as constant_time_eq, fill_random, fingerprint, fingerprint_display,
    p256_key_hash,
};
pub use error::{ErrorKind, request_stop, stop_requested};
pub use format::{
    Descriptor, FormatError, MAX_SECRET_BYTES, MIN_SECRET_BYTES, SlotKind,
    UNICODE_VERSION as FREE_TEXT_UNICODE_VERSION, display_escaped, display_path, percent_encode,
    repair_text_copy,
};
pub use media::{DirProblem, check_output_dir, check_output_dir_for};
pub use media::{
    FAULT_INJECT_ENV, MediaError, MemoryAvailable, MemoryLimit, read_bounded, write_secret_new,
};
pub use prompt::{NewPassword, PinReason, PinRequest, PromptError, Prompter};
pub use record::{
    Broken as RecordBroken, Checked as RecordChecked, Entry as RecordEntry,
    FileEntry as RecordFile, InputCheck as RecordInputCheck, Line as RecordLine, Op as RecordOp,
    Outcome as RecordOutcome, Role as RecordRole, TokenEntry as RecordToken,
    fingerprint_full as record_fingerprint_display,
};
pub use secret::{
    DataKey, ENTRY_BYTES, EntryBuffer, FileSecret, Hardening, MAX_PASSWORD_BYTES, MasterSecret,
    MemoryNotLocked, Password, PasswordKey, SecretError, ShareValue, TokenSecret, harden_process,
    lock_secret_memory, secret_memory, take_argon2_notice, take_env_secret,
};
pub use token::registry::{
    Inventory, ModuleInventory, SOFTHSM_DEFAULT_MODULE, TokenEnv, TokenInventory,
};
pub use token::uri::{TokenLocator, UriError};
pub use token::{
    AesKey, CardSummary, EcdhP256, GeneratedKey, KeyOps, KeySummary, MgmSource, PivKeygen,
    PivPinPolicy, PivTouchPolicy, TokenError, TokenKey, TokenSummary,
};
