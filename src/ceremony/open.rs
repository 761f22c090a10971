//! Opening one file: finding its tokens, asking its password, trying its slots, checking it.

#[allow(unused_imports)]
use super::*;

/// Why a file could not be opened.
#[derive(Debug)]
/// Why one file did not open. Every variant names the file.
#[non_exhaustive]
pub enum OpenFileError {
    /// The file could not be read.
    Read {
        /// The file.
        file: PathBuf,
        /// What the medium said.
        error: MediaError,
    },
    /// The file is damaged, invalid, of another version or not a backup.
    Format {
        /// The file.
        file: PathBuf,
        /// What the parser found.
        error: FormatError,
    },
    /// None of the tokens the file accepts is present.
    NoToken {
        /// The file.
        file: PathBuf,
        /// The keys its slots name, for people.
        accepted: Vec<String>,
        /// What was looked for and not found.
        detail: Option<String>,
    },
    /// A token failed in a way that stops everything (PIN, locked, ...).
    Token {
        /// The file.
        file: PathBuf,
        /// What the token said.
        error: TokenError,
    },
    /// Every slot tried refused to open.
    Auth {
        /// The file.
        file: PathBuf,
        /// Each slot tried and why it did not open.
        attempts: Vec<String>,
    },
    /// A token proved it holds the slot's key, and the key commitment still failed: the
    /// password is wrong, or the file's hint, KDF parameters or that slot were altered.
    WrongPassword {
        /// The file.
        file: PathBuf,
        /// The key that was proven, for people.
        key: String,
    },
    /// A slot opened, but the file does not check out (MAC, commitment, payload, fingerprint).
    Altered {
        /// The file.
        file: PathBuf,
        /// What did not check out.
        reason: String,
    },
    /// The file is a Windows text-mode copy (CRLF line endings, a byte-order mark) and, read
    /// as the bytes it was made from, it is still not a file this reader opens.
    TextCopy {
        /// The file.
        file: PathBuf,
        /// What the strict reader found in the repaired bytes.
        error: FormatError,
    },
    /// A password could not be had.
    Prompt {
        /// The file.
        file: PathBuf,
        /// Why.
        error: PromptError,
    },
    /// Its Argon2id was not run: a cost not confirmed, or memory this machine has not.
    Cost(KdfCostError),
    /// Its fingerprint is not the one expected, or nothing says which to expect.
    Fingerprint(FingerprintError),
}

