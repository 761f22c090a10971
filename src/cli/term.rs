//! The terminal side of [`Prompter`]: passwords from --password-file, CUSTODY_PASSWORD or a
//! no-echo prompt on the controlling terminal; PINs from CUSTODY_PIN or a prompt.

use std::fs::File;
use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::time::Duration;

use rustix::termios::{self, LocalModes, OptionalActions, Termios};
use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use custody::{NewPassword, Password, PinRequest, PromptError, Prompter, SecretError};

pub struct TerminalPrompter {
    /// `--password-file`s: one per file in order, or one for all.
    pub password_files: Vec<PathBuf>,
    /// `--new-password-file`s for new passwords where old ones are also asked (rewrap,
    /// reshare); `None`: new passwords come from `password_files` (backup).
    pub new_password_files: Option<Vec<PathBuf>>,
}

/// Cursor home, erase the screen, erase the scroll-back: what one officer saw is gone before
/// the next takes the keyboard.
const CLEAR_SCREEN_AND_SCROLLBACK: &[u8] = b"\x1b[H\x1b[2J\x1b[3J";

/// How many times a new password and its confirmation may be typed before custody gives up.
const MISMATCH_ROUNDS: u32 = 3;

/// Whether custody may ask a question (a confirmation, a choice, a label-only token's PIN, the
/// wait for a token to be plugged in): standard input is a terminal AND the controlling
/// terminal opens. With standard input redirected, custody runs unattended even when a
/// terminal is there, and a question would wait for nobody. Passwords and PINs are read on the
/// controlling terminal as before: this decides questions only.
pub fn interactive() -> bool {
    std::io::stdin().is_terminal() && tty().is_some()
}

fn tty() -> Option<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()
}

/// A typed password, normalized once; an empty one is refused naming whose it is.
pub fn to_password(typed: &str, who: &str) -> Result<Password, PromptError> {
    Password::new(typed).map_err(|e| match e {
        SecretError::EmptyPassword => PromptError::EmptyPassword,
        other => PromptError::Refused {
            reason: format!("the password of {who} is {other}"),
        },
    })
}

/// First line of a password file, minus exactly one trailing `\n` or `\r\n`, as a password.
pub fn read_password_line(path: &std::path::Path, who: &str) -> Result<Password, PromptError> {
    with_first_line(path, "password", |line| to_password(line, who))
}

fn with_first_line<T>(
    path: &std::path::Path,
    what: &str,
    take: impl FnOnce(&str) -> Result<T, PromptError>,
) -> Result<T, PromptError> {
    let bytes =
        Zeroizing::new(
            custody::read_bounded(path, 64 * 1024).map_err(|e| PromptError::Io {
                detail: format!(
                    "cannot read the {what} file {}: {e}",
                    custody::display_path(path)
                ),
            })?,
        );
    let text = std::str::from_utf8(&bytes).map_err(|_| PromptError::Io {
        detail: format!(
            "the {what} file {} is not UTF-8",
            custody::display_path(path)
        ),
    })?;
    let line = match text.find('\n') {
        Some(i) => &text[..i],
        None => text,
    };
    let line = if text.find('\n').is_some() {
        line.strip_suffix('\r').unwrap_or(line)
    } else {
        line
    };
    take(line)
}

/// The longest password or PIN taken from the terminal, in bytes. The entry is read into a
/// buffer of this fixed size so that no reallocation leaves an unwiped copy behind; a longer
/// entry is refused rather than grown into.
const MAX_ENTRY: usize = custody::ENTRY_BYTES;

/// The terminal's settings as they were before echo was turned off, restored when dropped so
/// that every path out of a read (an error, a panic unwinding) gives the terminal back. The
/// saved state is kept here, in a struct the CLI owns, rather than inside a library, so that a
/// signal handler added later (Ctrl-C during a prompt) can reach it and restore it too.
struct EchoGuard<'a> {
    tty: &'a File,
    saved: Termios,
}

impl<'a> EchoGuard<'a> {
    /// Turn echo off on `tty` (keeping the newline echoed, so the cursor moves on after Enter).
    fn hide(tty: &'a File) -> std::io::Result<EchoGuard<'a>> {
        let saved = termios::tcgetattr(tty)?;
        let mut hidden = saved.clone();
        hidden.local_modes &= !LocalModes::ECHO;
        hidden.local_modes |= LocalModes::ECHONL;
        termios::tcsetattr(tty, OptionalActions::Now, &hidden)?;
        Ok(EchoGuard { tty, saved })
    }
}

impl Drop for EchoGuard<'_> {
    fn drop(&mut self) {
        // Nothing better to do with a failure here: the read's own result is what is reported.
        let _ = termios::tcsetattr(self.tty, OptionalActions::Now, &self.saved);
    }
}

