//! What can go wrong writing or reading a file, and how it is told to the user.

use std::fmt;
use std::io;
use std::path::PathBuf;

use crate::format::display_path;

#[cfg(feature = "fault-injection")]
use super::FAULT_INJECT_ENV;
use super::WriteStep;
use super::dir::DirProblem;

/// Why a file could not be written or read. Unless it is [`MediaError::NotRestored`], a write
/// error means nothing was left behind and no existing file was changed.
///
/// Paths are the caller's own; no variant carries file contents.
#[derive(Debug)]
#[non_exhaustive]
pub enum MediaError {
    /// The destination exists; it was not touched.
    Exists {
        /// The destination.
        path: PathBuf,
    },
    /// A step of the write failed with an I/O error.
    Io {
        /// Which step.
        step: WriteStep,
        /// The destination (not the temporary file).
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// Fault injection made `step` fail.
    #[cfg(feature = "fault-injection")]
    InjectedFault {
        /// The step named in `CUSTODY_FAULT_INJECT`.
        step: WriteStep,
        /// The destination.
        path: PathBuf,
    },
    /// The write was asked to stop ([`crate::request_stop`]) before the output was moved into
    /// place: the temporary file was removed.
    Interrupted {
        /// The destination.
        path: PathBuf,
    },
    /// The bytes read back differ from the bytes written.
    ReadBackMismatch {
        /// The destination.
        path: PathBuf,
    },
    /// The caller's verification of the bytes read back failed.
    VerifyFailed {
        /// The destination.
        path: PathBuf,
        /// What the caller's check said.
        reason: String,
    },
    /// [`read_bounded`](super::read_bounded) refused a file over its limit, before reading
    /// it whole.
    TooLarge {
        /// The file.
        path: PathBuf,
        /// The limit, in bytes.
        max: u64,
    },
    /// [`read_bounded`](super::read_bounded) could not read the file.
    Read {
        /// The file.
        path: PathBuf,
        /// What the system said.
        source: io::Error,
    },
    /// The filesystem supports neither a no-replace rename nor hard links, so a new file
    /// cannot be put in place without risking replacing one created meanwhile.
    NoSafeCreate {
        /// The destination.
        path: PathBuf,
        /// The error of the hard link, the last thing tried.
        source: io::Error,
    },
    /// `CUSTODY_FAULT_INJECT` holds something that is not a step name.
    #[cfg(feature = "fault-injection")]
    BadFaultInjection {
        /// The variable's value (lossy UTF-8).
        value: String,
    },
    /// A write failed and the directory could not be put back as it was.
    NotRestored {
        /// The failure that started the cleanup.
        error: Box<MediaError>,
        /// `force` had already replaced an existing file, which is gone.
        replaced_existing: bool,
        /// Files this call created that could not be removed, each with the reason.
        left_behind: Vec<(PathBuf, io::Error)>,
    },
    /// An output's folder is missing, not a folder, not writable or too full: found before
    /// anything was asked or written.
    OutputFolder {
        /// The folder.
        dir: PathBuf,
        /// What is wrong with it (boxed: a rare error need not grow every other one).
        problem: Box<DirProblem>,
    },
}

impl MediaError {
    /// The step that failed, if the error comes from a write.
    pub fn step(&self) -> Option<WriteStep> {
        match self {
            MediaError::Io { step, .. } => Some(*step),
            #[cfg(feature = "fault-injection")]
            MediaError::InjectedFault { step, .. } => Some(*step),
            MediaError::Exists { .. }
            | MediaError::NoSafeCreate { .. }
            | MediaError::Interrupted { .. } => Some(WriteStep::Rename),
            MediaError::ReadBackMismatch { .. } => Some(WriteStep::ReadBack),
            MediaError::VerifyFailed { .. } => Some(WriteStep::Verify),
            MediaError::NotRestored { error, .. } => error.step(),
            MediaError::TooLarge { .. }
            | MediaError::Read { .. }
            | MediaError::OutputFolder { .. } => None,
            #[cfg(feature = "fault-injection")]
            MediaError::BadFaultInjection { .. } => None,
        }
    }