impl fmt::Display for OpenFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenFileError::Read { file, error } => write!(f, "{}: {error}", display_path(file)),
            OpenFileError::Format { file, error } => match error {
                FormatError::Damaged { .. } => write!(
                    f,
                    "{}: {error}: the medium or a copy changed its bytes (not a wrong password or token)",
                    display_path(file)
                ),
                _ => write!(f, "{}: {error}", display_path(file)),
            },
            OpenFileError::NoToken {
                file,
                accepted,
                detail,
            } => {
                let key_missing = detail
                    .as_deref()
                    .is_some_and(|d| d.contains(" has no ") || d.contains("is present, but"));
                write!(
                    f,
                    "{}: {}. It accepts: {}",
                    display_path(file),
                    if key_missing {
                        "a token this file names is present, but without the key the file needs"
                    } else {
                        "none of the tokens this file accepts is present"
                    },
                    accepted.join("; ")
                )?;
                if let Some(d) = detail {
                    write!(f, " ({d})")?;
                }
                Ok(())
            }
            OpenFileError::Token { file, error } => write!(f, "{}: {error}", display_path(file)),
            OpenFileError::WrongPassword { file, key } => write!(
                f,
                "{}: the password is wrong — or this file's hint, KDF parameters or this slot \
                 were altered after it was made ({key} proved to be the slot's key)",
                display_path(file)
            ),
            OpenFileError::Auth { file, attempts } => {
                if attempts.iter().all(|a| a.ends_with(WRONG_PASSWORD)) {
                    write!(
                        f,
                        "{}: the password is wrong. The token key was the right one and the file's \
                         checksum is intact, so the file is not damaged (unless it was deliberately \
                         altered). Tried {} slot(s).",
                        display_path(file),
                        attempts.len()
                    )
                } else {
                    write!(
                        f,
                        "{}: the file did not open. Its checksum is intact, so it is not damaged: \
                         the password or the token key is wrong, or the file was deliberately \
                         altered. Tried: {}",
                        display_path(file),
                        attempts.join("; ")
                    )
                }
            }
            OpenFileError::Altered { file, reason } => write!(
                f,
                "{}: the file was deliberately altered after it was made: {reason}",
                display_path(file)
            ),
            OpenFileError::TextCopy { file, error } => {
                write!(f, "{}: {error}", text_copy_notice(file))
            }
            OpenFileError::Prompt { file, error } => write!(f, "{}: {error}", display_path(file)),
            OpenFileError::Cost(e) => write!(f, "{e}"),
            OpenFileError::Fingerprint(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for OpenFileError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OpenFileError::Read { error, .. } => Some(error),
            OpenFileError::Format { error, .. } => Some(error),
            OpenFileError::TextCopy { error, .. } => Some(error),
            OpenFileError::Token { error, .. } => Some(error),
            OpenFileError::Prompt { error, .. } => Some(error),
            OpenFileError::Cost(e) => Some(e),
            OpenFileError::Fingerprint(e) => Some(e),
            _ => None,
        }
    }
}

impl OpenFileError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            OpenFileError::Read { error, .. } => error.kind(),
            OpenFileError::Prompt { error, .. } => error.kind(),
            OpenFileError::Format { error, .. } => error.kind(),
            OpenFileError::TextCopy { error, .. } => error.kind(),
            OpenFileError::Altered { .. } => ErrorKind::Altered,
            OpenFileError::NoToken { .. } => ErrorKind::NotFound,
            OpenFileError::Token { error, .. } => error.kind(),
            OpenFileError::Auth { .. } | OpenFileError::WrongPassword { .. } => {
                ErrorKind::Authentication
            }
            OpenFileError::Cost(e) => e.kind(),
            OpenFileError::Fingerprint(e) => e.kind(),
        }
    }
}

/// A file read and checked for damage, not yet opened.
pub struct LoadedFile {
    /// Where it was read from (or its name, for bytes).
    pub path: PathBuf,
    /// Its fields.
    pub file: BackupFile,
    /// Its bytes, with the regions the cryptography covers.
    pub enc: Encoded,
    /// `Some` when the file is a Windows text-mode copy read as the bytes it was made from
    /// (only with [`LoadOptions::repair_text_copies`]); `enc` then holds those bytes.
    pub text_copy: Option<TextCopy>,
}

impl LoadedFile {
    /// What to tell a person when this file was read as the original of a text-mode copy.
    pub fn text_copy_notice(&self) -> Option<String> {
        self.text_copy
            .as_ref()
            .map(|_| text_copy_notice(&self.path))
    }
}

/// How a file is read. The default is the strict v1 reader alone.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// When the strict reader refuses a file as damaged or as not a backup, and the file is a
    /// Windows text-mode copy (every line ending in CRLF, or a UTF-8 byte-order mark first, or
    /// both) of a file whose checksum is right, read it as the bytes it was made from
    /// (docs/FORMAT.md, "Text-mode copies (not part of v1)"). The caller says so to the person:
    /// see [`LoadedFile::text_copy_notice`].
    pub repair_text_copies: bool,
}

/// A file read as the bytes a Windows text-mode copy was made from: both digests, so that a
/// record can name the file as it was found and as it was read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextCopy {
    /// SHA-256 of the file's bytes as read from the medium.
    pub read_sha256: [u8; 32],
    /// SHA-256 of the repaired bytes, the file as custody wrote it.
    pub repaired_sha256: [u8; 32],
}

