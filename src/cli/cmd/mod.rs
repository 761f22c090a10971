//! One module per subcommand, each with a `run` taking its parsed arguments.

pub mod backup;
pub mod completions;
pub mod generate;
pub mod inspect;
pub mod man;
mod open;
pub mod record;
pub mod reshare;
pub mod restore;
pub mod rewrap;
pub mod token;
pub mod verify;
