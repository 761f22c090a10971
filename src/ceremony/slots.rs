//! Verifying every slot of one file (`verify --all-slots`): each slot's token key proves itself
//! (each token logged in once), then one password and one Argon2id open every proven slot. A
//! backup with a slot nobody can open any more is found at a drill, not at the restore.

#[allow(unused_imports)]
use super::*;

/// What to verify slot by slot: one single backup or one share file.
pub struct AllSlotsRequest {
    /// The file.
    pub file: Input,
    /// Keys to open it with; empty: the tokens and cards its slots name, when present.
    pub keys: Vec<KeySpec>,
    /// The Argon2id cost the file may ask for without a confirmation.
    pub kdf_limits: KdfLimits,
    /// Read a Windows text-mode copy as the bytes it was made from (see
    /// [`LoadOptions::repair_text_copies`]).
    pub repair_text_copies: bool,
}

/// How one slot fared.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SlotOutcome {
    /// Its token key proved itself and the slot opened to the file's secret.
    Opened,
    /// A token was tried and the slot did not open.
    NotOpened {
        /// Why, for people.
        cause: String,
        /// What kind of failure (its exit code).
        kind: ErrorKind,
    },
    /// No token this slot names is present.
    TokenAbsent,
}

/// One slot of the file and how it fared.
#[derive(Clone, Debug)]
pub struct SlotReport {
    /// Its number in the file, from 1.
    pub number: usize,
    /// The key it names.
    pub descriptor: Descriptor,
    /// How it fared.
    pub outcome: SlotOutcome,
}

/// Every slot of one file, verified.
pub struct AllSlotsReport {
    /// The file.
    pub file: PathBuf,
    /// Each slot, in file order.
    pub slots: Vec<SlotReport>,
    /// What the file gave when at least one slot opened: the backup's secret checked against
    /// its fingerprint, or the share checked against its commitment. `None`: no slot opened.
    pub check: Option<SetCheck>,
}

impl AllSlotsReport {
    /// `None` when every slot opened. Otherwise the kind of the first slot that failed for
    /// another reason than an absent token (a slot that does not open is worse news than a
    /// token left in a drawer), else [`ErrorKind::NotFound`].
    pub fn failure(&self) -> Option<ErrorKind> {
        let mut absent = false;
        for s in &self.slots {
            match &s.outcome {
                SlotOutcome::Opened => {}
                SlotOutcome::NotOpened { kind, .. } => return Some(*kind),
                SlotOutcome::TokenAbsent => absent = true,
            }
        }
        absent.then_some(ErrorKind::NotFound)
    }
}

/// Open every slot of one file. The file's own failures (unreadable, damaged, altered outside
/// a slot, a cost not confirmed, a PIN refused) are errors; a slot that does not open is a line
/// of the report.
pub fn verify_all_slots(
    req: AllSlotsRequest,
    env: TokenEnv,
    prompter: &mut dyn Prompter,
) -> Result<AllSlotsReport, OpenFileError> {
    let options = LoadOptions {
        repair_text_copies: req.repair_text_copies,
    };
    let lf = load_input_with(&req.file, options)?;
    announce_text_copy(&lf, prompter);
    show_header(&lf, prompter);
    check_cost(&[&lf], &req.kdf_limits, prompter).map_err(OpenFileError::Cost)?;
    check_memory(&lf.path, &[lf.file.own.kdf]).map_err(OpenFileError::Cost)?;
    let mut tokens = Tokens::new(env, prompter);
    let n = lf.file.slots.len();
    let mut outcomes: Vec<SlotOutcome> = vec![SlotOutcome::TokenAbsent; n];
    let mut proven: Vec<Proven> = Vec::new();

    // Every slot's key proves itself before any password: each token is logged in to once
    // (the registry keeps its session), whichever slots it serves.
    let plan = match plan_file(&lf, &req.keys, &mut tokens) {
        Ok(p) => p.0,
        // No token any slot names is present: every slot says so.
        Err(OpenFileError::NoToken { .. }) => Vec::new(),
        Err(e) => return Err(e),
    };
    let mut search = Search::new(&req.keys);
    let mut by_slot: Vec<Vec<Candidate>> = (0..n).map(|_| Vec::new()).collect();
    for (i, c) in plan {
        if let Some(v) = by_slot.get_mut(i) {
            v.push(c);
        }
    }
    for (i, cands) in by_slot.into_iter().enumerate() {
        let (attempts0, not_found0) = (search.attempts.len(), search.not_found);
        for c in cands {
            if let Some(p) = search.try_candidate(&lf, i, c, &mut tokens)? {
                proven.push(p);
                break;
            }
        }
        if proven.last().is_some_and(|p| p.slot == i) {
            continue;
        }
        let tried = search.attempts.get(attempts0..).unwrap_or_default();
        if tried.is_empty() {
            continue; // no candidate: its token is absent
        }
        let kind = if search.not_found - not_found0 == tried.len() {
            ErrorKind::NotFound
        } else {
            ErrorKind::Authentication
        };
        if let Some(o) = outcomes.get_mut(i) {
            *o = SlotOutcome::NotOpened {
                cause: tried.join("; "),
                kind,
            };
        }
    }

    let check = if proven.is_empty() {
        None
    } else {
        open_proven(&lf, &proven, &mut outcomes, tokens.prompter())?
    };
    Ok(AllSlotsReport {
        file: lf.path.clone(),
        slots: lf
            .file
            .slots
            .iter()
            .zip(outcomes)
            .enumerate()
            .map(|(i, (s, outcome))| SlotReport {
                number: i + 1,
                descriptor: s.descriptor.clone(),
                outcome,
            })
            .collect(),
        check,
    })
}

