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
//! The modules are private: this page lists what an embedder may use. Tests, benches and the
//! tools under `tools/` reach the rest through the non-default `internals` feature, which
//! carries no stability promise.

// Each module is private unless the `internals` feature makes it public for the project's own
// tests and tools (hidden from the documentation: it is not part of the API).
macro_rules! modules {
    ($($name:ident),* $(,)?) => {
        $(
            #[cfg(feature = "internals")]
            #[doc(hidden)]
            pub mod $name;
            #[cfg(not(feature = "internals"))]
            mod $name;
        )*
    };
}

modules!(
    ceremony, crypto, error, format, media, prompt, secret, shamir, slot, token
);

/// Every module of the crate, for the project's own tests, benches and tools. No stability
/// promise: anything here may change in any release.
#[cfg(feature = "internals")]
pub mod internals {
    pub use crate::{ceremony, crypto, error, format, media, prompt, secret, shamir, slot, token};
}

pub use ceremony::{
    BackupError, BackupReport, BackupRequest, ExportError, ExportedKey, FileReport, KdfChange,
    KeygenError, LoadedFile, OpenFileError, Opened, OpenedBackup, ReshareError, RewrapError,
    RewrapReport, RewrapRequest, SetCheck, SetError, SetRequest, ShareSpec, backup, backup_set,
    check_kdf_request, check_secret_len, export_public_key, generate_key, inspect_json,
    inspect_text, load, open_backup, open_loaded_backup, open_set, reshare, rewrap, show_header,
    token_inventory,
};
pub use crypto::{
    KdfParams, ct_eq as constant_time_eq, fill_random, fingerprint, fingerprint_display,
    p256_key_hash,
};
pub use error::ErrorKind;
pub use format::{
    Descriptor, FormatError, MAX_SECRET_BYTES, MIN_SECRET_BYTES, SlotKind, display_escaped,
    percent_encode,
};
pub use media::{FAULT_INJECT_ENV, MediaError, read_bounded, write_secret_new};
pub use prompt::{NewPassword, PinReason, PinRequest, PromptError, Prompter};
pub use secret::{
    DataKey, FileSecret, MasterSecret, Password, PasswordKey, SecretError, ShareValue, TokenSecret,
};
pub use token::registry::{Inventory, SOFTHSM_DEFAULT_MODULE, TokenEnv};
pub use token::uri::{TokenLocator, UriError};
pub use token::{
    AesKey, CardSummary, EcdhP256, GeneratedKey, KeyOps, MgmSource, PivKeygen, PivPinPolicy,
    PivTouchPolicy, TokenError, TokenKey, TokenSummary,
};
