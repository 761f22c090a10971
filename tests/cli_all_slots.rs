//! `custody verify --all-slots`: every slot of one file opened (one Argon2id, each token logged
//! in once), one line per slot, and an exit code that says whether every slot opened.

mod common;

use common::cli::{Env, exit, uri};

/// The P-256 key of token B is made with a fixed id, so that another key of the same label
/// and id can be made on a copy of the token taken before.
const KB_ID: &str = "%0b%0b";

fn uri_b(token: &str) -> String {
    format!("pkcs11:token={token};object=kb;id={KB_ID}")
}

/// A two-token backup (token A: AES key "ka", token B: P-256 key "kb") in `env`, and a copy of
/// token B taken before its key was made, in `blank_b` (same serial and label, no key).
fn two_token_backup(env: &Env, blank_b: &Env, a: &str, b: &str) {
    env.init_token(a);
    env.init_token(b);
    blank_b.copy_token_from(env, b);
    env.keygen(a, "ka", "aes");
    env.run(["token", "keygen", "--token", &uri_b(b), "--type", "p256"])
        .ok();
    env.secret("secret.bin", 32);
    env.backup("secret.bin", &[&uri(a, "ka"), &uri_b(b)], "b.cb", &[])
        .ok();
}

fn verify_all(env: &Env, extra: &[&str]) -> common::cli::Out {
    let mut args = vec![
        "verify".to_string(),
        "--all-slots".into(),
        env.p("b.cb"),
        "--password-file".into(),
        env.password_file(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    env.run(&args)
}

#[test]
fn every_slot_opens_with_both_tokens_present() {
    let env = Env::new("as-both");
    let blank = Env::new("as-both-blank");
    two_token_backup(&env, &blank, "asb-aaa", "asb-bbb");
    let out = verify_all(&env, &["--secret", &env.p("secret.bin")]);
    out.ok().stdout_has(&[
        "slot 1 (",
        "\"ka\"",
        "\"kb\"",
        "): opened",
        "every slot opens",
        "it holds exactly the secret",
    ]);
    assert_eq!(out.stdout.matches("): opened").count(), 2, "{}", out.dump());
    // One password for the file: one Argon2id opens both slots.
    assert_eq!(out.stderr.matches("Password hint").count(), 0);

    // It records like any verify.
    let rec = env.p("record.jsonl");
    env.write("record.jsonl", b"");
    let out = verify_all(&env, &["--record", &rec, "--allow-record-on-medium"]);
    out.ok();
    let line = String::from_utf8(env.read("record.jsonl")).expect("UTF-8 record");
    assert!(
        line.contains("asb-aaa") && line.contains("asb-bbb"),
        "{line}"
    );
}

#[test]
fn an_absent_token_is_named_and_exits_4() {
    let env = Env::new("as-absent");
    let blank = Env::new("as-absent-blank");
    two_token_backup(&env, &blank, "asa-aaa", "asa-bbb");
    // Another machine with token A only.
    let other = Env::new("as-absent-1");
    other.copy_token_from(&env, "asa-aaa");
    other.write("b.cb", &env.read("b.cb"));
    let out = verify_all(&other, &[]);
    out.code(exit::NOT_FOUND)
        .stdout_has(&["\"ka\"", "): opened", "\"kb\"", "): token absent"])
        .error_has(&["not every slot", "token absent"]);
    let slot2 = out
        .stdout
        .lines()
        .find(|l| l.starts_with("slot 2 "))
        .unwrap_or_default();
    assert!(slot2.ends_with("): token absent"), "{}", out.dump());

    // Neither token present: every slot absent, no password asked.
    let none = Env::new("as-absent-2");
    none.write("b.cb", &env.read("b.cb"));
    let out = none.run([
        "verify",
        "--all-slots",
        &none.p("b.cb"),
        "--password-file",
        "/nonexistent/password",
    ]);
    out.code(exit::NOT_FOUND);
    assert_eq!(
        out.stdout.matches("): token absent").count(),
        2,
        "{}",
        out.dump()
    );
}

#[test]
fn another_key_of_the_same_label_is_not_opened_and_exits_3() {
    let env = Env::new("as-other");
    let other = Env::new("as-other-1");
    two_token_backup(&env, &other, "aso-aaa", "aso-bbb");
    // The copy of token B (same serial and label) gets another P-256 key "kb" with the same id.
    other
        .run([
            "token",
            "keygen",
            "--token",
            &uri_b("aso-bbb"),
            "--type",
            "p256",
        ])
        .ok();
    other.copy_token_from(&env, "aso-aaa");
    other.write("b.cb", &env.read("b.cb"));
    let out = verify_all(&other, &[]);
    out.code(exit::AUTH)
        .stdout_has(&["\"ka\"", "): opened", "\"kb\"", "): not opened: "])
        .error_has(&["not every slot opens"]);
    let slot2 = out
        .stdout
        .lines()
        .find(|l| l.starts_with("slot 2 "))
        .unwrap_or_default();
    assert!(
        slot2.contains("not the one this slot names"),
        "{}",
        out.dump()
    );
}

#[test]
fn all_slots_takes_one_file() {
    let env = Env::new("as-usage");
    env.write("a.cb", b"x");
    env.write("b.cb", b"x");
    env.run(["verify", "--all-slots", &env.p("a.cb"), &env.p("b.cb")])
        .code(exit::USAGE)
        .error_has(&["one file at a time"]);
}
