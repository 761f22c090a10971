//! `custody reshare`: a new set of the same secret from K shares of an old one.

use std::io::Write;

use crate::cli::output::Out;
use crate::cli::record::{Recording, expected_fingerprint};
use crate::cli::request::refused;
use crate::cli::shares::{per_share, share_specs, tokens_for_shares};
use crate::cli::term::TerminalPrompter;
use crate::cli::{Failure, Res, args, kdf_from, kdf_limits, locators, refuse_existing, token_env};

use super::backup::print_set_report;

pub fn run(a: args::ReshareArgs, stdout: &mut Out) -> Res {
    let n = a.out.len();
    let k = a.threshold;
    let (tokens, share_tokens) = tokens_for_shares(&a.tokens, &a.share_token, n)?;
    let kdf = kdf_from(a.kdf_memory, a.kdf_iterations, a.kdf_parallelism)?;
    let hints = per_share(&a.hint, n, "--hint")?;
    let officers = per_share(&a.officer, n, "--officer")?;
    per_share(&a.new_password_file, n, "--new-password-file")?;
    if a.password_file.len() > 1 && a.password_file.len() != a.files.len() {
        return Err(Failure::usage(
            "give one --password-file per old FILE, or a single one",
        ));
    }
    // --threshold is required here, and 1 is the way to ask for a single file.
    let threshold = (n != 1 || k != 1).then_some(k);
    let new_set = custody::SetRequest::new(
        threshold,
        share_specs(&a.out, &officers, &hints, &tokens, &share_tokens),
        a.label.as_deref(),
        kdf,
        custody::BackupOptions {
            allow_exportable_key: a.allow_exportable_key,
            allow_weak_kdf: a.allow_weak_kdf,
            single_token: a.single_token,
            force: a.force,
            allow_same_device: a.allow_same_device,
        },
    )
    .map_err(|e| match e {
        custody::RequestError::Threshold { .. }
        | custody::RequestError::ThresholdWithoutSplit { .. }
        | custody::RequestError::MissingThreshold { .. } => Failure::usage(format!(
            "--threshold {k} with {n} --out: a split needs 2 ≤ K ≤ N ≤ 255 (or 1 with one --out)"
        )),
        e => refused(&e),
    })?;
    refuse_existing(&a.out, a.force)?;
    let open_with = locators(&a.open_tokens)?
        .into_iter()
        .map(custody::KeySpec::Locator)
        .collect();
    let fingerprint = expected_fingerprint(&a.expect)?;
    // Before anything is asked: the record verifies and can be written.
    let mut rec = Recording::open(&a.record, custody::RecordOp::Reshare, &a.files, &a.out)?;
    let mut p = TerminalPrompter {
        password_files: a.password_file,
        new_password_files: Some(a.new_password_file),
    };
    let req = custody::ReshareRequest {
        old: rec.inputs(&a.files),
        open_with,
        new_set,
        kdf_limits: rec.kdf_limits(kdf_limits(a.kdf_limits)?),
        repair_text_copies: true,
        expect: rec.expectation(fingerprint, true),
        ignore_foreign: a.ignore_foreign,
    };
    let r = custody::reshare(req, token_env(), &mut p)
        .map_err(|e| rec.failed(Failure::of(&e), false))?;
    print_set_report(stdout, &r)?;
    writeln!(
        stdout,
        "The OLD files ({}) stay valid until they are destroyed: destroy every old share now.",
        a.files
            .iter()
            .map(|f| custody::display_path(f))
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    stdout.flush()?;
    super::restore::checked_line(&r.fingerprint, r.input_checked);
    rec.done(
        custody::RecordEvent::BackedUp(&r),
        "the new shares were written",
    )
}
