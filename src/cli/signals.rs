//! SIGINT, SIGTERM and SIGHUP end custody through its normal path, not by killing it: the
//! handler only notes the signal (and asks the library to stop at its next safe point), and is
//! installed without `SA_RESTART`, so a prompt's read returns `EINTR` at once. The prompt then
//! gives the terminal back (echo on), the failure is recorded like any other, a write in progress
//! removes its temporary file, and custody exits with 128 + the signal's number.
//!
//! A second signal is not waited for: it kills the process the default way (the first one was
//! already being handled, and something may be stuck, such as a token that does not answer).

// The one place the binary needs `unsafe`: installing a signal handler (`sigaction`) and, from
// it, restoring the default action and raising the signal again. Each call is async-signal-safe.
#![allow(unsafe_code)]

use std::sync::atomic::{AtomicI32, Ordering};

/// The first signal caught (0: none yet).
static CAUGHT: AtomicI32 = AtomicI32::new(0);

const SIGNALS: [libc::c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

extern "C" fn on_signal(sig: libc::c_int) {
    if CAUGHT
        .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
        .is_err()
    {
        // SAFETY: signal(2) and raise(3) are async-signal-safe.
        unsafe {
            libc::signal(sig, libc::SIG_DFL);
            libc::raise(sig);
        }
        return;
    }
    custody::request_stop();
}

/// Install the handler for SIGINT, SIGTERM and SIGHUP, first thing in `main`. A signal that is
/// ignored when custody starts (`nohup`, a shell's background job) stays ignored.
pub fn install() {
    for sig in SIGNALS {
        // SAFETY: a zeroed sigaction is a valid "no flags, empty mask" value; the handler only
        // performs atomic operations and async-signal-safe calls.
        unsafe {
            let mut old: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                && old.sa_sigaction == libc::SIG_IGN
            {
                continue;
            }
            let mut act: libc::sigaction = std::mem::zeroed();
            act.sa_sigaction = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
            // No SA_RESTART: a read at a prompt returns EINTR instead of going on.
            act.sa_flags = 0;
            libc::sigemptyset(&mut act.sa_mask);
            libc::sigaction(sig, &act, std::ptr::null_mut());
        }
    }
}

/// The signal that stopped custody, if one did.
pub fn caught() -> Option<i32> {
    match CAUGHT.load(Ordering::SeqCst) {
        0 => None,
        s => Some(s),
    }
}

/// What people call the signal.
pub fn name(sig: i32) -> &'static str {
    match sig {
        libc::SIGINT => "SIGINT (Ctrl-C)",
        libc::SIGTERM => "SIGTERM",
        libc::SIGHUP => "SIGHUP (the terminal went away)",
        _ => "a signal",
    }
}