/// Read one line from the terminal without echo, into fixed storage, and hand it to `take`
/// (which makes the secret type it is for, straight from that storage). Echo is turned off
/// before the prompt is written, so nothing typed ahead of the prompt is shown either.
fn read_hidden<T>(
    t: &File,
    prompt: &str,
    take: impl FnOnce(&str) -> Result<T, PromptError>,
) -> Result<T, PromptError> {
    let io = prompt_io;
    let guard = EchoGuard::hide(t).map_err(io)?;
    let mut w = t;
    w.write_all(prompt.as_bytes()).map_err(io)?;
    w.flush().map_err(io)?;
    // In locked memory: this is the password or PIN as typed.
    let mut buf = custody::EntryBuffer::new();
    let len = read_entry(Tty(t), buf.bytes_mut()).map_err(io)?;
    drop(guard);
    let text = std::str::from_utf8(buf.bytes().get(..len).unwrap_or_default()).map_err(|_| {
        io(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "the input is not UTF-8",
        ))
    })?;
    take(text)
}

/// A PIN as typed: one allocation of exactly its size, which the SecretString keeps as it is.
fn typed_pin(text: &str) -> Result<SecretString, PromptError> {
    let mut out = String::with_capacity(text.len());
    out.push_str(text);
    Ok(SecretString::from(out))
}

/// Read one entry byte by byte into `buf` and give its length. The entry ends at `\n` or at
/// end of input; one `\r` just before that end is dropped (a terminal sending `\r\n`), any
/// other `\r` is part of the entry. Byte by byte so that nothing past the line is taken from
/// the terminal.
fn read_entry(mut r: impl std::io::Read, buf: &mut [u8; MAX_ENTRY]) -> std::io::Result<usize> {
    let mut len = 0;
    let mut byte = Zeroizing::new([0u8; 1]);
    // A `\r` is held back until the next byte shows whether it ends the line.
    let mut pending_cr = false;
    let mut too_long = false;
    let mut push = |b: u8| {
        let room = len < MAX_ENTRY;
        if room {
            buf[len] = b;
            len += 1;
        }
        room
    };
    while read_byte(&mut r, &mut byte[..])? != 0 && byte[0] != b'\n' {
        if too_long {
            // Still read to the end of the line, so the rest of the entry is neither echoed
            // nor left for whatever reads the terminal next.
            continue;
        }
        if pending_cr {
            too_long = !push(b'\r');
        }
        pending_cr = byte[0] == b'\r';
        if !pending_cr && !too_long {
            too_long = !push(byte[0]);
        }
    }
    if too_long {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("the entry is longer than {MAX_ENTRY} bytes"),
        ));
    }
    Ok(len)
}

/// The terminal, read so that a signal custody stops for ends the read however it falls: a
/// signal that arrives just before a blocking `read` starts would not interrupt it (the read
/// would wait for a key that may never come), so the terminal is polled in short slices and the
/// flag looked at between them.
struct Tty<'a>(&'a File);

/// How long one slice of waiting for a key lasts.
const KEY_POLL: rustix::event::Timespec = rustix::event::Timespec {
    tv_sec: 0,
    tv_nsec: 100_000_000,
};

impl std::io::Read for Tty<'_> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        use rustix::event::{PollFd, PollFlags, poll};
        loop {
            if super::signals::caught().is_some() {
                return Err(std::io::ErrorKind::Interrupted.into());
            }
            let mut fds = [PollFd::new(self.0, PollFlags::IN)];
            match poll(&mut fds, Some(&KEY_POLL)) {
                Ok(0) => continue,
                Ok(_) => return (&mut &*self.0).read(buf),
                Err(rustix::io::Errno::INTR) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// One read of `buf`, going on after a signal that custody does not stop for, and ending with
/// `Interrupted` after one it does (see `signals`).
fn read_byte(r: &mut impl std::io::Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {
                if super::signals::caught().is_some() {
                    return Err(e);
                }
            }
            other => return other,
        }
    }
}

