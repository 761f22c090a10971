//! What custody says on standard error, in one style: `error:` or `warning:`, what happened,
//! then an indented `what to do:` line; information lines plain. Colour only where a person
//! reads it: standard error a terminal, `NO_COLOR` unset or empty (no-color.org), `TERM` not
//! `dumb`. `--quiet` drops information lines and progress, never an error or a warning: every
//! warning custody gives is one the person must read on every run (a weak KDF, an exportable or
//! imported key, a fingerprint not checked against a record, memory not locked, ...).

use std::io::{IsTerminal, Write};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};

static QUIET: AtomicBool = AtomicBool::new(false);

pub fn set_quiet(on: bool) {
    QUIET.store(on, Ordering::SeqCst);
}

pub fn quiet() -> bool {
    QUIET.load(Ordering::SeqCst)
}

/// Decided once: a terminal cannot turn into a pipe during a run.
fn colour() -> bool {
    static COLOUR: OnceLock<bool> = OnceLock::new();
    *COLOUR.get_or_init(|| {
        colour_for(
            std::io::stderr().is_terminal(),
            std::env::var_os("NO_COLOR").as_deref(),
            std::env::var_os("TERM").as_deref(),
        )
    })
}

fn colour_for(
    terminal: bool,
    no_color: Option<&std::ffi::OsStr>,
    term: Option<&std::ffi::OsStr>,
) -> bool {
    terminal && no_color.is_none_or(|v| v.is_empty()) && term.is_none_or(|t| t != "dumb")
}

const RED: &str = "\x1b[1;31m";
const YELLOW: &str = "\x1b[1;33m";
const BOLD: &str = "\x1b[1m";
const RESET: &str = "\x1b[0m";

fn paint(on: bool, style: &str, word: &str) -> String {
    if on {
        format!("{style}{word}{RESET}")
    } else {
        word.to_owned()
    }
}

/// `LABEL WHAT` and, when there is something to do, `  what to do: ADVICE` under it.
fn block(on: bool, style: &str, label: &str, what: &str, todo: &str) -> String {
    let mut s = format!("{} {what}\n", paint(on, style, label));
    if !todo.is_empty() {
        s.push_str(&format!("  {} {todo}\n", paint(on, BOLD, "what to do:")));
    }
    s
}

/// One write, so that the two lines stay together.
fn emit(text: &str) {
    let mut e = std::io::stderr().lock();
    let _ = e.write_all(text.as_bytes());
    let _ = e.flush();
}

pub fn error(what: &str, todo: &str) {
    emit(&block(colour(), RED, "error:", what, todo));
}

pub fn warning(what: &str, todo: &str) {
    emit(&block(colour(), YELLOW, "warning:", what, todo));
}

/// What the person must do now on a device: shown even with `--quiet`.
pub fn act(line: &str) {
    emit(&format!("{line}\n"));
}

/// A line of information: not with `--quiet`.
pub fn info(line: &str) {
    if !quiet() {
        emit(&format!("{line}\n"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::OsStr;

    #[test]
    fn colour_only_on_a_terminal_without_no_color_or_a_dumb_term() {
        let xterm = Some(OsStr::new("xterm-256color"));
        assert!(colour_for(true, None, xterm));
        assert!(colour_for(true, Some(OsStr::new("")), xterm));
        assert!(colour_for(true, None, None));
        assert!(!colour_for(false, None, xterm));
        assert!(!colour_for(true, Some(OsStr::new("1")), xterm));
        assert!(!colour_for(true, Some(OsStr::new("0")), xterm));
        assert!(!colour_for(true, None, Some(OsStr::new("dumb"))));
    }

    #[test]
    fn what_happened_then_what_to_do() {
        assert_eq!(
            block(false, RED, "error:", "it broke", "mend it"),
            "error: it broke\n  what to do: mend it\n"
        );
        assert_eq!(
            block(false, YELLOW, "warning:", "odd", ""),
            "warning: odd\n"
        );
        assert_eq!(
            block(true, YELLOW, "warning:", "odd", "look"),
            "\x1b[1;33mwarning:\x1b[0m odd\n  \x1b[1mwhat to do:\x1b[0m look\n"
        );
    }
}
