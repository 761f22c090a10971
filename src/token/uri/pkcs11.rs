//! RFC 7512 `pkcs11:` URIs.

use std::fmt;
use std::path::PathBuf;

use secrecy::SecretString;

use super::{
    Component, LocatorKind, UriError, decode, decode_secret, decode_string, invalid, misplaced,
    note_seen, parse_decimal, parse_pin_source, redacted, split_attributes, split_query,
    strip_scheme, unknown,
};
use crate::format::percent_encode;

/// A parsed RFC 7512 PKCS#11 URI (the attributes custody uses).
#[derive(Clone, Default)]
///
/// Every value is percent-decoded; `None` means the attribute was absent (an empty value is
/// `Some("")`). Decoded strings are the user's own, unescaped. `Debug` never shows the PIN.
pub struct Pkcs11Uri {
    /// `token=`: the token's label.
    pub token_label: Option<String>,
    /// `serial=`: the token's serial number.
    pub token_serial: Option<String>,
    /// `manufacturer=`: the token's manufacturer id.
    pub manufacturer: Option<String>,
    /// `model=`: the token's model.
    pub model: Option<String>,
    /// `slot-id=`: the slot holding the token (ids may change between runs).
    pub slot_id: Option<u64>,
    /// `object=`: the key's `CKA_LABEL`.
    pub object_label: Option<String>,
    /// `id=`: the key's `CKA_ID`, raw bytes.
    pub object_id: Option<Vec<u8>>,
    /// `type=`: `secret-key`, `private` or `public`.
    pub object_type: Option<String>,
    /// `slot-description=`: the slot's description (`C_GetSlotInfo`).
    pub slot_description: Option<String>,
    /// `slot-manufacturer=`: the slot's manufacturer id (`C_GetSlotInfo`).
    pub slot_manufacturer: Option<String>,
    /// `library-manufacturer=`: the module's manufacturer id (`C_GetInfo`).
    pub library_manufacturer: Option<String>,
    /// `library-description=`: the module's description (`C_GetInfo`).
    pub library_description: Option<String>,
    /// `library-version=`: the module's version, `major` or `major.minor` (`C_GetInfo`).
    pub library_version: Option<(u8, Option<u8>)>,
    /// `module-path=` (query): the PKCS#11 module to load; never empty.
    pub module_path: Option<PathBuf>,
    /// `module-name=` (query): a module registered with p11-kit (its configuration file's name
    /// without `.module`). Resolved where modules are loaded: a name that is not registered is
    /// refused there, never replaced by another module. Never together with `module_path`.
    pub module_name: Option<String>,
    /// `pin-source=` (query): a file holding the PIN. Only the path: nothing here reads it.
    pub pin_source: Option<PathBuf>,
    /// `pin-value=` (query): the PIN itself, visible in the process arguments. Never together
    /// with `pin_source`.
    pub pin_value: Option<SecretString>,
}

