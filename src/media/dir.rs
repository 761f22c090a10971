//! Checking where an output goes before anything is asked: a folder that is missing, cannot be
//! written or has no room must fail before the first PIN or password, not after the ceremony.

use std::io;
use std::path::{Path, PathBuf};

use super::MediaError;
use super::sys;

/// What is wrong with an output's folder.
#[derive(Debug)]
#[non_exhaustive]
pub enum DirProblem {
    /// It does not exist.
    Missing,
    /// Something that is not a folder is there.
    NotAFolder,
    /// It cannot be written (read-only, immutable, permissions) or looked at.
    NotWritable(io::Error),
    /// Its filesystem has less room than the outputs need.
    NoSpace {
        /// Bytes free.
        free: u64,
        /// Bytes needed.
        needed: u64,
    },
    /// It holds the temporary file of a custody write that did not finish (a crash, or a
    /// filesystem without unnamed files): part of a backup, or of a secret.
    Leftover(PathBuf),
    /// Its filesystem (FUSE, or a network one: named) can neither rename without replacing
    /// nor link, so a new file cannot be created there without risking replacing one of the
    /// same name (only a write that may replace, `force`, could go on).
    NoSafeCreate(&'static str),
}

/// Whether `name` is the temporary file of a custody write: `.<name>.tmp-<16 hex digits>`.
fn is_leftover(name: &std::ffi::OsStr) -> bool {
    let Some(name) = name.to_str() else {
        return false;
    };
    name.starts_with('.')
        && name.rsplit_once(".tmp-").is_some_and(|(_, tail)| {
            tail.len() == 16 && tail.bytes().all(|b| b.is_ascii_hexdigit())
        })
}

/// The folder an output file goes in (`.` for a bare file name).
pub fn output_folder(path: &Path) -> PathBuf {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// Check that the folder of the output file `path` exists, can be written, has `needed`
/// bytes free, and can take a new file without risking replacing one of its name. Nothing is
/// written on the filesystems the kernel implements (the check asks it: `faccessat`,
/// `statvfs`, `statfs`); on FUSE and network filesystems, whose support for that depends on
/// what serves them, an empty probe file is created and removed to find out.
pub fn check_output_dir(path: &Path, needed: u64) -> Result<(), MediaError> {
    check_output_dir_for(path, needed, false)
}

/// [`check_output_dir`] for a write that may replace an existing file (`force`): a
/// filesystem that cannot create without that risk is then no obstacle, and is not probed.
pub fn check_output_dir_for(path: &Path, needed: u64, force: bool) -> Result<(), MediaError> {
    let dir = output_folder(path);
    let err = |problem| MediaError::OutputFolder {
        dir: dir.clone(),
        problem: Box::new(problem),
    };
    match std::fs::metadata(&dir) {
        Ok(m) if m.is_dir() => {}
        Ok(_) => return Err(err(DirProblem::NotAFolder)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Err(err(DirProblem::Missing)),
        // A path through a file (ENOTDIR): a component is not a folder.
        Err(e) if e.raw_os_error() == Some(libc::ENOTDIR) => {
            return Err(err(DirProblem::NotAFolder));
        }
        Err(e) => return Err(err(DirProblem::NotWritable(e))),
    }
    sys::may_write_dir(&dir).map_err(|e| err(DirProblem::NotWritable(e)))?;
    let free = sys::free_bytes(&dir).map_err(|e| err(DirProblem::NotWritable(e)))?;
    if free < needed {
        return Err(err(DirProblem::NoSpace { free, needed }));
    }
    // What a write that did not finish left: named until someone has looked at it.
    if let Ok(entries) = std::fs::read_dir(&dir)
        && let Some(left) = entries
            .filter_map(Result::ok)
            .find(|e| is_leftover(&e.file_name()))
    {
        return Err(err(DirProblem::Leftover(left.path())));
    }
    if !force
        && let Some(fs) = sys::served_filesystem(&dir)
        && !creates_safely(&dir)
    {
        return Err(err(DirProblem::NoSafeCreate(fs)));
    }
    Ok(())
}

/// Whether a file can be moved to a new name in `dir` without risking replacing one there,
/// as the writes do it (`RENAME_NOREPLACE`, else `link(2)`), tried on an empty probe file.
/// A probe that cannot be made or fails for another reason answers yes: the write itself
/// then reports what is wrong.
fn creates_safely(dir: &Path) -> bool {
    use std::hash::BuildHasher;
    let tag = std::collections::hash_map::RandomState::new()
        .hash_one((std::process::id(), std::time::SystemTime::now()));
    let a = dir.join(format!(".custody-probe-{tag:016x}"));
    let b = dir.join(format!(".custody-probe-{tag:016x}-b"));
    if std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&a)
        .is_err()
    {
        return true;
    }
    let unsupported =
        |e: &io::Error, codes: &[i32]| e.raw_os_error().is_some_and(|c| codes.contains(&c));
    let answer = match sys::rename_noreplace(&a, &b) {
        Ok(()) => true,
        Err(e) if unsupported(&e, &[libc::EINVAL, libc::ENOSYS, libc::EOPNOTSUPP]) => {
            match std::fs::hard_link(&a, &b) {
                Ok(()) => true,
                Err(e) => !unsupported(&e, &[libc::EPERM, libc::EOPNOTSUPP, libc::ENOSYS]),
            }
        }
        Err(_) => true,
    };
    let _ = std::fs::remove_file(&a);
    let _ = std::fs::remove_file(&b);
    answer
}

#[cfg(test)]
mod tests {
    use super::super::test_util::TestDir;
    use super::*;

    #[test]
    fn a_temporary_file_left_behind_is_named() {
        let d = TestDir::new("leftover");
        std::fs::write(d.0.join(".b.cb.tmp-notatemp"), b"x").unwrap();
        std::fs::write(d.0.join("b.cb.tmp-0123456789abcdef"), b"x").unwrap();
        assert!(check_output_dir(&d.0.join("f"), 1).is_ok());
        let left = d.0.join(".r.bin.tmp-0123456789abcdef");
        std::fs::write(&left, b"x").unwrap();
        let e = check_output_dir(&d.0.join("f"), 1).unwrap_err();
        assert!(
            matches!(&e, MediaError::OutputFolder { problem, .. }
                if matches!(problem.as_ref(), DirProblem::Leftover(p) if *p == left)),
            "{e:?}"
        );
        assert!(e.to_string().contains(".r.bin.tmp-0123456789abcdef"), "{e}");
    }

    #[test]
    fn folder_problems_are_named() {
        let d = TestDir::new("outdir");
        assert!(check_output_dir(&d.0.join("f"), 1).is_ok());
        let e = check_output_dir(&d.0.join("missing/f"), 1).unwrap_err();
        let MediaError::OutputFolder { problem, .. } = &e else {
            panic!("{e:?}")
        };
        assert!(matches!(**problem, DirProblem::Missing), "{e:?}");
        assert_eq!(e.kind(), crate::error::ErrorKind::InvalidRequest);
        assert!(e.to_string().contains("does not exist"), "{e}");
        std::fs::write(d.0.join("file"), b"x").unwrap();
        let e = check_output_dir(&d.0.join("file/f"), 1).unwrap_err();
        assert!(e.to_string().contains("is not a folder"), "{e}");
        let e = check_output_dir(&d.0.join("f"), u64::MAX).unwrap_err();
        assert!(e.to_string().contains("bytes free"), "{e}");
        // /proc/self cannot take a new file, not even root's.
        assert!(check_output_dir(Path::new("/proc/self/f"), 1).is_err());
    }
}
