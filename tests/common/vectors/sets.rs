//! The split-set cases, for tools/make-vectors and `tests/vectors.rs`: the `case.expect` files
//! and a prompter that gives one password per file position.

use custody::internals::prompt::{NewPassword, PromptError, Prompter};
use custody::internals::secret::Password;
use secrecy::SecretString;

/// Where the set cases live, under the vectors directory: `sets/<case>/case.expect` and the
/// files it names.
pub const SETS_DIR: &str = "sets";
pub const SET_EXPECT_FILE: &str = "case.expect";

/// Answers the prompts of a split set from one password per file position (the position of a
/// file among those given, as `Prompter::share_password` and `new_password_at` receive it), and
/// records what the library said.
pub struct PerFile {
    /// `None`: that officer is absent (an empty entry at the prompt).
    pub passwords: Vec<Option<String>>,
    pub pin: String,
    pub info: Vec<String>,
    pub warn: Vec<String>,
    /// How many times a PIN was asked for (a token was about to be logged in to).
    pub pin_asked: usize,
    /// The positions whose password was asked, in order.
    pub asked: Vec<usize>,
}

impl PerFile {
    pub fn new(passwords: &[Option<String>], pin: &str) -> Self {
        PerFile {
            passwords: passwords.to_vec(),
            pin: pin.to_owned(),
            info: Vec::new(),
            warn: Vec::new(),
            pin_asked: 0,
            asked: Vec::new(),
        }
    }

    fn at(&mut self, position: usize) -> Result<Option<Password>, PromptError> {
        self.asked.push(position);
        match self.passwords.get(position) {
            Some(Some(p)) => super::scripted_password(p).map(Some),
            Some(None) => Ok(None),
            None => Err(PromptError::NotInteractive {
                what: format!("a password for the file at position {position}"),
            }),
        }
    }
}

impl Prompter for PerFile {
    fn info(&mut self, msg: &str) {
        self.info.push(msg.to_owned());
    }
    fn warn(&mut self, what: &str, todo: &str) {
        self.warn.push(format!("{what} {todo}"));
    }
    fn new_password(&mut self, who: &str, _ask_hint: bool) -> Result<NewPassword, PromptError> {
        Err(PromptError::NotInteractive {
            what: format!("a new password for {who} without a position"),
        })
    }
    fn new_password_at(
        &mut self,
        who: &str,
        position: usize,
        _ask_hint: bool,
    ) -> Result<NewPassword, PromptError> {
        match self.at(position)? {
            Some(password) => Ok(NewPassword {
                password,
                hint: None,
            }),
            None => Err(PromptError::Refused {
                reason: format!("{who}: no password scripted"),
            }),
        }
    }
    fn password(&mut self, who: &str) -> Result<Password, PromptError> {
        Err(PromptError::NotInteractive {
            what: format!("a password for {who} without a position"),
        })
    }
    fn share_password(
        &mut self,
        _who: &str,
        position: usize,
    ) -> Result<Option<Password>, PromptError> {
        self.at(position)
    }
    fn pin(
        &mut self,
        _request: &custody::internals::prompt::PinRequest<'_>,
    ) -> Result<SecretString, PromptError> {
        self.pin_asked += 1;
        Ok(SecretString::from(self.pin.clone()))
    }
    /// The person in every committed case goes on without a file of another set.
    fn confirm(&mut self, _question: &str) -> Result<bool, PromptError> {
        Ok(true)
    }
    /// The person in every committed case holds the ceremony record of the set the case
    /// restores, which is the set shown: they type the first 8 digits of the fingerprint shown.
    fn answer(&mut self, _question: &str) -> Result<String, PromptError> {
        let shown = self
            .info
            .iter()
            .rev()
            .find_map(|m| {
                let (_, after) = m.split_once(": fingerprint ")?;
                after
                    .contains("(this file's own claim)")
                    .then(|| after.replace('-', ""))
            })
            .ok_or_else(|| PromptError::Refused {
                reason: "no fingerprint was shown before the question".into(),
            })?;
        Ok(shown.chars().take(8).collect())
    }
}

// ───────────────────────────── case.expect ─────────────────────────────

/// The outcome categories of `case.expect` files (`custody::internals::ceremony::open_set`).
///
/// - `ok`: `SetCheck::Whole`, the secret (exit 0);
/// - `shares-ok`: `SetCheck::Shares` (only with `partial-ok: yes`), each share given opened alone;
/// - `not-enough`: `SetError::NotEnough` (exit 8);
/// - `inconsistent`: `SetError::Inconsistent`, the shares do not agree, nothing output (exit 5);
/// - `unreadable`: `SetError::NothingReadable`, no file given is a readable backup (exit 5);
/// - `fatal`: `SetError::Fatal`, a failure that stops everything (its exit code).
pub const SET_CATEGORIES: [&str; 6] = [
    "ok",
    "shares-ok",
    "not-enough",
    "inconsistent",
    "unreadable",
    "fatal",
];

/// One `sets/<case>/case.expect`: lines in this order (`key:` alone for an empty value).
///
/// ```text
/// files: <file> <file> ...      the files given, in order (names in the case's directory)
/// passwords: <pw> | <pw> | ...  one per file, same order; an empty entry skips that officer
/// partial-ok: yes               (optional: open_set(.., partial_ok = true), a verify)
/// expect: ok|shares-ok|not-enough|inconsistent|unreadable|fatal
/// exit: <code>
/// secret: <hex>                 (exactly for "ok")
/// asked: <file> <file> ...      (optional: the files whose password was asked, in order; may be empty)
/// names: <substring>            (0 or more: each must appear in the error or the warnings)
/// comment: <one line>
/// ```
///
/// A password never contains `|` and never starts or ends with a space.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SetExpect {
    pub files: Vec<String>,
    pub passwords: Vec<Option<String>>,
    pub partial_ok: bool,
    pub expect: String,
    pub exit: i32,
    pub secret: Option<Vec<u8>>,
    pub asked: Option<Vec<String>>,
    pub names: Vec<String>,
    pub comment: String,
}

