//! Terminal conventions (issue 10, item 6): colour only on a terminal, `NO_COLOR` and
//! `TERM=dumb` honoured; `--quiet` leaves errors, warnings and the requested output; every
//! error and warning says what happened, then what to do.

mod common;

use std::fs::File;

use common::cli::{Env, exit, uri};
use common::pty::Pty;

const YELLOW_WARNING: &str = "\x1b[1;33mwarning:\x1b[0m";
const RED_ERROR: &str = "\x1b[1;31merror:\x1b[0m";
const BOLD_TODO: &str = "\x1b[1mwhat to do:\x1b[0m";

/// A token, an AES key on it and a backup `b.cb` with a hint, made with the tests' weak KDF (so
/// that every restore of it warns).
fn backed_up(env: &Env) {
    env.init_token("conv-tok");
    env.keygen("conv-tok", "k", "aes");
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("conv-tok", "k")],
        "b.cb",
        &["--single-token", "--hint", "the blue notebook"],
    )
    .ok();
}

/// A restore of `b.cb` at a pseudo-terminal (standard input a file, so nothing is asked), with
/// `vars` set or removed; its exit code and screen.
fn restore_at_terminal(
    env: &Env,
    out: &str,
    password_file: &str,
    vars: &[(&str, Option<&str>)],
) -> (i32, String) {
    let mut c = env.command();
    c.args([
        "restore",
        &env.p("b.cb"),
        "--out",
        &env.p(out),
        "--password-file",
        password_file,
    ]);
    for (k, v) in vars {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    env.write("stdin.txt", b"");
    Pty::spawn_with_stdin(c, File::open(env.path("stdin.txt")).unwrap()).finish()
}

#[test]
fn colour_only_on_a_terminal_and_never_with_no_color_or_a_dumb_terminal() {
    let env = Env::new("conv-colour");
    backed_up(&env);
    let xterm = ("TERM", Some("xterm-256color"));

    let (code, screen) = restore_at_terminal(
        &env,
        "r1.bin",
        &env.password_file(),
        &[("NO_COLOR", None), xterm],
    );
    assert_eq!(code, exit::OK, "{screen:?}");
    assert!(screen.contains(YELLOW_WARNING), "{screen:?}");
    assert!(screen.contains(BOLD_TODO), "{screen:?}");

    env.write("wrong", b"not the password\n");
    let (code, screen) = restore_at_terminal(
        &env,
        "r2.bin",
        &env.p("wrong"),
        &[("NO_COLOR", None), xterm],
    );
    assert_eq!(code, exit::AUTH, "{screen:?}");
    assert!(screen.contains(RED_ERROR), "{screen:?}");

    // NO_COLOR with any non-empty value (no-color.org), and a terminal that cannot show it.
    for vars in [
        [("NO_COLOR", Some("1")), xterm],
        [("NO_COLOR", Some("0")), xterm],
        [("NO_COLOR", None), ("TERM", Some("dumb"))],
    ] {
        let (code, screen) = restore_at_terminal(&env, "r3.bin", &env.p("wrong"), &vars);
        assert_eq!(code, exit::AUTH, "{vars:?}: {screen:?}");
        assert!(screen.contains("error: "), "{vars:?}: {screen:?}");
        assert!(screen.contains("warning: "), "{vars:?}: {screen:?}");
        assert!(!screen.contains("\x1b[1"), "{vars:?}: {screen:?}");
    }

    // Not a terminal: plain, whatever NO_COLOR says.
    let out = env.run_env(
        [
            "restore",
            &env.p("b.cb"),
            "--out",
            &env.p("r4.bin"),
            "--password-file",
            &env.p("wrong"),
        ],
        &[("NO_COLOR", None), xterm],
    );
    out.code(exit::AUTH).stderr_has(&["error: ", "warning: "]);
    out.stderr_lacks(&["\x1b["]);
}

#[test]
fn quiet_keeps_errors_warnings_and_the_requested_output_only() {
    let env = Env::new("conv-quiet");
    backed_up(&env);
    let said = env.restore("b.cb", "loud.bin", &[]);
    said.ok().stderr_has(&[
        "Restored 32 bytes",
        "  fingerprint: ",
        "warning: ",
        "weak Argon2id parameters",
        "this file's own claim",
    ]);

    let quiet = env.restore("b.cb", "quiet.bin", &["--quiet"]);
    quiet.ok();
    assert_eq!(env.read("quiet.bin"), env.read("secret.bin"));
    // The warnings every run must give stay: a weak KDF, a fingerprint nothing vouched for.
    quiet.stderr_has(&["weak Argon2id parameters", "this file's own claim"]);
    quiet.stderr_lacks(&["Restored", "  fingerprint: ", "  created: "]);
    // The hint is part of the password question, so it stays.
    quiet.stderr_has(&["Password hint: the blue notebook"]);
    for line in quiet.stderr.lines() {
        assert!(
            line.starts_with("warning: ")
                || line.starts_with("  what to do: ")
                || line.starts_with("Password hint: "),
            "--quiet printed an information line: {line:?}\n{}",
            quiet.dump()
        );
    }

    // An error is still said in full, with what to do; -q is the same flag.
    env.write("wrong", b"not the password\n");
    let failed = env.run([
        "restore",
        &env.p("b.cb"),
        "--out",
        &env.p("never.bin"),
        "--password-file",
        &env.p("wrong"),
        "-q",
    ]);
    failed.code(exit::AUTH);
    failed.stderr_has(&["error: ", "  what to do: "]);

    // What was asked for is still written: inspect's report on standard output.
    let inspected = env.run(["inspect", &env.p("b.cb"), "--quiet"]);
    inspected.ok();
    assert!(
        inspected.stdout.contains("fingerprint"),
        "{}",
        inspected.dump()
    );
}

#[test]
fn every_warning_and_error_says_what_to_do() {
    // A run with several warnings (weak KDF, a secret that looks like text, a file not on
    // removable media is not one here: outputs are in a temporary folder) and a failing one.
    let env = Env::new("conv-style");
    env.init_token("conv-tok");
    env.keygen("conv-tok", "k", "aes");
    env.write("text.txt", b"hunter2 is my password, do not tell\n");
    let out = env.backup("text.txt", &[&uri("conv-tok", "k")], "t.cb", &[]);
    out.ok();
    let lines: Vec<&str> = out.stderr.lines().collect();
    let warnings: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("warning: "))
        .collect();
    // Weak KDF, text-like secret, and the single token (no --single-token).
    assert!(warnings.len() >= 2, "{}", out.dump());
    for i in warnings {
        assert!(
            lines
                .get(i + 1)
                .is_some_and(|l| l.starts_with("  what to do: ")),
            "a warning without what to do: {:?}\n{}",
            lines[i],
            out.dump()
        );
    }
}
