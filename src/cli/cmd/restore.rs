//! `custody restore`: the secret of a backup or a set, to a new file or standard output.

use std::path::Path;

use crate::cli::args::{self, OutFormat};
use crate::cli::output::Out;
use crate::cli::record::{Recording, expected_fingerprint};
use crate::cli::say;
use crate::cli::secret_out::emit_secret;
use crate::cli::{Failure, Res, exit, kdf_limits};

use super::open::{Opened, open_files};

pub fn run(a: args::RestoreArgs, stdout: &mut Out) -> Res {
    crate::cli::output::refuse_secret_on_stdout(&a.out)?;
    if a.out != Path::new("-") && a.out.symlink_metadata().is_ok() {
        return Err(Failure::new(
            exit::OUTPUT_EXISTS,
            format!("{} already exists", custody::display_path(&a.out)),
            crate::cli::advice::Cause::SecretExists.advice(),
        ));
    }
    if a.out != Path::new("-") && a.format.is_some_and(|f| f != OutFormat::Raw) {
        return Err(Failure::usage(
            "--format applies to standard output only (--out -)",
        ));
    }
    // Before anything is asked: the secret's folder exists, can be written and has room.
    if a.out != Path::new("-") {
        custody::check_output_dir(&a.out, custody::MAX_SECRET_BYTES as u64)
            .map_err(|e| Failure::of(&e))?;
    }
    let limits = kdf_limits(a.kdf_limits)?;
    let fingerprint = expected_fingerprint(&a.expect)?;
    // Before anything is asked: the record exists, verifies and can be written.
    let mut rec = Recording::open(&a.record, custody::RecordOp::Restore, &a.files, &[])?;
    let limits = rec.kdf_limits(limits);
    let expect = rec.expectation(fingerprint, true);
    let opened = open_files(
        rec.inputs(&a.files),
        &a.tokens,
        a.password_file,
        false,
        limits,
        expect,
        a.ignore_foreign,
    )
    .map_err(|f| rec.failed(f, false))?;
    let Opened::Whole(o) = opened else {
        unreachable!("restore never accepts a partial set")
    };
    // Recorded and fsynced before the secret is written; a second line if writing it fails.
    rec.restored(&o)?;
    crate::cli::output::document_path("out", &a.out);
    emit_secret(stdout, &a.out, a.format, o.secret.expose()).map_err(|f| rec.failed(f, true))?;
    say::info(&format!(
        "Restored {} bytes (fingerprint {}, as the file records it; set id {}), opened with {}.",
        o.secret.expose().len(),
        custody::fingerprint_display(&o.fingerprint),
        hex::encode(o.set_id),
        o.opened_with
    ));
    checked_line(&o.fingerprint, o.checked);
    Ok(())
}

/// The last line of a restore, rewrap or reshare: what vouched for the fingerprint of the file
/// it read. Its own field proves nothing about which backup this is: anyone can write a file
/// of another secret under the same token's public key, with any set id.
pub fn checked_line(fingerprint: &[u8; 16], checked: custody::FingerprintCheck) {
    let full = custody::record_fingerprint_display(fingerprint);
    match checked {
        custody::FingerprintCheck::Record => say::info(&format!(
            "fingerprint {full} is the one the ceremony record holds for this set"
        )),
        custody::FingerprintCheck::Expected => say::info(&format!(
            "fingerprint {full} is the one given with --expect-fingerprint"
        )),
        custody::FingerprintCheck::Typed => say::info(&format!(
            "fingerprint {full} starts as the ceremony record has it"
        )),
        // Not checked against anything: a warning, on every run, even with --quiet.
        _ => say::warning(
            &format!("fingerprint {full} is this file's own claim"),
            "compare it with the ceremony record",
        ),
    }
}