/// A failed read at a prompt: stopped by a signal, or the terminal's own error.
fn prompt_io(e: std::io::Error) -> PromptError {
    if e.kind() == std::io::ErrorKind::Interrupted && super::signals::caught().is_some() {
        PromptError::Interrupted
    } else {
        PromptError::Io {
            detail: e.to_string(),
        }
    }
}

/// The secrets custody reads from its environment, taken out of it first thing in `main`
/// ([`capture_env_secrets`]): read from here afterwards, never from the environment.
struct EnvSecrets {
    password: Option<SecretString>,
    new_password: Option<SecretString>,
    pin: Option<SecretString>,
}

static ENV_SECRETS: std::sync::OnceLock<EnvSecrets> = std::sync::OnceLock::new();

/// Take `CUSTODY_PASSWORD`, `CUSTODY_NEW_PASSWORD` and `CUSTODY_PIN` out of the environment
/// (removed, and overwritten in the block the process started with) into secret storage. Run
/// while the process has one thread: first thing in `main`.
pub fn capture_env_secrets() {
    let _ = ENV_SECRETS.set(EnvSecrets {
        password: custody::take_env_secret("CUSTODY_PASSWORD"),
        new_password: custody::take_env_secret("CUSTODY_NEW_PASSWORD"),
        pin: custody::take_env_secret("CUSTODY_PIN"),
    });
}

/// A secret custody was given in its environment (see [`capture_env_secrets`]).
pub fn env_secret(name: &str) -> Option<SecretString> {
    let e = ENV_SECRETS.get()?;
    match name {
        "CUSTODY_PASSWORD" => e.password.clone(),
        "CUSTODY_NEW_PASSWORD" => e.new_password.clone(),
        "CUSTODY_PIN" => e.pin.clone(),
        _ => None,
    }
}

impl TerminalPrompter {
    /// The password file for the file at `position`: one for all, or one each.
    fn file_for(&self, position: usize) -> Result<Option<PathBuf>, PromptError> {
        Self::pick(&self.password_files, position)
    }

    fn new_file_for(&self, position: usize) -> Result<Option<PathBuf>, PromptError> {
        Self::pick(
            self.new_password_files
                .as_ref()
                .unwrap_or(&self.password_files),
            position,
        )
    }

    fn pick(files: &[PathBuf], position: usize) -> Result<Option<PathBuf>, PromptError> {
        match files.len() {
            0 => Ok(None),
            1 => Ok(Some(files[0].clone())),
            n => files
                .get(position)
                .cloned()
                .map(Some)
                .ok_or_else(|| PromptError::Refused {
                    reason: format!(
                        "{n} password files were given but a password is needed for file #{}: \
                         give one per file, in order, or a single one for all",
                        position + 1
                    ),
                }),
        }
    }

    /// A PIN (or another secret that is not a password), asked without echo.
    pub(super) fn ask_hidden(&self, prompt: &str, what: &str) -> Result<SecretString, PromptError> {
        self.ask_hidden_as(prompt, what, typed_pin)
    }

    /// Ask without echo and make the answer into `T` straight from the fixed input buffer.
    fn ask_hidden_as<T>(
        &self,
        prompt: &str,
        what: &str,
        take: impl FnOnce(&str) -> Result<T, PromptError>,
    ) -> Result<T, PromptError> {
        let Some(t) = tty() else {
            return Err(PromptError::NotInteractive { what: what.into() });
        };
        read_hidden(&t, prompt, take)
    }

    /// A password asked without echo; an empty one is refused.
    fn ask_password(&self, prompt: &str, what: &str, who: &str) -> Result<Password, PromptError> {
        self.ask_hidden_as(prompt, what, |text| {
            if text.is_empty() {
                return Err(PromptError::EmptyPassword);
            }
            to_password(text, who)
        })
    }

    /// Whether the password of the file at `position` (a new one, or an existing one) will be
    /// typed at the terminal: no password file and no environment variable gives it.
    fn typed(&self, position: usize, new_password: bool) -> bool {
        let (file, env) = if new_password {
            let env = if self.new_password_files.is_some() {
                "CUSTODY_NEW_PASSWORD"
            } else {
                "CUSTODY_PASSWORD"
            };
            (self.new_file_for(position), env)
        } else {
            (self.file_for(position), "CUSTODY_PASSWORD")
        };
        // A refused choice of file is reported by the password prompt itself.
        matches!(file, Ok(None)) && env_secret(env).is_none()
    }

