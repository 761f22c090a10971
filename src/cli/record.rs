//! `--record FILE`: the command line's side of the ceremony record. The library decides what a
//! line says and appends it; this module opens the record before anything is asked, prints each
//! head, and words a line that could not be appended.
//!
//! Heads go to standard error, with the other words meant for the people at the ceremony: they
//! never mix with a secret written to `--out -`, and standard output is the same with or
//! without `--record` for whoever reads it with a script.

use std::path::{Path, PathBuf};

use custody::{Record, RecordEvent, RecordNotWritten, RecordOp};

use super::args::{ExpectArgs, RecordArgs};
use super::{Failure, exit, say};

/// The record of this run, when `--record` is given.
pub struct Recording(Option<Record>, JsonOp);

/// What `--json` needs to describe the operation as its record line would (see
/// `custody::operation_object`): the operation and the files it reads.
struct JsonOp {
    op: RecordOp,
    reads: Vec<PathBuf>,
}

impl JsonOp {
    /// The operation's object becomes the document's `operation` member.
    fn document(&self, event: RecordEvent<'_>) {
        if !super::output::json_mode() {
            return;
        }
        let text = custody::operation_object(self.op, &self.reads, event);
        if let Ok(v) = serde_json::from_str::<serde_json::Value>(&text) {
            super::output::document("operation", v);
        }
    }
}

impl Recording {
    /// Open (or create) the record before anything is asked: `reads` and `writes` are the
    /// backup and share files the operation reads and writes.
    pub fn open(
        a: &RecordArgs,
        op: RecordOp,
        reads: &[PathBuf],
        writes: &[PathBuf],
    ) -> Result<Recording, Failure> {
        let json = JsonOp {
            op,
            reads: reads.to_vec(),
        };
        match &a.record {
            None => Ok(Recording(None, json)),
            Some(p) => Record::open(p, op, reads, writes, a.allow_record_on_medium)
                .map(|r| Recording(Some(r), json))
                .map_err(|e| Failure::of(&e)),
        }
    }

    /// What the files' fingerprint is compared with before anything is asked: the record's
    /// fingerprints, `--expect-fingerprint`, or (with neither, when `ask`) the question at a
    /// terminal.
    pub fn expectation(
        &self,
        fingerprint: Option<custody::ExpectedFingerprint>,
        ask: bool,
    ) -> custody::Expectation {
        custody::Expectation {
            fingerprint,
            recorded: self.0.as_ref().map(Record::expected_fingerprints),
            ask,
        }
    }

    /// The Argon2id cost files may ask for: `--max-kdf-*`, and with a record, the parameters
    /// it holds for each set.
    pub fn kdf_limits(&self, limits: custody::KdfLimits) -> custody::KdfLimits {
        match &self.0 {
            Some(r) => r.kdf_limits(limits),
            None => limits,
        }
    }

    /// The files the operation reads: with a record, the very bytes it hashed.
    pub fn inputs(&self, files: &[PathBuf]) -> Vec<custody::Input> {
        match &self.0 {
            Some(r) => r.inputs(),
            None => files.iter().cloned().map(custody::Input::Path).collect(),
        }
    }

    /// Record an operation that succeeded. `done` says what was done, for a line that cannot
    /// be appended: custody then exits 1 and prints the line, to be recorded by hand.
    pub fn done(&mut self, event: RecordEvent<'_>, done: &str) -> Result<(), Failure> {
        self.1.document(event);
        let Some(r) = &mut self.0 else {
            return Ok(());
        };
        match r.append(event) {
            Ok(head) => {
                say::info(&format!("record head: {head}"));
                Ok(())
            }
            Err(nw) => Err(not_recorded(r.path(), nw, done)),
        }
    }

    /// Record a restore before its secret is written. If the line cannot be appended, nothing
    /// is written.
    pub fn restored(&mut self, o: &custody::OpenedBackup) -> Result<(), Failure> {
        self.1.document(RecordEvent::Restored(o));
        let Some(r) = &mut self.0 else {
            return Ok(());
        };
        match r.append(RecordEvent::Restored(o)) {
            Ok(head) => {
                say::info(&format!("record head: {head}"));
                Ok(())
            }
            Err(nw) => {
                let f = Failure::of(&nw.error);
                Err(Failure::new(
                    f.code,
                    format!(
                        "the secret was opened but NOT written: a restore is recorded before its \
                         secret is written, and {}",
                        nw.error
                    ),
                    f.advice,
                ))
            }
        }
    }

    /// Record a failure and hand it back. A failure to record it is said, and does not
    /// replace it. `after_restore`: the secret of a recorded restore was not written.
    pub fn failed(&mut self, f: Failure, after_restore: bool) -> Failure {
        // A signal's failure is recorded as one: its exit is 128 + the signal.
        let f = f.or_interrupted();
        let Some(r) = &mut self.0 else {
            return f;
        };
        // A reader of standard output that went away is not a failure of the operation.
        if f.code == exit::OK {
            return f;
        }
        let event = if after_restore {
            RecordEvent::SecretNotWritten { exit: f.code }
        } else {
            RecordEvent::Failed { exit: f.code }
        };
        match r.append(event) {
            Ok(head) => say::info(&format!("record head: {head}")),
            Err(nw) => {
                say::warning(
                    &format!("this failure is not recorded: {}", nw.error),
                    "record this line by hand:",
                );
                eprint!("{}", nw.line);
            }
        }
        f
    }
}

fn not_recorded(path: &Path, nw: RecordNotWritten, done: &str) -> Failure {
    eprintln!(
        "The line that could not be appended to {}, to record by hand:",
        custody::display_path(path)
    );
    eprint!("{}", nw.line);
    Failure::new(
        exit::OTHER,
        format!("{done}, but NOT recorded: {}", nw.error),
        "copy the line above into the record by hand or keep it with the paper log; check the \
         record with `custody record verify`",
    )
}

/// The last words on a fingerprint that nothing but the file vouched for.
pub fn own_claim(fingerprint: &[u8; 16]) -> String {
    format!(
        "fingerprint {} is this file's own claim: compare it with the ceremony record",
        custody::record_fingerprint_display(fingerprint)
    )
}

/// `--expect-fingerprint`, read before anything else is done (a 16-digit one with a warning).
pub fn expected_fingerprint(
    e: &ExpectArgs,
) -> Result<Option<custody::ExpectedFingerprint>, Failure> {
    let fingerprint = e
        .expect_fingerprint
        .as_deref()
        .map(|t| {
            custody::ExpectedFingerprint::parse(t).map_err(|why| {
                Failure::usage(format!("--expect-fingerprint is not a fingerprint: {why}"))
            })
        })
        .transpose()?;
    if fingerprint.as_ref().is_some_and(|f| f.is_short()) {
        say::warning(
            "--expect-fingerprint gives 16 hex digits, 64 bits: a well-funded forger can make a \
             secret whose fingerprint starts with them",
            "compare all 32 digits where the ceremony record has them",
        );
    }
    Ok(fingerprint)
}