fn put(out: &mut String, key: &str, value: &str) {
    if value.is_empty() {
        out.push_str(&format!("{key}:\n"));
    } else {
        out.push_str(&format!("{key}: {value}\n"));
    }
}

impl SetExpect {
    pub fn encode(&self) -> String {
        let mut out = String::new();
        put(&mut out, "files", &self.files.join(" "));
        let pw: Vec<&str> = self
            .passwords
            .iter()
            .map(|p| p.as_deref().unwrap_or(""))
            .collect();
        put(&mut out, "passwords", pw.join(" | ").trim());
        if self.partial_ok {
            put(&mut out, "partial-ok", "yes");
        }
        put(&mut out, "expect", &self.expect);
        put(&mut out, "exit", &self.exit.to_string());
        if let Some(s) = &self.secret {
            put(&mut out, "secret", &hex::encode(s));
        }
        if let Some(a) = &self.asked {
            put(&mut out, "asked", &a.join(" "));
        }
        for n in &self.names {
            put(&mut out, "names", n);
        }
        put(&mut out, "comment", &self.comment);
        out
    }

    /// Check what `encode` cannot write back unchanged.
    pub fn check(&self) -> Result<(), String> {
        if self.files.is_empty() {
            return Err("no files".into());
        }
        for f in self.files.iter().chain(self.asked.iter().flatten()) {
            if f.is_empty()
                || f.starts_with('.')
                || f.contains(|c: char| c == '/' || c == '\\' || c.is_whitespace())
                || f == SET_EXPECT_FILE
            {
                return Err(format!(
                    "file name {f:?} is not a plain name in the case directory"
                ));
            }
        }
        if self.passwords.len() != self.files.len() {
            return Err(format!(
                "{} passwords for {} files",
                self.passwords.len(),
                self.files.len()
            ));
        }
        for p in self.passwords.iter().flatten() {
            if p.is_empty() || p.contains('|') || p.trim() != p {
                return Err(format!(
                    "password {p:?}: empty, with \"|\", or padded with spaces"
                ));
            }
        }
        if !SET_CATEGORIES.contains(&self.expect.as_str()) {
            return Err(format!("unknown category {:?}", self.expect));
        }
        if self.secret.is_some() != (self.expect == "ok") {
            return Err("\"secret:\" is given exactly for \"expect: ok\"".into());
        }
        if self.expect == "shares-ok" && !self.partial_ok {
            return Err("\"shares-ok\" needs \"partial-ok: yes\"".into());
        }
        for n in &self.names {
            if n.trim().is_empty() || n.trim() != n {
                return Err(format!("names: {n:?} is empty or padded with spaces"));
            }
        }
        if self.comment.trim().is_empty() {
            return Err("empty comment".into());
        }
        Ok(())
    }

    pub fn parse(text: &str) -> Result<SetExpect, String> {
        let body = text.strip_suffix('\n').ok_or("no final newline")?;
        let mut lines = body.split('\n').peekable();
        let mut field = |key: &str, optional: bool| -> Result<Option<String>, String> {
            let value = lines.peek().and_then(|l| {
                let rest = l.strip_prefix(key)?.strip_prefix(':')?;
                if rest.is_empty() {
                    Some(String::new())
                } else {
                    rest.strip_prefix(' ').map(String::from)
                }
            });
            match value {
                Some(v) => {
                    lines.next();
                    Ok(Some(v))
                }
                None if optional => Ok(None),
                None => Err(format!("expected \"{key}: \", found {:?}", lines.peek())),
            }
        };
        let words = |v: &str| -> Vec<String> {
            v.split(' ')
                .filter(|w| !w.is_empty())
                .map(String::from)
                .collect()
        };
        let files = words(&field("files", false)?.expect("required"));
        let passwords = field("passwords", false)?
            .expect("required")
            .split('|')
            .map(|p| {
                let p = p.trim_matches(' ');
                (!p.is_empty()).then(|| p.to_owned())
            })
            .collect();
        let partial_ok = match field("partial-ok", true)?.as_deref() {
            None => false,
            Some("yes") => true,
            Some(v) => return Err(format!("partial-ok: {v:?} is not yes")),
        };
        let expect = field("expect", false)?.expect("required");
        let exit = field("exit", false)?
            .expect("required")
            .parse::<i32>()
            .map_err(|e| format!("exit: {e}"))?;
        let secret = field("secret", true)?
            .map(|h| hex::decode(h).map_err(|e| format!("secret: {e}")))
            .transpose()?;
        let asked = field("asked", true)?.map(|v| words(&v));
        let mut names = Vec::new();
        while let Some(n) = field("names", true)? {
            names.push(n);
        }
        let comment = field("comment", false)?.expect("required");
        if let Some(extra) = lines.next() {
            return Err(format!("unexpected line {extra:?}"));
        }
        let e = SetExpect {
            files,
            passwords,
            partial_ok,
            expect,
            exit,
            secret,
            asked,
            names,
            comment,
        };
        e.check()?;
        Ok(e)
    }
}
