//! `custody inspect`: everything in a backup file that is not secret, as text or JSON.

use std::io::{self, Write};

use crate::cli::advice::Advised;
use crate::cli::output::{self, Out};
use crate::cli::{Failure, Res, args, exit};

pub fn run(a: args::InspectArgs, stdout: &mut Out) -> Res {
    let mut first_err = None;
    let written = print_all(&a, stdout, &mut first_err);
    match (written, first_err) {
        (Err(e), Some(_)) if e.kind() != io::ErrorKind::BrokenPipe => Err(e.into()),
        // A file that could not be read was reported already: its exit code stands, also
        // when the reader of the rest went away.
        (_, Some(code)) => Err(Failure::new(
            code,
            "some files could not be read (see above)",
            "",
        )),
        (written, None) => Ok(written?),
    }
}

/// Prints every file that loads, reports every one that does not, and notes the exit code of
/// the first of those.
fn print_all(
    a: &args::InspectArgs,
    stdout: &mut Out,
    first_err: &mut Option<i32>,
) -> io::Result<()> {
    let mut all = Vec::new();
    // A Windows text-mode copy is read as the bytes it was made from, and announced.
    let options = custody::LoadOptions {
        repair_text_copies: true,
    };
    for f in &a.files {
        match custody::load_with(f, options) {
            Ok(lf) => {
                if let Some(notice) = lf.text_copy_notice() {
                    crate::cli::say::warning(
                        &notice,
                        "copy the original again in binary mode and keep that copy instead",
                    );
                }
                all.push(custody::inspect_json(&lf));
                stdout.write_all(custody::inspect_text(&lf).as_bytes())?;
                if a.files.len() > 1 {
                    writeln!(stdout)?;
                }
            }
            Err(e) => {
                crate::cli::say::error(&e.to_string(), e.advice());
                first_err.get_or_insert(exit::code(e.kind()));
            }
        }
    }
    // Always a list, however many files were given.
    output::document("files", serde_json::Value::Array(all));
    Ok(())
}
