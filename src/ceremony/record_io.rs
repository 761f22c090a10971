//! The ceremony record of an operation (docs/RECORD.md): opened, locked, checked and read
//! before anything is asked of anyone, then one line appended once the outcome is known. What a
//! line says is decided here, from the operation's report; the caller passes the path and
//! prints the head.

#[allow(unused_imports)]
use super::*;
use crate::media::AppendFile;
use crate::record::{self, FileEntry, InputCheck, Line, Op, Outcome, Role, TokenEntry};
use crate::token::GeneratedKey;

/// The head of a line: its SHA-256, shown as the first 128 bits in 8 groups of 4 hex digits
/// (`record head: XXXX-…`), to be copied into the paper ceremony log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordHead(pub [u8; 32]);

impl fmt::Display for RecordHead {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&record::head_display(&self.0))
    }
}

/// Why a ceremony record could not be used, or does not verify.
#[derive(Debug)]
#[non_exhaustive]
pub enum RecordError {
    /// Restore, verify and rewrap add to a record that exists; this one does not.
    Missing {
        /// The record.
        path: PathBuf,
    },
    /// The record is on the filesystem of a backup or share file the operation reads or writes.
    OnMedium {
        /// The record.
        path: PathBuf,
        /// The backup or share file on the same filesystem.
        medium: PathBuf,
    },
    /// The record could not be opened for appending, locked, read or written.
    Unusable {
        /// The record.
        path: PathBuf,
        /// What the system said.
        source: std::io::Error,
    },
    /// The record is larger than any record custody reads.
    TooLarge {
        /// The record.
        path: PathBuf,
    },
    /// A line of the record does not verify.
    Broken {
        /// The record.
        path: PathBuf,
        /// The first broken line, and why.
        broken: record::Broken,
    },
    /// A head to look for is not 16 to 64 hex digits.
    BadHead {
        /// Why, for people.
        reason: String,
    },
    /// No line of the record has the head looked for.
    HeadNotFound {
        /// The record.
        path: PathBuf,
        /// The head, as given.
        head: String,
    },
}

impl fmt::Display for RecordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RecordError::Missing { path } => write!(
                f,
                "the ceremony record {} does not exist: restore, verify and rewrap add to an \
                 existing record",
                crate::format::display_path(path)
            ),
            RecordError::OnMedium { path, medium } => write!(
                f,
                "the ceremony record {} is on the same filesystem as {}: whoever can write that \
                 medium could rewrite the record that is meant to catch a substituted one",
                crate::format::display_path(path),
                crate::format::display_path(medium)
            ),
            RecordError::Unusable { path, source } => write!(
                f,
                "the ceremony record {} cannot be used: {source}",
                crate::format::display_path(path)
            ),
            RecordError::TooLarge { path } => write!(
                f,
                "the ceremony record {} is larger than {} MiB, more than custody reads",
                crate::format::display_path(path),
                record::MAX_RECORD_BYTES >> 20
            ),
            RecordError::Broken { path, broken } => write!(
                f,
                "the ceremony record {} does not verify: {broken}",
                crate::format::display_path(path)
            ),
            RecordError::BadHead { reason } => write!(f, "the head is not a record head: {reason}"),
            RecordError::HeadNotFound { path, head } => write!(
                f,
                "no line of the ceremony record {} has the head {head}: lines were removed or \
                 rewritten since that head was copied",
                crate::format::display_path(path)
            ),
        }
    }
}

impl std::error::Error for RecordError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RecordError::Unusable { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl RecordError {
    /// What kind of failure this is: a missing record, one on the medium, or a bad head is a
    /// wrong request; a record that does not verify is damaged; the rest is I/O.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RecordError::Missing { .. }
            | RecordError::OnMedium { .. }
            | RecordError::BadHead { .. } => ErrorKind::InvalidRequest,
            RecordError::Broken { .. } | RecordError::HeadNotFound { .. } => ErrorKind::Damaged,
            RecordError::Unusable { .. } | RecordError::TooLarge { .. } => ErrorKind::Io,
        }
    }
}

