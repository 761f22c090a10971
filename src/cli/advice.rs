//! What to do about each library error: the second line of every error the CLI prints. These
//! words name CLI flags and environment variables, so they live here and not in the library.

use custody::ErrorKind;
use custody::FormatError;
use custody::MediaError;
use custody::PromptError;
use custody::TokenError;
use custody::{
    BackupError, ExportError, KdfCostError, OpenFileError, ReshareError, RewrapError, SetError,
};

/// Every cause the CLI advises on, each with its one advice line: THE table. Each library
/// error names its cause (`Advised::cause`); its first line is the error's own message, which
/// names the same cause (tests/cli_errors.rs checks both, case by case).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Cause {
    /// Nothing to add to the message.
    Nothing,
    /// A backup's key that is not bound to its token.
    KeyNotBound,
    /// An output folder holds what an unfinished write left.
    FolderLeftover,
    Usage,
    InvalidRequest,
    PinRefused,
    PinLocked,
    NoPin,
    PinFileUnreadable,
    TokenAbsent,
    NamedTokenAbsent,
    KeyUnusable,
    WrongKey,
    ManagementKeyRefused,
    KeyExists,
    TokenFailed,
    SlotCheck,
    NoPassword,
    EmptyPassword,
    PasswordMismatch,
    PasswordRefused,
    BackupExists,
    NoSpace,
    WriteFailed,
    /// The filesystem can neither refuse to replace a name nor link: a file whose command has
    /// --force (a backup, a share), or one custody never replaces (a secret, an export).
    NoSafeCreateForce,
    NoSafeCreate,
    PartialSet,
    ReadFailed,
    Damaged,
    NewerVersion,
    NotABackup,
    NoAcceptedToken,
    WrongPasswordOrKey,
    /// The token proved its key; the password did not open the slot.
    WrongPassword,
    Altered,
    NotEnoughShares,
    Inconsistent,
    NothingReadable,
    TooCostly,
    NoMemory,
    ExportWrite,
    RecordMissing,
    RecordOnMedium,
    RecordUnusable,
    RecordBroken,
    RecordBadHead,
    RecordHeadNotFound,
    SecretExists,
    OutputExists,
    FolderMissing,
    FolderNoSpace,
    FolderNotWritable,
    FingerprintMismatch,
    FingerprintUnknown,
    FingerprintNoAnswer,
    FingerprintNeeded,
    RivalSets,
    ForeignFiles,
    SetUnconfirmed,
}

