//! Changing files without changing the secret: `rewrap` (one file's password and tokens) and
//! `reshare` (a new set from K shares of an old one).

use std::fmt;
use std::path::PathBuf;


use super::{
    BackupError, LoadedFile, OpenFileError, Opened, attempt_file, check_kdf_request,
    check_written, load, plan_file, show_header,
};
use crate::secret::{MasterSecret, Password};
use crate::crypto;
use crate::error::ErrorKind;
use crate::format::{
    self, BackupFile, Descriptor, FileFields, KdfParams, display_escaped, normalize_free_text,
};
use crate::media;
use crate::prompt::Prompter;
use crate::slot;
use crate::token::registry::{TokenEnv, Tokens};
use crate::token::uri::TokenLocator;
use crate::token::{KeyOps, PinHint, TokenKey};

/// Argon2id parameters to change; `None` keeps the file's.
#[derive(Clone, Copy, Debug, Default)]
pub struct KdfChange {
    pub memory_kib: Option<u32>,
    pub iterations: Option<u32>,
    pub parallelism: Option<u32>,
}

impl KdfChange {
    pub fn is_empty(&self) -> bool {
        self.memory_kib.is_none() && self.iterations.is_none() && self.parallelism.is_none()
    }
    fn apply(&self, old: KdfParams) -> KdfParams {
        KdfParams {
            memory_kib: self.memory_kib.unwrap_or(old.memory_kib),
            iterations: self.iterations.unwrap_or(old.iterations),
            parallelism: self.parallelism.unwrap_or(old.parallelism),
        }
    }
}

/// What `custody rewrap` asks for.
pub struct RewrapRequest {
    pub file: PathBuf,
    pub out: PathBuf,
    /// `--token`: which token opens the file (else found from the file).
    pub open_with: Vec<TokenLocator>,
    /// Ask for (or read) a new password.
    pub new_password: bool,
    /// A new hint (only with a new password or new KDF parameters).
    pub hint: Option<String>,
    /// New Argon2id parameters, each one kept from the file when not given (the password is
    /// kept unless `new_password`).
    pub kdf: KdfChange,
    pub allow_weak_kdf: bool,
    pub add: Vec<TokenLocator>,
    pub drop: Vec<TokenLocator>,
    pub force: bool,
}

pub struct RewrapReport {
    pub out: PathBuf,
    pub set_id: [u8; 16],
    pub fingerprint: [u8; 16],
    pub index: u8,
    pub count: u8,
    /// Every slot of the new file: name, and whether it was opened from the written bytes.
    pub slots: Vec<(String, bool)>,
    pub dropped: Vec<String>,
    pub password_changed: bool,
}

#[derive(Debug)]
#[non_exhaustive]
pub enum RewrapError {
    /// The file did not open.
    Open(OpenFileError),
    /// Making or writing the new file failed; nothing was written.
    Make(BackupError),
}

impl fmt::Display for RewrapError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RewrapError::Open(e) => write!(f, "{e}"),
            RewrapError::Make(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RewrapError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RewrapError::Open(e) => Some(e),
            RewrapError::Make(e) => Some(e),
        }
    }
}

impl RewrapError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RewrapError::Open(e) => e.kind(),
            RewrapError::Make(e) => e.kind(),
        }
    }
}

fn invalid(reason: String) -> RewrapError {
    RewrapError::Make(BackupError::Invalid { reason })
}

/// Whether a `--drop-token` locator names this slot's key.
fn matches(loc: &TokenLocator, d: &Descriptor) -> Result<bool, RewrapError> {
    Ok(match (loc, d) {
        (
            TokenLocator::Pkcs11(u),
            Descriptor::Pkcs11 {
                token_label,
                token_serial,
                key_label,
                key_id,
                ..
            },
        ) => {
            u.token_label.as_ref().is_none_or(|l| l == token_label)
                && u.token_serial.as_ref().is_none_or(|s| s == token_serial)
                && u.object_label.as_ref().is_none_or(|l| l == key_label)
                && u.object_id.as_ref().is_none_or(|i| i == key_id)
        }
        (
            TokenLocator::Yubikey(y),
            Descriptor::Piv {
                card_serial,
                piv_slot,
                ..
            },
        ) => y.serial == *card_serial && y.slot.is_none_or(|s| s == *piv_slot),
        (TokenLocator::Pubkey(path), _) => {
            let bytes = media::read_bounded(path, 64 * 1024)
                .map_err(|e| invalid(format!("--drop-token {}: {e}", path.display())))?;
            let f = format::PubkeyFile::parse(&bytes)
                .map_err(|e| invalid(format!("--drop-token {}: {e}", path.display())))?;
            &f.descriptor == d
        }
        _ => false,
    })
}

