//! `custody restore`: the secret of a backup or a set, to a new file or standard output.

use std::path::Path;

use crate::cli::args::{self, OutFormat};
use crate::cli::output::Out;
use crate::cli::secret_out::emit_secret;
use crate::cli::{Failure, Res, exit, kdf_limits};

use super::open::{Opened, open_files};

pub fn run(a: args::RestoreArgs, stdout: &mut Out) -> Res {
    if a.out != Path::new("-") && a.out.symlink_metadata().is_ok() {
        return Err(Failure::new(
            exit::OUTPUT_EXISTS,
            format!("{} already exists", a.out.display()),
            "choose a new output file; custody never overwrites a secret",
        ));
    }
    if a.out != Path::new("-") && a.format.is_some_and(|f| f != OutFormat::Raw) {
        return Err(Failure::usage(
            "--format applies to standard output only (--out -)",
        ));
    }
    let limits = kdf_limits(a.kdf_limits)?;
    let Opened::Whole(o) = open_files(&a.files, &a.tokens, a.password_file, false, limits)? else {
        unreachable!("restore never accepts a partial set")
    };
    emit_secret(stdout, &a.out, a.format, o.secret.expose())?;
    eprintln!(
        "Restored {} bytes (fingerprint {} matches; set id {}), opened with {}.",
        o.secret.expose().len(),
        custody::fingerprint_display(&o.fingerprint),
        hex::encode(o.set_id),
        o.opened_with
    );
    if o.weak_kdf {
        eprintln!("warning: this backup uses weak password key derivation.");
    }
    Ok(())
}
