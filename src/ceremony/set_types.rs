//! What a restore or verify of several share files reports, and the pieces its steps share.

#[allow(unused_imports)]
use super::*;

/// Why a set of share files did not give the secret.
#[derive(Debug)]
#[non_exhaustive]
pub enum SetError {
    /// Fewer than K good shares: how many more, and who holds the rest.
    NotEnough {
        /// The set.
        set_id: [u8; 16],
        /// Good shares found.
        have: usize,
        /// Shares needed (K).
        need: usize,
        /// The officers whose shares are missing.
        holders: Vec<String>,
        /// What went wrong with the other files.
        problems: Vec<String>,
    },
    /// The shares did not combine to the secret the set names (never output).
    Inconsistent {
        /// Why.
        reason: String,
        /// What went wrong with the files.
        problems: Vec<String>,
    },
    /// A failure that stops everything (a wrong or locked PIN is never retried).
    Fatal(OpenFileError),
    /// No file given is a readable backup.
    NothingReadable {
        /// Why each file could not be read.
        problems: Vec<String>,
    },
    /// The shares' Argon2id was not run: a cost not confirmed, or memory this machine has not.
    Cost(KdfCostError),
    /// Two groups of files claim one set id and each could restore: one is forged or altered.
    Rivals {
        /// The set id both claim.
        set_id: [u8; 16],
        /// Every file of both groups.
        files: Vec<PathBuf>,
    },
    /// Files of another set were given, and the person did not say to go on without them.
    Foreign {
        /// The set restored.
        set_id: [u8; 16],
        /// The files of another set.
        files: Vec<PathBuf>,
    },
    /// Files claiming the set id differ from the set, and nothing but the files' own claim
    /// says which is genuine.
    Unconfirmed {
        /// The set.
        set_id: [u8; 16],
        /// The files that claim it and differ.
        files: Vec<PathBuf>,
    },
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
            SetError::Cost(e) => write!(f, "{e}"),
            SetError::Rivals { set_id, files } => {
                write!(
                    f,
                    "two groups of files claim set {} and each could restore it: one of them is \
                     forged or altered, and nothing here says which; no password was asked",
                    hex::encode(set_id)
                )?;
                list(
                    f,
                    &files.iter().map(|p| display_path(p)).collect::<Vec<_>>(),
                )
            }
            SetError::Foreign { set_id, files } => {
                write!(
                    f,
                    "files of another set than {} were given, and nobody said to go on without \
                     them; nothing was asked",
                    hex::encode(set_id)
                )?;
                list(
                    f,
                    &files.iter().map(|p| display_path(p)).collect::<Vec<_>>(),
                )
            }
            SetError::Unconfirmed { set_id, files } => {
                write!(
                    f,
                    "files claiming set {} differ from it (altered or forged), and its \
                     fingerprint was not compared with the ceremony record: nothing but the \
                     files' own claim says which set is genuine; nothing was written",
                    hex::encode(set_id)
                )?;
                list(
                    f,
                    &files.iter().map(|p| display_path(p)).collect::<Vec<_>>(),
                )
            }
        }
    }
}

impl std::error::Error for SetError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            SetError::Fatal(e) => Some(e),
            SetError::Cost(e) => Some(e),
            _ => None,
        }
    }
}

impl SetError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            SetError::NotEnough { .. } => ErrorKind::NotEnoughShares,
            SetError::Inconsistent { .. } => ErrorKind::InconsistentShares,
            SetError::NothingReadable { .. } => ErrorKind::Damaged,
            SetError::Fatal(e) => e.kind(),
            SetError::Cost(e) => e.kind(),
            SetError::Rivals { .. } | SetError::Unconfirmed { .. } => ErrorKind::Altered,
            SetError::Foreign { .. } => ErrorKind::InvalidRequest,
        }
    }
}

/// One share that opened: its index, value, and where it came from.
pub(crate) struct GoodShare {
    pub(crate) index: u8,
    pub(crate) s: FileSecret,
    pub(crate) file: PathBuf,
    /// The key of the slot that opened it.
    pub(crate) key: Descriptor,
}

pub(crate) fn officer_name(file: &BackupFile, index: u8) -> String {
    let o = &file.common.officers[index as usize - 1];
    if o.is_empty() {
        format!("share {index}")
    } else {
        format!("officer {} (share {index})", display_escaped(o))
    }
}

