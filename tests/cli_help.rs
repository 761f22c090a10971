//! The documentation made from the command line's definition: every command's help ends with
//! examples that parse, `custody completions SHELL` writes a script for each shell (bash's
//! passes `bash -n`), and `custody man --out-dir DIR` writes one man page per command.
//!
//! The commands are found by walking `custody --help` and each subcommand's help, so a command
//! added later is checked without being listed here; the walk must find at least as many as
//! there are today, so it cannot pass by finding none.

mod common;

use common::cli::{Env, Out, require_tool};

/// The commands the walk must find at least (custody and its commands, subcommands included,
/// on the day this test was written: 16), and some it must find by name.
const AT_LEAST: usize = 12;
const MUST_HAVE: &[&str] = &[
    "",
    "generate",
    "backup",
    "restore",
    "verify",
    "inspect",
    "rewrap",
    "reshare",
    "token",
    "token keygen",
    "token list",
    "token pubkey",
    "record",
    "record verify",
    "record show",
    "completions",
];

/// The hidden commands: not listed by `custody --help`, checked all the same.
const HIDDEN: &[&str] = &["man"];

/// The commands `custody ... --help` lists under "Commands:", clap's own `help` left out.
fn listed_subcommands(help: &str) -> Vec<String> {
    help.lines()
        .skip_while(|l| l.trim_end() != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect()
}

fn help(env: &Env, path: &str) -> Out {
    let mut args: Vec<&str> = path.split_whitespace().collect();
    args.push("--help");
    let out = env.run(&args);
    out.ok();
    out
}

/// Every command, as the words after `custody` ("" for custody itself), found from the help.
fn all_commands(env: &Env) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![String::new()];
    while let Some(path) = todo.pop() {
        let out = help(env, &path);
        for sub in listed_subcommands(&out.stdout) {
            todo.push(format!("{path} {sub}").trim().to_owned());
        }
        found.push(path);
    }
    found.sort();
    found
}

/// The examples at the end of a help: each command line after `Examples:`, its continuation
/// lines (`\` at the end) joined.
fn examples(help: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut continued = false;
    for line in help
        .lines()
        .skip_while(|l| l.trim_end() != "Examples:")
        .skip(1)
    {
        let line = line.trim();
        if continued {
            let last = out.last_mut().expect("a continued example");
            last.push(' ');
            last.push_str(line.trim_end_matches('\\').trim_end());
        } else if line.starts_with("custody ") {
            out.push(line.trim_end_matches('\\').trim_end().to_owned());
        }
        continued = line.ends_with('\\');
    }
    out
}

/// The words of one example as a shell would pass them to custody: quotes removed, and what
/// follows a comment, a redirection or a pipe left out.
fn words(example: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut quote: Option<char> = None;
    for c in example.chars() {
        match (quote, c) {
            (Some(q), c) if c == q => quote = None,
            (Some(_), c) => word.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                in_word = true;
            }
            (None, '#' | '>' | '|') if !in_word => break,
            (None, c) if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            (None, c) => {
                word.push(c);
                in_word = true;
            }
        }
    }
    assert!(quote.is_none(), "unclosed quote in example `{example}`");
    if in_word {
        words.push(word);
    }
    words
}

#[test]
fn every_command_shows_examples_that_parse() {
    let env = Env::new("help-examples");
    let mut commands = all_commands(&env);
    for must in MUST_HAVE {
        assert!(
            commands.iter().any(|c| c == must),
            "`custody {must}` was not found by walking the help: {commands:?}"
        );
    }
    for hidden in HIDDEN {
        assert!(
            !commands.iter().any(|c| c == hidden),
            "`custody {hidden}` should be hidden from `custody --help`"
        );
        commands.push((*hidden).to_owned());
    }
    let mut checked = 0;
    for path in &commands {
        let out = help(&env, path);
        assert!(
            out.stdout.contains("\nExamples:\n"),
            "`custody {path} --help` has no Examples: section\n{}",
            out.stdout
        );
        let own = format!("custody {path}").trim_end().to_owned() + " ";
        let examples = examples(&out.stdout);
        assert!(
            examples.iter().any(|e| e.starts_with(&own)),
            "`custody {path} --help` has no example starting with `{own}`: {examples:?}"
        );
        // Each example, with --help added, gets through clap's parsing up to that flag: every
        // option it names exists and every value it gives to a value list is one of them.
        for example in &examples {
            let mut args = words(example);
            assert_eq!(args.remove(0), "custody", "{example}");
            if args.last().is_some_and(|a| a == "--help") {
                args.pop();
            }
            args.push("--help".to_owned());
            let parsed = env.run(&args);
            assert_eq!(
                parsed.code,
                0,
                "example `{example}` in `custody {path} --help` does not parse\n{}",
                parsed.dump()
            );
        }
        checked += 1;
    }
    assert!(
        checked >= AT_LEAST,
        "only {checked} commands checked: {commands:?}"
    );

    // The top-level help keeps the exit codes and the environment, before its examples.
    let top = help(&env, "");
    top.stdout_has(&[
        "Exit codes: 0 ok",
        "Environment: CUSTODY_PASSWORD",
        "Examples:\n  custody ",
    ]);
}

