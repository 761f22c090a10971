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

fn token_exit(e: &TokenError) -> i32 {
    match e {
        TokenError::PinIncorrect { .. } | TokenError::WrongKey { .. } => exit::AUTH,
        TokenError::PinLocked { .. } => exit::PIN_LOCKED,
        TokenError::NotFound { .. } | TokenError::KeyUnusable { .. } => exit::NOT_FOUND,
        _ => exit::OTHER,
    }
}

fn token_advice(e: &TokenError) -> &'static str {
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

// ───────────────────────────── backup ─────────────────────────────

/// What `custody backup` asks for.
pub struct BackupRequest {
    pub secret: Secret,
    pub tokens: Vec<TokenLocator>,
    pub out: PathBuf,
    pub hint: Option<String>,
    pub label: String,
    pub kdf: KdfParams,
    pub allow_weak_kdf: bool,
    pub single_token: bool,
    pub force: bool,
}

/// What a successful backup reports.
pub struct BackupReport {
    pub set_id: [u8; 16],
    pub fingerprint: [u8; 16],
    pub threshold: u8,
    pub files: Vec<FileReport>,
    pub weak_kdf: bool,
}

/// One file written: which share, whose, and the tokens that open it (true: opened at backup).
pub struct FileReport {
    pub path: PathBuf,
    pub index: u8,
    pub officer: String,
    pub slots: Vec<(String, bool)>,
}

#[derive(Debug)]
#[non_exhaustive]
pub enum BackupError {
    /// The request itself is wrong (size, label, KDF parameters, ...).
    Invalid {
        reason: String,
    },
    /// A token or key could not be used.
    Token {
        error: TokenError,
    },
    /// A new slot did not open from the bytes written: the key cannot do the job.
    SlotCheck {
        key: String,
        reason: String,
    },
    Prompt(PromptError),
    /// Writing or reading back the file failed; nothing was left under its name.
    Write {
        error: MediaError,
    },
    /// A split set was written only in part: the written shares form no usable set.
    PartialSet {
        written: Vec<PathBuf>,
        failed: PathBuf,
        not_written: Vec<PathBuf>,
        error: MediaError,
    },
}

impl fmt::Display for BackupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BackupError::Invalid { reason } => write!(f, "{reason}"),
            BackupError::Token { error } => write!(f, "{error}"),
            BackupError::SlotCheck { key, reason } => write!(
                f,
                "the new slot for {key} did not open again from the bytes written ({reason}): \
                 that key cannot protect a backup"
            ),
            BackupError::Prompt(e) => write!(f, "{e}"),
            BackupError::Write { error } => write!(f, "{error}"),
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
                            .map(|p| p.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    }
                };
                write!(
                    f,
                    "the split set is INCOMPLETE: writing {} failed ({error}). Written: {}. Not \
                     written: {}. The written shares belong to a set that was never completed",
                    failed.display(),
                    list(written),
                    list(not_written)
                )
            }
        }
    }
}

impl std::error::Error for BackupError {}

impl BackupError {
    pub fn exit_code(&self) -> i32 {
        match self {
            BackupError::Invalid { .. } => exit::USAGE,
            BackupError::Token { error } => token_exit(error),
            BackupError::SlotCheck { .. } => exit::NOT_FOUND,
            BackupError::Prompt(_) => exit::OTHER,
            BackupError::Write { error } | BackupError::PartialSet { error, .. } => match error {
                MediaError::Exists { .. } => exit::OUTPUT_EXISTS,
                _ => exit::OTHER,
            },
        }
    }
    pub fn advice(&self) -> &'static str {
        match self {
            BackupError::Invalid { .. } => "correct the command line and run it again",
            BackupError::Token { error } => token_advice(error),
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
        }
    }
}

pub fn check_secret_len(n: usize) -> Result<(), String> {
    if !(format::MIN_SECRET_BYTES..=format::MAX_SECRET_BYTES).contains(&n) {
        return Err(format!(
            "the secret is {n} bytes; custody backs up secrets of {} to {} bytes",
            format::MIN_SECRET_BYTES,
            format::MAX_SECRET_BYTES
        ));
    }
    Ok(())
}

/// Check KDF parameters asked for at backup.
pub fn check_kdf_request(kdf: &KdfParams, allow_weak: bool) -> Result<(), String> {
    kdf.check_readable()?;
    if kdf.is_weak() && !allow_weak {
        return Err(format!(
            "Argon2id m={} MiB, t={} is below the minimum m=64 MiB, t=3; add --allow-weak-kdf \
             to accept it (the file will be marked weak)",
            kdf.memory_kib / 1024,
            kdf.iterations
        ));
    }
    Ok(())
}

fn now_utc() -> String {
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
fn build_file(
    common: CommonHeader,
    own: FileFields,
    keys: &[&TokenKey<'_>],
    a: &Key32,
    s: &Key32,
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
fn check_written(bytes: &[u8], s: &Key32, payload: Option<(&Key32, &[u8])>) -> Result<(), String> {
    let (file, enc) = format::parse(bytes).map_err(|e| e.to_string())?;
    if !crypto::ct_eq(&slot::compute_mac(&file, &enc, s), &file.mac) {
        return Err("the file MAC does not match".into());
    }
    if let Some((d, secret)) = payload {
        let pt = decrypt_payload(&file, &enc, d).ok_or("the payload does not decrypt")?;
        if !crypto::ct_eq(&pt, secret) {
            return Err("the payload is not the secret".into());
        }
    }
    Ok(())
}

fn decrypt_payload(file: &BackupFile, enc: &Encoded, d: &Key32) -> Option<Zeroizing<Vec<u8>>> {
    let hc = crypto::common_header_hash(enc.common());
    let pk = crypto::payload_key(d, &file.common.set_id);
    crypto::aead_open(&pk, &file.common.payload_nonce, &hc, &file.payload)
}

pub fn backup(
    req: BackupRequest,
    env: TokenEnv,
    prompter: &mut dyn Prompter,
) -> Result<BackupReport, BackupError> {
    let set = SetRequest {
        secret: req.secret,
        threshold: 1,
        shares: vec![ShareSpec {
            out: req.out,
            officer: String::new(),
            hint: req.hint,
            tokens: req.tokens,
        }],
        label: req.label,
        kdf: req.kdf,
        allow_weak_kdf: req.allow_weak_kdf,
        single_token: req.single_token,
        force: req.force,
        allow_same_device: true,
    };
    backup_set(set, env, prompter)
}

/// One file of a set: where it goes, whose it is, what locks it.
pub struct ShareSpec {
    pub out: PathBuf,
    pub officer: String,
    pub hint: Option<String>,
    pub tokens: Vec<TokenLocator>,
}

/// A backup as a K-of-N set (a single backup is 1 of 1).
pub struct SetRequest {
    pub secret: Secret,
    pub threshold: u8,
    pub shares: Vec<ShareSpec>,
    pub label: String,
    pub kdf: KdfParams,
    pub allow_weak_kdf: bool,
    pub single_token: bool,
    pub force: bool,
    pub allow_same_device: bool,
}

/// Refuse two outputs on one filesystem (one lost or stolen medium would hold two shares) and
/// warn about outputs that are not on removable media.
fn check_devices(
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
            reason: format!("{}: cannot use its directory: {e}", out.display()),
        })?;
        let dev = meta.dev();
        if let Some((_, other)) = devs.iter().find(|(d, _)| *d == dev) {
            if !allow_same {
                return Err(BackupError::Invalid {
                    reason: format!(
                        "{} and {} are on the same filesystem: shares go to distinct media \
                         (add --allow-same-device to accept this, e.g. for a rehearsal)",
                        other.display(),
                        out.display()
                    ),
                });
            }
        } else {
            devs.push((dev, out));
        }
        if !media::is_removable(dev) {
            prompter.warn(&format!(
                "{} is not on removable media: move it to the officer's own medium and erase \
                 this copy.",
                out.display()
            ));
        }
    }
    Ok(())
}

