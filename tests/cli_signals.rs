//! Signals at a prompt and during a write (issue 9, item 3): custody gives the terminal back
//! (echo on), says it was stopped, records the failure, leaves no temporary file, and exits
//! with 128 + the signal's number — as an exit code, not by dying from the signal.

mod common;

use std::time::{Duration, Instant};

use common::cli::{Env, WEAK_KDF, uri};
use common::pty::Pty;

/// A token with an AES key, a secret and a backup `b.cb` of it.
fn world(name: &str) -> Env {
    let env = Env::new(name);
    env.init_token("sig-tok");
    env.keygen("sig-tok", "k", "aes");
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("sig-tok", "k")],
        "b.cb",
        &["--single-token", "--hint", "blue"],
    )
    .ok();
    env
}

/// The fingerprint of `b.cb`, for `--expect-fingerprint`: the tests' prompts come after that
/// check, which at a terminal would otherwise ask for it first.
fn fingerprint(env: &Env) -> String {
    let v = common::cli::inspect_json(env, "b.cb");
    v["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .replace('-', "")
}

/// The files of the test's folder whose names contain `part`.
fn named(env: &Env, part: &str) -> Vec<String> {
    env.entries("")
        .into_iter()
        .filter(|n| n.contains(part))
        .collect()
}

#[test]
fn ctrl_c_at_the_password_prompt_gives_the_terminal_back_and_exits_130() {
    let env = world("sig-int");
    env.write("rec", b"");
    // The record knows nothing of this set: the expected fingerprint is given as a flag.
    let fp = fingerprint(&env);
    let mut c = env.command();
    c.args(["restore", &env.p("b.cb"), "--out", &env.p("r.bin")])
        .args(["--record", "rec", "--allow-record-on-medium"])
        .args(["--expect-fingerprint", &fp]);
    let mut pty = Pty::spawn_keeping_terminal(c);
    pty.expect("Password for ");
    assert!(!pty.echo_on(), "echo is off at the password prompt");
    pty.send_raw(b"\x03");
    let (code, screen) = pty.wait_end();
    assert_eq!(code, 130, "{screen}");
    assert!(pty.echo_on(), "echo is back on after Ctrl-C\n{screen}");
    assert!(screen.contains("stopped by SIGINT (Ctrl-C)"), "{screen}");
    env.assert_absent("r.bin");
    let rec = String::from_utf8(env.read("rec")).unwrap();
    let last = rec.lines().last().expect("a line");
    assert!(
        last.contains("\"outcome\":\"failed\"") && last.contains("\"exit\":130"),
        "{rec}"
    );
}

#[test]
fn sigterm_at_a_new_password_prompt_exits_143_with_nothing_written() {
    let env = world("sig-term");
    let mut c = env.command();
    c.args(["backup", "--secret", &env.p("secret.bin")])
        .args(["--token", &uri("sig-tok", "k"), "--single-token"])
        .args(["--out", &env.p("n.cb")])
        .args(WEAK_KDF);
    let mut pty = Pty::spawn_keeping_terminal(c);
    pty.expect("New password for ");
    pty.signal(libc::SIGTERM);
    let (code, screen) = pty.wait_end();
    assert_eq!(code, 143, "{screen}");
    assert!(pty.echo_on(), "{screen}");
    assert!(screen.contains("stopped by SIGTERM"), "{screen}");
    env.assert_absent("n.cb");
    assert!(named(&env, ".tmp-").is_empty(), "{:?}", env.entries(""));
}

#[test]
fn sigterm_during_a_write_removes_its_temporary_file() {
    let env = world("sig-write");
    let mut c = env.command();
    c.args(["backup", "--secret", &env.p("secret.bin")])
        .args(["--token", &uri("sig-tok", "k"), "--single-token"])
        .args([
            "--out",
            &env.p("n.cb"),
            "--password-file",
            &env.password_file(),
        ])
        .args(WEAK_KDF)
        .env("CUSTODY_FAULT_PAUSE", "sync-file");
    let pty = Pty::spawn(c);
    // The write is half done: its temporary file is there, the backup is not.
    let start = Instant::now();
    while named(&env, ".n.cb.tmp-").is_empty() {
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "no temporary file"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    env.assert_absent("n.cb");
    pty.signal(libc::SIGTERM);
    let (code, screen) = pty.finish();
    assert_eq!(code, 143, "{screen}");
    assert!(
        screen.contains("was stopped (interrupted) before it was moved into place"),
        "{screen}"
    );
    env.assert_absent("n.cb");
    assert!(named(&env, ".tmp-").is_empty(), "{:?}", env.entries(""));
}

#[test]
fn sighup_at_the_pin_prompt_exits_129_with_the_terminal_given_back() {
    let env = world("sig-hup");
    let fp = fingerprint(&env);
    let mut c = env.command();
    c.args(["restore", &env.p("b.cb"), "--out", &env.p("r.bin")])
        .args(["--expect-fingerprint", &fp])
        .env_remove("CUSTODY_PIN");
    let mut pty = Pty::spawn_keeping_terminal(c);
    pty.expect("PIN for token \"sig-tok\"");
    assert!(!pty.echo_on(), "echo is off at the PIN prompt");
    pty.signal(libc::SIGHUP);
    let (code, screen) = pty.wait_end();
    assert_eq!(code, 129, "{screen}");
    assert!(pty.echo_on(), "echo is back on after SIGHUP\n{screen}");
    assert!(screen.contains("stopped by SIGHUP"), "{screen}");
    assert!(!screen.contains("Password for "), "{screen}");
    env.assert_absent("r.bin");
    assert!(named(&env, ".tmp-").is_empty(), "{:?}", env.entries(""));
}
