//! The one PIN path, for every token custody logs in to (PKCS#11 restore and backup, YubiKeys,
//! key generation): the locator's `pin-value`, else its `pin-source` file, else `CUSTODY_PIN`,
//! else a prompt. The library asks for a PIN through `Prompter::pin` and never reads a PIN
//! file or the environment itself.

use std::path::Path;

use secrecy::SecretString;
use zeroize::Zeroizing;

use custody::{PinRequest, PromptError, Prompter};

use super::term::TerminalPrompter;

pub(super) fn pin_for(
    p: &mut TerminalPrompter,
    req: &PinRequest<'_>,
) -> Result<SecretString, PromptError> {
    if let Some(v) = req.value {
        p.warn(
            "the PIN was given with pin-value= in the token locator: it is visible in the process \
             arguments to every user of this machine. Prefer pin-source=file:... or CUSTODY_PIN.",
        );
        return Ok(v.clone());
    }
    if let Some(path) = req.source {
        return read_pin_file(path);
    }
    if let Ok(v) = std::env::var("CUSTODY_PIN") {
        return Ok(SecretString::from(v));
    }
    p.ask_hidden(
        &format!("PIN for {}: ", req.token),
        &format!(
            "the PIN of {} (CUSTODY_PIN or pin-source= in the URI)",
            req.token
        ),
    )
}

/// First line of a PIN file, minus one trailing newline (and a CR before it).
fn read_pin_file(path: &Path) -> Result<SecretString, PromptError> {
    let bytes =
        Zeroizing::new(
            custody::read_bounded(path, 4096).map_err(|e| PromptError::Source {
                detail: format!(
                    "cannot read the PIN file {}: {e}",
                    custody::display_path(path)
                ),
            })?,
        );
    let s = std::str::from_utf8(&bytes).map_err(|_| PromptError::Source {
        detail: format!("the PIN file {} is not UTF-8", custody::display_path(path)),
    })?;
    let line = s.split('\n').next().unwrap_or("");
    let line = line.strip_suffix('\r').unwrap_or(line);
    Ok(SecretString::from(line.to_owned()))
}
