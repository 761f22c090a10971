//! What an operation is asked to do, checked once when the request is made: a request that
//! exists is valid, so no operation re-checks it, and no check happens after a prompt. Errors
//! are in the library's words; the CLI words them with its flag names.

#[allow(unused_imports)]
use super::*;

/// Why a request was refused before anything was done.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RequestError {
    /// A backup writes 1 to 255 files.
    OutputCount {
        /// How many outputs were given.
        n: usize,
    },
    /// A split into `n` files was asked for without its threshold.
    MissingThreshold {
        /// How many outputs were given.
        n: usize,
    },
    /// A threshold was given for a single file.
    ThresholdWithoutSplit {
        /// The threshold given.
        k: u8,
    },
    /// The threshold does not fit the number of files (2 ≤ K ≤ N ≤ 255).
    Threshold {
        /// The threshold given.
        k: u8,
        /// How many outputs were given.
        n: usize,
    },
    /// A label, officer name or hint is not acceptable free text.
    Text {
        /// Which field.
        field: TextField,
        /// Why, for people.
        reason: String,
    },
    /// An output has no key to lock it.
    NoKey {
        /// The output.
        output: PathBuf,
    },
    /// Two outputs are the same file.
    OutputTwice {
        /// The output given twice.
        output: PathBuf,
    },
    /// Argon2id parameters below the minimum, and weak parameters were not allowed.
    WeakKdf {
        /// The parameters asked for.
        kdf: KdfParams,
    },
    /// Argon2id parameters outside what any reader accepts.
    KdfOutOfRange {
        /// Why, for people.
        reason: String,
    },
    /// A secret too short or too long to back up.
    SecretLength {
        /// Its length in bytes.
        n: usize,
    },
    /// A public-key file naming a slot to drop could not be read.
    DropUnreadable {
        /// The file.
        path: PathBuf,
        /// Why, for people.
        reason: String,
    },
    /// A slot to drop is named that the file does not have.
    DropNamesNoSlot,
}

/// A free-text field of a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextField {
    /// The backup's label.
    Label,
    /// An officer's name.
    Officer,
    /// A password hint.
    Hint,
}

impl fmt::Display for RequestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RequestError::OutputCount { n } => {
                write!(f, "{n} outputs: a backup writes 1 to 255 files")
            }
            RequestError::MissingThreshold { n } => {
                write!(f, "{n} outputs: a split needs a threshold K (2 ≤ K ≤ {n})")
            }
            RequestError::ThresholdWithoutSplit { k } => write!(
                f,
                "a threshold of {k} needs one output per share (at least two)"
            ),
            RequestError::Threshold { k, n } => write!(
                f,
                "a threshold of {k} with {n} outputs: a split needs 2 ≤ K ≤ N ≤ 255"
            ),
            RequestError::Text { field, reason } => write!(f, "the {} {reason}", field.name()),
            RequestError::NoKey { output } => {
                write!(f, "{}: no key to lock it with", display_path(output))
            }
            RequestError::OutputTwice { output } => {
                write!(f, "{} is given twice as an output", display_path(output))
            }
            RequestError::WeakKdf { kdf } => write!(
                f,
                "Argon2id m={} MiB, t={} is below the minimum m=64 MiB, t=3",
                kdf.memory_kib / 1024,
                kdf.iterations
            ),
            RequestError::KdfOutOfRange { reason } => write!(f, "{reason}"),
            RequestError::DropUnreadable { path, reason } => {
                write!(
                    f,
                    "the slot to drop named by {}: {reason}",
                    display_path(path)
                )
            }
            RequestError::DropNamesNoSlot => {
                write!(f, "a slot to drop names no slot of this file")
            }
            RequestError::SecretLength { n } => write!(
                f,
                "the secret is {n} bytes; custody backs up secrets of {} to {} bytes",
                format::MIN_SECRET_BYTES,
                format::MAX_SECRET_BYTES
            ),
        }
    }
}

impl std::error::Error for RequestError {}

impl RequestError {
    /// What kind of failure this is: always a wrong request.
    pub fn kind(&self) -> ErrorKind {
        ErrorKind::InvalidRequest
    }
}

impl TextField {
    /// The field's name, for people.
    pub fn name(self) -> &'static str {
        match self {
            TextField::Label => "label",
            TextField::Officer => "officer name",
            TextField::Hint => "hint",
        }
    }
}

/// Check the length of a secret to back up.
pub fn check_secret_len(n: usize) -> Result<(), RequestError> {
    if !(format::MIN_SECRET_BYTES..=format::MAX_SECRET_BYTES).contains(&n) {
        return Err(RequestError::SecretLength { n });
    }
    Ok(())
}

/// Check Argon2id parameters asked for a new file.
pub fn check_kdf_request(kdf: &KdfParams, allow_weak: bool) -> Result<(), RequestError> {
    kdf.check_readable()
        .map_err(|reason| RequestError::KdfOutOfRange { reason })?;
    if kdf.is_weak() && !allow_weak {
        return Err(RequestError::WeakKdf { kdf: *kdf });
    }
    Ok(())
}

/// Normalize a free-text field (NFC, no control characters, bounded).
pub(crate) fn text(field: TextField, s: &str) -> Result<String, RequestError> {
    normalize_free_text(s).map_err(|reason| RequestError::Text { field, reason })
}

/// Where a file to read comes from.
pub enum Input {
    /// A file on disk (or a removable medium).
    Path(PathBuf),
    /// Bytes already in memory, with a name to call them by in messages.
    Bytes {
        /// What to call the file in messages.
        name: PathBuf,
        /// The file's bytes.
        bytes: Vec<u8>,
    },
}

impl Input {
    /// What messages call the file.
    pub fn name(&self) -> &Path {
        match self {
            Input::Path(p) => p,
            Input::Bytes { name, .. } => name,
        }
    }
}

