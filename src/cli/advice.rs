//! What to do about each library error: the second line of every error the CLI prints. These
//! words name CLI flags and environment variables, so they live here and not in the library.

use custody::ErrorKind;
use custody::FormatError;
use custody::MediaError;
use custody::TokenError;
use custody::{BackupError, ExportError, OpenFileError, ReshareError, RewrapError, SetError};

/// A library error the CLI knows how to advise on.
pub trait Advised: std::fmt::Display {
    /// Its kind, which decides the exit code.
    fn kind(&self) -> ErrorKind;
    /// What to do about it.
    fn advice(&self) -> &'static str;
    /// What went wrong, in the CLI's words (a refused request names its flags).
    fn message(&self) -> String {
        self.to_string()
    }
}

impl Advised for TokenError {
    fn kind(&self) -> ErrorKind {
        TokenError::kind(self)
    }
    fn advice(&self) -> &'static str {
        match self {
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
            TokenError::ManagementKeyRefused { .. } => {
                "give the card's management key with --mgm-key-file (hex), or \
                 --mgm-key-protected if it is stored on the card"
            }
            TokenError::KeyExists { .. } => {
                "choose another object= label; custody never replaces a key"
            }
            _ => "check the token and its module",
        }
    }
}

impl Advised for BackupError {
    fn kind(&self) -> ErrorKind {
        BackupError::kind(self)
    }
    fn message(&self) -> String {
        match self {
            BackupError::Request(r) => super::request::words(r),
            other => other.to_string(),
        }
    }
    fn advice(&self) -> &'static str {
        match self {
            BackupError::Request(_) => "see `custody --help`",
            BackupError::Invalid { .. } => "correct the command line and run it again",
            BackupError::Token { error } => error.advice(),
            BackupError::SlotCheck { .. } => {
                "make a key with `custody token keygen` (AES: encrypt+decrypt; P-256: derive)"
            }
            BackupError::Prompt(_) => {
                "give the password with --password-file or CUSTODY_PASSWORD, or run on a terminal"
            }
            BackupError::Write { error } => match error {
                MediaError::Exists { .. } => "choose another --out, or add --force to replace it",
                _ => "check the medium (space, write protection) and run the backup again",
            },
            BackupError::PartialSet { .. } => {
                "destroy the written shares of this incomplete set, fix the medium, and run the \
                 whole split backup again"
            }
            _ => "",
        }
    }
}

impl Advised for OpenFileError {
    fn kind(&self) -> ErrorKind {
        OpenFileError::kind(self)
    }
    fn advice(&self) -> &'static str {
        match self {
            OpenFileError::Read { .. } => "check the path and the medium",
            // A repaired text-mode copy that still does not read is judged like any file.
            OpenFileError::Format { error, .. } | OpenFileError::TextCopy { error, .. } => {
                match error {
                    FormatError::Damaged { .. } => {
                        "use another copy of this backup (or another share)"
                    }
                    FormatError::UnsupportedVersion { .. } => "use a newer custody",
                    _ => "this is not a file custody wrote: use another copy of the backup",
                }
            }
            OpenFileError::NoToken { .. } => {
                "plug in one of those tokens, or name one with --token (see `custody token list`)"
            }
            OpenFileError::Token { error, .. } => error.advice(),
            OpenFileError::Auth { .. } => {
                "check the password (its hint is shown above) and that the token holds the key the file names"
            }
            OpenFileError::Altered { .. } => {
                "do not trust this file; use another copy and report the incident"
            }
            OpenFileError::Prompt { .. } => {
                "give the password with --password-file or CUSTODY_PASSWORD, or run on a terminal"
            }
            _ => "",
        }
    }
}

impl Advised for SetError {
    fn kind(&self) -> ErrorKind {
        SetError::kind(self)
    }
    fn advice(&self) -> &'static str {
        match self {
            SetError::NotEnough { .. } => {
                "bring the officers named above with their shares, passwords and tokens"
            }
            SetError::Inconsistent { .. } => {
                "do not trust these files; restore from other shares and report the incident"
            }
            SetError::Fatal(e) => e.advice(),
            SetError::NothingReadable { .. } => "check the files given",
            _ => "",
        }
    }
}

impl Advised for RewrapError {
    fn kind(&self) -> ErrorKind {
        RewrapError::kind(self)
    }
    fn message(&self) -> String {
        match self {
            RewrapError::Open(e) => e.message(),
            RewrapError::Make(e) => e.message(),
            other => other.to_string(),
        }
    }
    fn advice(&self) -> &'static str {
        match self {
            RewrapError::Open(e) => e.advice(),
            RewrapError::Make(e) => e.advice(),
            _ => "",
        }
    }
}

impl Advised for ReshareError {
    fn kind(&self) -> ErrorKind {
        ReshareError::kind(self)
    }
    fn message(&self) -> String {
        match self {
            ReshareError::Open(e) => e.message(),
            ReshareError::Make(e) => e.message(),
            other => other.to_string(),
        }
    }
    fn advice(&self) -> &'static str {
        match self {
            ReshareError::Open(e) => e.advice(),
            ReshareError::Make(e) => e.advice(),
            _ => "",
        }
    }
}

impl Advised for ExportError {
    fn kind(&self) -> ErrorKind {
        ExportError::kind(self)
    }
    fn advice(&self) -> &'static str {
        match self {
            ExportError::Token(e) => e.advice(),
            ExportError::Write(_) => "choose another --out",
            _ => "",
        }
    }
}

impl Advised for custody::RestoreError {
    fn kind(&self) -> ErrorKind {
        custody::RestoreError::kind(self)
    }
    fn advice(&self) -> &'static str {
        match self {
            custody::RestoreError::File(e) => e.advice(),
            custody::RestoreError::Set(e) => e.advice(),
            _ => "",
        }
    }
    fn message(&self) -> String {
        match self {
            custody::RestoreError::File(e) => e.message(),
            custody::RestoreError::Set(e) => e.message(),
            _ => self.to_string(),
        }
    }
}
