//! The one PIN path, for every token custody logs in to (PKCS#11 restore and backup, YubiKeys,
//! key generation): the locator's `pin-value`, else its `pin-source` file, else `CUSTODY_PIN`,
//! else a prompt. The library asks for a PIN through `Prompter::pin` and never reads a PIN
//! file or the environment itself.

use std::path::Path;

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use custody::{PinReason, PinRequest, PromptError, Prompter};

use super::term::TerminalPrompter;

pub(super) fn pin_for(
    p: &mut TerminalPrompter,
    req: &PinRequest<'_>,
) -> Result<SecretString, PromptError> {
    let env_pin = super::term::env_secret("CUSTODY_PIN");
    if req.after_refusal {
        // Never the same PIN twice: only a PIN from CUSTODY_PIN is followed by this token's
        // own PIN, typed now; a PIN from the locator or typed already stands refused.
        if req.value.is_some() || req.source.is_some() || env_pin.is_none() {
            return Err(PromptError::Refused {
                reason: "the PIN was refused".into(),
            });
        }
        p.warn(
            &format!("{} refused the PIN from CUSTODY_PIN", req.token),
            "type its own PIN",
        );
        return ask_pin(p, req.token);
    }
    match req.reason {
        PinReason::SerialMatch => p.info(&format!(
            "this file names {} by its serial: logging in",
            req.token
        )),
        PinReason::LabelMatch => {
            // The file chose this token by its label alone: its PIN is not sent on the file's
            // word. A person is asked; nobody being there (no terminal, or standard input
            // redirected: a question, see `term::interactive`), the token is not used.
            p.info(&format!(
                "{} has the label this file's slot names, but not the serial it records",
                req.token
            ));
            let declined = || PromptError::Declined {
                detail: "this file's slot names this token by its label only (its serial \
                         differs): name it with --token to use it"
                    .into(),
            };
            if !super::term::interactive() {
                return Err(declined());
            }
            return ask_pin(p, req.token).map_err(|e| match e {
                PromptError::NotInteractive { .. } => declined(),
                e => e,
            });
        }
        _ => {}
    }
    if let Some(v) = req.value {
        p.warn(
            "the PIN was given with pin-value= in the token locator: it is visible in the process \
             arguments to every user of this machine",
            "give it with pin-source=file:... or CUSTODY_PIN instead",
        );
        return Ok(v.clone());
    }
    if let Some(path) = req.source {
        return read_pin_file(path);
    }
    if let Some(v) = env_pin {
        return Ok(v);
    }
    ask_pin(p, req.token)
}

/// Ask for a token's PIN at the terminal; an empty entry skips that token.
fn ask_pin(p: &mut TerminalPrompter, token: &str) -> Result<SecretString, PromptError> {
    let pin = p.ask_hidden(
        &format!("PIN for {token}: "),
        &format!("the PIN of {token} (CUSTODY_PIN or pin-source= in the URI)"),
    )?;
    if pin.expose_secret().is_empty() {
        return Err(PromptError::Skipped);
    }
    Ok(pin)
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
