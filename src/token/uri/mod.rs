//! Token locators, as given on the command line with `--token`.
//!
//! Three forms are understood:
//!
//! - RFC 7512 PKCS#11 URIs:
//!   `pkcs11:token=<label>;object=<key label>[;id=%01%02]?module-path=<module.so>&pin-source=file:<path>`
//! - `pubkey:<FILE>`: everything after `pubkey:` is a path, taken literally.
//! - `yubikey:serial=<n>[;slot=<hex>][?pin-source=file:<path> | ?pin-value=<pin>]`
//!
//! Parsing is pure: nothing here reads a PIN file or touches a token.
//!
//! A `pin-value` is only ever held in a [`SecretString`]. It never appears in `Debug` output
//! or in a [`UriError`]: errors name attributes, never echo values.

mod error;
mod pkcs11;
mod yubikey;

use std::path::PathBuf;
use std::str::FromStr;

use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

pub use error::{Component, LocatorKind, UriError};
pub use pkcs11::Pkcs11Uri;
pub use yubikey::YubikeyLocator;

// The stored encoding belongs to the file format; re-exported so that code building
// `pkcs11:` strings from token names (the CLI) keeps its import path.

/// A `--token` argument.
// Not boxed: there is one per run, and the variant types are part of the interface.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum TokenLocator {
    /// `pkcs11:` — a token and key through a PKCS#11 module.
    Pkcs11(Pkcs11Uri),
    /// `pubkey:<FILE>` — a public-key file, not a token: it can make a slot, never open one.
    /// The path is taken literally (not percent-decoded).
    Pubkey(PathBuf),
    /// `yubikey:` — a YubiKey's PIV slot.
    Yubikey(YubikeyLocator),
}

impl FromStr for TokenLocator {
    type Err = UriError;

    fn from_str(s: &str) -> Result<Self, UriError> {
        if strip_scheme(s, "pkcs11:").is_some() {
            Pkcs11Uri::parse(s).map(TokenLocator::Pkcs11)
        } else if let Some(rest) = strip_scheme(s, "pubkey:") {
            if rest.is_empty() {
                return Err(UriError::MissingPath {
                    kind: LocatorKind::Pubkey,
                });
            }
            Ok(TokenLocator::Pubkey(PathBuf::from(rest)))
        } else if let Some(rest) = strip_scheme(s, "yubikey:") {
            YubikeyLocator::parse_rest(rest).map(TokenLocator::Yubikey)
        } else {
            Err(UriError::UnknownScheme)
        }
    }
}

fn redacted(v: &Option<SecretString>) -> Option<&'static str> {
    v.as_ref().map(|_| "<redacted>")
}

/// The text after `scheme` (which includes the colon); schemes are case-insensitive.
fn strip_scheme<'a>(s: &'a str, scheme: &str) -> Option<&'a str> {
    let head = s.get(..scheme.len())?;
    if !head.eq_ignore_ascii_case(scheme) {
        return None;
    }
    s.get(scheme.len()..)
}

fn split_query(rest: &str) -> (&str, Option<&str>) {
    match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    }
}

/// Split `name=value` attributes; values stay raw (still percent-encoded).
fn split_attributes(
    s: &str,
    sep: char,
    kind: LocatorKind,
    component: Component,
) -> Result<Vec<(&str, &str)>, UriError> {
    // An empty path is valid ("pkcs11:" matches everything); an empty query ("x?") is not.
    if s.is_empty() && component == Component::Path {
        return Ok(Vec::new());
    }
    s.split(sep)
        .map(|attr| match attr.split_once('=') {
            Some((name, value)) if !name.is_empty() => Ok((name, value)),
            _ => Err(UriError::MalformedAttribute { kind, component }),
        })
        .collect()
}

fn note_seen<'a>(
    seen: &mut Vec<&'a str>,
    name: &'a str,
    kind: LocatorKind,
) -> Result<(), UriError> {
    if seen.contains(&name) {
        return Err(UriError::DuplicateAttribute {
            kind,
            name: name.to_owned(),
        });
    }
    seen.push(name);
    Ok(())
}

