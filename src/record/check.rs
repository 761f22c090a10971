//! Checking a whole record: every line strict, the chain of `prev` unbroken.

#[allow(unused_imports)]
use super::*;
use std::collections::BTreeMap;
use std::fmt;

use super::write::*;

/// One line that verified.
#[derive(Clone, Debug)]
pub struct Entry {
    /// Its number, from 1.
    pub number: usize,
    /// Its SHA-256 (its head).
    pub hash: [u8; 32],
    /// What it says.
    pub line: Line,
}

/// The first line of a record that does not verify, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Broken {
    /// Its number, from 1.
    pub line: usize,
    /// Why, for people.
    pub reason: String,
}

impl fmt::Display for Broken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {} is broken: {}", self.line, self.reason)
    }
}

/// A record read: the lines that verified, up to the first broken one.
#[derive(Clone, Debug, Default)]
pub struct Checked {
    /// The lines before the first broken one (all of them when none is).
    pub entries: Vec<Entry>,
    /// The first broken line, if any.
    pub broken: Option<Broken>,
}

/// Check a whole record: every line strict, the first line's `prev` 64 zeros, every other
/// line's `prev` the SHA-256 of the line before it. An empty record verifies (no line yet).
pub fn check(bytes: &[u8]) -> Checked {
    let mut out = Checked::default();
    let mut prev = FIRST_PREV;
    let mut rest = bytes;
    let mut number = 0usize;
    while !rest.is_empty() {
        number += 1;
        let end = rest
            .iter()
            .position(|b| *b == b'\n')
            .map_or(rest.len(), |i| i + 1);
        let (raw, tail) = rest.split_at(end);
        rest = tail;
        let line = match Line::parse(raw) {
            Ok(l) => l,
            Err(reason) => {
                out.broken = Some(Broken {
                    line: number,
                    reason,
                });
                return out;
            }
        };
        if line.prev != prev {
            let reason = if number == 1 {
                "its \"prev\" is not 64 zeros, as the first line's is: lines before it were \
                 removed"
                    .to_string()
            } else {
                format!(
                    "its \"prev\" is not the SHA-256 of line {}: a line was edited, removed, \
                     inserted or moved",
                    number - 1
                )
            };
            out.broken = Some(Broken {
                line: number,
                reason,
            });
            return out;
        }
        prev = line_hash(raw);
        out.entries.push(Entry {
            number,
            hash: prev,
            line,
        });
    }
    out
}

impl Checked {
    /// The SHA-256 of the last line (the `prev` of the next one; all zeros when empty).
    pub fn last_hash(&self) -> [u8; 32] {
        self.entries.last().map_or(FIRST_PREV, |e| e.hash)
    }

    /// The first line whose SHA-256 starts with `prefix` (lowercase hex, as `parse_head` gives it).
    pub fn find_head(&self, prefix: &str) -> Option<&Entry> {
        self.entries
            .iter()
            .find(|e| hex::encode(e.hash).starts_with(prefix))
    }

    /// For each set id, the Argon2id parameters its files were written with: by the same lines
    /// as [`Checked::recorded_fingerprints`] (generate, backup, rewrap and reshare, outcome
    /// `ok`). A set rewrapped with other parameters is listed once for each.
    pub fn recorded_kdf(&self) -> Vec<([u8; 16], KdfParams)> {
        let mut out: Vec<([u8; 16], KdfParams)> = Vec::new();
        for e in &self.entries {
            let l = &e.line;
            let (true, Outcome::Ok, Some(kdf)) = (l.op.sets_expectation(), l.outcome, l.kdf) else {
                continue;
            };
            for f in l.files.iter().filter(|f| f.role == Role::Written) {
                if let Some(set) = f.set
                    && !out.contains(&(set, kdf))
                {
                    out.push((set, kdf));
                }
            }
        }
        out
    }

    /// For each set id, the fingerprints recorded for it: by the files written by generate,
    /// backup, rewrap and reshare lines whose outcome is `ok`, each with its line number. Restore
    /// and verify lines never state one.
    pub fn recorded_fingerprints(&self) -> BTreeMap<[u8; 16], Vec<(usize, [u8; 16])>> {
        let mut map: BTreeMap<[u8; 16], Vec<(usize, [u8; 16])>> = BTreeMap::new();
        for e in &self.entries {
            let l = &e.line;
            let (true, Outcome::Ok, Some(fp)) = (l.op.sets_expectation(), l.outcome, l.fingerprint)
            else {
                continue;
            };
            let mut sets: Vec<[u8; 16]> = l
                .files
                .iter()
                .filter(|f| f.role == Role::Written)
                .filter_map(|f| f.set)
                .collect();
            sets.dedup();
            for s in sets {
                map.entry(s).or_default().push((e.number, fp));
            }
        }
        map
    }
}
