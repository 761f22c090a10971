//! Checks before the first PIN (issue 8, item 6): every token an operation names is present,
//! a key URI names a key, a public-key file reads and a YubiKey slot holds a key (tests/piv.rs)
//! before any PIN is asked — so that nobody types a PIN for the first token of an operation that
//! then fails on the second. Each run here has no `CUSTODY_PIN`, no password and no terminal
//! (`setsid`): had custody reached a PIN or password prompt, it would have failed there, with
//! another message.

mod common;

use common::cli::{Env, Out, WEAK_KDF, exit, uri};

/// A token `<name>-tok` with an AES key `k`, a secret and a single backup `b.cb` of it.
fn world(name: &str) -> Env {
    let env = Env::new(name);
    let tok = format!("{name}-tok");
    env.init_token(&tok);
    env.keygen(&tok, "k", "aes");
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri(&tok, "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    env
}

fn run_unanswered(env: &Env, args: &[String]) -> Out {
    env.run_setsid(args, &[("CUSTODY_PIN", None), ("CUSTODY_PASSWORD", None)])
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// Refused with `code` and `first`, and nothing was asked: no login, no PIN, no password.
#[track_caller]
fn refused_before_any_pin(out: &Out, code: i32, first: &str) {
    out.code(code).error_has(&[first]).stderr_lacks(&[
        "logging in",
        "PIN for",
        "Password hint",
        "is needed, but there is no terminal to ask on",
    ]);
}

fn backup_args(env: &Env, tokens: &[&str], out: &str) -> Vec<String> {
    let mut a = args(&["backup", "--secret", &env.p("secret.bin")]);
    for t in tokens {
        a.extend(args(&["--token", t]));
    }
    a.extend(args(&["--out", &env.p(out)]));
    a.extend(args(&WEAK_KDF));
    a
}

#[test]
fn a_backup_whose_second_token_is_absent_asks_no_pin_for_the_first() {
    let env = world("bp-bk");
    let first = uri("bp-bk-tok", "k");
    let out = run_unanswered(
        &env,
        &backup_args(&env, &[&first, "pkcs11:token=Absent;object=k"], "n.cb"),
    );
    refused_before_any_pin(&out, exit::NOT_FOUND, "no token labelled \"Absent\"");
    env.assert_absent("n.cb");

    // A second URI that names no key, and a public-key file that is not there.
    let out = run_unanswered(
        &env,
        &backup_args(&env, &[&first, "pkcs11:token=bp-bk-tok"], "n.cb"),
    );
    refused_before_any_pin(&out, exit::NOT_FOUND, "names no key");
    let missing = format!("pubkey:{}", env.p("missing.pub"));
    let out = run_unanswered(&env, &backup_args(&env, &[&first, &missing], "n.cb"));
    refused_before_any_pin(&out, exit::NOT_FOUND, "cannot read the public-key file");
    env.assert_absent("n.cb");

    // The control: with the PIN and password given, the same first token makes the backup (so
    // what stopped the runs above was the second token, not the first).
    let mut a = backup_args(&env, &[&first], "n.cb");
    a.extend(args(&[
        "--password-file",
        &env.password_file(),
        "--single-token",
    ]));
    env.run(&a).ok();
}

#[test]
fn a_reshare_whose_new_token_is_absent_asks_nothing_of_the_old_set() {
    let env = world("bp-rs");
    let mut a = args(&["reshare", &env.p("b.cb"), "--threshold", "2"]);
    a.extend(args(&["--out", &env.p("n1.cb"), "--out", &env.p("n2.cb")]));
    a.extend(args(&["--token", "pkcs11:token=Absent;object=k"]));
    a.extend(args(&["--allow-same-device"]));
    a.extend(args(&WEAK_KDF));
    let out = run_unanswered(&env, &a);
    refused_before_any_pin(&out, exit::NOT_FOUND, "no token labelled \"Absent\"");
    env.assert_absent("n1.cb");
    env.assert_absent("n2.cb");
}

#[test]
fn a_new_password_with_a_kept_slot_whose_token_is_absent_asks_no_pin() {
    let env = world("bp-rw");
    env.init_token("bp-rw-two");
    env.keygen("bp-rw-two", "k", "aes");
    env.backup(
        "secret.bin",
        &[&uri("bp-rw-tok", "k"), &uri("bp-rw-two", "k")],
        "two.cb",
        &[],
    )
    .ok();
    // Another machine where only the first token is present.
    let other = Env::new("bp-rw-1");
    other.copy_token_from(&env, "bp-rw-tok");
    other.write("two.cb", &env.read("two.cb"));
    other.write("new-pw", b"another good password\n");
    let a = args(&[
        "rewrap",
        &other.p("two.cb"),
        "--out",
        &other.p("n.cb"),
        "--new-password-file",
        &other.p("new-pw"),
    ]);
    let out = run_unanswered(&other, &a);
    refused_before_any_pin(&out, exit::USAGE, "must be present to wrap its slot again");
    out.error_has(&["bp-rw-two", "--drop-token"]);
    other.assert_absent("n.cb");
    // Dropping that slot is the way on: then the present token is enough.
    let mut a = a.clone();
    a.extend(args(&[
        "--drop-token",
        "pkcs11:token=bp-rw-two",
        "--password-file",
        &other.password_file(),
    ]));
    other.run(&a).ok();
}
