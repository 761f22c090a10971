//! `custody completions SHELL`: the shell's completion script, made from clap's definition of
//! the command line, so it cannot fall behind it.

use std::io::Write;

use clap::CommandFactory;

use crate::cli::Res;
use crate::cli::args::{Cli, CompletionsArgs};
use crate::cli::output::Out;

pub fn run(a: CompletionsArgs, stdout: &mut Out) -> Res {
    // Made in memory first: clap_complete panics on a failed write, and a reader that went
    // away (`| head`) must end custody quietly, as for any other report.
    let mut script = Vec::new();
    clap_complete::generate(a.shell, &mut Cli::command(), "custody", &mut script);
    stdout.write_all(&script)?;
    Ok(())
}