/// One password, one Argon2id, every proven slot opened with it; then the file checked with
/// the secret of the first slot that opened.
fn open_proven(
    lf: &LoadedFile,
    proven: &[Proven],
    outcomes: &mut [SlotOutcome],
    prompter: &mut dyn Prompter,
) -> Result<Option<SetCheck>, OpenFileError> {
    let path = &lf.path;
    let file = &lf.file;
    show_hint(lf, prompter);
    let who = display_path(path);
    let mut password = prompter
        .password(&who)
        .map_err(|error| OpenFileError::Prompt {
            file: path.clone(),
            error,
        })?;
    let mut tries_left = PASSWORD_TRIES - 1;
    let mut results = loop {
        // Checked before any prompt already; again now, as memory may have gone since.
        check_memory(path, &[file.own.kdf]).map_err(OpenFileError::Cost)?;
        let a = super::progress::argon2id(
            prompter,
            &display_path(path),
            &password,
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
        let results: Vec<(usize, Result<FileSecret, OpenError>)> = proven
            .iter()
            .map(|p| (p.slot, slot::open_with_z(file, &lf.enc, p.slot, &p.z, &a)))
            .collect();
        let all_wrong = results
            .iter()
            .all(|(_, r)| matches!(r, Err(OpenError::Commitment)));
        if !all_wrong {
            break results;
        }
        let wrong = OpenFileError::WrongPassword {
            file: path.clone(),
            key: proven
                .iter()
                .map(|p| p.key.clone())
                .collect::<Vec<_>>()
                .join(", "),
        };
        if tries_left == 0 {
            break results;
        }
        prompter.warn(&wrong.to_string(), "");
        match prompter
            .password_again(&who, tries_left)
            .map_err(|error| OpenFileError::Prompt {
                file: path.clone(),
                error,
            })? {
            Some(p) => password = p,
            None => break results,
        }
        tries_left -= 1;
    };
    let any_opened = results.iter().any(|(_, r)| r.is_ok());
    let mut first: Option<(usize, FileSecret)> = None;
    for (i, r) in results.drain(..) {
        let outcome = match r {
            Ok(s) => match check_secret(lf, s) {
                Ok(s) => {
                    if first.is_none() {
                        first = Some((i, s));
                    }
                    SlotOutcome::Opened
                }
                Err(e) => SlotOutcome::NotOpened {
                    cause: e.to_string(),
                    kind: e.kind(),
                },
            },
            // The same password opened another slot: this one was changed after it was made.
            Err(OpenError::Commitment) if any_opened => SlotOutcome::NotOpened {
                cause: "its key commitment does not match although the same password opened \
                        another slot: this slot was altered after it was made"
                    .into(),
                kind: ErrorKind::Altered,
            },
            Err(OpenError::Commitment) => SlotOutcome::NotOpened {
                cause: "the password is wrong — or this file's hint, KDF parameters or this \
                        slot were altered after it was made"
                    .into(),
                kind: ErrorKind::Authentication,
            },
            Err(e) => SlotOutcome::NotOpened {
                cause: format!(
                    "its key commitment matched but its ciphertext did not open ({})",
                    open_error_text(&e)
                ),
                kind: ErrorKind::Altered,
            },
        };
        if let Some(o) = outcomes.get_mut(i) {
            *o = outcome;
        }
    }
    let Some((i, s)) = first else {
        return Ok(None);
    };
    let opened_by: Vec<Descriptor> = file
        .slots
        .iter()
        .zip(outcomes.iter())
        .filter(|(_, o)| **o == SlotOutcome::Opened)
        .map(|(s, _)| s.descriptor.clone())
        .collect();
    let c = &file.common;
    if c.count != 1 {
        return Ok(Some(SetCheck::Shares {
            set_id: c.set_id,
            fingerprint: c.fingerprint,
            threshold: c.threshold,
            count: c.count,
            opened: vec![(path.clone(), officer_name(file, file.own.index))],
            opened_by,
            // --all-slots checks the slots; the fingerprint claim is compared only by restore.
            checked: FingerprintCheck::Unchecked,
        }));
    }
    let secret =
        decrypt_payload(file, &lf.enc, &s.to_data_key()).ok_or_else(|| OpenFileError::Altered {
            file: path.clone(),
            reason: "the payload does not decrypt under the data key".into(),
        })?;
    if !crypto::ct_eq(&crypto::fingerprint(secret.expose()), &c.fingerprint) {
        return Err(OpenFileError::Altered {
            file: path.clone(),
            reason: "the secret does not match the file's fingerprint".into(),
        });
    }
    Ok(Some(SetCheck::Whole(OpenedBackup {
        checked: FingerprintCheck::Unchecked,
        secret,
        set_id: c.set_id,
        fingerprint: c.fingerprint,
        weak_kdf: file.own.kdf.is_weak(),
        opened_with: file
            .slots
            .get(i)
            .map(|s| s.descriptor.describe())
            .unwrap_or_default(),
        label: c.label.clone(),
        opened_by,
    })))
}
