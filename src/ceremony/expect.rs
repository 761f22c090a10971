//! A file bound to what the ceremony expects of it: its `fingerprint` field compared, right
//! after the file is read and before any token, PIN or password, with the fingerprint the
//! ceremony record holds for its set id, or one given by the person — or, with neither, shown
//! in full to a person at a terminal, who types its first characters as the paper record has
//! them. A set id and a fingerprint field can be copied into a forged file; step 14 of
//! docs/FORMAT.md §5 still checks the secret against the field, so a forged file either shows
//! its own fingerprint here, or does not open.

use std::collections::BTreeMap;

#[allow(unused_imports)]
use super::*;
use crate::record::InputCheck;

/// A fingerprint the person expects: all 32 hex digits, or the first 16 of a fingerprint
/// recorded before custody showed all of them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExpectedFingerprint {
    bytes: Vec<u8>,
}

impl ExpectedFingerprint {
    /// 32 hex digits (or 16); case, spaces and dashes ignored.
    pub fn parse(text: &str) -> Result<ExpectedFingerprint, String> {
        let digits: String = text
            .chars()
            .filter(|c| *c != '-' && !c.is_whitespace())
            .collect();
        if let Some(c) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
            return Err(format!(
                "{} is not a hex digit",
                display_escaped(&c.to_string())
            ));
        }
        match digits.len() {
            16 | 32 => hex::decode(&digits)
                .map(|bytes| ExpectedFingerprint { bytes })
                .map_err(|e| e.to_string()),
            n => Err(format!(
                "it has {n} hex digits: a fingerprint has 32 (or 16, as recorded before all 32 \
                 were shown)"
            )),
        }
    }

    /// Only the first 64 bits: a well-funded forger can find a secret that shares them.
    pub fn is_short(&self) -> bool {
        self.bytes.len() < 16
    }

    fn accepts(&self, fingerprint: &[u8; 16]) -> bool {
        fingerprint.starts_with(&self.bytes)
    }
}

impl fmt::Display for ExpectedFingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = hex::encode_upper(&self.bytes);
        let groups: Vec<&str> = h
            .as_bytes()
            .chunks(4)
            .filter_map(|c| std::str::from_utf8(c).ok())
            .collect();
        f.write_str(&groups.join("-"))
    }
}

/// The fingerprints a ceremony record holds for each set id (see
/// [`crate::record::Checked::recorded_fingerprints`]), each with the number of its line.
#[derive(Clone, Debug, Default)]
pub struct RecordedFingerprints {
    /// The record they come from.
    pub record: PathBuf,
    /// For each set id, each line that recorded a fingerprint for it.
    pub sets: BTreeMap<[u8; 16], Vec<(usize, [u8; 16])>>,
}

/// What a file's fingerprint is compared with before anything is asked for it.
#[derive(Clone, Debug, Default)]
pub struct Expectation {
    /// A fingerprint given by the person. Beside a record, it decides for a set id the record
    /// does not know or gives more than one fingerprint.
    pub fingerprint: Option<ExpectedFingerprint>,
    /// The fingerprints of a ceremony record. A file whose set id the record does not know, or
    /// gives two fingerprints, is refused (unless `fingerprint` decides).
    pub recorded: Option<RecordedFingerprints>,
    /// With neither, show the whole fingerprint and ask the person to type its first 8 hex
    /// digits as the ceremony record has them ([`Prompter::answer`]); nobody to ask leaves
    /// the file unchecked. Off for a verify, which writes nothing.
    pub ask: bool,
}

/// How a file's fingerprint was checked before the file was used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum FingerprintCheck {
    /// Not compared with anything: the fingerprint is the file's own claim.
    #[default]
    Unchecked,
    /// Compared with the ceremony record given.
    Record,
    /// Compared with the fingerprint the person gave.
    Expected,
    /// The person typed its first 8 hex digits as their ceremony record has them.
    Typed,
    /// The person was asked, and answered `skip`.
    Skipped,
}

impl FingerprintCheck {
    /// What a ceremony record's line says of it.
    pub fn input_check(self) -> InputCheck {
        match self {
            FingerprintCheck::Record | FingerprintCheck::Typed => InputCheck::Record,
            FingerprintCheck::Expected => InputCheck::Expected,
            FingerprintCheck::Unchecked | FingerprintCheck::Skipped => InputCheck::Unchecked,
        }
    }

    /// Whether anything but the file itself vouched for its fingerprint.
    pub fn is_checked(self) -> bool {
        matches!(
            self,
            FingerprintCheck::Record | FingerprintCheck::Expected | FingerprintCheck::Typed
        )
    }
}