fn misplaced(kind: LocatorKind, name: &str, found_in: Component) -> UriError {
    UriError::MisplacedAttribute {
        kind,
        name: name.to_owned(),
        found_in,
    }
}

fn unknown(kind: LocatorKind, name: &str) -> UriError {
    UriError::UnknownAttribute {
        kind,
        name: name.to_owned(),
    }
}

fn invalid(kind: LocatorKind, attribute: &str, expected: &'static str) -> UriError {
    UriError::InvalidValue {
        kind,
        attribute: attribute.to_owned(),
        expected,
    }
}

/// Lenient URI decoding: either hex case, raw reserved characters allowed.
///
/// Raw spaces and control characters are refused rather than kept or skipped: p11-kit
/// silently drops whitespace while decoding, so accepting it would let the same string name
/// a different token here than in other tools.
fn decode(raw: &str, kind: LocatorKind, attribute: &str) -> Result<Zeroizing<Vec<u8>>, UriError> {
    let b = raw.as_bytes();
    let mut out = Zeroizing::new(Vec::with_capacity(b.len()));
    let mut i = 0;
    while let Some(&c) = b.get(i) {
        match c {
            b'%' => {
                let digit = |j: usize| b.get(j).copied().and_then(hex_value);
                let (Some(hi), Some(lo)) = (digit(i + 1), digit(i + 2)) else {
                    return Err(UriError::MalformedEscape {
                        kind,
                        attribute: attribute.to_owned(),
                    });
                };
                out.push((hi << 4) | lo);
                i += 3;
            }
            c if c <= b' ' || c == 0x7f => {
                return Err(UriError::UnencodedCharacter {
                    kind,
                    attribute: attribute.to_owned(),
                });
            }
            c => {
                out.push(c);
                i += 1;
            }
        }
    }
    Ok(out)
}

// The canonical decoder for stored strings (crate::format) has its own copy: the two decoders
// accept different inputs and are not meant to share code.
/// The value of a hex digit of either case; `None` for any other byte.
fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

fn decode_string(raw: &str, kind: LocatorKind, attribute: &str) -> Result<String, UriError> {
    let bytes = decode(raw, kind, attribute)?;
    String::from_utf8(bytes.to_vec()).map_err(|_| UriError::InvalidUtf8 {
        kind,
        attribute: attribute.to_owned(),
    })
}

fn decode_secret(raw: &str, kind: LocatorKind, attribute: &str) -> Result<SecretString, UriError> {
    let bytes = decode(raw, kind, attribute)?;
    // Copy into an exactly-sized buffer so that turning it into a Box<str> does not
    // reallocate and leave an unzeroed copy of the PIN behind.
    let mut exact = Vec::with_capacity(bytes.len());
    exact.extend_from_slice(&bytes);
    match String::from_utf8(exact) {
        Ok(s) => Ok(SecretString::from(s)),
        Err(e) => {
            e.into_bytes().zeroize();
            Err(UriError::InvalidUtf8 {
                kind,
                attribute: attribute.to_owned(),
            })
        }
    }
}