/// The one sentence every message about a repaired text-mode copy says.
pub fn text_copy_notice(file: &Path) -> String {
    format!(
        "{} is a Windows (CRLF/BOM) copy, read as its original bytes",
        file.display()
    )
}

/// Read and parse a file (at most 1 MiB: no backup is larger); nothing is opened.
pub fn load(path: &Path) -> Result<LoadedFile, OpenFileError> {
    load_with(path, LoadOptions::default())
}

/// [`load`], reading as `options` say.
pub fn load_with(path: &Path, options: LoadOptions) -> Result<LoadedFile, OpenFileError> {
    let bytes = media::read_bounded(path, format::MAX_FILE_BYTES).map_err(|error| match error {
        // No backup is that large: say so with the exit code of an invalid file.
        MediaError::TooLarge { .. } => OpenFileError::Format {
            file: path.to_owned(),
            error: FormatError::Invalid {
                line: 0,
                reason: format!(
                    "it is larger than {} bytes, more than any custody backup",
                    format::MAX_FILE_BYTES
                ),
            },
        },
        error => OpenFileError::Read {
            file: path.to_owned(),
            error,
        },
    })?;
    load_bytes_with(path, &bytes, options)
}

/// Parse a file already in memory; `name` is what messages call it.
pub fn load_bytes(name: &Path, bytes: &[u8]) -> Result<LoadedFile, OpenFileError> {
    load_bytes_with(name, bytes, LoadOptions::default())
}

/// [`load_bytes`], reading as `options` say.
pub fn load_bytes_with(
    name: &Path,
    bytes: &[u8],
    options: LoadOptions,
) -> Result<LoadedFile, OpenFileError> {
    if bytes.len() as u64 > format::MAX_FILE_BYTES {
        return Err(OpenFileError::Format {
            file: name.to_owned(),
            error: FormatError::Invalid {
                line: 0,
                reason: format!(
                    "it is larger than {} bytes, more than any custody backup",
                    format::MAX_FILE_BYTES
                ),
            },
        });
    }
    let error = match format::parse(bytes) {
        Ok((file, enc)) => {
            return Ok(LoadedFile {
                path: name.to_owned(),
                file,
                enc,
                text_copy: None,
            });
        }
        Err(error) => error,
    };
    // The strict verdict stands unless the caller asked for the repair and it applies.
    let Some(original) = options
        .repair_text_copies
        .then(|| format::repair_text_copy(bytes))
        .flatten()
    else {
        return Err(OpenFileError::Format {
            file: name.to_owned(),
            error,
        });
    };
    // The repaired bytes go through the strict reader like any file.
    let (file, enc) = format::parse(&original).map_err(|error| OpenFileError::TextCopy {
        file: name.to_owned(),
        error,
    })?;
    Ok(LoadedFile {
        path: name.to_owned(),
        file,
        enc,
        // The checksum function is plain SHA-256 (docs/FORMAT.md §4.12).
        text_copy: Some(TextCopy {
            read_sha256: crypto::checksum(bytes),
            repaired_sha256: crypto::checksum(&original),
        }),
    })
}

/// Read and parse a file from wherever it comes.
pub fn load_input(input: &Input) -> Result<LoadedFile, OpenFileError> {
    load_input_with(input, LoadOptions::default())
}

/// [`load_input`], reading as `options` say.
pub fn load_input_with(input: &Input, options: LoadOptions) -> Result<LoadedFile, OpenFileError> {
    match input {
        Input::Path(p) => load_with(p, options),
        Input::Bytes { name, bytes } => load_bytes_with(name, bytes, options),
    }
}

/// Tell the person when a file was read as the original of a text-mode copy.
pub(crate) fn announce_text_copy(lf: &LoadedFile, prompter: &mut dyn Prompter) {
    if let Some(notice) = lf.text_copy_notice() {
        prompter.warn(&notice);
    }
}

