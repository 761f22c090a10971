//! Writing a file to (possibly removable) media without ever losing data.
//!
//! A secret output ([`write_secret_new`]) is written to an unnamed file (`O_TMPFILE`) that gets
//! its name only when complete and fsynced, so that no name ever holds part of a secret, even
//! after a crash; where the filesystem has no unnamed files (FAT), it goes the way below.
//!
//! Every other write goes through a temporary file in the destination directory
//! (`.<name>.tmp-<random>`, created with `O_CREAT|O_EXCL`, mode 0600), which is written and
//! fsynced before it is moved to its final name. Without `force` the move never replaces
//! anything, so an existing file cannot be lost, even to a concurrent writer. The directory is
//! then fsynced so the new name survives a power loss or an unplugged stick, and
//! [`write_new`] reads the file back from the device and verifies it.
//!
//! On failure the directory is put back as it was: the temporary file is removed, and a final
//! file this call created is removed too (a file that was not confirmed must not pass for a
//! good one). The one thing that cannot be put back is a file that `force` already replaced
//! when a later step failed; that case, and a cleanup that itself failed, are reported as
//! [`MediaError::NotRestored`]. Every other error means nothing was left behind.
//!
//! # Fault injection
//!
//! CI runs as root, so permissions cannot make these steps fail. In a build with the cargo
//! feature `fault-injection` (the test command turns it on; it is off by default), setting the
//! environment variable `CUSTODY_FAULT_INJECT` to one of `create-temp`, `write`, `sync-file`,
//! `rename`, `sync-dir`, `read-back` or `verify` makes that step fail with
//! `MediaError::InjectedFault`, after the same cleanup a real failure there would get. The
//! variable is read on every call; an empty value means none, any other value is an error
//! (`MediaError::BadFaultInjection`) so that a typo cannot make a test pass silently.
//! `<step>@N` fails that step of the N-th write of the process only (the N-th share of a split
//! set), to test what a partly written set reports.
//! [`write_secret_new`] has no read-back or verify step, so those two values do not affect it.
//! `kill:<step>` makes the process kill itself (SIGKILL) before that step, to test what a crash
//! leaves behind. `CUSTODY_FAULT_PAUSE=<step>` pauses every write before that step until
//! [`crate::request_stop`] (at most a minute), to test a signal while a write is half done.
//!
//! Asked to stop ([`crate::request_stop`]), a write that has not yet moved its output into
//! place removes its temporary file and fails with `MediaError::Interrupted`.
//!
//! Without the feature the library never reads the variable and the write path has no failure
//! points to inject; the binary refuses a non-empty value rather than ignore it, so tests run
//! against such a build fail instead of passing without having tested anything.

mod append;
mod dir;
mod error;
#[cfg(feature = "fault-injection")]
mod fault;
mod memory;
mod sys;
mod write;

use std::fmt;
use std::fs::{self, File};
use std::io::Read;
use std::path::Path;

#[cfg(feature = "fault-injection")]
use fault::fault_from_env;
use write::write_impl;

/// Environment variable naming a write step to fail on purpose, for tests: `create-temp`,
/// `write`, `sync-file`, `rename`, `sync-dir`, `read-back` or `verify`, optionally `@N` for the
/// N-th write of the process only. Read only in a build with the `fault-injection` feature;
/// defined in every build so that a build without it can refuse the variable.
pub const FAULT_INJECT_ENV: &str = "CUSTODY_FAULT_INJECT";

/// The steps of a write, in order: what an error says failed, and what fault injection can
/// make fail.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteStep {
    /// Creating the temporary file beside the destination (also: a path naming no file).
    CreateTemp,
    /// Writing the data to the temporary file.
    Write,
    /// fsync of the temporary file.
    SyncFile,
    /// Moving the temporary file to its final name (never replacing one unless `force`).
    Rename,
    /// fsync of the directory, so that the new name survives a power loss.
    SyncDir,
    /// Reading the file back from the device.
    ReadBack,
    /// The caller's check of the bytes read back.
    Verify,
}