impl Cause {
    /// What to do about it: the second line of the error.
    pub fn advice(self) -> &'static str {
        match self {
            Cause::Nothing => "",
            Cause::Usage => "see `custody --help`",
            Cause::InvalidRequest => "correct the command line and run it again",
            Cause::PinRefused => {
                "check the PIN and run the command again; custody never retries a PIN by itself"
            }
            Cause::PinLocked => {
                "the token's security officer must unlock the PIN (SO PIN / PUK) before it can be used"
            }
            Cause::NoPin => {
                "give the PIN with CUSTODY_PIN or pin-source=file:... in the token URI, or run on a terminal"
            }
            Cause::PinFileUnreadable => {
                "check the pin-source=file: path in the token URI: the file must exist and be \
                 readable by this user (its first line is the PIN)"
            }
            Cause::TokenAbsent => {
                "plug in the token, check the URI and the module (`custody token list`)"
            }
            Cause::NamedTokenAbsent => {
                "check the --token URI (its token=, serial= and module) against what \
                 `custody token list` shows, or plug in the token it names"
            }
            Cause::KeyUnusable => {
                "use a key made with `custody token keygen`, or one with the attributes named above"
            }
            Cause::KeyNotBound => {
                "make the key on the token (`custody token keygen`), or pass \
                 --allow-exportable-key to accept this one (warned about at every use)"
            }
            Cause::WrongKey => "use the token and key this file was made with",
            Cause::ManagementKeyRefused => {
                "give the card's management key with --mgm-key-file (hex), or \
                 --mgm-key-protected if it is stored on the card"
            }
            Cause::KeyExists => "choose another object= label; custody never replaces a key",
            Cause::TokenFailed => "check the token and its module",
            Cause::SlotCheck => {
                "make a key with `custody token keygen` (AES: encrypt+decrypt; P-256: derive)"
            }
            Cause::NoPassword => {
                "give the password with --password-file or CUSTODY_PASSWORD, or run on a terminal"
            }
            Cause::EmptyPassword => {
                "give a password that is not empty: check the password file (its first line is \
                 the password) or CUSTODY_PASSWORD, or type it at the prompt"
            }
            Cause::PasswordMismatch => {
                "type the same password twice; nothing was written, so run the command again"
            }
            Cause::PasswordRefused => "check the password files given and run the command again",
            Cause::BackupExists => "choose another --out, or add --force to replace it",
            Cause::FingerprintMismatch => {
                "do not use this file: find the backup the ceremony record names, and report the \
                 incident"
            }
            Cause::FingerprintUnknown => {
                "give the fingerprint from the paper ceremony log with --expect-fingerprint, or \
                 use the record that made this set"
            }
            Cause::FingerprintNoAnswer => {
                "type the first 8 characters of the fingerprint in your ceremony record, \"skip\" \
                 to go on without it, or give --expect-fingerprint or --record"
            }
            Cause::FingerprintNeeded => {
                "give --expect-fingerprint or --record, or run on a terminal"
            }
            Cause::RivalSets => {
                "do not trust these files: give --record or --expect-fingerprint (from the paper \
                 ceremony log) to choose the set it names, and report the incident"
            }
            Cause::ForeignFiles => {
                "leave those files out, give --ignore-foreign, or run on a terminal to confirm"
            }
            Cause::SetUnconfirmed => {
                "give --record or --expect-fingerprint (from the paper ceremony log), or run on a \
                 terminal and compare the fingerprint; report the altered files"
            }
            Cause::OutputExists => "choose another output file; custody never replaces it",
            Cause::FolderMissing => {
                "check the output path; create the folder, or mount the medium it is on, and \
                 run the command again"
            }
            Cause::FolderLeftover => {
                "look at it: a backup can be finished by running the command again once it is \
                 removed; anything that may hold a secret, overwrite and delete (`shred -u`)"
            }
            Cause::FolderNoSpace => {
                "free some space there or choose another medium, and run the command again"
            }
            Cause::FolderNotWritable => {
                "choose a folder you can write (check the medium's write protection, a read-only \
                 mount or the folder's permissions), and run the command again"
            }
            Cause::NoSpace => {
                "free space on that filesystem, or write to another folder; nothing was left \
                 half-written"
            }
            Cause::WriteFailed => {
                "check the medium (space, write protection) and run the command again"
            }
            Cause::NoSafeCreateForce => {
                "check that no file of that name is there and run the command again with --force, \
                 or write to a filesystem the kernel mounts (ext4, vfat, exFAT): most FUSE and \
                 network mounts cannot create a file safely"
            }
            Cause::NoSafeCreate => {
                "write to a filesystem the kernel mounts (ext4, vfat, exFAT), not a FUSE or \
                 network mount: custody never risks replacing a file that is there"
            }
            Cause::PartialSet => {
                "destroy the written shares of this incomplete set, fix the medium, and run the \
                 whole split backup again"
            }
            Cause::ReadFailed => "check the path and the medium",
            Cause::Damaged => "use another copy of this backup (or another share)",
            Cause::NewerVersion => "use a newer custody",
            Cause::NotABackup => "this is not a file custody wrote: use another copy of the backup",
            Cause::NoAcceptedToken => {
                "plug in one of those tokens, or name one with --token (see `custody token list`)"
            }
            Cause::WrongPasswordOrKey => {
                "check the password (its hint is shown above) and that the token holds the key the file names"
            }
            Cause::WrongPassword => {
                "check the password against its hint (shown above): the token key was the right \
                 one; a password file holds the password alone, on its first line"
            }
            Cause::Altered => "do not trust this file; use another copy and report the incident",
            Cause::NotEnoughShares => {
                "bring the officers named above with their shares, passwords and tokens"
            }
            Cause::Inconsistent => {
                "do not trust these files; restore from other shares and report the incident"
            }
            Cause::NothingReadable => "check the files given",
            Cause::TooCostly => {
                "check that this is the file you expect (compare it with the ceremony record): \
                 a file asking for more Argon2id than it was made with may be a substitute \
                 meant to waste the ceremony's time. If its cost is expected, confirm it on a \
                 terminal or give the --max-kdf-* flags named above"
            }
            Cause::NoMemory => {
                "Argon2id needs more memory than it can have: free memory or raise the limit \
                 named above (ulimit -v, ulimit -d, the cgroup's memory limit), or run on a \
                 machine with more memory"
            }
            Cause::ExportWrite => "choose another --out",
            Cause::RecordMissing => {
                "give the ceremony record the backup was recorded in (restore, verify and rewrap \
                 never start one), or leave out --record"
            }
            Cause::RecordOnMedium => {
                "keep the record on the ceremony machine or on a medium of its own \
                 (--allow-record-on-medium accepts it, for a rehearsal)"
            }
            Cause::RecordUnusable => {
                "check that --record names the ceremony record, a file this user can write"
            }
            Cause::RecordBroken => {
                "do not add to it: compare the record with the heads in the paper log \
                 (`custody record verify FILE --head HEX`) and find out who changed it"
            }
            Cause::RecordBadHead => {
                "copy the head as custody printed it (`record head: XXXX-…`), 16 or more hex digits"
            }
            Cause::RecordHeadNotFound => {
                "treat the record as altered: compare it with the paper log line by line"
            }
            Cause::SecretExists => "choose a new output file; custody never overwrites a secret",
        }
    }
}

