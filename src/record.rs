//! The ceremony record, version 1 (docs/RECORD.md is the contract): one JSON object per
//! operation on a line of its own, each line naming the SHA-256 of the line before it. Pure code:
//! encoding, strict parsing and checking the chain. Opening, locking and appending are done by
//! the ceremony layer with `media`; deciding what a line says, by the ceremony layer too.
//!
//! A line has exactly one encoding, as a backup file has: the parser proves a line is in it by
//! encoding what it read and comparing byte for byte, so key order, spacing, escapes and number
//! forms are all checked at once, and a line that verifies is the line custody wrote.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use serde_json::Value;

use crate::crypto::{self, KdfParams};

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

const OPS: [Op; 7] = [
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

// ---------------------------------------------------------------------------------------------
// Writing.
// ---------------------------------------------------------------------------------------------

/// A JSON string in the record's one form: printable ASCII as is except `"` and `\`, which are
/// escaped with a backslash; every other character as `\uXXXX` (lowercase hex, UTF-16 surrogate
/// pairs beyond the BMP). A line is therefore printable ASCII: no terminal escape, newline or
/// bidirectional control can hide in it.
fn string(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            ' '..='~' => out.push(c),
            _ => {
                let mut units = [0u16; 2];
                for u in c.encode_utf16(&mut units) {
                    let _ = write!(out, "\\u{u:04x}");
                }
            }
        }
    }
    out.push('"');
}

fn hex_or_null(out: &mut String, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => string(out, &hex::encode(b)),
        None => out.push_str("null"),
    }
}

fn string_or_null(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.push_str("null"),
    }
}

fn key(out: &mut String, k: &str, first: bool) {
    if !first {
        out.push(',');
    }
    string(out, k);
    out.push(':');
}

impl Line {
    /// The line's bytes, its `\n` included.
    pub fn encode(&self) -> String {
        let mut o = String::with_capacity(512);
        o.push('{');
        key(&mut o, "v", true);
        let _ = write!(o, "{VERSION}");
        key(&mut o, "prev", false);
        string(&mut o, &hex::encode(self.prev));
        key(&mut o, "time", false);
        string(&mut o, &self.time);
        key(&mut o, "custody", false);
        string(&mut o, &self.custody);
        key(&mut o, "host", false);
        string(&mut o, &self.host);
        key(&mut o, "op", false);
        string(&mut o, self.op.name());
        key(&mut o, "files", false);
        o.push('[');
        for (i, f) in self.files.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push('{');
            key(&mut o, "path", true);
            string(&mut o, &f.path);
            key(&mut o, "role", false);
            string(&mut o, f.role.name());
            key(&mut o, "sha256", false);
            hex_or_null(&mut o, f.sha256.as_ref().map(|h| &h[..]));
            key(&mut o, "set", false);
            hex_or_null(&mut o, f.set.as_ref().map(|h| &h[..]));
            key(&mut o, "index", false);
            match f.index {
                Some(i) => {
                    let _ = write!(o, "{i}");
                }
                None => o.push_str("null"),
            }
            key(&mut o, "officer", false);
            string_or_null(&mut o, f.officer.as_deref());
            o.push('}');
        }
        o.push(']');
        key(&mut o, "tokens", false);
        o.push('[');
        for (i, t) in self.tokens.iter().enumerate() {
            if i > 0 {
                o.push(',');
            }
            o.push('{');
            key(&mut o, "kind", true);
            string(&mut o, &t.kind);
            key(&mut o, "serial", false);
            string(&mut o, &t.serial);
            key(&mut o, "label", false);
            string_or_null(&mut o, t.label.as_deref());
            key(&mut o, "key_label", false);
            string_or_null(&mut o, t.key_label.as_deref());
            key(&mut o, "key_id", false);
            hex_or_null(&mut o, t.key_id.as_deref());
            key(&mut o, "key_hash", false);
            hex_or_null(&mut o, t.key_hash.as_ref().map(|h| &h[..]));
            o.push('}');
        }
        o.push(']');
        key(&mut o, "kdf", false);
        match &self.kdf {
            Some(k) => {
                let _ = write!(
                    o,
                    "{{\"memory_kib\":{},\"iterations\":{},\"parallelism\":{}}}",
                    k.memory_kib, k.iterations, k.parallelism
                );
            }
            None => o.push_str("null"),
        }
        key(&mut o, "fingerprint", false);
        hex_or_null(&mut o, self.fingerprint.as_ref().map(|h| &h[..]));
        key(&mut o, "inputs", false);
        match &self.inputs {
            Some(ids) => {
                o.push('[');
                for (i, id) in ids.iter().enumerate() {
                    if i > 0 {
                        o.push(',');
                    }
                    string(&mut o, &hex::encode(id));
                }
                o.push(']');
            }
            None => o.push_str("null"),
        }
        key(&mut o, "input_check", false);
        string_or_null(&mut o, self.input_check.map(InputCheck::name));
        key(&mut o, "outcome", false);
        string(&mut o, self.outcome.name());
        key(&mut o, "exit", false);
        let _ = write!(o, "{}", self.exit);
        o.push_str("}\n");
        o
    }
}

