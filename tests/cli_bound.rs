//! A restore bound to the ceremony record (issue 8, item 2): a file is compared with the
//! fingerprint the record holds for its set id, or with `--expect-fingerprint`, right after it
//! is read and before any token, PIN or password; with neither, a person at a terminal types
//! the fingerprint's first 8 digits, and a run without a terminal ends by saying that the
//! fingerprint is the file's own claim.
//!
//! The substitute used here is what anyone with a P-256 token's public key can make without
//! the token or its PIN: a complete backup of *another* secret (`backup --token pubkey:FILE`).

mod common;

use common::cli::{Env, Out, exit, inspect_json, uri};
use common::pty::Pty;

/// A P-256 token `tok` with key `k`, its public key in `key.pub`, the genuine secret's backup
/// `genuine.cb` (recorded in `rec.log`) and a substitute `forged.cb` of another secret, made
/// from the public key alone. The genuine secret, and each file's (set id, fingerprint).
struct World {
    env: Env,
    genuine_secret: Vec<u8>,
    genuine: (String, String),
    forged: (String, String),
}

fn set_and_fingerprint(env: &Env, file: &str) -> (String, String) {
    let v = inspect_json(env, file);
    (
        v["set_id"].as_str().expect("set_id").to_owned(),
        v["fingerprint_full"]
            .as_str()
            .expect("fingerprint_full")
            .to_owned(),
    )
}

fn world(name: &str) -> World {
    let env = Env::new(name);
    let tok = format!("{name}-tok");
    env.init_token(&tok);
    env.keygen(&tok, "k", "p256").ok();
    env.run([
        "token",
        "pubkey",
        "--token",
        &uri(&tok, "k"),
        "--out",
        &env.p("key.pub"),
    ])
    .ok();
    let genuine_secret = env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri(&tok, "k")],
        "genuine.cb",
        &[
            "--single-token",
            "--record",
            &env.p("rec.log"),
            "--allow-record-on-medium",
        ],
    )
    .ok();
    // The forger: another secret, the token's public key, no PIN, no record.
    env.secret("other.bin", 32);
    env.backup(
        "other.bin",
        &[&format!("pubkey:{}", env.p("key.pub"))],
        "forged.cb",
        &["--single-token"],
    )
    .ok();
    let genuine = set_and_fingerprint(&env, "genuine.cb");
    let forged = set_and_fingerprint(&env, "forged.cb");
    assert_ne!(genuine.1, forged.1);
    World {
        env,
        genuine_secret,
        genuine,
        forged,
    }
}

/// A restore with no terminal, no PIN and no password: anything asked would fail with its
/// own error, so an exit 5 naming the fingerprint shows the file was refused before.
fn restore_asking_nothing(env: &Env, file: &str, out: &str, extra: &[&str]) -> Out {
    let mut args: Vec<String> = vec!["restore".into(), env.p(file), "--out".into(), env.p(out)];
    args.extend(extra.iter().map(|s| s.to_string()));
    env.run_setsid(&args, &[("CUSTODY_PIN", None), ("CUSTODY_PASSWORD", None)])
}

#[track_caller]
fn refused_before_anything(out: &Out, env: &Env, written: &str) {
    out.code(exit::DAMAGED);
    out.stderr_lacks(&["PIN", "Password for", "hint"]);
    env.assert_absent(written);
}