/// The cause of a password that could not be had.
fn prompt_cause(e: &PromptError) -> Cause {
    match e {
        PromptError::EmptyPassword => Cause::EmptyPassword,
        PromptError::Mismatch => Cause::PasswordMismatch,
        PromptError::Refused { .. } => Cause::PasswordRefused,
        _ => Cause::NoPassword,
    }
}

/// The cause of a failed write of a new file: there already, no space left, or the medium.
pub fn write_cause(e: &MediaError, exists: Cause) -> Cause {
    // Found by the folder check before anything is asked, or by the write itself.
    let no_safe_create = if exists == Cause::BackupExists {
        Cause::NoSafeCreateForce
    } else {
        Cause::NoSafeCreate
    };
    match e {
        MediaError::Exists { .. } => exists,
        MediaError::NoSafeCreate { .. } => no_safe_create,
        MediaError::OutputFolder { problem, .. } => match problem.as_ref() {
            custody::DirProblem::Missing | custody::DirProblem::NotAFolder => Cause::FolderMissing,
            custody::DirProblem::NoSpace { .. } => Cause::FolderNoSpace,
            custody::DirProblem::Leftover(_) => Cause::FolderLeftover,
            custody::DirProblem::NoSafeCreate(_) => no_safe_create,
            _ => Cause::FolderNotWritable,
        },
        _ if no_space(e) => Cause::NoSpace,
        _ => Cause::WriteFailed,
    }
}

/// Whether a write failed for want of space (ENOSPC, or a quota: EDQUOT).
fn no_space(e: &MediaError) -> bool {
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(e);
    while let Some(err) = cur {
        if let Some(io) = err.downcast_ref::<std::io::Error>()
            && matches!(
                io.kind(),
                std::io::ErrorKind::StorageFull | std::io::ErrorKind::QuotaExceeded
            )
        {
            return true;
        }
        cur = err.source();
    }
    false
}

/// A library error the CLI knows how to advise on.
pub trait Advised: std::fmt::Display {
    /// Its kind, which decides the exit code.
    fn kind(&self) -> ErrorKind;
    /// Its cause, in the table above.
    fn cause(&self) -> Cause;
    /// What to do about it.
    fn advice(&self) -> &'static str {
        self.cause().advice()
    }
    /// What went wrong, in the CLI's words (a refused request names its flags).
    fn message(&self) -> String {
        self.to_string()
    }
}

impl Advised for TokenError {
    fn kind(&self) -> ErrorKind {
        TokenError::kind(self)
    }
    fn cause(&self) -> Cause {
        match self {
            TokenError::PinIncorrect { .. } => Cause::PinRefused,
            TokenError::PinSource { .. } => Cause::PinFileUnreadable,
            TokenError::PinLocked { .. } => Cause::PinLocked,
            TokenError::NoPin { .. } => Cause::NoPin,
            TokenError::NotFound { .. } => Cause::TokenAbsent,
            TokenError::KeyUnusable { .. } => Cause::KeyUnusable,
            TokenError::NotBound { .. } => Cause::KeyNotBound,
            TokenError::WrongKey { .. } => Cause::WrongKey,
            TokenError::ManagementKeyRefused { .. } => Cause::ManagementKeyRefused,
            TokenError::KeyExists { .. } => Cause::KeyExists,
            _ => Cause::TokenFailed,
        }
    }
}

