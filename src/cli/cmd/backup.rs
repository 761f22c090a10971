//! `custody backup`: one backup file, or a split set of share files.

use std::io::{self, Write};

use custody::display_escaped;

use crate::cli::output::Out;
use crate::cli::secret_in::read_secret;
use crate::cli::shares::{per_share, share_specs, tokens_for_shares};
use crate::cli::term::TerminalPrompter;
use crate::cli::{Failure, Res, args, kdf_from, refuse_existing, token_env};

pub fn run(a: args::BackupArgs, stdout: &mut Out) -> Res {
    let n = a.out.len();
    let threshold = match (a.threshold, n) {
        (None, 1) => 1,
        (None, _) => {
            return Err(Failure::usage(format!(
                "{n} --out given: a split backup needs --threshold K (2 ≤ K ≤ {n})"
            )));
        }
        (Some(k), 1) => {
            return Err(Failure::usage(format!(
                "--threshold {k} needs one --out per share (at least two)"
            )));
        }
        (Some(k), n) if k < 2 || k as usize > n || n > 255 => {
            return Err(Failure::usage(format!(
                "--threshold {k} with {n} --out: a split needs 2 ≤ K ≤ N ≤ 255"
            )));
        }
        (Some(k), _) => k,
    };
    let (tokens, share_tokens) = tokens_for_shares(&a.tokens, &a.share_token, n)?;
    let kdf = kdf_from(a.kdf_memory, a.kdf_iterations, a.kdf_parallelism)?;
    custody::check_kdf_request(&kdf, a.allow_weak_kdf).map_err(Failure::usage)?;
    let hints = per_share(&a.hint, n, "--hint")?;
    let officers = per_share(&a.officer, n, "--officer")?;
    per_share(&a.password_file, n, "--password-file")?;
    refuse_existing(&a.out, a.force)?;
    let secret = read_secret(&a.secret)?;
    let shares = share_specs(&a.out, &officers, &hints, &tokens, &share_tokens);
    let req = custody::SetRequest {
        secret,
        threshold,
        shares,
        label: a.label,
        kdf,
        allow_weak_kdf: a.allow_weak_kdf,
        single_token: a.single_token,
        force: a.force,
        allow_same_device: a.allow_same_device,
    };
    let mut p = TerminalPrompter {
        password_files: a.password_file,
        new_password_files: None,
        quiet: false,
    };
    let r = custody::backup_set(req, token_env(), &mut p).map_err(|e| Failure::of(&e))?;
    Ok(print_set_report(stdout, &r)?)
}

pub fn print_set_report(stdout: &mut Out, r: &custody::BackupReport) -> io::Result<()> {
    let split = r.files.len() > 1;
    if split {
        writeln!(
            stdout,
            "Split backup: {} shares written and read back, any {} of them restore the secret.",
            r.files.len(),
            r.threshold
        )?;
    }
    for f in &r.files {
        if split {
            writeln!(
                stdout,
                "Share {} of {}{} written to {} and read back: it opens.",
                f.index,
                r.files.len(),
                if f.officer.is_empty() {
                    String::new()
                } else {
                    format!(" (officer {})", display_escaped(&f.officer))
                },
                f.path.display()
            )?;
        } else {
            writeln!(
                stdout,
                "Backup written to {} and read back: it opens.",
                f.path.display()
            )?;
        }
        for (name, checked) in &f.slots {
            writeln!(
                stdout,
                "  token:       {name}{}",
                if *checked {
                    " (opened)"
                } else {
                    " (UNVERIFIED: public key only)"
                }
            )?;
        }
    }
    writeln!(stdout, "  set id:      {}", hex::encode(r.set_id))?;
    writeln!(
        stdout,
        "  fingerprint: {}",
        custody::fingerprint_display(&r.fingerprint)
    )?;
    if r.weak_kdf {
        writeln!(
            stdout,
            "  WEAK password key derivation (--allow-weak-kdf): for tests only."
        )?;
    }
    writeln!(
        stdout,
        "Record the set id and fingerprint in the ceremony record."
    )
}
