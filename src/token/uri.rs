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

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

const PKCS11_FORM: &str = "pkcs11:token=<label>;object=<key label>[;id=%01%02]\
     [?module-path=<module.so>&pin-source=file:<path>]";
const PUBKEY_FORM: &str = "pubkey:<FILE>";
const YUBIKEY_FORM: &str = "yubikey:serial=<decimal>[;slot=<hex, e.g. 82 or 0x9c>]\
     [?pin-source=file:<path> | ?pin-value=<pin>]";
const STORED_FORM: &str = "canonical percent-encoding: A-Z a-z 0-9 - . _ ~ as they are, \
     every other byte as %XX with uppercase hex";

/// A `--token` argument.
// Not boxed: there is one per run, and the variant types are part of the interface.
#[allow(clippy::large_enum_variant)]
#[derive(Clone, Debug)]
pub enum TokenLocator {
    Pkcs11(Pkcs11Uri),
    Pubkey(PathBuf),
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

/// A parsed RFC 7512 PKCS#11 URI (the attributes custody uses).
#[derive(Clone, Default)]
pub struct Pkcs11Uri {
    pub token_label: Option<String>,
    pub token_serial: Option<String>,
    pub manufacturer: Option<String>,
    pub model: Option<String>,
    pub slot_id: Option<u64>,
    pub object_label: Option<String>,
    pub object_id: Option<Vec<u8>>,
    /// `secret-key`, `private` or `public`.
    pub object_type: Option<String>,
    pub module_path: Option<PathBuf>,
    pub module_name: Option<String>,
    pub pin_source: Option<PathBuf>,
    pub pin_value: Option<SecretString>,
}

/// A YubiKey (PIV) named by serial number.
#[derive(Clone)]
pub struct YubikeyLocator {
    pub serial: u32,
    pub slot: Option<u8>,
    pub pin_source: Option<PathBuf>,
    pub pin_value: Option<SecretString>,
}

/// Which locator syntax an error is about; decides the expected form shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocatorKind {
    Pkcs11,
    Pubkey,
    Yubikey,
    /// A percent-encoded string from a stored file ([`percent_decode_canonical`]).
    Stored,
}

impl LocatorKind {
    fn expected_form(self) -> &'static str {
        match self {
            LocatorKind::Pkcs11 => PKCS11_FORM,
            LocatorKind::Pubkey => PUBKEY_FORM,
            LocatorKind::Yubikey => YUBIKEY_FORM,
            LocatorKind::Stored => STORED_FORM,
        }
    }
}

/// The part of a URI an attribute was found in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Component {
    /// Before `?`, attributes separated by `;`.
    Path,
    /// After `?`, attributes separated by `&`.
    Query,
}

impl fmt::Display for Component {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Component::Path => "path part (before '?', separated by ';')",
            Component::Query => "query part (after '?', separated by '&')",
        })
    }
}

/// Why a locator or stored string was rejected. Never carries a PIN.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriError {
    /// Not `pkcs11:`, `pubkey:` or `yubikey:`.
    UnknownScheme,
    /// `pubkey:` with nothing after it.
    MissingPath {
        kind: LocatorKind,
    },
    /// An attribute without `=`, without a name, or empty (`;;`, a trailing `;`, a bare `?`).
    MalformedAttribute {
        kind: LocatorKind,
        component: Component,
    },
    UnknownAttribute {
        kind: LocatorKind,
        name: String,
    },
    /// An RFC 7512 attribute custody does not implement; ignoring it would select more
    /// tokens than the user asked for.
    UnsupportedAttribute {
        kind: LocatorKind,
        name: String,
    },
    /// A known attribute in the wrong part, e.g. `pin-value` before the `?`.
    MisplacedAttribute {
        kind: LocatorKind,
        name: String,
        found_in: Component,
    },
    DuplicateAttribute {
        kind: LocatorKind,
        name: String,
    },
    MissingAttribute {
        kind: LocatorKind,
        name: &'static str,
    },
    /// `%` not followed by two hex digits.
    MalformedEscape {
        kind: LocatorKind,
        attribute: String,
    },
    InvalidUtf8 {
        kind: LocatorKind,
        attribute: String,
    },
    /// A raw space or control character: must be written as `%XX`.
    UnencodedCharacter {
        kind: LocatorKind,
        attribute: String,
    },
    InvalidValue {
        kind: LocatorKind,
        attribute: String,
        expected: &'static str,
    },
    /// Both `pin-source` and `pin-value` given (RFC 7512 says to refuse such a URI).
    PinSourceAndValue {
        kind: LocatorKind,
    },
    UnsupportedPinSource {
        kind: LocatorKind,
        reason: &'static str,
    },
    /// [`percent_decode_canonical`] found something [`percent_encode`] would not produce.
    NonCanonical {
        offset: usize,
        reason: &'static str,
    },
}

