//! Backing up: a single backup (a 1-of-1 set) or a K-of-N split set.

#[allow(unused_imports)]
use super::*;

/// What a successful backup reports.
pub struct BackupReport {
    /// The new set's id, shared by its files.
    pub set_id: [u8; 16],
    /// The secret's fingerprint (HMAC-SHA256 under the secret), as stored in every file.
    pub fingerprint: [u8; 16],
    /// How many shares restore the secret (1 for a single backup).
    pub threshold: u8,
    /// Every file, in the order asked.
    pub files: Vec<FileReport>,
    /// Whether the files use Argon2id parameters below the minimum.
    pub weak_kdf: bool,
    /// The keys whose slots opened the old files (a reshare; empty for a backup).
    pub opened_by: Vec<Descriptor>,
    /// How the old set's fingerprint was checked (a reshare; unchecked for a backup).
    pub input_checked: FingerprintCheck,
}

/// One file written: which share, whose, and the tokens that open it (true: opened at backup).
pub struct FileReport {
    /// Where it was written (or, for an output in memory, its name).
    pub path: PathBuf,
    /// The file's bytes, for an output in memory.
    pub bytes: Option<Vec<u8>>,
    /// Its share index (1 for a single backup).
    pub index: u8,
    /// The officer who keeps it (unescaped; empty for a single backup).
    pub officer: String,
    /// Each slot's key, for people, and whether it was opened from the bytes written.
    pub slots: Vec<(String, bool)>,
}

/// Why a backup (or the new set of a reshare, or the new file of a rewrap) was not made.
#[derive(Debug)]
#[non_exhaustive]
pub enum BackupError {
    /// The request was refused before anything was done.
    Request(RequestError),
    /// The request cannot be carried out as asked (a hint typed with the password that is not
    /// acceptable, a file that would not encode, ...).
    Invalid {
        /// Why, for people.
        reason: String,
    },
    /// A token or key could not be used.
    Token {
        /// What the token said.
        error: TokenError,
    },
    /// A new slot did not open from the bytes written: the key cannot do the job.
    SlotCheck {
        /// The key, for people.
        key: String,
        /// Why the slot did not open.
        reason: String,
    },
    /// A password could not be had.
    Prompt(PromptError),
    /// Writing or reading back the file failed; nothing was left under its name.
    Write {
        /// What the medium said.
        error: MediaError,
    },
    /// Argon2id was not run: this machine has not the memory it needs.
    Cost(KdfCostError),
    /// A split set was written only in part: the written shares form no usable set.
    PartialSet {
        /// The shares written (to destroy).
        written: Vec<PathBuf>,
        /// The share whose write failed.
        failed: PathBuf,
        /// The shares not written.
        not_written: Vec<PathBuf>,
        /// What the medium said.
        error: MediaError,
    },
}

impl fmt::Display for BackupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackupError::Request(e) => write!(f, "{e}"),
            BackupError::Invalid { reason } => write!(f, "{reason}"),
            BackupError::Token { error } => write!(f, "{error}"),
            BackupError::SlotCheck { key, reason } => write!(
                f,
                "the new slot for {key} did not open again from the bytes written ({reason}): \
                 that key cannot protect a backup"
            ),
            BackupError::Prompt(e) => write!(f, "{e}"),
            BackupError::Write { error } => write!(f, "{error}"),
            BackupError::Cost(e) => write!(f, "{e}"),
            BackupError::PartialSet {
                written,
                failed,
                not_written,
                error,
            } => {
                let list = |v: &[PathBuf]| {
                    if v.is_empty() {
                        "none".to_string()
                    } else {
                        v.iter()
                            .map(|p| display_path(p))
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                };
                write!(
                    f,
                    "the split set is INCOMPLETE: writing {} failed ({error}). Written: {}. Not \
                     written: {}. The written shares belong to a set that was never completed",
                    display_path(failed),
                    list(written),
                    list(not_written)
                )
            }
        }
    }
}

impl std::error::Error for BackupError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            BackupError::Request(e) => Some(e),
            BackupError::Token { error } => Some(error),
            BackupError::Prompt(e) => Some(e),
            BackupError::Cost(e) => Some(e),
            BackupError::Write { error } | BackupError::PartialSet { error, .. } => Some(error),
            BackupError::Invalid { .. } | BackupError::SlotCheck { .. } => None,
        }
    }
}

