//! Why a locator was rejected, and the form it should have had.

use std::fmt;

const PKCS11_FORM: &str = "pkcs11:token=<label>;object=<key label>[;id=%01%02]\
     [?module-path=<module.so>&pin-source=file:<path>]";
const PUBKEY_FORM: &str = "pubkey:<FILE>";
const YUBIKEY_FORM: &str = "yubikey:serial=<decimal>[;slot=<hex, e.g. 82 or 0x9c>]\
     [?pin-source=file:<path> | ?pin-value=<pin>]";

/// Which locator syntax an error is about; decides the expected form shown.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LocatorKind {
    /// `pkcs11:`
    Pkcs11,
    /// `pubkey:`
    Pubkey,
    /// `yubikey:`
    Yubikey,
}

impl LocatorKind {
    fn expected_form(self) -> &'static str {
        match self {
            LocatorKind::Pkcs11 => PKCS11_FORM,
            LocatorKind::Pubkey => PUBKEY_FORM,
            LocatorKind::Yubikey => YUBIKEY_FORM,
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

/// Why a locator was rejected. Never carries a PIN.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum UriError {
    /// Not `pkcs11:`, `pubkey:` or `yubikey:`.
    UnknownScheme,
    /// `pubkey:` with nothing after it.
    MissingPath {
        /// Always `LocatorKind::Pubkey`.
        kind: LocatorKind,
    },
    /// An attribute without `=`, without a name, or empty (`;;`, a trailing `;`, a bare `?`).
    MalformedAttribute {
        /// Which locator syntax.
        kind: LocatorKind,
        /// Which part of it.
        component: Component,
    },
    /// An attribute name this syntax does not define (vendor ones start with `x-`).
    UnknownAttribute {
        /// Which locator syntax.
        kind: LocatorKind,
        /// The name as given (shown `{:?}`-quoted, so control characters show as escapes).
        name: String,
    },
    /// An RFC 7512 attribute custody does not implement; ignoring it would select more
    /// tokens than the user asked for.
    UnsupportedAttribute {
        /// Which locator syntax.
        kind: LocatorKind,
        /// The attribute's name.
        name: String,
    },
    /// A known attribute in the wrong part, e.g. `pin-value` before the `?`.
    MisplacedAttribute {
        /// Which locator syntax.
        kind: LocatorKind,
        /// The attribute's name.
        name: String,
        /// Where it was found (it belongs in the other part).
        found_in: Component,
    },
    /// An attribute given twice, which would leave unclear which value counts.
    DuplicateAttribute {
        /// Which locator syntax.
        kind: LocatorKind,
        /// The attribute's name.
        name: String,
    },
    /// A required attribute is absent (`serial=` of a `yubikey:` locator).
    MissingAttribute {
        /// Which locator syntax.
        kind: LocatorKind,
        /// The attribute's name.
        name: &'static str,
    },
    /// `%` not followed by two hex digits.
    MalformedEscape {
        /// Which locator syntax.
        kind: LocatorKind,
        /// The attribute whose value it is in (never the value).
        attribute: String,
    },
    /// A value that decodes to bytes that are not UTF-8, where text is needed.
    InvalidUtf8 {
        /// Which locator syntax.
        kind: LocatorKind,
        /// The attribute whose value it is (never the value).
        attribute: String,
    },
    /// A raw space or control character: must be written as `%XX`.
    UnencodedCharacter {
        /// Which locator syntax.
        kind: LocatorKind,
        /// The attribute whose value it is in (never the value).
        attribute: String,
    },
    /// A value outside what the attribute accepts.
    InvalidValue {
        /// Which locator syntax.
        kind: LocatorKind,
        /// The attribute (never its value).
        attribute: String,
        /// What it accepts, for people.
        expected: &'static str,
    },
    /// Both `pin-source` and `pin-value` given (RFC 7512 says to refuse such a URI).
    PinSourceAndValue {
        /// Which locator syntax.
        kind: LocatorKind,
    },
    /// A `pin-source` custody does not read: a command (`|...`), a remote host, or a URI
    /// scheme other than `file:`.
    UnsupportedPinSource {
        /// Which locator syntax.
        kind: LocatorKind,
        /// Why, and what to write instead.
        reason: &'static str,
    },
}

impl UriError {
    fn locator_kind(&self) -> Option<LocatorKind> {
        match self {
            UriError::UnknownScheme => None,
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
            UriError::UnsupportedAttribute { name, .. } if name.starts_with("x-") => write!(
                f,
                "attribute {name:?} is a vendor's: custody cannot honour it, and refuses it \
                 rather than ignore it (leave it out)"
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
        }
        if let Some(kind) = self.locator_kind() {
            write!(f, " (expected {})", kind.expected_form())?;
        }
        Ok(())
    }
}

impl std::error::Error for UriError {}

impl UriError {
    /// What kind of failure this is: a locator is part of the request.
    pub fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::InvalidRequest
    }
}
