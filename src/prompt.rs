//! What the library needs from a person, behind a trait: the CLI implements it for a terminal,
//! tests implement it with scripted answers. The library never reads a terminal itself.

use std::fmt;
use std::path::Path;
use std::time::Duration;

use secrecy::SecretString;

use crate::secret::Password;

/// A new password (already confirmed) and the hint typed with it, if one was asked.
pub struct NewPassword {
    /// The password, normalized (NFC) once when it was made.
    pub password: Password,
    /// `Some` only when the password was typed interactively and a hint was asked for.
    pub hint: Option<String>,
}

/// Why a prompt gave no answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum PromptError {
    /// Nothing to ask and no terminal to ask on.
    NotInteractive {
        /// What was needed, for people: the message reads "`what` is needed, but ...".
        what: String,
    },
    /// The two entries of a new password differed.
    Mismatch,
    /// The password given (typed, in a password file or in the environment) is empty.
    EmptyPassword,
    /// The password given is not acceptable.
    Refused {
        /// Why, for people; never the password itself.
        reason: String,
    },
    /// Reading the answer failed.
    Io {
        /// What the terminal or reader said; never the answer.
        detail: String,
    },
    /// The person skipped this question (an empty entry at a PIN prompt): that token is not
    /// used, and nothing is sent to it.
    Skipped,
    /// The answer is not given for this token, by policy: `detail` says why and what to do
    /// (a token the file chose by its label alone, with nobody to ask).
    Declined {
        /// Why, and what to do, for people.
        detail: String,
    },
    /// A source named for the answer (a PIN file) could not be read; `detail` says which and why.
    Source {
        /// Which source and why, for people; never its content.
        detail: String,
    },
    /// The person stopped the operation at the prompt (Ctrl-C, or a signal to end the process);
    /// the terminal was given back as it was.
    Interrupted,
}

impl fmt::Display for PromptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PromptError::NotInteractive { what } => write!(
                f,
                "{what} is needed, but there is no terminal to ask on and none was given"
            ),
            PromptError::Mismatch => write!(f, "the two passwords typed differ"),
            PromptError::EmptyPassword => write!(
                f,
                "the password given is empty: an empty password is not allowed"
            ),
            PromptError::Refused { reason } => write!(f, "{reason}"),
            PromptError::Io { detail } => write!(f, "reading the answer failed: {detail}"),
            PromptError::Source { detail } => write!(f, "{detail}"),
            PromptError::Skipped => write!(f, "skipped"),
            PromptError::Declined { detail } => write!(f, "{detail}"),
            PromptError::Interrupted => write!(f, "interrupted at the prompt"),
        }
    }
}

impl std::error::Error for PromptError {}

impl PromptError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        match self {
            PromptError::Source { .. } => crate::error::ErrorKind::Io,
            PromptError::Skipped | PromptError::Declined { .. } => {
                crate::error::ErrorKind::NotFound
            }
            _ => crate::error::ErrorKind::Interaction,
        }
    }
}