fn parse_decimal(s: &str) -> Option<u64> {
    if s.is_empty() || !s.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// `file:<path>`, `file:///<path>`, `file://localhost/<path>` or a plain path.
///
/// The value is percent-decoded once, as an attribute; a `file:` path is then taken
/// literally, not decoded a second time.
fn parse_pin_source(v: &str, kind: LocatorKind) -> Result<PathBuf, UriError> {
    const EXPECTED: &str = "file:<path> or a path to a file holding the PIN";
    if v.starts_with('|') {
        return Err(UriError::UnsupportedPinSource {
            kind,
            reason: "running a command ('|command') to get the PIN is not supported; \
                     use file:<path>",
        });
    }
    let path = if let Some(rest) = strip_scheme(v, "file:") {
        match rest.strip_prefix("//") {
            Some(after) => {
                let (host, path) = after.split_at(after.find('/').unwrap_or(after.len()));
                if !(host.is_empty() || host.eq_ignore_ascii_case("localhost")) {
                    return Err(UriError::UnsupportedPinSource {
                        kind,
                        reason: "only a local file (file:///path) can hold the PIN",
                    });
                }
                path
            }
            None => rest,
        }
    } else if has_uri_scheme(v) {
        return Err(UriError::UnsupportedPinSource {
            kind,
            reason: "only file: URIs and plain paths are supported (write ./name for a \
                     relative file name containing ':')",
        });
    } else {
        v
    };
    if path.is_empty() {
        return Err(invalid(kind, "pin-source", EXPECTED));
    }
    Ok(PathBuf::from(path))
}

/// RFC 3986 scheme: ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) ":".
fn has_uri_scheme(v: &str) -> bool {
    let Some((scheme, _)) = v.split_once(':') else {
        return false;
    };
    let mut bytes = scheme.bytes();
    bytes.next().is_some_and(|c| c.is_ascii_alphabetic())
        && bytes.all(|c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::Path;

    pub(super) fn p11(s: &str) -> Pkcs11Uri {
        Pkcs11Uri::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    pub(super) fn p11_err(s: &str) -> UriError {
        match Pkcs11Uri::parse(s) {
            Ok(u) => panic!("{s} parsed: {u:?}"),
            Err(e) => e,
        }
    }

    pub(super) fn yk(s: &str) -> YubikeyLocator {
        match s.parse::<TokenLocator>() {
            Ok(TokenLocator::Yubikey(y)) => y,
            other => panic!("{s}: {other:?}"),
        }
    }

    pub(super) fn yk_err(s: &str) -> UriError {
        match s.parse::<TokenLocator>() {
            Ok(l) => panic!("{s} parsed: {l:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn escapes() {
        assert_eq!(
            p11("pkcs11:token=%2f%2F").token_label.as_deref(),
            Some("//")
        );
        assert_eq!(
            p11("pkcs11:token=J%C3%BCrgen").token_label.as_deref(),
            Some("Jürgen")
        );
        for bad in ["%", "%2", "%G0", "%2G", "a%", "%%41"] {
            assert!(
                matches!(
                    p11_err(&format!("pkcs11:token={bad}")),
                    UriError::MalformedEscape { ref attribute, .. } if attribute == "token"
                ),
                "{bad}"
            );
        }
        assert!(matches!(
            p11_err("pkcs11:token=%FF"),
            UriError::InvalidUtf8 { ref attribute, .. } if attribute == "token"
        ));
        assert!(matches!(
            p11_err("pkcs11:?pin-value=%C3"),
            UriError::InvalidUtf8 { .. }
        ));
        // id is raw bytes: no UTF-8 requirement.
        assert_eq!(p11("pkcs11:id=%C3").object_id, Some(vec![0xc3]));
        for bad in ["My Token", "a\tb", "a\u{7f}"] {
            assert!(matches!(
                p11_err(&format!("pkcs11:token={bad}")),
                UriError::UnencodedCharacter { .. }
            ));
        }
    }

    #[test]
    fn attribute_structure_errors() {
        for bad in [
            "pkcs11:token",
            "pkcs11:token=a;",
            "pkcs11:token=a;;object=b",
            "pkcs11:=a",
            "pkcs11:token=a?",
            "pkcs11:token=a?module-name=x&",
        ] {
            assert!(
                matches!(p11_err(bad), UriError::MalformedAttribute { .. }),
                "{bad}"
            );
        }
    }

    #[test]
    fn pin_sources() {
        for (src, want) in [
            ("file:/etc/pin", "/etc/pin"),
            ("FILE:/etc/pin", "/etc/pin"),
            ("file:///etc/pin", "/etc/pin"),
            ("file://localhost/etc/pin", "/etc/pin"),
            ("file:pin.txt", "pin.txt"),
            ("/etc/pin", "/etc/pin"),
            ("pins/pin.txt", "pins/pin.txt"),
            ("./a:b", "./a:b"),
            ("file:a%3Ab", "a:b"),
        ] {
            let u = p11(&format!("pkcs11:?pin-source={src}"));
            assert_eq!(u.pin_source.as_deref(), Some(Path::new(want)), "{src}");
        }
        for bad in [
            "|/bin/cat",
            "%7C/bin/cat",
            "https://x/pin",
            "a:b",
            "file://host/pin",
        ] {
            let e = p11_err(&format!("pkcs11:?pin-source={bad}"));
            assert!(
                matches!(e, UriError::UnsupportedPinSource { .. }),
                "{bad}: {e:?}"
            );
        }
        for bad in ["", "file:", "file://", "file://localhost"] {
            let e = p11_err(&format!("pkcs11:?pin-source={bad}"));
            assert!(matches!(e, UriError::InvalidValue { .. }), "{bad}: {e:?}");
        }
        assert_eq!(
            p11_err("pkcs11:?pin-source=/p&pin-value=1"),
            UriError::PinSourceAndValue {
                kind: LocatorKind::Pkcs11
            }
        );
    }

    #[test]
    fn pin_value_never_shown() {
        let u = p11("pkcs11:token=t?pin-value=1234");
        let dbg = format!("{u:?}");
        assert!(!dbg.contains("1234"), "{dbg}");
        assert!(dbg.contains("pin_value: Some(\"<redacted>\")"), "{dbg}");
        let loc: TokenLocator = "pkcs11:token=t?pin-value=1234".parse().unwrap();
        assert!(!format!("{loc:?}").contains("1234"));

        let y = yk("yubikey:serial=5?pin-value=1234");
        let dbg = format!("{y:?}");
        assert!(!dbg.contains("1234") && dbg.contains("<redacted>"), "{dbg}");

        for bad in [
            "pkcs11:token=t?pin-value=s3cr3t%zz",
            "pkcs11:token=t?pin-value=s3cr3t%FF",
            "pkcs11:token=t?pin-value=s3cr3t x",
            "pkcs11:token=t;pin-value=s3cr3t",
            "pkcs11:token=t?pin-value=s3cr3t&pin-value=s3cr3t",
            "pkcs11:token=t?pin-values3cr3t",
            "pkcs11:token=t?pin-source=/p&pin-value=s3cr3t",
            "pkcs11:token=t?pin-value=s3cr3t&colour=x",
            "pkcs11 :token=t?pin-value=s3cr3t",
            "yubikey:serial=1?pin-value=s3cr3t%zz",
            "yubikey:serial=x?pin-value=s3cr3t",
        ] {
            let e = bad.parse::<TokenLocator>().unwrap_err();
            assert!(!e.to_string().contains("s3cr3t"), "{bad}: {e}");
            assert!(!format!("{e:?}").contains("s3cr3t"), "{bad}: {e:?}");
        }
    }

    #[test]
    fn locator_forms() {
        match "pubkey:/media/usb/token.pub"
            .parse::<TokenLocator>()
            .unwrap()
        {
            TokenLocator::Pubkey(p) => assert_eq!(p, Path::new("/media/usb/token.pub")),
            other => panic!("{other:?}"),
        }
        match "pubkey:a?b;c=%20".parse::<TokenLocator>().unwrap() {
            TokenLocator::Pubkey(p) => assert_eq!(p, Path::new("a?b;c=%20")),
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            "pkcs11:token=a".parse::<TokenLocator>().unwrap(),
            TokenLocator::Pkcs11(_)
        ));
        assert_eq!(
            "pubkey:".parse::<TokenLocator>().unwrap_err(),
            UriError::MissingPath {
                kind: LocatorKind::Pubkey
            }
        );
        for bad in ["", "token.pub", "file:/x", "pkcs11", "yubikey", "pubkey"] {
            let e = bad.parse::<TokenLocator>().unwrap_err();
            assert_eq!(e, UriError::UnknownScheme, "{bad}");
            let msg = e.to_string();
            assert!(msg.contains("pkcs11:") && msg.contains("pubkey:") && msg.contains("yubikey:"));
        }
        assert_eq!(
            Pkcs11Uri::parse("pubkey:x").unwrap_err(),
            UriError::UnknownScheme
        );
    }
}
