//! A refused request in the CLI's words: the library checks every request once and says what
//! is wrong in its own vocabulary; the CLI names the flags that gave it.

use custody::{RequestError, TextField};

use super::Failure;

/// The message for a refused request, naming the flags.
pub fn words(e: &RequestError) -> String {
    match e {
        RequestError::OutputCount { n } => format!("{n} outputs: give 1 to 255 --out"),
        RequestError::MissingThreshold { n } => {
            format!("{n} --out given: a split backup needs --threshold K (2 ≤ K ≤ {n})")
        }
        RequestError::ThresholdWithoutSplit { k } => {
            format!("--threshold {k} needs one --out per share (at least two)")
        }
        RequestError::Threshold { k, n } => {
            format!("--threshold {k} with {n} --out: a split needs 2 ≤ K ≤ N ≤ 255")
        }
        RequestError::Text { field, reason } => {
            let flag = match field {
                TextField::Label => "--label",
                TextField::Officer => "--officer",
                _ => "--hint",
            };
            format!("{flag} {reason}")
        }
        RequestError::NoKey { output } => {
            format!(
                "{}: give at least one --token",
                custody::display_path(output)
            )
        }
        RequestError::OutputTwice { output } => {
            format!("{} is given twice as --out", custody::display_path(output))
        }
        RequestError::WeakKdf { kdf } => format!(
            "Argon2id m={} MiB, t={} is below the minimum m=64 MiB, t=3; add --allow-weak-kdf \
             to accept it (the file will be marked weak)",
            kdf.memory_kib / 1024,
            kdf.iterations
        ),
        RequestError::DropUnreadable { path, reason } => {
            format!("--drop-token {}: {reason}", custody::display_path(path))
        }
        RequestError::DropNamesNoSlot => {
            "a --drop-token names no slot of this file (see `custody inspect`)".into()
        }
        other => other.to_string(),
    }
}

/// A refused request as a usage error.
pub fn refused(e: &RequestError) -> Failure {
    Failure::usage(words(e))
}
