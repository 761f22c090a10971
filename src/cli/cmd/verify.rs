//! `custody verify`: open a backup, a set or some shares without writing the secret out.

use std::io::Write;

use crate::cli::output::Out;
use crate::cli::record::{Recording, expected_fingerprint, own_claim};
use crate::cli::secret_in::read_secret;
use crate::cli::{Failure, Res, args, exit, kdf_limits};

use super::open::{Opened, open_files};

pub fn run(mut a: args::VerifyArgs, stdout: &mut Out) -> Res {
    let record = std::mem::take(&mut a.record);
    let fingerprint = expected_fingerprint(&a.expect)?;
    let mut rec = Recording::open(&record, custody::RecordOp::Verify, &a.files, &[])?;
    let inputs = rec.inputs(&a.files);
    // A verify writes nothing: it is not asked, but refused on a fingerprint not expected.
    let expect = rec.expectation(fingerprint, false);
    match check(a, inputs, expect, stdout) {
        Ok(c) => rec.done(
            custody::RecordEvent::Verified(&c),
            "the files were verified",
        ),
        Err(f) => Err(rec.failed(f, false)),
    }
}

/// The verify itself; what it checked, for the record.
fn check(
    a: args::VerifyArgs,
    inputs: Vec<custody::Input>,
    expect: custody::Expectation,
    stdout: &mut Out,
) -> Result<custody::SetCheck, Failure> {
    let expected = a.secret.as_deref().map(read_secret).transpose()?;
    let limits = kdf_limits(a.kdf_limits)?;
    let o = match open_files(
        inputs,
        &a.tokens,
        a.password_file,
        true,
        limits,
        expect,
        a.ignore_foreign,
    )? {
        Opened::Whole(o) => o,
        Opened::Shares(
            c @ custody::SetCheck::Shares {
                set_id,
                fingerprint,
                threshold,
                count,
                checked,
                ..
            },
        ) => {
            let custody::SetCheck::Shares { opened, .. } = &c else {
                unreachable!("matched above")
            };
            for (file, who) in opened {
                writeln!(
                    stdout,
                    "{}: OK, the share of {who} opens and matches its commitment",
                    custody::display_path(file)
                )?;
            }
            writeln!(stdout, "  set id:      {}", hex::encode(set_id))?;
            writeln!(
                stdout,
                "  fingerprint: {}",
                custody::fingerprint_display(&fingerprint)
            )?;
            writeln!(
                stdout,
                "  {} of the {threshold} shares needed (of {count}) checked: the whole set is \
                 checked only with {threshold} shares together.",
                opened.len()
            )?;
            if expected.is_some() {
                return Err(Failure::usage(format!(
                    "--secret needs the whole set: give {threshold} share files"
                )));
            }
            if !checked.is_checked() {
                writeln!(stdout, "{}", own_claim(&fingerprint))?;
            }
            return Ok(c);
        }
        Opened::Shares(_) => unreachable!("a whole set is returned as Whole"),
    };
    writeln!(
        stdout,
        "{}: OK, it opens with {}",
        a.files
            .iter()
            .map(|f| custody::display_path(f))
            .collect::<Vec<_>>()
            .join(", "),
        o.opened_with
    )?;
    writeln!(stdout, "  set id:      {}", hex::encode(o.set_id))?;
    writeln!(
        stdout,
        "  fingerprint: {}",
        custody::fingerprint_display(&o.fingerprint)
    )?;
    if o.weak_kdf {
        writeln!(stdout, "  WEAK password key derivation")?;
    }
    if let Some(e) = expected {
        if custody::constant_time_eq(e.expose(), o.secret.expose()) {
            writeln!(
                stdout,
                "  it holds exactly the secret in {}",
                custody::display_path(&a.secret.unwrap_or_default())
            )?;
        } else {
            return Err(Failure::new(
                exit::OTHER,
                format!(
                    "{} opens, but holds another secret than {}",
                    custody::display_path(&a.files[0]),
                    custody::display_path(&a.secret.unwrap_or_default())
                ),
                "check that you compared the right secret file with the right backup",
            ));
        }
    }
    if !o.checked.is_checked() {
        writeln!(stdout, "{}", own_claim(&o.fingerprint))?;
    }
    Ok(custody::SetCheck::Whole(o))
}
