//! The write itself: a temporary file, moved into place without replacing anything unless
//! asked to, the directory flushed, the file read back; and the undo when a step fails.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::hash::{BuildHasher, RandomState};
use std::io::{self, Read, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use zeroize::Zeroizing;

#[cfg(feature = "fault-injection")]
use super::fault::inject;
use super::sys::{create_unnamed, drop_cached_pages, link_unnamed, rename_noreplace};
use super::{MediaError, WriteOutcome, WriteStep};

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

pub(super) fn write_impl(
    path: &Path,
    data: &[u8],
    force: bool,
    verify: Option<Verify<'_>>,
    #[cfg(feature = "fault-injection")] fault: Option<WriteStep>,
) -> Result<WriteOutcome, MediaError> {
    let io_err = |step| io_error(path, step);
    // The rename below is what guarantees nothing is replaced; the check only spares the work.
    let (dir, name) = destination(path, force)?;

    #[cfg(feature = "fault-injection")]
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
        #[cfg(feature = "fault-injection")]
        inject(fault, WriteStep::Write, path)?;
        file.write_all(data).map_err(io_err(WriteStep::Write))?;
        #[cfg(feature = "fault-injection")]
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
        #[cfg(feature = "fault-injection")]
        inject(fault, WriteStep::ReadBack, path)?;
        let back = read_back(at, data.len()).map_err(io_err(WriteStep::ReadBack))?;
        if back.id != id || back.bytes.as_slice() != data {
            return Err(MediaError::ReadBackMismatch {
                path: path.to_owned(),
            });
        }
        #[cfg(feature = "fault-injection")]
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

    #[cfg(feature = "fault-injection")]
    if let Err(e) = inject(fault, WriteStep::Rename, path) {
        return Err(undo.fail(e));
    }
    // The last point where stopping leaves nothing behind: after it, the output is in place.
    if crate::error::stop_requested() {
        return Err(undo.fail(MediaError::Interrupted {
            path: path.to_owned(),
        }));
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

    #[cfg(feature = "fault-injection")]
    if let Err(e) = inject(fault, WriteStep::SyncDir, path) {
        return Err(undo.fail(e));
    }
    if let Err(e) = sync_dir(&dir) {
        return Err(undo.fail(io_err(WriteStep::SyncDir)(e)));
    }

    if let Some(v) = verify.as_mut()
        && let Err(e) = check(path, v)
    {
        return Err(undo.fail(e));
    }
    Ok(WriteOutcome { mode_ignored })
}

/// A secret output (restore, generate): written to an unnamed file (`O_TMPFILE`) that is given
/// its name only once it is complete and fsynced, never replacing anything. Until then no name
/// holds any of it, so a process killed half-way leaves no copy of the secret behind. Where the
/// filesystem has no unnamed files, the named temporary file of [`write_impl`] is used.
pub(super) fn write_secret_impl(
    path: &Path,
    data: &[u8],
    #[cfg(feature = "fault-injection")] fault: Option<WriteStep>,
) -> Result<WriteOutcome, MediaError> {
    let io_err = |step| io_error(path, step);
    let (dir, _) = destination(path, false)?;
    #[cfg(feature = "fault-injection")]
    inject(fault, WriteStep::CreateTemp, path)?;
    let Some(mut file) = create_unnamed(&dir).map_err(io_err(WriteStep::CreateTemp))? else {
        return write_impl(
            path,
            data,
            false,
            None,
            #[cfg(feature = "fault-injection")]
            fault,
        );
    };
    #[cfg(feature = "fault-injection")]
    inject(fault, WriteStep::Write, path)?;
    file.write_all(data).map_err(io_err(WriteStep::Write))?;
    #[cfg(feature = "fault-injection")]
    inject(fault, WriteStep::SyncFile, path)?;
    file.sync_all().map_err(io_err(WriteStep::SyncFile))?;
    let meta = file.metadata().map_err(io_err(WriteStep::SyncFile))?;
    let mode_ignored = meta.permissions().mode() & 0o777 != 0o600;
    #[cfg(feature = "fault-injection")]
    inject(fault, WriteStep::Rename, path)?;
    // Nothing to remove when stopped here: the unnamed file goes with its descriptor.
    if crate::error::stop_requested() {
        return Err(MediaError::Interrupted {
            path: path.to_owned(),
        });
    }
    link_unnamed(&file, path).map_err(|e| match e.kind() {
        io::ErrorKind::AlreadyExists => MediaError::Exists {
            path: path.to_owned(),
        },
        _ => io_err(WriteStep::Rename)(e),
    })?;
    drop(file);
    // Named now: a failure from here on removes it again, as for any write.
    let undo = Undo {
        path,
        dir: &dir,
        temp: None,
        placed: Some((meta.dev(), meta.ino())),
        replaced_existing: false,
    };
    #[cfg(feature = "fault-injection")]
    if let Err(e) = inject(fault, WriteStep::SyncDir, path) {
        return Err(undo.fail(e));
    }
    if let Err(e) = sync_dir(&dir) {
        return Err(undo.fail(io_err(WriteStep::SyncDir)(e)));
    }
    Ok(WriteOutcome { mode_ignored })
}

/// An I/O error of `step` of writing `path`.
fn io_error(path: &Path, step: WriteStep) -> impl Fn(io::Error) -> MediaError + '_ {
    move |source| MediaError::Io {
        step,
        path: path.to_owned(),
        source,
    }
}

/// The folder and name of `path`, refusing an existing file unless `force`.
fn destination(path: &Path, force: bool) -> Result<(PathBuf, OsString), MediaError> {
    let parts = split_path(path).map_err(io_error(path, WriteStep::CreateTemp))?;
    if !force && fs::symlink_metadata(path).is_ok() {
        return Err(MediaError::Exists {
            path: path.to_owned(),
        });
    }
    Ok(parts)
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
    let stem = name.as_bytes();
    let stem = stem.get(..200).unwrap_or(stem);
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
    // After fsync the file's pages are clean, so dropping them makes this read come from the
    // device rather than from memory: that is what shows the media really holds the data.
    drop_cached_pages(&file);
    let mut bytes = Zeroizing::new(Vec::with_capacity(expected.saturating_add(1)));
    file.take(expected as u64 + 1).read_to_end(&mut bytes)?;
    Ok(ReadBack {
        id: (meta.dev(), meta.ino()),
        bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::media::test_util::{TestDir, mode, write};

    #[test]
    fn writes_empty_and_long_named_files() {
        let d = TestDir::new("edge");
        let p = d.0.join("empty");
        write(&p, b"", false).unwrap();
        assert_eq!(fs::read(&p).unwrap(), b"");
        let long = "n".repeat(250);
        let p = d.0.join(&long);
        write(&p, b"x", false).unwrap();
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
        let e = write(&p, b"new", false).unwrap_err();
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
        let out = write(&p, b"new contents", true).unwrap();
        assert!(!out.mode_ignored);
        assert_eq!(fs::read(&p).unwrap(), b"new contents");
        assert_eq!(mode(&p), 0o600);
        assert_eq!(d.entries(), ["f"]);
        // force without an existing file is an ordinary create.
        let q = d.0.join("g");
        write(&q, b"g", true).unwrap();
        assert_eq!(fs::read(&q).unwrap(), b"g");
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
        let e = write(&p, b"x", false).unwrap_err();
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
}