/// The key of a slot that is kept when everything must be wrapped again: its token must be here.
fn key_for_kept(tokens: &mut Tokens<'_>, d: &Descriptor) -> Result<TokenKey<'static>, RewrapError> {
    let missing = |detail: String| {
        invalid(format!(
            "{} must be present to wrap its slot again under the new password ({detail}); plug \
             it in, or drop it with --drop-token",
            d.describe()
        ))
    };
    if !matches!(d, Descriptor::Pkcs11 { .. }) {
        return Err(missing("YubiKey support is not built yet".into()));
    }
    let presence = tokens.presence(&[d]);
    if let Some(e) = presence.pkcs11_error() {
        return Err(missing(e.to_string()));
    }
    let (present, why) = tokens
        .present_for_slot(&presence, d)
        .ok_or_else(|| missing("not found".into()))?;
    let key = tokens
        .key_for_slot(&present, d, PinHint::default(), why)
        .ok_or_else(|| missing("not found".into()))?
        .map_err(|e| missing(e.to_string()))?;
    // The key found must be the very key of the slot: same descriptor, same public key.
    if key.descriptor != *d {
        return Err(missing("the key found on the token is another one".into()));
    }
    Ok(key)
}

pub fn rewrap(
    req: RewrapRequest,
    env: TokenEnv,
    prompter: &mut dyn Prompter,
) -> Result<RewrapReport, RewrapError> {
    let lf: LoadedFile = load(&req.file).map_err(RewrapError::Open)?;
    show_header(&lf, prompter);
    let file = &lf.file;
    let new_kdf = (!req.kdf.is_empty()).then(|| req.kdf.apply(file.own.kdf));
    if let Some(k) = &new_kdf {
        check_kdf_request(k, req.allow_weak_kdf).map_err(invalid)?;
    }
    let hint = req
        .hint
        .as_deref()
        .map(normalize_free_text)
        .transpose()
        .map_err(|e| invalid(format!("--hint {e}")))?;

    // Which slots stay: every --drop-token must name at least one, and one must remain.
    let mut keep = vec![true; file.slots.len()];
    let mut dropped = Vec::new();
    for loc in &req.drop {
        let mut any = false;
        for (i, s) in file.slots.iter().enumerate() {
            if matches(loc, &s.descriptor)? {
                any |= keep[i];
                if keep[i] {
                    dropped.push(s.descriptor.describe());
                }
                keep[i] = false;
            }
        }
        if !any {
            return Err(invalid(
                "a --drop-token names no slot of this file (see `custody inspect`)".to_string(),
            ));
        }
    }

    let mut tokens = Tokens::new(env, prompter);
    let mut added: Vec<TokenKey<'static>> = Vec::new();
    for loc in &req.add {
        let k = super::resolve_key(&mut tokens, loc)
            .map_err(|error| RewrapError::Make(BackupError::Token { error }))?;
        let dup = file
            .slots
            .iter()
            .enumerate()
            .any(|(i, s)| keep[i] && s.descriptor == k.descriptor)
            || added.iter().any(|o| o.descriptor == k.descriptor);
        if dup {
            return Err(invalid(format!("{} already opens this file", k.name)));
        }
        added.push(k);
    }
    if keep.iter().filter(|k| **k).count() + added.len() == 0 {
        return Err(invalid(
            "that would leave no token able to open the file".to_string(),
        ));
    }

    // Open the file as a restore does: hint, password, then PIN.
    let plan = plan_file(&lf, &req.open_with, &mut tokens).map_err(RewrapError::Open)?;
    if !file.own.hint.is_empty() {
        tokens.prompter().info(&format!(
            "Password hint: {}",
            display_escaped(&file.own.hint)
        ));
    }
    let old_password: Password = tokens
        .prompter()
        .password(&format!("{}", lf.path.display()))
        .map_err(|error| {
            RewrapError::Open(OpenFileError::Prompt {
                file: lf.path.clone(),
                error,
            })
        })?;
    let opened = attempt_file(&lf, plan, &req.open_with, &mut tokens, &old_password)
        .map_err(RewrapError::Open)?;
    let Opened { s, a: old_a, .. } = opened;

    // What the password key is derived from changes: every kept slot is wrapped again.
    let rebuild = req.new_password || new_kdf.is_some() || hint.is_some();
    let (own, a) = if rebuild {
        let (password, new_hint) = if req.new_password {
            let np = tokens
                .prompter()
                .new_password_at(
                    &format!("{} (new password)", req.out.display()),
                    0,
                    hint.is_none(),
                )
                .map_err(|e| RewrapError::Make(BackupError::Prompt(e)))?;
            (np.password, np.hint)
        } else {
            (old_password, None)
        };
        let own = FileFields {
            index: file.own.index,
            hint: match (hint, new_hint) {
                (Some(h), _) => h,
                (None, Some(h)) => {
                    normalize_free_text(&h).map_err(|e| invalid(format!("the hint {e}")))?
                }
                (None, None) if req.new_password => String::new(),
                (None, None) => file.own.hint.clone(),
            },
            kdf: new_kdf.unwrap_or(file.own.kdf),
            kdf_salt: crypto::random_array(),
        };
        tokens
            .prompter()
            .info("Deriving the new password key (Argon2id)...");
        let a = crypto::argon2id(&password, &own.kdf_salt, &own.kdf).map_err(invalid)?;
        (own, a)
    } else {
        (file.own.clone(), old_a)
    };

    // Slots: kept ones as they are (or wrapped again), then the new ones.
    let hc = crypto::common_header_hash(lf.enc.common());
    let ff = format::encode_file_fields(&own);
    let mut slots = Vec::new();
    let mut names = Vec::new();
    let mut to_check: Vec<(usize, TokenKey<'static>)> = Vec::new();
    for (i, old) in file.slots.iter().enumerate() {
        if !keep[i] {
            continue;
        }
        if rebuild {
            let key = key_for_kept(&mut tokens, &old.descriptor)?;
            let slot = slot::make_slot(&hc, &ff, &key, &a, &s)
                .map_err(|error| RewrapError::Make(BackupError::Token { error }))?;
            names.push((key.name.clone(), true));
            slots.push(slot);
            to_check.push((slots.len() - 1, key));
        } else {
            names.push((old.descriptor.describe(), old.verified));
            slots.push(old.clone());
        }
    }
    for key in added {
        let slot = slot::make_slot(&hc, &ff, &key, &a, &s)
            .map_err(|error| RewrapError::Make(BackupError::Token { error }))?;
        names.push((key.name.clone(), slot.verified));
        slots.push(slot);
        to_check.push((slots.len() - 1, key));
    }
    let mut new_file = BackupFile {
        common: lf.file.common.clone(),
        own,
        slots,
        payload: lf.file.payload.clone(),
        mac: [0; 32],
    };
    let enc = new_file.encode().map_err(|e| invalid(e.to_string()))?;
    new_file.mac = slot::compute_mac(&new_file, &enc, &s);
    let enc = new_file.encode().map_err(|e| invalid(e.to_string()))?;

    // Every new slot whose token is here opens from the bytes about to be written.
    for (_, key) in &to_check {
        if matches!(key.ops, KeyOps::PublicOnly(_)) {
            tokens.prompter().warn(&format!(
                "the slot for {} was made from a public key alone and cannot be checked now. \
                 Compare its key hash {} with the key-generation record.",
                key.name,
                hex::encode(key.descriptor.key_hash().copied().unwrap_or_default())
            ));
        }
    }
    super::check_slots_open(&enc, to_check.iter().map(|(j, k)| (*j, k)), &a, &s)
        .map_err(RewrapError::Make)?;

    let single = lf.file.common.count == 1;
    let d = single.then(|| s.to_data_key());
    let d_and_secret = d
        .as_ref()
        .and_then(|d| super::decrypt_payload(&lf.file, &lf.enc, d).map(|p| (d, p)));
    let outcome = media::write_new(&req.out, &enc.bytes, req.force, &mut |bytes| {
        check_written(
            bytes,
            &s,
            d_and_secret.as_ref().map(|(d, p)| (*d, p.expose())),
        )
    })
    .map_err(|error| RewrapError::Make(BackupError::Write { error }))?;
    if outcome.mode_ignored {
        tokens.prompter().warn(&format!(
            "the filesystem of {} does not keep file modes: the file is readable by whoever can \
             read the medium. It is still protected by the token and password.",
            req.out.display()
        ));
    }
    Ok(RewrapReport {
        out: req.out,
        set_id: lf.file.common.set_id,
        fingerprint: lf.file.common.fingerprint,
        index: lf.file.own.index,
        count: lf.file.common.count,
        slots: names,
        dropped,
        password_changed: req.new_password,
    })
}

/// Why a reshare did not make a new set.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReshareError {
    /// The old set did not open.
    Open(super::SetError),
    /// The new set could not be made; see [`BackupError::PartialSet`] for a partial write.
    Make(BackupError),
}

impl fmt::Display for ReshareError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReshareError::Open(e) => write!(f, "{e}"),
            ReshareError::Make(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for ReshareError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ReshareError::Open(e) => Some(e),
            ReshareError::Make(e) => Some(e),
        }
    }
}

