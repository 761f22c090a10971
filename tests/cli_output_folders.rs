//! Checks before the first prompt (issue 8, item 6): every output's folder exists and can be
//! written before any PIN or password is asked. Each run here has no password file, no
//! `CUSTODY_PIN` and no terminal (`setsid`): had custody reached a prompt, it would have failed
//! there, with another message.
//!
//! The tests run as root, for whom permissions do not stop a write: the read-only folder is
//! made immutable with `chattr +i` (refused even to root; needs a filesystem with that flag,
//! as ext4, xfs or btrfs, for the temporary directory).

mod common;

use std::path::PathBuf;

use common::cli::{Env, WEAK_KDF, exit, uri};

/// A folder made immutable for the length of a test (and made mutable again after).
struct Immutable(PathBuf);

impl Immutable {
    fn new(env: &Env, rel: &str) -> Immutable {
        let p = env.path(rel);
        std::fs::create_dir_all(&p).expect("mkdir");
        env.tool("chattr", "e2fsprogs", &["+i", p.to_str().expect("UTF-8")]);
        Immutable(p)
    }
}

impl Drop for Immutable {
    fn drop(&mut self) {
        let _ = std::process::Command::new("chattr")
            .arg("-i")
            .arg(&self.0)
            .status();
    }
}

/// A token with an AES key, a secret and a single backup `b.cb` of it.
fn world(name: &str) -> Env {
    let env = Env::new(name);
    env.init_token(&format!("{name}-tok"));
    env.keygen(&format!("{name}-tok"), "k", "aes");
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri(&format!("{name}-tok"), "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    env
}

/// Run with nothing to answer a prompt: no password file, no PIN, no terminal.
fn run_unanswered(env: &Env, args: &[String]) -> common::cli::Out {
    env.run_setsid(args, &[("CUSTODY_PIN", None), ("CUSTODY_PASSWORD", None)])
}

/// Failed on the folder, before anything was asked: no login, no password, no hint.
#[track_caller]
fn refused_before_any_prompt(out: &common::cli::Out, code: i32, folder: &str, what: &str) {
    out.code(code)
        .error_has(&[&format!("the folder {folder} {what}"), "nothing was asked"])
        .stderr_lacks(&["logging in", "assword", "PIN", "Share of"]);
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn backup_to_a_missing_or_read_only_folder_asks_nothing() {
    let env = world("of-bk");
    let tok = uri("of-bk-tok", "k");
    let missing = env.p("missing");
    let mut a = args(&["backup", "--secret", &env.p("secret.bin"), "--token", &tok]);
    a.extend(args(&["--out", &env.p("missing/n.cb"), "--single-token"]));
    a.extend(args(&WEAK_KDF));
    let out = run_unanswered(&env, &a);
    refused_before_any_prompt(&out, exit::USAGE, &missing, "does not exist");

    let _ro = Immutable::new(&env, "ro");
    let ro = env.p("ro");
    let mut a = args(&["backup", "--secret", &env.p("secret.bin"), "--token", &tok]);
    a.extend(args(&["--out", &env.p("ro/n.cb"), "--single-token"]));
    a.extend(args(&WEAK_KDF));
    let out = run_unanswered(&env, &a);
    refused_before_any_prompt(&out, exit::OTHER, &ro, "is not writable");

    // A split whose second share's folder is missing: nobody is asked either.
    let mut a = args(&["backup", "--secret", &env.p("secret.bin"), "--token", &tok]);
    a.extend(args(&[
        "--out",
        &env.p("s1.cb"),
        "--out",
        &env.p("missing/s2.cb"),
        "--threshold",
        "2",
        "--allow-same-device",
    ]));
    a.extend(args(&WEAK_KDF));
    let out = run_unanswered(&env, &a);
    refused_before_any_prompt(&out, exit::USAGE, &missing, "does not exist");
    env.assert_absent("s1.cb");

    // A file where the folder should be.
    env.write("plain", b"x");
    let mut a = args(&["backup", "--secret", &env.p("secret.bin"), "--token", &tok]);
    a.extend(args(&["--out", &env.p("plain/n.cb"), "--single-token"]));
    a.extend(args(&WEAK_KDF));
    run_unanswered(&env, &a)
        .code(exit::USAGE)
        .error_has(&["is not a folder"])
        .stderr_lacks(&["logging in", "assword"]);
}

#[test]
fn restore_and_generate_to_a_missing_or_read_only_folder_ask_nothing() {
    let env = world("of-rs");
    let missing = env.p("missing");
    let a = args(&["restore", &env.p("b.cb"), "--out", &env.p("missing/r.bin")]);
    let out = run_unanswered(&env, &a);
    refused_before_any_prompt(&out, exit::USAGE, &missing, "does not exist");

    let _ro = Immutable::new(&env, "ro");
    let ro = env.p("ro");
    let a = args(&["restore", &env.p("b.cb"), "--out", &env.p("ro/r.bin")]);
    let out = run_unanswered(&env, &a);
    refused_before_any_prompt(&out, exit::OTHER, &ro, "is not writable");

    let a = args(&["generate", "--out", &env.p("missing/g.bin")]);
    run_unanswered(&env, &a)
        .code(exit::USAGE)
        .error_has(&[&format!("the folder {missing} does not exist")]);
    let a = args(&["generate", "--out", &env.p("ro/g.bin")]);
    run_unanswered(&env, &a)
        .code(exit::OTHER)
        .error_has(&[&format!("the folder {ro} is not writable")]);
}

#[test]
fn rewrap_to_a_missing_or_read_only_folder_asks_nothing() {
    let env = world("of-rw");
    let missing = env.p("missing");
    let a = args(&[
        "rewrap",
        &env.p("b.cb"),
        "--hint",
        "new",
        "--out",
        &env.p("missing/w.cb"),
    ]);
    let out = run_unanswered(&env, &a);
    refused_before_any_prompt(&out, exit::USAGE, &missing, "does not exist");

    let _ro = Immutable::new(&env, "ro");
    let ro = env.p("ro");
    let a = args(&[
        "rewrap",
        &env.p("b.cb"),
        "--hint",
        "new",
        "--out",
        &env.p("ro/w.cb"),
    ]);
    let out = run_unanswered(&env, &a);
    refused_before_any_prompt(&out, exit::OTHER, &ro, "is not writable");
}

/// "Wasted ceremonies": reshare failed on a missing output folder after two officers typed
/// and a PIN was used. Now it fails before any password or PIN.
#[test]
fn reshare_to_a_missing_or_read_only_folder_asks_nothing() {
    let env = world("of-rsh");
    let tok = uri("of-rsh-tok", "k");
    let missing = env.p("missing");
    let reshare = |out2: &str| {
        let mut a = args(&["reshare", &env.p("b.cb"), "--threshold", "2"]);
        a.extend(args(&["--out", &env.p("n1.cb"), "--out", out2]));
        a.extend(args(&["--token", &tok, "--allow-same-device"]));
        a.extend(args(&WEAK_KDF));
        run_unanswered(&env, &a)
    };
    let out = reshare(&env.p("missing/n2.cb"));
    refused_before_any_prompt(&out, exit::USAGE, &missing, "does not exist");
    env.assert_absent("n1.cb");

    let _ro = Immutable::new(&env, "ro");
    let ro = env.p("ro");
    let out = reshare(&env.p("ro/n2.cb"));
    refused_before_any_prompt(&out, exit::OTHER, &ro, "is not writable");
    env.assert_absent("n1.cb");
}
