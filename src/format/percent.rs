//! Token strings as stored (docs/FORMAT.md §2.4): canonical percent-encoding.
//!
//! This is the file's encoding, stricter than what a `pkcs11:` URI accepts on the command line
//! (that lenient decoding lives with the URI parser in `token::uri`).

use std::fmt;

const STORED_FORM: &str = "canonical percent-encoding: A-Z a-z 0-9 - . _ ~ as they are, \
     every other byte as %XX with uppercase hex";

/// [`percent_decode_canonical`] found something [`percent_encode`] would not produce.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PercentError {
    /// Byte offset of the offending character or escape in the stored string.
    pub offset: usize,
    /// What is wrong there; never contains the string's value.
    pub reason: &'static str,
}

impl fmt::Display for PercentError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not canonically percent-encoded at byte {}: {} (expected {STORED_FORM})",
            self.offset, self.reason
        )
    }
}

impl std::error::Error for PercentError {}

fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~')
}

/// Percent-encode a token string for storing: keep only ALPHA / DIGIT / '-' / '.' / '_' /
/// '~' unescaped, everything else %XX uppercase hex (UTF-8 bytes).
pub fn percent_encode(bytes: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if is_unreserved(b) {
            out.push(char::from(b));
        } else {
            out.push('%');
            out.push(char::from(HEX[usize::from(b >> 4)]));
            out.push(char::from(HEX[usize::from(b & 0x0f)]));
        }
    }
    out
}

/// Strict decoding for the file format: reject anything that [`percent_encode`] would not
/// have produced (non-canonical: lowercase hex, escaped unreserved chars, raw reserved
/// chars). Returns bytes.
///
/// Strictness keeps one encoding per value, so a stored string can be compared or
/// authenticated as text without two spellings meaning the same token.
pub fn percent_decode_canonical(s: &str) -> Result<Vec<u8>, PercentError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        if c == b'%' {
            // Each digit with its value, so that no later step has to trust an earlier check.
            let digit = |j: usize| b.get(j).and_then(|&d| Some((d, hex_value(d)?)));
            let (Some((hi, hi_value)), Some((lo, lo_value))) = (digit(i + 1), digit(i + 2)) else {
                return Err(PercentError {
                    offset: i,
                    reason: "'%' must be followed by two hex digits",
                });
            };
            if hi.is_ascii_lowercase() || lo.is_ascii_lowercase() {
                return Err(PercentError {
                    offset: i,
                    reason: "hex digits in an escape must be uppercase",
                });
            }
            let v = (hi_value << 4) | lo_value;
            if is_unreserved(v) {
                return Err(PercentError {
                    offset: i,
                    reason: "an unreserved character must not be escaped",
                });
            }
            out.push(v);
            i += 3;
        } else if is_unreserved(c) {
            out.push(c);
            i += 1;
        } else {
            return Err(PercentError {
                offset: i,
                reason: "this character must be percent-encoded",
            });
        }
    }
    Ok(out)
}

/// The value of a hex digit of either case; `None` for any other byte.
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_encode_decode_are_inverse() {
        let all: Vec<u8> = (0..=255).collect();
        let enc = percent_encode(&all);
        assert_eq!(percent_decode_canonical(&enc).unwrap(), all);
        assert!(enc.bytes().all(|c| is_unreserved(c) || c == b'%'));
        assert_eq!(percent_encode(b"aZ09-._~"), "aZ09-._~");
        assert_eq!(percent_encode("a b/ü".as_bytes()), "a%20b%2F%C3%BC");
        assert_eq!(percent_encode(b""), "");
        assert_eq!(percent_decode_canonical("").unwrap(), b"");
        for s in ["%2F", "a%20b", "%00%FF", "~"] {
            assert_eq!(percent_encode(&percent_decode_canonical(s).unwrap()), s);
        }
    }

    #[test]
    fn percent_decode_rejects_non_canonical() {
        for (bad, offset) in [
            ("%2f", 0),
            ("a%c3%BC", 1),
            ("%41", 0),
            ("x%7E", 1),
            ("a b", 1),
            ("/", 0),
            ("a;b", 1),
            ("ü", 0),
            ("%", 0),
            ("%4", 0),
            ("ab%G1", 2),
            ("+", 0),
        ] {
            match percent_decode_canonical(bad) {
                Err(PercentError { offset: o, .. }) => assert_eq!(o, offset, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let msg = percent_decode_canonical("%2f").unwrap_err().to_string();
        assert!(msg.contains("uppercase"), "{msg}");
    }

    /// The text a reader of a damaged file sees, word for word as it was when this error was
    /// part of the URI error type.
    #[test]
    fn percent_error_message() {
        assert_eq!(
            percent_decode_canonical("a%2f").unwrap_err().to_string(),
            "not canonically percent-encoded at byte 1: hex digits in an escape must be \
             uppercase (expected canonical percent-encoding: A-Z a-z 0-9 - . _ ~ as they are, \
             every other byte as %XX with uppercase hex)"
        );
    }
}