impl BackupError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            BackupError::Request(e) => e.kind(),
            BackupError::Invalid { .. } => ErrorKind::InvalidRequest,
            BackupError::Token { error } => error.kind(),
            BackupError::SlotCheck { .. } => ErrorKind::NotFound,
            BackupError::Prompt(e) => e.kind(),
            BackupError::Cost(e) => e.kind(),
            BackupError::Write { error } | BackupError::PartialSet { error, .. } => error.kind(),
        }
    }
}

pub(crate) fn now_utc() -> String {
    let secs = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let days = (secs / 86400) as i64;
    let rem = secs % 86400;
    // Civil-from-days (Howard Hinnant's algorithm).
    let z = days + 719468;
    let era = z.div_euclid(146097);
    let doe = z - era * 146097;
    let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + if m <= 2 { 1 } else { 0 };
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Make the slots of one file: one per key, each wrapping `s` under `a`.
pub(crate) fn build_file(
    common: CommonHeader,
    own: FileFields,
    keys: &[&TokenKey<'_>],
    a: &PasswordKey,
    s: &FileSecret,
    payload: Vec<u8>,
) -> Result<(BackupFile, Encoded), BackupError> {
    let hc = crypto::common_header_hash(&format::encode_common(&common));
    let ff = format::encode_file_fields(&own);
    let mut slots = Vec::new();
    for k in keys {
        slots.push(
            slot::make_slot(&hc, &ff, k, a, s).map_err(|error| BackupError::Token { error })?,
        );
    }
    let mut file = BackupFile {
        common,
        own,
        slots,
        payload,
        mac: [0; 32],
    };
    let enc = file.encode().map_err(|e| BackupError::Invalid {
        reason: e.to_string(),
    })?;
    file.mac = slot::compute_mac(&file, &enc, s);
    let enc = file.encode().map_err(|e| BackupError::Invalid {
        reason: e.to_string(),
    })?;
    Ok((file, enc))
}

/// Check written bytes with the keys still in memory: checksum, strict parse, file MAC, and,
/// when D and the secret are at hand, the payload.
pub(crate) fn check_written(
    bytes: &[u8],
    s: &FileSecret,
    payload: Option<(&DataKey, &[u8])>,
) -> Result<(), String> {
    let (file, enc) = format::parse(bytes).map_err(|e| e.to_string())?;
    if !crypto::ct_eq(&slot::compute_mac(&file, &enc, s), &file.mac) {
        return Err("the file MAC does not match".into());
    }
    if let Some((d, secret)) = payload {
        let pt = decrypt_payload(&file, &enc, d).ok_or("the payload does not decrypt")?;
        if !crypto::ct_eq(pt.expose(), secret) {
            return Err("the payload is not the secret".into());
        }
    }
    Ok(())
}

pub(crate) fn decrypt_payload(
    file: &BackupFile,
    enc: &Encoded,
    d: &DataKey,
) -> Option<MasterSecret> {
    let hc = crypto::common_header_hash(enc.common());
    let pk = crypto::payload_key(d, &file.common.set_id);
    let plain = crypto::aead_open(&pk, &file.common.payload_nonce, &hc, &file.payload)?;
    MasterSecret::from_slice(&plain).ok()
}

/// Back up one secret as a single file (a 1-of-1 set).
pub fn backup(
    req: SetRequest,
    secret: MasterSecret,
    env: TokenEnv,
    prompter: &mut dyn Prompter,
) -> Result<BackupReport, BackupError> {
    backup_set(req, secret, env, prompter)
}

/// Refuse two outputs on one filesystem (one lost or stolen medium would hold two shares) and
/// warn about outputs that are not on removable media.
pub(crate) fn check_devices(
    outs: &[PathBuf],
    allow_same: bool,
    prompter: &mut dyn Prompter,
) -> Result<(), BackupError> {
    use std::os::unix::fs::MetadataExt;
    let mut devs: Vec<(u64, &PathBuf)> = Vec::new();
    for out in outs {
        let dir = match out.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let meta = std::fs::metadata(&dir).map_err(|e| BackupError::Invalid {
            reason: format!("{}: cannot use its directory: {e}", display_path(out)),
        })?;
        let dev = meta.dev();
        if let Some((_, other)) = devs.iter().find(|(d, _)| *d == dev) {
            if !allow_same {
                return Err(BackupError::Invalid {
                    reason: format!(
                        "{} and {} are on the same filesystem: shares go to distinct media \
                         (add --allow-same-device to accept this, e.g. for a rehearsal)",
                        display_path(other),
                        display_path(out)
                    ),
                });
            }
        } else {
            devs.push((dev, out));
        }
        if !media::is_removable(dev) {
            prompter.warn(
                &format!("{} is not on removable media", display_path(out)),
                "move it to the officer's own medium and erase this copy",
            );
        }
    }
    Ok(())
}

/// One share's file, before it is written.
pub(crate) struct Built {
    out: Output,
    index: u8,
    officer: String,
    enc: Encoded,
    s: FileSecret,
    slots: Vec<(String, bool)>,
}

/// Back up one secret as a K-of-N split set (or, for a 1-of-1 request, a single backup).
pub fn backup_set(
    req: SetRequest,
    secret: MasterSecret,
    env: TokenEnv,
    prompter: &mut dyn Prompter,
) -> Result<BackupReport, BackupError> {
    check_set_outputs(&req, prompter)?;
    make_set(req, secret, env, prompter)
}

/// Where a set's files go, checked before any token, PIN or password: every output's folder
/// exists, can be written and has room ([`check_output_folders`]); a split's shares are on
/// distinct filesystems ([`check_devices`]).
pub(crate) fn check_set_outputs(
    req: &SetRequest,
    prompter: &mut dyn Prompter,
) -> Result<(), BackupError> {
    check_output_folders(req.shares.iter().map(|s| &s.out), req.options.force)?;
    if req.shares.len() > 1 {
        let paths: Vec<PathBuf> = req
            .shares
            .iter()
            .filter_map(|s| match &s.out {
                Output::Path(p) => Some(p.clone()),
                Output::Memory { .. } => None,
            })
            .collect();
        check_devices(&paths, req.options.allow_same_device, prompter)?;
    }
    Ok(())
}

/// Every output folder exists, can be written and has room for the files it gets (a backup or
/// share file is at most [`format::MAX_FILE_BYTES`]): nothing is asked before this holds.
pub(crate) fn check_output_folders<'a>(
    outs: impl IntoIterator<Item = &'a Output>,
    force: bool,
) -> Result<(), BackupError> {
    let mut folders: Vec<(PathBuf, &Path, u64)> = Vec::new();
    for out in outs {
        let Output::Path(p) = out else { continue };
        let dir = media::output_folder(p);
        match folders.iter_mut().find(|(d, ..)| *d == dir) {
            Some(f) => f.2 = f.2.saturating_add(format::MAX_FILE_BYTES),
            None => folders.push((dir, p, format::MAX_FILE_BYTES)),
        }
    }
    for (_, p, needed) in folders {
        media::check_output_dir_for(p, needed, force)
            .map_err(|error| BackupError::Write { error })?;
    }
    Ok(())
}

/// [`backup_set`] once its outputs were checked.
pub(crate) fn make_set(
    req: SetRequest,
    secret: MasterSecret,
    env: TokenEnv,
    prompter: &mut dyn Prompter,
) -> Result<BackupReport, BackupError> {
    let invalid = |reason: String| BackupError::Invalid { reason };
    let secret = secret.expose();
    let n = req.shares.len();
    let k = req.threshold;
    check_secret_len(secret.len()).map_err(BackupError::Request)?;
    let split = n > 1;
    let label = req.label.clone().unwrap_or_default();
    let officers: Vec<String> = req.shares.iter().map(|s| s.officer.clone()).collect();
    let mut hints: Vec<Option<String>> = req.shares.iter().map(|s| s.hint.clone()).collect();
    // Memory for Argon2id before any token or password (the files are derived one by one).
    if let Some(first) = req.shares.first() {
        check_memory(first.out.name(), &[req.kdf]).map_err(BackupError::Cost)?;
    }

    // Every token and key first, before any password is asked.
    let mut tokens = Tokens::new(env, prompter);
    let mut all_keys: Vec<TokenKey<'static>> = Vec::new();
    let mut share_keys: Vec<Vec<usize>> = Vec::with_capacity(n);
    let mut outs: Vec<Output> = Vec::with_capacity(n);
    super::check_keys_before_login(&mut tokens, req.shares.iter().flat_map(|s| s.keys.iter()))
        .map_err(|error| BackupError::Token { error })?;
    // Keys that are not bound to their token are refused, not only warned about.
    let allow_exportable = req.options.allow_exportable_key;
    tokens.require_bound(!allow_exportable);
    for sh in req.shares {
        outs.push(sh.out);
        let mut mine = Vec::new();
        for spec in sh.keys {
            let key = resolve_cached(&mut tokens, spec, &mut all_keys)
                .map_err(|error| BackupError::Token { error })?;
            super::check_bound(&all_keys[key], allow_exportable)
                .map_err(|error| BackupError::Token { error })?;
            if mine.contains(&key) {
                return Err(invalid(format!("{} is given twice", all_keys[key].name)));
            }
            mine.push(key);
        }
        share_keys.push(mine);
    }
    let prompter = tokens.prompter();
    if !req.options.single_token {
        // A key whose loss loses more shares than the set can spare.
        let spare = n - k.max(1) as usize;
        for (ki, key) in all_keys.iter().enumerate() {
            let lost = share_keys.iter().filter(|m| m.as_slice() == [ki]).count();
            if lost > spare {
                prompter.warn(
                    &format!(
                        "{} can be opened only with {}: if that token is lost or broken, {} \
                         lost with it",
                        if split { "every share" } else { "this backup" },
                        key.name,
                        if split { "the set is" } else { "the backup is" }
                    ),
                    "add a spare with a second --token, give officers their own tokens, or \
                     pass --single-token to accept this",
                );
            }
        }
    }
    if crypto::looks_like_text(secret) {
        prompter.warn(
            "the secret looks like text: anyone holding the file can test guesses of it against \
             its fingerprint",
            "a master secret should be random bytes: make one with `custody generate`",
        );
    }

    // Each officer's password (and hint), in turn. In a split set, each officer's Argon2id
    // runs in the background while the next one types (its salt is drawn now), so that after
    // the last entry the wait is about one run, not N: one run at a time, and only when this
    // process could hold two at once (a run may still be going when the next one is due).
    let salts: Vec<[u8; 32]> = (0..n).map(|_| crypto::random_array()).collect();
    let ahead = split
        && outs
            .first()
            .is_some_and(|o| check_memory(o.name(), &[req.kdf, req.kdf]).is_ok());
    let mut derived: Vec<Option<Result<PasswordKey, crypto::Argon2Error>>> =
        (0..n).map(|_| None).collect();
    let mut running: Option<(usize, super::progress::Background)> = None;
    let mut passwords: Vec<Option<Password>> = Vec::with_capacity(n);
    for (i, out) in outs.iter().enumerate() {
        let who = if split {
            let name = if officers[i].is_empty() {
                format!("share {}", i + 1)
            } else {
                format!(
                    "officer {} (share {})",
                    display_escaped(&officers[i]),
                    i + 1
                )
            };
            format!("{name} of {n}, {}", display_path(out.name()))
        } else {
            format!("the backup {}", display_path(out.name()))
        };
        if split {
            prompter
                .handover(
                    &super::set_types::handover_line(i + 1, n, &officers, (i + 1) as u8),
                    i,
                    true,
                )
                .map_err(BackupError::Prompt)?;
        }
        let np = prompter.new_password_at(&who, i, hints[i].is_none());
        // Whatever was typed, the next officer sees nothing of this one's turn.
        if split {
            prompter.end_turn(i, true);
        }
        let np = np.map_err(BackupError::Prompt)?;
        if let (None, Some(h)) = (&hints[i], np.hint) {
            hints[i] = Some(normalize_free_text(&h).map_err(|e| invalid(format!("the hint {e}")))?);
        }
        if ahead {
            // At most one run in the background: the previous officer's ends first.
            if let Some((j, bg)) = running.take() {
                derived[j] = Some(bg.wait(prompter, &display_path(outs[j].name())));
            }
            check_memory(out.name(), &[req.kdf]).map_err(BackupError::Cost)?;
            let bg = super::progress::Background::start(np.password, salts[i], req.kdf);
            running = Some((i, bg));
            passwords.push(None);
        } else {
            passwords.push(Some(np.password));
        }
    }

    let d = crypto::random_data_key();
    let set_id: [u8; 16] = crypto::random_array();
    let values: Vec<(u8, FileSecret)> = if split {
        shamir::split(&d, k, n as u8)
            .map_err(invalid)?
            .iter()
            .map(|s| (s.index, FileSecret::of_share(&s.value)))
            .collect()
    } else {
        vec![(1, FileSecret::of_data_key(&d))]
    };
    let common = CommonHeader {
        set_id,
        created: now_utc(),
        label,
        threshold: k.max(1),
        count: n as u8,
        officers: officers.clone(),
        commitments: values
            .iter()
            .map(|(i, v)| crypto::share_commitment(&set_id, *i, v))
            .collect(),
        fingerprint: crypto::fingerprint(secret),
        payload_nonce: crypto::random_array(),
    };
    let hc = crypto::common_header_hash(&format::encode_common(&common));
    let payload = crypto::aead_seal(
        &crypto::payload_key(&d, &set_id),
        &common.payload_nonce,
        &hc,
        secret,
    )
    .map_err(|e| invalid(e.to_string()))?;

    let mut built = Vec::with_capacity(n);
    for (i, out) in outs.iter().enumerate() {
        let own = FileFields {
            index: values[i].0,
            hint: hints[i].clone().unwrap_or_default(),
            kdf: req.kdf,
            kdf_salt: salts[i],
        };
        prompter.info(&format!(
            "Deriving the password key for {} (Argon2id, {} MiB, t={}, p={})...",
            display_path(out.name()),
            req.kdf.memory_kib / 1024,
            req.kdf.iterations,
            req.kdf.parallelism
        ));
        let what = display_path(out.name());
        let result = match (derived[i].take(), running.take()) {
            (Some(r), bg) => {
                running = bg;
                r
            }
            (None, Some((j, bg))) if j == i => bg.wait(prompter, &what),
            (None, bg) => {
                running = bg;
                let password = passwords[i]
                    .as_ref()
                    .ok_or_else(|| invalid(format!("no password for {what}")))?;
                check_memory(out.name(), &[own.kdf]).map_err(BackupError::Cost)?;
                super::progress::argon2id(prompter, &what, password, &own.kdf_salt, &own.kdf)
            }
        };
        let a = result.map_err(|e| match e {
            crypto::Argon2Error::OutOfMemory => {
                BackupError::Cost(KdfCostError::out_of_memory(out.name(), &own.kdf))
            }
            crypto::Argon2Error::Other(r) => invalid(r),
        })?;
        let keys: Vec<&TokenKey<'_>> = share_keys[i].iter().map(|&x| &all_keys[x]).collect();
        let s = &values[i].1;
        // A single backup's slots wrap D itself; a split set wraps one share per file.
        let (_, enc) = build_file(common.clone(), own, &keys, &a, s, payload.clone())?;
        // Open every slot whose token is here once, from the encoded bytes, before writing.
        check_slots_open(&enc, keys.iter().copied().enumerate(), &a, s)?;
        built.push(Built {
            out: out.clone(),
            index: values[i].0,
            officer: officers[i].clone(),
            enc,
            s: FileSecret::from_bytes(s.expose()),
            slots: keys
                .iter()
                .map(|k| (k.name.clone(), !matches!(k.ops, KeyOps::PublicOnly(_))))
                .collect(),
        });
    }
    for key in &all_keys {
        if let KeyOps::PublicOnly(p) = &key.ops {
            prompter.warn(
                &format!(
                    "the slot for {} was made from a public key alone and cannot be checked now",
                    key.name
                ),
                &format!(
                    "compare its key hash {} with the key-generation record",
                    hex::encode(crypto::p256_key_hash(p))
                ),
            );
        }
    }

    let mut written: Vec<PathBuf> = Vec::new();
    let mut in_memory: Vec<Option<Vec<u8>>> = Vec::with_capacity(built.len());
    for b in &built {
        let mut check = |bytes: &[u8]| check_written(bytes, &b.s, Some((&d, secret)));
        let res = match &b.out {
            Output::Path(path) => {
                media::write_new(path, &b.enc.bytes, req.options.force, &mut check)
            }
            // Parsed and opened by custody before it is handed back, as a written file is.
            Output::Memory { .. } => match check(&b.enc.bytes) {
                Ok(()) => {
                    in_memory.push(Some(b.enc.bytes.clone()));
                    continue;
                }
                Err(reason) => return Err(BackupError::Invalid { reason }),
            },
        };
        in_memory.push(None);
        match res {
            Ok(outcome) => {
                if outcome.mode_ignored {
                    prompter.warn(
                        &format!(
                            "the filesystem of {} does not keep file modes (FAT?): the file is \
                             readable by whoever can read the medium (it is still protected by \
                             the token and password)",
                            display_path(b.out.name())
                        ),
                        "keep the medium where only its holder can reach it",
                    );
                }
                written.push(b.out.name().to_owned());
            }
            Err(error) if split => {
                return Err(BackupError::PartialSet {
                    written,
                    failed: b.out.name().to_owned(),
                    not_written: built
                        .iter()
                        .skip_while(|x| x.out != b.out)
                        .skip(1)
                        .map(|x| x.out.name().to_owned())
                        .collect(),
                    error,
                });
            }
            Err(error) => return Err(BackupError::Write { error }),
        }
    }
    Ok(BackupReport {
        set_id,
        fingerprint: common.fingerprint,
        threshold: common.threshold,
        files: built
            .into_iter()
            .zip(in_memory)
            .map(|(b, bytes)| FileReport {
                path: b.out.name().to_owned(),
                bytes,
                index: b.index,
                officer: b.officer,
                slots: b.slots,
            })
            .collect(),
        weak_kdf: req.kdf.is_weak(),
        opened_by: Vec::new(),
        input_checked: FingerprintCheck::Unchecked,
    })
}

pub(crate) const WRONG_PASSWORD: &str =
    "the password is wrong (the token key was right), or the file was deliberately altered";

pub(crate) fn open_error_text(e: &OpenError) -> String {
    match e {
        OpenError::Token(t) => t.to_string(),
        OpenError::BadPoint(r) => format!("the file's ephemeral key {r}"),
        OpenError::KeyHashMismatch => "the token's key is not the one this slot names".into(),
        OpenError::PublicOnly => "a public key alone cannot open a slot".into(),
        OpenError::Commitment => WRONG_PASSWORD.into(),
        OpenError::Aead => "the slot was deliberately altered".into(),
        OpenError::NotMine => "the key is of another kind than the slot".into(),
    }
}

/// Open each `(slot index, key)` whose token is here from the encoded bytes about to be written:
/// a key that cannot do the job is refused by name before anything is written. Public-key-only
/// slots cannot be opened and are skipped (the caller says so).
pub(crate) fn check_slots_open<'k>(
    enc: &Encoded,
    keys: impl IntoIterator<Item = (usize, &'k TokenKey<'k>)>,
    a: &PasswordKey,
    s: &FileSecret,
) -> Result<(), BackupError> {
    let (file, reenc) = format::parse(&enc.bytes).map_err(|e| BackupError::Invalid {
        reason: e.to_string(),
    })?;
    for (j, key) in keys {
        if matches!(key.ops, KeyOps::PublicOnly(_)) {
            continue;
        }
        let reason = match slot::open_slot(&file, &reenc, j, &key.ops, a) {
            Ok(got) if crypto::ct_eq(got.expose(), s.expose()) => continue,
            Ok(_) => "it opened to another value".to_string(),
            // The token or its key went away (or the PIN was refused) during the check: that
            // says nothing about whether the key can protect a backup.
            Err(OpenError::Token(
                error @ (TokenError::NotFound { .. }
                | TokenError::PinIncorrect { .. }
                | TokenError::PinLocked { .. }),
            )) => return Err(BackupError::Token { error }),
            Err(e) => open_error_text(&e),
        };
        return Err(BackupError::SlotCheck {
            key: key.name.clone(),
            reason,
        });
    }
    Ok(())
}
