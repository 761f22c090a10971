//! Keeping secrets out of reach of the rest of the machine: no core dump, no same-user ptrace,
//! and no secret left in the process environment. The library never does this by itself (an
//! embedder owns its process); the custody binary does it first thing in `main`.

use std::ffi::CString;

use secrecy::SecretString;

/// What [`harden_process`] could not do, each with the reason (empty: everything was done).
#[derive(Debug, Default)]
pub struct Hardening {
    /// Core dumps could not be turned off (`RLIMIT_CORE` 0): why.
    pub core_dumps: Option<String>,
    /// The process could not be made non-dumpable (`PR_SET_DUMPABLE` 0): why.
    pub dumpable: Option<String>,
}

impl Hardening {
    /// Everything was done.
    pub fn complete(&self) -> bool {
        self.core_dumps.is_none() && self.dumpable.is_none()
    }
}

/// Turn off core dumps (`RLIMIT_CORE` to 0, soft and hard) and make the process non-dumpable
/// (`PR_SET_DUMPABLE` 0), which also stops same-user `ptrace` and makes `/proc/PID/environ` and
/// `/proc/PID/mem` readable by root only. For the whole process: an embedder decides whether to
/// call it. Nothing is undone later.
pub fn harden_process() -> Hardening {
    use rustix::process::{DumpableBehavior, Resource, Rlimit, set_dumpable_behavior, setrlimit};
    let zero = Rlimit {
        current: Some(0),
        maximum: Some(0),
    };
    Hardening {
        core_dumps: setrlimit(Resource::Core, zero).err().map(|e| e.to_string()),
        dumpable: set_dumpable_behavior(DumpableBehavior::NotDumpable)
            .err()
            .map(|e| e.to_string()),
    }
}

/// Take a secret out of the environment: its value, once, into secret storage; the variable
/// removed from the environment; and its `NAME=value` bytes overwritten where they were, so
/// that `/proc/PID/environ` (which shows the block the process started with, whatever
/// `unsetenv` does) no longer holds it. `None` when it is not set (or not UTF-8, which is then
/// removed the same way).
///
/// # Safety of use
/// Like any change to the environment, this must run while the process has one thread: first
/// thing in `main`, before anything else reads or writes the environment.
#[allow(unsafe_code)]
pub fn take_env_secret(name: &str) -> Option<SecretString> {
    let cname = CString::new(name).ok()?;
    // SAFETY: getenv returns a pointer into the environment or null; the caller runs this
    // single-threaded (see above), so nothing changes the environment meanwhile.
    let value_ptr = unsafe { libc::getenv(cname.as_ptr()) };
    if value_ptr.is_null() {
        return None;
    }
    // SAFETY: a non-null getenv result is a NUL-terminated string, and `NAME=` precedes it in
    // the same string (the environment's `NAME=value` entry).
    let value_len = unsafe { libc::strlen(value_ptr) };
    let entry_start = unsafe { value_ptr.sub(name.len() + 1) };
    let entry_len = name.len() + 1 + value_len;
    // SAFETY: `value_ptr..value_ptr+value_len` is the value just measured.
    let bytes = unsafe { std::slice::from_raw_parts(value_ptr.cast::<u8>(), value_len) };
    let value = std::str::from_utf8(bytes)
        .ok()
        .map(|v| SecretString::from(v.to_owned()));
    // Removed from the environment first (unsetenv finds it by its name, which is overwritten
    // next); the bytes stay where they are (the initial block is never freed).
    // SAFETY: single-threaded, as the caller guarantees.
    unsafe { std::env::remove_var(name) };
    // SAFETY: the entry's bytes are still mapped (unsetenv only drops the pointer to them);
    // volatile, so the writes are not optimised away as dead stores.
    for i in 0..entry_len {
        unsafe { entry_start.add(i).cast::<u8>().write_volatile(0) };
    }
    value
}
