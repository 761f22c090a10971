//! Opening a file with the real code and recording what came out.

use std::io::Write;
use std::path::Path;

use custody::internals::ceremony::{self, OpenFileError};
use custody::internals::format::FormatError;
use custody::internals::token::TokenError;
use custody::internals::token::registry::TokenEnv;

use crate::cli_exit;
use crate::vectors::Scripted;

pub struct Observed {
    pub category: String,
    pub exit: i32,
    pub message: String,
    pub secret: Option<Vec<u8>>,
    pub pin_asked: usize,
}

pub fn category(e: &OpenFileError) -> &'static str {
    match e {
        OpenFileError::Format { error, .. } => match error {
            FormatError::Damaged { .. } => "damaged",
            FormatError::Invalid { .. } => "invalid",
            FormatError::UnsupportedVersion { .. } => "unsupported",
            FormatError::NotABackup => "not-a-backup",
            _ => "other",
        },
        OpenFileError::Auth { .. } => "auth",
        OpenFileError::Token {
            error: TokenError::WrongKey { .. } | TokenError::PinIncorrect { .. },
            ..
        } => "auth",
        OpenFileError::Altered { .. } => "altered",
        OpenFileError::NoToken { .. } => "not-found",
        _ => "other",
    }
}

pub fn observe(path: &Path, password: &str, env: &TokenEnv) -> Observed {
    let mut p = Scripted::new(password);
    let input = ceremony::Input::Path(path.to_owned());
    let r = ceremony::open_backup(&input, &[], env.clone(), &mut p);
    match r {
        Ok(o) => Observed {
            category: "ok".into(),
            exit: 0,
            message: format!("opened with {}", o.opened_with),
            secret: Some(o.secret.expose().to_vec()),
            pin_asked: p.pin_asked,
        },
        Err(e) => Observed {
            category: category(&e).into(),
            exit: cli_exit::code(e.kind()),
            message: e.to_string(),
            secret: None,
            pin_asked: p.pin_asked,
        },
    }
}

pub fn write_new(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    f.write_all(bytes)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}
