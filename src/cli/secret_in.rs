//! Reading a secret to back up or compare: from a file or standard input, bounded in size.

use std::io::Read;
use std::path::Path;

use secrecy::SecretBox;
use zeroize::Zeroizing;

use super::{Failure, exit};

pub fn read_secret(path: &Path) -> Result<custody::Secret, Failure> {
    let max = custody::MAX_SECRET_BYTES as u64 + 1;
    let bytes = if path == Path::new("-") {
        let mut v = Zeroizing::new(Vec::new());
        std::io::stdin()
            .take(max)
            .read_to_end(&mut v)
            .map_err(|e| {
                Failure::new(
                    exit::OTHER,
                    format!("reading the secret from standard input: {e}"),
                    "",
                )
            })?;
        v
    } else {
        Zeroizing::new(custody::read_bounded(path, max).map_err(|e| {
            Failure::new(
                exit::OTHER,
                format!("reading the secret: {e}"),
                "check the --secret path",
            )
        })?)
    };
    custody::check_secret_len(bytes.len()).map_err(Failure::usage)?;
    Ok(SecretBox::new(Box::new(bytes.to_vec())))
}