/// An opened file: its secret s, checked against the MAC and its share commitment.
pub struct Opened {
    /// The file's secret s (D, or this file's share).
    pub s: FileSecret,
    /// Which slot opened.
    pub slot: usize,
    /// The file's Argon2id output, kept so a rewrap needs no second run.
    pub a: PasswordKey,
}

/// What a restore or verify gives back.
pub struct OpenedBackup {
    /// The master secret.
    pub secret: MasterSecret,
    /// The set id.
    pub set_id: [u8; 16],
    /// The fingerprint stored in the file, which the secret matched.
    pub fingerprint: [u8; 16],
    /// Whether the file uses Argon2id parameters below the minimum.
    pub weak_kdf: bool,
    /// What opened it, for people: the key (single backup) or the officers (a set).
    pub opened_with: String,
    /// The backup's label, for a reshare that keeps it.
    pub label: String,
    /// The key of each slot that opened (one per file opened), for the ceremony record.
    pub opened_by: Vec<Descriptor>,
    /// How its fingerprint was checked before anything was asked for it.
    pub checked: FingerprintCheck,
}

/// Tell the person which backup this is (label, set, share) before anything is asked.
pub fn show_header(lf: &LoadedFile, p: &mut dyn Prompter) {
    let c = &lf.file.common;
    p.info(&format!("Backup {}", display_path(&lf.path)));
    if !c.label.is_empty() {
        p.info(&format!("  label:       {}", display_escaped(&c.label)));
    }
    p.info(&format!("  set id:      {}", hex::encode(c.set_id)));
    p.info(&format!(
        "  fingerprint: {} (compare with the ceremony record)",
        crypto::fingerprint_display(&c.fingerprint)
    ));
    p.info(&format!("  created:     {}", c.created));
    if lf.file.own.kdf.is_weak() {
        p.warn(&format!(
            "{} was made with weak Argon2id parameters (m={} MiB, t={}): rewrap it with stronger ones.",
            display_path(&lf.path),
            lf.file.own.kdf.memory_kib / 1024,
            lf.file.own.kdf.iterations
        ));
    }
}

/// Open one file: find and prove its first token key, show its hint, ask its password, open.
pub fn open_file(
    lf: &LoadedFile,
    overrides: &[KeySpec],
    tokens: &mut Tokens<'_>,
) -> Result<Opened, OpenFileError> {
    let plan = plan_file(lf, overrides, tokens)?;
    let proven = prove_first(lf, plan, overrides, tokens)?;
    let path = &lf.path;
    show_hint(lf, tokens.prompter());
    let who = display_path(path);
    let mut password = tokens
        .prompter()
        .password(&who)
        .map_err(|error| OpenFileError::Prompt {
            file: path.clone(),
            error,
        })?;
    // One Argon2id per try; a person at a terminal may retype, three tries in all.
    let mut tries_left = PASSWORD_TRIES - 1;
    loop {
        match attempt_with(lf, &proven, &password, tokens.prompter()) {
            Err(e @ OpenFileError::WrongPassword { .. }) if tries_left > 0 => {
                tokens.prompter().warn(&e.to_string());
                let again =
                    tokens
                        .prompter()
                        .password_again(&who, tries_left)
                        .map_err(|error| OpenFileError::Prompt {
                            file: path.clone(),
                            error,
                        })?;
                let Some(p) = again else {
                    return Err(e);
                };
                password = p;
                tries_left -= 1;
            }
            other => return other,
        }
    }
}

/// How many times a person at a terminal may type the password of one file.
pub(crate) const PASSWORD_TRIES: u32 = 3;

pub(crate) fn show_hint(lf: &LoadedFile, p: &mut dyn Prompter) {
    if !lf.file.own.hint.is_empty() {
        p.info(&format!(
            "Password hint: {}",
            display_escaped(&lf.file.own.hint)
        ));
    }
}