impl ReshareError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ReshareError::Open(e) => e.kind(),
            ReshareError::Make(e) => e.kind(),
        }
    }
}

/// Open K shares of an old set (or a single backup) and make a new set of the same secret:
/// new set id, new D, new threshold, officers, passwords and tokens. `new_set` receives the
/// secret and the old label and describes the new set.
pub fn reshare(
    old: &[PathBuf],
    open_with: &[TokenLocator],
    new_set: impl FnOnce(MasterSecret, String) -> super::SetRequest,
    env: TokenEnv,
    prompter: &mut dyn Prompter,
) -> Result<super::BackupReport, ReshareError> {
    let opened = match super::open_set(old, open_with, env.clone(), prompter, false)
        .map_err(ReshareError::Open)?
    {
        super::SetCheck::Whole(o) => o,
        // open_set gives a partial set only when asked to (verify of some shares).
        super::SetCheck::Shares { .. } => {
            return Err(ReshareError::Open(super::SetError::NothingReadable {
                problems: vec!["the old set opened only in part".into()],
            }));
        }
    };
    prompter.info(&format!(
        "The old set {} opened; making the new set of the same secret (fingerprint {}).",
        hex::encode(opened.set_id),
        crypto::fingerprint_display(&opened.fingerprint)
    ));
    let req = new_set(opened.secret, opened.label);
    super::backup_set(req, env, prompter).map_err(ReshareError::Make)
}