/// One share's file, before it is written.
struct Built {
    out: PathBuf,
    index: u8,
    officer: String,
    enc: Encoded,
    s: Key32,
    slots: Vec<(String, bool)>,
}

pub fn backup_set(
    req: SetRequest,
    env: TokenEnv,
    prompter: &mut dyn Prompter,
) -> Result<BackupReport, BackupError> {
    let invalid = |reason: String| BackupError::Invalid { reason };
    let secret = req.secret.expose_secret();
    let n = req.shares.len();
    let k = req.threshold;
    check_secret_len(secret.len()).map_err(invalid)?;
    check_kdf_request(&req.kdf, req.allow_weak_kdf).map_err(invalid)?;
    if n == 0 || n > 255 {
        return Err(invalid(format!("{n} outputs: give 1 to 255 --out")));
    }
    let split = n > 1;
    if split && !(2 <= k && k as usize <= n) {
        return Err(invalid(format!(
            "--threshold {k} with {n} outputs: a split needs 2 ≤ K ≤ N ≤ 255"
        )));
    }
    if !split && k != 1 {
        return Err(invalid(
            "--threshold needs at least two --out (one per share)".into(),
        ));
    }
    let label = normalize_free_text(&req.label).map_err(|e| invalid(format!("--label {e}")))?;
    let mut officers = Vec::with_capacity(n);
    let mut hints = Vec::with_capacity(n);
    for sh in &req.shares {
        officers
            .push(normalize_free_text(&sh.officer).map_err(|e| invalid(format!("--officer {e}")))?);
        hints.push(
            sh.hint
                .as_deref()
                .map(normalize_free_text)
                .transpose()
                .map_err(|e| invalid(format!("--hint {e}")))?,
        );
        if sh.tokens.is_empty() {
            return Err(invalid(format!(
                "{}: give at least one --token",
                sh.out.display()
            )));
        }
    }
    for (i, a) in req.shares.iter().enumerate() {
        if req.shares[..i].iter().any(|b| b.out == a.out) {
            return Err(invalid(format!(
                "{} is given twice as --out",
                a.out.display()
            )));
        }
    }
    if split {
        check_devices(
            &req.shares.iter().map(|s| s.out.clone()).collect::<Vec<_>>(),
            req.allow_same_device,
            prompter,
        )?;
    }

    // Every token and key first, before any password is asked.
    let mut tokens = Tokens::new(env, prompter);
    let mut all_keys: Vec<TokenKey<'static>> = Vec::new();
    let mut share_keys: Vec<Vec<usize>> = Vec::with_capacity(n);
    for sh in &req.shares {
        let mut mine = Vec::new();
        for loc in &sh.tokens {
            let key = tokens
                .resolve_cached(loc, &mut all_keys)
                .map_err(|error| BackupError::Token { error })?;
            if mine.contains(&key) {
                return Err(invalid(format!("{} is given twice", all_keys[key].name)));
            }
            mine.push(key);
        }
        share_keys.push(mine);
    }
    let prompter = tokens.prompter();
    if !req.single_token {
        // A key whose loss loses more shares than the set can spare.
        let spare = n - k.max(1) as usize;
        for (ki, key) in all_keys.iter().enumerate() {
            let lost = share_keys.iter().filter(|m| m.as_slice() == [ki]).count();
            if lost > spare {
                prompter.warn(&format!(
                    "{} can be opened only with {}: if that token is lost or broken, {} lost \
                     with it. Add a spare with a second --token, give officers their own \
                     tokens, or pass --single-token to accept this.",
                    if split { "every share" } else { "this backup" },
                    key.name,
                    if split { "the set is" } else { "the backup is" }
                ));
            }
        }
    }
    if crypto::looks_like_text(secret) {
        prompter.warn(
            "the secret looks like text: anyone holding the file can test guesses of it against \
             its fingerprint. A master secret should be random bytes (`custody generate`).",
        );
    }

    // Each officer's password (and hint), in turn.
    let mut passwords = Vec::with_capacity(n);
    for (i, sh) in req.shares.iter().enumerate() {
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
            format!("{name} of {n}, {}", sh.out.display())
        } else {
            format!("the backup {}", sh.out.display())
        };
        let np = prompter
            .new_password_at(&who, i, hints[i].is_none())
            .map_err(BackupError::Prompt)?;
        crypto::normalize_password(&np.password).map_err(|_| {
            BackupError::Prompt(PromptError::Refused {
                reason: format!("{who}: an empty password is not allowed"),
            })
        })?;
        if let (None, Some(h)) = (&hints[i], np.hint) {
            hints[i] = Some(normalize_free_text(&h).map_err(|e| invalid(format!("the hint {e}")))?);
        }
        passwords.push(np.password);
    }

    let d = crypto::random_key();
    let set_id: [u8; 16] = crypto::random_array();
    let values: Vec<(u8, Key32)> = if split {
        shamir::split(&d, k, n as u8)
            .map_err(invalid)?
            .into_iter()
            .map(|s| (s.index, s.value))
            .collect()
    } else {
        vec![(1, d.clone())]
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
    );

    let mut built = Vec::with_capacity(n);
    for (i, sh) in req.shares.iter().enumerate() {
        let own = FileFields {
            index: values[i].0,
            hint: hints[i].clone().unwrap_or_default(),
            kdf: req.kdf,
            kdf_salt: crypto::random_array(),
        };
        prompter.info(&format!(
            "Deriving the password key for {} (Argon2id, {} MiB, t={}, p={})...",
            sh.out.display(),
            req.kdf.memory_kib / 1024,
            req.kdf.iterations,
            req.kdf.parallelism
        ));
        let a = crypto::argon2id(&passwords[i], &own.kdf_salt, &own.kdf).map_err(invalid)?;
        let keys: Vec<&TokenKey<'_>> = share_keys[i].iter().map(|&x| &all_keys[x]).collect();
        let s = &values[i].1;
        // A single backup's slots wrap D itself; a split set wraps one share per file.
        let (_, enc) = build_file(common.clone(), own, &keys, &a, s, payload.clone())?;
        // Open every slot whose token is here once, from the encoded bytes, before writing.
        let (reparsed, reenc) = format::parse(&enc.bytes).map_err(|e| invalid(e.to_string()))?;
        for (j, key) in keys.iter().enumerate() {
            if matches!(key.ops, KeyOps::PublicOnly(_)) {
                continue;
            }
            match slot::open_slot(&reparsed, &reenc, j, &key.ops, &a) {
                Ok(got) if crypto::ct_eq(&got[..], &s[..]) => {}
                Ok(_) => {
                    return Err(BackupError::SlotCheck {
                        key: key.name.clone(),
                        reason: "it opened to another value".into(),
                    });
                }
                Err(e) => {
                    return Err(BackupError::SlotCheck {
                        key: key.name.clone(),
                        reason: open_error_text(&e),
                    });
                }
            }
        }
        built.push(Built {
            out: sh.out.clone(),
            index: values[i].0,
            officer: officers[i].clone(),
            enc,
            s: s.clone(),
            slots: keys
                .iter()
                .map(|k| (k.name.clone(), !matches!(k.ops, KeyOps::PublicOnly(_))))
                .collect(),
        });
    }
    for key in &all_keys {
        if let KeyOps::PublicOnly(p) = &key.ops {
            prompter.warn(&format!(
                "the slot for {} was made from a public key alone and cannot be checked now. \
                 Compare its key hash {} with the key-generation record.",
                key.name,
                hex::encode(crypto::p256_key_hash(p))
            ));
        }
    }

    let mut written: Vec<PathBuf> = Vec::new();
    for b in &built {
        let res = media::write_new(&b.out, &b.enc.bytes, req.force, &mut |bytes| {
            check_written(bytes, &b.s, Some((&d, secret)))
        });
        match res {
            Ok(outcome) => {
                if outcome.mode_ignored {
                    prompter.warn(&format!(
                        "the filesystem of {} does not keep file modes (FAT?): the file is \
                         readable by whoever can read the medium. It is still protected by the \
                         token and password.",
                        b.out.display()
                    ));
                }
                written.push(b.out.clone());
            }
            Err(error) if split => {
                return Err(BackupError::PartialSet {
                    written,
                    failed: b.out.clone(),
                    not_written: built
                        .iter()
                        .skip_while(|x| x.out != b.out)
                        .skip(1)
                        .map(|x| x.out.clone())
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
            .map(|b| FileReport {
                path: b.out,
                index: b.index,
                officer: b.officer,
                slots: b.slots,
            })
            .collect(),
        weak_kdf: req.kdf.is_weak(),
    })
}

const WRONG_PASSWORD: &str =
    "the password is wrong (the token key was right), or the file was deliberately altered";

fn open_error_text(e: &OpenError) -> String {
    match e {
        OpenError::Token(t) => t.to_string(),
        OpenError::BadPoint(r) => format!("the file's ephemeral key {r}"),
        OpenError::KeyHashMismatch => "the token's key is not the one this slot names".into(),
        OpenError::PublicOnly => "a public key alone cannot open a slot".into(),
        OpenError::Commitment => WRONG_PASSWORD.into(),
        OpenError::Aead => "the slot was deliberately altered".into(),
    }
}

// ───────────────────────────── restore / verify ─────────────────────────────

/// Why a file could not be opened.
#[derive(Debug)]
#[non_exhaustive]
pub enum OpenFileError {
    Read {
        file: PathBuf,
        error: MediaError,
    },
    Format {
        file: PathBuf,
        error: FormatError,
    },
    /// None of the tokens the file accepts is present.
    NoToken {
        file: PathBuf,
        accepted: Vec<String>,
        detail: Option<String>,
    },
    /// A token failed in a way that stops everything (PIN, locked, ...).
    Token {
        file: PathBuf,
        error: TokenError,
    },
    /// Every slot tried refused to open.
    Auth {
        file: PathBuf,
        attempts: Vec<String>,
    },
    /// A slot opened, but the file does not check out (MAC, commitment, payload, fingerprint).
    Altered {
        file: PathBuf,
        reason: String,
    },
    Prompt {
        file: PathBuf,
        error: PromptError,
    },
}

impl fmt::Display for OpenFileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OpenFileError::Read { file, error } => write!(f, "{}: {error}", file.display()),
            OpenFileError::Format { file, error } => match error {
                FormatError::Damaged { .. } => write!(
                    f,
                    "{}: {error}: the medium or a copy changed its bytes (not a wrong password or token)",
                    file.display()
                ),
                _ => write!(f, "{}: {error}", file.display()),
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
                    file.display(),
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
            OpenFileError::Token { file, error } => write!(f, "{}: {error}", file.display()),
            OpenFileError::Auth { file, attempts } => {
                if attempts.iter().all(|a| a.ends_with(WRONG_PASSWORD)) {
                    write!(
                        f,
                        "{}: the password is wrong. The token key was the right one and the file's \
                         checksum is intact, so the file is not damaged (unless it was deliberately \
                         altered). Tried {} slot(s).",
                        file.display(),
                        attempts.len()
                    )
                } else {
                    write!(
                        f,
                        "{}: the file did not open. Its checksum is intact, so it is not damaged: \
                         the password or the token key is wrong, or the file was deliberately \
                         altered. Tried: {}",
                        file.display(),
                        attempts.join("; ")
                    )
                }
            }
            OpenFileError::Altered { file, reason } => write!(
                f,
                "{}: the file was deliberately altered after it was made: {reason}",
                file.display()
            ),
            OpenFileError::Prompt { file, error } => write!(f, "{}: {error}", file.display()),
        }
    }
}