/// A slot whose key proved itself, with the token secret z it gave.
pub struct Proven {
    pub(crate) slot: usize,
    pub(crate) z: TokenSecret,
    pub(crate) key: String,
}

/// Go through the candidates in order until one key proves it is its slot's key (see
/// [`slot::token_secret`]): the first token is logged in to, and its key found and proven,
/// before any password, so a PIN typo or a wrong token costs no Argon2id. A further token is
/// logged in to only when every earlier candidate failed to prove its key.
pub fn prove_first(
    lf: &LoadedFile,
    plan: Plan,
    overrides: &[KeySpec],
    tokens: &mut Tokens<'_>,
) -> Result<Proven, OpenFileError> {
    let mut search = Search::new(overrides);
    for (i, cand) in plan.0 {
        if let Some(p) = search.try_candidate(lf, i, cand, tokens)? {
            return Ok(p);
        }
    }
    Err(search.failure(lf))
}

/// The keys tried so far on a file's slots, and why each attempt failed.
pub(crate) struct Search<'o> {
    overrides: &'o [KeySpec],
    /// Each `--token` key, resolved once (an error with whether it means "not found").
    resolved: Vec<Option<Result<TokenKey<'static>, (String, bool)>>>,
    /// Each failed attempt, for people.
    pub(crate) attempts: Vec<String>,
    /// Attempts that failed only because a token or key was not there (exit 4, not 3).
    pub(crate) not_found: usize,
    /// A blocked token is skipped for the next candidate; if no other one proves, the block is
    /// the real cause, and the error says so.
    pub(crate) blocked: Option<TokenError>,
}

impl<'o> Search<'o> {
    pub(crate) fn new(overrides: &'o [KeySpec]) -> Self {
        Search {
            overrides,
            resolved: overrides.iter().map(|_| None).collect(),
            attempts: Vec::new(),
            not_found: 0,
            blocked: None,
        }
    }

    /// Why no candidate proved its key: a blocked token when nothing else was there, no token
    /// when every attempt was "not there", else the attempts.
    pub(crate) fn failure(self, lf: &LoadedFile) -> OpenFileError {
        let path = &lf.path;
        if self.not_found == self.attempts.len() {
            if let Some(error) = self.blocked {
                return OpenFileError::Token {
                    file: path.clone(),
                    error,
                };
            }
            return OpenFileError::NoToken {
                file: path.clone(),
                accepted: lf
                    .file
                    .slots
                    .iter()
                    .map(|s| s.descriptor.describe())
                    .collect(),
                detail: Some(self.attempts.join("; ")),
            };
        }
        OpenFileError::Auth {
            file: path.clone(),
            attempts: self.attempts,
        }
    }