    fn fmt_core(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaError::Exists { path } => write!(
                f,
                "{} already exists; it was left untouched and nothing was written",
                display_path(path)
            ),
            MediaError::Io { step, path, source } => {
                write!(
                    f,
                    "could not write {}: {step} failed: {source}",
                    display_path(path)
                )
            }
            #[cfg(feature = "fault-injection")]
            MediaError::InjectedFault { step, path } => write!(
                f,
                "could not write {}: {step} failed (injected by {FAULT_INJECT_ENV}={})",
                display_path(path),
                step.name()
            ),
            MediaError::Interrupted { path } => write!(
                f,
                "writing {} was stopped (interrupted) before it was moved into place",
                display_path(path)
            ),
            MediaError::ReadBackMismatch { path } => write!(
                f,
                "{} read back from the device differs from what was written",
                display_path(path)
            ),
            MediaError::VerifyFailed { path, reason } => write!(
                f,
                "{} read back from the device failed verification: {reason}",
                display_path(path)
            ),
            MediaError::TooLarge { path, max } => write!(
                f,
                "{} is larger than {max} bytes; refusing to read it",
                display_path(path)
            ),
            MediaError::Read { path, source } => {
                write!(f, "could not read {}: {source}", display_path(path))
            }
            MediaError::NoSafeCreate { path, source } => write!(
                f,
                "cannot create {} without risking replacing a file of that name: the \
                 filesystem supports neither no-replace renames nor hard links ({source}); \
                 replacing explicitly (force) would use a plain atomic rename",
                display_path(path)
            ),
            #[cfg(feature = "fault-injection")]
            MediaError::BadFaultInjection { value } => {
                let names: Vec<&str> = WriteStep::ALL.iter().map(|s| s.name()).collect();
                write!(
                    f,
                    "{FAULT_INJECT_ENV}={value:?} is not a write step (expected one of: {})",
                    names.join(", ")
                )
            }
            MediaError::NotRestored { error, .. } => error.fmt_core(f),
            MediaError::OutputFolder { dir, problem } => {
                let dir = display_path(dir);
                match problem.as_ref() {
                    DirProblem::Missing => write!(f, "the folder {dir} does not exist"),
                    DirProblem::NotAFolder => write!(f, "{dir} is not a folder"),
                    DirProblem::NotWritable(e) => {
                        write!(f, "the folder {dir} is not writable ({e})")
                    }
                    DirProblem::Leftover(left) => write!(
                        f,
                        "the folder {dir} holds {}, left by a custody write that did not finish \
                         (it may hold part of a backup or a secret)",
                        display_path(left)
                    ),
                    DirProblem::NoSpace { free, needed } => {
                        write!(f, "the folder {dir} has {free} bytes free, {needed} needed")
                    }
                    DirProblem::NoSafeCreate(fs) => write!(
                        f,
                        "the folder {dir} is on a {fs} filesystem that supports neither \
                         no-replace renames nor hard links: a new file cannot be created there \
                         without risking replacing one of the same name"
                    ),
                }?;
                f.write_str("; nothing was asked or written")
            }
        }
    }
}

const NOTHING_CHANGED: &str = "; nothing was left behind and no existing file was changed";

impl fmt::Display for MediaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.fmt_core(f)?;
        match self {
            MediaError::NotRestored {
                error,
                replaced_existing,
                left_behind,
            } => {
                let path = match error.as_ref() {
                    MediaError::Exists { path }
                    | MediaError::Io { path, .. }
                    | MediaError::ReadBackMismatch { path }
                    | MediaError::VerifyFailed { path, .. }
                    | MediaError::Interrupted { path }
                    | MediaError::NoSafeCreate { path, .. } => Some(path),
                    #[cfg(feature = "fault-injection")]
                    MediaError::InjectedFault { path, .. } => Some(path),
                    _ => None,
                };
                if *replaced_existing && let Some(path) = path {
                    write!(
                        f,
                        "; the previous {} had already been replaced and is gone",
                        display_path(path)
                    )?;
                }
                if left_behind.is_empty() {
                    write!(f, "; the unconfirmed new file was removed")?;
                }
                for (p, e) in left_behind {
                    write!(
                        f,
                        "; could not remove {} ({e}): remove it by hand",
                        display_path(p)
                    )?;
                }
                Ok(())
            }
            MediaError::Io { .. }
            | MediaError::ReadBackMismatch { .. }
            | MediaError::VerifyFailed { .. }
            | MediaError::Interrupted { .. }
            | MediaError::NoSafeCreate { .. } => f.write_str(NOTHING_CHANGED),
            #[cfg(feature = "fault-injection")]
            MediaError::InjectedFault { .. } => f.write_str(NOTHING_CHANGED),
            _ => Ok(()),
        }
    }
}

impl MediaError {
    /// What kind of failure this is: a file in the way, or anything else the medium did.
    pub fn kind(&self) -> crate::error::ErrorKind {
        match self {
            MediaError::Exists { .. } => crate::error::ErrorKind::OutputExists,
            // A folder that is not there is a wrong path in the request (a typo, a medium
            // not mounted): the command line is what to correct, as for other usage errors.
            MediaError::OutputFolder { problem, .. }
                if matches!(**problem, DirProblem::Missing | DirProblem::NotAFolder) =>
            {
                crate::error::ErrorKind::InvalidRequest
            }
            _ => crate::error::ErrorKind::Io,
        }
    }
}

impl std::error::Error for MediaError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            MediaError::Io { source, .. }
            | MediaError::Read { source, .. }
            | MediaError::NoSafeCreate { source, .. } => Some(source),
            MediaError::NotRestored { error, .. } => Some(error.as_ref()),
            MediaError::OutputFolder { problem, .. } => match problem.as_ref() {
                DirProblem::NotWritable(e) => Some(e),
                _ => None,
            },
            _ => None,
        }
    }
}
