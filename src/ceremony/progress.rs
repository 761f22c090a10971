//! Argon2id with progress: the run goes on a worker thread while the calling thread tells the
//! prompter how long it has taken and about how long it should take, every [`TICK`]. The
//! prompter decides whether anyone sees it (the CLI draws a line on a terminal only).

use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

#[allow(unused_imports)]
use super::*;

/// How often the prompter hears of a run still going.
pub(crate) const TICK: Duration = Duration::from_millis(250);

/// Sample times per number of lanes, measured once per process: the unit expected times are
/// scaled from ([`crypto::argon2id_estimate`]).
static SAMPLES: Mutex<Vec<(u32, Option<Duration>)>> = Mutex::new(Vec::new());

/// About how long Argon2id at `kdf` takes here. Measured on the first run that lasts longer
/// than one [`TICK`] (so quick runs never pay for it), beside that run: on a busy machine the
/// figure is a little high rather than low.
fn expected(kdf: &KdfParams) -> Option<Duration> {
    let mut samples = SAMPLES.lock().ok()?;
    let s = match samples.iter().find(|(l, _)| *l == kdf.parallelism) {
        Some((_, d)) => *d,
        None => {
            let d = crypto::argon2id_sample(kdf.parallelism);
            samples.push((kdf.parallelism, d));
            d
        }
    };
    s.map(|s| crypto::argon2id_estimate(kdf, s))
}

/// [`crypto::argon2id`], reporting through `prompter` while it runs: `what` names the run for
/// people. Quick runs report nothing; a run that was reported on ends with
/// [`Prompter::progress_done`].
pub(crate) fn argon2id(
    prompter: &mut dyn Prompter,
    what: &str,
    password: &Password,
    salt: &[u8; 32],
    kdf: &KdfParams,
) -> Result<PasswordKey, crypto::Argon2Error> {
    let start = Instant::now();
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel();
        let worker = s.spawn(move || {
            // The receiver outlives the worker; a failed send only means nobody waits.
            let _ = tx.send(crypto::argon2id(password, salt, kdf));
        });
        let result = wait(&rx, start, kdf, prompter, what);
        let _ = worker.join();
        result
    })
}

/// Wait for a run started at `start`, telling `prompter` about it every [`TICK`].
fn wait(
    rx: &mpsc::Receiver<Result<PasswordKey, crypto::Argon2Error>>,
    start: Instant,
    kdf: &KdfParams,
    prompter: &mut dyn Prompter,
    what: &str,
) -> Result<PasswordKey, crypto::Argon2Error> {
    let mut expect: Option<Option<Duration>> = None;
    let result = loop {
        match rx.recv_timeout(TICK) {
            Ok(r) => break r,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let e = *expect.get_or_insert_with(|| expected(kdf));
                prompter.progress(what, start.elapsed(), e);
            }
            // The worker ended without sending: it panicked, and its result is lost.
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                break Err(crypto::Argon2Error::Other(
                    "Argon2id stopped before it finished".into(),
                ));
            }
        }
    };
    if expect.is_some() {
        prompter.progress_done();
    }
    result
}

/// An Argon2id run going on in the background (while the next officer types), on a thread of
/// its own that owns the password: [`Background::wait`] takes its result. Dropped unwaited
/// (the ceremony stopped), the run ends on its own and its result is dropped (zeroized).
pub(crate) struct Background {
    rx: mpsc::Receiver<Result<PasswordKey, crypto::Argon2Error>>,
    start: Instant,
    kdf: KdfParams,
}

impl Background {
    /// Start Argon2id of `password` now.
    pub(crate) fn start(password: Password, salt: [u8; 32], kdf: KdfParams) -> Background {
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        std::thread::spawn(move || {
            let _ = tx.send(crypto::argon2id(&password, &salt, &kdf));
        });
        Background { rx, start, kdf }
    }

    /// Its result, waiting for it if it is still running: the prompter hears of the wait as of
    /// any run, with the time since it started.
    pub(crate) fn wait(
        self,
        prompter: &mut dyn Prompter,
        what: &str,
    ) -> Result<PasswordKey, crypto::Argon2Error> {
        wait(&self.rx, self.start, &self.kdf, prompter, what)
    }
}