impl std::error::Error for OpenFileError {}

impl OpenFileError {
    pub fn exit_code(&self) -> i32 {
        match self {
            OpenFileError::Read { .. } | OpenFileError::Prompt { .. } => exit::OTHER,
            OpenFileError::Format { .. } | OpenFileError::Altered { .. } => exit::DAMAGED,
            OpenFileError::NoToken { .. } => exit::NOT_FOUND,
            OpenFileError::Token { error, .. } => token_exit(error),
            OpenFileError::Auth { .. } => exit::AUTH,
        }
    }
    pub fn advice(&self) -> &'static str {
        match self {
            OpenFileError::Read { .. } => "check the path and the medium",
            OpenFileError::Format { error, .. } => match error {
                FormatError::Damaged { .. } => "use another copy of this backup (or another share)",
                FormatError::UnsupportedVersion { .. } => "use a newer custody",
                _ => "this is not a file custody wrote: use another copy of the backup",
            },
            OpenFileError::NoToken { .. } => {
                "plug in one of those tokens, or name one with --token (see `custody token list`)"
            }
            OpenFileError::Token { error, .. } => token_advice(error),
            OpenFileError::Auth { .. } => {
                "check the password (its hint is shown above) and that the token holds the key the file names"
            }
            OpenFileError::Altered { .. } => {
                "do not trust this file; use another copy and report the incident"
            }
            OpenFileError::Prompt { .. } => {
                "give the password with --password-file or CUSTODY_PASSWORD, or run on a terminal"
            }
        }
    }
}