/// What a file's fingerprint was expected to be.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExpectedBy {
    /// The fingerprint the person gave.
    Given(ExpectedFingerprint),
    /// The lines of a ceremony record.
    Record {
        /// The record.
        record: PathBuf,
        /// The lines that recorded the set's fingerprint.
        lines: Vec<usize>,
        /// That fingerprint.
        fingerprint: [u8; 16],
    },
}

/// Why a file was refused before anything was asked for it.
#[derive(Debug)]
#[non_exhaustive]
pub enum FingerprintError {
    /// Its fingerprint is not the one expected: another secret's file, or another file.
    Mismatch {
        /// The file.
        file: PathBuf,
        /// Its fingerprint field.
        found: [u8; 16],
        /// What was expected, and by whom.
        expected: ExpectedBy,
    },
    /// The record gives the file's set id more than one fingerprint.
    Ambiguous {
        /// The file.
        file: PathBuf,
        /// Its set id.
        set_id: [u8; 16],
        /// The record.
        record: PathBuf,
        /// Each line, with the fingerprint it recorded.
        lines: Vec<(usize, [u8; 16])>,
    },
    /// The record knows nothing of the file's set id.
    Unknown {
        /// The file.
        file: PathBuf,
        /// Its set id.
        set_id: [u8; 16],
        /// The record.
        record: PathBuf,
    },
    /// The person typed other digits than the fingerprint's first 8.
    Typed {
        /// The file.
        file: PathBuf,
        /// Its fingerprint field.
        found: [u8; 16],
    },
    /// The person gave no answer.
    NoAnswer {
        /// The file.
        file: PathBuf,
    },
    /// The question could not be asked.
    Prompt {
        /// The file.
        file: PathBuf,
        /// Why.
        error: PromptError,
    },
}

fn lines_text(lines: &[usize]) -> String {
    let n: Vec<String> = lines.iter().map(usize::to_string).collect();
    format!(
        "line{} {}",
        if lines.len() == 1 { "" } else { "s" },
        n.join(", ")
    )
}

impl fmt::Display for FingerprintError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let full = crate::record::fingerprint_full;
        match self {
            FingerprintError::Mismatch {
                file,
                found,
                expected,
            } => {
                write!(
                    f,
                    "{}: its fingerprint {} is not ",
                    display_path(file),
                    full(found)
                )?;
                match expected {
                    ExpectedBy::Given(e) => write!(f, "the one expected ({e})")?,
                    ExpectedBy::Record {
                        record,
                        lines,
                        fingerprint,
                    } => write!(
                        f,
                        "the one the ceremony record {} holds for its set ({}, {})",
                        display_path(record),
                        full(fingerprint),
                        lines_text(lines)
                    )?,
                }
                write!(
                    f,
                    ": it holds another secret, or was substituted; nothing was asked or written"
                )
            }
            FingerprintError::Ambiguous {
                file,
                set_id,
                record,
                lines,
            } => {
                write!(
                    f,
                    "{}: the ceremony record {} gives its set {} more than one fingerprint:",
                    display_path(file),
                    display_path(record),
                    hex::encode(set_id)
                )?;
                for (n, fp) in lines {
                    write!(f, " line {n}: {};", full(fp))?;
                }
                write!(
                    f,
                    " a set id can be copied, so the record cannot say which is right"
                )
            }
            FingerprintError::Unknown {
                file,
                set_id,
                record,
            } => write!(
                f,
                "{}: its set {} is in no generate, backup, rewrap or reshare line of the \
                 ceremony record {}: nothing says which fingerprint to expect",
                display_path(file),
                hex::encode(set_id),
                display_path(record)
            ),
            FingerprintError::Typed { file, found } => write!(
                f,
                "{}: the digits typed are not the first 8 of its fingerprint {}: this file is \
                 not the one the ceremony record names; nothing was written",
                display_path(file),
                full(found)
            ),
            FingerprintError::NoAnswer { file } => write!(
                f,
                "{}: no answer to the fingerprint question; nothing was written",
                display_path(file)
            ),
            FingerprintError::Prompt { file, error } => {
                write!(f, "{}: {error}", display_path(file))
            }
        }
    }
}

impl std::error::Error for FingerprintError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            FingerprintError::Prompt { error, .. } => Some(error),
            _ => None,
        }
    }
}

impl FingerprintError {
    /// What kind of failure this is: a file that is not the one expected is altered (or
    /// substituted); a record that cannot say is damaged; no answer is an interaction.
    pub fn kind(&self) -> ErrorKind {
        match self {
            FingerprintError::Mismatch { .. } | FingerprintError::Typed { .. } => {
                ErrorKind::Altered
            }
            FingerprintError::Ambiguous { .. } | FingerprintError::Unknown { .. } => {
                ErrorKind::Damaged
            }
            FingerprintError::NoAnswer { .. } => ErrorKind::Interaction,
            FingerprintError::Prompt { error, .. } => error.kind(),
        }
    }
}

