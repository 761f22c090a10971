//! Writing a file to (possibly removable) media without ever losing data.
//!
//! Every write goes through a temporary file in the destination directory
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
//! CI runs as root, so permissions cannot make these steps fail. Setting the environment
//! variable `CUSTODY_FAULT_INJECT` to one of `create-temp`, `write`, `sync-file`, `rename`,
//! `sync-dir`, `read-back` or `verify` makes that step fail with
//! [`MediaError::InjectedFault`], after the same cleanup a real failure there would get. The
//! variable is read on every call; an empty value means none, any other value is an error
//! ([`MediaError::BadFaultInjection`]) so that a typo cannot make a test pass silently.
//! `<step>@N` fails that step of the N-th write of the process only (the N-th share of a split
//! set), to test what a partly written set reports.
//! [`write_secret_new`] has no read-back or verify step, so those two values do not affect it.

use std::ffi::{CString, OsString};
use std::fmt;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

/// Environment variable naming a [`WriteStep`] to fail on purpose (see the module docs).
pub const FAULT_INJECT_ENV: &str = "CUSTODY_FAULT_INJECT";

/// Steps a test can make fail (fault injection), in order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteStep {
    CreateTemp,
    Write,
    SyncFile,
    Rename,
    SyncDir,
    ReadBack,
    Verify,
}

impl WriteStep {
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

    fn from_name(name: &str) -> Option<WriteStep> {
        WriteStep::ALL.into_iter().find(|s| s.name() == name)
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

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct WriteOutcome {
    /// The filesystem did not keep mode 0600 (e.g. FAT): the caller should warn.
    pub mode_ignored: bool,
}

#[derive(Debug)]
#[non_exhaustive]
pub enum MediaError {
    /// The destination exists; it was not touched.
    Exists {
        path: PathBuf,
    },
    Io {
        step: WriteStep,
        path: PathBuf,
        source: io::Error,
    },
    InjectedFault {
        step: WriteStep,
        path: PathBuf,
    },
    /// The bytes read back differ from the bytes written.
    ReadBackMismatch {
        path: PathBuf,
    },
    /// The caller's verification of the bytes read back failed.
    VerifyFailed {
        path: PathBuf,
        reason: String,
    },
    TooLarge {
        path: PathBuf,
        max: u64,
    },
    /// [`read_bounded`] could not read the file.
    Read {
        path: PathBuf,
        source: io::Error,
    },
    /// The filesystem supports neither a no-replace rename nor hard links, so a new file
    /// cannot be put in place without risking replacing one created meanwhile.
    NoSafeCreate {
        path: PathBuf,
        source: io::Error,
    },
    /// `CUSTODY_FAULT_INJECT` holds something that is not a step name.
    BadFaultInjection {
        value: String,
    },
    /// A write failed and the directory could not be put back as it was.
    NotRestored {
        error: Box<MediaError>,
        /// `force` had already replaced an existing file, which is gone.
        replaced_existing: bool,
        /// Files this call created that could not be removed, each with the reason.
        left_behind: Vec<(PathBuf, io::Error)>,
    },
}

impl MediaError {
    /// The step that failed, if the error comes from a write.
    pub fn step(&self) -> Option<WriteStep> {
        match self {
            MediaError::Io { step, .. } | MediaError::InjectedFault { step, .. } => Some(*step),
            MediaError::Exists { .. } | MediaError::NoSafeCreate { .. } => Some(WriteStep::Rename),
            MediaError::ReadBackMismatch { .. } => Some(WriteStep::ReadBack),
            MediaError::VerifyFailed { .. } => Some(WriteStep::Verify),
            MediaError::NotRestored { error, .. } => error.step(),
            MediaError::TooLarge { .. }
            | MediaError::Read { .. }
            | MediaError::BadFaultInjection { .. } => None,
        }
    }

    fn fmt_core(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MediaError::Exists { path } => write!(
                f,
                "{} already exists; it was left untouched and nothing was written",
                path.display()
            ),
            MediaError::Io { step, path, source } => {
                write!(
                    f,
                    "could not write {}: {step} failed: {source}",
                    path.display()
                )
            }
            MediaError::InjectedFault { step, path } => write!(
                f,
                "could not write {}: {step} failed (injected by {FAULT_INJECT_ENV}={})",
                path.display(),
                step.name()
            ),
            MediaError::ReadBackMismatch { path } => write!(
                f,
                "{} read back from the device differs from what was written",
                path.display()
            ),
            MediaError::VerifyFailed { path, reason } => write!(
                f,
                "{} read back from the device failed verification: {reason}",
                path.display()
            ),
            MediaError::TooLarge { path, max } => write!(
                f,
                "{} is larger than {max} bytes; refusing to read it",
                path.display()
            ),
            MediaError::Read { path, source } => {
                write!(f, "could not read {}: {source}", path.display())
            }
            MediaError::NoSafeCreate { path, source } => write!(
                f,
                "cannot create {} without risking replacing a file of that name: the \
                 filesystem supports neither no-replace renames nor hard links ({source}); \
                 replacing explicitly (force) would use a plain atomic rename",
                path.display()
            ),
            MediaError::BadFaultInjection { value } => {
                let names: Vec<&str> = WriteStep::ALL.iter().map(|s| s.name()).collect();
                write!(
                    f,
                    "{FAULT_INJECT_ENV}={value:?} is not a write step (expected one of: {})",
                    names.join(", ")
                )
            }
            MediaError::NotRestored { error, .. } => error.fmt_core(f),
        }
    }
}

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
                    | MediaError::InjectedFault { path, .. }
                    | MediaError::ReadBackMismatch { path }
                    | MediaError::VerifyFailed { path, .. }
                    | MediaError::NoSafeCreate { path, .. } => Some(path),
                    _ => None,
                };
                if *replaced_existing && let Some(path) = path {
                    write!(
                        f,
                        "; the previous {} had already been replaced and is gone",
                        path.display()
                    )?;
                }
                if left_behind.is_empty() {
                    write!(f, "; the unconfirmed new file was removed")?;
                }
                for (p, e) in left_behind {
                    write!(
                        f,
                        "; could not remove {} ({e}): remove it by hand",
                        p.display()
                    )?;
                }
                Ok(())
            }
            MediaError::Io { .. }
            | MediaError::InjectedFault { .. }
            | MediaError::ReadBackMismatch { .. }
            | MediaError::VerifyFailed { .. }
            | MediaError::NoSafeCreate { .. } => write!(
                f,
                "; nothing was left behind and no existing file was changed"
            ),
            _ => Ok(()),
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
            _ => None,
        }
    }
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
    let fault = fault_from_env()?;
    write_impl(path, data, force, Some(verify), fault)
}