/// A file read and checked for damage, not yet opened.
pub struct LoadedFile {
    pub path: PathBuf,
    pub file: BackupFile,
    pub enc: Encoded,
}

pub fn load(path: &Path) -> Result<LoadedFile, OpenFileError> {
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
    let (file, enc) = format::parse(&bytes).map_err(|error| OpenFileError::Format {
        file: path.to_owned(),
        error,
    })?;
    Ok(LoadedFile {
        path: path.to_owned(),
        file,
        enc,
    })
}

/// An opened file: its secret s, checked against the MAC and its share commitment.
pub struct Opened {
    pub s: Key32,
    pub slot: usize,
    /// The file's Argon2id output, kept so a rewrap needs no second run.
    pub a: Key32,
}

/// What a restore or verify gives back.
pub struct OpenedBackup {
    pub secret: Secret,
    pub set_id: [u8; 16],
    pub fingerprint: [u8; 16],
    pub weak_kdf: bool,
    pub opened_with: String,
    /// The backup's label, for a reshare that keeps it.
    pub label: String,
}

pub fn show_header(lf: &LoadedFile, p: &mut dyn Prompter) {
    let c = &lf.file.common;
    p.info(&format!("Backup {}", lf.path.display()));
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
            lf.path.display(),
            lf.file.own.kdf.memory_kib / 1024,
            lf.file.own.kdf.iterations
        ));
    }
}

/// Open one file's slot with the token(s) and the password; check the MAC and commitment.
/// Which key to try on a slot.
enum Candidate {
    /// The `--token` override at this position.
    Override(usize),
    /// A YubiKey the slot names, present; the override that named it (for its PIN), if any.
    Piv(Option<usize>),
    /// A present token, and the override that named it (for its PIN), if any.
    Present(
        std::sync::Arc<crate::token::pkcs11::Module>,
        crate::token::pkcs11::TokenInfo,
        Option<usize>,
    ),
}

/// The slots of one file that a present token can try, in file order.
pub struct Plan(Vec<(usize, Candidate)>);

pub fn plan_file(
    lf: &LoadedFile,
    overrides: &[TokenLocator],
    tokens: &mut Tokens<'_>,
) -> Result<Plan, OpenFileError> {
    let file = &lf.file;
    let path = &lf.path;
    let accepted: Vec<String> = file.slots.iter().map(|s| s.descriptor.describe()).collect();
    // Every ephemeral point is checked before any token is touched: an invalid-curve point sent
    // to a token can leak its private key.
    for (i, s) in file.slots.iter().enumerate() {
        if let Some(e) = ephemeral_of(s)
            && let Err(r) = crypto::validate_p256_point(e)
        {
            return Err(OpenFileError::Altered {
                file: path.clone(),
                reason: format!("slot {}: the ephemeral key {r}", i + 1),
            });
        }
    }

    // Which keys to try on which slots, found before any password or PIN is asked.
    let mut plan: Vec<(usize, Candidate)> = Vec::new();
    let mut list_error = None;
    if overrides.is_empty() {
        // Ask each kind of token only if the file has a slot of that kind.
        let p11 = file
            .slots
            .iter()
            .any(|s| matches!(s.descriptor, Descriptor::Pkcs11 { .. }))
            .then(|| tokens.module_for_restore());
        let cards = file
            .slots
            .iter()
            .any(|s| matches!(s.descriptor, Descriptor::Piv { .. }))
            .then(|| tokens.cards_present());
        let mut missing_cards = Vec::new();
        for (i, s) in file.slots.iter().enumerate() {
            match &s.descriptor {
                Descriptor::Pkcs11 { .. } => match &p11 {
                    Some(Ok((m, present))) => {
                        if let Some(t) = tokens.token_for_slot(&s.descriptor, present) {
                            plan.push((i, Candidate::Present(m.clone(), t, None)));
                        }
                    }
                    Some(Err(e)) => list_error = Some(e.to_string()),
                    None => {}
                },
                Descriptor::Piv { card_serial, .. } => {
                    if cards.as_ref().is_some_and(|c| c.contains(card_serial)) {
                        plan.push((i, Candidate::Piv(None)));
                    } else {
                        missing_cards.push(crate::token::piv::card_name(*card_serial));
                    }
                }
            }
        }
        if plan.is_empty() && !missing_cards.is_empty() {
            let present: Vec<String> = cards
                .unwrap_or_default()
                .iter()
                .map(|s| crate::token::piv::card_name(*s))
                .collect();
            list_error = Some(format!(
                "{} is needed: plug it in ({})",
                missing_cards.join(" or "),
                if present.is_empty() {
                    "no YubiKey is present; is pcscd running?".to_string()
                } else {
                    format!("only {} is present", present.join(", "))
                }
            ));
        }
    } else {
        for (o, loc) in overrides.iter().enumerate() {
            // A token named without a key: use it for the keys the slots name.
            if let TokenLocator::Pkcs11(uri) = loc
                && uri.object_label.is_none()
                && uri.object_id.is_none()
            {
                match tokens.find_token(uri) {
                    Ok((m, t)) => {
                        for (i, s) in file.slots.iter().enumerate() {
                            if matches!(s.descriptor, Descriptor::Pkcs11 { .. }) {
                                plan.push((i, Candidate::Present(m.clone(), t.clone(), Some(o))));
                            }
                        }
                    }
                    Err(e) => list_error = Some(e.to_string()),
                }
                continue;
            }
            let kinds: &[SlotKind] = match loc {
                TokenLocator::Pkcs11(_) => &[SlotKind::Pkcs11Aes, SlotKind::Pkcs11P256],
                TokenLocator::Yubikey(_) => &[SlotKind::PivP256],
                TokenLocator::Pubkey(_) => &[],
            };
            for (i, s) in file.slots.iter().enumerate() {
                if kinds.contains(&s.descriptor.kind()) {
                    plan.push((i, Candidate::Override(o)));
                }
            }
        }
    }
    if plan.is_empty() {
        return Err(OpenFileError::NoToken {
            file: path.clone(),
            accepted,
            detail: list_error,
        });
    }
    Ok(Plan(plan))
}