    /// Try one candidate key on slot `i`: the proven key, or `None` with the failure noted (a
    /// PIN failure or an altered file stops everything).
    pub(crate) fn try_candidate(
        &mut self,
        lf: &LoadedFile,
        i: usize,
        cand: Candidate,
        tokens: &mut Tokens<'_>,
    ) -> Result<Option<Proven>, OpenFileError> {
        let file = &lf.file;
        let path = &lf.path;
        let Some(slot_desc) = file.slots.get(i).map(|s| &s.descriptor) else {
            return Ok(None);
        };
        let mut owned = None;
        let key = match cand {
            Candidate::Override(o) => {
                let loc = match self.overrides.get(o) {
                    Some(KeySpec::Locator(loc)) => loc,
                    Some(KeySpec::Key(k)) if k.descriptor.kind() == slot_desc.kind() => {
                        return prove(lf, i, k, &mut self.attempts);
                    }
                    Some(KeySpec::Key(_)) | None => return Ok(None),
                };
                if self.resolved.get(o).is_some_and(Option::is_none) {
                    let found = tokens.resolve(loc).unwrap_or_else(|| {
                        Err(TokenError::NotFound {
                            what: "a pubkey: file cannot open a backup".into(),
                        })
                    });
                    let entry = match found {
                        Ok(k) => Ok(k),
                        Err(
                            e @ (TokenError::PinIncorrect { .. }
                            | TokenError::NoPin { .. }
                            | TokenError::PinSource { .. }),
                        ) => {
                            return Err(OpenFileError::Token {
                                file: path.clone(),
                                error: e,
                            });
                        }
                        Err(e @ TokenError::PinLocked { .. }) => {
                            let entry = Err((e.to_string(), true));
                            self.blocked = Some(e);
                            entry
                        }
                        Err(e) => Err((
                            e.to_string(),
                            matches!(
                                e,
                                TokenError::NotFound { .. } | TokenError::KeyUnusable { .. }
                            ),
                        )),
                    };
                    if let Some(r) = self.resolved.get_mut(o) {
                        *r = Some(entry);
                    }
                }
                match self.resolved.get(o).and_then(Option::as_ref) {
                    Some(Ok(k)) if k.descriptor.kind() == slot_desc.kind() => Some(k),
                    Some(Ok(_)) | None => return Ok(None),
                    Some(Err((e, nf))) => {
                        self.not_found += usize::from(*nf);
                        self.attempts.push(format!(
                            "slot {} ({}): {e}",
                            i + 1,
                            slot_desc.describe()
                        ));
                        return Ok(None);
                    }
                }
            }
            Candidate::Present(present, why, o) => {
                // A token of another backend than the slot's has no key for it: not a failure.
                let Some(found) =
                    tokens.key_for_slot(&present, slot_desc, pin_hint(self.overrides, o), why)
                else {
                    return Ok(None);
                };
                take_key(
                    found,
                    &mut owned,
                    (path, i),
                    &mut self.attempts,
                    &mut self.not_found,
                    &mut self.blocked,
                )?
            }
        };
        let Some(key) = key else { return Ok(None) };
        prove(lf, i, key, &mut self.attempts)
    }
}

/// Whether `key` proves it holds slot `i`'s key: its z, or why not (one more attempt).
fn prove(
    lf: &LoadedFile,
    i: usize,
    key: &TokenKey<'_>,
    attempts: &mut Vec<String>,
) -> Result<Option<Proven>, OpenFileError> {
    let path = &lf.path;
    // A PIV key proves itself by its public key alone: a challenge would cost a second touch.
    let challenge = key.descriptor.kind() == SlotKind::Pkcs11P256;
    match slot::token_secret(&lf.file, &lf.enc, i, &key.ops, challenge) {
        Ok(z) => Ok(Some(Proven {
            slot: i,
            z,
            key: key.name.clone(),
        })),
        Err(OpenError::Token(
            e @ (TokenError::PinIncorrect { .. }
            | TokenError::NoPin { .. }
            | TokenError::PinSource { .. }),
        )) => Err(OpenFileError::Token {
            file: path.clone(),
            error: e,
        }),
        Err(OpenError::BadPoint(r)) => Err(OpenFileError::Altered {
            file: path.clone(),
            reason: format!("slot {}: the ephemeral key {r}", i + 1),
        }),
        Err(e) => {
            attempts.push(format!(
                "slot {} with {}: {}",
                i + 1,
                key.name,
                open_error_text(&e)
            ));
            Ok(None)
        }
    }
}

