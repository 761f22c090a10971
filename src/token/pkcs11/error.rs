//! Errors of the PKCS#11 backend: cryptoki's return codes named as the standard names them, and
//! mapped to the backend-neutral [`TokenError`] with the token they concern.

use std::fmt;
use std::path::PathBuf;

use cryptoki::context::Function;
use cryptoki::error::{Error as CkError, RvError};

use crate::format::{display_escaped, display_path};
use crate::token::TokenError;

/// Errors from the PKCS#11 backend.
///
/// No variant ever carries a PIN.
#[non_exhaustive]
#[derive(Debug)]
pub enum Pkcs11Error {
    /// The PKCS#11 module could not be found, loaded or initialised.
    LibraryLoad {
        /// The module path as given.
        path: PathBuf,
        /// Why loading failed.
        reason: String,
    },
    /// The token rejected the PIN (`CKR_PIN_INCORRECT`). The token may count this try.
    PinIncorrect,
    /// The PIN is locked after too many wrong tries (`CKR_PIN_LOCKED`).
    PinLocked,
    /// The PIN has a length or characters the token does not accept (`CKR_PIN_LEN_RANGE`,
    /// `CKR_PIN_INVALID`).
    PinInvalid,
    /// The PIN has expired and must be changed first (`CKR_PIN_EXPIRED`).
    PinExpired,
    /// The token's user PIN was never set (`CKR_USER_PIN_NOT_INITIALIZED`).
    PinNotInitialized,
    /// The token is not (or no longer) in its slot (`CKR_TOKEN_NOT_PRESENT`,
    /// `CKR_DEVICE_REMOVED`, and a session that ended under custody: `CKR_SESSION_CLOSED`,
    /// `CKR_SESSION_HANDLE_INVALID`).
    TokenNotPresent,
    /// A key found a moment ago is no longer there (`CKR_OBJECT_HANDLE_INVALID`,
    /// `CKR_KEY_HANDLE_INVALID`): deleted by another program, or its token removed.
    KeyGone,
    /// The key may not be used for this operation (`CKR_KEY_FUNCTION_NOT_PERMITTED`,
    /// `CKR_KEY_TYPE_INCONSISTENT`, or the key's own attributes say so).
    KeyFunctionNotPermitted {
        /// The operation that was refused, e.g. "ECDH".
        operation: &'static str,
    },
    /// AES-GCM decryption failed: wrong key, wrong AAD, or damaged ciphertext.
    ///
    /// Tokens report this in different ways (`CKR_GENERAL_ERROR` on SoftHSM,
    /// `CKR_ENCRYPTED_DATA_INVALID` elsewhere), so it cannot tell those causes apart.
    DecryptFailed,
    /// A freshly generated key does not have the protection attributes that were asked for,
    /// or the token would not reveal them. The key has been destroyed again.
    KeyAttributeCheck {
        /// The PKCS#11 attribute that failed the check, e.g. "CKA_SENSITIVE".
        attribute: &'static str,
        /// What was found instead.
        detail: String,
    },
    /// An ECDH derivation returned something other than a 32-byte shared secret.
    BadDerivedValue,
    /// Any other PKCS#11 failure.
    Other {
        /// The PKCS#11 function that failed, e.g. "C_GenerateKey", or for a failure outside
        /// any PKCS#11 call (e.g. a length that does not fit a `CK_ULONG`), the operation.
        function: String,
        /// The `CKR_` code or other detail.
        detail: String,
    },
}

impl fmt::Display for Pkcs11Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkcs11Error::LibraryLoad { path, reason } => {
                // The loader's message repeats the path as given: escape it like the path.
                write!(
                    f,
                    "cannot load PKCS#11 module {}: {}",
                    display_path(path),
                    display_escaped(reason)
                )
            }
            Pkcs11Error::PinIncorrect => f.write_str("the token rejected the PIN"),
            Pkcs11Error::PinLocked => f.write_str("the token PIN is locked"),
            Pkcs11Error::PinInvalid => {
                f.write_str("the token does not accept a PIN of that length or with those characters")
            }
            Pkcs11Error::PinExpired => {
                f.write_str("the token PIN has expired and must be changed first")
            }
            Pkcs11Error::PinNotInitialized => f.write_str("the token's user PIN is not set"),
            Pkcs11Error::TokenNotPresent => f.write_str("the token is not present"),
            Pkcs11Error::KeyGone => f.write_str(
                "the key is no longer on the token: another program deleted it, or the token \
                 was removed, while custody was using it",
            ),
            Pkcs11Error::KeyFunctionNotPermitted { operation } => {
                write!(f, "the token key is not allowed to be used for {operation}")
            }
            Pkcs11Error::DecryptFailed => f.write_str(
                "decryption on the token failed (wrong key, wrong associated data, or damaged data)",
            ),
            Pkcs11Error::KeyAttributeCheck { attribute, detail } => {
                write!(
                    f,
                    "the generated key failed the {attribute} check: {detail}"
                )
            }
            Pkcs11Error::BadDerivedValue => {
                f.write_str("the token's ECDH result is not a 32-byte shared secret")
            }
            Pkcs11Error::Other { function, detail } => {
                write!(f, "PKCS#11 {function} failed: {detail}")
            }
        }
    }
}

