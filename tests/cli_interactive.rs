//! Interactive or not (issue 8, item 13): custody asks a question only when standard input is a
//! terminal and the controlling terminal opens. And plug it in when asked (item 14): an absent
//! token is waited for on a terminal, and reported at once otherwise.
//!
//! SoftHSM2 reads its token directory only at C_Initialize, so while it waits custody finalises
//! and initialises the module again at each look (when it has no session open on it): a token
//! initialised, or moved into the token directory, by another process is then taken.

mod common;

use std::fs::File;
use std::time::{Duration, Instant};

use common::cli::{Env, exit, replace_line, uri};
use common::pty::Pty;

/// A file that is just there, to stand for standard input redirected from a file.
fn stdin_file(env: &Env) -> File {
    env.write("stdin.txt", b"y\n");
    File::open(env.path("stdin.txt")).unwrap()
}

/// A token with an AES key and a backup `b.cb` of it with a hint.
fn backed_up(env: &Env, token: &str) {
    env.init_token(token);
    env.keygen(token, "k", "aes");
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri(token, "k")],
        "b.cb",
        &["--single-token", "--hint", "blue"],
    )
    .ok();
}

#[test]
fn with_standard_input_redirected_the_cost_question_is_not_asked() {
    let env = Env::new("inter-cost");
    backed_up(&env, "inter-tok");
    let b = env.read("b.cb");
    let b = replace_line(&b, "kdf-memory:", "kdf-memory: 262144");
    let b = replace_line(&b, "kdf-iterations:", "kdf-iterations: 13");
    env.write("passes.cb", &b);
    let mut c = env.command();
    c.args(["verify", &env.p("passes.cb")]);
    // "y" waits on standard input: a question read from it would go on.
    let pty = Pty::spawn_with_stdin(c, stdin_file(&env));
    let (code, screen) = pty.finish();
    assert_eq!(code, exit::USAGE, "{screen}");
    assert!(!screen.contains("[y/N]"), "{screen}");
    assert!(screen.contains("--max-kdf-iterations 13"), "{screen}");
    assert!(!screen.contains("Password"), "{screen}");
}

#[test]
fn with_standard_input_redirected_a_label_only_token_is_not_asked_for_its_pin() {
    let env = Env::new("inter-label");
    backed_up(&env, "twin");
    let other = Env::new("inter-label-1");
    other.init_token("twin");
    other.write("b.cb", &env.read("b.cb"));
    let args = [
        "restore".to_string(),
        other.p("b.cb"),
        "--out".into(),
        other.p("r.bin"),
        "--password-file".into(),
        other.password_file(),
    ];
    let mut c = other.command();
    c.args(&args);
    let pty = Pty::spawn_with_stdin(c, stdin_file(&other));
    let (code, screen) = pty.finish();
    assert_eq!(code, exit::NOT_FOUND, "{screen}");
    assert!(screen.contains("label only"), "{screen}");
    assert!(!screen.contains("PIN for"), "{screen}");
    other.assert_absent("r.bin");
    // On the terminal the same question is asked.
    let mut c = other.command();
    c.args(&args);
    let mut pty = Pty::spawn(c);
    skip_fingerprint_question(&mut pty);
    pty.expect("PIN for token \"twin\"");
    pty.send("");
    let (code, screen) = pty.finish();
    assert_eq!(code, exit::NOT_FOUND, "{screen}");
    other.assert_absent("r.bin");
}

/// Ctrl-C on the terminal ends the wait: exit 130 (128 + SIGINT), nothing written.
fn interrupt(mut pty: Pty) -> String {
    std::thread::sleep(Duration::from_millis(800));
    pty.send("\x03");
    let (code, screen) = pty.finish();
    assert_eq!(code, 130, "stopped by SIGINT\n{screen}");
    assert!(screen.contains("stopped by SIGINT (Ctrl-C)"), "{screen}");
    screen
}

#[test]
fn an_absent_named_token_is_waited_for_on_a_terminal_and_refused_at_once_otherwise() {
    let env = Env::new("inter-wait-named");
    backed_up(&env, "here");
    let args = [
        "restore".to_string(),
        env.p("b.cb"),
        "--out".into(),
        env.p("r.bin"),
        "--password-file".into(),
        env.password_file(),
        "--token".into(),
        "pkcs11:token=Vault%20HSM".into(),
    ];
    let mut c = env.command();
    c.args(&args);
    let mut pty = Pty::spawn(c);
    skip_fingerprint_question(&mut pty);
    pty.expect("Insert token \"Vault HSM\" — waiting; Ctrl-C to stop");
    interrupt(pty);
    env.assert_absent("r.bin");

    // Standard input redirected: exit 4 at once, as without a terminal.
    let mut c = env.command();
    c.args(&args);
    let start = Instant::now();
    let pty = Pty::spawn_with_stdin(c, stdin_file(&env));
    let (code, screen) = pty.finish();
    assert_eq!(code, exit::NOT_FOUND, "{screen}");
    assert!(!screen.contains("Insert"), "{screen}");
    // The cause first (issue 8, item 8): no token with that label, and what is present.
    assert!(
        screen.contains("no token labelled \"Vault HSM\""),
        "{screen}"
    );
    assert!(start.elapsed() < Duration::from_secs(20));
    let out = env.run(&args);
    out.code(exit::NOT_FOUND);
    out.stderr_lacks(&["Insert"]);
}