/// Open the proven slot with a password: one Argon2id, the key commitment, then the file's
/// own checks (MAC, share commitment).
pub fn attempt_with(
    lf: &LoadedFile,
    proven: &Proven,
    password: &Password,
    prompter: &mut dyn Prompter,
) -> Result<Opened, OpenFileError> {
    let file = &lf.file;
    let path = &lf.path;
    // Checked before any prompt already; again now, as memory may have gone since.
    check_memory(path, &[file.own.kdf]).map_err(OpenFileError::Cost)?;
    // Argon2id that could not get its memory is the machine's failure, never the password's.
    let a = super::progress::argon2id(
        prompter,
        &display_path(path),
        password,
        &file.own.kdf_salt,
        &file.own.kdf,
    )
    .map_err(|e| match e {
        crypto::Argon2Error::OutOfMemory => {
            OpenFileError::Cost(KdfCostError::out_of_memory(path, &file.own.kdf))
        }
        crypto::Argon2Error::Other(reason) => OpenFileError::Prompt {
            file: path.clone(),
            error: PromptError::Refused { reason },
        },
    })?;
    let i = proven.slot;
    match slot::open_with_z(file, &lf.enc, i, &proven.z, &a) {
        Ok(s) => check_opened(lf, i, s, a),
        Err(OpenError::Commitment) => Err(OpenFileError::WrongPassword {
            file: path.clone(),
            key: proven.key.clone(),
        }),
        Err(_) => Err(OpenFileError::Altered {
            file: path.clone(),
            reason: format!(
                "slot {}: its key commitment matched but its ciphertext did not open",
                i + 1
            ),
        }),
    }
}

/// A file secret that came out of slot `i`: it must match the file MAC and the set's
/// commitment for this share.
fn check_opened(
    lf: &LoadedFile,
    i: usize,
    s: FileSecret,
    a: PasswordKey,
) -> Result<Opened, OpenFileError> {
    let s = check_secret(lf, s)?;
    Ok(Opened { s, slot: i, a })
}

/// A file secret that came out of a slot, checked against the file MAC and the set's
/// commitment for this share.
pub(crate) fn check_secret(lf: &LoadedFile, s: FileSecret) -> Result<FileSecret, OpenFileError> {
    let path = &lf.path;
    if !crypto::ct_eq(&slot::compute_mac(&lf.file, &lf.enc, &s), &lf.file.mac) {
        return Err(OpenFileError::Altered {
            file: path.clone(),
            reason:
                "the file MAC does not match (a field outside the slot that opened was changed)"
                    .into(),
        });
    }
    let idx = lf.file.own.index;
    let want = lf
        .file
        .common
        .commitments
        .get(usize::from(idx).wrapping_sub(1));
    if !want.is_some_and(|w| {
        crypto::ct_eq(
            &crypto::share_commitment(&lf.file.common.set_id, idx, &s),
            w,
        )
    }) {
        return Err(OpenFileError::Altered {
            file: path.clone(),
            reason: "the secret in the slot does not match the set's commitment".into(),
        });
    }
    Ok(s)
}

/// The PIN a `--token` override carries (its query part), for the token it names.
fn pin_hint(overrides: &[KeySpec], o: Option<usize>) -> PinHint<'_> {
    match o.and_then(|o| overrides.get(o)) {
        Some(KeySpec::Locator(TokenLocator::Pkcs11(u))) => PinHint {
            value: u.pin_value.as_ref(),
            source: u.pin_source.as_deref(),
        },
        Some(KeySpec::Locator(TokenLocator::Yubikey(y))) => PinHint {
            value: y.pin_value.as_ref(),
            source: y.pin_source.as_deref(),
        },
        _ => PinHint::default(),
    }
}

/// A key found for a slot, kept in `owned`; a PIN failure stops everything, anything else is
/// one more failed attempt (counted as "not found" when a token or key was missing).
fn take_key<'k>(
    found: Result<TokenKey<'static>, TokenError>,
    owned: &'k mut Option<TokenKey<'static>>,
    (path, i): (&Path, usize),
    attempts: &mut Vec<String>,
    not_found: &mut usize,
    blocked: &mut Option<TokenError>,
) -> Result<Option<&'k TokenKey<'static>>, OpenFileError> {
    match found {
        Ok(k) => Ok(Some(owned.insert(k))),
        // An unreadable PIN file is the person's to fix, not a key that failed to prove.
        Err(
            e @ (TokenError::PinIncorrect { .. }
            | TokenError::NoPin { .. }
            | TokenError::PinSource { .. }),
        ) => Err(OpenFileError::Token {
            file: path.to_owned(),
            error: e,
        }),
        // A blocked token is named and skipped: another candidate may open the file.
        Err(e @ TokenError::PinLocked { .. }) => {
            *not_found += 1;
            attempts.push(format!("slot {}: {e}", i + 1));
            *blocked = Some(e);
            Ok(None)
        }
        Err(e) => {
            *not_found += usize::from(matches!(
                e,
                TokenError::NotFound { .. }
                    | TokenError::KeyUnusable { .. }
                    | TokenError::PinLocked { .. }
            ));
            attempts.push(format!("slot {}: {e}", i + 1));
            Ok(None)
        }
    }
}