/// A line that could not be appended: the error, and the line itself, to be recorded by hand.
#[derive(Debug)]
pub struct RecordNotWritten {
    /// Why it was not appended.
    pub error: RecordError,
    /// The line as it would have been written (its `\n` included).
    pub line: String,
}

/// What the operation did, as the record is told it.
#[non_exhaustive]
#[derive(Clone, Copy)]
pub enum RecordEvent<'a> {
    /// `generate` made a secret with this fingerprint.
    Generated {
        /// Its fingerprint.
        fingerprint: [u8; 16],
    },
    /// `token keygen` made a key.
    KeyGenerated(&'a GeneratedKey),
    /// `backup` or `reshare` wrote a set.
    BackedUp(&'a BackupReport),
    /// `restore` opened the secret; the line is appended before the secret is written.
    Restored(&'a OpenedBackup),
    /// `verify` checked a backup, a set or some shares.
    Verified(&'a SetCheck),
    /// `rewrap` wrote a file.
    Rewrapped(&'a RewrapReport),
    /// After [`RecordEvent::Restored`], the secret could not be written.
    SecretNotWritten {
        /// The exit code custody ends with.
        exit: i32,
    },
    /// The operation failed.
    Failed {
        /// The exit code custody ends with.
        exit: i32,
    },
}

/// A file the operation reads, as read when the record was opened.
struct ReadFile {
    path: PathBuf,
    bytes: Option<Vec<u8>>,
}

/// An open ceremony record, checked, for one operation.
pub struct Record {
    path: PathBuf,
    file: AppendFile,
    op: Op,
    host: String,
    reads: Vec<ReadFile>,
    /// The SHA-256 of the last line seen: the `prev` of a line that could not be appended.
    last: [u8; 32],
    /// The fingerprints the record held for each set id when it was opened.
    recorded: std::collections::BTreeMap<[u8; 16], Vec<(usize, [u8; 16])>>,
    /// The Argon2id parameters the record held for each set id when it was opened.
    recorded_kdf: Vec<([u8; 16], KdfParams)>,
}

fn unusable(path: &Path) -> impl Fn(std::io::Error) -> RecordError + '_ {
    move |source| RecordError::Unusable {
        path: path.to_owned(),
        source,
    }
}

/// Read a record under a lock and check its chain.
fn read_checked(path: &Path, bytes: Option<Vec<u8>>) -> Result<record::Checked, RecordError> {
    let bytes = bytes.ok_or_else(|| RecordError::TooLarge {
        path: path.to_owned(),
    })?;
    Ok(record::check(&bytes))
}

impl Record {
    /// Open the record `path` for `op`, before anything is asked of anyone: `reads` and
    /// `writes` are the backup and share files the operation reads and writes.
    ///
    /// Generate, token keygen, backup and reshare create the record when it is missing;
    /// restore, verify and rewrap need it to exist. It is refused on the filesystem of any of
    /// those files unless `allow_on_medium`, then opened for appending (the check that it can
    /// be written), and its every line checked. The files read are read now: the operation is
    /// given these very bytes ([`Record::inputs`]), so the SHA-256 recorded is that of what
    /// it used.
    pub fn open(
        path: &Path,
        op: Op,
        reads: &[PathBuf],
        writes: &[PathBuf],
        allow_on_medium: bool,
    ) -> Result<Record, RecordError> {
        if !op.creates_record() && std::fs::symlink_metadata(path).is_err() {
            return Err(RecordError::Missing {
                path: path.to_owned(),
            });
        }
        if !allow_on_medium {
            let dev = media::device_of(path).map_err(unusable(path))?;
            // A file whose filesystem cannot be found is not on the record's: the operation
            // itself says why it cannot read or write it.
            if let Some(medium) = reads
                .iter()
                .chain(writes)
                .find(|p| media::device_of(p).is_ok_and(|d| d == dev))
            {
                return Err(RecordError::OnMedium {
                    path: path.to_owned(),
                    medium: medium.clone(),
                });
            }
        }
        let mut file = AppendFile::open(path, op.creates_record()).map_err(unusable(path))?;
        let checked = {
            let lock = file.lock().map_err(unusable(path))?;
            read_checked(
                path,
                lock.read(record::MAX_RECORD_BYTES)
                    .map_err(unusable(path))?,
            )?
        };
        if let Some(broken) = checked.broken {
            return Err(RecordError::Broken {
                path: path.to_owned(),
                broken,
            });
        }
        let reads = reads
            .iter()
            .map(|p| ReadFile {
                path: p.clone(),
                bytes: media::read_bounded(p, format::MAX_FILE_BYTES).ok(),
            })
            .collect();
        Ok(Record {
            path: path.to_owned(),
            last: checked.last_hash(),
            recorded: checked.recorded_fingerprints(),
            recorded_kdf: checked.recorded_kdf(),
            file,
            op,
            host: media::host_name(),
            reads,
        })
    }

    /// The record's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// `limits` with the Argon2id parameters the record holds for each set id (issue 8, item 4):
    /// a file of a recorded set is compared with what its set was written with, not with
    /// custody's defaults.
    pub fn kdf_limits(&self, limits: KdfLimits) -> KdfLimits {
        let mut limits = limits;
        limits.expected.extend(self.recorded_kdf.iter().copied());
        limits
    }

    /// The fingerprint each set id was given by the generate, backup, rewrap and reshare lines
    /// of the record (as read when it was opened): what a file of that set is expected to hold.
    pub fn expected_fingerprints(&self) -> RecordedFingerprints {
        RecordedFingerprints {
            record: self.path.clone(),
            sets: self.recorded.clone(),
        }
    }

    /// The files the operation reads, as the bytes read when the record was opened (a file
    /// that could not be read is left for the operation to read, and to say why it cannot).
    pub fn inputs(&self) -> Vec<Input> {
        self.reads
            .iter()
            .map(|r| match &r.bytes {
                Some(bytes) => Input::Bytes {
                    name: r.path.clone(),
                    bytes: bytes.clone(),
                },
                None => Input::Path(r.path.clone()),
            })
            .collect()
    }

    /// Append the line of `event` under the lock, after checking the record again, and fsync
    /// it. Its head, or the line that could not be appended and why.
    pub fn append(&mut self, event: RecordEvent<'_>) -> Result<RecordHead, RecordNotWritten> {
        let mut line = self.line(&event);
        line.prev = self.last;
        match self.append_line(&mut line) {
            Ok(head) => {
                self.last = head.0;
                Ok(head)
            }
            Err(error) => Err(RecordNotWritten {
                error,
                line: line.encode(),
            }),
        }
    }

    fn append_line(&mut self, line: &mut Line) -> Result<RecordHead, RecordError> {
        let path = self.path.clone();
        let mut lock = self.file.lock().map_err(unusable(&path))?;
        let checked = read_checked(
            &path,
            lock.read(record::MAX_RECORD_BYTES)
                .map_err(unusable(&path))?,
        )?;
        if let Some(broken) = checked.broken {
            return Err(RecordError::Broken { path, broken });
        }
        line.prev = checked.last_hash();
        let text = line.encode();
        lock.append(text.as_bytes()).map_err(unusable(&path))?;
        Ok(RecordHead(record::line_hash(text.as_bytes())))
    }

    /// What the line of `event` says.
    fn line(&self, event: &RecordEvent<'_>) -> Line {
        line_of(self.op, &self.host, &self.reads, event)
    }
}

/// What an operation did, as the one JSON object (RFC 8259, the record's own encoding) the
/// ceremony record's line for it holds, without the chain's `prev`: what `--json` prints, so
/// that a record and a run's report say the same in the same words. `reads` are the backup and
/// share files the operation read (read again now, for their SHA-256).
pub fn operation_object(op: Op, reads: &[PathBuf], event: RecordEvent<'_>) -> String {
    let reads: Vec<ReadFile> = reads
        .iter()
        .map(|p| ReadFile {
            path: p.clone(),
            bytes: media::read_bounded(p, format::MAX_FILE_BYTES).ok(),
        })
        .collect();
    let text = line_of(op, &media::host_name(), &reads, &event).encode();
    // `prev` belongs to the chain, not to the operation: dropped, the rest in its order.
    match serde_json::from_str::<serde_json::Map<String, serde_json::Value>>(&text) {
        Ok(mut m) => {
            m.shift_remove("prev");
            serde_json::Value::Object(m).to_string()
        }
        Err(_) => text.trim_end().to_owned(),
    }
}

/// What the line of `event` says, for operation `op` run on `host`, which read `reads`.
fn line_of(op: Op, host: &str, reads: &[ReadFile], event: &RecordEvent<'_>) -> Line {
    {
        let mut files = Vec::new();
        let mut read_kdf = Vec::new();
        let mut inputs: Vec<[u8; 16]> = Vec::new();
        for r in reads {
            let (entry, parsed) = file_entry(&r.path, Role::Read, r.bytes.as_deref());
            if let Some(f) = &parsed {
                read_kdf.push(f.own.kdf);
                if !inputs.contains(&f.common.set_id) {
                    inputs.push(f.common.set_id);
                }
            }
            files.push(entry);
        }
        let mut keys: Vec<Descriptor> = Vec::new();
        let mut written_kdf = Vec::new();
        let mut write = |path: &Path, bytes: Option<&[u8]>, files: &mut Vec<FileEntry>| {
            let read_back;
            let bytes = match bytes {
                Some(b) => Some(b),
                None => {
                    read_back = media::read_bounded(path, format::MAX_FILE_BYTES).ok();
                    read_back.as_deref()
                }
            };
            let (entry, parsed) = file_entry(path, Role::Written, bytes);
            if let Some(f) = parsed {
                written_kdf.push(f.own.kdf);
                keys.extend(f.slots.into_iter().map(|s| s.descriptor));
            }
            files.push(entry);
        };
        let mut opened: Vec<Descriptor> = Vec::new();
        let mut input_check = InputCheck::Unchecked;
        let (fingerprint, outcome, exit) = match event {
            RecordEvent::Generated { fingerprint } => (Some(*fingerprint), Outcome::Ok, 0),
            RecordEvent::KeyGenerated(k) => {
                opened.push(k.descriptor.clone());
                (None, Outcome::Ok, 0)
            }
            RecordEvent::BackedUp(r) => {
                opened.extend(r.opened_by.iter().cloned());
                input_check = r.input_checked.input_check();
                for f in &r.files {
                    write(&f.path, f.bytes.as_deref(), &mut files);
                }
                (Some(r.fingerprint), Outcome::Ok, 0)
            }
            RecordEvent::Restored(o) => {
                opened.extend(o.opened_by.iter().cloned());
                (Some(o.fingerprint), Outcome::Restored, 0)
            }
            RecordEvent::Verified(SetCheck::Whole(o)) => {
                opened.extend(o.opened_by.iter().cloned());
                (Some(o.fingerprint), Outcome::Ok, 0)
            }
            // Fewer than K shares: the fingerprint is the set's claim, not checked; not recorded.
            RecordEvent::Verified(SetCheck::Shares { opened_by, .. }) => {
                opened.extend(opened_by.iter().cloned());
                (None, Outcome::Ok, 0)
            }
            RecordEvent::Rewrapped(r) => {
                opened.push(r.opened_by.clone());
                input_check = r.checked.input_check();
                write(&r.out, r.bytes.as_deref(), &mut files);
                (Some(r.fingerprint), Outcome::Ok, 0)
            }
            RecordEvent::SecretNotWritten { exit } => (None, Outcome::NotWritten, *exit),
            RecordEvent::Failed { exit } => (None, Outcome::Failed, *exit),
        };
        let mut tokens: Vec<TokenEntry> = Vec::new();
        for d in opened.iter().chain(keys.iter()) {
            let t = token_entry(d);
            if !tokens.contains(&t) {
                tokens.push(t);
            }
        }
        let kdf = if written_kdf.is_empty() {
            same(&read_kdf)
        } else {
            same(&written_kdf)
        };
        let has_inputs = op.has_inputs();
        Line {
            prev: record::FIRST_PREV,
            time: super::backup::now_utc(),
            custody: env!("CARGO_PKG_VERSION").to_owned(),
            host: host.to_owned(),
            op,
            files,
            tokens,
            kdf,
            fingerprint,
            inputs: has_inputs.then_some(inputs),
            // A failed operation's input is recorded unchecked: nothing used it.
            input_check: has_inputs.then_some(input_check),
            outcome,
            exit: u8::try_from(exit).unwrap_or(u8::MAX),
        }
    }
}

/// The one value all of `v` hold; `None` when empty or when they differ.
fn same(v: &[KdfParams]) -> Option<KdfParams> {
    let first = *v.first()?;
    v.iter().all(|k| *k == first).then_some(first)
}

/// A file's entry: its SHA-256, and what its header says when it parses.
fn file_entry(path: &Path, role: Role, bytes: Option<&[u8]>) -> (FileEntry, Option<BackupFile>) {
    let parsed = bytes.and_then(|b| format::parse(b).ok()).map(|(f, _)| f);
    let entry = FileEntry {
        // Absolute, so that a line says which file wherever custody was started from.
        path: std::path::absolute(path)
            .unwrap_or_else(|_| path.to_owned())
            .to_string_lossy()
            .into_owned(),
        role,
        sha256: bytes.map(crypto::checksum),
        set: parsed.as_ref().map(|f| f.common.set_id),
        index: parsed.as_ref().map(|f| f.own.index),
        officer: parsed.as_ref().and_then(|f| {
            f.common
                .officers
                .get(usize::from(f.own.index).wrapping_sub(1))
                .cloned()
        }),
    };
    (entry, parsed)
}

/// A key as a line names it: which token and which key, never the key.
fn token_entry(d: &Descriptor) -> TokenEntry {
    match d {
        Descriptor::Pkcs11 {
            kind,
            token_label,
            token_serial,
            key_label,
            key_id,
            key_hash,
        } => TokenEntry {
            kind: kind.name().to_owned(),
            serial: token_serial.clone(),
            label: Some(token_label.clone()),
            key_label: Some(key_label.clone()),
            key_id: Some(key_id.clone()),
            key_hash: *key_hash,
        },
        Descriptor::Piv {
            card_serial,
            piv_slot,
            key_hash,
        } => TokenEntry {
            kind: SlotKind::PivP256.name().to_owned(),
            serial: card_serial.to_string(),
            label: None,
            key_label: None,
            key_id: Some(vec![*piv_slot]),
            key_hash: Some(*key_hash),
        },
    }
}

/// What `custody record verify` found.
#[derive(Clone, Debug)]
pub struct RecordSummary {
    /// How many lines the record has (all verified).
    pub lines: usize,
    /// The head of the last line, if any.
    pub last_head: Option<RecordHead>,
    /// The line whose head was looked for, if one was.
    pub head_line: Option<usize>,
}

/// Read a record (under a shared lock) and check every line; it is not changed.
pub fn read_record(path: &Path) -> Result<record::Checked, RecordError> {
    let bytes = media::read_shared(path, record::MAX_RECORD_BYTES).map_err(unusable(path))?;
    read_checked(path, bytes)
}

/// Check a record: every line, the chain, and, with `head` (16 to 64 hex digits; case, dashes
/// and spaces ignored), that a line with that head is there.
pub fn verify_record(path: &Path, head: Option<&str>) -> Result<RecordSummary, RecordError> {
    let prefix = head
        .map(record::parse_head)
        .transpose()
        .map_err(|reason| RecordError::BadHead { reason })?;
    let checked = read_record(path)?;
    if let Some(broken) = checked.broken {
        return Err(RecordError::Broken {
            path: path.to_owned(),
            broken,
        });
    }
    let head_line = match (&prefix, head) {
        (Some(p), Some(h)) => Some(checked.find_head(p).map(|e| e.number).ok_or_else(|| {
            RecordError::HeadNotFound {
                path: path.to_owned(),
                head: h.to_owned(),
            }
        })?),
        _ => None,
    };
    Ok(RecordSummary {
        lines: checked.entries.len(),
        last_head: checked.entries.last().map(|e| RecordHead(e.hash)),
        head_line,
    })
}