impl From<PathBuf> for Input {
    fn from(p: PathBuf) -> Self {
        Input::Path(p)
    }
}

/// Where a new file goes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Output {
    /// A new file on disk: written with fsync, never over an existing file unless forced, and
    /// read back from the device.
    Path(PathBuf),
    /// Memory: the bytes come back in the report, parsed and opened by custody first.
    Memory {
        /// What to call the file in messages.
        name: PathBuf,
    },
}

impl Output {
    /// What messages call the file.
    pub fn name(&self) -> &Path {
        match self {
            Output::Path(p) => p,
            Output::Memory { name } => name,
        }
    }
}

impl From<PathBuf> for Output {
    fn from(p: PathBuf) -> Self {
        Output::Path(p)
    }
}

/// A key to lock a file with (or to open one with): found from a locator, or given as it is
/// (an embedder's own key, through [`AesKey`](crate::token::AesKey) or
/// [`EcdhP256`](crate::token::EcdhP256)).
pub enum KeySpec {
    /// A token, card or public-key file named by a locator.
    Locator(TokenLocator),
    /// A key the caller made.
    Key(TokenKey<'static>),
}

impl From<TokenLocator> for KeySpec {
    fn from(l: TokenLocator) -> Self {
        KeySpec::Locator(l)
    }
}

impl From<TokenKey<'static>> for KeySpec {
    fn from(k: TokenKey<'static>) -> Self {
        KeySpec::Key(k)
    }
}

/// Switches of a backup.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackupOptions {
    /// Accept Argon2id parameters below the minimum (the file is marked weak).
    pub allow_weak_kdf: bool,
    /// Accept one key for a whole split set (losing it loses the set).
    pub single_token: bool,
    /// Replace existing files.
    pub force: bool,
    /// Accept two shares on one filesystem.
    pub allow_same_device: bool,
    /// Accept a key that is not bound to its token: a PKCS#11 key that was imported or that
    /// the token could let out, or an embedder's key that says it is not hardware-bound. Warned
    /// about at every use. Off, such a key is refused (`TokenError::NotBound`).
    pub allow_exportable_key: bool,
}

/// One file of a set, as asked for: where it goes, whose it is, what locks it.
pub struct ShareSpec {
    /// Where the file goes.
    pub out: Output,
    /// The officer who keeps it (empty for a single backup).
    pub officer: String,
    /// Its password hint, if one is given here rather than asked with the password.
    pub hint: Option<String>,
    /// The keys that lock it (any one, with the password, opens it).
    pub keys: Vec<KeySpec>,
}

/// One file of a checked request.
pub(crate) struct CheckedShare {
    pub(crate) out: Output,
    pub(crate) officer: String,
    pub(crate) hint: Option<String>,
    pub(crate) keys: Vec<KeySpec>,
}

/// A backup as a K-of-N set (a single backup is 1 of 1), checked.
pub struct SetRequest {
    pub(crate) threshold: u8,
    pub(crate) shares: Vec<CheckedShare>,
    /// `None`: keep the old set's label (reshare); a backup has an empty label.
    pub(crate) label: Option<String>,
    pub(crate) kdf: KdfParams,
    pub(crate) options: BackupOptions,
}

impl SetRequest {
    /// A K-of-N split (or, with one share and no threshold, a single backup). `label` `None`
    /// keeps the old label when the request makes a new set of an old one (reshare) and is
    /// empty otherwise.
    pub fn new(
        threshold: Option<u8>,
        shares: Vec<ShareSpec>,
        label: Option<&str>,
        kdf: KdfParams,
        options: BackupOptions,
    ) -> Result<Self, RequestError> {
        let n = shares.len();
        let threshold = match (threshold, n) {
            (None, 1) => 1,
            (None, _) if n >= 2 => return Err(RequestError::MissingThreshold { n }),
            (Some(k), 1) => return Err(RequestError::ThresholdWithoutSplit { k }),
            (Some(k), n) if n >= 2 && (k < 2 || k as usize > n || n > 255) => {
                return Err(RequestError::Threshold { k, n });
            }
            (Some(k), n) if n >= 2 => k,
            _ => return Err(RequestError::OutputCount { n }),
        };
        check_kdf_request(&kdf, options.allow_weak_kdf)?;
        let label = label.map(|l| text(TextField::Label, l)).transpose()?;
        let mut checked: Vec<CheckedShare> = Vec::with_capacity(n);
        for sh in shares {
            if sh.keys.is_empty() {
                return Err(RequestError::NoKey {
                    output: sh.out.name().to_owned(),
                });
            }
            if checked.iter().any(|c| c.out.name() == sh.out.name()) {
                return Err(RequestError::OutputTwice {
                    output: sh.out.name().to_owned(),
                });
            }
            checked.push(CheckedShare {
                officer: text(TextField::Officer, &sh.officer)?,
                hint: sh
                    .hint
                    .as_deref()
                    .map(|h| text(TextField::Hint, h))
                    .transpose()?,
                out: sh.out,
                keys: sh.keys,
            });
        }
        Ok(SetRequest {
            threshold,
            shares: checked,
            label,
            kdf,
            options,
        })
    }

    /// A single backup: one file, locked by `keys`.
    pub fn single(
        out: Output,
        keys: Vec<KeySpec>,
        hint: Option<String>,
        label: &str,
        kdf: KdfParams,
        options: BackupOptions,
    ) -> Result<Self, RequestError> {
        SetRequest::new(
            None,
            vec![ShareSpec {
                out,
                officer: String::new(),
                hint,
                keys,
            }],
            Some(label),
            kdf,
            BackupOptions {
                allow_same_device: true,
                ..options
            },
        )
    }
}
