//! Token faults in the middle of an operation (issue 9, item 8): the key deleted by another
//! process, or the token pulled out, after custody found the key and before it used it. Each is
//! named as what it is — never as a wrong password or a wrong key — and leaves nothing behind.
//! The pause between finding and using the key is the `fault-injection` seam
//! `CUSTODY_FAULT_PAUSE=token-use`, released by `CUSTODY_FAULT_RESUME`.

#[cfg(not(feature = "fault-injection"))]
compile_error!(
    "run the tests with `--features internals,fault-injection` (softhsm-config/test.sh does)"
);

mod common;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use common::cli::{Env, Out, exit, run_command, uri};

/// Run custody with `args`, paused just before it uses a token key; `act` runs during the
/// pause, then custody goes on.
fn with_pause(env: &Env, args: &[String], act: impl FnOnce()) -> Out {
    let resume = env.path("resume");
    let marker = env.path("resume.paused");
    let mut c = env.command();
    c.args(args)
        .env("CUSTODY_FAULT_PAUSE", "token-use")
        .env("CUSTODY_FAULT_RESUME", &resume)
        .stdin(Stdio::null());
    let waiter = std::thread::spawn(move || run_command(c));
    let start = Instant::now();
    while !marker.exists() {
        assert!(
            start.elapsed() < Duration::from_secs(60) && !waiter.is_finished(),
            "custody did not reach the token-use pause"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    act();
    std::fs::write(&resume, b"").unwrap();
    waiter.join().expect("custody ran")
}

fn backup_args(env: &Env, token: &str) -> Vec<String> {
    let mut v: Vec<String> = vec![
        "backup".into(),
        "--secret".into(),
        env.p("secret.bin"),
        "--token".into(),
        uri(token, "k"),
        "--out".into(),
        env.p("b.cb"),
        "--password-file".into(),
        env.password_file(),
        "--single-token".into(),
    ];
    v.extend(common::cli::WEAK_KDF.iter().map(|s| s.to_string()));
    v
}

fn restore_args(env: &Env) -> Vec<String> {
    vec![
        "restore".into(),
        env.p("b.cb"),
        "--out".into(),
        env.p("r.bin"),
        "--password-file".into(),
        env.password_file(),
    ]
}

/// Delete the key labelled `k` from `token`, as another process would.
fn delete_key(env: &Env, token: &str, kind: &str) {
    env.pkcs11_tool(token, &["--delete-object", "--type", kind, "--label", "k"]);
}

/// Take the token's directory out of the token folder: the token is unplugged.
fn unplug(env: &Env) {
    let out = env.path("unplugged");
    std::fs::create_dir_all(&out).unwrap();
    for e in std::fs::read_dir(env.path("tokens")).unwrap() {
        let e = e.unwrap();
        std::fs::rename(e.path(), out.join(e.file_name())).unwrap();
    }
}

fn prepared(name: &str, token: &str, kind: &str) -> Env {
    let env = Env::new(name);
    env.init_token(token);
    env.keygen(token, "k", kind);
    env.secret("secret.bin", 32);
    env
}

fn not_blamed_on_the_password(out: &Out) {
    assert_ne!(out.code, exit::AUTH, "{}", out.dump());
    out.stderr_lacks(&[
        "the password is wrong",
        "the password or the token key is wrong",
        "another key than",
    ]);
}

/// A restore whose key went away: exit 4, saying so and naming the key.
fn went_away(out: &Out, token: &str) {
    out.code(exit::NOT_FOUND).error_has(&[
        "the token or key this file needs went away while custody was using it",
        &format!("on token \"{token}\""),
        "the key is no longer on the token",
    ]);
}

fn nothing_at(env: &Env, rel: &str) {
    env.assert_absent(rel);
    assert!(!Path::new(&env.p(rel)).exists());
}

#[test]
fn a_key_deleted_during_a_backup() {
    for kind in ["aes", "p256"] {
        let token = format!("del-b-{kind}");
        let env = prepared(&format!("del-backup-{kind}"), &token, kind);
        let t = if kind == "aes" { "secrkey" } else { "privkey" };
        let out = with_pause(&env, &backup_args(&env, &token), || {
            delete_key(&env, &token, t)
        });
        out.code(exit::NOT_FOUND).error_has(&[
            "key \"k\"",
            &format!("on token \"{token}\""),
            "the key is no longer on the token: another program deleted it",
        ]);
        // Not advice to make another key: the one given was fine until it went away.
        out.stderr_lacks(&["cannot protect a backup"]);
        not_blamed_on_the_password(&out);
        nothing_at(&env, "b.cb");
    }
}

#[test]
fn a_key_deleted_during_a_restore() {
    for kind in ["aes", "p256"] {
        let token = format!("del-r-{kind}");
        let env = prepared(&format!("del-restore-{kind}"), &token, kind);
        env.run(backup_args(&env, &token)).ok();
        let t = if kind == "aes" { "secrkey" } else { "privkey" };
        let out = with_pause(&env, &restore_args(&env), || delete_key(&env, &token, t));
        went_away(&out, &token);
        not_blamed_on_the_password(&out);
        nothing_at(&env, "r.bin");
    }
}

#[test]
fn a_token_pulled_out_during_a_restore() {
    for kind in ["aes", "p256"] {
        let token = format!("pull-r-{kind}");
        let env = prepared(&format!("pull-restore-{kind}"), &token, kind);
        env.run(backup_args(&env, &token)).ok();
        let out = with_pause(&env, &restore_args(&env), || unplug(&env));
        went_away(&out, &token);
        not_blamed_on_the_password(&out);
        nothing_at(&env, "r.bin");
    }
}