/// The line that hands the keyboard to the officer of share `index`, the `turn`th of `turns`.
pub(crate) fn handover_line(turn: usize, turns: usize, officers: &[String], index: u8) -> String {
    let who = match officers.get(usize::from(index).wrapping_sub(1)) {
        Some(o) if !o.is_empty() => display_escaped(o),
        _ => format!("holder of share {index}"),
    };
    format!("Officer {turn} of {turns}, {who}: take the keyboard and press Enter")
}

/// How many shares opened so far, of the `k` needed.
pub(crate) fn accepted_line(good: usize, k: usize) -> String {
    if good <= k {
        format!("{good} of {k} shares accepted")
    } else {
        format!("{good} shares accepted ({k} needed; the others are cross-checked)")
    }
}

/// An officer whose password was wrong, to call back after everyone's turn.
/// One officer's entry whose Argon2id is running (here, or in the background while the next
/// officer types), and what settling it needs.
pub(crate) struct Attempt<'a> {
    pub(crate) pos: usize,
    pub(crate) lf: &'a LoadedFile,
    /// Their share's token key, proven already.
    pub(crate) proven: Proven,
    pub(crate) who: String,
    /// Their handover line, to call them back with.
    pub(crate) line: String,
}

/// What the officers' entries have given so far.
pub(crate) struct Tally<'a> {
    pub(crate) good: Vec<GoodShare>,
    /// Each with the position of its file among those given.
    pub(crate) problems: Vec<(usize, String)>,
    /// Officers whose password was wrong, to call back once everyone has had a turn.
    pub(crate) called_back: Vec<CallBack<'a>>,
    /// Files in the set, and shares needed.
    pub(crate) n: usize,
    pub(crate) k: u8,
    /// Checking shares one by one (a verify of fewer than K): each share's own failure is the
    /// answer, and ends the check.
    pub(crate) strict: bool,
}

impl<'a> Tally<'a> {
    /// Take in how an officer's attempt ended.
    pub(crate) fn settle(
        &mut self,
        at: Attempt<'a>,
        result: Result<Opened, OpenFileError>,
        prompter: &mut dyn Prompter,
    ) -> Result<(), SetError> {
        let lf = at.lf;
        match result {
            Ok(o) => {
                self.good.push(GoodShare {
                    index: lf.file.own.index,
                    s: o.s,
                    file: lf.path.clone(),
                    key: lf.file.slots[o.slot].descriptor.clone(),
                });
                // Counted out loud, so the room knows how far the restore is.
                if self.n > 1 {
                    prompter.info(&accepted_line(self.good.len(), usize::from(self.k)));
                }
            }
            // A wrong PIN is never tried again on the next officer's file.
            Err(e @ OpenFileError::Token { .. }) if e.kind() != ErrorKind::NotFound => {
                return Err(SetError::Fatal(e));
            }
            // Memory gone since the check before the prompts: the next share would fail too.
            Err(OpenFileError::Cost(e)) => return Err(SetError::Cost(e)),
            Err(e) if self.strict => return Err(SetError::Fatal(e)),
            Err(e) => {
                let problem = format!("{}: {e}", officer_name(&lf.file, lf.file.own.index));
                if matches!(e, OpenFileError::WrongPassword { .. }) && self.n > 1 {
                    self.called_back.push(CallBack {
                        pos: at.pos,
                        lf,
                        proven: at.proven,
                        who: at.who,
                        line: at.line,
                        problem: problem.clone(),
                    });
                }
                self.problems.push((at.pos, problem));
            }
        }
        Ok(())
    }
}

pub(crate) struct CallBack<'a> {
    pub(crate) pos: usize,
    pub(crate) lf: &'a LoadedFile,
    /// Their share's token key, proven already: no PIN is asked again.
    pub(crate) proven: Proven,
    pub(crate) who: String,
    /// Their handover line.
    pub(crate) line: String,
    /// What the failure said, among the problems: gone if they get it right.
    pub(crate) problem: String,
}

/// What a verify of share files found.
pub enum SetCheck {
    /// Enough shares: the whole set opened and the secret matches its fingerprint.
    Whole(OpenedBackup),
    /// Fewer than K files: each share given opened and matches its commitment.
    Shares {
        /// The set.
        set_id: [u8; 16],
        /// The set's fingerprint (the secret itself was not rebuilt).
        fingerprint: [u8; 16],
        /// Shares needed (K).
        threshold: u8,
        /// Shares in the set (N).
        count: u8,
        /// Each file that opened, and its officer.
        opened: Vec<(PathBuf, String)>,
        /// The key of the slot that opened each of them, in the same order.
        opened_by: Vec<Descriptor>,
        /// How the set's fingerprint was checked before anything was asked.
        checked: FingerprintCheck,
    },
}
