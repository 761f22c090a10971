//! `custody generate`: a new random secret, to a file or standard output.

use std::path::Path;

use crate::cli::output::Out;
use crate::cli::record::Recording;
use crate::cli::secret_out::emit_secret;
use crate::cli::{Failure, Res, args};

pub fn run(a: args::GenerateArgs, stdout: &mut Out) -> Res {
    crate::cli::output::refuse_secret_on_stdout(&a.out)?;
    let secret = custody::MasterSecret::random(a.bytes as usize)
        .map_err(|e| Failure::usage(format!("--bytes: {e}")))?;
    // The secret's folder exists, can be written and has room, before the record is touched.
    if a.out != Path::new("-") {
        custody::check_output_dir(&a.out, custody::MAX_SECRET_BYTES as u64)
            .map_err(|e| Failure::of(&e))?;
    }
    let mut rec = Recording::open(&a.record, custody::RecordOp::Generate, &[], &[])?;
    crate::cli::output::document_path("out", &a.out);
    let buf = secret.expose();
    let fingerprint = custody::fingerprint(buf);
    emit_secret(stdout, &a.out, a.format, buf).map_err(|f| rec.failed(f, false))?;
    if a.out != Path::new("-") {
        crate::cli::say::info(&format!(
            "Wrote {} random bytes to {} (mode 0600). Fingerprint: {}",
            a.bytes,
            custody::display_path(&a.out),
            custody::fingerprint_display(&fingerprint)
        ));
    }
    rec.done(
        custody::RecordEvent::Generated { fingerprint },
        "the secret was written",
    )
}
