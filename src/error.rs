//! What kind of failure an error is, whatever operation it came from: every error of the
//! library answers [`kind`](ErrorKind) so that a caller can decide what to do (the CLI maps
//! kinds to its exit codes in one place) without matching every variant of every operation.

/// The kind of a failure.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A password, PIN or key did not open what it should (or the file names another key).
    Authentication,
    /// A token, key, card or file that is needed is not there.
    NotFound,
    /// The file's bytes are damaged (its unkeyed checksum does not match).
    Damaged,
    /// The file is not valid custody v1 although its checksum matches.
    InvalidFile,
    /// The file is of a format version this custody does not read.
    UnsupportedVersion,
    /// The file is not a custody backup at all.
    NotABackup,
    /// The file was deliberately altered after it was made (its checksum matches, its MAC or a
    /// commitment does not).
    Altered,
    /// A PIN is blocked (locked) after too many wrong tries.
    PinBlocked,
    /// Something is already where the output would go, and custody never replaces it unless
    /// told to.
    OutputExists,
    /// Fewer good shares than the set's threshold.
    NotEnoughShares,
    /// Shares that opened do not combine to the set's secret.
    InconsistentShares,
    /// The request itself is wrong (sizes, names, parameters, conflicting options).
    InvalidRequest,
    /// Reading or writing a file or device failed.
    Io,
    /// No answer could be had from the person (nothing to ask on, or the answer was refused).
    Interaction,
    /// A token or card failed in a way that is none of the above.
    Token,
    /// The machine has not the memory the work needs (Argon2id's, counted before it starts).
    Memory,
}

/// Set by [`request_stop`]: checked where a long wait or a write can stop cleanly.
static STOP: std::sync::atomic::AtomicBool = std::sync::atomic::AtomicBool::new(false);

/// Ask every operation in progress to stop at its next safe point: an Argon2id wait ends with an
/// error (the run itself is left to finish on its thread, its result dropped), a write removes
/// its temporary file before the output would be moved into place, and a wait for a token ends.
/// One atomic store: an embedder's signal handler may call it (the custody binary's does, on
/// SIGINT, SIGTERM and SIGHUP). It cannot be undone: the process is expected to end.
pub fn request_stop() {
    STOP.store(true, std::sync::atomic::Ordering::SeqCst);
}

/// Whether [`request_stop`] was called.
pub fn stop_requested() -> bool {
    STOP.load(std::sync::atomic::Ordering::SeqCst)
}

/// `CUSTODY_FAULT_PAUSE=POINT[@MS]` (tests, `fault-injection` builds): the process pauses at
/// `POINT` — a write step, or `token-use` just before a token key is used — until it is asked
/// to stop, for `MS` milliseconds, for at most a minute, or, when `CUSTODY_FAULT_RESUME=PATH`
/// is set, until `PATH` exists (it creates `PATH.paused` when the pause starts, so that a test
/// knows when to act).
#[cfg(feature = "fault-injection")]
pub(crate) fn fault_pause(point: &str) {
    const LIMIT: std::time::Duration = std::time::Duration::from_secs(60);
    let Some(v) = std::env::var_os("CUSTODY_FAULT_PAUSE") else {
        return;
    };
    let Some(v) = v.to_str() else { return };
    let (name, limit) = match v.split_once('@') {
        Some((name, ms)) => (
            name,
            ms.parse().map_or(LIMIT, std::time::Duration::from_millis),
        ),
        None => (v, LIMIT),
    };
    if name != point {
        return;
    }
    let resume = std::env::var_os("CUSTODY_FAULT_RESUME").map(std::path::PathBuf::from);
    if let Some(r) = &resume {
        let mut marker = r.clone().into_os_string();
        marker.push(".paused");
        let _ = std::fs::write(marker, point);
    }
    let start = std::time::Instant::now();
    while !stop_requested()
        && start.elapsed() < limit.min(LIMIT)
        && !resume.as_ref().is_some_and(|r| r.exists())
    {
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}
