//! Opening the FILE arguments of restore and verify: one backup, a whole set, or (verify) some
//! shares checked alone.

use std::path::PathBuf;

use crate::cli::term::TerminalPrompter;
use crate::cli::{Failure, locators, token_env};

/// What opening the FILE arguments gave.
pub enum Opened {
    Whole(custody::OpenedBackup),
    /// Shares checked alone (verify with fewer than K).
    Shares(custody::SetCheck),
}

/// A single backup goes through the single-file path (its exit codes are the file's); share
/// files, or several files, through the set path.
pub fn open_files(
    files: Vec<custody::Input>,
    tokens: &[String],
    password_files: Vec<PathBuf>,
    partial_ok: bool,
    kdf_limits: custody::KdfLimits,
    expect: custody::Expectation,
    ignore_foreign: bool,
) -> Result<Opened, Failure> {
    let overrides: Vec<custody::KeySpec> = locators(tokens)?
        .into_iter()
        .map(custody::KeySpec::Locator)
        .collect();
    if password_files.len() > 1 && password_files.len() != files.len() {
        return Err(Failure::usage(format!(
            "{} --password-file for {} files: give one per file, in order, or a single one for all",
            password_files.len(),
            files.len()
        )));
    }
    let mut p = TerminalPrompter {
        password_files,
        new_password_files: None,
    };
    let req = custody::RestoreRequest {
        files,
        keys: overrides,
        partial_ok,
        kdf_limits,
        // A Windows text-mode copy is read as the bytes it was made from, and announced.
        repair_text_copies: true,
        expect,
        ignore_foreign,
    };
    match custody::restore(req, token_env(), &mut p) {
        Ok(custody::SetCheck::Whole(o)) => Ok(Opened::Whole(o)),
        Ok(c) => Ok(Opened::Shares(c)),
        Err(e) => Err(Failure::of(&e)),
    }
}