impl UriError {
    fn kind(&self) -> Option<LocatorKind> {
        match self {
            UriError::UnknownScheme => None,
            UriError::NonCanonical { .. } => Some(LocatorKind::Stored),
            UriError::MissingPath { kind }
            | UriError::MalformedAttribute { kind, .. }
            | UriError::UnknownAttribute { kind, .. }
            | UriError::UnsupportedAttribute { kind, .. }
            | UriError::MisplacedAttribute { kind, .. }
            | UriError::DuplicateAttribute { kind, .. }
            | UriError::MissingAttribute { kind, .. }
            | UriError::MalformedEscape { kind, .. }
            | UriError::InvalidUtf8 { kind, .. }
            | UriError::UnencodedCharacter { kind, .. }
            | UriError::InvalidValue { kind, .. }
            | UriError::PinSourceAndValue { kind }
            | UriError::UnsupportedPinSource { kind, .. } => Some(*kind),
        }
    }
}

impl fmt::Display for UriError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Attribute names from the user are shown with {:?} so control characters cannot
        // disguise the message. Values are never shown: one of them may be a PIN.
        match self {
            UriError::UnknownScheme => {
                return write!(
                    f,
                    "unrecognised token locator; expected one of: {PKCS11_FORM}, \
                     {PUBKEY_FORM}, {YUBIKEY_FORM}"
                );
            }
            UriError::MissingPath { .. } => write!(f, "no file given after 'pubkey:'")?,
            UriError::MalformedAttribute { component, .. } => write!(
                f,
                "malformed attribute in the {component}: each must be name=value"
            )?,
            UriError::UnknownAttribute { name, .. } => write!(
                f,
                "unknown attribute {name:?} (vendor attributes must start with 'x-')"
            )?,
            UriError::UnsupportedAttribute { name, .. } => {
                write!(f, "attribute {name:?} is not supported by custody")?
            }
            UriError::MisplacedAttribute { name, found_in, .. } => {
                let belongs = match found_in {
                    Component::Path => Component::Query,
                    Component::Query => Component::Path,
                };
                write!(
                    f,
                    "attribute {name:?} found in the {found_in}; it belongs in the {belongs}"
                )?
            }
            UriError::DuplicateAttribute { name, .. } => {
                write!(f, "attribute {name:?} given more than once")?
            }
            UriError::MissingAttribute { name, .. } => {
                write!(f, "required attribute '{name}' is missing")?
            }
            UriError::MalformedEscape { attribute, .. } => write!(
                f,
                "malformed percent-escape in attribute {attribute:?}: '%' must be followed \
                 by two hex digits"
            )?,
            UriError::InvalidUtf8 { attribute, .. } => {
                write!(f, "attribute {attribute:?} does not decode to valid UTF-8")?
            }
            UriError::UnencodedCharacter { attribute, .. } => write!(
                f,
                "attribute {attribute:?} contains a space or control character; write it \
                 percent-encoded (a space is %20)"
            )?,
            UriError::InvalidValue {
                attribute,
                expected,
                ..
            } => write!(
                f,
                "invalid value for attribute {attribute:?}: expected {expected}"
            )?,
            UriError::PinSourceAndValue { .. } => {
                write!(f, "give either pin-source or pin-value, not both")?
            }
            UriError::UnsupportedPinSource { reason, .. } => {
                write!(f, "unsupported pin-source: {reason}")?
            }
            UriError::NonCanonical { offset, reason } => write!(
                f,
                "not canonically percent-encoded at byte {offset}: {reason}"
            )?,
        }
        if let Some(kind) = self.kind() {
            write!(f, " (expected {})", kind.expected_form())?;
        }
        Ok(())
    }
}

impl std::error::Error for UriError {}

