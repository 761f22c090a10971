//! What PC/SC and the PIV applet said, in the backend-neutral [`TokenError`] with advice.

use super::card_name;
use crate::token::TokenError;

/// Advice for PC/SC failures, which otherwise say little.
pub(super) fn pcsc_hint(e: &yubikey::Error) -> String {
    match e {
        yubikey::Error::PcscError { .. } => format!(
            "{e} (is pcscd running? is the YubiKey plugged in and its CCID interface enabled?)"
        ),
        other => other.to_string(),
    }
}

pub(super) fn map_pin_error(serial: u32, e: yubikey::Error) -> TokenError {
    match e {
        yubikey::Error::WrongPin { tries: 0 } | yubikey::Error::PinLocked => {
            TokenError::PinLocked {
                token: format!(
                    "{} (blocked after too many wrong PINs: unblock it with its PUK, e.g. \
                     `ykman piv access unblock-pin` or `yubico-piv-tool -a unblock-pin`)",
                    card_name(serial)
                ),
            }
        }
        yubikey::Error::WrongPin { tries } => TokenError::PinIncorrect {
            token: format!(
                "{} ({tries} tr{} left)",
                card_name(serial),
                if tries == 1 { "y" } else { "ies" }
            ),
            final_try: tries == 1,
        },
        other => TokenError::Failed {
            token: card_name(serial),
            detail: pcsc_hint(&other),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pin_errors_are_told_apart() {
        assert!(matches!(
            map_pin_error(7, yubikey::Error::WrongPin { tries: 2 }),
            TokenError::PinIncorrect { final_try: false, ref token } if token.contains("2 tries left")
        ));
        assert!(matches!(
            map_pin_error(7, yubikey::Error::WrongPin { tries: 1 }),
            TokenError::PinIncorrect {
                final_try: true,
                ..
            }
        ));
        // The best-known tool calls this "0 tries remaining": it is a blocked PIN.
        assert!(matches!(
            map_pin_error(7, yubikey::Error::WrongPin { tries: 0 }),
            TokenError::PinLocked { .. }
        ));
        assert!(matches!(
            map_pin_error(7, yubikey::Error::PinLocked),
            TokenError::PinLocked { .. }
        ));
    }
}
