//! The terminal side of [`Prompter`]: passwords from --password-file, CUSTODY_PASSWORD or a
//! no-echo prompt on the controlling terminal; PINs from CUSTODY_PIN or a prompt.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use custody::prompt::{NewPassword, PinRequest, PromptError, Prompter};

pub struct TerminalPrompter {
    /// `--password-file`s: one per file in order, or one for all.
    pub password_files: Vec<PathBuf>,
    /// `--new-password-file`s for new passwords where old ones are also asked (rewrap,
    /// reshare); `None`: new passwords come from `password_files` (backup).
    pub new_password_files: Option<Vec<PathBuf>>,
    /// Quiet: information lines are not printed (warnings still are).
    pub quiet: bool,
}

fn tty() -> Option<File> {
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/tty")
        .ok()
}

/// First line of a password file, minus exactly one trailing `\n` or `\r\n`.
pub fn read_secret_line(path: &std::path::Path, what: &str) -> Result<SecretString, PromptError> {
    let bytes = Zeroizing::new(custody::media::read_bounded(path, 64 * 1024).map_err(|e| {
        PromptError::Io {
            detail: format!("cannot read the {what} file {}: {e}", path.display()),
        }
    })?);
    let text = std::str::from_utf8(&bytes).map_err(|_| PromptError::Io {
        detail: format!("the {what} file {} is not UTF-8", path.display()),
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
    Ok(SecretString::from(line.to_owned()))
}

/// Restores the terminal's settings however the read ends.
struct EchoGuard {
    fd: std::os::fd::RawFd,
    saved: libc::termios,
}

impl Drop for EchoGuard {
    fn drop(&mut self) {
        unsafe { libc::tcsetattr(self.fd, libc::TCSANOW, &self.saved) };
    }
}

/// Read one line from the terminal without echo. Echo is turned off before the prompt is
/// written, so nothing typed ahead of the prompt is shown either.
fn read_hidden(t: &File, prompt: &str) -> std::io::Result<SecretString> {
    use std::io::Read;
    use std::os::fd::AsRawFd;
    let fd = t.as_raw_fd();
    let mut term: libc::termios = unsafe { std::mem::zeroed() };
    if unsafe { libc::tcgetattr(fd, &mut term) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let guard = EchoGuard { fd, saved: term };
    term.c_lflag &= !libc::ECHO;
    term.c_lflag |= libc::ECHONL;
    if unsafe { libc::tcsetattr(fd, libc::TCSANOW, &term) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    let mut w = t;
    w.write_all(prompt.as_bytes())?;
    w.flush()?;
    let mut line = Zeroizing::new(Vec::new());
    let mut byte = [0u8; 1];
    let mut r = t;
    loop {
        match r.read(&mut byte)? {
            0 => break,
            _ if byte[0] == b'\n' => break,
            _ => line.push(byte[0]),
        }
    }
    drop(guard);
    if line.last() == Some(&b'\r') {
        line.pop();
    }
    let text = std::str::from_utf8(&line).map_err(|_| {
        std::io::Error::new(std::io::ErrorKind::InvalidData, "the input is not UTF-8")
    })?;
    Ok(SecretString::from(text.to_owned()))
}

fn env_secret(name: &str) -> Option<SecretString> {
    std::env::var(name).ok().map(SecretString::from)
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

    pub(super) fn ask_hidden(&self, prompt: &str, what: &str) -> Result<SecretString, PromptError> {
        let Some(t) = tty() else {
            return Err(PromptError::NotInteractive { what: what.into() });
        };
        read_hidden(&t, prompt).map_err(|e| PromptError::Io {
            detail: e.to_string(),
        })
    }

    fn ask_line(&self, prompt: &str) -> Result<String, PromptError> {
        let Some(t) = tty() else {
            return Err(PromptError::NotInteractive {
                what: "an answer".into(),
            });
        };
        let mut w = t.try_clone().map_err(|e| PromptError::Io {
            detail: e.to_string(),
        })?;
        let _ = write!(w, "{prompt}");
        let _ = w.flush();
        let mut line = String::new();
        BufReader::new(t)
            .read_line(&mut line)
            .map_err(|e| PromptError::Io {
                detail: e.to_string(),
            })?;
        Ok(line.trim_end_matches(['\n', '\r']).to_owned())
    }
}

impl Prompter for TerminalPrompter {
    fn info(&mut self, msg: &str) {
        if !self.quiet {
            eprintln!("{msg}");
        }
    }

    fn warn(&mut self, msg: &str) {
        eprintln!("warning: {msg}");
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
                password: read_secret_line(&p, "password")?,
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
                password: p,
                hint: None,
            });
        }
        let what = format!("a password for {who}");
        let first = self.ask_hidden(&format!("New password for {who}: "), &what)?;
        if first.expose_secret().is_empty() {
            return Err(PromptError::Refused {
                reason: "an empty password is not allowed".into(),
            });
        }
        let second = self.ask_hidden("Type it again: ", &what)?;
        if first.expose_secret() != second.expose_secret() {
            return Err(PromptError::Mismatch);
        }
        let hint =
            if ask_hint {
                Some(self.ask_line(
                    "Password hint (stored in clear, shown at restore; Enter for none): ",
                )?)
            } else {
                None
            };
        Ok(NewPassword {
            password: first,
            hint,
        })
    }

    fn password(&mut self, who: &str) -> Result<SecretString, PromptError> {
        if let Some(p) = self.file_for(0)? {
            return read_secret_line(&p, "password");
        }
        if let Some(p) = env_secret("CUSTODY_PASSWORD") {
            return Ok(p);
        }
        let p = self.ask_hidden(
            &format!("Password for {who}: "),
            &format!("the password of {who}"),
        )?;
        if p.expose_secret().is_empty() {
            return Err(PromptError::Refused {
                reason: "an empty password is not allowed".into(),
            });
        }
        Ok(p)
    }

    fn share_password(
        &mut self,
        who: &str,
        position: usize,
    ) -> Result<Option<SecretString>, PromptError> {
        if let Some(p) = self.file_for(position)? {
            return read_secret_line(&p, "password").map(Some);
        }
        if let Some(p) = env_secret("CUSTODY_PASSWORD") {
            return Ok(Some(p));
        }
        let p = self.ask_hidden(
            &format!("Password for {who} (Enter alone to skip this share): "),
            &format!("the password of {who}"),
        )?;
        // An empty entry means "this officer is absent", never an empty password.
        Ok((!p.expose_secret().is_empty()).then_some(p))
    }

    fn pin(&mut self, request: &PinRequest<'_>) -> Result<SecretString, PromptError> {
        super::pin::pin_for(self, request)
    }
}