impl Pkcs11Uri {
    /// Parse an RFC 7512 `pkcs11:` URI.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        const KIND: LocatorKind = LocatorKind::Pkcs11;
        let rest = strip_scheme(s, "pkcs11:").ok_or(UriError::UnknownScheme)?;
        let (path, query) = split_query(rest);
        let mut uri = Pkcs11Uri::default();
        let mut seen: Vec<&str> = Vec::new();

        for (name, raw) in split_attributes(path, ';', KIND, Component::Path)? {
            if is_vendor(name) {
                continue;
            }
            match name {
                "token" | "serial" | "manufacturer" | "model" | "slot-id" | "object" | "id"
                | "type" => note_seen(&mut seen, name, KIND)?,
                "library-manufacturer"
                | "library-description"
                | "library-version"
                | "slot-description"
                | "slot-manufacturer" => {
                    return Err(UriError::UnsupportedAttribute {
                        kind: KIND,
                        name: name.to_owned(),
                    });
                }
                "module-path" | "module-name" | "pin-source" | "pin-value" => {
                    return Err(misplaced(KIND, name, Component::Path));
                }
                _ => return Err(unknown(KIND, name)),
            }
            match name {
                "token" => uri.token_label = Some(decode_string(raw, KIND, name)?),
                "serial" => uri.token_serial = Some(decode_string(raw, KIND, name)?),
                "manufacturer" => uri.manufacturer = Some(decode_string(raw, KIND, name)?),
                "model" => uri.model = Some(decode_string(raw, KIND, name)?),
                "object" => uri.object_label = Some(decode_string(raw, KIND, name)?),
                "id" => uri.object_id = Some(decode(raw, KIND, name)?.to_vec()),
                "slot-id" => {
                    let v = decode_string(raw, KIND, name)?;
                    uri.slot_id = Some(parse_decimal(&v).ok_or_else(|| {
                        invalid(KIND, name, "a decimal number up to 18446744073709551615")
                    })?);
                }
                "type" => {
                    let v = decode_string(raw, KIND, name)?;
                    if !matches!(v.as_str(), "secret-key" | "private" | "public") {
                        return Err(invalid(KIND, name, "secret-key, private or public"));
                    }
                    uri.object_type = Some(v);
                }
                _ => unreachable!("filtered above"),
            }
        }

        if let Some(query) = query {
            for (name, raw) in split_attributes(query, '&', KIND, Component::Query)? {
                if is_vendor(name) {
                    continue;
                }
                match name {
                    "module-path" | "module-name" | "pin-source" | "pin-value" => {
                        note_seen(&mut seen, name, KIND)?
                    }
                    "token"
                    | "serial"
                    | "manufacturer"
                    | "model"
                    | "slot-id"
                    | "object"
                    | "id"
                    | "type"
                    | "library-manufacturer"
                    | "library-description"
                    | "library-version"
                    | "slot-description"
                    | "slot-manufacturer" => {
                        return Err(misplaced(KIND, name, Component::Query));
                    }
                    _ => return Err(unknown(KIND, name)),
                }
                match name {
                    "module-path" => {
                        let v = decode_string(raw, KIND, name)?;
                        if v.is_empty() {
                            return Err(invalid(KIND, name, "the path of a PKCS#11 module"));
                        }
                        uri.module_path = Some(PathBuf::from(v));
                    }
                    "module-name" => {
                        let v = decode_string(raw, KIND, name)?;
                        if v.is_empty() {
                            return Err(invalid(KIND, name, "a PKCS#11 module name"));
                        }
                        uri.module_name = Some(v);
                    }
                    "pin-source" => {
                        let v = decode_string(raw, KIND, name)?;
                        uri.pin_source = Some(parse_pin_source(&v, KIND)?);
                    }
                    "pin-value" => uri.pin_value = Some(decode_secret(raw, KIND, name)?),
                    _ => unreachable!("filtered above"),
                }
            }
        }

