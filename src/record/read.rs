//! Reading a line strictly: every key, in order, every value in its one form.

#[allow(unused_imports)]
use super::*;

use serde_json::Value;

use crate::crypto::KdfParams;

// ---------------------------------------------------------------------------------------------
// Reading.
// ---------------------------------------------------------------------------------------------

pub(super) type Obj = serde_json::Map<String, Value>;

/// The object `v` with exactly the keys `keys` (order is checked by re-encoding the line).
pub(super) fn object<'a>(v: &'a Value, keys: &[&str], what: &str) -> Result<&'a Obj, String> {
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

pub(super) fn get<'a>(o: &'a Obj, k: &str) -> &'a Value {
    o.get(k).unwrap_or(&Value::Null)
}

pub(super) fn str_of<'a>(o: &'a Obj, k: &str) -> Result<&'a str, String> {
    get(o, k)
        .as_str()
        .ok_or_else(|| format!("{k:?} is not a string"))
}

pub(super) fn opt_str(o: &Obj, k: &str) -> Result<Option<String>, String> {
    match get(o, k) {
        Value::Null => Ok(None),
        v => v
            .as_str()
            .map(|s| Some(s.to_owned()))
            .ok_or_else(|| format!("{k:?} is neither a string nor null")),
    }
}

pub(super) fn hex_bytes(s: &str, k: &str) -> Result<Vec<u8>, String> {
    if s.bytes().any(|b| b.is_ascii_uppercase()) {
        return Err(format!("{k:?} is not lowercase hex"));
    }
    hex::decode(s).map_err(|_| format!("{k:?} is not hex"))
}

pub(super) fn fixed<const N: usize>(s: &str, k: &str) -> Result<[u8; N], String> {
    hex_bytes(s, k)?
        .try_into()
        .map_err(|_| format!("{k:?} is not {} hex digits", 2 * N))
}

pub(super) fn opt_fixed<const N: usize>(o: &Obj, k: &str) -> Result<Option<[u8; N]>, String> {
    opt_str(o, k)?.map(|s| fixed::<N>(&s, k)).transpose()
}

pub(super) fn uint(v: &Value, k: &str, max: u64) -> Result<u64, String> {
    v.as_u64()
        .filter(|n| *n <= max)
        .ok_or_else(|| format!("{k:?} is not a whole number from 0 to {max}"))
}

pub(super) fn check_time(t: &str) -> Result<(), String> {
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

pub(super) const LINE_KEYS: [&str; 14] = [
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
pub(super) const FILE_KEYS: [&str; 6] = ["path", "role", "sha256", "set", "index", "officer"];
pub(super) const TOKEN_KEYS: [&str; 6] =
    ["kind", "serial", "label", "key_label", "key_id", "key_hash"];
pub(super) const KDF_KEYS: [&str; 3] = ["memory_kib", "iterations", "parallelism"];
pub(super) const SLOT_KINDS: [&str; 3] = ["pkcs11-aes", "pkcs11-p256", "piv-p256"];

pub(super) fn file_entry(v: &Value) -> Result<FileEntry, String> {
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

pub(super) fn token_entry(v: &Value) -> Result<TokenEntry, String> {
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

pub(super) fn kdf(v: &Value) -> Result<Option<KdfParams>, String> {
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