/// The question asked at a terminal when nothing else says which fingerprint to expect.
pub const FINGERPRINT_QUESTION: &str = "Type the first 8 characters of this fingerprint as \
                                         written in your ceremony record (or \"skip\")?";

/// Compare the fingerprint field of `file` (of set `set_id`) with `expect`, before anything is
/// asked for it.
pub(crate) fn check_expectation(
    file: &Path,
    set_id: &[u8; 16],
    fingerprint: &[u8; 16],
    expect: &Expectation,
    prompter: &mut dyn Prompter,
) -> Result<FingerprintCheck, FingerprintError> {
    let mut checked = None;
    if let Some(rec) = &expect.recorded {
        let lines = rec.sets.get(set_id).cloned().unwrap_or_default();
        let mut fps: Vec<[u8; 16]> = lines.iter().map(|(_, fp)| *fp).collect();
        fps.sort_unstable();
        fps.dedup();
        match fps.as_slice() {
            [one] if one == fingerprint => checked = Some(FingerprintCheck::Record),
            [one] => {
                return Err(FingerprintError::Mismatch {
                    file: file.to_owned(),
                    found: *fingerprint,
                    expected: ExpectedBy::Record {
                        record: rec.record.clone(),
                        lines: lines.iter().map(|(n, _)| *n).collect(),
                        fingerprint: *one,
                    },
                });
            }
            // The fingerprint given decides, when there is one.
            _ if expect.fingerprint.is_some() => {}
            [] => {
                return Err(FingerprintError::Unknown {
                    file: file.to_owned(),
                    set_id: *set_id,
                    record: rec.record.clone(),
                });
            }
            _ => {
                return Err(FingerprintError::Ambiguous {
                    file: file.to_owned(),
                    set_id: *set_id,
                    record: rec.record.clone(),
                    lines,
                });
            }
        }
    }
    if let Some(e) = &expect.fingerprint {
        if !e.accepts(fingerprint) {
            return Err(FingerprintError::Mismatch {
                file: file.to_owned(),
                found: *fingerprint,
                expected: ExpectedBy::Given(e.clone()),
            });
        }
        checked = checked.or(Some(FingerprintCheck::Expected));
    }
    if let Some(c) = checked {
        return Ok(c);
    }
    if !expect.ask {
        return Ok(FingerprintCheck::Unchecked);
    }
    let full = crate::record::fingerprint_full(fingerprint);
    prompter.info(&format!(
        "{}: fingerprint {full} (this file's own claim)",
        display_path(file)
    ));
    let answer = match prompter.answer(FINGERPRINT_QUESTION) {
        Ok(a) => a,
        // Nobody to ask: the file stays unchecked, and the caller says so last.
        Err(PromptError::NotInteractive { .. }) => return Ok(FingerprintCheck::Unchecked),
        Err(error) => {
            return Err(FingerprintError::Prompt {
                file: file.to_owned(),
                error,
            });
        }
    };
    let typed: String = answer
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect();
    if typed.is_empty() {
        return Err(FingerprintError::NoAnswer {
            file: file.to_owned(),
        });
    }
    if typed.eq_ignore_ascii_case("skip") {
        prompter.warn(
            &format!(
                "the fingerprint of {} was not compared with the ceremony record: this file's \
                 own claim is all that vouches for it",
                display_path(file)
            ),
            "compare it now with the fingerprint written down at the backup",
        );
        return Ok(FingerprintCheck::Skipped);
    }
    let first8 = &hex::encode(fingerprint)[..8];
    if typed.eq_ignore_ascii_case(first8) {
        Ok(FingerprintCheck::Typed)
    } else {
        Err(FingerprintError::Typed {
            file: file.to_owned(),
            found: *fingerprint,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_expected_fingerprint_ignores_case_spaces_and_dashes() {
        let e = ExpectedFingerprint::parse("0123-4567 89ab-CDEF 0123-4567-89AB-cdef").unwrap();
        assert!(!e.is_short());
        let fp: [u8; 16] = hex::decode("0123456789abcdef0123456789abcdef")
            .unwrap()
            .try_into()
            .unwrap();
        assert!(e.accepts(&fp));
        let short = ExpectedFingerprint::parse("0123456789ABCDEF").unwrap();
        assert!(short.is_short() && short.accepts(&fp));
        assert!(ExpectedFingerprint::parse("0123").is_err());
        assert!(ExpectedFingerprint::parse("0123456789abcdeg").is_err());
    }
}