impl Pkcs11Uri {
    /// Parse an RFC 7512 `pkcs11:` URI.
    pub fn parse(s: &str) -> Result<Self, UriError> {
        const KIND: LocatorKind = LocatorKind::Pkcs11;
        let rest = strip_scheme(s, "pkcs11:").ok_or(UriError::UnknownScheme)?;
        let (path, query) = split_query(rest);
        let mut uri = Pkcs11Uri::default();
        let mut seen: Vec<&str> = Vec::new();

        // One match per part: an attribute is either stored (once: `note_seen` refuses a
        // second) or refused, so no name can fall through unhandled.
        for (name, raw) in split_attributes(path, ';', KIND, Component::Path)? {
            match name {
                "token" => {
                    note_seen(&mut seen, name, KIND)?;
                    uri.token_label = Some(decode_string(raw, KIND, name)?);
                }
                "serial" => {
                    note_seen(&mut seen, name, KIND)?;
                    uri.token_serial = Some(decode_string(raw, KIND, name)?);
                }
                "manufacturer" => {
                    note_seen(&mut seen, name, KIND)?;
                    uri.manufacturer = Some(decode_string(raw, KIND, name)?);
                }
                "model" => {
                    note_seen(&mut seen, name, KIND)?;
                    uri.model = Some(decode_string(raw, KIND, name)?);
                }
                "object" => {
                    note_seen(&mut seen, name, KIND)?;
                    uri.object_label = Some(decode_string(raw, KIND, name)?);
                }
                "id" => {
                    note_seen(&mut seen, name, KIND)?;
                    uri.object_id = Some(decode(raw, KIND, name)?.to_vec());
                }
                "slot-id" => {
                    note_seen(&mut seen, name, KIND)?;
                    let v = decode_string(raw, KIND, name)?;
                    uri.slot_id = Some(parse_decimal(&v).ok_or_else(|| {
                        invalid(KIND, name, "a decimal number up to 18446744073709551615")
                    })?);
                }
                "type" => {
                    note_seen(&mut seen, name, KIND)?;
                    let v = decode_string(raw, KIND, name)?;
                    if !matches!(v.as_str(), "secret-key" | "private" | "public") {
                        return Err(invalid(KIND, name, "secret-key, private or public"));
                    }
                    uri.object_type = Some(v);
                }
                "slot-description" => {
                    note_seen(&mut seen, name, KIND)?;
                    uri.slot_description = Some(decode_string(raw, KIND, name)?);
                }
                "slot-manufacturer" => {
                    note_seen(&mut seen, name, KIND)?;
                    uri.slot_manufacturer = Some(decode_string(raw, KIND, name)?);
                }
                "library-manufacturer" => {
                    note_seen(&mut seen, name, KIND)?;
                    uri.library_manufacturer = Some(decode_string(raw, KIND, name)?);
                }
                "library-description" => {
                    note_seen(&mut seen, name, KIND)?;
                    uri.library_description = Some(decode_string(raw, KIND, name)?);
                }
                "library-version" => {
                    note_seen(&mut seen, name, KIND)?;
                    let v = decode_string(raw, KIND, name)?;
                    uri.library_version = Some(parse_version(&v).ok_or_else(|| {
                        invalid(KIND, name, "a version: MAJOR or MAJOR.MINOR, each 0 to 255")
                    })?);
                }
                "module-path" | "module-name" | "pin-source" | "pin-value" => {
                    return Err(misplaced(KIND, name, Component::Path));
                }
                // A vendor's attribute narrows the match in a way custody cannot honour:
                // refused by name, never accepted and ignored.
                _ if is_vendor(name) => return Err(unsupported(name)),
                _ => return Err(unknown(KIND, name)),
            }
        }

        if let Some(query) = query {
            for (name, raw) in split_attributes(query, '&', KIND, Component::Query)? {
                match name {
                    "module-path" => {
                        note_seen(&mut seen, name, KIND)?;
                        let v = decode_string(raw, KIND, name)?;
                        if v.is_empty() {
                            return Err(invalid(KIND, name, "the path of a PKCS#11 module"));
                        }
                        uri.module_path = Some(PathBuf::from(v));
                    }
                    "module-name" => {
                        note_seen(&mut seen, name, KIND)?;
                        let v = decode_string(raw, KIND, name)?;
                        if v.is_empty() {
                            return Err(invalid(KIND, name, "a PKCS#11 module name"));
                        }
                        // Resolved against p11-kit's registry where the module is loaded; an
                        // unknown name is refused there, never swapped for another module.
                        uri.module_name = Some(v);
                    }
                    "pin-source" => {
                        note_seen(&mut seen, name, KIND)?;
                        let v = decode_string(raw, KIND, name)?;
                        uri.pin_source = Some(parse_pin_source(&v, KIND)?);
                    }
                    "pin-value" => {
                        note_seen(&mut seen, name, KIND)?;
                        uri.pin_value = Some(decode_secret(raw, KIND, name)?);
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
                    _ if is_vendor(name) => return Err(unsupported(name)),
                    _ => return Err(unknown(KIND, name)),
                }
            }
        }

        if uri.pin_source.is_some() && uri.pin_value.is_some() {
            return Err(UriError::PinSourceAndValue { kind: KIND });
        }
        if uri.module_path.is_some() && uri.module_name.is_some() {
            return Err(invalid(
                KIND,
                "module-name",
                "module-name= or module-path=, not both",
            ));
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
        text(
            &mut parts,
            "slot-description",
            self.slot_description.as_ref().map(|v| v.as_bytes()),
        );
        text(
            &mut parts,
            "slot-manufacturer",
            self.slot_manufacturer.as_ref().map(|v| v.as_bytes()),
        );
        text(
            &mut parts,
            "library-manufacturer",
            self.library_manufacturer.as_ref().map(|v| v.as_bytes()),
        );
        text(
            &mut parts,
            "library-description",
            self.library_description.as_ref().map(|v| v.as_bytes()),
        );
        match self.library_version {
            Some((major, Some(minor))) => parts.push(format!("library-version={major}.{minor}")),
            Some((major, None)) => parts.push(format!("library-version={major}")),
            None => {}
        }
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
            .field("slot_description", &self.slot_description)
            .field("slot_manufacturer", &self.slot_manufacturer)
            .field("library_manufacturer", &self.library_manufacturer)
            .field("library_description", &self.library_description)
            .field("library_version", &self.library_version)
            .field("module_path", &self.module_path)
            .field("module_name", &self.module_name)
            .field("pin_source", &self.pin_source)
            .field("pin_value", &redacted(&self.pin_value))
            .finish()
    }
}

fn is_vendor(name: &str) -> bool {
    name.starts_with("x-")
}

fn unsupported(name: &str) -> UriError {
    UriError::UnsupportedAttribute {
        kind: LocatorKind::Pkcs11,
        name: name.to_owned(),
    }
}

/// RFC 7512's `library-version`: `MAJOR` or `MAJOR.MINOR`, decimal, each a `CK_VERSION` byte.
fn parse_version(v: &str) -> Option<(u8, Option<u8>)> {
    let byte = |s: &str| -> Option<u8> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        s.parse().ok()
    };
    match v.split_once('.') {
        Some((major, minor)) => Some((byte(major)?, Some(byte(minor)?))),
        None => Some((byte(v)?, None)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::percent_decode_canonical;
    use crate::token::uri::tests::{p11, p11_err};
    use secrecy::ExposeSecret;
    use std::path::Path;

    #[test]
    fn full_pkcs11_uri() {
        let u = p11(
            "pkcs11:token=My%20Token;object=backup-key;id=%01%02%ff;serial=0123abc;\
             manufacturer=ACME%2C%20Inc.;model=HSM%2F2;type=secret-key;slot-id=42\
             ?module-path=/usr/lib/softhsm/libsofthsm2.so\
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

        // Vendor attributes are refused by name, never ignored.
        for (uri, name) in [
            ("pkcs11:x-vendor=2;token=a", "x-vendor"),
            ("pkcs11:token=a?x-foo=bar", "x-foo"),
        ] {
            let e = p11_err(uri);
            assert!(
                matches!(e, UriError::UnsupportedAttribute { name: ref n, .. } if n == name),
                "{uri}: {e:?}"
            );
        }
        // module-name= is kept, to be resolved against p11-kit's registry; with module-path=
        // it is refused (which one would win is nowhere said).
        let u = p11("pkcs11:token=a?module-name=softhsm2");
        assert_eq!(u.module_name.as_deref(), Some("softhsm2"));
        assert!(matches!(
            p11_err("pkcs11:token=a?module-name=softhsm2&module-path=/m.so"),
            UriError::InvalidValue { .. }
        ));

        // The slot and library attributes of RFC 7512 are read, to narrow the match.
        let u = p11(
            "pkcs11:slot-description=SoftHSM%20slot;slot-manufacturer=SoftHSM;\
             library-manufacturer=SoftHSM;library-description=Implementation%20of%20PKCS11;\
             library-version=2.6",
        );
        assert_eq!(u.slot_description.as_deref(), Some("SoftHSM slot"));
        assert_eq!(u.slot_manufacturer.as_deref(), Some("SoftHSM"));
        assert_eq!(u.library_manufacturer.as_deref(), Some("SoftHSM"));
        assert_eq!(
            u.library_description.as_deref(),
            Some("Implementation of PKCS11")
        );
        assert_eq!(u.library_version, Some((2, Some(6))));
        assert_eq!(
            p11("pkcs11:library-version=3").library_version,
            Some((3, None))
        );
        for bad in ["2.", ".6", "2.6.1", "256", "a", "-1", ""] {
            assert!(
                matches!(
                    p11_err(&format!("pkcs11:library-version={bad}")),
                    UriError::InvalidValue { .. }
                ),
                "{bad}"
            );
        }
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
        // A path attribute repeated in the query is misplaced, not a duplicate.
        assert!(matches!(
            p11_err("pkcs11:token=a?token=a"),
            UriError::MisplacedAttribute {
                found_in: Component::Query,
                ..
            }
        ));
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
}