impl WriteStep {
    /// Every step, in the order a write takes them.
    pub const ALL: [WriteStep; 7] = [
        WriteStep::CreateTemp,
        WriteStep::Write,
        WriteStep::SyncFile,
        WriteStep::Rename,
        WriteStep::SyncDir,
        WriteStep::ReadBack,
        WriteStep::Verify,
    ];

    /// The name used in `CUSTODY_FAULT_INJECT`.
    pub fn name(self) -> &'static str {
        match self {
            WriteStep::CreateTemp => "create-temp",
            WriteStep::Write => "write",
            WriteStep::SyncFile => "sync-file",
            WriteStep::Rename => "rename",
            WriteStep::SyncDir => "sync-dir",
            WriteStep::ReadBack => "read-back",
            WriteStep::Verify => "verify",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            WriteStep::CreateTemp => "creating the temporary file",
            WriteStep::Write => "writing the data",
            WriteStep::SyncFile => "flushing the file to the device",
            WriteStep::Rename => "moving the file into place",
            WriteStep::SyncDir => "flushing the directory to the device",
            WriteStep::ReadBack => "reading the file back",
            WriteStep::Verify => "verifying the file read back",
        }
    }
}

impl fmt::Display for WriteStep {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.describe())
    }
}

pub use append::{AppendFile, device_of, host_name, read_shared};
pub use dir::{DirProblem, check_output_dir, check_output_dir_for, output_folder};
pub use error::MediaError;
pub use memory::{MemoryAvailable, MemoryLimit, memory_available};

/// How a write that succeeded went, beyond the data being in place.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOutcome {
    /// The filesystem did not keep mode 0600 (e.g. FAT): the caller should warn.
    pub mode_ignored: bool,
}

/// Write `data` to `path`, which must not exist unless `force` is set (then it is replaced
/// only through an atomic rename). After the move the file is read back from the device and
/// passed to `verify`; a mismatch or a verify error removes the file again.
///
/// With `force`, a failure after the rename cannot bring back the file that was replaced:
/// the unconfirmed new file is still removed, and the error says the old one is gone. Keeping
/// the old file aside would leave a second copy of it on the media to clean up, which is not
/// worth it for a step that only fails when the device itself is failing.
pub fn write_new(
    path: &Path,
    data: &[u8],
    force: bool,
    verify: &mut dyn FnMut(&[u8]) -> Result<(), String>,
) -> Result<WriteOutcome, MediaError> {
    #[cfg(feature = "fault-injection")]
    let fault = fault_from_env()?;
    write_impl(
        path,
        data,
        force,
        Some(verify),
        #[cfg(feature = "fault-injection")]
        fault,
    )
}

/// Create `path` new (O_EXCL, 0600) for a secret output (restore/generate): same
/// temp+fsync+no-replace rename, no read-back.
pub fn write_secret_new(path: &Path, data: &[u8]) -> Result<WriteOutcome, MediaError> {
    #[cfg(feature = "fault-injection")]
    let fault = fault_from_env()?;
    write::write_secret_impl(
        path,
        data,
        #[cfg(feature = "fault-injection")]
        fault,
    )
}

/// Whether the block device `dev` (a `st_dev`) is removable media, by the kernel's own flag:
/// `/sys/dev/block/MAJ:MIN/removable` for a whole disk, its parent's for a partition. A
/// filesystem with no block device (tmpfs, network) is not removable.
pub fn is_removable(dev: u64) -> bool {
    let (major, minor) = (libc::major(dev), libc::minor(dev));
    let Ok(sys) = fs::canonicalize(format!("/sys/dev/block/{major}:{minor}")) else {
        return false;
    };
    [sys.join("removable"), sys.join("../removable")]
        .iter()
        .any(|p| fs::read_to_string(p).is_ok_and(|v| v.trim() == "1"))
}

/// Read a whole file, refusing one larger than `max` bytes before reading it all: a
/// [`MediaError::TooLarge`], or [`MediaError::Read`] when it cannot be read.
pub fn read_bounded(path: &Path, max: u64) -> Result<Vec<u8>, MediaError> {
    let err = |source| MediaError::Read {
        path: path.to_owned(),
        source,
    };
    let file = File::open(path).map_err(err)?;
    let len = file.metadata().map_err(err)?.len();
    let too_large = || MediaError::TooLarge {
        path: path.to_owned(),
        max,
    };
    if len > max {
        return Err(too_large());
    }
    let mut buf = Vec::with_capacity(usize::try_from(len).unwrap_or(0));
    // The size can change after fstat, and device files report 0: bound the read itself.
    file.take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(err)?;
    if buf.len() as u64 > max {
        return Err(too_large());
    }
    Ok(buf)
}

