//! Progress during Argon2id (issue 8, item 10): at a terminal a line with the elapsed and the
//! expected time, redrawn in place while the run goes on; nothing of it when not at a terminal.

mod common;

use common::cli::{Env, assert_restored, exit, uri};
use common::pty::Pty;

/// Argon2id slow enough here (about half a second) to outlast one progress tick (250 ms).
const SLOW_KDF: [&str; 7] = [
    "--kdf-memory",
    "256",
    "--kdf-iterations",
    "3",
    "--kdf-parallelism",
    "1",
    "--allow-weak-kdf",
];

/// `backup` of a fresh secret under a fresh token, with the test password file and SLOW_KDF.
fn backup_args(env: &Env, out: &str) -> Vec<String> {
    let mut args: Vec<String> = vec![
        "backup".into(),
        "--secret".into(),
        env.p("secret.bin"),
        "--token".into(),
        uri("prog-tok", "k"),
        "--single-token".into(),
        "--out".into(),
        env.p(out),
        "--password-file".into(),
        env.password_file(),
    ];
    args.extend(SLOW_KDF.iter().map(|s| s.to_string()));
    args
}

#[test]
fn a_slow_argon2id_shows_progress_at_a_terminal_and_nothing_otherwise() {
    let env = Env::new("progress");
    env.init_token("prog-tok");
    env.keygen("prog-tok", "k", "aes");
    env.secret("secret.bin", 32);

    let mut c = env.command();
    c.args(backup_args(&env, "tty.cb"));
    let (code, screen) = Pty::spawn(c).finish();
    assert_eq!(code, exit::OK, "{screen}");
    assert!(screen.contains("s elapsed"), "{screen}");
    assert!(screen.contains("s expected"), "{screen}");
    // Redrawn in place, and erased when the run ends.
    assert!(screen.contains("\r"), "{screen:?}");
    assert!(screen.contains("\x1b[K"), "{screen:?}");

    let out = env.run(backup_args(&env, "pipe.cb"));
    out.code(exit::OK);
    out.stderr_lacks(&["elapsed", "expected", "\x1b["]);

    // --quiet: at a terminal too, no progress.
    let mut c = env.command();
    c.args(backup_args(&env, "quiet.cb")).arg("--quiet");
    let (code, screen) = Pty::spawn(c).finish();
    assert_eq!(code, exit::OK, "{screen}");
    assert!(!screen.contains("elapsed"), "{screen}");
    assert!(!screen.contains("\x1b[K"), "{screen:?}");
}

#[test]
fn a_split_backup_whose_officer_runs_go_in_the_background_opens() {
    // Each officer's Argon2id runs while the next one's password is read: the files it makes
    // must open as any others do, with the right officer's password.
    let env = Env::new("progress-split");
    env.init_token("prog-tok");
    env.keygen("prog-tok", "k", "aes");
    let secret = env.secret("secret.bin", 32);
    let officers = ["alice", "bob", "carol"];
    let mut args: Vec<String> = vec![
        "backup".into(),
        "--secret".into(),
        env.p("secret.bin"),
        "--threshold".into(),
        "2".into(),
        "--token".into(),
        uri("prog-tok", "k"),
        "--single-token".into(),
        "--allow-same-device".into(),
    ];
    for o in officers {
        let pw = format!("pw-{o}");
        env.write(&pw, format!("the password of {o}\n").as_bytes());
        args.extend([
            "--out".into(),
            env.p(&format!("{o}.cb")),
            "--officer".into(),
            o.into(),
            "--password-file".into(),
            env.p(&pw),
        ]);
    }
    args.extend(SLOW_KDF.iter().map(|s| s.to_string()));
    let mut c = env.command();
    c.args(&args);
    let (code, screen) = Pty::spawn(c).finish();
    assert_eq!(code, exit::OK, "{screen}");
    assert!(screen.contains("s elapsed"), "{screen}");

    let out = env.run([
        "restore".to_string(),
        env.p("carol.cb"),
        env.p("alice.cb"),
        "--out".into(),
        env.p("r.bin"),
        "--password-file".into(),
        env.p("pw-carol"),
        "--password-file".into(),
        env.p("pw-alice"),
    ]);
    out.ok();
    assert_restored(&env, "r.bin", &secret);
    out.stderr_lacks(&["elapsed"]);
}
