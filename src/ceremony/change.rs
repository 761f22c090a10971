//! Changing files without changing the secret: `rewrap` (one file's password and tokens) and
//! `reshare` (a new set from K shares of an old one).

use std::fmt;
use std::path::PathBuf;

use super::{
    BackupError, Input, KdfLimits, KeySpec, LoadOptions, LoadedFile, OpenFileError, Opened, Output,
    RequestError, TextField, announce_text_copy, attempt_with, check_cost, check_kdf_request,
    check_memory, check_written, load_input_with, plan_file, prove_first, show_header,
};
use crate::crypto;
use crate::error::ErrorKind;
use crate::format::{
    self, BackupFile, Descriptor, FileFields, KdfParams, SlotKind, display_path,
    normalize_free_text,
};
use crate::media;
use crate::prompt::Prompter;
use crate::secret::Password;
use crate::slot;
use crate::token::registry::{TokenEnv, Tokens};
use crate::token::uri::TokenLocator;
use crate::token::{KeyOps, PinHint, TokenKey};

/// Argon2id parameters to change; `None` keeps the file's.
/// Argon2id parameters to change at a rewrap; `None` keeps the file's.
#[derive(Clone, Copy, Debug, Default)]
pub struct KdfChange {
    /// Memory in KiB.
    pub memory_kib: Option<u32>,
    /// Passes.
    pub iterations: Option<u32>,
    /// Lanes.
    pub parallelism: Option<u32>,
}

impl KdfChange {
    /// Whether nothing changes.
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
    /// The file to rewrap.
    pub file: Input,
    /// Where the new file goes.
    pub out: Output,
    /// Which keys open the file (else found from the file's slots).
    pub open_with: Vec<KeySpec>,
    /// Ask for (or read) a new password.
    pub new_password: bool,
    /// A new hint (only with a new password or new KDF parameters).
    pub hint: Option<String>,
    /// New Argon2id parameters, each one kept from the file when not given (the password is
    /// kept unless `new_password`).
    pub kdf: KdfChange,
    /// Accept new Argon2id parameters below the minimum.
    pub allow_weak_kdf: bool,
    /// Keys to add a slot for.
    pub add: Vec<KeySpec>,
    /// Accept an added key that is not bound to its token (see
    /// [`BackupOptions::allow_exportable_key`](super::BackupOptions)).
    pub allow_exportable_key: bool,
    /// Locators naming slots to drop.
    pub drop: Vec<TokenLocator>,
    /// Replace an existing output file.
    pub force: bool,
    /// The Argon2id cost the file may ask for without a confirmation.
    pub kdf_limits: KdfLimits,
    /// What the file's fingerprint is compared with, right after it is read.
    pub expect: super::Expectation,
    /// Read a Windows text-mode copy as the bytes it was made from, and say so through the
    /// prompter (see [`LoadOptions`]); off, the file is read strictly.
    pub repair_text_copies: bool,
}

/// What a rewrap made.
pub struct RewrapReport {
    /// Where the new file went (or its name, in memory).
    pub out: PathBuf,
    /// The new file's bytes, for an output in memory.
    pub bytes: Option<Vec<u8>>,
    /// The set id, unchanged.
    pub set_id: [u8; 16],
    /// The secret's fingerprint, unchanged.
    pub fingerprint: [u8; 16],
    /// How the file's fingerprint was checked before anything was asked for it.
    pub checked: super::FingerprintCheck,
    /// The file's share index (1 for a single backup).
    pub index: u8,
    /// How many files the set has (1 for a single backup).
    pub count: u8,
    /// Every slot of the new file: name, and whether it was opened from the written bytes.
    pub slots: Vec<(String, bool)>,
    /// The slots dropped, for people.
    pub dropped: Vec<String>,
    /// Whether the password changed.
    pub password_changed: bool,
    /// The key of the slot that opened the file.
    pub opened_by: Descriptor,
}

/// Why a rewrap made no new file.
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
            let unreadable = |reason: String| {
                RewrapError::Make(BackupError::Request(RequestError::DropUnreadable {
                    path: path.clone(),
                    reason,
                }))
            };
            let bytes =
                media::read_bounded(path, 64 * 1024).map_err(|e| unreadable(e.to_string()))?;
            let f = format::PubkeyFile::parse(&bytes).map_err(|e| unreadable(e.to_string()))?;
            &f.descriptor == d
        }
        _ => false,
    })
}

