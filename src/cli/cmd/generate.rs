//! `custody generate`: a new random secret, to a file or standard output.

use std::path::Path;

use crate::cli::output::Out;
use crate::cli::secret_out::emit_secret;
use crate::cli::{Failure, Res, args};

pub fn run(a: args::GenerateArgs, stdout: &mut Out) -> Res {
    let secret = custody::MasterSecret::random(a.bytes as usize)
        .map_err(|e| Failure::usage(format!("--bytes: {e}")))?;
    let buf = secret.expose();
    emit_secret(stdout, &a.out, a.format, buf)?;
    if a.out != Path::new("-") {
        eprintln!(
            "Wrote {} random bytes to {} (mode 0600). Fingerprint: {}",
            a.bytes,
            custody::display_path(&a.out),
            custody::fingerprint_display(&custody::fingerprint(buf))
        );
    }
    Ok(())
}
