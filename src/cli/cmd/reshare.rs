//! `custody reshare`: a new set of the same secret from K shares of an old one.

use std::io::Write;

use crate::cli::output::Out;
use crate::cli::shares::{per_share, share_specs, tokens_for_shares};
use crate::cli::term::TerminalPrompter;
use crate::cli::{Failure, Res, args, kdf_from, locators, refuse_existing, token_env};

use super::backup::print_set_report;

pub fn run(a: args::ReshareArgs, stdout: &mut Out) -> Res {
    let n = a.out.len();
    let k = a.threshold;
    if n == 1 && k != 1 || n > 1 && (k < 2 || k as usize > n) || n > 255 {
        return Err(Failure::usage(format!(
            "--threshold {k} with {n} --out: a split needs 2 ≤ K ≤ N ≤ 255 (or 1 with one --out)"
        )));
    }
    let (tokens, share_tokens) = tokens_for_shares(&a.tokens, &a.share_token, n)?;
    let kdf = kdf_from(a.kdf_memory, a.kdf_iterations, a.kdf_parallelism)?;
    custody::check_kdf_request(&kdf, a.allow_weak_kdf).map_err(Failure::usage)?;
    let hints = per_share(&a.hint, n, "--hint")?;
    let officers = per_share(&a.officer, n, "--officer")?;
    per_share(&a.new_password_file, n, "--new-password-file")?;
    if a.password_file.len() > 1 && a.password_file.len() != a.files.len() {
        return Err(Failure::usage(
            "give one --password-file per old FILE, or a single one",
        ));
    }
    refuse_existing(&a.out, a.force)?;
    let open_with = locators(&a.open_tokens)?;
    let mut p = TerminalPrompter {
        password_files: a.password_file,
        new_password_files: Some(a.new_password_file),
        quiet: false,
    };
    let outs = a.out.clone();
    let r = custody::reshare(
        &a.files,
        &open_with,
        |secret, old_label| custody::SetRequest {
            secret,
            threshold: k,
            shares: share_specs(&outs, &officers, &hints, &tokens, &share_tokens),
            label: a.label.unwrap_or(old_label),
            kdf,
            allow_weak_kdf: a.allow_weak_kdf,
            single_token: a.single_token,
            force: a.force,
            allow_same_device: a.allow_same_device,
        },
        token_env(),
        &mut p,
    )
    .map_err(|e| Failure::of(&e))?;
    print_set_report(stdout, &r)?;
    writeln!(
        stdout,
        "The OLD files ({}) stay valid until they are destroyed: destroy every old share now.",
        a.files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )?;
    Ok(())
}