/// The key of a slot that is kept when everything must be wrapped again: its token must be here.
/// A public key given for a kept slot (its key hash matches), as a key that makes a slot and
/// opens none.
fn public_for(public: &[TokenKey<'static>], d: &Descriptor) -> Option<TokenKey<'static>> {
    public
        .iter()
        .find(|k| k.descriptor == *d)
        .and_then(|k| match &k.ops {
            KeyOps::PublicOnly(p) => Some(TokenKey {
                hardware_bound: false,
                name: k.name.clone(),
                descriptor: k.descriptor.clone(),
                ops: KeyOps::PublicOnly(*p),
            }),
            _ => None,
        })
}

fn kept_missing(d: &Descriptor, detail: String) -> RewrapError {
    // A P-256 slot can be made again from its public key alone; an AES slot needs its token.
    let p256 = !matches!(
        d,
        Descriptor::Pkcs11 {
            kind: SlotKind::Pkcs11Aes,
            ..
        }
    );
    invalid(format!(
        "{} must be present to wrap its slot again under the new password ({detail}); plug it \
         in, {}or drop it with --drop-token",
        d.describe(),
        if p256 {
            "give its public key with --token pubkey:FILE (`custody token pubkey` writes it \
             where the key is), "
        } else {
            ""
        }
    ))
}

fn key_for_kept(tokens: &mut Tokens<'_>, d: &Descriptor) -> Result<TokenKey<'static>, RewrapError> {
    let missing = |detail: String| kept_missing(d, detail);
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

/// Open one file and write it again with another password, hint, KDF or keys: the same secret
/// (or share), the same set. Nothing about the set changes, so the other shares stay valid.
pub fn rewrap(
    req: RewrapRequest,
    env: TokenEnv,
    prompter: &mut dyn Prompter,
) -> Result<RewrapReport, RewrapError> {
    let options = LoadOptions {
        repair_text_copies: req.repair_text_copies,
    };
    let lf: LoadedFile = load_input_with(&req.file, options).map_err(RewrapError::Open)?;
    announce_text_copy(&lf, prompter);
    show_header(&lf, prompter);
    let checked = super::check_expectation(
        &lf.path,
        &lf.file.common.set_id,
        &lf.file.common.fingerprint,
        &req.expect,
        prompter,
    )
    .map_err(|e| RewrapError::Open(OpenFileError::Fingerprint(e)))?;
    let file = &lf.file;
    let new_kdf = (!req.kdf.is_empty()).then(|| req.kdf.apply(file.own.kdf));
    let request = |e| RewrapError::Make(BackupError::Request(e));
    // A public key given to open with (`pubkey:FILE`) opens nothing: it is the public key of a
    // kept P-256 or YubiKey slot whose token is absent, for wrapping that slot again.
    let (public, open_with): (Vec<KeySpec>, Vec<KeySpec>) =
        req.open_with.into_iter().partition(|k| match k {
            KeySpec::Locator(loc) => matches!(loc, TokenLocator::Pubkey(_)),
            KeySpec::Key(k) => matches!(k.ops, KeyOps::PublicOnly(_)),
        });
    let public: Vec<TokenKey<'static>> = public
        .into_iter()
        .map(|k| match k {
            KeySpec::Locator(TokenLocator::Pubkey(path)) => super::resolve_pubkey(&path),
            KeySpec::Locator(_) => Err(crate::token::TokenError::NotFound {
                what: "not a public key".into(),
            }),
            KeySpec::Key(k) => Ok(k),
        })
        .collect::<Result<_, _>>()
        .map_err(|error| RewrapError::Make(BackupError::Token { error }))?;
    if let Some(k) = &new_kdf {
        check_kdf_request(k, req.allow_weak_kdf).map_err(request)?;
    }
    let hint = req
        .hint
        .as_deref()
        .map(|h| super::request::text(TextField::Hint, h))
        .transpose()
        .map_err(request)?;

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
            return Err(request(RequestError::DropNamesNoSlot));
        }
    }

    // Where the new file goes, before any question, token, PIN or password.
    super::backup::check_output_folders([&req.out], req.force).map_err(RewrapError::Make)?;

    // What Argon2id will cost, before any token or password: the file's (it asks), then the
    // new parameters' (run after it, not beside it).
    check_cost(&[&lf], &req.kdf_limits, prompter)
        .map_err(|e| RewrapError::Open(OpenFileError::Cost(e)))?;
    check_memory(&lf.path, &[file.own.kdf])
        .map_err(|e| RewrapError::Open(OpenFileError::Cost(e)))?;
    if let Some(k) = &new_kdf {
        check_memory(req.out.name(), &[*k]).map_err(|e| RewrapError::Make(BackupError::Cost(e)))?;
    }

    let mut tokens = Tokens::new(env, prompter);
    // Every token this rewrap will need, before any PIN: the added keys', and, when every kept
    // slot is wrapped again, the kept slots' (a YubiKey slot's key is even checked).
    super::check_keys_before_login(&mut tokens, req.add.iter())
        .map_err(|error| RewrapError::Make(BackupError::Token { error }))?;
    if req.new_password || new_kdf.is_some() || hint.is_some() {
        for (i, s) in file.slots.iter().enumerate() {
            if keep[i]
                && let Err(e) = tokens.check_slot_before_login(&s.descriptor)
                && public_for(&public, &s.descriptor).is_none()
            {
                return Err(kept_missing(&s.descriptor, e.to_string()));
            }
        }
    }
    let mut added: Vec<TokenKey<'static>> = Vec::new();
    // The keys added are refused when not bound to their token; the file's own are only
    // warned about when they are used to open it.
    tokens.require_bound(!req.allow_exportable_key);
    for spec in req.add {
        let k = match spec {
            KeySpec::Locator(loc) => super::resolve_key(&mut tokens, &loc)
                .map_err(|error| RewrapError::Make(BackupError::Token { error }))?,
            KeySpec::Key(k) => k,
        };
        super::check_bound(&k, req.allow_exportable_key)
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
    // Backup warns about a single token unless told --single-token; a rewrap that drops down to
    // one says the same, once, when it happens.
    let left: Vec<String> = file
        .slots
        .iter()
        .zip(&keep)
        .filter(|(_, k)| **k)
        .map(|(s, _)| s.descriptor.describe())
        .chain(added.iter().map(|k| k.name.clone()))
        .collect();
    if let [only] = left.as_slice()
        && file.slots.len() > 1
    {
        tokens.prompter().warn(
            &format!(
                "after this rewrap only {only} opens {}: if that token is lost or broken, the \
                 file is lost with it",
                display_path(req.out.name())
            ),
            "keep a spare: add one with --new-token (a public key, --new-token pubkey:FILE, is \
             enough), now or in another rewrap",
        );
    }

    tokens.require_bound(false);
    // Open the file as a restore does: the token key proven first, then hint and password.
    let plan = plan_file(&lf, &open_with, &mut tokens).map_err(RewrapError::Open)?;
    let proven = prove_first(&lf, plan, &open_with, &mut tokens).map_err(RewrapError::Open)?;
    super::show_hint(&lf, tokens.prompter());
    let old_password: Password = tokens
        .prompter()
        .password(&display_path(&lf.path))
        .map_err(|error| {
            RewrapError::Open(OpenFileError::Prompt {
                file: lf.path.clone(),
                error,
            })
        })?;
    let opened =
        attempt_with(&lf, &proven, &old_password, tokens.prompter()).map_err(RewrapError::Open)?;
    let Opened {
        s,
        a: old_a,
        slot: opened_slot,
    } = opened;

    // What the password key is derived from changes: every kept slot is wrapped again.
    let rebuild = req.new_password || new_kdf.is_some() || hint.is_some();
    let (own, a) = if rebuild {
        let (password, new_hint) = if req.new_password {
            let np = tokens
                .prompter()
                .new_password_at(
                    &format!("{} (new password)", display_path(req.out.name())),
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
        check_memory(req.out.name(), &[own.kdf])
            .map_err(|e| RewrapError::Make(BackupError::Cost(e)))?;
        let a = super::progress::argon2id(
            tokens.prompter(),
            &display_path(req.out.name()),
            &password,
            &own.kdf_salt,
            &own.kdf,
        )
        .map_err(|e| match e {
            crypto::Argon2Error::OutOfMemory => RewrapError::Make(BackupError::Cost(
                super::KdfCostError::out_of_memory(req.out.name(), &own.kdf),
            )),
            crypto::Argon2Error::Other(r) => invalid(r),
        })?;
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
            // Its token, when present: the slot is opened again before the file is written,
            // and so verified. Absent, its public key if one was given: the slot is made for
            // the same key, and is not verified (it was not opened). Neither: stop, naming it.
            let key = match public_for(&public, &old.descriptor) {
                Some(pk) if tokens.check_slot_before_login(&old.descriptor).is_err() => {
                    tokens.prompter().info(&format!(
                        "{} is absent: its slot is wrapped again from the public key given \
                         ({}), and marked not verified",
                        old.descriptor.describe(),
                        pk.name
                    ));
                    pk
                }
                _ => key_for_kept(&mut tokens, &old.descriptor)?,
            };
            let slot = slot::make_slot(&hc, &ff, &key, &a, &s)
                .map_err(|error| RewrapError::Make(BackupError::Token { error }))?;
            names.push((key.name.clone(), slot.verified));
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
            tokens.prompter().warn(
                &format!(
                    "the slot for {} was made from a public key alone and cannot be checked now",
                    key.name
                ),
                &format!(
                    "compare its key hash {} with the key-generation record",
                    hex::encode(key.descriptor.key_hash().copied().unwrap_or_default())
                ),
            );
        }
    }
    super::check_slots_open(&enc, to_check.iter().map(|(j, k)| (*j, k)), &a, &s)
        .map_err(RewrapError::Make)?;

    let single = lf.file.common.count == 1;
    let d = single.then(|| s.to_data_key());
    let d_and_secret = d
        .as_ref()
        .and_then(|d| super::decrypt_payload(&lf.file, &lf.enc, d).map(|p| (d, p)));
    let mut check = |bytes: &[u8]| {
        check_written(
            bytes,
            &s,
            d_and_secret.as_ref().map(|(d, p)| (*d, p.expose())),
        )
    };
    let mut in_memory = None;
    match &req.out {
        Output::Path(path) => {
            let outcome = media::write_new(path, &enc.bytes, req.force, &mut check)
                .map_err(|error| RewrapError::Make(BackupError::Write { error }))?;
            if outcome.mode_ignored {
                tokens.prompter().warn(
                    &format!(
                        "the filesystem of {} does not keep file modes: the file is readable \
                         by whoever can read the medium (it is still protected by the token and \
                         password)",
                        display_path(path)
                    ),
                    "keep the medium where only its holder can reach it",
                );
            }
        }
        // Parsed and opened by custody before it is handed back, as a written file is.
        Output::Memory { .. } => {
            check(&enc.bytes).map_err(invalid)?;
            in_memory = Some(enc.bytes.clone());
        }
    }
    Ok(RewrapReport {
        out: req.out.name().to_owned(),
        bytes: in_memory,
        set_id: lf.file.common.set_id,
        fingerprint: lf.file.common.fingerprint,
        checked,
        index: lf.file.own.index,
        count: lf.file.common.count,
        slots: names,
        dropped,
        password_changed: req.new_password,
        opened_by: file.slots[opened_slot].descriptor.clone(),
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

/// A new set of an old set's secret: the old files and the keys to open them, and the new set.
pub struct ReshareRequest {
    /// K shares of the old set (or one single backup).
    pub old: Vec<Input>,
    /// Which keys open the old files (else found from their slots).
    pub open_with: Vec<KeySpec>,
    /// The new set; a label of `None` keeps the old set's label.
    pub new_set: super::SetRequest,
    /// The Argon2id cost the old files may ask for without a confirmation.
    pub kdf_limits: KdfLimits,
    /// What the old files' fingerprint is compared with, right after they are read.
    pub expect: super::Expectation,
    /// Go on without files of another set among the old files, without asking the prompter.
    pub ignore_foreign: bool,
    /// Read a Windows text-mode copy among the old files as the bytes it was made from, and
    /// say so through the prompter (see [`LoadOptions`]); off, every file is read strictly.
    pub repair_text_copies: bool,
}

/// Open K shares of an old set (or a single backup) and make a new set of the same secret:
/// new set id, new D, new threshold, officers, passwords and tokens.
pub fn reshare(
    req: ReshareRequest,
    env: TokenEnv,
    prompter: &mut dyn Prompter,
) -> Result<super::BackupReport, ReshareError> {
    // Where the new set goes, and memory for its Argon2id, before the old set asks for
    // anything: a missing folder found after the officers typed wastes the ceremony.
    super::backup::check_set_outputs(&req.new_set, prompter).map_err(ReshareError::Make)?;
    if let Some(first) = req.new_set.shares.first() {
        check_memory(first.out.name(), &[req.new_set.kdf])
            .map_err(|e| ReshareError::Make(BackupError::Cost(e)))?;
    }
    // And the new set's tokens: a token missing for the new set, found after the officers of
    // the old one typed, wastes the ceremony just the same.
    {
        let mut tokens = Tokens::new(env.clone(), prompter);
        super::check_keys_before_login(
            &mut tokens,
            req.new_set.shares.iter().flat_map(|s| s.keys.iter()),
        )
        .map_err(|error| ReshareError::Make(BackupError::Token { error }))?;
    }
    let options = LoadOptions {
        repair_text_copies: req.repair_text_copies,
    };
    let opened = match super::open_set_with(
        &req.old,
        &req.open_with,
        env.clone(),
        prompter,
        false,
        super::SetChecks {
            limits: &req.kdf_limits,
            options,
            expect: &req.expect,
            ignore_foreign: req.ignore_foreign,
        },
    )
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
    let mut new_set = req.new_set;
    if new_set.label.is_none() {
        new_set.label = Some(opened.label);
    }
    let opened_by = opened.opened_by;
    let checked = opened.checked;
    let mut report = super::backup::make_set(new_set, opened.secret, env, prompter)
        .map_err(ReshareError::Make)?;
    report.opened_by = opened_by;
    report.input_checked = checked;
    Ok(report)
}
