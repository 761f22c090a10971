//! `yubikey:` locators: a YubiKey (PIV) named by serial number.

use std::fmt;
use std::path::PathBuf;

use secrecy::SecretString;

use super::{
    Component, LocatorKind, UriError, decode_secret, decode_string, invalid, misplaced, note_seen,
    parse_decimal, parse_pin_source, redacted, split_attributes, split_query, unknown,
};

/// A YubiKey (PIV) named by serial number.
#[derive(Clone)]
///
/// `Debug` never shows the PIN.
pub struct YubikeyLocator {
    /// `serial=` (required): the card's serial number.
    pub serial: u32,
    /// `slot=`: a PIV key slot (0x82..=0x95, 0x9a, 0x9c, 0x9d or 0x9e); `None` lets the
    /// backend choose.
    pub slot: Option<u8>,
    /// `pin-source=` (query): a file holding the PIN. Only the path: nothing here reads it.
    pub pin_source: Option<PathBuf>,
    /// `pin-value=` (query): the PIN itself, visible in the process arguments. Never together
    /// with `pin_source`.
    pub pin_value: Option<SecretString>,
}

impl YubikeyLocator {
    pub(super) fn parse_rest(rest: &str) -> Result<Self, UriError> {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::token::uri::tests::{yk, yk_err};
    use secrecy::ExposeSecret;
    use std::path::Path;

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
}