/// The SHA-256 of a line's bytes (its `\n` included): the next line's `prev`, and the head
/// printed once the line is written.
pub fn line_hash(line_bytes: &[u8]) -> [u8; 32] {
    crypto::checksum(line_bytes)
}

/// A head as people copy it into the paper log: the first 128 bits of the line's SHA-256, in 8
/// groups of 4 uppercase hex digits.
pub fn head_display(hash: &[u8; 32]) -> String {
    group4(&hex::encode_upper(&hash[..16]))
}

/// All 128 bits of a fingerprint, in 8 groups of 4 uppercase hex digits.
pub fn fingerprint_full(fp: &[u8; 16]) -> String {
    group4(&hex::encode_upper(fp))
}

fn group4(h: &str) -> String {
    h.as_bytes()
        .chunks(4)
        .map(|c| String::from_utf8_lossy(c).into_owned())
        .collect::<Vec<_>>()
        .join("-")
}

/// A head given by a person (`--head`): 16 to 64 hex digits once dashes and spaces are removed,
/// in either case. The lowercase digits, to compare with the start of a line's SHA-256.
pub fn parse_head(s: &str) -> Result<String, String> {
    let digits: String = s
        .chars()
        .filter(|c| *c != '-' && !c.is_whitespace())
        .collect::<String>()
        .to_ascii_lowercase();
    if let Some(c) = digits.chars().find(|c| !c.is_ascii_hexdigit()) {
        return Err(format!("{c:?} is not a hex digit"));
    }
    if !(16..=64).contains(&digits.len()) {
        return Err(format!(
            "{} hex digits: give 16 to 64 (the printed head has 32)",
            digits.len()
        ));
    }
    Ok(digits)
}

// ---------------------------------------------------------------------------------------------
// Reading.
// ---------------------------------------------------------------------------------------------

type Obj = serde_json::Map<String, Value>;

/// The object `v` with exactly the keys `keys` (order is checked by re-encoding the line).
fn object<'a>(v: &'a Value, keys: &[&str], what: &str) -> Result<&'a Obj, String> {
    let o = v
        .as_object()
        .ok_or_else(|| format!("{what} is not a JSON object"))?;
    if let Some(k) = o.keys().find(|k| !keys.contains(&k.as_str())) {
        return Err(format!("{what} has an unknown key {k:?}"));
    }
    if let Some(k) = keys.iter().find(|k| !o.contains_key(**k)) {
        return Err(format!("{what} lacks the key {k:?}"));
    }
    Ok(o)
}

fn get<'a>(o: &'a Obj, k: &str) -> &'a Value {
    o.get(k).unwrap_or(&Value::Null)
}

fn str_of<'a>(o: &'a Obj, k: &str) -> Result<&'a str, String> {
    get(o, k)
        .as_str()
        .ok_or_else(|| format!("{k:?} is not a string"))
}

