//! Key management: listing tokens and cards, making keys on them, and exporting a P-256 public
//! key to a `pubkey:` file, so that the CLI only parses flags and prints.

use super::*;
use crate::token::registry::Inventory;
use crate::token::{GeneratedKey, PivKeygen};

pub use crate::token::registry::KeygenRefusal as KeygenError;

/// Every token of a PKCS#11 module (every module searched when `module` is `None`) and every
/// YubiKey present; with `login`, each token's keys, after a login with its PIN (asked through
/// `prompter`).
pub fn token_inventory(
    env: TokenEnv,
    prompter: &mut dyn Prompter,
    module: Option<&Path>,
    login: bool,
) -> Inventory {
    Tokens::new(env, prompter).inventory(module, login)
}

/// Make a key where `loc` says: AES-256 or P-256 on a PKCS#11 token (`object=` names it), or
/// P-256 in a YubiKey's PIV slot. A key already there is never replaced unless
/// `piv.force` says so for a PIV slot.
pub fn generate_key(
    env: TokenEnv,
    prompter: &mut dyn Prompter,
    loc: &TokenLocator,
    kind: SlotKind,
    piv: PivKeygen,
) -> Result<GeneratedKey, KeygenError> {
    Tokens::new(env, prompter).generate(loc, kind, piv)
}

/// A public key written to a file.
pub struct ExportedKey {
    /// Which key, for people.
    pub name: String,
    /// Its uncompressed point.
    pub point: [u8; 65],
}

/// Why a public key was not exported.
#[derive(Debug)]
#[non_exhaustive]
pub enum ExportError {
    /// The token or card failed or refused.
    Token(TokenError),
    /// An AES key has no public key.
    NoPublicKey {
        /// The key, for people.
        key: String,
    },
    /// The public-key file could not be encoded.
    Encode(FormatError),
    /// Writing it failed, or a file is already there.
    Write(MediaError),
}

impl fmt::Display for ExportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ExportError::Token(e) => write!(f, "{e}"),
            ExportError::NoPublicKey { key } => write!(
                f,
                "{key} is an AES key: it has no public key; a backup under it needs the token present"
            ),
            ExportError::Encode(e) => write!(f, "{e}"),
            ExportError::Write(e) => write!(f, "{e}"),
        }
    }
}

impl ExportError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            ExportError::Token(e) => e.kind(),
            ExportError::NoPublicKey { .. } => ErrorKind::InvalidRequest,
            ExportError::Encode(e) => e.kind(),
            ExportError::Write(e) => e.kind(),
        }
    }
}

impl std::error::Error for ExportError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ExportError::Token(e) => Some(e),
            ExportError::Encode(e) => Some(e),
            ExportError::Write(e) => Some(e),
            ExportError::NoPublicKey { .. } => None,
        }
    }
}

/// Write the public key of the P-256 key `loc` names to a new file `out` (a `pubkey:` file that
/// backups can be made with while the token is away). Nothing is overwritten.
pub fn export_public_key(
    env: TokenEnv,
    prompter: &mut dyn Prompter,
    loc: &TokenLocator,
    out: &Path,
) -> Result<ExportedKey, ExportError> {
    let mut tokens = Tokens::new(env, prompter);
    let key = resolve_key(&mut tokens, loc).map_err(ExportError::Token)?;
    let point = match &key.ops {
        KeyOps::Ecdh(k) => k.public_point(),
        KeyOps::PublicOnly(p) => *p,
        KeyOps::Aes(_) => return Err(ExportError::NoPublicKey { key: key.name }),
    };
    let f = format::PubkeyFile {
        descriptor: key.descriptor.clone(),
        public_key: point,
    };
    let bytes = f.encode().map_err(ExportError::Encode)?;
    media::write_new(out, &bytes, false, &mut |b| {
        format::PubkeyFile::parse(b)
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .map_err(ExportError::Write)?;
    Ok(ExportedKey {
        name: key.name,
        point,
    })
}
