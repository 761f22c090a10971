//! Restore and verify, whatever was given: one single backup, or share files of one set (all
//! of them, K of them, or — for a verify — fewer, each checked alone).

#[allow(unused_imports)]
use super::*;

/// What to restore or verify.
pub struct RestoreRequest {
    /// One single backup, or share files of one set.
    pub files: Vec<Input>,
    /// Keys to open them with; empty: the tokens and cards their slots name, when present.
    pub keys: Vec<KeySpec>,
    /// Accept fewer than K shares and check each alone (a verify); a restore needs K.
    pub partial_ok: bool,
    /// The Argon2id cost the files may ask for without a confirmation.
    pub kdf_limits: KdfLimits,
    /// Read a Windows text-mode copy as the bytes it was made from, and say so through the
    /// prompter (see [`LoadOptions::repair_text_copies`]); off, every file is read strictly.
    pub repair_text_copies: bool,
    /// What the files' fingerprint is compared with, right after they are read.
    pub expect: Expectation,
    /// Go on without files of another set among share files, without asking the prompter.
    pub ignore_foreign: bool,
}

/// Why a restore or verify gave nothing.
#[derive(Debug)]
#[non_exhaustive]
pub enum RestoreError {
    /// The one backup given did not open.
    File(OpenFileError),
    /// The share files given did not give the secret (or, for a verify, did not check out).
    Set(SetError),
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::File(e) => write!(f, "{e}"),
            RestoreError::Set(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for RestoreError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            RestoreError::File(e) => Some(e),
            RestoreError::Set(e) => Some(e),
        }
    }
}

impl RestoreError {
    /// What kind of failure this is.
    pub fn kind(&self) -> ErrorKind {
        match self {
            RestoreError::File(e) => e.kind(),
            RestoreError::Set(e) => e.kind(),
        }
    }
}

/// Open what the request gives. A lone file that is a single backup opens on its own (its
/// failures are the file's); share files, or several files, open as a set.
pub fn restore(
    req: RestoreRequest,
    env: TokenEnv,
    prompter: &mut dyn Prompter,
) -> Result<SetCheck, RestoreError> {
    let options = LoadOptions {
        repair_text_copies: req.repair_text_copies,
    };
    // One file that is not a share (or not readable: that path says why) opens alone.
    if let [only] = req.files.as_slice() {
        match load_input_with(only, options) {
            Ok(lf) if lf.file.common.count == 1 => {
                announce_text_copy(&lf, prompter);
                return open_single(lf, &req.keys, env, prompter, &req.kdf_limits, &req.expect)
                    .map(SetCheck::Whole)
                    .map_err(RestoreError::File);
            }
            Ok(_) => {}
            Err(e) => return Err(RestoreError::File(e)),
        }
    }
    open_set_with(
        &req.files,
        &req.keys,
        env,
        prompter,
        req.partial_ok,
        SetChecks {
            limits: &req.kdf_limits,
            options,
            expect: &req.expect,
            ignore_foreign: req.ignore_foreign,
        },
    )
    .map_err(RestoreError::Set)
}
