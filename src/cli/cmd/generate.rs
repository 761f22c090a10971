//! `custody generate`: a new random secret, to a file or standard output.

use std::path::Path;

use zeroize::Zeroizing;

use crate::cli::output::Out;
use crate::cli::secret_out::emit_secret;
use crate::cli::{Res, args};

pub fn run(a: args::GenerateArgs, stdout: &mut Out) -> Res {
    let mut buf = Zeroizing::new(vec![0u8; a.bytes as usize]);
    custody::fill_random(&mut buf);
    emit_secret(stdout, &a.out, a.format, &buf)?;
    if a.out != Path::new("-") {
        eprintln!(
            "Wrote {} random bytes to {} (mode 0600). Fingerprint: {}",
            a.bytes,
            a.out.display(),
            custody::fingerprint_display(&custody::fingerprint(&buf))
        );
    }
    Ok(())
}
