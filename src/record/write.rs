//! Writing a line in its one encoding.

#[allow(unused_imports)]
use super::*;

use crate::crypto::{self};

// ---------------------------------------------------------------------------------------------
// Writing.
// ---------------------------------------------------------------------------------------------

/// A JSON string in the record's one form: printable ASCII as is except `"` and `\`, which are
/// escaped with a backslash; every other character as `\uXXXX` (lowercase hex, UTF-16 surrogate
/// pairs beyond the BMP). A line is therefore printable ASCII: no terminal escape, newline or
/// bidirectional control can hide in it.
pub(super) fn string(out: &mut String, s: &str) {
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

pub(super) fn hex_or_null(out: &mut String, bytes: Option<&[u8]>) {
    match bytes {
        Some(b) => string(out, &hex::encode(b)),
        None => out.push_str("null"),
    }
}

pub(super) fn string_or_null(out: &mut String, s: Option<&str>) {
    match s {
        Some(s) => string(out, s),
        None => out.push_str("null"),
    }
}

pub(super) fn key(out: &mut String, k: &str, first: bool) {
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

pub(super) fn group4(h: &str) -> String {
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