        if uri.pin_source.is_some() && uri.pin_value.is_some() {
            return Err(UriError::PinSourceAndValue { kind: KIND });
        }
        Ok(uri)
    }

    /// The path part only (never the query), canonical: attributes in a fixed order,
    /// percent-encoded — safe to show or store.
    pub fn display_without_query(&self) -> String {
        fn text(parts: &mut Vec<String>, name: &str, v: Option<&[u8]>) {
            if let Some(v) = v {
                parts.push(format!("{name}={}", percent_encode(v)));
            }
        }
        let mut parts = Vec::new();
        text(
            &mut parts,
            "token",
            self.token_label.as_ref().map(|v| v.as_bytes()),
        );
        text(
            &mut parts,
            "serial",
            self.token_serial.as_ref().map(|v| v.as_bytes()),
        );
        text(
            &mut parts,
            "manufacturer",
            self.manufacturer.as_ref().map(|v| v.as_bytes()),
        );
        text(
            &mut parts,
            "model",
            self.model.as_ref().map(|v| v.as_bytes()),
        );
        if let Some(slot) = self.slot_id {
            parts.push(format!("slot-id={slot}"));
        }
        text(
            &mut parts,
            "object",
            self.object_label.as_ref().map(|v| v.as_bytes()),
        );
        text(&mut parts, "id", self.object_id.as_deref());
        text(
            &mut parts,
            "type",
            self.object_type.as_ref().map(|v| v.as_bytes()),
        );
        format!("pkcs11:{}", parts.join(";"))
    }
}

impl fmt::Debug for Pkcs11Uri {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pkcs11Uri")
            .field("token_label", &self.token_label)
            .field("token_serial", &self.token_serial)
            .field("manufacturer", &self.manufacturer)
            .field("model", &self.model)
            .field("slot_id", &self.slot_id)
            .field("object_label", &self.object_label)
            .field("object_id", &self.object_id)
            .field("object_type", &self.object_type)
            .field("module_path", &self.module_path)
            .field("module_name", &self.module_name)
            .field("pin_source", &self.pin_source)
            .field("pin_value", &redacted(&self.pin_value))
            .finish()
    }
}

impl YubikeyLocator {
    fn parse_rest(rest: &str) -> Result<Self, UriError> {
        const KIND: LocatorKind = LocatorKind::Yubikey;
        let (path, query) = split_query(rest);
        let mut seen: Vec<&str> = Vec::new();
        let mut serial = None;
        let mut slot = None;
        let mut pin_source = None;
        let mut pin_value = None;

        for (name, raw) in split_attributes(path, ';', KIND, Component::Path)? {
            match name {
                "serial" | "slot" => note_seen(&mut seen, name, KIND)?,
                "pin-source" | "pin-value" => {
                    return Err(misplaced(KIND, name, Component::Path));
                }
                _ => return Err(unknown(KIND, name)),
            }
            let v = decode_string(raw, KIND, name)?;
            if name == "serial" {
                serial = Some(
                    parse_decimal(&v)
                        .and_then(|n| u32::try_from(n).ok())
                        .ok_or_else(|| {
                            invalid(KIND, name, "the decimal serial number (up to 4294967295)")
                        })?,
                );
            } else {
                slot = Some(parse_piv_slot(&v).ok_or_else(|| {
                    invalid(
                        KIND,
                        name,
                        "a PIV key slot in hex: 80 to 95, 9a, 9c, 9d or 9e (0x prefix optional)",
                    )
                })?);
            }
        }

        if let Some(query) = query {
            for (name, raw) in split_attributes(query, '&', KIND, Component::Query)? {
                match name {
                    "pin-source" | "pin-value" => note_seen(&mut seen, name, KIND)?,
                    "serial" | "slot" => return Err(misplaced(KIND, name, Component::Query)),
                    _ => return Err(unknown(KIND, name)),
                }
                if name == "pin-source" {
                    let v = decode_string(raw, KIND, name)?;
                    pin_source = Some(parse_pin_source(&v, KIND)?);
                } else {
                    pin_value = Some(decode_secret(raw, KIND, name)?);
                }
            }
        }

        let serial = serial.ok_or(UriError::MissingAttribute {
            kind: KIND,
            name: "serial",
        })?;
        if pin_source.is_some() && pin_value.is_some() {
            return Err(UriError::PinSourceAndValue { kind: KIND });
        }
        Ok(YubikeyLocator {
            serial,
            slot,
            pin_source,
            pin_value,
        })
    }
}

impl fmt::Debug for YubikeyLocator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("YubikeyLocator")
            .field("serial", &self.serial)
            .field("slot", &self.slot.map(|s| format!("{s:#04x}")))
            .field("pin_source", &self.pin_source)
            .field("pin_value", &redacted(&self.pin_value))
            .finish()
    }
}