#[cfg(test)]
mod test_util;

#[cfg(test)]
mod tests {
    use super::test_util::{TestDir, mode};
    use super::*;

    #[test]
    fn writes_new_file() {
        let d = TestDir::new("new");
        let p = d.0.join("backup.custody");
        let mut seen = Vec::new();
        let out = write_new(&p, b"hello", false, &mut |b: &[u8]| {
            seen = b.to_vec();
            Ok(())
        })
        .unwrap();
        assert_eq!(
            out,
            WriteOutcome {
                mode_ignored: false
            }
        );
        assert_eq!(seen, b"hello");
        assert_eq!(fs::read(&p).unwrap(), b"hello");
        assert_eq!(mode(&p), 0o600);
        assert_eq!(d.entries(), ["backup.custody"]);
    }

    #[test]
    fn verify_failure_with_force_keeps_the_old_file() {
        let d = TestDir::new("verify-force");
        let p = d.0.join("f");
        fs::write(&p, b"old").unwrap();
        let e = write_new(&p, b"new", true, &mut |_: &[u8]| Err("bad".into())).unwrap_err();
        assert!(matches!(&e, MediaError::VerifyFailed { .. }), "{e:?}");
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(d.entries(), ["f"]);
    }

    #[test]
    fn verify_failure_removes_the_file() {
        let d = TestDir::new("verify");
        let p = d.0.join("f");
        let e = write_new(&p, b"data", false, &mut |_: &[u8]| Err("wrong key".into())).unwrap_err();
        assert!(
            matches!(&e, MediaError::VerifyFailed { reason, .. } if reason == "wrong key"),
            "{e:?}"
        );
        assert!(e.to_string().contains("wrong key"));
        assert!(d.entries().is_empty());
    }

    #[test]
    fn secret_write() {
        let d = TestDir::new("secret");
        let p = d.0.join("master.key");
        let out = write_secret_new(&p, b"k3y").unwrap();
        assert!(!out.mode_ignored);
        assert_eq!(fs::read(&p).unwrap(), b"k3y");
        assert_eq!(mode(&p), 0o600);
        let e = write_secret_new(&p, b"other").unwrap_err();
        assert!(matches!(e, MediaError::Exists { .. }), "{e:?}");
        assert_eq!(fs::read(&p).unwrap(), b"k3y");
        assert_eq!(d.entries(), ["master.key"]);
        // No read-back step: those faults do not apply.
        #[cfg(feature = "fault-injection")]
        {
            let q = d.0.join("second.key");
            write_impl(&q, b"k", false, None, Some(WriteStep::Verify)).unwrap();
            let r = d.0.join("third.key");
            let e = write_impl(&r, b"k", false, None, Some(WriteStep::SyncDir)).unwrap_err();
            assert!(matches!(e, MediaError::InjectedFault { .. }));
            assert!(!r.exists());
        }
    }

    #[test]
    fn read_bounded_limits() {
        let d = TestDir::new("read");
        let p = d.0.join("f");
        fs::write(&p, vec![7u8; 100]).unwrap();
        assert_eq!(read_bounded(&p, 100).unwrap(), vec![7u8; 100]);
        assert_eq!(read_bounded(&p, u64::MAX).unwrap().len(), 100);
        let e = read_bounded(&p, 99).unwrap_err();
        assert!(matches!(e, MediaError::TooLarge { max: 99, .. }), "{e:?}");
        assert!(e.to_string().contains("99"));
        assert!(matches!(
            read_bounded(&d.0.join("missing"), 10),
            Err(MediaError::Read { .. })
        ));
        // A device reports size 0; the read itself is bounded.
        let e = read_bounded(Path::new("/dev/zero"), 4096).unwrap_err();
        assert!(matches!(e, MediaError::TooLarge { .. }), "{e:?}");
    }
}