    /// One line typed at the terminal, echoed (no secret: a hint, an answer). `what` names it
    /// when there is no terminal.
    fn ask_line(&self, prompt: &str, what: &str) -> Result<String, PromptError> {
        let Some(t) = tty() else {
            return Err(PromptError::NotInteractive { what: what.into() });
        };
        let mut w = &t;
        write!(w, "{prompt}").map_err(prompt_io)?;
        w.flush().map_err(prompt_io)?;
        // Byte by byte (as every entry): a buffered line reader would retry a read that a
        // signal interrupted, and nothing past the line is taken from the terminal.
        let mut buf = Zeroizing::new([0u8; MAX_ENTRY]);
        let len = read_entry(Tty(&t), &mut buf).map_err(prompt_io)?;
        Ok(String::from_utf8_lossy(buf.get(..len).unwrap_or_default()).into_owned())
    }

    /// A question: asked only when custody is [`interactive`].
    fn ask_question(&self, prompt: &str, what: &str) -> Result<String, PromptError> {
        if !interactive() {
            return Err(PromptError::NotInteractive { what: what.into() });
        }
        self.ask_line(prompt, what)
    }
}

impl Prompter for TerminalPrompter {
    fn info(&mut self, msg: &str) {
        super::say::info(msg);
    }

    fn warn(&mut self, what: &str, todo: &str) {
        super::say::warning(what, todo);
    }

    fn act(&mut self, msg: &str) {
        super::say::act(msg);
    }

    fn new_password(&mut self, who: &str, ask_hint: bool) -> Result<NewPassword, PromptError> {
        self.new_password_at(who, 0, ask_hint)
    }

    fn new_password_at(
        &mut self,
        who: &str,
        position: usize,
        ask_hint: bool,
    ) -> Result<NewPassword, PromptError> {
        if let Some(p) = self.new_file_for(position)? {
            return Ok(NewPassword {
                password: read_password_line(&p, who)?,
                hint: None,
            });
        }
        let env = if self.new_password_files.is_some() {
            "CUSTODY_NEW_PASSWORD"
        } else {
            "CUSTODY_PASSWORD"
        };
        if let Some(p) = env_secret(env) {
            return Ok(NewPassword {
                password: to_password(p.expose_secret(), who)?,
                hint: None,
            });
        }
        let what = format!("a password for {who}");
        // A typo in the confirmation must not end a ceremony that others have already typed
        // into: both entries are asked again, three rounds in all.
        let mut round = 1;
        let first =
            loop {
                let first = self.ask_password(&format!("New password for {who}: "), &what, who)?;
                // The second entry is compared as typed, so even an empty one is a mismatch.
                let second = self.ask_hidden_as("Type it again: ", &what, |text| {
                    Ok(Password::new(text).ok())
                })?;
                if second.is_some_and(|s| s.expose() == first.expose()) {
                    break first;
                }
                if round == MISMATCH_ROUNDS {
                    return Err(PromptError::Mismatch);
                }
                round += 1;
                if let Some(mut t) = tty() {
                    let _ = writeln!(
                        t,
                        "The two entries differ: type the new password twice again (try {round} of \
                     {MISMATCH_ROUNDS})."
                    );
                }
            };
        let hint = if ask_hint {
            Some(self.ask_line(
                "Password hint (stored in clear, shown at restore; Enter for none): ",
                "a password hint",
            )?)
        } else {
            None
        };
        Ok(NewPassword {
            password: first,
            hint,
        })
    }

    fn password(&mut self, who: &str) -> Result<Password, PromptError> {
        if let Some(p) = self.file_for(0)? {
            return read_password_line(&p, who);
        }
        if let Some(p) = env_secret("CUSTODY_PASSWORD") {
            return to_password(p.expose_secret(), who);
        }
        self.ask_password(
            &format!("Password for {who}: "),
            &format!("the password of {who}"),
            who,
        )
    }

    fn password_again(
        &mut self,
        who: &str,
        tries_left: u32,
    ) -> Result<Option<Password>, PromptError> {
        // A password from a file or the environment would only be tried again unchanged.
        if self.file_for(0)?.is_some() || env_secret("CUSTODY_PASSWORD").is_some() {
            return Ok(None);
        }
        self.ask_hidden_as(
            &format!(
                "Password for {who} again ({tries_left} tr{} left; Enter alone to stop): ",
                if tries_left == 1 { "y" } else { "ies" }
            ),
            &format!("the password of {who}"),
            |text| {
                if text.is_empty() {
                    return Ok(None);
                }
                to_password(text, who).map(Some)
            },
        )
        .or_else(|e| match e {
            // Nobody to ask: the failure stands.
            PromptError::NotInteractive { .. } => Ok(None),
            e => Err(e),
        })
    }

