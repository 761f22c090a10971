//! `custody inspect`: everything in a backup file that is not secret, as text or JSON.

use crate::cli::advice::Advised;
use crate::cli::{Failure, Res, args, exit};

pub fn run(a: args::InspectArgs) -> Res {
    let mut all = Vec::new();
    let mut first_err = None;
    for f in &a.files {
        match custody::load(f) {
            Ok(lf) => {
                if a.json {
                    all.push(custody::inspect_json(&lf));
                } else {
                    print!("{}", custody::inspect_text(&lf));
                    if a.files.len() > 1 {
                        println!();
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e}\n  what to do: {}", e.advice());
                first_err.get_or_insert(exit::code(e.kind()));
            }
        }
    }
    if a.json {
        let v = if a.files.len() == 1 && all.len() == 1 {
            all.pop().expect("one")
        } else {
            serde_json::Value::Array(all)
        };
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    }
    match first_err {
        Some(code) => Err(Failure::new(
            code,
            "some files could not be read (see above)",
            "",
        )),
        None => Ok(()),
    }
}
