//! `--record FILE` (the ceremony record, docs/RECORD.md) end to end: which operations create
//! it, which refuse a missing or broken one before anything is asked, where it may live, what
//! a line holds, and `custody record verify` / `show`.

mod common;

use std::io::Write;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use common::cli::{Env, Out, PASSWORD, WEAK_KDF, assert_restored, exit, sha256_hex, uri};

/// A record path on another filesystem than the test's backups (tmpfs under /dev/shm, while
/// the backups are in the temp directory), removed afterwards.
struct OtherFs(PathBuf);

impl OtherFs {
    fn new(tag: &str) -> OtherFs {
        static N: AtomicU64 = AtomicU64::new(0);
        let p = PathBuf::from("/dev/shm").join(format!(
            "custody-record-{tag}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_file(&p);
        OtherFs(p)
    }
    fn p(&self) -> String {
        self.0.to_str().expect("UTF-8 path").to_owned()
    }
    fn lines(&self) -> Vec<serde_json::Value> {
        std::fs::read_to_string(&self.0)
            .expect("read the record")
            .lines()
            .map(|l| serde_json::from_str(l).expect("a record line is JSON"))
            .collect()
    }
}

impl Drop for OtherFs {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// Check that the two filesystems differ, or every "another filesystem" test means nothing.
fn assert_other_fs(env: &Env, rec: &OtherFs) {
    use std::os::unix::fs::MetadataExt;
    let a = std::fs::metadata(&env.dir).unwrap().dev();
    let b = std::fs::metadata(rec.0.parent().unwrap()).unwrap().dev();
    assert_ne!(
        a, b,
        "/dev/shm is on the test directory's filesystem: these tests need it elsewhere (tmpfs)"
    );
}

/// A token with an AES key, a 32-byte secret in `secret.bin` and its backup `b.cb`.
fn backed_up(env: &Env, tok: &str) -> (Vec<u8>, String, Out) {
    env.init_token(tok);
    env.keygen(tok, "k", "aes");
    let secret = env.secret("secret.bin", 32);
    let t = uri(tok, "k");
    let out = env.backup("secret.bin", &[&t], "b.cb", &["--single-token"]);
    out.ok();
    (secret, t, out)
}

/// The heads custody printed, in order.
fn heads(out: &Out) -> Vec<String> {
    out.stderr
        .lines()
        .filter_map(|l| l.strip_prefix("record head: "))
        .map(str::to_owned)
        .collect()
}

/// No prompt was reached: the library never showed the file, and nothing asked for a
/// password (with no password given and no terminal, a prompt would fail with its own error).
#[track_caller]
fn asked_nothing(out: &Out) {
    out.stderr_lacks(&["Backup ", "set id:", "hint", "password", "Password"]);
}

/// Runs without a controlling terminal, no password file and no CUSTODY_PASSWORD.
fn no_terminal(env: &Env, args: &[String]) -> Out {
    env.run_setsid(args, &[("CUSTODY_PASSWORD", None)])
}

/// `--expect-fingerprint` with the fingerprint of `file`: a record that does not know a file's
/// set id refuses it unless the fingerprint is given (tests/cli_bound.rs).
fn expect_fp(env: &Env, file: &str) -> [String; 2] {
    let v = common::cli::inspect_json(env, file);
    [
        "--expect-fingerprint".to_string(),
        v["fingerprint_full"]
            .as_str()
            .expect("fingerprint_full")
            .to_owned(),
    ]
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn backup_then_restore_append_two_lines_whose_heads_verify() {
    let env = Env::new("rec-chain");
    let rec = OtherFs::new("chain");
    assert_other_fs(&env, &rec);
    env.init_token("rec-chain-tok");
    env.keygen("rec-chain-tok", "k", "aes");
    let secret = env.secret("secret.bin", 32);
    let t = uri("rec-chain-tok", "k");
    // Backup creates the record (on another filesystem than the backup: no flag needed).
    let b = env.backup(
        "secret.bin",
        &[&t],
        "b.cb",
        &["--single-token", "--record", &rec.p()],
    );
    b.ok();
    let set_id = b.field("set id:");
    let mut printed = heads(&b);
    assert_eq!(printed.len(), 1, "{}", b.dump());
    assert!(!b.stdout.contains("record head"), "the head goes to stderr");
    let r = env.restore("b.cb", "r.bin", &["--record", &rec.p()]);
    r.ok();
    assert_restored(&env, "r.bin", &secret);
    printed.extend(heads(&r));
    assert_eq!(printed.len(), 2, "{}", r.dump());
    for h in &printed {
        assert_eq!(h.len(), 39, "8 groups of 4: {h}");
        assert_eq!(h.split('-').count(), 8, "{h}");
    }

    // Two lines, chained; each printed head is the SHA-256 of its line.
    let text = std::fs::read_to_string(&rec.0).unwrap();
    let raw: Vec<&str> = text.split_inclusive('\n').collect();
    assert_eq!(raw.len(), 2);
    for (line, head) in raw.iter().zip(&printed) {
        let want = sha256_hex(line.as_bytes())[..32].to_uppercase();
        assert_eq!(head.replace('-', ""), want);
    }
    let lines = rec.lines();
    assert_eq!(lines[0]["prev"], "0".repeat(64));
    assert_eq!(lines[1]["prev"], sha256_hex(raw[0].as_bytes()));
    assert_eq!(
        (&lines[0]["op"], &lines[0]["outcome"], &lines[0]["exit"]),
        (
            &serde_json::json!("backup"),
            &serde_json::json!("ok"),
            &serde_json::json!(0)
        )
    );
    assert_eq!(lines[1]["op"], "restore");
    assert_eq!(lines[1]["outcome"], "restored");
    let backup_bytes = env.read("b.cb");
    for (l, role) in [(&lines[0], "written"), (&lines[1], "read")] {
        let f = &l["files"][0];
        assert_eq!(f["role"], role);
        assert_eq!(f["path"], env.p("b.cb"));
        assert_eq!(f["sha256"], sha256_hex(&backup_bytes));
        assert_eq!(f["set"], set_id.as_str());
        assert_eq!(f["index"], 1);
        assert_eq!(l["tokens"][0]["kind"], "pkcs11-aes");
        assert_eq!(l["tokens"][0]["label"], "rec-chain-tok");
        assert_eq!(l["tokens"][0]["key_label"], "k");
        assert_eq!(l["kdf"]["memory_kib"], 8192);
        // All 128 bits of the fingerprint; the short form printed is its start.
        let fp = l["fingerprint"].as_str().unwrap();
        assert_eq!(fp.len(), 32);
        assert!(
            fp.to_uppercase()
                .starts_with(&b.field("fingerprint:").replace('-', "")),
            "{fp}"
        );
    }
    // Never the secret, in any form, nor the password or the PIN.
    for needle in [
        hex::encode(&secret),
        hex::encode_upper(&secret),
        PASSWORD.to_string(),
        common::cli::USER_PIN.to_string(),
    ] {
        assert!(!text.contains(&needle), "the record holds {needle:?}");
    }

    // `record verify` accepts the chain and each printed head, in any case, with or without
    // dashes, 16 digits or more; a head that is not there is exit 5.
    let v = env.run(["record", "verify", &rec.p()]);
    v.ok().stdout_has(&["2 line(s)", &printed[1]]);
    for (n, h) in printed.iter().enumerate() {
        let lower = h.to_lowercase();
        for given in [h.clone(), lower.replace('-', ""), lower[..19].to_string()] {
            env.run(["record", "verify", &rec.p(), "--head", &given])
                .ok()
                .stdout_has(&[&format!("is line {}", n + 1)]);
        }
    }
    env.run([
        "record",
        "verify",
        &rec.p(),
        "--head",
        "0000-0000-0000-0001",
    ])
    .code(exit::DAMAGED)
    .error_has(&["no line", "0000-0000-0000-0001"]);
    env.run(["record", "verify", &rec.p(), "--head", "12AB"])
        .code(exit::USAGE)
        .error_has(&["16 to 64"]);

    // `record show` prints a table of both lines.
    env.run(["record", "show", &rec.p()]).ok().stdout_has(&[
        "operation",
        "backup",
        "restore",
        "restored",
        &printed[0],
        &printed[1],
        &set_id,
        &env.p("b.cb"),
        "2 line(s); every line and the chain verify.",
    ]);
}

#[test]
fn creation_rules_per_operation() {
    let env = Env::new("rec-create");
    let (_, t, _) = backed_up(&env, "rec-create-tok");
    let pw = env.password_file();
    // Restore, verify and rewrap need the record to exist: exit 2 before any prompt.
    let missing = OtherFs::new("missing");
    for args in [
        vec!["restore", &env.p("b.cb"), "--out", &env.p("r.bin")],
        vec!["verify", &env.p("b.cb")],
        vec![
            "rewrap",
            &env.p("b.cb"),
            "--out",
            &env.p("b2.cb"),
            "--new-password",
        ],
    ] {
        let mut args = strings(&args);
        args.extend(strings(&["--record", &missing.p()]));
        let out = no_terminal(&env, &args);
        out.code(exit::USAGE)
            .error_has(&["does not exist", &missing.p()]);
        asked_nothing(&out);
        assert!(!missing.0.exists(), "{} was created", missing.p());
    }
    env.assert_absent("r.bin");
    env.assert_absent("b2.cb");

    // Generate, token keygen, backup and reshare make it when it is missing.
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "generate",
            strings(&["generate", "--out", &env.p("s2.bin")]),
        ),
        (
            "token-keygen",
            strings(&[
                "token",
                "keygen",
                "--token",
                &uri("rec-create-tok", "k2"),
                "--type",
                "p256",
            ]),
        ),
        ("backup", {
            let mut a = strings(&[
                "backup",
                "--secret",
                &env.p("secret.bin"),
                "--token",
                &t,
                "--single-token",
                "--out",
                &env.p("b3.cb"),
                "--password-file",
                &pw,
            ]);
            a.extend(strings(&WEAK_KDF));
            a
        }),
        ("reshare", {
            let mut a = strings(&[
                "reshare",
                &env.p("b.cb"),
                "--password-file",
                &pw,
                "--threshold",
                "2",
                "--out",
                &env.p("x.share"),
                "--out",
                &env.p("y.share"),
                "--new-password-file",
                &pw,
                "--token",
                &t,
                "--single-token",
                "--allow-same-device",
            ]);
            a.extend(strings(&WEAK_KDF));
            a.extend(expect_fp(&env, "b.cb"));
            a
        }),
    ];
    for (op, mut args) in cases {
        let rec = OtherFs::new(op);
        args.extend(strings(&["--record", &rec.p()]));
        let out = env.run(&args);
        out.ok();
        assert_eq!(heads(&out).len(), 1, "{}", out.dump());
        let lines = rec.lines();
        assert_eq!(lines.len(), 1, "{op}");
        assert_eq!(lines[0]["op"], op);
        assert_eq!(lines[0]["outcome"], "ok");
        env.run(["record", "verify", &rec.p()]).ok();
        match op {
            "generate" => {
                // All 128 bits; generate prints the first 64.
                let short =
                    out.stderr.split("Fingerprint: ").nth(1).unwrap()[..19].replace('-', "");
                let fp = lines[0]["fingerprint"].as_str().unwrap().to_uppercase();
                assert_eq!(fp.len(), 32);
                assert!(fp.starts_with(&short), "{fp} {short}");
                assert_eq!(lines[0]["files"], serde_json::json!([]));
            }
            "token-keygen" => {
                let tok = &lines[0]["tokens"][0];
                assert_eq!(tok["kind"], "pkcs11-p256");
                assert_eq!(tok["key_label"], "k2");
                assert_eq!(tok["key_hash"].as_str().map(str::len), Some(64));
            }
            "reshare" => {
                let files = lines[0]["files"].as_array().unwrap();
                let roles: Vec<&str> = files.iter().map(|f| f["role"].as_str().unwrap()).collect();
                assert_eq!(roles, ["read", "written", "written"]);
                assert_eq!(lines[0]["inputs"], serde_json::json!([files[0]["set"]]));
                assert_eq!(lines[0]["input_check"], "expected");
                assert_eq!(files[1]["set"], files[2]["set"]);
                assert_ne!(files[0]["set"], files[1]["set"]);
                assert_eq!(files[2]["index"], 2);
            }
            _ => {}
        }
    }

    // With the record there, restore, verify and rewrap add their line.
    let rec = OtherFs::new("existing");
    std::fs::write(&rec.0, b"").unwrap();
    let [ef, fp] = expect_fp(&env, "b.cb");
    env.run([
        "verify",
        &env.p("b.cb"),
        "--password-file",
        &pw,
        "--record",
        &rec.p(),
        &ef,
        &fp,
    ])
    .ok();
    let r = env.run([
        "rewrap",
        &env.p("b.cb"),
        "--out",
        &env.p("b4.cb"),
        "--password-file",
        &pw,
        "--kdf-memory",
        "16",
        "--allow-weak-kdf",
        "--record",
        &rec.p(),
        &ef,
        &fp,
    ]);
    r.ok();
    let lines = rec.lines();
    assert_eq!(lines.len(), 2);
    assert_eq!(lines[0]["op"], "verify");
    assert_eq!(lines[1]["op"], "rewrap");
    let files = lines[1]["files"].as_array().unwrap();
    assert_eq!(files.len(), 2);
    assert_eq!(files[0]["role"], "read");
    assert_eq!(files[1]["role"], "written");
    assert_eq!(files[1]["sha256"], sha256_hex(&env.read("b4.cb")));
    assert_eq!(files[0]["set"], files[1]["set"]);
    assert_eq!(lines[1]["inputs"], serde_json::json!([files[0]["set"]]));
    assert_eq!(lines[1]["input_check"], "expected");
    // The new file's parameters.
    assert_eq!(lines[1]["kdf"]["memory_kib"], 16 * 1024);
}

#[test]
fn a_broken_record_is_refused_before_any_prompt() {
    let env = Env::new("rec-broken");
    let (_, t, _) = backed_up(&env, "rec-broken-tok");
    let rec = OtherFs::new("good");
    std::fs::write(&rec.0, b"").unwrap();
    let pw = env.password_file();
    let [ef, fp] = expect_fp(&env, "b.cb");
    for _ in 0..3 {
        env.run([
            "verify",
            &env.p("b.cb"),
            "--password-file",
            &pw,
            "--record",
            &rec.p(),
            &ef,
            &fp,
        ])
        .ok();
    }
    let good = std::fs::read_to_string(&rec.0).unwrap();
    let raw: Vec<&str> = good.split_inclusive('\n').collect();
    assert_eq!(raw.len(), 3);
    let edited = raw[1].replace("\"op\":\"verify\"", "\"op\":\"backup\"");
    assert_ne!(edited, raw[1]);
    let broken: Vec<(&str, String, usize)> = vec![
        ("edited", [raw[0], &edited, raw[2]].concat(), 3),
        ("removed", [raw[0], raw[2]].concat(), 2),
        (
            "truncated",
            [raw[0], raw[1], &raw[2][..raw[2].len() / 2]].concat(),
            3,
        ),
        ("swapped", [raw[0], raw[2], raw[1]].concat(), 2),
    ];
    for (what, bytes, line) in broken {
        let bad = OtherFs::new(what);
        std::fs::write(&bad.0, &bytes).unwrap();
        let v = env.run(["record", "verify", &bad.p()]);
        v.code(exit::DAMAGED)
            .error_has(&[&format!("line {line} is broken")]);
        env.run(["record", "show", &bad.p()])
            .code(exit::DAMAGED)
            .error_has(&[&format!("line {line} is broken")]);
        // Restore, verify and rewrap stop before anything is asked; backup and generate
        // append to no broken record either, and write nothing.
        let ops: Vec<Vec<String>> = vec![
            strings(&["restore", &env.p("b.cb"), "--out", &env.p("r.bin")]),
            strings(&["verify", &env.p("b.cb")]),
            strings(&[
                "rewrap",
                &env.p("b.cb"),
                "--out",
                &env.p("b2.cb"),
                "--new-password",
            ]),
            {
                let mut a = strings(&[
                    "backup",
                    "--secret",
                    &env.p("secret.bin"),
                    "--token",
                    &t,
                    "--single-token",
                    "--out",
                    &env.p("b3.cb"),
                ]);
                a.extend(strings(&WEAK_KDF));
                a
            },
            strings(&["generate", "--out", &env.p("s2.bin")]),
        ];
        for mut args in ops {
            args.extend(strings(&["--record", &bad.p()]));
            let out = no_terminal(&env, &args);
            out.code(exit::DAMAGED)
                .error_has(&["does not verify", &format!("line {line} is broken")]);
            asked_nothing(&out);
            assert_eq!(std::fs::read(&bad.0).unwrap(), bytes.as_bytes(), "{what}");
        }
        for f in ["r.bin", "b2.cb", "b3.cb", "s2.bin"] {
            env.assert_absent(f);
        }
    }
    // The chain cannot see a last line removed: that is what the head in the paper log is for.
    let last_head = heads(&env.run([
        "verify",
        &env.p("b.cb"),
        "--password-file",
        &pw,
        "--record",
        &rec.p(),
        &ef,
        &fp,
    ]))
    .pop()
    .unwrap();
    let all = std::fs::read_to_string(&rec.0).unwrap();
    let cut = OtherFs::new("cut");
    let keep: String = all.split_inclusive('\n').take(3).collect();
    std::fs::write(&cut.0, keep).unwrap();
    env.run(["record", "verify", &cut.p()]).ok();
    env.run(["record", "verify", &cut.p(), "--head", &last_head])
        .code(exit::DAMAGED)
        .error_has(&["no line"]);
    env.run(["record", "verify", &rec.p(), "--head", &last_head])
        .ok();
}

#[test]
fn a_record_on_the_medium_is_refused_unless_allowed() {
    let env = Env::new("rec-medium");
    let (secret, t, _) = backed_up(&env, "rec-medium-tok");
    let pw = env.password_file();
    let here = env.p("record.jsonl");
    env.write("record.jsonl", b"");
    for args in [
        strings(&[
            "restore",
            &env.p("b.cb"),
            "--out",
            "/dev/shm/never-written.bin",
        ]),
        strings(&["verify", &env.p("b.cb")]),
    ] {
        let mut args = args;
        args.extend(strings(&["--record", &here]));
        let out = no_terminal(&env, &args);
        out.code(exit::USAGE)
            .error_has(&["same filesystem as", &env.p("b.cb")]);
        asked_nothing(&out);
    }
    // A record that does not exist yet is not created there either.
    let new_here = env.p("new-record.jsonl");
    let mut args = strings(&[
        "backup",
        "--secret",
        &env.p("secret.bin"),
        "--token",
        &t,
        "--single-token",
        "--out",
        &env.p("b2.cb"),
        "--record",
        &new_here,
    ]);
    args.extend(strings(&WEAK_KDF));
    let out = no_terminal(&env, &args);
    out.code(exit::USAGE).error_has(&["same filesystem as"]);
    asked_nothing(&out);
    env.assert_absent("new-record.jsonl");
    env.assert_absent("b2.cb");

    // --allow-record-on-medium accepts it (a rehearsal).
    let [ef, fp] = expect_fp(&env, "b.cb");
    let r = env.restore(
        "b.cb",
        "r.bin",
        &["--record", &here, "--allow-record-on-medium", &ef, &fp],
    );
    r.ok();
    assert_restored(&env, "r.bin", &secret);
    args.push("--password-file".into());
    args.push(pw);
    args.push("--allow-record-on-medium".into());
    env.run(&args).ok();
    assert_eq!(
        std::fs::read_to_string(env.path("new-record.jsonl"))
            .unwrap()
            .lines()
            .count(),
        1
    );
    // The flag alone is refused: it qualifies --record.
    env.run(["verify", &env.p("b.cb"), "--allow-record-on-medium"])
        .code(exit::USAGE);
}

#[test]
fn an_unwritable_record_is_refused_before_any_prompt() {
    let env = Env::new("rec-unwritable");
    let (_, t, _) = backed_up(&env, "rec-unwritable-tok");
    // A directory, and a file even root cannot open for writing (a read-only sysfs file):
    // these tests run as root in CI, where file modes would not stop a write.
    let dir = OtherFs::new("dir");
    std::fs::create_dir(&dir.0).unwrap();
    for record in [dir.p(), "/sys/devices/system/cpu/online".to_string()] {
        for args in [
            strings(&["restore", &env.p("b.cb"), "--out", &env.p("r.bin")]),
            {
                let mut a = strings(&[
                    "backup",
                    "--secret",
                    &env.p("secret.bin"),
                    "--token",
                    &t,
                    "--single-token",
                    "--out",
                    &env.p("b2.cb"),
                ]);
                a.extend(strings(&WEAK_KDF));
                a
            },
        ] {
            let mut args = args;
            args.extend(strings(&["--record", &record]));
            let out = no_terminal(&env, &args);
            out.code(exit::OTHER)
                .error_has(&["cannot be used", &record]);
            asked_nothing(&out);
        }
        env.assert_absent("r.bin");
        env.assert_absent("b2.cb");
    }
    let _ = std::fs::remove_dir(&dir.0);
}

#[test]
fn failures_are_recorded_and_a_restore_that_cannot_write_gets_a_second_line() {
    let env = Env::new("rec-fail");
    let (secret, _, _) = backed_up(&env, "rec-fail-tok");
    let rec = OtherFs::new("fail");
    std::fs::write(&rec.0, b"").unwrap();
    let wrong = env.write("wrong", b"not the password\n");
    let [ef, fp] = expect_fp(&env, "b.cb");
    let out = env.run([
        "restore",
        &env.p("b.cb"),
        "--out",
        &env.p("r.bin"),
        "--password-file",
        wrong.to_str().unwrap(),
        "--record",
        &rec.p(),
        &ef,
        &fp,
    ]);
    out.code(exit::AUTH);
    assert_eq!(heads(&out).len(), 1);
    env.assert_absent("r.bin");
    // The restore whose secret cannot be written: `restored` first, then `not-written`.
    let out = env.run_env(
        [
            "restore",
            &env.p("b.cb"),
            "--out",
            &env.p("r.bin"),
            "--password-file",
            &env.password_file(),
            "--record",
            &rec.p(),
            &ef,
            &fp,
        ],
        &[("CUSTODY_FAULT_INJECT", Some("write"))],
    );
    out.code(exit::OTHER);
    assert_eq!(heads(&out).len(), 2, "{}", out.dump());
    env.assert_absent("r.bin");
    let lines = rec.lines();
    let got: Vec<(&str, &str, u64)> = lines
        .iter()
        .map(|l| {
            (
                l["op"].as_str().unwrap(),
                l["outcome"].as_str().unwrap(),
                l["exit"].as_u64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("restore", "failed", 3),
            ("restore", "restored", 0),
            ("restore", "not-written", 1)
        ]
    );
    assert!(lines[0]["fingerprint"].is_null());
    assert!(lines[1]["fingerprint"].is_string());
    env.run(["record", "verify", &rec.p()]).ok();
    // And when it can be written, one line.
    env.restore("b.cb", "r.bin", &["--record", &rec.p(), &ef, &fp])
        .ok();
    assert_restored(&env, "r.bin", &secret);
    assert_eq!(rec.lines().len(), 4);
}

/// A backup whose line cannot be appended (the record was changed while the secret was being
/// read) is written, exits 1, says so, and prints the line to record by hand.
#[test]
fn a_backup_written_but_not_recorded_exits_1_and_prints_its_line() {
    let env = Env::new("rec-late");
    env.init_token("rec-late-tok");
    env.keygen("rec-late-tok", "k", "aes");
    let secret = env.secret("secret.bin", 32);
    let rec = OtherFs::new("late");
    std::fs::write(&rec.0, b"").unwrap();
    let mut c = env.command();
    c.args([
        "backup",
        "--secret",
        "-",
        "--token",
        &uri("rec-late-tok", "k"),
        "--single-token",
        "--out",
        &env.p("b.cb"),
        "--password-file",
        &env.password_file(),
        "--record",
        &rec.p(),
    ])
    .args(WEAK_KDF)
    .stdin(Stdio::piped())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let mut child = c.spawn().expect("run custody");
    // custody opens the record before it reads the secret from standard input: wait until it
    // holds the record open, give it time to check it, then break the record.
    let fd_dir = PathBuf::from(format!("/proc/{}/fd", child.id()));
    let start = Instant::now();
    loop {
        let open = std::fs::read_dir(&fd_dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .any(|e| std::fs::read_link(e.path()).is_ok_and(|t| t == rec.0))
            })
            .unwrap_or(false);
        if open {
            break;
        }
        assert!(
            start.elapsed() < Duration::from_secs(30),
            "custody never opened the record"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500));
    std::fs::write(&rec.0, b"not a record line\n").unwrap();
    {
        let mut stdin = child.stdin.take().unwrap();
        stdin.write_all(&secret).unwrap();
    }
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(exit::OTHER), "{stderr}");
    assert!(
        stderr.contains("the backup was written, but NOT recorded"),
        "{stderr}"
    );
    assert!(stderr.contains("line 1 is broken"), "{stderr}");
    // The line, on stderr, ready to copy: it names the backup that was written.
    let line = stderr
        .lines()
        .find(|l| l.starts_with("{\"v\":1,"))
        .unwrap_or_else(|| panic!("no record line on stderr:\n{stderr}"));
    let v: serde_json::Value = serde_json::from_str(line).unwrap();
    assert_eq!(v["op"], "backup");
    assert_eq!(v["files"][0]["sha256"], sha256_hex(&env.read("b.cb")));
    // The backup is there, and its report was printed.
    assert!(String::from_utf8_lossy(&out.stdout).contains("set id:"));
    assert_eq!(std::fs::read(&rec.0).unwrap(), b"not a record line\n");
}

#[test]
fn record_show_escapes_what_it_prints() {
    let env = Env::new("rec-escape");
    env.init_token("rec-esc-tok");
    env.keygen("rec-esc-tok", "k", "aes");
    env.secret("secret.bin", 32);
    let rec = OtherFs::new("escape");
    // A file name made to start a fake line and clear the screen.
    let name = "evil\n      fingerprint  0000\u{1b}[2J\u{202e}.cb";
    let out = env.backup(
        "secret.bin",
        &[&uri("rec-esc-tok", "k")],
        name,
        &["--single-token", "--record", &rec.p()],
    );
    out.ok();
    let raw = std::fs::read(&rec.0).unwrap();
    assert!(
        raw[..raw.len() - 1]
            .iter()
            .all(|b| (b' '..=b'~').contains(b)),
        "a record line is printable ASCII"
    );
    let show = env.run(["record", "show", &rec.p()]);
    show.ok();
    assert!(!show.stdout.contains('\u{1b}'), "{}", show.stdout);
    assert!(!show.stdout.contains('\u{202e}'), "{}", show.stdout);
    assert!(
        !show
            .stdout
            .lines()
            .any(|l| l.starts_with("      fingerprint  0000")),
        "{}",
        show.stdout
    );
    show.stdout_has(&["evil\\u{a}", "\\u{1b}[2J\\u{202e}.cb"]);
}
