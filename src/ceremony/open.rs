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
                let has = |part: &str| detail.as_deref().is_some_and(|d| d.contains(part));
                let key_missing = has(" has no ") || has("is present, but");
                write!(
                    f,
                    "{}: {}. It accepts: {}",
                    display_path(file),
                    if has("no longer") {
                        "the token or key this file needs went away while custody was using it \
                         (not a wrong password)"
                    } else if key_missing {
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
        p.warn(
            &format!(
                "{} was made with weak Argon2id parameters (m={} MiB, t={})",
                display_path(&lf.path),
                lf.file.own.kdf.memory_kib / 1024,
                lf.file.own.kdf.iterations
            ),
            &format!(
                "rewrap it with custody's defaults (`custody rewrap FILE --out NEW --kdf-memory {} \
                 --kdf-iterations {} --kdf-parallelism {}`)",
                crate::crypto::KdfParams::DEFAULT.memory_kib / 1024,
                crate::crypto::KdfParams::DEFAULT.iterations,
                crate::crypto::KdfParams::DEFAULT.parallelism
            ),
        );
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
                tokens.prompter().warn(&e.to_string(), "");
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
    // Part of the question, so shown even with --quiet.
    if !lf.file.own.hint.is_empty() {
        p.act(&format!(
            "Password hint: {}",
            display_escaped(&lf.file.own.hint)
        ));
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
    let a = super::progress::argon2id(
        prompter,
        &display_path(path),
        password,
        &file.own.kdf_salt,
        &file.own.kdf,
    );
    finish_with(lf, proven, a)
}

/// The rest of [`attempt_with`] once Argon2id has run (here or in the background): the key
/// commitment, then the file's own checks.
pub(crate) fn finish_with(
    lf: &LoadedFile,
    proven: &Proven,
    a: Result<PasswordKey, crypto::Argon2Error>,
) -> Result<Opened, OpenFileError> {
    let file = &lf.file;
    let path = &lf.path;
    // Argon2id that could not get its memory is the machine's failure, never the password's.
    let a = a.map_err(|e| match e {
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
