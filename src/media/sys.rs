//! The library's one system-call module: the calls the standard library does not offer, behind
//! safe functions for the rest of `media`.
//!
//! They go through rustix's safe wrappers, so the library has no `unsafe` code at all. A call
//! that ever needs raw `libc` belongs here, each `unsafe` block with a `// SAFETY:` comment.

use std::ffi::CString;
use std::fs::File;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

/// The path as the kernel takes it. A NUL byte inside is refused here, as an `InvalidInput`
/// error with no OS error code, so the callers' errno checks cannot mistake it for `EINVAL`.
fn c_path(p: &Path) -> io::Result<CString> {
    CString::new(p.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains a NUL byte"))
}

/// `renameat2(from, to, RENAME_NOREPLACE)`: move `from` to `to` only if `to` does not exist,
/// atomically. `AlreadyExists` (`EEXIST`) when it does; `EINVAL`, `ENOSYS` or `EOPNOTSUPP`
/// when the kernel or filesystem cannot do it (the caller falls back to `link(2)`).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    use rustix::fs::{CWD, RenameFlags, renameat_with};
    let from = c_path(from)?;
    let to = c_path(to)?;
    // rustix makes the raw system call on Linux, so this does not need glibc 2.28's
    // renameat2 wrapper.
    renameat_with(CWD, &from, CWD, &to, RenameFlags::NOREPLACE).map_err(io::Error::from)
}

/// Elsewhere there is no no-replace rename: `ENOSYS`, so the caller falls back to `link(2)`.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn rename_noreplace(from: &Path, to: &Path) -> io::Result<()> {
    let _ = (c_path(from)?, to);
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

/// Ask the kernel to drop `file`'s cached pages (`POSIX_FADV_DONTNEED`), so that a read that
/// follows comes from the device. Advisory: a failure only makes that read weaker evidence, so
/// it is ignored.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn drop_cached_pages(file: &File) {
    let _ = rustix::fs::fadvise(file, 0, None, rustix::fs::Advice::DontNeed);
}

/// No portable way to drop cached pages elsewhere: the read-back may come from memory.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn drop_cached_pages(_file: &File) {}

/// `flock(2)`: an exclusive (`shared == false`) or shared lock on the whole file, waiting for
/// it. Advisory: it keeps other custody processes out, not other programs.
pub(super) fn lock(file: &File, shared: bool) -> io::Result<()> {
    use rustix::fs::{FlockOperation, flock};
    let op = if shared {
        FlockOperation::LockShared
    } else {
        FlockOperation::LockExclusive
    };
    loop {
        match flock(file, op) {
            Err(rustix::io::Errno::INTR) => continue,
            r => return r.map_err(io::Error::from),
        }
    }
}

/// Release a lock taken with [`lock`].
pub(super) fn unlock(file: &File) -> io::Result<()> {
    rustix::fs::flock(file, rustix::fs::FlockOperation::Unlock).map_err(io::Error::from)
}

/// The soft `RLIMIT_AS` and `RLIMIT_DATA`, in bytes (`None`: unlimited).
pub(super) fn memory_rlimits() -> (Option<u64>, Option<u64>) {
    use rustix::process::{Resource, getrlimit};
    (
        getrlimit(Resource::As).current,
        getrlimit(Resource::Data).current,
    )
}

/// Whether this process may create files in `dir`, as the kernel judges it for the effective
/// user (`faccessat(W_OK|X_OK, AT_EACCESS)`): a read-only mount (`EROFS`) and an immutable
/// folder (`EPERM`) are refused even to root.
pub(super) fn may_write_dir(dir: &Path) -> io::Result<()> {
    use rustix::fs::{Access, AtFlags, CWD, accessat};
    let dir = c_path(dir)?;
    accessat(
        CWD,
        &dir,
        Access::WRITE_OK | Access::EXEC_OK,
        AtFlags::EACCESS,
    )
    .map_err(io::Error::from)
}

/// Bytes this process may still write on the filesystem holding `dir`: the blocks free to
/// everyone, or for root also the reserved ones (`statvfs`).
pub(super) fn free_bytes(dir: &Path) -> io::Result<u64> {
    let dir = c_path(dir)?;
    let st = rustix::fs::statvfs(&dir).map_err(io::Error::from)?;
    let blocks = if rustix::process::geteuid().is_root() {
        st.f_bfree
    } else {
        st.f_bavail
    };
    Ok(blocks.saturating_mul(st.f_frsize))
}