/// Create `path` new (O_EXCL, 0600) for a secret output (restore/generate): same
/// temp+fsync+no-replace rename, no read-back.
pub fn write_secret_new(path: &Path, data: &[u8]) -> Result<WriteOutcome, MediaError> {
    let fault = fault_from_env()?;
    write_impl(path, data, false, None, fault)
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

/// Read a whole file, refusing one larger than `max` bytes before reading it all.
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

/// Counts the writes of this process, for `step@N` (fail only the N-th write: a split set's
/// N-th share).
static WRITES: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);

fn fault_from_env() -> Result<Option<WriteStep>, MediaError> {
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
    let (step, nth) = parse_fault(std::env::var_os(FAULT_INJECT_ENV))?;
    Ok(step.filter(|_| nth.is_none_or(|k| k == n)))
}

fn parse_fault(value: Option<OsString>) -> Result<(Option<WriteStep>, Option<usize>), MediaError> {
    let bad = |v: &OsString| MediaError::BadFaultInjection {
        value: v.to_string_lossy().into_owned(),
    };
    match value {
        None => Ok((None, None)),
        Some(v) if v.is_empty() => Ok((None, None)),
        Some(v) => {
            let text = v.to_str().ok_or_else(|| bad(&v))?;
            let (name, nth) = match text.split_once('@') {
                Some((name, n)) => (name, Some(n.parse::<usize>().map_err(|_| bad(&v))?)),
                None => (text, None),
            };
            let step = WriteStep::from_name(name).ok_or_else(|| bad(&v))?;
            Ok((Some(step), nth))
        }
    }
}

fn inject(fault: Option<WriteStep>, step: WriteStep, path: &Path) -> Result<(), MediaError> {
    if fault == Some(step) {
        return Err(MediaError::InjectedFault {
            step,
            path: path.to_owned(),
        });
    }
    Ok(())
}

/// What has to be undone if a later step fails.
struct Undo<'a> {
    path: &'a Path,
    dir: &'a Path,
    temp: Option<PathBuf>,
    /// (dev, ino) of the file we put under `path`.
    placed: Option<(u64, u64)>,
    replaced_existing: bool,
}