fn opt_str(o: &Obj, k: &str) -> Result<Option<String>, String> {
    match get(o, k) {
        Value::Null => Ok(None),
        v => v
            .as_str()
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| format!("{k:?} is neither a string nor null")),
    }
}

fn hex_bytes(s: &str, k: &str) -> Result<Vec<u8>, String> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("{k:?} is not lowercase hex"));
    }
    hex::decode(s).map_err(|_| format!("{k:?} is not hex"))
}

fn fixed<const N: usize>(s: &str, k: &str) -> Result<[u8; N], String> {
    hex_bytes(s, k)?
        .try_into()
        .map_err(|_| format!("{k:?} is not {} hex digits", 2 * N))
}

fn opt_fixed<const N: usize>(o: &Obj, k: &str) -> Result<Option<[u8; N]>, String> {
    opt_str(o, k)?.map(|s| fixed::<N>(&s, k)).transpose()
}

fn uint(v: &Value, k: &str, max: u64) -> Result<u64, String> {
    v.as_u64()
        .filter(|n| *n <= max)
        .ok_or_else(|| format!("{k:?} is not a whole number from 0 to {max}"))
}

fn check_time(t: &str) -> Result<(), String> {
    let b = t.as_bytes();
    let shape = b.len() == 20
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if shape {
        Ok(())
    } else {
        Err("\"time\" is not YYYY-MM-DDTHH:MM:SSZ".into())
    }
}

const LINE_KEYS: [&str; 14] = [
    "v",
    "prev",
    "time",
    "custody",
    "host",
    "op",
    "files",
    "tokens",
    "kdf",
    "fingerprint",
    "inputs",
    "input_check",
    "outcome",
    "exit",
];
const FILE_KEYS: [&str; 6] = ["path", "role", "sha256", "set", "index", "officer"];
const TOKEN_KEYS: [&str; 6] = ["kind", "serial", "label", "key_label", "key_id", "key_hash"];
const KDF_KEYS: [&str; 3] = ["memory_kib", "iterations", "parallelism"];
const SLOT_KINDS: [&str; 3] = ["pkcs11-aes", "pkcs11-p256", "piv-p256"];

fn file_entry(v: &Value) -> Result<FileEntry, String> {
    let o = object(v, &FILE_KEYS, "a file")?;
    Ok(FileEntry {
        path: str_of(o, "path")?.to_owned(),
        role: match str_of(o, "role")? {
            "read" => Role::Read,
            "written" => Role::Written,
            r => return Err(format!("a file's role {r:?} is neither read nor written")),
        },
        sha256: opt_fixed::<32>(o, "sha256")?,
        set: opt_fixed::<16>(o, "set")?,
        index: match get(o, "index") {
            Value::Null => None,
            v => match uint(v, "index", 255)? {
                0 => return Err("\"index\" is 0".into()),
                // At most 255: checked above.
                n => Some(u8::try_from(n).unwrap_or(u8::MAX)),
            },
        },
        officer: opt_str(o, "officer")?,
    })
}

fn token_entry(v: &Value) -> Result<TokenEntry, String> {
    let o = object(v, &TOKEN_KEYS, "a token")?;
    let kind = str_of(o, "kind")?;
    if !SLOT_KINDS.contains(&kind) {
        return Err(format!("a token's kind {kind:?} is not a slot kind"));
    }
    Ok(TokenEntry {
        kind: kind.to_owned(),
        serial: str_of(o, "serial")?.to_owned(),
        label: opt_str(o, "label")?,
        key_label: opt_str(o, "key_label")?,
        key_id: opt_str(o, "key_id")?
            .map(|s| hex_bytes(&s, "key_id"))
            .transpose()?,
        key_hash: opt_fixed::<32>(o, "key_hash")?,
    })
}

fn kdf(v: &Value) -> Result<Option<KdfParams>, String> {
    if v.is_null() {
        return Ok(None);
    }
    let o = object(v, &KDF_KEYS, "\"kdf\"")?;
    let n = |k: &str| uint(get(o, k), k, u64::from(u32::MAX)).map(|n| n as u32);
    Ok(Some(KdfParams {
        memory_kib: n("memory_kib")?,
        iterations: n("iterations")?,
        parallelism: n("parallelism")?,
    }))
}