    fn share_password(
        &mut self,
        who: &str,
        position: usize,
    ) -> Result<Option<Password>, PromptError> {
        if let Some(p) = self.file_for(position)? {
            return read_password_line(&p, who).map(Some);
        }
        if let Some(p) = env_secret("CUSTODY_PASSWORD") {
            return to_password(p.expose_secret(), who).map(Some);
        }
        self.ask_hidden_as(
            &format!("Password for {who} (Enter alone to skip this share): "),
            &format!("the password of {who}"),
            // An empty entry means "this officer is absent", never an empty password.
            |text| {
                if text.is_empty() {
                    return Ok(None);
                }
                to_password(text, who).map(Some)
            },
        )
    }

    fn pin(&mut self, request: &PinRequest<'_>) -> Result<SecretString, PromptError> {
        super::pin::pin_for(self, request)
    }

    /// Asked only when custody is [`interactive`].
    fn confirm(&mut self, question: &str) -> Result<bool, PromptError> {
        let answer = self.ask_question(&format!("{question} [y/N] "), "a confirmation")?;
        Ok(is_yes(answer.as_bytes()))
    }

    /// One line on the terminal, redrawn in place (carriage return, then erase to the end of
    /// the line), and only when custody is [`interactive`] and not quiet: a log or a pipe gets
    /// no progress. Cut to the terminal's width, as a wrapped line cannot be redrawn.
    fn progress(&mut self, what: &str, elapsed: Duration, expected: Option<Duration>) {
        if super::say::quiet() || !interactive() {
            return;
        }
        let Some(mut t) = tty() else {
            return;
        };
        let mut line = format!("{what}: Argon2id, {:.1} s elapsed", elapsed.as_secs_f64());
        if let Some(e) = expected {
            line.push_str(&format!(", about {:.1} s expected", e.as_secs_f64()));
        }
        if let Ok(ws) = termios::tcgetwinsize(&t) {
            let cols = usize::from(ws.ws_col);
            if cols > 1 && line.chars().count() >= cols {
                line = line.chars().take(cols - 1).collect();
            }
        }
        let _ = write!(t, "\r{line}\x1b[K");
        let _ = t.flush();
    }

    /// The progress line is erased, so that what follows starts on a clean line.
    fn progress_done(&mut self) {
        if super::say::quiet() || !interactive() {
            return;
        }
        if let Some(mut t) = tty() {
            let _ = write!(t, "\r\x1b[K");
            let _ = t.flush();
        }
    }

    /// Waiting for a token is a question too: only when custody is [`interactive`]. Ctrl-C
    /// ends the wait ([`Prompter::still_waiting`] says no), and custody exits 130 with nothing
    /// written.
    fn wait_for(&mut self, what: &str) -> Result<bool, PromptError> {
        if !interactive() {
            return Ok(false);
        }
        let Some(mut t) = tty() else {
            return Ok(false);
        };
        let _ = writeln!(t, "Insert {what} — waiting; Ctrl-C to stop");
        Ok(true)
    }

    /// An officer's turn: shown, and Enter awaited, only when custody is [`interactive`] and
    /// the officer types their password here (a password from a file needs nobody's hands).
    fn handover(
        &mut self,
        line: &str,
        position: usize,
        new_password: bool,
    ) -> Result<(), PromptError> {
        if !interactive() || !self.typed(position, new_password) {
            return Ok(());
        }
        let Some(t) = tty() else {
            return Ok(());
        };
        let io = prompt_io;
        let mut w = &t;
        write!(w, "{line} ").map_err(io)?;
        w.flush().map_err(io)?;
        // Whatever is typed before Enter is dropped: it is no answer to anything.
        let mut buf = Zeroizing::new([0u8; MAX_ENTRY]);
        read_entry(Tty(&t), &mut buf).map_err(io)?;
        Ok(())
    }

    /// The screen and the terminal's scroll-back cleared after an officer's turn, where
    /// [`Prompter::handover`] showed its line: cursor home, erase the screen, erase the
    /// scroll-back (xterm's `ESC[3J`, which most terminals honour).
    fn end_turn(&mut self, position: usize, new_password: bool) {
        if !interactive() || !self.typed(position, new_password) {
            return;
        }
        if let Some(mut t) = tty() {
            let _ = t.write_all(CLEAR_SCREEN_AND_SCROLLBACK);
            let _ = t.flush();
        }
    }