impl Undo<'_> {
    fn fail(self, error: MediaError) -> MediaError {
        let mut left_behind = Vec::new();
        let mut removed_final = false;
        if let Some(temp) = self.temp
            && let Err(e) = fs::remove_file(&temp)
            && e.kind() != io::ErrorKind::NotFound
        {
            left_behind.push((temp, e));
        }
        if let Some(id) = self.placed {
            // Only remove the file if it is still the one we wrote: another program may have
            // put its own file there since.
            match fs::symlink_metadata(self.path) {
                Ok(m) if (m.dev(), m.ino()) == id => match fs::remove_file(self.path) {
                    Ok(()) => removed_final = true,
                    Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                    Err(e) => left_behind.push((self.path.to_owned(), e)),
                },
                Ok(_) => left_behind.push((
                    self.path.to_owned(),
                    io::Error::other("not removed: it is no longer the file this write created"),
                )),
                Err(_) => {}
            }
        }
        if removed_final {
            // Best effort: the removal is cleanup, the original error is what matters.
            let _ = sync_dir(self.dir);
        }
        if left_behind.is_empty() && !self.replaced_existing {
            error
        } else {
            MediaError::NotRestored {
                error: Box::new(error),
                replaced_existing: self.replaced_existing,
                left_behind,
            }
        }
    }
}

type Verify<'a> = &'a mut dyn FnMut(&[u8]) -> Result<(), String>;

fn write_impl(
    path: &Path,
    data: &[u8],
    force: bool,
    verify: Option<Verify<'_>>,
    fault: Option<WriteStep>,
) -> Result<WriteOutcome, MediaError> {
    let io_err = |step| {
        move |source| MediaError::Io {
            step,
            path: path.to_owned(),
            source,
        }
    };
    let (dir, name) = split_path(path).map_err(io_err(WriteStep::CreateTemp))?;
    // The rename below is what guarantees nothing is replaced; this only spares the work.
    if !force && fs::symlink_metadata(path).is_ok() {
        return Err(MediaError::Exists {
            path: path.to_owned(),
        });
    }

    inject(fault, WriteStep::CreateTemp, path)?;
    let (temp, mut file) = create_temp(&dir, &name).map_err(io_err(WriteStep::CreateTemp))?;
    let mut undo = Undo {
        path,
        dir: &dir,
        temp: Some(temp.clone()),
        placed: None,
        replaced_existing: false,
    };

    let staged = (|| {
        inject(fault, WriteStep::Write, path)?;
        file.write_all(data).map_err(io_err(WriteStep::Write))?;
        inject(fault, WriteStep::SyncFile, path)?;
        file.sync_all().map_err(io_err(WriteStep::SyncFile))?;
        file.metadata().map_err(io_err(WriteStep::SyncFile))
    })();
    drop(file);
    let meta = match staged {
        Ok(m) => m,
        Err(e) => return Err(undo.fail(e)),
    };
    let mode_ignored = meta.permissions().mode() & 0o777 != 0o600;
    let id = (meta.dev(), meta.ino());

    let mut verify = verify;
    let check = |at: &Path, verify: &mut Verify<'_>| -> Result<(), MediaError> {
        inject(fault, WriteStep::ReadBack, path)?;
        let back = read_back(at, data.len()).map_err(io_err(WriteStep::ReadBack))?;
        if back.id != id || back.bytes.as_slice() != data {
            return Err(MediaError::ReadBackMismatch {
                path: path.to_owned(),
            });
        }
        inject(fault, WriteStep::Verify, path)?;
        verify(&back.bytes).map_err(|reason| MediaError::VerifyFailed {
            path: path.to_owned(),
            reason,
        })
    };
    // Replacing a file: check the new bytes before the old file is gone too, so a bad write
    // never costs the good file it was meant to replace.
    if force
        && fs::symlink_metadata(path).is_ok()
        && let Some(v) = verify.as_mut()
        && let Err(e) = check(&temp, v)
    {
        return Err(undo.fail(e));
    }

    if let Err(e) = inject(fault, WriteStep::Rename, path) {
        return Err(undo.fail(e));
    }
    match place(&temp, path, force) {
        Ok(Placed::Renamed { replaced_existing }) => {
            undo.temp = None;
            undo.placed = Some(id);
            undo.replaced_existing = replaced_existing;
        }
        Ok(Placed::Linked) => {
            undo.placed = Some(id);
            if let Err(e) = fs::remove_file(&temp) {
                return Err(undo.fail(io_err(WriteStep::Rename)(e)));
            }
            undo.temp = None;
        }
        Err(e) => return Err(undo.fail(e)),
    }

    let synced = inject(fault, WriteStep::SyncDir, path)
        .and_then(|()| sync_dir(&dir).map_err(io_err(WriteStep::SyncDir)));
    if let Err(e) = synced {
        return Err(undo.fail(e));
    }

    if let Some(v) = verify.as_mut()
        && let Err(e) = check(path, v)
    {
        return Err(undo.fail(e));
    }
    Ok(WriteOutcome { mode_ignored })
}

