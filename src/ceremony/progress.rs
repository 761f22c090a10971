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
            // Asked to stop: the run goes on on its thread until it ends, unwaited.
            Err(mpsc::RecvTimeoutError::Timeout) if crate::error::stop_requested() => {
                break Err(crypto::Argon2Error::Other(
                    "stopped before Argon2id finished (interrupted)".into(),
                ));
            }
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
    argon2_notice(prompter);
    result
}

/// Say, once per process, that a run's memory could not be locked.
fn argon2_notice(prompter: &mut dyn Prompter) {
    if let Some(notice) = crate::secret::take_argon2_notice() {
        prompter.warn(
            &notice,
            "raise the memory-lock limit (`ulimit -l`, or LimitMEMLOCK= in a systemd unit), or \
             run on a machine without swap or with encrypted swap",
        );
    }
}

/// An Argon2id run going on in the background (while the next officer types), on a thread of
/// its own that owns the password: [`Background::wait`] takes its result. Dropped unwaited
/// (the ceremony stopped), the run ends on its own and its result is dropped (zeroized).
pub(crate) struct Background {
    rx: mpsc::Receiver<Result<PasswordKey, crypto::Argon2Error>>,
    start: Instant,
    kdf: KdfParams,
    /// The result, once [`Background::ready`] saw it.
    done: Option<Result<PasswordKey, crypto::Argon2Error>>,
}

impl Background {
    /// Start Argon2id of `password` now.
    pub(crate) fn start(password: Password, salt: [u8; 32], kdf: KdfParams) -> Background {
        let (tx, rx) = mpsc::channel();
        let start = Instant::now();
        std::thread::spawn(move || {
            let _ = tx.send(crypto::argon2id(&password, &salt, &kdf));
        });
        Background {
            rx,
            start,
            kdf,
            done: None,
        }
    }

    /// Whether the run has ended, without waiting for it.
    pub(crate) fn ready(&mut self) -> bool {
        if self.done.is_none() {
            match self.rx.try_recv() {
                Ok(r) => self.done = Some(r),
                Err(mpsc::TryRecvError::Empty) => {}
                // Ended without a result: waiting says so.
                Err(mpsc::TryRecvError::Disconnected) => return true,
            }
        }
        self.done.is_some()
    }

    /// Its result, waiting for it if it is still running: the prompter hears of the wait as of
    /// any run, with the time since it started.
    pub(crate) fn wait(
        self,
        prompter: &mut dyn Prompter,
        what: &str,
    ) -> Result<PasswordKey, crypto::Argon2Error> {
        match self.done {
            Some(r) => {
                argon2_notice(prompter);
                r
            }
            None => wait(&self.rx, self.start, &self.kdf, prompter, what),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::{NewPassword, PinRequest};
    use secrecy::SecretString;

    /// Counts what it is told about progress.
    #[derive(Default)]
    struct Watcher {
        reports: Vec<(String, Duration, Option<Duration>)>,
        done: usize,
    }

    impl Prompter for Watcher {
        fn info(&mut self, _: &str) {}
        fn warn(&mut self, _: &str, _: &str) {}
        fn new_password(&mut self, _: &str, _: bool) -> Result<NewPassword, PromptError> {
            Err(PromptError::Refused {
                reason: "this test asks for no password or PIN".into(),
            })
        }
        fn password(&mut self, _: &str) -> Result<Password, PromptError> {
            Err(PromptError::Refused {
                reason: "this test asks for no password or PIN".into(),
            })
        }
        fn pin(&mut self, _: &PinRequest<'_>) -> Result<SecretString, PromptError> {
            Err(PromptError::Refused {
                reason: "this test asks for no password or PIN".into(),
            })
        }
        fn progress(&mut self, what: &str, elapsed: Duration, expected: Option<Duration>) {
            self.reports.push((what.to_owned(), elapsed, expected));
        }
        fn progress_done(&mut self) {
            self.done += 1;
        }
    }

    #[test]
    fn quick_runs_report_nothing_and_slow_ones_report_then_end() {
        let pw = Password::new("correct horse").unwrap();
        let salt = [3u8; 32];
        let quick = KdfParams {
            memory_kib: 64,
            iterations: 1,
            parallelism: 1,
        };
        let mut w = Watcher::default();
        let a = argon2id(&mut w, "q", &pw, &salt, &quick).unwrap();
        assert_eq!(
            a.expose(),
            crypto::argon2id(&pw, &salt, &quick).unwrap().expose()
        );
        assert!(w.reports.is_empty());
        assert_eq!(w.done, 0);

        // Long enough to outlast a tick here, in the background as in a split backup.
        let slow = KdfParams {
            memory_kib: 256 * 1024,
            iterations: 3,
            parallelism: 1,
        };
        let bg = Background::start(Password::new("correct horse").unwrap(), salt, slow);
        let a = bg.wait(&mut w, "s").unwrap();
        assert_eq!(
            a.expose(),
            crypto::argon2id(&pw, &salt, &slow).unwrap().expose()
        );
        assert!(!w.reports.is_empty());
        assert!(
            w.reports
                .iter()
                .all(|(what, _, e)| what == "s" && e.is_some())
        );
        assert!(w.reports.windows(2).all(|r| r[0].1 < r[1].1));
        assert_eq!(w.done, 1);
    }
}
