//! The ceremony record, version 1 (docs/RECORD.md is the contract): one JSON object per
//! operation on a line of its own, each line naming the SHA-256 of the line before it. Pure code:
//! encoding, strict parsing and checking the chain. Opening, locking and appending are done by
//! the ceremony layer with `media`; deciding what a line says, by the ceremony layer too.
//!
//! A line has exactly one encoding, as a backup file has: the parser proves a line is in it by
//! encoding what it read and comparing byte for byte, so key order, spacing, escapes and number
//! forms are all checked at once, and a line that verifies is the line custody wrote.

use std::fmt::Write as _;

use crate::crypto::KdfParams;

mod check;
mod read;
mod write;

pub use check::*;
#[cfg(test)]
use serde_json::Value;
pub use write::{fingerprint_full, head_display, line_hash, parse_head};

/// The version every line carries in `v`.
pub const VERSION: u64 = 1;

/// `prev` of a record's first line.
pub const FIRST_PREV: [u8; 32] = [0; 32];

/// A record larger than this (bytes) is refused before it is read whole: at about 1 KiB a
/// line, that is tens of thousands of ceremonies.
pub const MAX_RECORD_BYTES: u64 = 64 << 20;

/// The operation a line records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Op {
    /// `custody generate`.
    Generate,
    /// `custody token keygen`.
    TokenKeygen,
    /// `custody backup` (a single backup or a split set).
    Backup,
    /// `custody restore`.
    Restore,
    /// `custody verify`.
    Verify,
    /// `custody rewrap`.
    Rewrap,
    /// `custody reshare`.
    Reshare,
}

pub(super) const OPS: [Op; 7] = [
    Op::Generate,
    Op::TokenKeygen,
    Op::Backup,
    Op::Restore,
    Op::Verify,
    Op::Rewrap,
    Op::Reshare,
];

impl Op {
    /// The name a line spells it with (`op`).
    pub fn name(self) -> &'static str {
        match self {
            Op::Generate => "generate",
            Op::TokenKeygen => "token-keygen",
            Op::Backup => "backup",
            Op::Restore => "restore",
            Op::Verify => "verify",
            Op::Rewrap => "rewrap",
            Op::Reshare => "reshare",
        }
    }

    /// Whether the operation makes a record that is not there yet (the others need one).
    pub fn creates_record(self) -> bool {
        matches!(
            self,
            Op::Generate | Op::TokenKeygen | Op::Backup | Op::Reshare
        )
    }

    /// Whether its lines with outcome `ok` state the fingerprint of the set ids they write.
    pub fn sets_expectation(self) -> bool {
        matches!(self, Op::Generate | Op::Backup | Op::Rewrap | Op::Reshare)
    }

    /// Whether a line of this operation carries `inputs` and `input_check`.
    pub fn has_inputs(self) -> bool {
        matches!(self, Op::Rewrap | Op::Reshare)
    }
}

/// Whether the operation read a file or wrote it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// A backup or share file the operation read.
    Read,
    /// A backup or share file the operation wrote.
    Written,
}

impl Role {
    fn name(self) -> &'static str {
        match self {
            Role::Read => "read",
            Role::Written => "written",
        }
    }
}

/// One backup or share file of a line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileEntry {
    /// Its absolute path (lossy UTF-8).
    pub path: String,
    /// Read or written.
    pub role: Role,
    /// SHA-256 of its bytes as read; `None` when it could not be read.
    pub sha256: Option<[u8; 32]>,
    /// Its set id; `None` when the file is not a readable custody file.
    pub set: Option<[u8; 16]>,
    /// Its share index (1 for a single backup); `None` as for `set`.
    pub index: Option<u8>,
    /// The officer its header names for that index (empty for a single backup); `None` as for
    /// `set`.
    pub officer: Option<String>,
}

/// One token or card key of a line (a slot's key descriptor; never key material).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TokenEntry {
    /// The slot kind: `pkcs11-aes`, `pkcs11-p256` or `piv-p256`.
    pub kind: String,
    /// The token's serial (PKCS#11), or the YubiKey's serial in decimal.
    pub serial: String,
    /// The PKCS#11 token's label; `None` for a YubiKey.
    pub label: Option<String>,
    /// The PKCS#11 key's label; `None` for a YubiKey.
    pub key_label: Option<String>,
    /// The PKCS#11 key's id (possibly empty), or the YubiKey's PIV slot (one byte).
    pub key_id: Option<Vec<u8>>,
    /// The hash of a P-256 key's public point; `None` for an AES key.
    pub key_hash: Option<[u8; 32]>,
}