/// Open one file: find its tokens, show its hint, ask its password, try its slots.
pub fn open_file(
    lf: &LoadedFile,
    overrides: &[TokenLocator],
    tokens: &mut Tokens<'_>,
) -> Result<Opened, OpenFileError> {
    let plan = plan_file(lf, overrides, tokens)?;
    let file = &lf.file;
    let path = &lf.path;
    // Hint, password, then PIN: one Argon2id run whatever the number of slots.
    if !file.own.hint.is_empty() {
        tokens.prompter().info(&format!(
            "Password hint: {}",
            display_escaped(&file.own.hint)
        ));
    }
    let password = tokens
        .prompter()
        .password(&format!("{}", path.display()))
        .map_err(|error| OpenFileError::Prompt {
            file: path.clone(),
            error,
        })?;
    attempt_file(lf, plan, overrides, tokens, &password)
}

/// Try a file's slots with its password: one Argon2id run whatever the number of slots.
pub fn attempt_file(
    lf: &LoadedFile,
    plan: Plan,
    overrides: &[TokenLocator],
    tokens: &mut Tokens<'_>,
    password: &secrecy::SecretString,
) -> Result<Opened, OpenFileError> {
    let file = &lf.file;
    let path = &lf.path;
    let accepted: Vec<String> = file.slots.iter().map(|s| s.descriptor.describe()).collect();
    let a = crypto::argon2id(password, &file.own.kdf_salt, &file.own.kdf).map_err(|reason| {
        OpenFileError::Prompt {
            file: path.clone(),
            error: PromptError::Refused { reason },
        }
    })?;

    let mut resolved: Vec<Option<Result<TokenKey<'static>, (String, bool)>>> =
        overrides.iter().map(|_| None).collect();
    let mut attempts = Vec::new();
    // Attempts that failed only because a token or key was not there (exit 4, not 3).
    let mut not_found = 0usize;
    for (i, cand) in plan.0 {
        let slot_desc = &file.slots[i].descriptor;
        let key = match cand {
            Candidate::Override(o) => {
                if resolved[o].is_none() {
                    resolved[o] = Some(match tokens.resolve(&overrides[o]) {
                        Ok(k) => Ok(k),
                        Err(
                            e @ (TokenError::PinIncorrect { .. }
                            | TokenError::PinLocked { .. }
                            | TokenError::NoPin { .. }),
                        ) => {
                            return Err(OpenFileError::Token {
                                file: path.clone(),
                                error: e,
                            });
                        }
                        Err(e) => Err((
                            e.to_string(),
                            matches!(
                                e,
                                TokenError::NotFound { .. } | TokenError::KeyUnusable { .. }
                            ),
                        )),
                    });
                }
                match resolved[o].as_ref().expect("resolved") {
                    Ok(k) if k.descriptor.kind() == slot_desc.kind() => k,
                    Ok(_) => continue,
                    Err((e, nf)) => {
                        not_found += usize::from(*nf);
                        attempts.push(format!("slot {} ({}): {e}", i + 1, slot_desc.describe()));
                        continue;
                    }
                }
            }
            Candidate::Piv(o) => {
                let loc = o.and_then(|o| match &overrides[o] {
                    TokenLocator::Yubikey(y) => Some(y),
                    _ => None,
                });
                let pin = PinHint {
                    value: loc.and_then(|y| y.pin_value.as_ref()),
                    source: loc.and_then(|y| y.pin_source.as_deref()),
                };
                match tokens.piv_key_for_slot(slot_desc, &pin) {
                    Ok(k) => {
                        if let Some(o) = try_slot(lf, i, &k, &a, &mut attempts)? {
                            return Ok(o);
                        }
                        continue;
                    }
                    Err(
                        e @ (TokenError::PinIncorrect { .. }
                        | TokenError::PinLocked { .. }
                        | TokenError::NoPin { .. }),
                    ) => {
                        return Err(OpenFileError::Token {
                            file: path.clone(),
                            error: e,
                        });
                    }
                    Err(e) => {
                        not_found += usize::from(matches!(
                            e,
                            TokenError::NotFound { .. } | TokenError::KeyUnusable { .. }
                        ));
                        attempts.push(format!("slot {}: {e}", i + 1));
                        continue;
                    }
                }
            }
            Candidate::Present(m, t, o) => {
                let uri = o.and_then(|o| match &overrides[o] {
                    TokenLocator::Pkcs11(u) => Some(u),
                    _ => None,
                });
                let pin = PinHint {
                    value: uri.and_then(|u| u.pin_value.as_ref()),
                    source: uri.and_then(|u| u.pin_source.as_deref()),
                };
                match tokens.key_for_slot(&m, &t, slot_desc, &pin) {
                    Ok(k) => {
                        let opened = try_slot(lf, i, &k, &a, &mut attempts)?;
                        if let Some(o) = opened {
                            return Ok(o);
                        }
                        continue;
                    }
                    Err(
                        e @ (TokenError::PinIncorrect { .. }
                        | TokenError::PinLocked { .. }
                        | TokenError::NoPin { .. }),
                    ) => {
                        return Err(OpenFileError::Token {
                            file: path.clone(),
                            error: e,
                        });
                    }
                    Err(e) => {
                        not_found += usize::from(matches!(
                            e,
                            TokenError::NotFound { .. } | TokenError::KeyUnusable { .. }
                        ));
                        attempts.push(format!("slot {}: {e}", i + 1));
                        continue;
                    }
                }
            }
        };
        if let Some(o) = try_slot(lf, i, key, &a, &mut attempts)? {
            return Ok(o);
        }
    }
    if not_found == attempts.len() {
        return Err(OpenFileError::NoToken {
            file: path.clone(),
            accepted,
            detail: Some(attempts.join("; ")),
        });
    }
    Err(OpenFileError::Auth {
        file: path.clone(),
        attempts,
    })
}

fn ephemeral_of(s: &format::Slot) -> Option<&[u8; 65]> {
    match &s.material {
        format::SlotMaterial::Ephemeral(e) => Some(e),
        _ => None,
    }
}

