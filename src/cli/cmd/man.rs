//! `custody man --out-dir DIR` (hidden): the man pages, one per command and subcommand
//! (`custody.1`, `custody-backup.1`, `custody-token-list.1`, ...), made from clap's definition
//! of the command line, so they cannot fall behind it. tools/deb/build.sh ships them in the
//! Debian package; the README says where to put them after `cargo install`.
//!
//! clap_mangen writes each page but the help's closing text (`after_help`), which it would fill
//! into one paragraph: that text is laid out here instead, its `Heading: text` lines as sections
//! of their own (EXIT CODES, ENVIRONMENT) and its examples one per line, as typed.

use std::fs;
use std::io::{self, Write};
use std::path::{Path, PathBuf};

use clap::CommandFactory;
use clap_mangen::Man;
use clap_mangen::roff::{Roff, roman};

use crate::cli::args::{Cli, ManArgs};
use crate::cli::output::Out;
use crate::cli::{Failure, Res, exit};

pub fn run(a: ManArgs, stdout: &mut Out) -> Res {
    let dir = &a.out_dir;
    let failed = |what: &str, path: &Path, e: io::Error| {
        Failure::new(
            exit::OTHER,
            format!("{what} {}: {e}", custody::display_path(path)),
            "check that --out-dir names a folder this user can write to",
        )
    };
    fs::create_dir_all(dir).map_err(|e| failed("cannot make the folder", dir, e))?;
    // Built once from the top, so that every subcommand knows its full name
    // (`custody-token-list`); `help` is clap's, not a command of custody's.
    let mut cli = Cli::command().disable_help_subcommand(true);
    cli.build();
    let mut pages = Vec::new();
    collect(&cli, &mut pages);
    for cmd in pages {
        let (name, text) = page(cmd);
        let path: PathBuf = dir.join(name);
        fs::write(&path, text).map_err(|e| failed("cannot write", &path, e))?;
        writeln!(stdout, "{}", custody::display_path(&path))?;
    }
    Ok(())
}

/// `cmd` and every subcommand under it that the help shows, parents first.
fn collect<'a>(cmd: &'a clap::Command, pages: &mut Vec<&'a clap::Command>) {
    pages.push(cmd);
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        collect(sub, pages);
    }
}

/// One page: its file name and its roff source.
fn page(cmd: &clap::Command) -> (String, Vec<u8>) {
    let closing = cmd.get_after_help().map(|s| s.to_string());
    // No date (the pages are made at build time, not when they change), but a blank one: an
    // empty argument would be left out of `.TH`, and the source would show as the date.
    let man = Man::new(cmd.clone().after_help(None::<&str>))
        .date(" ")
        .source(format!("custody {}", env!("CARGO_PKG_VERSION")));
    let mut text = Vec::new();
    // Rendering into memory cannot fail.
    let _ = man.render(&mut text);
    if let Some(closing) = closing {
        let mut roff = Roff::new();
        closing_sections(&closing, &mut roff);
        // The apostrophe preamble (what an empty page renders to) is at the top already.
        let rendered = roff.render();
        let preamble = Roff::new().render();
        text.extend_from_slice(
            rendered
                .strip_prefix(preamble.as_str())
                .unwrap_or(&rendered)
                .as_bytes(),
        );
    }
    (man.get_filename(), text)
}

/// The help's closing text: `Heading: text` lines before `Examples:` become sections of their
/// own, and every example a line of its own.
fn closing_sections(closing: &str, roff: &mut Roff) {
    let (notes, examples) = match closing.split_once("Examples:\n") {
        Some((notes, examples)) => (notes, Some(examples)),
        None => (closing, None),
    };
    for line in notes.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once(": ") {
            Some((heading, text)) if heading.chars().all(|c| c.is_alphanumeric() || c == ' ') => {
                roff.control("SH", [heading.to_uppercase().as_str()]);
                roff.text([roman(text)]);
            }
            _ => {
                roff.control("SH", ["NOTES"]);
                roff.text([roman(line)]);
            }
        }
    }
    if let Some(examples) = examples {
        roff.control("SH", ["EXAMPLES"]);
        roff.control("RS", []);
        roff.control("nf", []);
        for line in examples.lines() {
            roff.text([roman(line.strip_prefix("  ").unwrap_or(line))]);
        }
        roff.control("fi", []);
        roff.control("RE", []);
    }
}
