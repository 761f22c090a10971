//! custody: two-factor (hardware token + password) backup and split custody of a master secret.
//!
//! The library never touches a terminal: everything it needs from a person goes through
//! [`prompt::Prompter`], which the CLI implements.

pub mod ceremony;
pub mod crypto;
pub mod error;
pub mod format;
pub mod media;
pub mod prompt;
pub mod shamir;
pub mod slot;
pub mod token;