#[test]
fn a_file_whose_tokens_are_all_absent_is_waited_for_on_a_terminal() {
    let env = Env::new("inter-wait-file");
    backed_up(&env, "gone");
    let serial = env.serial_of("gone");
    // Another machine, with no token at all.
    let other = Env::new("inter-wait-file-1");
    let pty = restore_waiting(&env, &other, "gone", &serial);
    interrupt(pty);
    other.assert_absent("r.bin");
    // Not interactive: exit 4 at once.
    let out = other.restore("b.cb", "r.bin", &[]);
    out.code(exit::NOT_FOUND);
    out.stderr_lacks(&["Insert"]);
}

/// `env`'s `b.cb` restored on `other`, at a terminal, once custody says it waits for the
/// token labelled `label` with serial `serial` (absent from `other`).
fn restore_waiting(env: &Env, other: &Env, label: &str, serial: &str) -> Pty {
    other.write("b.cb", &env.read("b.cb"));
    let mut c = other.command();
    c.args([
        "restore",
        &other.p("b.cb"),
        "--out",
        &other.p("r.bin"),
        "--password-file",
        &other.password_file(),
    ]);
    let mut pty = Pty::spawn(c);
    skip_fingerprint_question(&mut pty);
    pty.expect(&format!(
        "Insert token \"{label}\" (serial {serial}) — waiting; Ctrl-C to stop"
    ));
    pty
}

/// A restore at a terminal without --record or --expect-fingerprint first asks for the first
/// digits of the fingerprint (issue 8, item 2); these tests are about what follows.
fn skip_fingerprint_question(pty: &mut Pty) {
    pty.expect("as written in your ceremony record (or \"skip\")? ");
    pty.send("skip");
}

#[test]
fn a_token_initialised_by_another_process_while_custody_waits_is_taken() {
    let env = Env::new("inter-plug-init");
    let mut c = env.command();
    c.args([
        "token",
        "keygen",
        "--token",
        "pkcs11:token=New%20HSM;object=k",
        "--type",
        "aes",
    ]);
    let mut pty = Pty::spawn(c);
    pty.expect("Insert token \"New HSM\" — waiting; Ctrl-C to stop");
    std::thread::sleep(Duration::from_millis(600));
    // softhsm2-util, another process, initialises the token custody waits for.
    env.init_token("New HSM");
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    // The key was made on the token that appeared: a backup to it now works.
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("New%20HSM", "k")],
        "b.cb",
        &["--single-token", "--hint", "blue"],
    )
    .ok();
}

#[test]
fn a_file_waits_for_its_token_and_restores_once_it_is_plugged_in() {
    let env = Env::new("inter-plug-file");
    backed_up(&env, "roaming");
    let secret = env.read("secret.bin");
    let serial = env.serial_of("roaming");
    // The ceremony machine, with no token until the admin plugs it in.
    let other = Env::new("inter-plug-file-1");
    let pty = restore_waiting(&env, &other, "roaming", &serial);
    std::thread::sleep(Duration::from_millis(600));
    other.plug_in_token_from(&env, "roaming");
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(other.read("r.bin"), secret, "{screen}");
}

#[test]
fn a_wrong_token_plugged_in_is_named_and_the_wait_goes_on() {
    let env = Env::new("inter-plug-wrong");
    let mut c = env.command();
    c.args([
        "token",
        "keygen",
        "--token",
        "pkcs11:token=Right;object=k",
        "--type",
        "aes",
    ]);
    let mut pty = Pty::spawn(c);
    pty.expect("Insert token \"Right\" — waiting; Ctrl-C to stop");
    std::thread::sleep(Duration::from_millis(600));
    let wrong = env.init_token("Wrong");
    pty.expect(&format!(
        "warning: token \"Wrong\" (serial {wrong}) is not the one needed\r\n  what to do: \
         insert token \"Right\": custody is still waiting (Ctrl-C to stop)"
    ));
    env.init_token("Right");
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
}