fn try_slot(
    lf: &LoadedFile,
    i: usize,
    key: &TokenKey<'_>,
    a: &Key32,
    attempts: &mut Vec<String>,
) -> Result<Option<Opened>, OpenFileError> {
    let path = &lf.path;
    match slot::open_slot(&lf.file, &lf.enc, i, &key.ops, a) {
        Ok(s) => {
            if !crypto::ct_eq(&slot::compute_mac(&lf.file, &lf.enc, &s), &lf.file.mac) {
                return Err(OpenFileError::Altered {
                    file: path.clone(),
                    reason: "the file MAC does not match (a field outside the slot that opened was changed)".into(),
                });
            }
            let idx = lf.file.own.index;
            let want = &lf.file.common.commitments[idx as usize - 1];
            if !crypto::ct_eq(
                &crypto::share_commitment(&lf.file.common.set_id, idx, &s),
                want,
            ) {
                return Err(OpenFileError::Altered {
                    file: path.clone(),
                    reason: "the secret in the slot does not match the set's commitment".into(),
                });
            }
            Ok(Some(Opened {
                s,
                slot: i,
                a: a.clone(),
            }))
        }
        Err(OpenError::Token(
            e @ (TokenError::PinIncorrect { .. }
            | TokenError::PinLocked { .. }
            | TokenError::NoPin { .. }),
        )) => Err(OpenFileError::Token {
            file: path.clone(),
            error: e,
        }),
        Err(OpenError::BadPoint(r)) => Err(OpenFileError::Altered {
            file: path.clone(),
            reason: format!("slot {}: the ephemeral key {r}", i + 1),
        }),
        Err(OpenError::Aead) => Err(OpenFileError::Altered {
            file: path.clone(),
            reason: format!(
                "slot {}: its key commitment matched but its ciphertext did not open",
                i + 1
            ),
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

/// Restore or verify a single (1-of-1) backup.
pub fn open_backup(
    path: &Path,
    overrides: &[TokenLocator],
    env: TokenEnv,
    prompter: &mut dyn Prompter,
) -> Result<OpenedBackup, OpenFileError> {
    let lf = load(path)?;
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
    let mut tokens = Tokens::new(env, prompter);
    let opened = open_file(&lf, overrides, &mut tokens)?;
    let secret =
        decrypt_payload(&lf.file, &lf.enc, &opened.s).ok_or_else(|| OpenFileError::Altered {
            file: path.to_owned(),
            reason: "the payload does not decrypt under the data key".into(),
        })?;
    if !crypto::ct_eq(&crypto::fingerprint(&secret), &lf.file.common.fingerprint) {
        return Err(OpenFileError::Altered {
            file: path.to_owned(),
            reason: "the secret does not match the file's fingerprint".into(),
        });
    }
    Ok(OpenedBackup {
        secret: SecretBox::new(Box::new(secret.to_vec())),
        set_id: lf.file.common.set_id,
        fingerprint: lf.file.common.fingerprint,
        weak_kdf: lf.file.own.kdf.is_weak(),
        opened_with: lf.file.slots[opened.slot].descriptor.describe(),
        label: lf.file.common.label.clone(),
    })
}

// ───────────────────────────── inspect ─────────────────────────────

/// Everything in a file that is not secret, as JSON (values as stored; escape them to display).
pub fn inspect_json(lf: &LoadedFile) -> serde_json::Value {
    use serde_json::json;
    let f = &lf.file;
    let slots: Vec<_> = f
        .slots
        .iter()
        .map(|s| {
            let mut v = match &s.descriptor {
                Descriptor::Pkcs11 {
                    token_label,
                    token_serial,
                    key_label,
                    key_id,
                    key_hash,
                    ..
                } => json!({
                    "token_label": token_label,
                    "token_serial": token_serial,
                    "key_label": key_label,
                    "key_id": hex::encode(key_id),
                    "key_hash": key_hash.map(hex::encode),
                }),
                Descriptor::Piv {
                    card_serial,
                    piv_slot,
                    key_hash,
                } => json!({
                    "card_serial": card_serial,
                    "piv_slot": format!("{piv_slot:02x}"),
                    "key_hash": hex::encode(key_hash),
                }),
            };
            v["kind"] = json!(s.descriptor.kind().name());
            v["verified"] = json!(s.verified);
            v
        })
        .collect();
    json!({
        "file": lf.path.display().to_string(),
        "format_version": 1,
        "set_id": hex::encode(f.common.set_id),
        "created": f.common.created,
        "label": f.common.label,
        "threshold": f.common.threshold,
        "count": f.common.count,
        "index": f.own.index,
        "officers": f.common.officers,
        "fingerprint": crypto::fingerprint_display(&f.common.fingerprint),
        "fingerprint_full": hex::encode(f.common.fingerprint),
        "hint": f.own.hint,
        "kdf": {
            "algorithm": "argon2id",
            "memory_kib": f.own.kdf.memory_kib,
            "iterations": f.own.kdf.iterations,
            "parallelism": f.own.kdf.parallelism,
            "weak": f.own.kdf.is_weak(),
        },
        "secret_bytes": f.payload.len() - format::TAG_BYTES,
        "tokens_that_can_open": f.slots.len(),
        "slots": slots,
    })
}

/// The same, for people.
pub fn inspect_text(lf: &LoadedFile) -> String {
    let f = &lf.file;
    let mut o = String::new();
    let mut o_line: Vec<String> = Vec::new();
    let mut line = |k: &str, v: String| o.push_str(&format!("{k:<13}{v}\n"));
    line("file:", lf.path.display().to_string());
    line("format:", "custody-backup v1".into());
    line("set id:", hex::encode(f.common.set_id));
    line(
        "fingerprint:",
        crypto::fingerprint_display(&f.common.fingerprint),
    );
    line("created:", f.common.created.clone());
    line("label:", display_escaped(&f.common.label));
    if f.common.count == 1 {
        line("kind:", "single backup (1 of 1)".into());
    } else {
        line(
            "kind:",
            format!(
                "share {} of a {}-of-{} split set",
                f.own.index, f.common.threshold, f.common.count
            ),
        );
        let officer = &f.common.officers[f.own.index as usize - 1];
        line("officer:", display_escaped(officer));
        for (i, o) in f.common.officers.iter().enumerate() {
            o_line.push(format!(
                "  share {}: {}{}",
                i + 1,
                if o.is_empty() {
                    "(no officer named)".to_string()
                } else {
                    display_escaped(o)
                },
                if i + 1 == f.own.index as usize {
                    "  <- this file"
                } else {
                    ""
                }
            ));
        }
    }
    line("hint:", display_escaped(&f.own.hint));
    line(
        "password kdf:",
        format!(
            "argon2id m={} MiB t={} p={}{}",
            f.own.kdf.memory_kib / 1024,
            f.own.kdf.iterations,
            f.own.kdf.parallelism,
            if f.own.kdf.is_weak() { "  WEAK" } else { "" }
        ),
    );
    line(
        "secret:",
        format!("{} bytes", f.payload.len() - format::TAG_BYTES),
    );
    line(
        "tokens:",
        format!(
            "{} token{} can open this file (each together with the password)",
            f.slots.len(),
            if f.slots.len() == 1 { "" } else { "s" }
        ),
    );
    for (i, s) in f.slots.iter().enumerate() {
        o.push_str(&format!(
            "  slot {}: {} [{}]{}\n",
            i + 1,
            s.descriptor.describe(),
            s.descriptor.kind().name(),
            if s.verified {
                "  opened when made"
            } else {
                "  UNVERIFIED (made from a public key alone)"
            }
        ));
        if let Some(h) = s.descriptor.key_hash() {
            o.push_str(&format!("          key hash {}\n", hex::encode(h)));
        }
    }
    if !o_line.is_empty() {
        o.push_str("shares:\n");
        for l in o_line {
            o.push_str(&l);
            o.push('\n');
        }
    }
    o
}

// ───────────────────────────── split sets ─────────────────────────────

/// Why a set of share files did not give the secret.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetError {
    /// Fewer than K good shares: how many more, and who holds the rest.
    NotEnough {
        set_id: [u8; 16],
        have: usize,
        need: usize,
        holders: Vec<String>,
        problems: Vec<String>,
    },
    /// The shares did not combine to the secret the set names (never output).
    Inconsistent {
        reason: String,
        problems: Vec<String>,
    },
    /// A failure that stops everything (a wrong or locked PIN is never retried).
    Fatal(OpenFileError),
    /// No file given is a readable backup.
    NothingReadable { problems: Vec<String> },
}

impl fmt::Display for SetError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let list = |f: &mut fmt::Formatter<'_>, problems: &[String]| -> fmt::Result {
            for p in problems {
                write!(f, "\n  - {p}")?;
            }
            Ok(())
        };
        match self {
            SetError::NotEnough {
                set_id,
                have,
                need,
                holders,
                problems,
            } => {
                write!(
                    f,
                    "not enough shares of set {}: {have} good, {need} needed ({} more). The \
                     other shares are held by: {}",
                    hex::encode(set_id),
                    need - have,
                    holders.join(", ")
                )?;
                list(f, problems)
            }
            SetError::Inconsistent { reason, problems } => {
                write!(f, "the shares do not agree: {reason}; no secret was output")?;
                list(f, problems)
            }
            SetError::Fatal(e) => write!(f, "{e}"),
            SetError::NothingReadable { problems } => {
                write!(f, "none of the files is a readable custody backup")?;
                list(f, problems)
            }
        }
    }
}

