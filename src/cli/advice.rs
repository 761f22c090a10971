//! What to do about each library error: the second line of every error the CLI prints. These
//! words name CLI flags and environment variables, so they live here and not in the library.

use custody::ErrorKind;
use custody::FormatError;
use custody::MediaError;
use custody::TokenError;
use custody::{
    BackupError, ExportError, KdfCostError, OpenFileError, ReshareError, RewrapError, SetError,
};

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
            BackupError::Cost(e) => e.message(),
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
            BackupError::Cost(e) => e.advice(),
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
    fn message(&self) -> String {
        match self {
            OpenFileError::Cost(e) => e.message(),
            // The library says "the one expected"; here it is the flag that gave it.
            OpenFileError::Fingerprint(
                e @ custody::FingerprintError::Mismatch {
                    expected: custody::ExpectedBy::Given(_),
                    ..
                },
            ) => e.to_string().replacen(
                "the one expected (",
                "the one given with --expect-fingerprint (",
                1,
            ),
            other => other.to_string(),
        }
    }
    fn advice(&self) -> &'static str {
        match self {
            OpenFileError::Cost(e) => e.advice(),
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
            OpenFileError::Fingerprint(e) => match e {
                custody::FingerprintError::Mismatch { .. }
                | custody::FingerprintError::Typed { .. } => {
                    "do not use this file: find the backup the ceremony record names, and \
                     report the incident"
                }
                custody::FingerprintError::Ambiguous { .. }
                | custody::FingerprintError::Unknown { .. } => {
                    "give the fingerprint from the paper ceremony log with \
                     --expect-fingerprint, or use the record that made this set"
                }
                custody::FingerprintError::NoAnswer { .. } => {
                    "type the first 8 characters of the fingerprint in your ceremony record, \
                     \"skip\" to go on without it, or give --expect-fingerprint or --record"
                }
                _ => "give --expect-fingerprint or --record, or run on a terminal",
            },
            _ => "",
        }
    }
}

impl Advised for SetError {
    fn kind(&self) -> ErrorKind {
        SetError::kind(self)
    }
    fn message(&self) -> String {
        match self {
            SetError::Fatal(e) => e.message(),
            SetError::Cost(e) => e.message(),
            other => other.to_string(),
        }
    }
    fn advice(&self) -> &'static str {
        match self {
            SetError::Cost(e) => e.advice(),
            SetError::NotEnough { .. } => {
                "bring the officers named above with their shares, passwords and tokens"
            }
            SetError::Inconsistent { .. } => {
                "do not trust these files; restore from other shares and report the incident"
            }
            SetError::Fatal(e) => e.advice(),
            SetError::NothingReadable { .. } => "check the files given",
            SetError::Rivals { .. } => {
                "do not trust these files: give --record or --expect-fingerprint (from the paper \
                 ceremony log) to choose the set it names, and report the incident"
            }
            SetError::Foreign { .. } => {
                "leave those files out, give --ignore-foreign, or run on a terminal to confirm"
            }
            SetError::Unconfirmed { .. } => {
                "give --record or --expect-fingerprint (from the paper ceremony log), or run on a \
                 terminal and compare the fingerprint; report the altered files"
            }
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

impl Advised for KdfCostError {
    fn kind(&self) -> ErrorKind {
        KdfCostError::kind(self)
    }
    /// A cost not confirmed names the flags that would accept it.
    fn message(&self) -> String {
        match self {
            KdfCostError::TooCostly { files, declined } => {
                // Only the flags a file needs: those of the values above its baseline.
                let mut flags = Vec::new();
                let over = |c: &&custody::CostlyFile| c.kdf.memory_kib > c.baseline.memory_kib;
                if let Some(m) = files.iter().filter(over).map(|c| c.kdf.memory_kib).max() {
                    flags.push(format!("--max-kdf-memory {}", m.div_ceil(1024)));
                }
                let over = |c: &&custody::CostlyFile| c.kdf.iterations > c.baseline.iterations;
                if let Some(t) = files.iter().filter(over).map(|c| c.kdf.iterations).max() {
                    flags.push(format!("--max-kdf-iterations {t}"));
                }
                let list: Vec<String> = files.iter().map(ToString::to_string).collect();
                format!(
                    "{}. {}; nothing was done (accepted without a question by {})",
                    list.join("; "),
                    if *declined {
                        "Not confirmed"
                    } else {
                        "Not confirmed: there is no terminal to ask on"
                    },
                    flags.join(" "),
                )
            }
            other => other.to_string(),
        }
    }
    fn advice(&self) -> &'static str {
        match self {
            KdfCostError::TooCostly { .. } => {
                "check that this is the file you expect (compare it with the ceremony record): \
                 a file asking for more Argon2id than it was made with may be a substitute \
                 meant to waste the ceremony's time. If its cost is expected, confirm it on a \
                 terminal or give the --max-kdf-* flags named above"
            }
            KdfCostError::Memory { .. } => {
                "free memory or raise the limit named above (ulimit -v, ulimit -d, the \
                 cgroup's memory limit), or run on a machine with more memory"
            }
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

impl Advised for custody::RecordError {
    fn kind(&self) -> ErrorKind {
        custody::RecordError::kind(self)
    }
    fn advice(&self) -> &'static str {
        match self {
            custody::RecordError::Missing { .. } => {
                "give the ceremony record the backup was recorded in (restore, verify and rewrap \
                 never start one), or leave out --record"
            }
            custody::RecordError::OnMedium { .. } => {
                "keep the record on the ceremony machine or on a medium of its own \
                 (--allow-record-on-medium accepts it, for a rehearsal)"
            }
            custody::RecordError::Unusable { .. } | custody::RecordError::TooLarge { .. } => {
                "check that --record names the ceremony record, a file this user can write"
            }
            custody::RecordError::Broken { .. } => {
                "do not add to it: compare the record with the heads in the paper log \
                 (`custody record verify FILE --head HEX`) and find out who changed it"
            }
            custody::RecordError::BadHead { .. } => {
                "copy the head as custody printed it (`record head: XXXX-…`), 16 or more hex digits"
            }
            custody::RecordError::HeadNotFound { .. } => {
                "treat the record as altered: compare it with the paper log line by line"
            }
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