fn split_path(path: &Path) -> io::Result<(PathBuf, OsString)> {
    let name = path.file_name().ok_or_else(|| {
        io::Error::new(io::ErrorKind::InvalidInput, "the path does not name a file")
    })?;
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_owned(),
        _ => PathBuf::from("."),
    };
    Ok((dir, name.to_owned()))
}

fn create_temp(dir: &Path, name: &std::ffi::OsStr) -> io::Result<(PathBuf, File)> {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    // Stay under NAME_MAX (255) once the prefix and suffix are added.
    let stem = &name.as_bytes()[..name.len().min(200)];
    let mut last = None;
    for _ in 0..16 {
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let random = RandomState::new().hash_one((std::process::id(), nanos, n));
        let mut temp_name = b".".to_vec();
        temp_name.extend_from_slice(stem);
        temp_name.extend_from_slice(format!(".tmp-{random:016x}").as_bytes());
        let temp = dir.join(OsString::from_vec(temp_name));
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)
        {
            Ok(file) => {
                // A umask such as 0277 would otherwise narrow the mode below 0600. Errors are
                // ignored: filesystems without modes (FAT) refuse, and the caller learns that
                // from `mode_ignored`.
                let _ = file.set_permissions(fs::Permissions::from_mode(0o600));
                return Ok((temp, file));
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => last = Some(e),
            Err(e) => return Err(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::other("no free temporary file name")))
}

#[derive(Debug)]
enum Placed {
    /// The temporary name is gone.
    Renamed { replaced_existing: bool },
    /// The file is under both names; the temporary one still has to be removed.
    Linked,
}

fn place(temp: &Path, path: &Path, force: bool) -> Result<Placed, MediaError> {
    place_with(temp, path, force, rename_noreplace, |a, b| {
        fs::hard_link(a, b)
    })
}

type Primitive = fn(&Path, &Path) -> io::Result<()>;

/// [`place`] with the two primitives passed in, so tests can act out filesystems that lack
/// them.
fn place_with(
    temp: &Path,
    path: &Path,
    force: bool,
    noreplace: Primitive,
    link: Primitive,
) -> Result<Placed, MediaError> {
    let io_err = |source| MediaError::Io {
        step: WriteStep::Rename,
        path: path.to_owned(),
        source,
    };
    let exists = || MediaError::Exists {
        path: path.to_owned(),
    };
    let replace = || {
        fs::rename(temp, path)
            .map(|()| Placed::Renamed {
                replaced_existing: true,
            })
            .map_err(io_err)
    };
    let e = match noreplace(temp, path) {
        Ok(()) => {
            return Ok(Placed::Renamed {
                replaced_existing: false,
            });
        }
        Err(e) => e,
    };
    if e.kind() == io::ErrorKind::AlreadyExists {
        return if force { replace() } else { Err(exists()) };
    }
    if !matches!(
        e.raw_os_error(),
        Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
    ) {
        return Err(io_err(e));
    }
    // No RENAME_NOREPLACE here (older kernels, NFS, some FUSE): link(2) fails with EEXIST
    // instead of replacing, so it gives the same guarantee.
    match link(temp, path) {
        Ok(()) => Ok(Placed::Linked),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
            if force {
                replace()
            } else {
                Err(exists())
            }
        }
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EPERM | libc::EOPNOTSUPP | libc::ENOSYS)
            ) =>
        {
            // Neither primitive exists on this filesystem. Checking for the name and then
            // renaming would replace a file created in between, so refuse unless replacing
            // was asked for anyway.
            if force {
                let existed = fs::symlink_metadata(path).is_ok();
                fs::rename(temp, path)
                    .map(|()| Placed::Renamed {
                        replaced_existing: existed,
                    })
                    .map_err(io_err)
            } else {
                Err(MediaError::NoSafeCreate {
                    path: path.to_owned(),
                    source: e,
                })
            }
        }
        Err(e) => Err(io_err(e)),
    }
}

