//! Reading a secret to back up or compare: from a file or standard input, bounded in size,
//! into the secret's own fixed storage (never a growing buffer).

use std::path::Path;

use zeroize::Zeroizing;

use super::{Failure, exit};

pub fn read_secret(path: &Path) -> Result<custody::MasterSecret, Failure> {
    let max = custody::MAX_SECRET_BYTES as u64 + 1;
    let too_long = || {
        let n = custody::MAX_SECRET_BYTES + 1;
        Failure::usage(custody::RequestError::SecretLength { n }.to_string())
    };
    let secret = if path == Path::new("-") {
        custody::MasterSecret::read_from(&mut std::io::stdin().lock()).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                too_long()
            } else {
                Failure::new(
                    exit::OTHER,
                    format!("reading the secret from standard input: {e}"),
                    "",
                )
            }
        })?
    } else {
        // Sized from the file's length first, and wiped after the copy.
        let bytes = Zeroizing::new(custody::read_bounded(path, max).map_err(|e| {
            Failure::new(
                exit::OTHER,
                format!("reading the secret: {e}"),
                "check the --secret path",
            )
        })?);
        custody::MasterSecret::from_slice(&bytes).map_err(|_| too_long())?
    };
    custody::check_secret_len(secret.len()).map_err(|e| Failure::usage(e.to_string()))?;
    Ok(secret)
}