fn redacted(v: &Option<SecretString>) -> Option<&'static str> {
    v.as_ref().map(|_| "<redacted>")
}

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
pub fn percent_decode_canonical(s: &str) -> Result<Vec<u8>, UriError> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c == b'%' {
            let digit = |j: usize| b.get(j).copied().filter(u8::is_ascii_hexdigit);
            let (Some(hi), Some(lo)) = (digit(i + 1), digit(i + 2)) else {
                return Err(UriError::NonCanonical {
                    offset: i,
                    reason: "'%' must be followed by two hex digits",
                });
            };
            if hi.is_ascii_lowercase() || lo.is_ascii_lowercase() {
                return Err(UriError::NonCanonical {
                    offset: i,
                    reason: "hex digits in an escape must be uppercase",
                });
            }
            let v = (hex_value(hi) << 4) | hex_value(lo);
            if is_unreserved(v) {
                return Err(UriError::NonCanonical {
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
            return Err(UriError::NonCanonical {
                offset: i,
                reason: "this character must be percent-encoded",
            });
        }
    }
    Ok(out)
}

fn hex_value(c: u8) -> u8 {
    match c {
        b'0'..=b'9' => c - b'0',
        b'a'..=b'f' => c - b'a' + 10,
        b'A'..=b'F' => c - b'A' + 10,
        _ => unreachable!("caller checked is_ascii_hexdigit"),
    }
}

/// The text after `scheme` (which includes the colon); schemes are case-insensitive.
fn strip_scheme<'a>(s: &'a str, scheme: &str) -> Option<&'a str> {
    let head = s.get(..scheme.len())?;
    head.eq_ignore_ascii_case(scheme)
        .then(|| &s[scheme.len()..])
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