    /// Asked as a confirmation is, and only when one would be: the answer is echoed (it is the
    /// start of a fingerprint, no secret).
    fn answer(&mut self, question: &str) -> Result<String, PromptError> {
        let answer = self.ask_question(&format!("{question} "), "an answer")?;
        Ok(answer.trim().to_owned())
    }
}

/// `y` or `yes`, in any case and with spaces around; anything else (an empty line too) is no.
fn is_yes(answer: &[u8]) -> bool {
    let a = String::from_utf8_lossy(answer).trim().to_lowercase();
    a == "y" || a == "yes"
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(input: &[u8]) -> std::io::Result<Vec<u8>> {
        let mut buf = [0u8; MAX_ENTRY];
        let len = read_entry(input, &mut buf)?;
        Ok(buf[..len].to_vec())
    }

    #[test]
    fn only_yes_confirms() {
        for yes in [&b"y"[..], b"Y", b"yes", b" YES "] {
            assert!(is_yes(yes), "{yes:?}");
        }
        for no in [&b""[..], b"n", b"no", b"yess", b"ja", b"\xff"] {
            assert!(!is_yes(no), "{no:?}");
        }
    }

    #[test]
    fn line_ends_at_newline_or_end_of_input() {
        assert_eq!(entry(b"abc\nrest").unwrap(), b"abc");
        assert_eq!(entry(b"abc").unwrap(), b"abc");
        assert_eq!(entry(b"").unwrap(), b"");
        assert_eq!(entry(b"\n").unwrap(), b"");
    }

    #[test]
    fn one_carriage_return_before_the_end_is_dropped() {
        assert_eq!(entry(b"abc\r\n").unwrap(), b"abc");
        assert_eq!(entry(b"abc\r").unwrap(), b"abc");
        assert_eq!(entry(b"\r\r\n").unwrap(), b"\r");
        assert_eq!(entry(b"a\rb\n").unwrap(), b"a\rb");
        assert_eq!(entry(b"\r").unwrap(), b"");
    }

    /// Every short input over `a`, `\r`, `\n` gives what taking the bytes up to the first
    /// `\n` and dropping one trailing `\r` gives.
    #[test]
    fn same_as_take_the_line_and_drop_one_trailing_cr() {
        for n in 0..=7u32 {
            for code in 0..3usize.pow(n) {
                let input: Vec<u8> = (0..n)
                    .map(|i| [b'a', b'\r', b'\n'][code / 3usize.pow(i) % 3])
                    .collect();
                let mut want: Vec<u8> = input.iter().copied().take_while(|&b| b != b'\n').collect();
                if want.last() == Some(&b'\r') {
                    want.pop();
                }
                assert_eq!(entry(&input).unwrap(), want, "{input:?}");
            }
        }
    }

    #[test]
    fn nothing_past_the_line_is_read() {
        let mut input: &[u8] = b"abc\nnext\n";
        let mut buf = [0u8; MAX_ENTRY];
        assert_eq!(read_entry(&mut input, &mut buf).unwrap(), 3);
        assert_eq!(input, b"next\n");
    }

    #[test]
    fn an_entry_of_the_full_size_fits() {
        let mut input = vec![b'x'; MAX_ENTRY];
        input.extend_from_slice(b"\r\n");
        assert_eq!(entry(&input).unwrap(), vec![b'x'; MAX_ENTRY]);
    }

    #[test]
    fn a_longer_entry_is_refused_and_its_line_consumed() {
        for tail in [&b"y\n"[..], b"\ry\n", b"yyyy"] {
            let mut input = vec![b'x'; MAX_ENTRY];
            input.extend_from_slice(tail);
            input.extend_from_slice(b"next");
            let mut rest = &input[..];
            let mut buf = [0u8; MAX_ENTRY];
            let e = read_entry(&mut rest, &mut buf).unwrap_err();
            assert_eq!(e.kind(), std::io::ErrorKind::InvalidInput);
            assert_eq!(
                e.to_string(),
                format!("the entry is longer than {MAX_ENTRY} bytes")
            );
            if tail.ends_with(b"\n") {
                assert_eq!(rest, b"next");
            }
        }
    }
}