impl Advised for MediaError {
    fn kind(&self) -> ErrorKind {
        MediaError::kind(self)
    }
    fn cause(&self) -> Cause {
        write_cause(self, Cause::OutputExists)
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
    fn cause(&self) -> Cause {
        match self {
            BackupError::Request(_) => Cause::Usage,
            BackupError::Invalid { .. } => Cause::InvalidRequest,
            BackupError::Token { error } => error.cause(),
            BackupError::SlotCheck { .. } => Cause::SlotCheck,
            BackupError::Prompt(e) => prompt_cause(e),
            BackupError::Write { error } => write_cause(error, Cause::BackupExists),
            BackupError::Cost(e) => e.cause(),
            BackupError::PartialSet { .. } => Cause::PartialSet,
            _ => Cause::Nothing,
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
    fn cause(&self) -> Cause {
        match self {
            OpenFileError::Cost(e) => e.cause(),
            OpenFileError::Read { .. } => Cause::ReadFailed,
            // A repaired text-mode copy that still does not read is judged like any file.
            OpenFileError::Format { error, .. } | OpenFileError::TextCopy { error, .. } => {
                match error {
                    FormatError::Damaged { .. } => Cause::Damaged,
                    FormatError::UnsupportedVersion { .. } => Cause::NewerVersion,
                    _ => Cause::NotABackup,
                }
            }
            OpenFileError::NoToken { .. } => Cause::NoAcceptedToken,
            // Only a token named with --token and not present comes here as "not found".
            OpenFileError::Token {
                error: TokenError::NotFound { .. },
                ..
            } => Cause::NamedTokenAbsent,
            OpenFileError::Token { error, .. } => error.cause(),
            OpenFileError::Auth { .. } => Cause::WrongPasswordOrKey,
            OpenFileError::WrongPassword { .. } => Cause::WrongPassword,
            OpenFileError::Altered { .. } => Cause::Altered,
            OpenFileError::Prompt { error, .. } => prompt_cause(error),
            OpenFileError::Fingerprint(e) => match e {
                custody::FingerprintError::Mismatch { .. }
                | custody::FingerprintError::Typed { .. } => Cause::FingerprintMismatch,
                custody::FingerprintError::Ambiguous { .. }
                | custody::FingerprintError::Unknown { .. } => Cause::FingerprintUnknown,
                custody::FingerprintError::NoAnswer { .. } => Cause::FingerprintNoAnswer,
                _ => Cause::FingerprintNeeded,
            },
            _ => Cause::Nothing,
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
    fn cause(&self) -> Cause {
        match self {
            SetError::Cost(e) => e.cause(),
            SetError::NotEnough { .. } => Cause::NotEnoughShares,
            SetError::Inconsistent { .. } => Cause::Inconsistent,
            SetError::Fatal(e) => e.cause(),
            SetError::NothingReadable { .. } => Cause::NothingReadable,
            SetError::Rivals { .. } => Cause::RivalSets,
            SetError::Foreign { .. } => Cause::ForeignFiles,
            SetError::Unconfirmed { .. } => Cause::SetUnconfirmed,
            _ => Cause::Nothing,
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
    fn cause(&self) -> Cause {
        match self {
            RewrapError::Open(e) => e.cause(),
            RewrapError::Make(e) => e.cause(),
            _ => Cause::Nothing,
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
    fn cause(&self) -> Cause {
        match self {
            ReshareError::Open(e) => e.cause(),
            ReshareError::Make(e) => e.cause(),
            _ => Cause::Nothing,
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
    fn cause(&self) -> Cause {
        match self {
            KdfCostError::TooCostly { .. } => Cause::TooCostly,
            KdfCostError::Memory { .. } | KdfCostError::OutOfMemory { .. } => Cause::NoMemory,
            _ => Cause::Nothing,
        }
    }
}

impl Advised for ExportError {
    fn kind(&self) -> ErrorKind {
        ExportError::kind(self)
    }
    fn cause(&self) -> Cause {
        match self {
            ExportError::Token(e) => e.cause(),
            ExportError::Write(_) => Cause::ExportWrite,
            _ => Cause::Nothing,
        }
    }
}

impl Advised for custody::RecordError {
    fn kind(&self) -> ErrorKind {
        custody::RecordError::kind(self)
    }
    fn cause(&self) -> Cause {
        match self {
            custody::RecordError::Missing { .. } => Cause::RecordMissing,
            custody::RecordError::OnMedium { .. } => Cause::RecordOnMedium,
            custody::RecordError::Unusable { .. } | custody::RecordError::TooLarge { .. } => {
                Cause::RecordUnusable
            }
            custody::RecordError::Broken { .. } => Cause::RecordBroken,
            custody::RecordError::BadHead { .. } => Cause::RecordBadHead,
            custody::RecordError::HeadNotFound { .. } => Cause::RecordHeadNotFound,
            _ => Cause::Nothing,
        }
    }
}

impl Advised for custody::RestoreError {
    fn kind(&self) -> ErrorKind {
        custody::RestoreError::kind(self)
    }
    fn cause(&self) -> Cause {
        match self {
            custody::RestoreError::File(e) => e.cause(),
            custody::RestoreError::Set(e) => e.cause(),
            _ => Cause::Nothing,
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
