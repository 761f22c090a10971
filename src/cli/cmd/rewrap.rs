//! `custody rewrap`: one file with a new password, tokens, hint or KDF, same secret or share.

use std::io::Write;

use crate::cli::output::Out;
use crate::cli::record::{Recording, expected_fingerprint};
use crate::cli::term::TerminalPrompter;
use crate::cli::{Failure, Res, args, kdf_limits, locators, refuse_existing, token_env};

pub fn run(a: args::RewrapArgs, stdout: &mut Out) -> Res {
    let kdf = custody::KdfChange {
        memory_kib: a
            .kdf_memory
            .map(|m| {
                m.checked_mul(1024)
                    .ok_or_else(|| Failure::usage("--kdf-memory is too large"))
            })
            .transpose()?,
        iterations: a.kdf_iterations,
        parallelism: a.kdf_parallelism,
    };
    if a.new_token.is_empty()
        && a.drop_token.is_empty()
        && !a.new_password
        && a.new_password_file.is_none()
        && kdf.is_empty()
        && a.hint.is_none()
    {
        return Err(Failure::usage(
            "nothing to change: give --new-password[-file], --new-token, --drop-token, --hint or --kdf-*",
        ));
    }
    refuse_existing(std::slice::from_ref(&a.out), a.force)?;
    let keys = |raw: &[String]| -> Result<Vec<custody::KeySpec>, Failure> {
        Ok(locators(raw)?
            .into_iter()
            .map(custody::KeySpec::Locator)
            .collect())
    };
    let (open_with, add, drop) = (
        keys(&a.tokens)?,
        keys(&a.new_token)?,
        locators(&a.drop_token)?,
    );
    let fingerprint = expected_fingerprint(&a.expect)?;
    // Before anything is asked: the record exists, verifies and can be written.
    let mut rec = Recording::open(
        &a.record,
        custody::RecordOp::Rewrap,
        std::slice::from_ref(&a.file),
        std::slice::from_ref(&a.out),
    )?;
    let file = rec
        .inputs(std::slice::from_ref(&a.file))
        .pop()
        .unwrap_or_else(|| custody::Input::Path(a.file.clone()));
    let req = custody::RewrapRequest {
        allow_exportable_key: a.allow_exportable_key,
        file,
        out: custody::Output::Path(a.out),
        open_with,
        new_password: a.new_password || a.new_password_file.is_some(),
        hint: a.hint,
        kdf,
        allow_weak_kdf: a.allow_weak_kdf,
        add,
        drop,
        force: a.force,
        kdf_limits: rec.kdf_limits(kdf_limits(a.kdf_limits)?),
        repair_text_copies: true,
        expect: rec.expectation(fingerprint, true),
    };
    let mut p = TerminalPrompter {
        password_files: a.password_file.into_iter().collect(),
        new_password_files: Some(a.new_password_file.into_iter().collect()),
    };
    let r = custody::rewrap(req, token_env(), &mut p)
        .map_err(|e| rec.failed(Failure::of(&e), false))?;
    writeln!(
        stdout,
        "Rewrapped {} into {}{}: same {}, written and read back.",
        custody::display_path(&a.file),
        custody::display_path(&r.out),
        if r.password_changed {
            " with a new password"
        } else {
            ""
        },
        if r.count == 1 {
            "secret".to_string()
        } else {
            format!("share ({} of {})", r.index, r.count)
        }
    )?;
    for d in &r.dropped {
        writeln!(stdout, "  dropped:     {d}")?;
    }
    for (name, checked) in &r.slots {
        writeln!(
            stdout,
            "  token:       {name}{}",
            if *checked {
                ""
            } else {
                " (UNVERIFIED: public key only)"
            }
        )?;
    }
    writeln!(stdout, "  set id:      {}", hex::encode(r.set_id))?;
    writeln!(
        stdout,
        "  fingerprint: {}",
        custody::fingerprint_display(&r.fingerprint)
    )?;
    writeln!(
        stdout,
        "The old file {} still opens with its old password and tokens until it is destroyed.",
        custody::display_path(&a.file)
    )?;
    stdout.flush()?;
    super::restore::checked_line(&r.fingerprint, r.checked);
    rec.done(
        custody::RecordEvent::Rewrapped(&r),
        "the new file was written",
    )
}