fn with_record(env: &Env, rec: &str) -> Vec<String> {
    vec![
        "--record".into(),
        env.p(rec),
        "--allow-record-on-medium".into(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// `fingerprint` in 8 groups of 4, as custody prints it.
fn grouped(fingerprint: &str) -> String {
    let up = fingerprint.to_uppercase();
    up.as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join("-")
}

#[test]
fn the_record_and_an_expected_fingerprint_refuse_another_secrets_file_before_any_pin() {
    let w = world("bound-forged");
    let env = &w.env;
    let rec = with_record(env, "rec.log");

    // The record does not know the substitute's set id: refused, naming the record.
    let out = restore_asking_nothing(env, "forged.cb", "r.bin", &strs(&rec));
    refused_before_anything(&out, env, "r.bin");
    out.error_has(&[
        "rec.log",
        &w.forged.0,
        "no generate, backup, rewrap or reshare line",
    ]);

    // The fingerprint from the paper log: refused, naming the flag.
    let fp = grouped(&w.genuine.1);
    let out = restore_asking_nothing(
        env,
        "forged.cb",
        "r.bin",
        &["--expect-fingerprint", &fp.to_lowercase()],
    );
    refused_before_anything(&out, env, "r.bin");
    out.error_has(&["--expect-fingerprint", &grouped(&w.forged.1)]);

    // A record that gives the substitute's set id the genuine fingerprint (what it holds when
    // a forger copies the genuine set id): refused, naming the line.
    // Its first line, the genuine backup's (the refusal above added a second).
    let all = std::fs::read_to_string(env.path("rec.log")).unwrap();
    let text = all.split_inclusive('\n').next().unwrap();
    assert_eq!(text.matches(&w.genuine.0).count(), 1, "{text}");
    env.write(
        "copied.log",
        text.replace(&w.genuine.0, &w.forged.0).as_bytes(),
    );
    let out = restore_asking_nothing(
        env,
        "forged.cb",
        "r.bin",
        &strs(&with_record(env, "copied.log")),
    );
    refused_before_anything(&out, env, "r.bin");
    out.error_has(&["copied.log", "line 1", &grouped(&w.genuine.1)]);

    // The genuine file passes either check; the last line says which.
    let out = env.restore("genuine.cb", "r.bin", &strs(&rec));
    out.ok();
    assert_eq!(env.read("r.bin"), w.genuine_secret);
    out.stderr_has(&["is the one the ceremony record holds for this set"]);
    let out = env.restore(
        "genuine.cb",
        "r2.bin",
        &["--expect-fingerprint", &w.genuine.1],
    );
    out.ok();
    assert_eq!(env.read("r2.bin"), w.genuine_secret);
    out.stderr_has(&["is the one given with --expect-fingerprint"]);

    // Verify and rewrap are refused the same way; nothing written.
    let out = env.run_setsid(
        [
            "verify",
            &env.p("forged.cb"),
            "--expect-fingerprint",
            &w.genuine.1,
        ],
        &[("CUSTODY_PIN", None)],
    );
    out.code(exit::DAMAGED);
    out.stderr_lacks(&["PIN", "Password for"]);
    let out = env.run_setsid(
        [
            "rewrap",
            &env.p("forged.cb"),
            "--out",
            &env.p("re.cb"),
            "--hint",
            "h",
            "--expect-fingerprint",
            &w.genuine.1,
        ],
        &[("CUSTODY_PIN", None)],
    );
    refused_before_anything(&out, env, "re.cb");
}

#[test]
fn a_record_giving_one_set_id_two_fingerprints_or_none_is_refused_unless_a_fingerprint_is_given() {
    let w = world("bound-two");
    let env = &w.env;
    // Record the substitute too, then make its line claim the genuine set id: one set id,
    // two fingerprints (the last line's content is not covered by any later line's hash).
    env.backup(
        "other.bin",
        &[&format!("pubkey:{}", env.p("key.pub"))],
        "forged2.cb",
        &[
            "--single-token",
            "--record",
            &env.p("rec.log"),
            "--allow-record-on-medium",
        ],
    )
    .ok();
    let forged2 = set_and_fingerprint(env, "forged2.cb");
    let text = std::fs::read_to_string(env.path("rec.log")).unwrap();
    env.write("two.log", text.replace(&forged2.0, &w.genuine.0).as_bytes());
    env.run(["record", "verify", &env.p("two.log")]).ok();

    let out = restore_asking_nothing(
        env,
        "genuine.cb",
        "r.bin",
        &strs(&with_record(env, "two.log")),
    );
    refused_before_anything(&out, env, "r.bin");
    out.error_has(&["more than one fingerprint", "line 1", "line 2"]);

    // The fingerprint from the paper log decides.
    let mut args = with_record(env, "two.log");
    args.extend(["--expect-fingerprint".to_string(), w.genuine.1.clone()]);
    let out = env.restore("genuine.cb", "r.bin", &strs(&args));
    out.ok();
    assert_eq!(env.read("r.bin"), w.genuine_secret);
    let mut args = with_record(env, "two.log");
    args.extend(["--expect-fingerprint".to_string(), forged2.1.clone()]);
    let out = restore_asking_nothing(env, "genuine.cb", "r3.bin", &strs(&args));
    refused_before_anything(&out, env, "r3.bin");

    // A set id the record does not know: refused, unless the fingerprint is given.
    let out = restore_asking_nothing(
        env,
        "forged.cb",
        "r4.bin",
        &strs(&with_record(env, "rec.log")),
    );
    refused_before_anything(&out, env, "r4.bin");
    let mut args = with_record(env, "rec.log");
    args.extend(["--expect-fingerprint".to_string(), w.forged.1.clone()]);
    env.restore("forged.cb", "r4.bin", &strs(&args)).ok();
}

#[test]
fn a_16_digit_fingerprint_is_accepted_with_a_warning_and_a_wrong_length_is_a_usage_error() {
    let w = world("bound-short");
    let env = &w.env;
    let out = env.restore(
        "genuine.cb",
        "r.bin",
        &["--expect-fingerprint", &w.genuine.1[..16]],
    );
    out.ok().stderr_has(&["64 bits", "well-funded"]);
    let out = env.restore(
        "genuine.cb",
        "r2.bin",
        &["--expect-fingerprint", &w.genuine.1[..20]],
    );
    out.code(exit::USAGE);
    env.assert_absent("r2.bin");
}

#[test]
fn without_a_record_or_a_fingerprint_the_last_line_says_it_is_the_files_own_claim() {
    let w = world("bound-claim");
    let env = &w.env;
    let out = env.restore("genuine.cb", "r.bin", &[]);
    out.ok();
    // Not checked against anything: the last words are a warning, and what to do.
    let last: Vec<&str> = out.stderr.lines().rev().take(2).collect();
    assert_eq!(
        last,
        [
            "  what to do: compare it with the ceremony record".to_owned(),
            format!(
                "warning: fingerprint {} is this file's own claim",
                grouped(&w.genuine.1)
            )
        ],
        "{}",
        out.dump()
    );
    assert!(!out.all().contains("matches"), "{}", out.dump());
    // A rewrap records that its input was not checked; with the record, that it was.
    let out = env.run([
        "rewrap",
        &env.p("genuine.cb"),
        "--out",
        &env.p("re.cb"),
        "--hint",
        "h",
        "--password-file",
        &env.password_file(),
        "--record",
        &env.p("rec.log"),
        "--allow-record-on-medium",
    ]);
    out.ok();
    let text = std::fs::read_to_string(env.path("rec.log")).unwrap();
    let last: serde_json::Value = serde_json::from_str(text.lines().last().unwrap()).unwrap();
    assert_eq!(last["op"], "rewrap");
    assert_eq!(last["input_check"], "record", "{text}");
}

/// A restore of the genuine file at a terminal (PIN and password given), answering the
/// fingerprint question with `answer`.
fn restore_at_terminal(env: &Env, out: &str, answer: &str) -> (i32, String) {
    let mut c = env.command();
    c.args([
        "restore",
        &env.p("genuine.cb"),
        "--out",
        &env.p(out),
        "--password-file",
        &env.password_file(),
    ]);
    let mut pty = Pty::spawn(c);
    let full = pty.expect("(this file's own claim)");
    let question = pty.expect(
        "Type the first 8 characters of this fingerprint as written in your ceremony record \
         (or \"skip\")? ",
    );
    assert!(full < question);
    pty.send(answer);
    pty.finish()
}

#[test]
fn at_a_terminal_the_first_8_digits_are_asked_before_any_pin_and_decide() {
    let w = world("bound-pty");
    let env = &w.env;
    let first8 = &w.genuine.1[..8];

    let (code, screen) = restore_at_terminal(env, "right.bin", &first8.to_uppercase());
    assert_eq!(code, 0, "{screen}");
    assert_eq!(env.read("right.bin"), w.genuine_secret);
    assert!(
        screen.contains(&grouped(&w.genuine.1)),
        "all 128 bits shown:\n{screen}"
    );

    let wrong = if first8.starts_with('0') {
        "11111111"
    } else {
        "00000000"
    };
    let (code, screen) = restore_at_terminal(env, "wrong.bin", wrong);
    assert_eq!(code, exit::DAMAGED, "{screen}");
    assert!(!screen.contains("PIN for"), "{screen}");
    env.assert_absent("wrong.bin");

    let (code, screen) = restore_at_terminal(env, "empty.bin", "");
    assert_eq!(code, exit::OTHER, "{screen}");
    env.assert_absent("empty.bin");

    let (code, screen) = restore_at_terminal(env, "skip.bin", "skip");
    assert_eq!(code, 0, "{screen}");
    assert_eq!(env.read("skip.bin"), w.genuine_secret);
    assert!(
        screen.contains("warning: the fingerprint of") && screen.contains("not compared"),
        "{screen}"
    );
    assert!(screen.contains("is this file's own claim"), "{screen}");
}
