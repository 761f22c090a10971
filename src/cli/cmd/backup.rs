//! `custody backup`: one backup file, or a split set of share files.

use std::io::{self, Write};

use custody::display_escaped;

use crate::cli::output::Out;
use crate::cli::record::Recording;
use crate::cli::request::refused;
use crate::cli::secret_in::read_secret;
use crate::cli::shares::{per_share, share_specs, tokens_for_shares};
use crate::cli::term::TerminalPrompter;
use crate::cli::{Failure, Res, args, kdf_from, refuse_existing, token_env};

pub fn run(a: args::BackupArgs, stdout: &mut Out) -> Res {
    let n = a.out.len();
    let (tokens, share_tokens) = tokens_for_shares(&a.tokens, &a.share_token, n)?;
    let kdf = kdf_from(a.kdf_memory, a.kdf_iterations, a.kdf_parallelism)?;
    let hints = per_share(&a.hint, n, "--hint")?;
    let officers = per_share(&a.officer, n, "--officer")?;
    per_share(&a.password_file, n, "--password-file")?;
    let shares = share_specs(&a.out, &officers, &hints, &tokens, &share_tokens);
    // Every rule of the request is checked here, before the secret is read or anyone asked.
    let req = custody::SetRequest::new(
        a.threshold,
        shares,
        Some(&a.label),
        kdf,
        custody::BackupOptions {
            allow_exportable_key: a.allow_exportable_key,
            allow_weak_kdf: a.allow_weak_kdf,
            single_token: a.single_token,
            force: a.force,
            allow_same_device: a.allow_same_device,
        },
    )
    .map_err(|e| refused(&e))?;
    refuse_existing(&a.out, a.force)?;
    let mut rec = Recording::open(&a.record, custody::RecordOp::Backup, &[], &a.out)?;
    let secret = read_secret(&a.secret).map_err(|f| rec.failed(f, false))?;
    let mut p = TerminalPrompter {
        password_files: a.password_file,
        new_password_files: None,
    };
    let r = custody::backup_set(req, secret, token_env(), &mut p)
        .map_err(|e| rec.failed(Failure::of(&e), false))?;
    // The report first: a backup that could not be recorded still shows its set id and
    // fingerprint.
    print_set_report(stdout, &r)?;
    stdout.flush()?;
    rec.done(
        custody::RecordEvent::BackedUp(&r),
        if r.files.len() > 1 {
            "the shares were written"
        } else {
            "the backup was written"
        },
    )
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
                custody::display_path(&f.path)
            )?;
        } else {
            writeln!(
                stdout,
                "Backup written to {} and read back: it opens.",
                custody::display_path(&f.path)
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