/// Whether the input of a rewrap or reshare was checked before it was used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum InputCheck {
    /// Not compared with anything but its own fields.
    Unchecked,
    /// Its fingerprint was compared with the ceremony record.
    Record,
    /// Its fingerprint was compared with one given on the command line.
    Expected,
}

impl InputCheck {
    fn name(self) -> &'static str {
        match self {
            InputCheck::Unchecked => "unchecked",
            InputCheck::Record => "record",
            InputCheck::Expected => "expected",
        }
    }
}

/// How the operation ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Outcome {
    /// It did what it was asked.
    Ok,
    /// A restore opened the secret; this line is written before the secret is.
    Restored,
    /// A restore's secret could not be written after its `restored` line.
    NotWritten,
    /// It failed (the exit code says how).
    Failed,
}

impl Outcome {
    /// The name a line spells it with.
    pub fn name(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Restored => "restored",
            Outcome::NotWritten => "not-written",
            Outcome::Failed => "failed",
        }
    }
}

/// One line of the record. It never holds a secret, password, PIN, share, token secret or key
/// value: there is no field that could.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Line {
    /// SHA-256 of the previous line's bytes, its `\n` included (64 zero bytes for the first).
    pub prev: [u8; 32],
    /// UTC time, `YYYY-MM-DDTHH:MM:SSZ`.
    pub time: String,
    /// The custody version that wrote the line.
    pub custody: String,
    /// The host name of the machine that wrote it.
    pub host: String,
    /// The operation.
    pub op: Op,
    /// The backup and share files read and written.
    pub files: Vec<FileEntry>,
    /// The token and card keys used.
    pub tokens: Vec<TokenEntry>,
    /// Argon2id parameters of the files written, or else read; `None` when none, or when they
    /// differ.
    pub kdf: Option<KdfParams>,
    /// The secret's fingerprint (all 128 stored bits), as the operation established it.
    pub fingerprint: Option<[u8; 16]>,
    /// Rewrap and reshare: the set ids of the input files.
    pub inputs: Option<Vec<[u8; 16]>>,
    /// Rewrap and reshare: whether the input was checked.
    pub input_check: Option<InputCheck>,
    /// How it ended.
    pub outcome: Outcome,
    /// The exit code custody ended (or, for `restored`, goes on) with.
    pub exit: u8,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(op: Op) -> Line {
        Line {
            prev: FIRST_PREV,
            time: "2025-03-01T12:00:00Z".into(),
            custody: "0.1.0".into(),
            host: "ceremony".into(),
            op,
            files: vec![FileEntry {
                path: "/media/usb1/master.custody".into(),
                role: Role::Written,
                sha256: Some([0xab; 32]),
                set: Some([0x11; 16]),
                index: Some(1),
                officer: Some(String::new()),
            }],
            tokens: vec![TokenEntry {
                kind: "pkcs11-aes".into(),
                serial: "1234".into(),
                label: Some("Vault HSM".into()),
                key_label: Some("custody-aes".into()),
                key_id: Some(vec![1]),
                key_hash: None,
            }],
            kdf: Some(KdfParams::DEFAULT),
            fingerprint: Some([0x5a; 16]),
            inputs: op.has_inputs().then(|| vec![[0x22; 16]]),
            input_check: op.has_inputs().then_some(InputCheck::Unchecked),
            outcome: Outcome::Ok,
            exit: 0,
        }
    }

    /// A record of `lines`, chained.
    fn chain(lines: &mut [Line]) -> Vec<u8> {
        let mut out = Vec::new();
        let mut prev = FIRST_PREV;
        for l in lines {
            l.prev = prev;
            let b = l.encode();
            prev = line_hash(b.as_bytes());
            out.extend_from_slice(b.as_bytes());
        }
        out
    }

    #[test]
    fn a_line_is_one_fixed_json_object() {
        let l = sample(Op::Backup);
        let s = l.encode();
        assert_eq!(
            s,
            "{\"v\":1,\"prev\":\"0000000000000000000000000000000000000000000000000000000000000000\",\
             \"time\":\"2025-03-01T12:00:00Z\",\"custody\":\"0.1.0\",\"host\":\"ceremony\",\
             \"op\":\"backup\",\"files\":[{\"path\":\"/media/usb1/master.custody\",\"role\":\
             \"written\",\"sha256\":\"abababababababababababababababababababababababababababababababab\",\
             \"set\":\"11111111111111111111111111111111\",\"index\":1,\"officer\":\"\"}],\
             \"tokens\":[{\"kind\":\"pkcs11-aes\",\"serial\":\"1234\",\"label\":\"Vault HSM\",\
             \"key_label\":\"custody-aes\",\"key_id\":\"01\",\"key_hash\":null}],\"kdf\":\
             {\"memory_kib\":1048576,\"iterations\":3,\"parallelism\":4},\"fingerprint\":\
             \"5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a\",\"inputs\":null,\"input_check\":null,\
             \"outcome\":\"ok\",\"exit\":0}\n"
        );
        assert_eq!(Line::parse(s.as_bytes()).unwrap(), l);
        // serde_json reads it too, as any JSON reader would.
        let v: Value = serde_json::from_str(&s).unwrap();
        assert_eq!(v["fingerprint"], "5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a5a");
        let r = sample(Op::Rewrap).encode();
        assert!(r.contains(
            "\"inputs\":[\"22222222222222222222222222222222\"],\"input_check\":\"unchecked\""
        ));
        assert_eq!(Line::parse(r.as_bytes()).unwrap(), sample(Op::Rewrap));
    }

    #[test]
    fn strings_are_printable_ascii_with_one_escape_each() {
        let mut l = sample(Op::Restore);
        l.files[0].path = "a\"b\\c\n\u{1b}[2J\u{202e}é😀".into();
        l.host = "\u{7f}\u{85}".into();
        let s = l.encode();
        assert!(s[..s.len() - 1].bytes().all(|b| (b' '..=b'~').contains(&b)));
        assert!(s.contains(r#""path":"a\"b\\c\u000a\u001b[2J\u202e\u00e9\ud83d\ude00""#));
        assert!(s.contains(r#""host":"\u007f\u0085""#));
        assert_eq!(Line::parse(s.as_bytes()).unwrap(), l);
        // Another escape of the same character is another encoding: refused.
        let other = s.replace("\\u000a", "\\n");
        let e = Line::parse(other.as_bytes()).unwrap_err();
        assert!(e.contains("one encoding"), "{e}");
        let upper = s.replace("\\u001b", "\\u001B");
        assert!(Line::parse(upper.as_bytes()).is_err());
    }

    #[test]
    fn parsing_is_strict() {
        let good = sample(Op::Verify).encode();
        let cases: Vec<(String, &str)> = vec![
            (good.replace("\"v\":1", "\"v\":2"), "version"),
            (good.replace("\"v\":1,", "\"v\":1, "), "one encoding"),
            (good.trim_end().to_string(), "cut short"),
            (
                good.replace(",\"exit\":0}", ",\"exit\":0,\"x\":1}"),
                "unknown key",
            ),
            (good.replace("\"host\":\"ceremony\",", ""), "lacks the key"),
            (
                good.replace(
                    "\"time\":\"2025-03-01T12:00:00Z\",\"custody\":\"0.1.0\"",
                    "\"custody\":\"0.1.0\",\"time\":\"2025-03-01T12:00:00Z\"",
                ),
                "one encoding",
            ),
            (
                good.replace("\"op\":\"verify\"", "\"op\":\"erase\""),
                "unknown",
            ),
            (
                good.replace("\"outcome\":\"ok\"", "\"outcome\":\"fine\""),
                "unknown",
            ),
            (good.replace("\"exit\":0", "\"exit\":256"), "exit"),
            (good.replace("\"exit\":0", "\"exit\":0.0"), "exit"),
            (good.replace("\"index\":1", "\"index\":0"), "index"),
            (good.replace("5a5a5a5a", "5A5A5A5A"), "lowercase"),
            (good.replace("T12:00:00Z", " 12:00:00Z"), "time"),
            (good.replace("\"inputs\":null", "\"inputs\":[]"), "inputs"),
            (good.replace("pkcs11-aes", "pkcs11-des"), "slot kind"),
            (
                good.replace("\"role\":\"written\"", "\"role\":\"moved\""),
                "role",
            ),
            (format!("{}\u{e9}\n", good.trim_end()), "printable ASCII"),
            ("\n".to_string(), "empty"),
            ("[1]\n".to_string(), "object"),
        ];
        for (line, want) in cases {
            let e = Line::parse(line.as_bytes()).unwrap_err();
            assert!(e.contains(want), "{line:?}: {e} (wanted {want:?})");
        }
    }

    #[test]
    fn the_chain_names_the_first_broken_line() {
        let mut lines = vec![
            sample(Op::Generate),
            sample(Op::Backup),
            sample(Op::Verify),
            sample(Op::Restore),
        ];
        let rec = chain(&mut lines);
        let c = check(&rec);
        assert!(c.broken.is_none(), "{:?}", c.broken);
        assert_eq!(c.entries.len(), 4);
        let text = String::from_utf8(rec.clone()).unwrap();
        let raw: Vec<&str> = text.split_inclusive('\n').collect();
        assert_eq!(c.last_hash(), line_hash(raw[3].as_bytes()));
        assert!(check(b"").broken.is_none());

        let verdict = |parts: &[&str]| check(parts.concat().as_bytes()).broken.map(|b| b.line);
        // An edit that keeps the line well formed: the next line's prev no longer matches.
        let edited = raw[1].replace("5a5a", "5a5b");
        assert_eq!(verdict(&[raw[0], &edited, raw[2], raw[3]]), Some(3));
        // Removed, swapped, cut short, a first line removed.
        assert_eq!(verdict(&[raw[0], raw[2], raw[3]]), Some(2));
        assert_eq!(verdict(&[raw[0], raw[2], raw[1], raw[3]]), Some(2));
        assert_eq!(verdict(&[raw[0], raw[1], &raw[2][..40]]), Some(3));
        assert_eq!(verdict(&[raw[0], raw[1], raw[2].trim_end()]), Some(3));
        let c = check(&rec[raw[0].len()..]);
        assert_eq!(c.broken.as_ref().map(|b| b.line), Some(1));
        assert!(c.broken.unwrap().reason.contains("64 zeros"));
        // What the chain cannot see: the last line removed.
        assert_eq!(verdict(&[raw[0], raw[1], raw[2]]), None);
    }

    #[test]
    fn heads() {
        let h: [u8; 32] = core::array::from_fn(|i| (i as u8).wrapping_mul(17));
        assert_eq!(head_display(&h), "0011-2233-4455-6677-8899-AABB-CCDD-EEFF");
        let p = parse_head("0011-2233-4455-6677-8899-aabb-ccdd-eeff").unwrap();
        assert_eq!(p, "00112233445566778899aabbccddeeff");
        assert_eq!(parse_head("0011 2233 4455 6677").unwrap().len(), 16);
        assert!(parse_head("0011-2233-4455-667").is_err());
        assert!(parse_head("0011-2233-4455-667g").is_err());
        assert!(parse_head(&"0".repeat(65)).is_err());
        assert_eq!(
            fingerprint_full(&[0xab; 16]),
            "ABAB-ABAB-ABAB-ABAB-ABAB-ABAB-ABAB-ABAB"
        );
        let mut lines = vec![sample(Op::Generate), sample(Op::Backup)];
        let c = check(&chain(&mut lines));
        let second = hex::encode(c.entries[1].hash);
        assert_eq!(c.find_head(&second[..16]).map(|e| e.number), Some(2));
        assert!(c.find_head("ffffffffffffffffff").is_none() || second.starts_with("ff"));
    }

    #[test]
    fn recorded_fingerprints_come_from_writers_that_succeeded() {
        let mut backup = sample(Op::Backup);
        let mut failed = sample(Op::Backup);
        failed.fingerprint = Some([1; 16]);
        failed.outcome = Outcome::Failed;
        failed.exit = 1;
        let mut verify = sample(Op::Verify);
        verify.fingerprint = Some([2; 16]);
        let mut rewrap = sample(Op::Rewrap);
        rewrap.fingerprint = Some([3; 16]);
        let mut read_only = sample(Op::Reshare);
        read_only.files[0].role = Role::Read;
        backup.files.push(backup.files[0].clone());
        let mut lines = vec![backup, failed, verify, rewrap, read_only];
        let c = check(&chain(&mut lines));
        let m = c.recorded_fingerprints();
        assert_eq!(m.len(), 1);
        assert_eq!(m[&[0x11; 16]], vec![(1, [0x5a; 16]), (4, [3; 16])]);
    }
}