impl std::error::Error for Pkcs11Error {}

/// `RvError`'s Debug name in `CKR_` form, e.g. `PinIncorrect` → `CKR_PIN_INCORRECT`.
pub(super) fn ckr_name(rv: RvError) -> String {
    match rv {
        RvError::VendorDefined(code) => format!("CKR_VENDOR_DEFINED ({code:#x})"),
        RvError::UnknownErrorCode(code) => format!("unknown return code {code:#x}"),
        other => {
            let camel = format!("{other:?}");
            let mut out = String::from("CKR");
            for c in camel.chars() {
                if c.is_ascii_uppercase() {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
    }
}

/// Maps a cryptoki error to ours. `operation` names what we were doing, for errors that are
/// about the key's permitted use and for errors that did not come from a PKCS#11 function.
pub(super) fn map_err(err: CkError, operation: &'static str) -> Pkcs11Error {
    match err {
        CkError::Pkcs11(rv, function) => match rv {
            RvError::PinIncorrect => Pkcs11Error::PinIncorrect,
            RvError::PinLocked => Pkcs11Error::PinLocked,
            RvError::PinLenRange | RvError::PinInvalid => Pkcs11Error::PinInvalid,
            RvError::PinExpired => Pkcs11Error::PinExpired,
            RvError::UserPinNotInitialized => Pkcs11Error::PinNotInitialized,
            RvError::TokenNotPresent
            | RvError::DeviceRemoved
            | RvError::SessionClosed
            | RvError::SessionHandleInvalid => Pkcs11Error::TokenNotPresent,
            RvError::ObjectHandleInvalid | RvError::KeyHandleInvalid => Pkcs11Error::KeyGone,
            RvError::KeyFunctionNotPermitted | RvError::KeyTypeInconsistent => {
                Pkcs11Error::KeyFunctionNotPermitted { operation }
            }
            other => Pkcs11Error::Other {
                function: function_name(function),
                detail: ckr_name(other),
            },
        },
        CkError::LibraryLoading(e) => Pkcs11Error::Other {
            function: operation.to_owned(),
            detail: e.to_string(),
        },
        other => Pkcs11Error::Other {
            function: operation.to_owned(),
            detail: other.to_string(),
        },
    }
}

fn function_name(function: Function) -> String {
    format!("C_{function:?}")
}

pub(super) fn attribute_check(attribute: &'static str, detail: impl Into<String>) -> Pkcs11Error {
    Pkcs11Error::KeyAttributeCheck {
        attribute,
        detail: detail.into(),
    }
}

pub(super) fn describe(err: &CkError) -> String {
    match err {
        CkError::Pkcs11(rv, _) => ckr_name(*rv),
        other => error_chain(other),
    }
}

/// The error's message followed by its sources, since `LibraryLoad` keeps only text and the
/// interesting part (e.g. dlopen's message) is often in a source.
pub(super) fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// The backend-neutral form of a PKCS#11 failure on `token` (a name for people).
pub(super) fn token_error(token: &str, e: Pkcs11Error) -> TokenError {
    match e {
        Pkcs11Error::PinIncorrect => TokenError::PinIncorrect {
            token: token.to_owned(),
            final_try: false,
        },
        Pkcs11Error::PinLocked => TokenError::PinLocked {
            token: token.to_owned(),
        },
        Pkcs11Error::TokenNotPresent => TokenError::NotFound {
            what: format!("{token} is no longer present (removed while custody was using it?)"),
        },
        Pkcs11Error::KeyGone => TokenError::NotFound {
            what: format!("{token}: {}", Pkcs11Error::KeyGone),
        },
        Pkcs11Error::LibraryLoad { .. } => TokenError::NotFound {
            what: e.to_string(),
        },
        Pkcs11Error::KeyFunctionNotPermitted { operation } => TokenError::KeyUnusable {
            key: token.to_owned(),
            reason: format!("the token does not allow it to be used for {operation}"),
        },
        other => TokenError::Failed {
            token: token.to_owned(),
            detail: other.to_string(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ckr_names() {
        assert_eq!(ckr_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(
            ckr_name(RvError::EncryptedDataLenRange),
            "CKR_ENCRYPTED_DATA_LEN_RANGE"
        );
        assert_eq!(
            function_name(Function::GetAttributeValue),
            "C_GetAttributeValue"
        );
    }

    #[test]
    fn error_mapping() {
        let e = map_err(
            CkError::Pkcs11(RvError::PinIncorrect, Function::Login),
            "login",
        );
        assert!(matches!(e, Pkcs11Error::PinIncorrect));
        let e = map_err(
            CkError::Pkcs11(RvError::ArgumentsBad, Function::Login),
            "login",
        );
        assert_eq!(e.to_string(), "PKCS#11 C_Login failed: CKR_ARGUMENTS_BAD");
    }
}