/// The name of the filesystem holding `dir` when it is one whose support for no-replace
/// renames and hard links depends on what serves it (FUSE, network filesystems): those are
/// probed before anything is asked ([`super::dir`]). `None` for the filesystems the kernel
/// itself implements on a local device, and where `statfs` says nothing.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn served_filesystem(dir: &Path) -> Option<&'static str> {
    let dir = c_path(dir).ok()?;
    let st = rustix::fs::statfs(&dir).ok()?;
    // The magic numbers of linux/magic.h and fs/smb/client (f_type's width varies by target).
    #[allow(clippy::unnecessary_cast)]
    match st.f_type as u64 {
        0x6573_5546 => Some("FUSE"),
        0x6969 => Some("NFS"),
        0x517b => Some("SMB"),
        0xff53_4d42 | 0xfe53_4d42 => Some("CIFS/SMB"),
        0x0102_1997 => Some("9P"),
        _ => None,
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn served_filesystem(_dir: &Path) -> Option<&'static str> {
    None
}

/// An unnamed file in `dir` (`O_TMPFILE`, mode 0600), which nothing else can open and which
/// vanishes with its last descriptor: a secret written to it leaves no copy under any name if
/// the process dies before [`link_unnamed`]. `Ok(None)` where the filesystem or kernel has no
/// `O_TMPFILE` (FAT, some network filesystems): the caller uses a named temporary file.
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn create_unnamed(dir: &Path) -> io::Result<Option<std::fs::File>> {
    use rustix::fs::{CWD, Mode, OFlags, openat};
    let dir = c_path(dir)?;
    match openat(
        CWD,
        &dir,
        OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    ) {
        Ok(fd) => Ok(Some(std::fs::File::from(fd))),
        Err(e)
            if e == rustix::io::Errno::OPNOTSUPP
                || e == rustix::io::Errno::ISDIR
                || e == rustix::io::Errno::INVAL
                || e == rustix::io::Errno::NOSYS =>
        {
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn create_unnamed(dir: &Path) -> io::Result<Option<std::fs::File>> {
    let _ = dir;
    Ok(None)
}

/// Give an unnamed file its name, never replacing anything (`EEXIST` if `to` exists): a link
/// through `/proc/self/fd`, which needs no capability (an `AT_EMPTY_PATH` link would).
#[cfg(any(target_os = "linux", target_os = "android"))]
pub(super) fn link_unnamed(file: &std::fs::File, to: &Path) -> io::Result<()> {
    use rustix::fs::{AtFlags, CWD, linkat};
    use std::os::fd::AsRawFd;
    let from = c_path(Path::new(&format!("/proc/self/fd/{}", file.as_raw_fd())))?;
    let to = c_path(to)?;
    linkat(CWD, &from, CWD, &to, AtFlags::SYMLINK_FOLLOW).map_err(io::Error::from)
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
pub(super) fn link_unnamed(file: &std::fs::File, to: &Path) -> io::Result<()> {
    let _ = (file, to);
    Err(io::Error::from_raw_os_error(libc::ENOSYS))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::io::Read;

    use super::*;
    use crate::media::test_util::TestDir;

    /// The error codes the caller's fallback depends on come through as raw OS errors.
    #[test]
    fn rename_noreplace_errors() {
        let d = TestDir::new("sys-rename");
        let (a, b) = (d.0.join("a"), d.0.join("b"));
        fs::write(&a, b"a").unwrap();
        fs::write(&b, b"b").unwrap();
        match rename_noreplace(&a, &b) {
            // Linux on a filesystem with RENAME_NOREPLACE (tmpfs, ext4, ...).
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                assert_eq!(e.raw_os_error(), Some(libc::EEXIST));
                assert_eq!(fs::read(&b).unwrap(), b"b");
                fs::remove_file(&b).unwrap();
                rename_noreplace(&a, &b).unwrap();
                assert!(!a.exists());
                assert_eq!(fs::read(&b).unwrap(), b"a");
            }
            // Without it: one of the codes that make the caller use link(2) instead.
            Err(e) => assert!(
                matches!(
                    e.raw_os_error(),
                    Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
                ),
                "{e:?}"
            ),
            Ok(()) => panic!("replaced an existing file"),
        }
        let e = rename_noreplace(&d.0.join("missing"), &d.0.join("c")).unwrap_err();
        assert!(
            e.kind() == io::ErrorKind::NotFound
                || matches!(
                    e.raw_os_error(),
                    Some(libc::EINVAL | libc::ENOSYS | libc::EOPNOTSUPP)
                ),
            "{e:?}"
        );
        let e = rename_noreplace(Path::new("a\0b"), &b).unwrap_err();
        assert_eq!(
            (e.kind(), e.raw_os_error()),
            (io::ErrorKind::InvalidInput, None)
        );
    }

    #[test]
    fn dropping_cached_pages_keeps_the_data() {
        let d = TestDir::new("sys-fadvise");
        let p = d.0.join("f");
        fs::write(&p, b"still here").unwrap();
        let mut f = File::open(&p).unwrap();
        drop_cached_pages(&f);
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        assert_eq!(s, "still here");
    }
}
