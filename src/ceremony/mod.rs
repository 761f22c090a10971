//! The operations: backup, open (restore and verify), inspect. Data flows one way: from here to
//! the format, crypto, slot, token and media modules; nothing here reads a terminal.

use std::fmt;
use std::path::{Path, PathBuf};

use crate::crypto;
use crate::error::ErrorKind;
use crate::format::{
    self, BackupFile, CommonHeader, Descriptor, Encoded, FileFields, FormatError, KdfParams,
    SlotKind, display_escaped, display_path, normalize_free_text,
};
use crate::media::{self, MediaError};
use crate::prompt::PinReason;
use crate::prompt::{PromptError, Prompter};
use crate::secret::{DataKey, FileSecret, MasterSecret, Password, PasswordKey, TokenSecret};
use crate::shamir;
use crate::slot::{self, OpenError};
use crate::token::registry::{Present, TokenEnv, Tokens, card_name};
use crate::token::uri::TokenLocator;
use crate::token::{KeyOps, PinHint, TokenError, TokenKey};

mod change;
pub use change::{
    KdfChange, ReshareError, ReshareRequest, RewrapError, RewrapReport, RewrapRequest, reshare,
    rewrap,
};

/// The key a `--token` locator names: a token's, or a public key read from a `pubkey:` file
/// (the file is read here, never by a token backend).
pub(crate) fn resolve_key(
    tokens: &mut Tokens<'_>,
    loc: &TokenLocator,
) -> Result<TokenKey<'static>, TokenError> {
    if let TokenLocator::Pubkey(path) = loc {
        return resolve_pubkey(path);
    }
    tokens.resolve(loc).unwrap_or_else(|| {
        Err(TokenError::NotFound {
            what: "this locator names no token".into(),
        })
    })
}

/// Before any PIN (issue 8, item 6): every token and card the keys name is present, a YubiKey
/// slot holds a key and a public-key file reads. Otherwise a PIN typed for the first token is
/// wasted on an operation that then fails on the second.
pub(crate) fn check_keys_before_login<'a>(
    tokens: &mut Tokens<'_>,
    specs: impl IntoIterator<Item = &'a KeySpec>,
) -> Result<(), TokenError> {
    for spec in specs {
        match spec {
            KeySpec::Locator(TokenLocator::Pubkey(path)) => {
                resolve_pubkey(path)?;
            }
            KeySpec::Locator(loc) => tokens.check_before_login(loc)?,
            KeySpec::Key(_) => {}
        }
    }
    Ok(())
}

/// A key a backup adds must be bound to its token unless `allow` (PKCS#11 keys are checked
/// when they are found, by [`Tokens::require_bound`]; this is for an embedder's own keys, which
/// answer for themselves). A public key alone is never refused here: its key lives on a token
/// elsewhere, which custody cannot see.
pub(crate) fn check_bound(key: &TokenKey<'_>, allow: bool) -> Result<(), TokenError> {
    if key.hardware_bound || allow || matches!(key.ops, KeyOps::PublicOnly(_)) {
        return Ok(());
    }
    Err(TokenError::NotBound {
        key: key.name.clone(),
        reason: "it says it is not hardware-bound".into(),
    })
}

/// Resolve a locator into `keys`, reusing an entry for the same key: its index.
pub(crate) fn resolve_cached(
    tokens: &mut Tokens<'_>,
    spec: KeySpec,
    keys: &mut Vec<TokenKey<'static>>,
) -> Result<usize, TokenError> {
    let k = match spec {
        KeySpec::Locator(loc) => resolve_key(tokens, &loc)?,
        KeySpec::Key(k) => k,
    };
    if let Some(i) = keys.iter().position(|o| o.descriptor == k.descriptor) {
        return Ok(i);
    }
    keys.push(k);
    Ok(keys.len() - 1)
}

/// A `pubkey:` file: a public key alone, which can make a slot but never open one.
fn resolve_pubkey(path: &Path) -> Result<TokenKey<'static>, TokenError> {
    let bytes = media::read_bounded(path, 64 * 1024).map_err(|e| TokenError::NotFound {
        what: format!(
            "cannot read the public-key file {}: {e}",
            display_path(path)
        ),
    })?;
    let f = format::PubkeyFile::parse(&bytes).map_err(|e| TokenError::NotFound {
        what: format!(
            "{} is not a custody public-key file: {e}",
            display_path(path)
        ),
    })?;
    Ok(TokenKey {
        hardware_bound: false,
        name: format!("{} (from {})", f.descriptor.describe(), display_path(path)),
        descriptor: f.descriptor,
        ops: KeyOps::PublicOnly(f.public_key),
    })
}

mod backup;
mod cost;
mod expect;
mod inspect;
mod keys;
mod load;
mod open;
mod plan;
mod progress;
mod record_io;
mod request;
mod restore;
mod search;
mod set;
mod set_types;
mod slots;

pub use backup::*;
pub use cost::{CostlyFile, KdfCostError, KdfLimits};
pub(crate) use cost::{check_cost, check_memory};
pub(crate) use expect::check_expectation;
pub use expect::{
    Expectation, ExpectedBy, ExpectedFingerprint, FINGERPRINT_QUESTION, FingerprintCheck,
    FingerprintError, RecordedFingerprints,
};
pub use inspect::*;
pub use keys::*;
pub use load::*;
pub use open::*;
pub use plan::*;
pub use record_io::*;
pub use request::*;
pub use restore::*;
pub use search::*;
pub use set::*;
pub use set_types::*;
pub use slots::*;