/// Restore or verify a single (1-of-1) backup.
pub fn open_backup(
    input: &Input,
    overrides: &[KeySpec],
    env: TokenEnv,
    prompter: &mut dyn Prompter,
) -> Result<OpenedBackup, OpenFileError> {
    open_loaded_backup(load_input(input)?, overrides, env, prompter)
}

/// The same, for a file already read (so a caller that looked at it does not read it twice).
/// Its Argon2id cost is compared with custody's defaults ([`KdfLimits::default`]).
pub fn open_loaded_backup(
    lf: LoadedFile,
    overrides: &[KeySpec],
    env: TokenEnv,
    prompter: &mut dyn Prompter,
) -> Result<OpenedBackup, OpenFileError> {
    open_single(
        lf,
        overrides,
        env,
        prompter,
        &KdfLimits::default(),
        &Expectation::default(),
    )
}

/// Open a single backup, its fingerprint compared with `expect` and its Argon2id cost checked
/// against `limits` before any token or prompt.
pub(crate) fn open_single(
    lf: LoadedFile,
    overrides: &[KeySpec],
    env: TokenEnv,
    prompter: &mut dyn Prompter,
    limits: &KdfLimits,
    expect: &Expectation,
) -> Result<OpenedBackup, OpenFileError> {
    let path = lf.path.clone();
    let path = path.as_path();
    show_header(&lf, prompter);
    if lf.file.common.count != 1 {
        return Err(OpenFileError::Format {
            file: path.to_owned(),
            error: FormatError::Invalid {
                line: 0,
                reason: format!(
                    "this is share {} of a {}-of-{} split set: restore it together with the other officers' share files",
                    lf.file.own.index, lf.file.common.threshold, lf.file.common.count
                ),
            },
        });
    }
    let checked = check_expectation(
        path,
        &lf.file.common.set_id,
        &lf.file.common.fingerprint,
        expect,
        prompter,
    )
    .map_err(OpenFileError::Fingerprint)?;
    check_cost(&[&lf], limits, prompter).map_err(OpenFileError::Cost)?;
    check_memory(path, &[lf.file.own.kdf]).map_err(OpenFileError::Cost)?;
    let mut tokens = Tokens::new(env, prompter);
    let opened = open_file(&lf, overrides, &mut tokens)?;
    let secret = decrypt_payload(&lf.file, &lf.enc, &opened.s.to_data_key()).ok_or_else(|| {
        OpenFileError::Altered {
            file: path.to_owned(),
            reason: "the payload does not decrypt under the data key".into(),
        }
    })?;
    if !crypto::ct_eq(
        &crypto::fingerprint(secret.expose()),
        &lf.file.common.fingerprint,
    ) {
        return Err(OpenFileError::Altered {
            file: path.to_owned(),
            reason: "the secret does not match the file's fingerprint".into(),
        });
    }
    Ok(OpenedBackup {
        secret,
        set_id: lf.file.common.set_id,
        fingerprint: lf.file.common.fingerprint,
        weak_kdf: lf.file.own.kdf.is_weak(),
        opened_with: lf.file.slots[opened.slot].descriptor.describe(),
        label: lf.file.common.label.clone(),
        opened_by: vec![lf.file.slots[opened.slot].descriptor.clone()],
        checked,
    })
}