impl std::error::Error for SetError {}

impl SetError {
    pub fn exit_code(&self) -> i32 {
        match self {
            SetError::NotEnough { .. } => exit::NOT_ENOUGH_SHARES,
            SetError::Inconsistent { .. } | SetError::NothingReadable { .. } => exit::DAMAGED,
            SetError::Fatal(e) => e.exit_code(),
        }
    }
    pub fn advice(&self) -> &'static str {
        match self {
            SetError::NotEnough { .. } => {
                "bring the officers named above with their shares, passwords and tokens"
            }
            SetError::Inconsistent { .. } => {
                "do not trust these files; restore from other shares and report the incident"
            }
            SetError::Fatal(e) => e.advice(),
            SetError::NothingReadable { .. } => "check the files given",
        }
    }
}

/// One share that opened: its index, value, and where it came from.
struct GoodShare {
    index: u8,
    s: Key32,
    file: PathBuf,
}

fn officer_name(file: &BackupFile, index: u8) -> String {
    let o = &file.common.officers[index as usize - 1];
    if o.is_empty() {
        format!("share {index}")
    } else {
        format!("officer {} (share {index})", display_escaped(o))
    }
}

/// What a verify of share files found.
pub enum SetCheck {
    /// Enough shares: the whole set opened and the secret matches its fingerprint.
    Whole(OpenedBackup),
    /// Fewer than K files: each share given opened and matches its commitment.
    Shares {
        set_id: [u8; 16],
        fingerprint: [u8; 16],
        threshold: u8,
        count: u8,
        opened: Vec<(PathBuf, String)>,
    },
}

