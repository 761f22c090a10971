//! An append-only text file shared by several processes (the ceremony record): opened for
//! appending, locked with `flock` while it is read and while a line is added, each line fsynced.
//! What the lines say is not this module's business.

use std::fs::{File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use super::sys;

/// An append-only file, open for reading and appending. Dropping it closes the file, which
/// releases any lock still held.
#[derive(Debug)]
pub struct AppendFile {
    file: File,
    path: PathBuf,
    /// Created by [`AppendFile::open`]: its directory entry is fsynced with the first line.
    created: bool,
}

/// A lock held on an [`AppendFile`]; released when dropped.
#[derive(Debug)]
pub struct Locked<'a> {
    file: &'a mut AppendFile,
}

impl AppendFile {
    /// Open `path` for reading and appending, creating it (empty) when `create` is set and it is
    /// missing. Opening for appending is the check that it can be written. Anything but a
    /// regular file (a directory, a device, a pipe) is refused: lines written there would not
    /// be kept.
    pub fn open(path: &Path, create: bool) -> io::Result<AppendFile> {
        let mut created = false;
        let file = if create {
            match OpenOptions::new()
                .read(true)
                .append(true)
                .create_new(true)
                .open(path)
            {
                Ok(f) => {
                    created = true;
                    f
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    OpenOptions::new().read(true).append(true).open(path)?
                }
                Err(e) => return Err(e),
            }
        } else {
            OpenOptions::new().read(true).append(true).open(path)?
        };
        if !file.metadata()?.file_type().is_file() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "not a regular file",
            ));
        }
        Ok(AppendFile {
            file,
            path: path.to_owned(),
            created,
        })
    }

    /// Whether this open created the file (and no line was appended since).
    #[cfg(test)]
    pub fn created(&self) -> bool {
        self.created
    }

    /// Take the exclusive lock (waiting for another holder to finish its append).
    pub fn lock(&mut self) -> io::Result<Locked<'_>> {
        sys::lock(&self.file, false)?;
        Ok(Locked { file: self })
    }
}

/// Read a whole file under a shared lock (waiting for a writer to finish its line), refusing
/// one larger than `max` bytes: `None` then.
pub fn read_shared(path: &Path, max: u64) -> io::Result<Option<Vec<u8>>> {
    let file = File::open(path)?;
    if !file.metadata()?.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    sys::lock(&file, true)?;
    let r = read_all(&file, max);
    let _ = sys::unlock(&file);
    r
}

fn read_all(mut file: &File, max: u64) -> io::Result<Option<Vec<u8>>> {
    file.seek(SeekFrom::Start(0))?;
    let mut buf = Vec::new();
    file.take(max.saturating_add(1)).read_to_end(&mut buf)?;
    Ok((buf.len() as u64 <= max).then_some(buf))
}

impl Locked<'_> {
    /// The whole file as it is now; `None` when it is larger than `max` bytes.
    pub fn read(&self, max: u64) -> io::Result<Option<Vec<u8>>> {
        read_all(&self.file.file, max)
    }

    /// Add `bytes` at the end and fsync the file (and, the first time after creating it, its
    /// directory). A write that fails part-way is cut off again, so that no half line stays.
    pub fn append(&mut self, bytes: &[u8]) -> io::Result<()> {
        let f = &mut self.file.file;
        let len = f.metadata()?.len();
        let written = f.write_all(bytes).and_then(|()| f.sync_all());
        if let Err(e) = written {
            let _ = f.set_len(len);
            let _ = f.sync_all();
            return Err(e);
        }
        if self.file.created {
            let dir = match self.file.path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            File::open(dir)?.sync_all()?;
            self.file.created = false;
        }
        Ok(())
    }
}

impl Drop for Locked<'_> {
    fn drop(&mut self) {
        let _ = sys::unlock(&self.file.file);
    }
}

/// The filesystem (`st_dev`) `path` is on: its own when it exists, else its directory's.
pub fn device_of(path: &Path) -> io::Result<u64> {
    match std::fs::metadata(path) {
        Ok(m) => Ok(m.dev()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            let dir = match path.parent() {
                Some(p) if !p.as_os_str().is_empty() => p,
                _ => Path::new("."),
            };
            Ok(std::fs::metadata(dir)?.dev())
        }
        Err(e) => Err(e),
    }
}

/// This machine's host name, as the kernel has it; empty when it cannot be read.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::super::test_util::TestDir;
    use super::*;

    #[test]
    fn appends_under_a_lock_and_refuses_what_is_not_a_file() {
        let d = TestDir::new("append");
        let p = d.0.join("record");
        assert_eq!(
            AppendFile::open(&p, false).unwrap_err().kind(),
            io::ErrorKind::NotFound
        );
        let mut f = AppendFile::open(&p, true).unwrap();
        assert!(f.created());
        {
            let mut l = f.lock().unwrap();
            assert_eq!(l.read(10).unwrap().unwrap(), b"");
            l.append(b"one\n").unwrap();
            l.append(b"two\n").unwrap();
            assert_eq!(l.read(100).unwrap().unwrap(), b"one\ntwo\n");
            assert_eq!(l.read(7).unwrap(), None);
        }
        assert!(!f.created());
        let again = AppendFile::open(&p, true).unwrap();
        assert!(!again.created());
        assert_eq!(read_shared(&p, 100).unwrap().unwrap(), b"one\ntwo\n");
        let e = AppendFile::open(&d.0, true).unwrap_err();
        assert!(
            matches!(e.raw_os_error(), Some(libc::EISDIR)) || e.to_string().contains("regular"),
            "{e}"
        );
        assert!(AppendFile::open(Path::new("/dev/null"), false).is_err());
        assert_eq!(
            device_of(&p).unwrap(),
            device_of(&d.0.join("absent")).unwrap()
        );
    }
}