/// The person at the keyboard, as the library sees them.
pub trait Prompter {
    /// A line of information (progress, what was found, what to compare).
    fn info(&mut self, msg: &str);
    /// A warning the person should read on every run: `what` happened (and what it means),
    /// then what to do about it (`todo`, empty when there is nothing to do). Both are plain
    /// sentences; the front end decides how to show them.
    fn warn(&mut self, what: &str, todo: &str);
    /// Something the person must do now on a device (touch it, enter a PIN on its pad): a
    /// front end that hides information lines must still show this. By default, [`info`].
    ///
    /// [`info`]: Prompter::info
    fn act(&mut self, msg: &str) {
        self.info(msg);
    }
    /// A new password for `who` (a file or an officer), asked twice. When `ask_hint` is true and
    /// the password is typed interactively, also ask for a hint.
    fn new_password(&mut self, who: &str, ask_hint: bool) -> Result<NewPassword, PromptError>;
    /// The same for the file at `position` among several (an officer's share): a CLI given one
    /// password file per share picks the one at that position.
    fn new_password_at(
        &mut self,
        who: &str,
        position: usize,
        ask_hint: bool,
    ) -> Result<NewPassword, PromptError> {
        let _ = position;
        self.new_password(who, ask_hint)
    }
    /// The password of an existing file (its hint has been shown through `info` already).
    fn password(&mut self, who: &str) -> Result<Password, PromptError>;
    /// The password of a file again, after the one given did not open it (a proven token key,
    /// so the password is the likely cause): `tries_left` tries left, this one included. `None`:
    /// no retry (the password came from a file or the environment, or nobody can be asked),
    /// and the failure stands.
    fn password_again(
        &mut self,
        who: &str,
        tries_left: u32,
    ) -> Result<Option<Password>, PromptError> {
        let _ = (who, tries_left);
        Ok(None)
    }
    /// The password of the file at `position` among several. `None`: the officer is absent and
    /// their share is skipped (an empty entry at an interactive prompt — never an empty password).
    fn share_password(
        &mut self,
        who: &str,
        position: usize,
    ) -> Result<Option<Password>, PromptError> {
        let _ = position;
        self.password(who).map(Some)
    }
    /// An officer's turn at the keyboard begins (a share of a split set, at a backup or a
    /// restore): `line` names them and asks them to take the keyboard. `position` is their
    /// file's place among the files (as for [`Prompter::share_password`]), `new_password`
    /// whether they are about to choose a password (a backup) or type one (a restore). A CLI
    /// shows the line and waits for Enter only when a person is there and the password is
    /// typed; by default there is nobody to hand over to, and nothing is done.
    fn handover(
        &mut self,
        line: &str,
        position: usize,
        new_password: bool,
    ) -> Result<(), PromptError> {
        let _ = (line, position, new_password);
        Ok(())
    }
    /// The officer whose turn [`Prompter::handover`] opened (with the same `position` and
    /// `new_password`) has made their entry: a CLI that handed over clears the screen and its
    /// scroll-back, so that the next officer sees nothing of this one's turn (their hint). By
    /// default, nothing is done.
    fn end_turn(&mut self, position: usize, new_password: bool) {
        let _ = (position, new_password);
    }
    /// The PIN a token asks for. This is the one PIN path of custody: the caller (the CLI)
    /// decides where it comes from — the locator's own `pin-value`/`pin-source`, an
    /// environment variable, a prompt — so that the library never reads a PIN file or the
    /// environment itself.
    fn pin(&mut self, request: &PinRequest<'_>) -> Result<SecretString, PromptError>;
    /// A yes-or-no question (`question` says what is at stake): `Ok(true)` goes on. Asked only
    /// of a person at a terminal; by default there is nobody to ask, and the operation stops.
    fn confirm(&mut self, question: &str) -> Result<bool, PromptError> {
        let _ = question;
        Err(PromptError::NotInteractive {
            what: "a confirmation".into(),
        })
    }
    /// A token or card the operation needs is absent (`what` names it, or the ones that would
    /// do). `Ok(true)`: someone is there to plug it in, so the caller waits for it, calling
    /// [`Prompter::still_waiting`] at each look. `Ok(false)` or an error: nobody to wait for, and
    /// the absence is reported at once. Asked only of a person at a terminal; by default there
    /// is nobody.
    fn wait_for(&mut self, what: &str) -> Result<bool, PromptError> {
        let _ = what;
        Ok(false)
    }
    /// Called at each look for an absent token while waiting (a few times a second): `false`
    /// stops the wait and the absence is reported.
    fn still_waiting(&mut self) -> bool {
        true
    }
    /// A long computation (Argon2id) is still running: `what` names it, `elapsed` is how long
    /// it has taken so far and `expected` about how long it takes in all (`None`: not known).
    /// Called about every 250 ms while it runs, never for a run shorter than that; by default
    /// nobody is shown anything.
    fn progress(&mut self, what: &str, elapsed: Duration, expected: Option<Duration>) {
        let _ = (what, elapsed, expected);
    }
    /// The computation last reported through [`Prompter::progress`] has ended (successfully or
    /// not): whatever showed its progress can be cleared.
    fn progress_done(&mut self) {}
    /// A question answered with a short text that is no secret (the first digits of a
    /// fingerprint as a ceremony record has them). Asked only of a person at a terminal; by
    /// default there is nobody to ask, and the caller decides what that means.
    fn answer(&mut self, question: &str) -> Result<String, PromptError> {
        let _ = question;
        Err(PromptError::NotInteractive {
            what: "an answer".into(),
        })
    }
}

/// Why a token was chosen for a login: the PIN source may treat a token the person named
/// differently from one the file pointed at.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PinReason {
    /// The person named this token (`--token`, key generation, export).
    Named,
    /// A slot of the file names this token's serial number (or card serial), and it is present.
    SerialMatch,
    /// A slot of the file names this token's label only: its serial differs or is not recorded.
    LabelMatch,
}

/// A token asking for its PIN, and what the locator that named it said about the PIN.
#[derive(Clone, Copy)]
pub struct PinRequest<'a> {
    /// Which token asks, for people (already escaped).
    pub token: &'a str,
    /// Why this token was chosen.
    pub reason: PinReason,
    /// The locator's `pin-value=` (RFC 7512 allows it; it shows in process arguments).
    pub value: Option<&'a SecretString>,
    /// The locator's `pin-source=file:` path.
    pub source: Option<&'a Path>,
    /// The token says one more wrong PIN locks (or blocks) it.
    pub final_try: bool,
    /// The token just refused the PIN this source gave for it: give another one only if it is
    /// not the same (a PIN typed now, where the refused one came from elsewhere), else refuse.
    pub after_refusal: bool,
}

impl fmt::Debug for PinRequest<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PinRequest")
            .field("token", &self.token)
            .field("reason", &self.reason)
            .field("value", &self.value.map(|_| "[redacted]"))
            .field("source", &self.source)
            .field("final_try", &self.final_try)
            .field("after_refusal", &self.after_refusal)
            .finish()
    }
}
