//! `custody verify`: open a backup, a set or some shares without writing the secret out.

use std::io::Write;

use crate::cli::output::Out;
use crate::cli::record::{Recording, expected_fingerprint, own_claim};
use crate::cli::secret_in::read_secret;
use crate::cli::term::TerminalPrompter;
use crate::cli::{Failure, Res, args, exit, kdf_limits, locators, token_env};

use super::open::{Opened, open_files};

pub fn run(mut a: args::VerifyArgs, stdout: &mut Out) -> Res {
    let record = std::mem::take(&mut a.record);
    let fingerprint = expected_fingerprint(&a.expect)?;
    let mut rec = Recording::open(&record, custody::RecordOp::Verify, &a.files, &[])?;
    let inputs = rec.inputs(&a.files);
    // A verify writes nothing: it is not asked, but refused on a fingerprint not expected.
    let expect = rec.expectation(fingerprint, false);
    let limits = rec.kdf_limits(kdf_limits(a.kdf_limits)?);
    match check(a, inputs, expect, limits, stdout) {
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
    limits: custody::KdfLimits,
    stdout: &mut Out,
) -> Result<custody::SetCheck, Failure> {
    if a.all_slots {
        return all_slots(a, inputs, limits, stdout);
    }
    let expected = a.secret.as_deref().map(read_secret).transpose()?;
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
            let secret = a.secret.unwrap_or_default();
            crate::cli::output::document_path("secret_same_as", &secret);
            writeln!(
                stdout,
                "  it holds exactly the secret in {}",
                custody::display_path(&secret)
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

/// `verify --all-slots`: every slot of one file, one line each. Exit 0 only when every slot
/// opened; a slot that did not open for another reason than an absent token gives its own
/// code before an absent token's 4 (see [`custody::AllSlotsReport::failure`]).
fn all_slots(
    a: args::VerifyArgs,
    mut inputs: Vec<custody::Input>,
    limits: custody::KdfLimits,
    stdout: &mut Out,
) -> Result<custody::SetCheck, Failure> {
    let (Some(file), true) = (inputs.pop(), inputs.is_empty()) else {
        return Err(Failure::usage(format!(
            "--all-slots verifies one file at a time: give one backup or share file, not {}",
            a.files.len()
        )));
    };
    if a.password_file.len() > 1 {
        return Err(Failure::usage(
            "--all-slots verifies one file: give one --password-file",
        ));
    }
    let expected = a.secret.as_deref().map(read_secret).transpose()?;
    let keys: Vec<custody::KeySpec> = locators(&a.tokens)?
        .into_iter()
        .map(custody::KeySpec::Locator)
        .collect();
    let mut p = TerminalPrompter {
        password_files: a.password_file,
        new_password_files: None,
    };
    let req = custody::AllSlotsRequest {
        file,
        keys,
        kdf_limits: limits,
        repair_text_copies: true,
    };
    let report =
        custody::verify_all_slots(req, token_env(), &mut p).map_err(|e| Failure::of(&e))?;
    let name = custody::display_path(&report.file);
    for s in &report.slots {
        let what = match &s.outcome {
            custody::SlotOutcome::Opened => "opened".to_string(),
            custody::SlotOutcome::NotOpened { cause, .. } => format!("not opened: {cause}"),
            custody::SlotOutcome::TokenAbsent => "token absent".to_string(),
            _ => "not opened".to_string(),
        };
        writeln!(
            stdout,
            "slot {} ({}): {what}",
            s.number,
            s.descriptor.describe()
        )?;
    }
    if let Some(c) = &report.check {
        let (set_id, fingerprint) = match c {
            custody::SetCheck::Whole(o) => (o.set_id, o.fingerprint),
            custody::SetCheck::Shares {
                set_id,
                fingerprint,
                ..
            } => (*set_id, *fingerprint),
        };
        writeln!(stdout, "  set id:      {}", hex::encode(set_id))?;
        writeln!(
            stdout,
            "  fingerprint: {}",
            custody::fingerprint_display(&fingerprint)
        )?;
    }
    if let (Some(e), Some(c)) = (&expected, &report.check) {
        let custody::SetCheck::Whole(o) = c else {
            return Err(Failure::usage(
                "--secret needs a whole backup: a share file alone does not hold the secret",
            ));
        };
        let secret = a.secret.unwrap_or_default();
        let secret_name = custody::display_path(&secret);
        if !custody::constant_time_eq(e.expose(), o.secret.expose()) {
            return Err(Failure::new(
                exit::OTHER,
                format!("{name} opens, but holds another secret than {secret_name}"),
                "check that you compared the right secret file with the right backup",
            ));
        }
        crate::cli::output::document_path("secret_same_as", &secret);
        writeln!(stdout, "  it holds exactly the secret in {secret_name}")?;
    }
    match (report.failure(), report.check) {
        (None, Some(c)) => {
            writeln!(stdout, "{name}: OK, every slot opens")?;
            Ok(c)
        }
        (Some(custody::ErrorKind::NotFound), _) => Err(Failure::new(
            exit::NOT_FOUND,
            format!("{name}: not every slot was verified: a token is absent or lacks its key"),
            "plug in the token of each slot marked \"token absent\" (or name it with --token) \
             and run again",
        )),
        (kind, _) => Err(Failure::new(
            exit::code(kind.unwrap_or(custody::ErrorKind::Authentication)),
            format!("{name}: not every slot opens"),
            "a slot that does not open now will not open at a restore: find out why (the \
             cause is on its line), then rewrap the file to replace it (custody rewrap \
             --drop-token)",
        )),
    }
}