fn c_path(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let from = c_path(from)?;
    let to = c_path(to)?;
    // The raw syscall rather than libc::renameat2, which needs glibc 2.28.
    // SAFETY: both pointers are valid NUL-terminated strings for the duration of the call.
    let r = unsafe {
        libc::syscall(
            libc::SYS_renameat2,
            libc::AT_FDCWD,
            from.as_ptr(),
            libc::AT_FDCWD,
            to.as_ptr(),
            libc::RENAME_NOREPLACE as libc::c_uint,
        )
    };
    if r == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let _ = (c_path(from)?, to);
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

struct ReadBack {
    /// (dev, ino), so the caller can tell it read the file it wrote.
    id: (u64, u64),
    bytes: Zeroizing<Vec<u8>>,
}

/// Reopen `path` and read it, at most one byte more than expected.
fn read_back(path: &Path, expected: usize) -> io::Result<ReadBack> {
    let file = File::open(path)?;
    let meta = file.metadata()?;
    drop_cached_pages(&file);
    let mut bytes = Zeroizing::new(Vec::with_capacity(expected.saturating_add(1)));
    file.take(expected as u64 + 1).read_to_end(&mut bytes)?;
    Ok(ReadBack {
        id: (meta.dev(), meta.ino()),
        bytes,
    })
}

/// After fsync the file's pages are clean, so dropping them makes the read-back come from the
/// device rather than from memory: that is what shows the media really holds the data.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn drop_cached_pages(file: &File) {
    use std::os::fd::AsRawFd;
    // SAFETY: plain advisory call on an open descriptor. Failure only means a weaker check.
    unsafe {
        libc::posix_fadvise(file.as_raw_fd(), 0, 0, libc::POSIX_FADV_DONTNEED);
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn drop_cached_pages(_file: &File) {}

#[cfg(test)]
mod tests {
    use super::*;

    struct TestDir(PathBuf);

    impl TestDir {
        fn new(tag: &str) -> TestDir {
            static N: AtomicU64 = AtomicU64::new(0);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_nanos();
            let dir = std::env::temp_dir().join(format!(
                "custody-media-{tag}-{}-{nanos}-{}",
                std::process::id(),
                N.fetch_add(1, Ordering::Relaxed)
            ));
            fs::create_dir(&dir).unwrap();
            TestDir(dir)
        }

        fn entries(&self) -> Vec<String> {
            let mut v: Vec<String> = fs::read_dir(&self.0)
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            v.sort();
            v
        }
    }

    impl Drop for TestDir {
        fn drop(&mut self) {
            let _ = fs::remove_dir_all(&self.0);
        }
    }

    fn mode(p: &Path) -> u32 {
        fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    fn ok_verify(_: &[u8]) -> Result<(), String> {
        Ok(())
    }

    fn write(
        path: &Path,
        data: &[u8],
        force: bool,
        fault: Option<WriteStep>,
    ) -> Result<WriteOutcome, MediaError> {
        write_impl(path, data, force, Some(&mut ok_verify), fault)
    }

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
    fn writes_empty_and_long_named_files() {
        let d = TestDir::new("edge");
        let p = d.0.join("empty");
        write(&p, b"", false, None).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"");
        let long = "n".repeat(250);
        let p = d.0.join(&long);
        write(&p, b"x", false, None).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"x");
        assert_eq!(d.entries(), ["empty".to_string(), long]);
    }

    #[test]
    fn relative_path_uses_current_directory_form() {
        let (dir, name) = split_path(Path::new("file")).unwrap();
        assert_eq!(
            (dir.as_path(), name.as_os_str()),
            (Path::new("."), "file".as_ref())
        );
        assert!(split_path(Path::new("/")).is_err());
        assert!(split_path(Path::new("a/..")).is_err());
    }

    #[test]
    fn refuses_existing_file() {
        let d = TestDir::new("exists");
        let p = d.0.join("f");
        fs::write(&p, b"old").unwrap();
        let e = write(&p, b"new", false, None).unwrap_err();
        assert!(matches!(e, MediaError::Exists { .. }), "{e:?}");
        assert!(e.to_string().contains(&p.display().to_string()));
        assert_eq!(fs::read(&p).unwrap(), b"old");
        assert_eq!(d.entries(), ["f"]);
    }

    #[test]
    fn no_replace_rename_refuses_a_file_that_appeared_meanwhile() {
        let d = TestDir::new("race");
        let p = d.0.join("f");
        let t = d.0.join(".f.tmp-x");
        fs::write(&p, b"theirs").unwrap();
        fs::write(&t, b"ours").unwrap();
        assert!(matches!(
            place(&t, &p, false),
            Err(MediaError::Exists { .. })
        ));
        assert_eq!(fs::read(&p).unwrap(), b"theirs");
        assert_eq!(fs::read(&t).unwrap(), b"ours");
        assert!(matches!(
            place(&t, &p, true),
            Ok(Placed::Renamed {
                replaced_existing: true
            })
        ));
        assert_eq!(fs::read(&p).unwrap(), b"ours");
        assert_eq!(d.entries(), ["f"]);
    }

    #[test]
    fn fallbacks_when_no_replace_rename_is_missing() {
        fn einval(_: &Path, _: &Path) -> io::Result<()> {
            Err(io::Error::from_raw_os_error(libc::EINVAL))
        }
        fn eperm(_: &Path, _: &Path) -> io::Result<()> {
            Err(io::Error::from_raw_os_error(libc::EPERM))
        }
        fn link(a: &Path, b: &Path) -> io::Result<()> {
            fs::hard_link(a, b)
        }
        let d = TestDir::new("fallback");
        let t = d.0.join(".f.tmp-x");
        let p = d.0.join("f");
        fs::write(&t, b"ours").unwrap();

        // link(2) instead: never replaces either.
        assert!(matches!(
            place_with(&t, &p, false, einval, link),
            Ok(Placed::Linked)
        ));
        assert_eq!(fs::read(&p).unwrap(), b"ours");
        // Both names are one inode now; write_impl drops the temporary one next.
        fs::remove_file(&t).unwrap();
        fs::write(&t, b"ours").unwrap();
        fs::remove_file(&p).unwrap();
        fs::write(&p, b"theirs").unwrap();
        assert!(matches!(
            place_with(&t, &p, false, einval, link),
            Err(MediaError::Exists { .. })
        ));
        assert_eq!(fs::read(&p).unwrap(), b"theirs");

        // Neither primitive (FAT without RENAME_NOREPLACE): refuse rather than risk it...
        fs::remove_file(&p).unwrap();
        let e = place_with(&t, &p, false, einval, eperm).unwrap_err();
        assert!(matches!(e, MediaError::NoSafeCreate { .. }), "{e:?}");
        assert!(e.to_string().contains("nothing was left behind"), "{e}");
        assert!(!p.exists() && t.exists());
        // ...unless replacing was asked for.
        assert!(matches!(
            place_with(&t, &p, true, einval, eperm),
            Ok(Placed::Renamed {
                replaced_existing: false
            })
        ));
        assert_eq!(fs::read(&p).unwrap(), b"ours");
        fs::write(&t, b"new").unwrap();
        assert!(matches!(
            place_with(&t, &p, true, einval, eperm),
            Ok(Placed::Renamed {
                replaced_existing: true
            })
        ));
        assert_eq!(fs::read(&p).unwrap(), b"new");
        assert_eq!(d.entries(), ["f"]);

        // Other errors are reported as they are, without trying anything else.
        fs::write(&t, b"x").unwrap();
        fs::remove_file(&p).unwrap();
        let e = place_with(&t, &p, false, eperm, link).unwrap_err();
        assert!(
            matches!(
                e,
                MediaError::Io {
                    step: WriteStep::Rename,
                    ..
                }
            ),
            "{e:?}"
        );
        assert!(!p.exists());
    }

    #[test]
    fn force_replaces() {
        let d = TestDir::new("force");
        let p = d.0.join("f");
        fs::write(&p, b"old").unwrap();
        fs::set_permissions(&p, fs::Permissions::from_mode(0o644)).unwrap();
        let out = write(&p, b"new contents", true, None).unwrap();
        assert!(!out.mode_ignored);
        assert_eq!(fs::read(&p).unwrap(), b"new contents");
        assert_eq!(mode(&p), 0o600);
        assert_eq!(d.entries(), ["f"]);
        // force without an existing file is an ordinary create.
        let q = d.0.join("g");
        write(&q, b"g", true, None).unwrap();
        assert_eq!(fs::read(&q).unwrap(), b"g");
    }

    #[test]
    fn injected_faults_leave_nothing_behind() {
        for step in WriteStep::ALL {
            let d = TestDir::new(step.name());
            let p = d.0.join("f");
            let e = write(&p, b"data", false, Some(step)).unwrap_err();
            assert!(
                matches!(e, MediaError::InjectedFault { step: s, .. } if s == step),
                "{step:?}: {e:?}"
            );
            assert_eq!(e.step(), Some(step));
            let msg = e.to_string();
            assert!(msg.contains(&p.display().to_string()), "{msg}");
            assert!(msg.contains(step.describe()), "{msg}");
            assert!(msg.contains("nothing was left behind"), "{msg}");
            assert!(d.entries().is_empty(), "{step:?}: {:?}", d.entries());
        }
    }

    #[test]
    fn injected_faults_with_force_and_existing_file() {
        for step in WriteStep::ALL {
            let d = TestDir::new(step.name());
            let p = d.0.join("f");
            fs::write(&p, b"old").unwrap();
            let e = write(&p, b"new", true, Some(step)).unwrap_err();
            // Read-back and verify run on the new bytes before the old file is replaced.
            if step != WriteStep::SyncDir {
                assert!(matches!(e, MediaError::InjectedFault { .. }), "{e:?}");
                assert_eq!(fs::read(&p).unwrap(), b"old", "{step:?}");
                assert_eq!(d.entries(), ["f"], "{step:?}");
            } else {
                match &e {
                    MediaError::NotRestored {
                        error,
                        replaced_existing: true,
                        left_behind,
                    } => {
                        assert!(matches!(**error, MediaError::InjectedFault { .. }));
                        assert!(left_behind.is_empty());
                    }
                    other => panic!("{step:?}: {other:?}"),
                }
                assert!(e.to_string().contains("is gone"), "{e}");
                assert!(d.entries().is_empty(), "{step:?}: {:?}", d.entries());
            }
        }
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
    fn cleanup_failure_is_reported() {
        let d = TestDir::new("undo");
        let p = d.0.join("f");
        fs::write(&p, b"someone else's").unwrap();
        // The file under the final name is not the one we placed: it must not be removed.
        let undo = Undo {
            path: &p,
            dir: &d.0,
            temp: None,
            placed: Some((0, 0)),
            replaced_existing: false,
        };
        let e = undo.fail(MediaError::ReadBackMismatch { path: p.clone() });
        match &e {
            MediaError::NotRestored { left_behind, .. } => assert_eq!(left_behind.len(), 1),
            other => panic!("{other:?}"),
        }
        assert!(e.to_string().contains("remove it by hand"), "{e}");
        assert_eq!(fs::read(&p).unwrap(), b"someone else's");
    }

    #[test]
    fn missing_directory_is_an_error_at_create_temp() {
        let d = TestDir::new("nodir");
        let p = d.0.join("missing").join("f");
        let e = write(&p, b"x", false, None).unwrap_err();
        assert!(
            matches!(
                e,
                MediaError::Io {
                    step: WriteStep::CreateTemp,
                    ..
                }
            ),
            "{e:?}"
        );
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
        let q = d.0.join("second.key");
        write_impl(&q, b"k", false, None, Some(WriteStep::Verify)).unwrap();
        let r = d.0.join("third.key");
        let e = write_impl(&r, b"k", false, None, Some(WriteStep::SyncDir)).unwrap_err();
        assert!(matches!(e, MediaError::InjectedFault { .. }));
        assert!(!r.exists());
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

    #[test]
    fn fault_names() {
        for step in WriteStep::ALL {
            assert_eq!(
                parse_fault(Some(step.name().into())).unwrap(),
                (Some(step), None)
            );
        }
        assert_eq!(
            parse_fault(Some("rename@2".into())).unwrap(),
            (Some(WriteStep::Rename), Some(2))
        );
        assert!(parse_fault(Some("rename@x".into())).is_err());
        assert_eq!(parse_fault(None).unwrap(), (None, None));
        assert_eq!(parse_fault(Some("".into())).unwrap(), (None, None));
        let e = parse_fault(Some("sync_dir".into())).unwrap_err();
        assert!(matches!(e, MediaError::BadFaultInjection { .. }));
        assert!(e.to_string().contains("sync-dir"), "{e}");
    }
}