fn is_vendor(name: &str) -> bool {
    name.starts_with("x-")
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
    while i < b.len() {
        match b[i] {
            b'%' => {
                let digit = |j: usize| b.get(j).copied().filter(u8::is_ascii_hexdigit);
                let (Some(hi), Some(lo)) = (digit(i + 1), digit(i + 2)) else {
                    return Err(UriError::MalformedEscape {
                        kind,
                        attribute: attribute.to_owned(),
                    });
                };
                out.push((hex_value(hi) << 4) | hex_value(lo));
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

fn parse_piv_slot(s: &str) -> Option<u8> {
    let hex = s
        .strip_prefix("0x")
        .or_else(|| s.strip_prefix("0X"))
        .unwrap_or(s);
    if hex.is_empty() || hex.len() > 2 || !hex.bytes().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let slot = u8::from_str_radix(hex, 16).ok()?;
    matches!(slot, 0x82..=0x95 | 0x9a | 0x9c | 0x9d | 0x9e).then_some(slot)
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
    use secrecy::ExposeSecret;
    use std::path::Path;

    fn p11(s: &str) -> Pkcs11Uri {
        Pkcs11Uri::parse(s).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn p11_err(s: &str) -> UriError {
        match Pkcs11Uri::parse(s) {
            Ok(u) => panic!("{s} parsed: {u:?}"),
            Err(e) => e,
        }
    }

    fn yk(s: &str) -> YubikeyLocator {
        match s.parse::<TokenLocator>() {
            Ok(TokenLocator::Yubikey(y)) => y,
            other => panic!("{s}: {other:?}"),
        }
    }

    fn yk_err(s: &str) -> UriError {
        match s.parse::<TokenLocator>() {
            Ok(l) => panic!("{s} parsed: {l:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn full_pkcs11_uri() {
        let u = p11(
            "pkcs11:token=My%20Token;object=backup-key;id=%01%02%ff;serial=0123abc;\
             manufacturer=ACME%2C%20Inc.;model=HSM%2F2;type=secret-key;slot-id=42\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so&module-name=softhsm2\
             &pin-source=file:/run/pin",
        );
        assert_eq!(u.token_label.as_deref(), Some("My Token"));
        assert_eq!(u.object_label.as_deref(), Some("backup-key"));
        assert_eq!(u.object_id.as_deref(), Some(&[1u8, 2, 0xff][..]));
        assert_eq!(u.token_serial.as_deref(), Some("0123abc"));
        assert_eq!(u.manufacturer.as_deref(), Some("ACME, Inc."));
        assert_eq!(u.model.as_deref(), Some("HSM/2"));
        assert_eq!(u.object_type.as_deref(), Some("secret-key"));
        assert_eq!(u.slot_id, Some(42));
        assert_eq!(
            u.module_path.as_deref(),
            Some(Path::new("/usr/lib/softhsm/libsofthsm2.so"))
        );
        assert_eq!(u.module_name.as_deref(), Some("softhsm2"));
        assert_eq!(u.pin_source.as_deref(), Some(Path::new("/run/pin")));
        assert!(u.pin_value.is_none());
    }

    #[test]
    fn empty_uri_and_scheme_case() {
        let u = p11("pkcs11:");
        assert!(u.token_label.is_none() && u.object_id.is_none() && u.module_path.is_none());
        assert_eq!(u.display_without_query(), "pkcs11:");
        assert_eq!(p11("PKCS11:token=a").token_label.as_deref(), Some("a"));
        // Empty values are legal and distinct from absent ones.
        assert_eq!(p11("pkcs11:token=").token_label.as_deref(), Some(""));
        // '=' inside a value is allowed raw.
        assert_eq!(
            p11("pkcs11:object=a=b").object_label.as_deref(),
            Some("a=b")
        );
    }

    #[test]
    fn pin_value_and_types() {
        let u = p11("pkcs11:object=k;type=private?pin-value=12%2634");
        assert_eq!(u.pin_value.as_ref().unwrap().expose_secret(), "12&34");
        assert_eq!(u.object_type.as_deref(), Some("private"));
        assert_eq!(
            p11("pkcs11:type=public").object_type.as_deref(),
            Some("public")
        );
        for bad in ["cert", "data", "Public", ""] {
            assert!(matches!(
                p11_err(&format!("pkcs11:type={bad}")),
                UriError::InvalidValue { ref attribute, .. } if attribute == "type"
            ));
        }
    }

    #[test]
    fn slot_id() {
        assert_eq!(p11("pkcs11:slot-id=0").slot_id, Some(0));
        assert_eq!(
            p11("pkcs11:slot-id=18446744073709551615").slot_id,
            Some(u64::MAX)
        );
        for bad in ["", "-1", "+1", "1a", "0x10", "18446744073709551616", "%20"] {
            let e = p11_err(&format!("pkcs11:slot-id={bad}"));
            assert!(matches!(e, UriError::InvalidValue { .. }), "{bad}: {e:?}");
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
    fn unknown_vendor_unsupported_misplaced_duplicate() {
        let e = p11_err("pkcs11:token=a;colour=blue");
        assert_eq!(
            e,
            UriError::UnknownAttribute {
                kind: LocatorKind::Pkcs11,
                name: "colour".into()
            }
        );
        assert!(e.to_string().contains("\"colour\""), "{e}");
        assert!(matches!(
            p11_err("pkcs11:?colour=blue"),
            UriError::UnknownAttribute { .. }
        ));

        let u = p11("pkcs11:x-vendor=%zz;token=a;x-vendor=2?x-foo=bar&module-name=m");
        assert_eq!(u.token_label.as_deref(), Some("a"));
        assert_eq!(u.module_name.as_deref(), Some("m"));

        assert!(matches!(
            p11_err("pkcs11:slot-description=x"),
            UriError::UnsupportedAttribute { ref name, .. } if name == "slot-description"
        ));
        assert!(matches!(
            p11_err("pkcs11:token=a;pin-value=1234"),
            UriError::MisplacedAttribute {
                found_in: Component::Path,
                ..
            }
        ));
        assert!(matches!(
            p11_err("pkcs11:?token=a"),
            UriError::MisplacedAttribute {
                found_in: Component::Query,
                ..
            }
        ));
        for dup in [
            "pkcs11:token=a;token=a",
            "pkcs11:id=%01;object=o;id=%02",
            "pkcs11:?module-path=/a&module-path=/b",
            "pkcs11:?pin-value=1&pin-value=1",
        ] {
            assert!(
                matches!(p11_err(dup), UriError::DuplicateAttribute { .. }),
                "{dup}"
            );
        }
        assert!(matches!(
            p11_err("pkcs11:?module-path="),
            UriError::InvalidValue { .. }
        ));
        assert!(matches!(
            p11_err("pkcs11:?module-name="),
            UriError::InvalidValue { .. }
        ));
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
    fn display_without_query_is_canonical_and_round_trips() {
        let u = p11(
            "pkcs11:type=private;id=%a0%01;object=k%20ey;slot-id=7;model=m;\
             manufacturer=A~b;serial=S%2F1;token=T%C3%BC\
             ?pin-value=1234&module-path=/m.so",
        );
        let shown = u.display_without_query();
        assert_eq!(
            shown,
            "pkcs11:token=T%C3%BC;serial=S%2F1;manufacturer=A~b;model=m;slot-id=7;\
             object=k%20ey;id=%A0%01;type=private"
        );
        assert!(!shown.contains('?') && !shown.contains("1234"));
        let again = p11(&shown);
        assert_eq!(again.display_without_query(), shown);
        assert_eq!(again.token_label, u.token_label);
        assert_eq!(again.object_id, u.object_id);
        assert_eq!(again.slot_id, u.slot_id);
        assert!(again.module_path.is_none() && again.pin_value.is_none());
        // Every path part is canonical under the strict decoder.
        for part in shown["pkcs11:".len()..].split(';') {
            let (_, v) = part.split_once('=').unwrap();
            percent_decode_canonical(v).unwrap();
        }
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

    #[test]
    fn yubikey_locators() {
        let y = yk("yubikey:serial=12345678");
        assert_eq!((y.serial, y.slot), (12345678, None));
        assert!(y.pin_source.is_none() && y.pin_value.is_none());

        for (slot, want) in [
            ("82", 0x82),
            ("0x9a", 0x9a),
            ("0X9C", 0x9c),
            ("9d", 0x9d),
            ("9E", 0x9e),
            ("95", 0x95),
            ("95", 0x95),
        ] {
            assert_eq!(
                yk(&format!("yubikey:serial=1;slot={slot}")).slot,
                Some(want)
            );
        }
        let y = yk("yubikey:slot=82;serial=4294967295?pin-source=file:/run/pin");
        assert_eq!(y.serial, u32::MAX);
        assert_eq!(y.pin_source.as_deref(), Some(Path::new("/run/pin")));
        let y = yk("YubiKey:serial=7?pin-value=00%2600");
        assert_eq!(y.pin_value.as_ref().unwrap().expose_secret(), "00&00");

        for bad in ["96", "9b", "9f", "7f", "100", "0x", "", "+82", "082", "x82"] {
            let e = yk_err(&format!("yubikey:serial=1;slot={bad}"));
            assert!(matches!(e, UriError::InvalidValue { .. }), "{bad}: {e:?}");
        }
        for bad in ["", "abc", "-1", "+1", "4294967296", "0x10"] {
            let e = yk_err(&format!("yubikey:serial={bad}"));
            assert!(matches!(e, UriError::InvalidValue { .. }), "{bad}: {e:?}");
        }
        assert_eq!(
            yk_err("yubikey:slot=82"),
            UriError::MissingAttribute {
                kind: LocatorKind::Yubikey,
                name: "serial"
            }
        );
        assert!(matches!(
            yk_err("yubikey:"),
            UriError::MissingAttribute { .. }
        ));
        assert!(matches!(
            yk_err("yubikey:serial=1?pin-source=/p&pin-value=1"),
            UriError::PinSourceAndValue { .. }
        ));
        assert!(matches!(
            yk_err("yubikey:serial=1;serial=1"),
            UriError::DuplicateAttribute { .. }
        ));
        assert!(matches!(
            yk_err("yubikey:serial=1;x-a=b"),
            UriError::UnknownAttribute { .. }
        ));
        assert!(matches!(
            yk_err("yubikey:serial=1;pin-value=1"),
            UriError::MisplacedAttribute { .. }
        ));
        assert!(matches!(
            yk_err("yubikey:serial=1?slot=82"),
            UriError::MisplacedAttribute { .. }
        ));
        assert!(matches!(
            yk_err("yubikey:serial=1?pin-source=|cat"),
            UriError::UnsupportedPinSource { .. }
        ));
        assert!(
            yk_err("yubikey:serial=x")
                .to_string()
                .contains("yubikey:serial=")
        );
    }

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
                Err(UriError::NonCanonical { offset: o, .. }) => assert_eq!(o, offset, "{bad}"),
                other => panic!("{bad}: {other:?}"),
            }
        }
        let msg = percent_decode_canonical("%2f").unwrap_err().to_string();
        assert!(msg.contains("uppercase"), "{msg}");
    }
}