/// Restore (or verify) from several share files: group them by set, open each officer's share
/// in turn, name every bad one, combine K good ones, cross-check the rest, check the secret.
/// With `partial_ok`, fewer than K shares is a verify of each share alone.
pub fn open_set(
    paths: &[PathBuf],
    overrides: &[TokenLocator],
    env: TokenEnv,
    prompter: &mut dyn Prompter,
    partial_ok: bool,
) -> Result<SetCheck, SetError> {
    let mut problems: Vec<String> = Vec::new();
    let mut loaded: Vec<(usize, LoadedFile)> = Vec::new();
    for (pos, p) in paths.iter().enumerate() {
        match load(p) {
            Ok(lf) => loaded.push((pos, lf)),
            Err(e) => problems.push(format!("{e}")),
        }
    }
    if loaded.is_empty() {
        return Err(SetError::NothingReadable { problems });
    }
    // Files of one set share the common header and the payload byte for byte.
    let key = |lf: &LoadedFile| (lf.enc.common().to_vec(), lf.file.payload.clone());
    let mut groups: Vec<(Vec<u8>, Vec<u8>, Vec<usize>)> = Vec::new();
    for (i, (_, lf)) in loaded.iter().enumerate() {
        let (c, pl) = key(lf);
        match groups.iter_mut().find(|g| g.0 == c && g.1 == pl) {
            Some(g) => g.2.push(i),
            None => groups.push((c, pl, vec![i])),
        }
    }
    // The set restored is the one with the most distinct shares: a file given twice counts once.
    let distinct = |g: &(Vec<u8>, Vec<u8>, Vec<usize>)| {
        let mut idx: Vec<u8> = g.2.iter().map(|&i| loaded[i].1.file.own.index).collect();
        idx.sort_unstable();
        idx.dedup();
        idx.len()
    };
    let main = groups
        .iter()
        .enumerate()
        .max_by_key(|(gi, g)| (distinct(g), usize::MAX - gi))
        .map(|(gi, _)| gi)
        .expect("one group");
    let first = &loaded[groups[main].2[0]].1;
    let set_id = first.file.common.set_id;
    for (gi, g) in groups.iter().enumerate() {
        if gi == main {
            continue;
        }
        for &i in &g.2 {
            let lf = &loaded[i].1;
            problems.push(if lf.file.common.set_id == set_id {
                format!(
                    "{}: claims set {} but its header or payload differs from {}: one of the \
                     two was altered, or comes from another backup with a forged set id",
                    lf.path.display(),
                    hex::encode(set_id),
                    first.path.display()
                )
            } else {
                format!(
                    "{}: from another set ({}, fingerprint {}), not set {}",
                    lf.path.display(),
                    hex::encode(lf.file.common.set_id),
                    crypto::fingerprint_display(&lf.file.common.fingerprint),
                    hex::encode(set_id)
                )
            });
        }
    }
    let common = first.file.common.clone();
    let (k, n) = (common.threshold, common.count);
    show_header(first, prompter);
    prompter.info(&format!(
        "  set:         {k} of {n} shares needed{}",
        if n == 1 { " (a single backup)" } else { "" }
    ));

    // A byte-identical second copy of a share is named and counted once. Two different files
    // for one index are both kept: whichever opens is the genuine one, the other is named.
    let mut members: Vec<(usize, &LoadedFile)> = Vec::new();
    for &i in &groups[main].2 {
        let (pos, lf) = (&loaded[i].0, &loaded[i].1);
        let idx = lf.file.own.index;
        if let Some((_, other)) = members
            .iter()
            .find(|(_, o)| o.file.own.index == idx && o.enc.bytes == lf.enc.bytes)
        {
            problems.push(format!(
                "{}: the same share as {} (share {idx}) given twice; counted once",
                lf.path.display(),
                other.path.display()
            ));
            continue;
        }
        members.push((*pos, lf));
    }
    let distinct_members = {
        let mut idx: Vec<u8> = members.iter().map(|(_, lf)| lf.file.own.index).collect();
        idx.sort_unstable();
        idx.dedup();
        idx
    };
    let holders_of = |good: &[GoodShare]| -> Vec<String> {
        (1..=n)
            .filter(|i| !good.iter().any(|g| g.index == *i))
            .map(|i| officer_name(&first.file, i))
            .collect()
    };
    if distinct_members.len() < k as usize && !partial_ok {
        let have = &distinct_members;
        return Err(SetError::NotEnough {
            set_id,
            have: have.len(),
            need: k as usize,
            holders: (1..=n)
                .filter(|i| !have.contains(i))
                .map(|i| officer_name(&first.file, i))
                .collect(),
            problems,
        });
    }

    let mut tokens = Tokens::new(env, prompter);
    let mut good: Vec<GoodShare> = Vec::new();
    for (pos, lf) in &members {
        // Another file for this index already opened: this one is not needed, and not genuine.
        if let Some(g) = good.iter().find(|g| g.index == lf.file.own.index) {
            problems.push(format!(
                "{}: another file for share {} than {}, which opened: this one is not genuine",
                lf.path.display(),
                g.index,
                g.file.display()
            ));
            continue;
        }
        let who = format!(
            "{}, {}",
            officer_name(&lf.file, lf.file.own.index),
            lf.path.display()
        );
        let plan = match plan_file(lf, overrides, &mut tokens) {
            Ok(p) => p,
            Err(e) if partial_ok && distinct_members.len() < k as usize => {
                return Err(SetError::Fatal(e));
            }
            Err(e) => {
                problems.push(format!("{who}: {e}"));
                continue;
            }
        };
        tokens.prompter().info(&format!("Share of {who}"));
        if !lf.file.own.hint.is_empty() {
            tokens.prompter().info(&format!(
                "Password hint: {}",
                display_escaped(&lf.file.own.hint)
            ));
        }
        let password = match tokens.prompter().share_password(&who, *pos) {
            Ok(Some(p)) => p,
            Ok(None) => {
                problems.push(format!("{who}: skipped (officer absent)"));
                continue;
            }
            Err(error) => {
                return Err(SetError::Fatal(OpenFileError::Prompt {
                    file: lf.path.clone(),
                    error,
                }));
            }
        };
        match attempt_file(lf, plan, overrides, &mut tokens, &password) {
            Ok(o) => good.push(GoodShare {
                index: lf.file.own.index,
                s: o.s,
                file: lf.path.clone(),
            }),
            // A wrong PIN is never tried again on the next officer's file.
            Err(e @ OpenFileError::Token { .. }) if e.exit_code() != exit::NOT_FOUND => {
                return Err(SetError::Fatal(e));
            }
            // Checking shares one by one: each share's own failure is the answer.
            Err(e) if partial_ok && distinct_members.len() < k as usize => {
                return Err(SetError::Fatal(e));
            }
            Err(e) => problems.push(format!(
                "{}: {e}",
                officer_name(&lf.file, lf.file.own.index)
            )),
        }
    }

    if good.len() < k as usize {
        if partial_ok && !good.is_empty() && problems.is_empty() {
            return Ok(SetCheck::Shares {
                set_id,
                fingerprint: common.fingerprint,
                threshold: k,
                count: n,
                opened: good
                    .iter()
                    .map(|g| (g.file.clone(), officer_name(&first.file, g.index)))
                    .collect(),
            });
        }
        return Err(SetError::NotEnough {
            set_id,
            have: good.len(),
            need: k as usize,
            holders: holders_of(&good),
            problems,
        });
    }

    // K good shares give D; every extra share must give the same D with K−1 of the others.
    let d = if n == 1 {
        good[0].s.clone()
    } else {
        let shares: Vec<shamir::Share> = good
            .iter()
            .map(|g| shamir::Share {
                index: g.index,
                value: g.s.clone(),
            })
            .collect();
        let base: Vec<&shamir::Share> = shares.iter().take(k as usize).collect();
        let d = shamir::combine(&base, k).map_err(|reason| SetError::Inconsistent {
            reason,
            problems: problems.clone(),
        })?;
        for (e, extra) in shares.iter().enumerate().skip(k as usize) {
            let mut subset: Vec<&shamir::Share> = shares.iter().take(k as usize - 1).collect();
            subset.push(extra);
            let d2 = shamir::combine(&subset, k).map_err(|reason| SetError::Inconsistent {
                reason,
                problems: problems.clone(),
            })?;
            if !crypto::ct_eq(&d2[..], &d[..]) {
                return Err(SetError::Inconsistent {
                    reason: format!(
                        "{} is at odds with the other shares",
                        good[e].file.display()
                    ),
                    problems,
                });
            }
        }
        d
    };
    let secret =
        decrypt_payload(&first.file, &first.enc, &d).ok_or_else(|| SetError::Inconsistent {
            reason: "the combined data key does not decrypt the secret".into(),
            problems: problems.clone(),
        })?;
    if !crypto::ct_eq(&crypto::fingerprint(&secret), &common.fingerprint) {
        return Err(SetError::Inconsistent {
            reason: "the secret does not match the set's fingerprint".into(),
            problems,
        });
    }
    let prompter = tokens.prompter();
    for p in &problems {
        prompter.warn(p);
    }
    Ok(SetCheck::Whole(OpenedBackup {
        secret: SecretBox::new(Box::new(secret.to_vec())),
        set_id,
        fingerprint: common.fingerprint,
        weak_kdf: members.iter().any(|(_, lf)| lf.file.own.kdf.is_weak()),
        opened_with: good
            .iter()
            .map(|g| officer_name(&first.file, g.index))
            .collect::<Vec<_>>()
            .join(", "),
        label: common.label.clone(),
    }))
}
