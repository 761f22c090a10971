//! Helpers shared by the media tests.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use super::write::write_impl;
use super::{MediaError, WriteOutcome};

/// A fresh directory under the system temporary directory, removed on drop.
pub(super) struct TestDir(pub(super) PathBuf);

impl TestDir {
    pub(super) fn new(tag: &str) -> TestDir {
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

    pub(super) fn entries(&self) -> Vec<String> {
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

pub(super) fn mode(p: &Path) -> u32 {
    fs::metadata(p).unwrap().permissions().mode() & 0o777
}

pub(super) fn ok_verify(_: &[u8]) -> Result<(), String> {
    Ok(())
}

/// A write with read-back that accepts what it reads, and no fault injected.
pub(super) fn write(path: &Path, data: &[u8], force: bool) -> Result<WriteOutcome, MediaError> {
    write_impl(
        path,
        data,
        force,
        Some(&mut ok_verify),
        #[cfg(feature = "fault-injection")]
        None,
    )
}