#[test]
fn bash_completion_passes_bash_n() {
    let env = Env::new("completions-bash");
    let bash = require_tool("bash", "bash");
    let out = env.run(["completions", "bash"]);
    out.ok();
    let script = env.write("custody.bash", out.stdout.as_bytes());
    for word in [
        "custody",
        "backup",
        "restore",
        "keygen",
        "completions",
        "--secret",
    ] {
        assert!(
            out.stdout.contains(word),
            "the bash completion does not mention {word}"
        );
    }
    let mut c = std::process::Command::new(bash);
    c.arg("-n").arg(&script);
    let checked = common::cli::run_command(c);
    assert_eq!(
        checked.code,
        0,
        "bash -n rejects the completion script\n{}",
        checked.dump()
    );
}

#[test]
fn completions_for_the_other_shells() {
    let env = Env::new("completions-other");
    for shell in ["zsh", "fish", "elvish", "powershell"] {
        let out = env.run(["completions", shell]);
        out.ok();
        assert!(
            out.stdout.len() > 1000 && out.stdout.contains("custody"),
            "`custody completions {shell}` wrote {} bytes\n{}",
            out.stdout.len(),
            out.dump()
        );
        // fish names a long option without its dashes (`-l secret`).
        assert!(
            out.stdout.contains("backup") && out.stdout.contains("secret"),
            "`custody completions {shell}` does not complete backup --secret"
        );
    }
    env.run(["completions", "tcsh"])
        .code(common::cli::exit::USAGE);
    env.run(["completions"]).code(common::cli::exit::USAGE);
}

#[test]
fn man_writes_one_page_per_command() {
    let env = Env::new("man-pages");
    let out = env.run(["man", "--out-dir", "pages/man1"]);
    out.ok();
    let pages = env.entries("pages/man1");
    for page in [
        "custody.1",
        "custody-backup.1",
        "custody-token-list.1",
        "custody-token-keygen.1",
        "custody-record-verify.1",
        "custody-completions.1",
    ] {
        assert!(pages.iter().any(|p| p == page), "no {page} in {pages:?}");
    }
    // One per command the help lists (the hidden `man` and clap's `help` have none), and each
    // named on standard output.
    let commands = all_commands(&env);
    assert_eq!(pages.len(), commands.len(), "{pages:?} for {commands:?}");
    for c in &commands {
        let name = format!("custody {c}").trim().replace(' ', "-") + ".1";
        assert!(pages.contains(&name), "no {name} in {pages:?}");
        assert!(
            out.stdout.contains(&name),
            "{name} not reported\n{}",
            out.dump()
        );
    }
    for page in &pages {
        let text = String::from_utf8(env.read(&format!("pages/man1/{page}"))).expect("UTF-8");
        let stem = page.trim_end_matches(".1");
        // The roff header: only requests (the apostrophe preamble) before `.TH`.
        let head: Vec<&str> = text
            .lines()
            .take_while(|l| !l.starts_with(".TH "))
            .collect();
        assert!(
            head.len() <= 2 && head.iter().all(|l| l.starts_with('.')),
            "{page} does not start with a roff header:\n{}",
            &text[..text.len().min(300)]
        );
        assert!(
            text.contains(&format!("\n.TH {stem} 1 ")),
            "{page} has no `.TH {stem} 1` header"
        );
        assert!(text.contains("\n.SH NAME\n"), "{page} has no NAME section");
        assert!(
            text.contains("\n.SH EXAMPLES\n"),
            "{page} has no EXAMPLES section"
        );
    }
    let backup = String::from_utf8(env.read("pages/man1/custody-backup.1")).expect("UTF-8");
    assert!(
        backup.contains("custody backup \\-\\-secret master.key"),
        "custody-backup.1 lacks its examples:\n{backup}"
    );
    let top = String::from_utf8(env.read("pages/man1/custody.1")).expect("UTF-8");
    for section in [".SH \"EXIT CODES\"", ".SH ENVIRONMENT", ".SH EXAMPLES"] {
        assert!(top.contains(section), "custody.1 lacks {section}");
    }

    // Run again: the pages are replaced, nothing else in the folder is touched.
    env.write("pages/man1/notes.txt", b"mine");
    env.run(["man", "--out-dir", "pages/man1"]).ok();
    assert_eq!(env.read("pages/man1/notes.txt"), b"mine");
    assert_eq!(env.entries("pages/man1").len(), pages.len() + 1);
}
