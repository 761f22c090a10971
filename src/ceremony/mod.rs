//! The operations: backup, open (restore and verify), inspect. Data flows one way: from here to
//! the format, crypto, slot, token and media modules; nothing here reads a terminal.

use std::fmt;
use std::path::{Path, PathBuf};

use secrecy::{ExposeSecret, SecretBox};
use zeroize::Zeroizing;

use crate::crypto::{self, Key32};
use crate::format::{
    self, BackupFile, CommonHeader, Descriptor, Encoded, FileFields, FormatError, KdfParams,
    SlotKind, display_escaped, normalize_free_text,
};
use crate::media::{self, MediaError};
use crate::prompt::{PromptError, Prompter};
use crate::shamir;
use crate::slot::{self, OpenError};
use crate::token::locate::{PinHint, TokenEnv, Tokens};
use crate::token::uri::TokenLocator;
use crate::token::{KeyOps, TokenError, TokenKey};

mod change;
pub use change::{
    KdfChange, ReshareError, RewrapError, RewrapReport, RewrapRequest, reshare, rewrap,
};

/// The master secret in memory.
pub type Secret = SecretBox<Vec<u8>>;

/// Exit codes (documented in the README).
pub mod exit {
    pub const OK: i32 = 0;
    pub const OTHER: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const AUTH: i32 = 3;
    pub const NOT_FOUND: i32 = 4;
    pub const DAMAGED: i32 = 5;
    pub const PIN_LOCKED: i32 = 6;
    pub const OUTPUT_EXISTS: i32 = 7;
    pub const NOT_ENOUGH_SHARES: i32 = 8;
}

/// The exit code of a token failure (shared by every command that uses a token).
pub fn token_exit(e: &TokenError) -> i32 {
    match e {
        TokenError::PinIncorrect { .. } | TokenError::WrongKey { .. } => exit::AUTH,
        TokenError::PinLocked { .. } => exit::PIN_LOCKED,
        TokenError::NotFound { .. } | TokenError::KeyUnusable { .. } => exit::NOT_FOUND,
        _ => exit::OTHER,
    }
}

/// What to do about a token failure.
pub fn token_advice(e: &TokenError) -> &'static str {
    match e {
        TokenError::PinIncorrect { .. } => {
            "check the PIN and run the command again; custody never retries a PIN by itself"
        }
        TokenError::PinLocked { .. } => {
            "the token's security officer must unlock the PIN (SO PIN / PUK) before it can be used"
        }
        TokenError::NoPin { .. } => {
            "give the PIN with CUSTODY_PIN or pin-source=file:... in the token URI, or run on a terminal"
        }
        TokenError::NotFound { .. } => {
            "plug in the token, check the URI and the module (`custody token list`)"
        }
        TokenError::KeyUnusable { .. } => {
            "use a key made with `custody token keygen`, or one with the attributes named above"
        }
        TokenError::WrongKey { .. } => "use the token and key this file was made with",
        TokenError::Failed { .. } => "check the token and its module",
    }
}

mod backup;
mod inspect;
mod open;
mod set;

pub use backup::*;
pub use inspect::*;
pub use open::*;
pub use set::*;