impl Line {
    /// Read one line (its `\n` included), strictly: every key present, known and in order, the
    /// one encoding custody writes.
    pub fn parse(bytes: &[u8]) -> Result<Line, String> {
        let body = bytes
            .strip_suffix(b"\n")
            .ok_or("it is cut short (no newline at its end)")?;
        if body.is_empty() {
            return Err("it is empty".into());
        }
        if let Some(b) = body.iter().find(|b| !(b' '..=b'~').contains(*b)) {
            return Err(format!(
                "it holds the byte 0x{b:02x}: a line is printable ASCII"
            ));
        }
        let v: Value = serde_json::from_slice(body).map_err(|e| format!("it is not JSON ({e})"))?;
        let o = object(&v, &LINE_KEYS, "the line")?;
        if get(o, "v").as_u64() != Some(VERSION) {
            return Err(format!(
                "its version \"v\" is {}, not {VERSION}",
                get(o, "v")
            ));
        }
        let op_name = str_of(o, "op")?;
        let op = OPS
            .iter()
            .copied()
            .find(|op| op.name() == op_name)
            .ok_or_else(|| format!("its operation {op_name:?} is unknown"))?;
        let time = str_of(o, "time")?.to_owned();
        check_time(&time)?;
        let list = |k: &str| {
            get(o, k)
                .as_array()
                .ok_or_else(|| format!("{k:?} is not a list"))
        };
        let line = Line {
            prev: fixed::<32>(str_of(o, "prev")?, "prev")?,
            time,
            custody: str_of(o, "custody")?.to_owned(),
            host: str_of(o, "host")?.to_owned(),
            op,
            files: list("files")?
                .iter()
                .map(file_entry)
                .collect::<Result<_, _>>()?,
            tokens: list("tokens")?
                .iter()
                .map(token_entry)
                .collect::<Result<_, _>>()?,
            kdf: kdf(get(o, "kdf"))?,
            fingerprint: opt_fixed::<16>(o, "fingerprint")?,
            inputs: match get(o, "inputs") {
                Value::Null => None,
                Value::Array(a) => Some(
                    a.iter()
                        .map(|v| {
                            v.as_str()
                                .ok_or_else(|| "an input set id is not a string".to_string())
                                .and_then(|s| fixed::<16>(s, "inputs"))
                        })
                        .collect::<Result<_, _>>()?,
                ),
                _ => return Err("\"inputs\" is neither a list nor null".into()),
            },
            input_check: match opt_str(o, "input_check")?.as_deref() {
                None => None,
                Some("unchecked") => Some(InputCheck::Unchecked),
                Some("record") => Some(InputCheck::Record),
                Some("expected") => Some(InputCheck::Expected),
                Some(c) => return Err(format!("\"input_check\" {c:?} is unknown")),
            },
            outcome: match str_of(o, "outcome")? {
                "ok" => Outcome::Ok,
                "restored" => Outcome::Restored,
                "not-written" => Outcome::NotWritten,
                "failed" => Outcome::Failed,
                c => return Err(format!("its outcome {c:?} is unknown")),
            },
            // At most 255: checked by `uint`.
            exit: uint(get(o, "exit"), "exit", 255)? as u8,
        };
        if line.op.has_inputs() != line.inputs.is_some()
            || line.op.has_inputs() != line.input_check.is_some()
        {
            return Err(format!(
                "\"inputs\" and \"input_check\" are {} for a {} line",
                if line.op.has_inputs() {
                    "null"
                } else {
                    "given"
                },
                op.name()
            ));
        }
        if line.encode().as_bytes() != bytes {
            return Err(
                "it is not in the record's one encoding (key order, spacing, escapes \
                        or number form differ from what custody writes)"
                    .into(),
            );
        }
        Ok(line)
    }
}

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
