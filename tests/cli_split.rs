//! Split custody end to end: K-of-N backups (`backup --threshold K --out ... --officer ...`),
//! restoring and verifying from shares, and every way a set of share files can be short, mixed
//! up, altered or half written. Every failure must name the file (and officer) concerned, leave
//! no output behind, and never output a wrong secret nor print the right one.
//!
//! All the files of one test live in its temp directory, on one filesystem, so the backups here
//! pass `--allow-same-device` (one test checks the refusal without it).

mod common;

use std::time::Instant;

use common::cli::{
    Env, Out, WEAK_KDF, assert_restored, exit, failed_cleanly, inspect_json, line_value, no_secret,
    replace_line, uri,
};

const TOKEN: &str = "split-tok";
const KEY: &str = "k";
const OFFICERS: [&str; 3] = ["Alice", "Bob", "Carol"];
const FILES: [&str; 3] = ["alice.share", "bob.share", "carol.share"];
const HINTS: [&str; 3] = ["alice's cat", "bob's bike", "carol's car"];

// ───────────────────────────── helpers ─────────────────────────────

/// Write officer `name`'s own password file and return its path.
fn officer_password(env: &Env, name: &str) -> String {
    let rel = format!("pw-{name}");
    env.write(&rel, format!("the own password of {name}\n").as_bytes());
    env.p(&rel)
}

/// `custody backup --secret <secret> --threshold K --out ...` with weak KDF parameters,
/// `--allow-same-device` and `extra`.
fn split_backup(env: &Env, secret: &str, k: u8, outs: &[&str], extra: &[&str]) -> Out {
    let mut args: Vec<String> = vec![
        "backup".into(),
        "--secret".into(),
        env.p(secret),
        "--threshold".into(),
        k.to_string(),
    ];
    for o in outs {
        args.push("--out".into());
        args.push(env.p(o));
    }
    args.extend(WEAK_KDF.iter().map(|s| s.to_string()));
    args.push("--allow-same-device".into());
    args.extend(extra.iter().map(|s| s.to_string()));
    env.run(&args)
}

/// `custody <cmd> FILE... [--out OUT] --password-file P...` (`pws` are paths).
fn open_cmd(env: &Env, cmd: &str, files: &[&str], pws: &[&str], out: Option<&str>) -> Out {
    open_cmd_with(env, cmd, files, pws, out, &[])
}

/// The same, with `extra` arguments.
fn open_cmd_with(
    env: &Env,
    cmd: &str,
    files: &[&str],
    pws: &[&str],
    out: Option<&str>,
    extra: &[&str],
) -> Out {
    let mut args: Vec<String> = vec![cmd.into()];
    args.extend(files.iter().map(|f| env.p(f)));
    if let Some(o) = out {
        args.push("--out".into());
        args.push(env.p(o));
    }
    for p in pws {
        args.push("--password-file".into());
        args.push((*p).into());
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    env.run(&args)
}

fn restore_set(env: &Env, files: &[&str], pws: &[&str], out: &str) -> Out {
    open_cmd(env, "restore", files, pws, Some(out))
}

/// A restore going on without files of another set (issue 8, item 3: named, and without this
/// flag refused when nobody can confirm).
fn restore_set_ignoring_foreign(env: &Env, files: &[&str], pws: &[&str], out: &str) -> Out {
    open_cmd_with(env, "restore", files, pws, Some(out), &["--ignore-foreign"])
}

/// The officers listed after "The other shares are held by:" in a not-enough error.
#[track_caller]
fn holders(out: &Out) -> String {
    let e = out.error_text();
    let i = e.find("held by:").unwrap_or_else(|| {
        panic!("no \"held by:\" in the error\n{}", out.dump());
    });
    e[i..].lines().next().unwrap_or_default().to_owned()
}

/// Everything about one 2-of-3 set of Alice, Bob and Carol, each with their own password and
/// hint, under one AES key on one token.
struct Set {
    env: Env,
    secret: Vec<u8>,
    set_id: String,
    fp: String,
    /// Password file paths, per officer (Alice, Bob, Carol).
    pw: Vec<String>,
    backup: Out,
}

fn officers_2_of_3(name: &str) -> Set {
    let env = Env::new(name);
    env.init_token(TOKEN);
    env.keygen(TOKEN, KEY, "aes");
    let secret = env.secret("secret.bin", 32);
    let pw: Vec<String> = OFFICERS.iter().map(|o| officer_password(&env, o)).collect();
    let u = uri(TOKEN, KEY);
    let backup = split_backup(
        &env,
        "secret.bin",
        2,
        &FILES,
        &[
            "--token",
            &u,
            "--officer",
            OFFICERS[0],
            "--officer",
            OFFICERS[1],
            "--officer",
            OFFICERS[2],
            "--hint",
            HINTS[0],
            "--hint",
            HINTS[1],
            "--hint",
            HINTS[2],
            "--password-file",
            &pw[0],
            "--password-file",
            &pw[1],
            "--password-file",
            &pw[2],
        ],
    );
    backup.ok();
    no_secret(&backup, &secret);
    let set_id = backup.field("set id:");
    let fp = backup.field("fingerprint:");
    Set {
        env,
        secret,
        set_id,
        fp,
        pw,
        backup,
    }
}

impl Set {
    fn pws(&self, idx: &[usize]) -> Vec<&str> {
        idx.iter().map(|&i| self.pw[i].as_str()).collect()
    }
}

fn files_of(idx: &[usize]) -> Vec<&'static str> {
    idx.iter().map(|&i| FILES[i]).collect()
}

// ───────────────────────────── 2-of-3 ─────────────────────────────

#[test]
fn two_of_three_with_officers_inspects_and_every_pair_restores() {
    let set = officers_2_of_3("split-2of3");
    let env = &set.env;
    set.backup.stdout_has(&[
        "Split backup: 3 shares written and read back, any 2 of them restore the secret.",
        &format!(
            "Share 1 of 3 (officer Alice) written to {}",
            env.p(FILES[0])
        ),
        &format!("Share 2 of 3 (officer Bob) written to {}", env.p(FILES[1])),
        &format!(
            "Share 3 of 3 (officer Carol) written to {}",
            env.p(FILES[2])
        ),
    ]);

    for i in 0..3 {
        let out = env.run(["inspect", &env.p(FILES[i])]);
        out.ok().stdout_has(&[
            &format!("share {} of a 2-of-3 split set", i + 1),
            "share 1: Alice",
            "share 2: Bob",
            "share 3: Carol",
            &format!("share {}: {}  <- this file", i + 1, OFFICERS[i]),
        ]);
        assert_eq!(out.field("officer:"), OFFICERS[i], "{}", out.dump());
        assert_eq!(out.field("hint:"), HINTS[i], "{}", out.dump());
        assert_eq!(out.field("set id:"), set.set_id);
        assert_eq!(out.field("fingerprint:"), set.fp);

        let j = inspect_json(env, FILES[i]);
        assert_eq!(j["threshold"], 2, "{j:#}");
        assert_eq!(j["count"], 3, "{j:#}");
        assert_eq!(j["index"], i as u64 + 1, "{j:#}");
        assert_eq!(j["officers"], serde_json::json!(OFFICERS), "{j:#}");
        assert_eq!(j["hint"], HINTS[i], "{j:#}");
        assert_eq!(j["set_id"], set.set_id.as_str(), "{j:#}");
        assert_eq!(j["fingerprint"], set.fp.as_str(), "{j:#}");
    }

    // Every pair, in both orders.
    let mut n = 0;
    for a in 0..3 {
        for b in 0..3 {
            if a == b {
                continue;
            }
            n += 1;
            let r = format!("r{a}{b}.bin");
            let out = restore_set(env, &files_of(&[a, b]), &set.pws(&[a, b]), &r);
            out.ok().stderr_has(&[
                "Restored 32 bytes",
                &set.fp,
                &set.set_id,
                &format!(
                    "opened with officer {} (share {}), officer {} (share {})",
                    OFFICERS[a],
                    a + 1,
                    OFFICERS[b],
                    b + 1
                ),
                &format!("Password hint: {}", HINTS[a]),
                &format!("Password hint: {}", HINTS[b]),
            ]);
            no_secret(&out, &set.secret);
            assert_restored(env, &r, &set.secret);
        }
    }
    assert_eq!(n, 6);

    // All three together: the third share is cross-checked, and it agrees.
    let out = restore_set(env, &FILES, &set.pws(&[0, 1, 2]), "all.bin");
    out.ok().stderr_lacks(&["warning: officer"]);
    no_secret(&out, &set.secret);
    assert_restored(env, "all.bin", &set.secret);
}

// ───────────────────────────── 3-of-5 ─────────────────────────────

#[test]
fn three_of_five_every_triple_restores_and_every_pair_names_the_missing_officers() {
    const NAMES: [&str; 5] = ["Ann", "Ben", "Cat", "Dan", "Eve"];
    let env = Env::new("split-3of5");
    env.init_token(TOKEN);
    env.keygen(TOKEN, KEY, "aes");
    let secret = env.secret("secret.bin", 32);
    let files: Vec<String> = NAMES.iter().map(|n| format!("{n}.share")).collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let u = uri(TOKEN, KEY);
    let pw = env.password_file();
    let mut extra = vec!["--token", &u, "--password-file", &pw];
    for n in NAMES {
        extra.extend(["--officer", n]);
    }
    let out = split_backup(&env, "secret.bin", 3, &files, &extra);
    out.ok().stdout_has(&["any 3 of them restore the secret"]);
    let set_id = out.field("set id:");

    let mut triples = 0;
    let mut pairs = 0;
    for a in 0..5 {
        for b in a + 1..5 {
            // Every pair: not enough, nothing opened, the three others named.
            let r = format!("p{a}{b}.bin");
            let out = restore_set(&env, &[files[a], files[b]], &[&pw], &r);
            failed_cleanly(&env, &out, exit::NOT_ENOUGH_SHARES, &r, &secret);
            out.error_has(&[
                &format!("not enough shares of set {set_id}"),
                "3 needed (1 more)",
            ]);
            let held = holders(&out);
            for (i, name) in NAMES.iter().enumerate() {
                let who = format!("officer {name} (share {})", i + 1);
                if i == a || i == b {
                    assert!(!held.contains(&who), "{who} is present\n{}", out.dump());
                } else {
                    assert!(held.contains(&who), "{who} not named\n{}", out.dump());
                }
            }
            pairs += 1;
            for c in b + 1..5 {
                let r = format!("t{a}{b}{c}.bin");
                let out = restore_set(&env, &[files[a], files[b], files[c]], &[&pw], &r);
                out.ok().stderr_has(&["Restored 32 bytes", &set_id]);
                no_secret(&out, &secret);
                assert_restored(&env, &r, &secret);
                triples += 1;
            }
        }
    }
    assert_eq!((triples, pairs), (10, 10));

    // Two shares of three are counted before any password is used: a wrong password for each is
    // never tried, so the error names the missing officers and no wrong password.
    env.write("wrong", b"not the password\n");
    let wrong = env.p("wrong");
    let out = restore_set(&env, &[files[0], files[1]], &[&wrong, &wrong], "wrong.bin");
    failed_cleanly(&env, &out, exit::NOT_ENOUGH_SHARES, "wrong.bin", &secret);
    out.error_has(&[
        &format!("not enough shares of set {set_id}"),
        "3 needed (1 more)",
    ]);
    out.stderr_lacks(&["password is wrong", "wrong password"]);
}

// ───────────────────────────── 255 shares ─────────────────────────────

#[test]
fn two_of_255_shares_writes_255_files_and_two_restore() {
    let env = Env::new("split-255");
    env.init_token(TOKEN);
    env.keygen(TOKEN, KEY, "aes");
    let secret = env.secret("secret.bin", 32);
    std::fs::create_dir_all(env.path("shares")).unwrap();
    let files: Vec<String> = (1..=255).map(|i| format!("shares/s{i:03}.share")).collect();
    let files: Vec<&str> = files.iter().map(String::as_str).collect();
    let u = uri(TOKEN, KEY);
    let pw = env.password_file();
    let start = Instant::now();
    let out = split_backup(
        &env,
        "secret.bin",
        2,
        &files,
        &[
            "--token",
            &u,
            "--single-token",
            "--password-file",
            &pw,
            "--hint",
            "the usual one",
        ],
    );
    let backup_time = start.elapsed();
    out.ok()
        .stdout_has(&["255 shares written and read back, any 2 of them restore the secret"]);
    no_secret(&out, &secret);
    let set_id = out.field("set id:");
    let written = env.entries("shares");
    assert_eq!(written.len(), 255, "{written:?}");
    env.assert_no_temp_files("shares");

    let j = inspect_json(&env, files[199]);
    assert_eq!(
        (&j["threshold"], &j["count"], &j["index"], &j["hint"]),
        (
            &serde_json::json!(2),
            &serde_json::json!(255),
            &serde_json::json!(200),
            &serde_json::json!("the usual one")
        )
    );

    let start = Instant::now();
    let out = restore_set(&env, &[files[254], files[16]], &[&pw], "r.bin");
    let restore_time = start.elapsed();
    out.ok().stderr_has(&[
        &set_id,
        "opened with share 255, share 17",
        "2 of 255 shares needed",
    ]);
    no_secret(&out, &secret);
    assert_restored(&env, "r.bin", &secret);
    println!(
        "2-of-255 split: backup of 255 shares took {backup_time:?}, restore from 2 took \
         {restore_time:?}"
    );
}

// ───────────────────────────── mixed-up files ─────────────────────────────

#[test]
fn a_share_from_another_set_is_named_with_its_set_id() {
    let set = officers_2_of_3("split-foreign");
    let env = &set.env;
    let u = uri(TOKEN, KEY);
    // A second 2-of-3 set of the same secret, and a third of another secret.
    let other_outs = ["x1.share", "x2.share", "x3.share"];
    let out = split_backup(
        env,
        "secret.bin",
        2,
        &other_outs,
        &["--token", &u, "--password-file", &set.pw[2]],
    );
    out.ok();
    let other_id = out.field("set id:");
    assert_ne!(other_id, set.set_id);
    env.secret("secret2.bin", 32);
    let out = split_backup(
        env,
        "secret2.bin",
        2,
        &["y1.share", "y2.share", "y3.share"],
        &["--token", &u, "--password-file", &set.pw[2]],
    );
    out.ok();
    let third_id = out.field("set id:");

    for (foreign, id) in [("x3.share", &other_id), ("y1.share", &third_id)] {
        // Two good shares and a foreign one (given first): the good pair restores.
        let r = format!("r-{foreign}.bin");
        let out = restore_set_ignoring_foreign(
            env,
            &[foreign, FILES[0], FILES[1]],
            &[&set.pw[2], &set.pw[0], &set.pw[1]],
            &r,
        );
        out.ok().stderr_has(&[
            &format!("{}: from another set ({id}", env.p(foreign)),
            &format!("not set {}", set.set_id),
            "Restored 32 bytes",
            &set.set_id,
        ]);
        no_secret(&out, &set.secret);
        assert_restored(env, &r, &set.secret);

        // One good share and a foreign one: not enough, the foreign one named.
        let r = format!("f-{foreign}.bin");
        let out = restore_set(env, &[FILES[0], foreign], &[&set.pw[0], &set.pw[2]], &r);
        failed_cleanly(env, &out, exit::NOT_ENOUGH_SHARES, &r, &set.secret);
        out.error_has(&[
            &format!("not enough shares of set {}", set.set_id),
            "(1 more)",
            &format!("{}: from another set ({id}", env.p(foreign)),
        ]);
    }
}

#[test]
fn the_same_share_twice_is_counted_once_and_named() {
    let set = officers_2_of_3("split-twice");
    let env = &set.env;
    std::fs::copy(env.path(FILES[0]), env.path("copy-of-alice.share")).unwrap();
    let a = env.p(FILES[0]);

    // The same path twice, with a second good share: restores, names the duplicate.
    let out = restore_set(
        env,
        &[FILES[0], FILES[0], FILES[1]],
        &set.pws(&[0, 0, 1]),
        "r1.bin",
    );
    out.ok().stderr_has(&[&format!(
        "{a}: the same share as {a} (share 1) given twice; counted once"
    )]);
    assert_restored(env, "r1.bin", &set.secret);

    // A copy under another name, with a second good share.
    let out = restore_set(
        env,
        &["copy-of-alice.share", FILES[0], FILES[2]],
        &set.pws(&[0, 0, 2]),
        "r2.bin",
    );
    out.ok().stderr_has(&[&format!(
        "{a}: the same share as {} (share 1) given twice; counted once",
        env.p("copy-of-alice.share")
    )]);
    assert_restored(env, "r2.bin", &set.secret);

    // Only that share, twice: one share of two needed.
    for (files, r) in [
        ([FILES[0], FILES[0]], "r3.bin"),
        ([FILES[0], "copy-of-alice.share"], "r4.bin"),
    ] {
        let out = restore_set(env, &files, &set.pws(&[0, 0]), r);
        failed_cleanly(env, &out, exit::NOT_ENOUGH_SHARES, r, &set.secret);
        out.error_has(&["(1 more)", "given twice; counted once"]);
        let held = holders(&out);
        assert!(
            held.contains("officer Bob (share 2)") && held.contains("officer Carol (share 3)"),
            "{}",
            out.dump()
        );
        assert!(!held.contains("Alice"), "{}", out.dump());
    }
}

/// Which files form "the set being restored" is decided by the size of each group of files
/// (FORMAT.md §5.4 step 2), counted before duplicates are removed (step 3). So a foreign share
/// given twice outvotes two distinct good shares of the real set, which are then named "from
/// another set" and the restore fails although K good shares were given.
#[test]
fn a_foreign_share_given_twice_does_not_outvote_k_good_shares() {
    let set = officers_2_of_3("split-foreign-twice");
    let env = &set.env;
    let u = uri(TOKEN, KEY);
    split_backup(
        env,
        "secret.bin",
        2,
        &["x1.share", "x2.share", "x3.share"],
        &["--token", &u, "--password-file", &set.pw[2]],
    )
    .ok();
    std::fs::copy(env.path("x3.share"), env.path("x3-copy.share")).unwrap();
    let out = restore_set_ignoring_foreign(
        env,
        &["x3.share", "x3-copy.share", FILES[0], FILES[1]],
        &[&set.pw[2], &set.pw[2], &set.pw[0], &set.pw[1]],
        "r.bin",
    );
    no_secret(&out, &set.secret);
    out.ok().stderr_has(&[
        &format!("{}: from another set", env.p("x3.share")),
        "opened with officer Alice (share 1), officer Bob (share 2)",
    ]);
    assert_restored(env, "r.bin", &set.secret);
}

/// Change the last hex digit of a value.
fn flip_hex(v: &str) -> String {
    let mut s = v.to_owned();
    let last = s.pop().expect("non-empty");
    s.push(if last == '0' { '1' } else { '0' });
    s
}

/// How a restore with a tampered share (and the good shares) turned out.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
enum Outcome {
    /// The good shares restored the secret; the tampered file was named with this phrase.
    RestoredNaming(&'static str),
    /// Nothing restored (this exit code); the tampered file was named with this phrase.
    FailedNaming(i32, &'static str),
}

/// Restore `files` (with `pws`) into `out_rel` and check the outcome: the right secret or
/// nothing, and the tampered file named with the phrase expected.
#[track_caller]
fn check_tampered(
    set: &Set,
    what: &str,
    files: &[&str],
    pws: &[&str],
    out_rel: &str,
    tampered: &str,
    want: Outcome,
) {
    let env = &set.env;
    // A file claiming the set but differing from it is left out, and the set restored only
    // when something besides the files vouches for its fingerprint (issue 8, item 3); a
    // changed set id makes a file of another set, gone on without.
    let out = open_cmd_with(
        env,
        "restore",
        files,
        pws,
        Some(out_rel),
        &["--expect-fingerprint", &set.fp, "--ignore-foreign"],
    );
    no_secret(&out, &set.secret);
    // Never a wrong secret, whatever happened.
    if env.path(out_rel).exists() {
        assert_eq!(
            env.read(out_rel),
            set.secret,
            "{what}: a WRONG secret was output\n{}",
            out.dump()
        );
    }
    let observed = if out.code == 0 { "restored" } else { "failed" };
    eprintln!("{what}: {observed} (exit {})", out.code);
    let tampered_path = env.p(tampered);
    // The line that names the tampered file.
    let named: Vec<&str> = out
        .stderr
        .lines()
        .filter(|l| l.contains(&tampered_path))
        .collect();
    match want {
        Outcome::RestoredNaming(phrase) => {
            out.ok();
            assert_restored(env, out_rel, &set.secret);
            assert!(
                named
                    .iter()
                    .any(|l| l.starts_with("warning: ") && l.contains(phrase)),
                "{what}: no warning names {tampered_path} with {phrase:?}\n{}",
                out.dump()
            );
        }
        Outcome::FailedNaming(code, phrase) => {
            failed_cleanly(env, &out, code, out_rel, &set.secret);
            assert!(
                out.error_text().contains(&tampered_path)
                    && named.iter().any(|l| l.contains(phrase)),
                "{what}: the error does not name {tampered_path} with {phrase:?}\n{}",
                out.dump()
            );
        }
    }
}

#[test]
fn a_share_with_a_tampered_common_header_is_named_and_never_gives_a_wrong_secret() {
    let set = officers_2_of_3("split-tamper-common");
    let env = &set.env;
    let good = env.read(FILES[0]);
    let altered = "header or payload differs from";
    let another = "from another set";
    let invalid = "not a valid custody v1 backup";
    let payload = line_value(&good, "payload");
    let mut p2 = payload.clone();
    let first = p2.remove(0);
    p2.insert(0, if first == 'A' { 'B' } else { 'A' });
    // (field, new line, outcome with the two other good shares, outcome with one other).
    let cases: Vec<(&str, String, Outcome, Outcome)> = vec![
        (
            "set-id",
            format!("set-id: {}", flip_hex(&line_value(&good, "set-id"))),
            Outcome::RestoredNaming(another),
            Outcome::FailedNaming(exit::NOT_ENOUGH_SHARES, another),
        ),
        (
            "created",
            "created: 2001-02-03T04:05:06Z".into(),
            Outcome::RestoredNaming(altered),
            Outcome::FailedNaming(exit::NOT_ENOUGH_SHARES, altered),
        ),
        (
            "label",
            "label: not the real label".into(),
            Outcome::RestoredNaming(altered),
            Outcome::FailedNaming(exit::NOT_ENOUGH_SHARES, altered),
        ),
        (
            "threshold",
            "threshold: 3".into(),
            Outcome::RestoredNaming(altered),
            Outcome::FailedNaming(exit::NOT_ENOUGH_SHARES, altered),
        ),
        (
            // A count of 4 with three officer and commitment lines: no longer a valid file.
            "count",
            "count: 4".into(),
            Outcome::RestoredNaming(invalid),
            Outcome::FailedNaming(exit::NOT_ENOUGH_SHARES, invalid),
        ),
        (
            "officer.1",
            "officer.1: Mallory".into(),
            Outcome::RestoredNaming(altered),
            Outcome::FailedNaming(exit::NOT_ENOUGH_SHARES, altered),
        ),
        (
            "commitment.1",
            format!(
                "commitment.1: {}",
                flip_hex(&line_value(&good, "commitment.1"))
            ),
            Outcome::RestoredNaming(altered),
            Outcome::FailedNaming(exit::NOT_ENOUGH_SHARES, altered),
        ),
        (
            "fingerprint",
            format!(
                "fingerprint: {}",
                flip_hex(&line_value(&good, "fingerprint"))
            ),
            Outcome::RestoredNaming(altered),
            Outcome::FailedNaming(exit::NOT_ENOUGH_SHARES, altered),
        ),
        (
            "payload-nonce",
            format!(
                "payload-nonce: {}",
                flip_hex(&line_value(&good, "payload-nonce"))
            ),
            Outcome::RestoredNaming(altered),
            Outcome::FailedNaming(exit::NOT_ENOUGH_SHARES, altered),
        ),
        (
            "payload",
            format!("payload: {p2}"),
            Outcome::RestoredNaming(altered),
            Outcome::FailedNaming(exit::NOT_ENOUGH_SHARES, altered),
        ),
    ];
    assert_eq!(cases.len(), 10);
    for (field, line, with_two, with_one) in cases {
        let rel = format!("tampered-{field}.share");
        env.write(&rel, &replace_line(&good, &format!("{field}:"), &line));
        // The tampered file first, then the two other officers' good shares.
        check_tampered(
            &set,
            &format!("{field} with two good shares"),
            &[&rel, FILES[1], FILES[2]],
            &set.pws(&[0, 1, 2]),
            &format!("r2-{field}.bin"),
            &rel,
            with_two,
        );
        // One good share, then the tampered file.
        check_tampered(
            &set,
            &format!("{field} with one good share"),
            &[FILES[1], &rel],
            &set.pws(&[1, 0]),
            &format!("r1-{field}.bin"),
            &rel,
            with_one,
        );
    }
}

#[test]
fn a_share_with_tampered_own_fields_is_named_and_never_gives_a_wrong_secret() {
    let set = officers_2_of_3("split-tamper-own");
    let env = &set.env;
    let good = env.read(FILES[0]);
    // Alice's share claiming to be share 3; Alice's share with another hint.
    env.write("index.share", &replace_line(&good, "index:", "index: 3"));
    env.write(
        "hint.share",
        &replace_line(&good, "hint:", "hint: the password is hunter2"),
    );
    let wrong_or_altered = "the password is wrong";

    // Index 3 given after Carol's genuine share 3, which opened: the later one is named as not
    // genuine.
    check_tampered(
        &set,
        "index after the genuine share",
        &[FILES[1], FILES[2], "index.share"],
        &set.pws(&[1, 2, 0]),
        "r-index-after.bin",
        "index.share",
        Outcome::RestoredNaming("another file for share 3"),
    );
    // Index 3 given first: it does not open (its slots are bound to the file fields) and is
    // named; the genuine share 3 given after it is still tried, so two good shares restore.
    check_tampered(
        &set,
        "index before the genuine share",
        &["index.share", FILES[1], FILES[2]],
        &set.pws(&[0, 1, 2]),
        "r-index-first.bin",
        "index.share",
        Outcome::RestoredNaming(wrong_or_altered),
    );
    // Index 3 with Bob's share 2 only: named, not enough.
    check_tampered(
        &set,
        "index with one good share",
        &["index.share", FILES[1]],
        &set.pws(&[0, 1]),
        "r-index-one.bin",
        "index.share",
        Outcome::FailedNaming(exit::NOT_ENOUGH_SHARES, wrong_or_altered),
    );
    // The hint is bound to the slots too: the file does not open and is named.
    check_tampered(
        &set,
        "hint with two good shares",
        &["hint.share", FILES[1], FILES[2]],
        &set.pws(&[0, 1, 2]),
        "r-hint-two.bin",
        "hint.share",
        Outcome::RestoredNaming(wrong_or_altered),
    );
    check_tampered(
        &set,
        "hint with one good share",
        &["hint.share", FILES[2]],
        &set.pws(&[0, 2]),
        "r-hint-one.bin",
        "hint.share",
        Outcome::FailedNaming(exit::NOT_ENOUGH_SHARES, wrong_or_altered),
    );
}

// ───────────────────────────── tokens ─────────────────────────────

#[test]
fn a_share_locked_by_a_token_that_is_absent_is_named_and_the_others_restore() {
    let env = Env::new("split-absent-tok");
    env.init_token(TOKEN);
    env.keygen(TOKEN, KEY, "aes");
    env.init_token("other");
    env.keygen("other", "k2", "aes");
    let secret = env.secret("secret.bin", 32);
    let pw: Vec<String> = OFFICERS.iter().map(|o| officer_password(&env, o)).collect();
    let u = uri(TOKEN, KEY);
    let out = split_backup(
        &env,
        "secret.bin",
        2,
        &FILES,
        &[
            "--token",
            &u,
            "--share-token",
            "2=pkcs11:token=other;object=k2",
            "--officer",
            "Alice",
            "--officer",
            "Bob",
            "--officer",
            "Carol",
            "--password-file",
            &pw[0],
            "--password-file",
            &pw[1],
            "--password-file",
            &pw[2],
        ],
    );
    out.ok();
    let j = inspect_json(&env, FILES[1]);
    assert_eq!(j["slots"].as_array().unwrap().len(), 1, "{j:#}");
    assert_eq!(j["slots"][0]["token_label"], "other", "{j:#}");
    assert_eq!(j["slots"][0]["key_label"], "k2", "{j:#}");
    for i in [0, 2] {
        let j = inspect_json(&env, FILES[i]);
        assert_eq!(j["slots"][0]["token_label"], TOKEN, "{j:#}");
    }

    // Another machine, with the first token only.
    let there = Env::new("split-absent-tok-there");
    there.copy_token_from(&env, TOKEN);
    for (i, f) in FILES.iter().enumerate() {
        there.write(f, &env.read(f));
        there.write(
            &format!("pw-{}", OFFICERS[i]),
            &env.read(&format!("pw-{}", OFFICERS[i])),
        );
    }
    let tpw: Vec<String> = OFFICERS
        .iter()
        .map(|o| there.p(&format!("pw-{o}")))
        .collect();
    let bob = there.p(FILES[1]);

    // Alice and Bob: Bob's share cannot open here, so one share of two.
    let out = restore_set(&there, &[FILES[0], FILES[1]], &[&tpw[0], &tpw[1]], "r1.bin");
    failed_cleanly(&there, &out, exit::NOT_ENOUGH_SHARES, "r1.bin", &secret);
    out.error_has(&[
        "1 good, 2 needed (1 more)",
        &format!("officer Bob (share 2), {bob}"),
        "none of the tokens this file accepts is present",
        "\"other\"",
    ]);

    // All three: Alice and Carol restore, Bob's share is named.
    let out = restore_set(&there, &FILES, &[&tpw[0], &tpw[1], &tpw[2]], "r2.bin");
    out.ok().stderr_has(&[
        &format!("warning: officer Bob (share 2), {bob}"),
        "none of the tokens this file accepts is present",
        "opened with officer Alice (share 1), officer Carol (share 3)",
    ]);
    no_secret(&out, &secret);
    assert_restored(&there, "r2.bin", &secret);

    // Alice and Carol alone.
    let out = restore_set(&there, &[FILES[2], FILES[0]], &[&tpw[2], &tpw[0]], "r3.bin");
    out.ok();
    assert_restored(&there, "r3.bin", &secret);
}

const OFFICER_TOKENS: [&str; 3] = ["tok-alice", "tok-bob", "tok-carol"];
const OFFICER_KINDS: [&str; 3] = ["aes", "p256", "aes"];

/// Three tokens, one per officer, and a 2-of-3 backup with `--share-token I=URI` for every
/// share; with `token_flag`, also a `--token` (Alice's key), which every `--share-token`
/// supersedes.
fn per_officer_backup(env: &Env, token_flag: bool) -> (Vec<u8>, Vec<String>, Out) {
    for (t, kind) in OFFICER_TOKENS.iter().zip(OFFICER_KINDS) {
        env.init_token(t);
        env.keygen(t, "officer-key", kind);
    }
    let secret = env.secret("secret.bin", 32);
    let pw: Vec<String> = OFFICERS.iter().map(|o| officer_password(env, o)).collect();
    let st: Vec<String> = OFFICER_TOKENS
        .iter()
        .enumerate()
        .map(|(i, t)| format!("{}={}", i + 1, uri(t, "officer-key")))
        .collect();
    let alice = uri(OFFICER_TOKENS[0], "officer-key");
    let mut extra = vec![
        "--share-token",
        &st[0],
        "--share-token",
        &st[1],
        "--share-token",
        &st[2],
        "--officer",
        "Alice",
        "--officer",
        "Bob",
        "--officer",
        "Carol",
        "--password-file",
        &pw[0],
        "--password-file",
        &pw[1],
        "--password-file",
        &pw[2],
    ];
    if token_flag {
        extra.extend(["--token", &alice]);
    }
    let out = split_backup(env, "secret.bin", 2, &FILES, &extra);
    (secret, pw, out)
}

/// Per-officer tokens. `--token` is passed too (see the ignored test below: clap requires
/// it); every share has its own `--share-token`, so it locks none of them.
#[test]
fn per_officer_tokens_any_two_restore_and_inspect_names_each_token() {
    let env = Env::new("split-own-tokens");
    let (secret, pw, out) = per_officer_backup(&env, true);
    out.ok().stderr_lacks(&["lost with it"]);
    no_secret(&out, &secret);
    for i in 0..3 {
        let j = inspect_json(&env, FILES[i]);
        let slots = j["slots"].as_array().unwrap();
        assert_eq!(slots.len(), 1, "{j:#}");
        assert_eq!(slots[0]["token_label"], OFFICER_TOKENS[i], "{j:#}");
        assert_eq!(
            slots[0]["kind"],
            if OFFICER_KINDS[i] == "aes" {
                "pkcs11-aes"
            } else {
                "pkcs11-p256"
            },
            "{j:#}"
        );
        env.run(["inspect", &env.p(FILES[i])])
            .ok()
            .stdout_has(&[&format!("slot 1: PKCS#11 token \"{}\"", OFFICER_TOKENS[i])])
            .stdout_lacks_any(&OFFICER_TOKENS, OFFICER_TOKENS[i]);
    }
    for (a, b) in [(0, 1), (1, 2), (2, 0)] {
        let r = format!("r{a}{b}.bin");
        let out = restore_set(&env, &files_of(&[a, b]), &[&pw[a], &pw[b]], &r);
        out.ok().stderr_has(&[&format!(
            "opened with officer {} (share {}), officer {} (share {})",
            OFFICERS[a],
            a + 1,
            OFFICERS[b],
            b + 1
        )]);
        no_secret(&out, &secret);
        assert_restored(&env, &r, &secret);
    }
}

/// `--share-token I=URI` for every share is meant to stand alone (src/cli/mod.rs: "give
/// --token (for every share), or --share-token I=URI for every share"; README: "locks share I
/// with that officer's own token instead"), but `BackupArgs::tokens` is `required = true`.
#[test]
fn per_officer_share_tokens_need_no_token_flag() {
    let env = Env::new("split-own-tokens-only");
    let (secret, pw, out) = per_officer_backup(&env, false);
    out.ok().stderr_lacks(&["lost with it"]);
    for i in 0..3 {
        let j = inspect_json(&env, FILES[i]);
        assert_eq!(j["slots"][0]["token_label"], OFFICER_TOKENS[i], "{j:#}");
    }
    let out = restore_set(&env, &files_of(&[2, 1]), &[&pw[2], &pw[1]], "r.bin");
    out.ok();
    assert_restored(&env, "r.bin", &secret);
}

/// `stdout_lacks` for every token label but `keep` (local: the kit has no such helper).
trait LacksOthers {
    fn stdout_lacks_any(&self, all: &[&str], keep: &str) -> &Self;
}

impl LacksOthers for Out {
    #[track_caller]
    fn stdout_lacks_any(&self, all: &[&str], keep: &str) -> &Self {
        for t in all.iter().filter(|t| **t != keep) {
            assert!(
                !self.stdout.contains(&format!("token \"{t}\"")),
                "stdout of `{}` names token {t:?}\n{}",
                self.cmdline,
                self.dump()
            );
        }
        self
    }
}

#[test]
fn a_single_shared_token_warns_that_losing_it_loses_the_set() {
    let env = Env::new("split-one-token-warn");
    env.init_token(TOKEN);
    env.keygen(TOKEN, KEY, "aes");
    env.init_token("spare");
    env.keygen("spare", "ks", "p256");
    for (i, t) in ["t1", "t2", "t3"].iter().enumerate() {
        env.init_token(t);
        env.keygen(t, &format!("k{i}"), "aes");
    }
    env.secret("secret.bin", 32);
    let u = uri(TOKEN, KEY);
    let pw = env.password_file();
    let outs = |p: &str| -> Vec<String> { (1..=3).map(|i| format!("{p}{i}.share")).collect() };
    let run = |prefix: &str, extra: &[&str]| -> Out {
        let o = outs(prefix);
        let o: Vec<&str> = o.iter().map(String::as_str).collect();
        let mut e = vec!["--password-file", &pw];
        e.extend(extra);
        split_backup(&env, "secret.bin", 2, &o, &e)
    };
    // One key for every share, no --single-token: warned.
    let out = run("shared", &["--token", &u]);
    out.ok().stderr_has(&[
        "warning: every share can be opened only with",
        &format!("\"{KEY}\""),
        &format!("\"{TOKEN}\""),
        "if that token is lost or broken, the set is lost with it",
    ]);
    // Accepted with --single-token: no warning.
    run("accepted", &["--token", &u, "--single-token"])
        .ok()
        .stderr_lacks(&["lost with it"]);
    // A spare token: no warning.
    let spare = uri("spare", "ks");
    run("spare", &["--token", &u, "--token", &spare])
        .ok()
        .stderr_lacks(&["lost with it"]);
    // Per-officer tokens: no warning.
    let st: Vec<String> = (0..3)
        .map(|i| {
            format!(
                "{}={}",
                i + 1,
                uri(&format!("t{}", i + 1), &format!("k{i}"))
            )
        })
        .collect();
    // (`--token` too: clap requires it, see `per_officer_share_tokens_need_no_token_flag`.)
    let t1 = uri("t1", "k0");
    run(
        "own",
        &[
            "--token",
            &t1,
            "--share-token",
            &st[0],
            "--share-token",
            &st[1],
            "--share-token",
            &st[2],
        ],
    )
    .ok()
    .stderr_lacks(&["lost with it"]);
}

// ───────────────────────────── passwords ─────────────────────────────

#[test]
fn a_wrong_password_with_a_spare_share_restores_and_names_that_share() {
    let set = officers_2_of_3("split-wrong-pw-spare");
    let env = &set.env;
    // Alice gives Bob's password.
    let out = restore_set(env, &FILES, &set.pws(&[1, 1, 2]), "r.bin");
    out.ok().stderr_has(&[
        &format!(
            "warning: officer Alice (share 1): {}: the password is wrong",
            env.p(FILES[0])
        ),
        "opened with officer Bob (share 2), officer Carol (share 3)",
    ]);
    no_secret(&out, &set.secret);
    assert_restored(env, "r.bin", &set.secret);
}

#[test]
fn a_wrong_password_without_a_spare_share_is_not_enough() {
    let set = officers_2_of_3("split-wrong-pw");
    let env = &set.env;
    // Carol gives Alice's password.
    let out = restore_set(env, &[FILES[0], FILES[2]], &set.pws(&[0, 0]), "r.bin");
    failed_cleanly(env, &out, exit::NOT_ENOUGH_SHARES, "r.bin", &set.secret);
    out.error_has(&[
        &format!("not enough shares of set {}", set.set_id),
        "1 good, 2 needed (1 more)",
        &format!(
            "officer Carol (share 3): {}: the password is wrong",
            env.p(FILES[2])
        ),
    ]);
    let held = holders(&out);
    assert!(
        held.contains("officer Bob (share 2)") && held.contains("officer Carol (share 3)"),
        "{}",
        out.dump()
    );
    assert!(!held.contains("Alice"), "{}", out.dump());
}

// ───────────────────────────── verify ─────────────────────────────

#[test]
fn verify_one_share_alone_and_the_whole_set() {
    let set = officers_2_of_3("split-verify");
    let env = &set.env;

    // Bob checks his own share alone.
    let out = open_cmd(env, "verify", &[FILES[1]], &set.pws(&[1]), None);
    out.ok().stdout_has(&[
        &format!(
            "{}: OK, the share of officer Bob (share 2) opens and matches its commitment",
            env.p(FILES[1])
        ),
        "1 of the 2 shares needed (of 3) checked",
    ]);
    assert_eq!(out.field("set id:"), set.set_id);
    assert_eq!(out.field("fingerprint:"), set.fp);
    no_secret(&out, &set.secret);

    // K shares: the whole set.
    let out = open_cmd(
        env,
        "verify",
        &[FILES[2], FILES[0]],
        &set.pws(&[2, 0]),
        None,
    );
    out.ok().stdout_has(&[
        "OK, it opens with officer Carol (share 3), officer Alice (share 1)",
        &env.p(FILES[2]),
        &env.p(FILES[0]),
    ]);
    assert_eq!(out.field("set id:"), set.set_id);
    assert_eq!(out.field("fingerprint:"), set.fp);
    no_secret(&out, &set.secret);

    // K shares and --secret: holds exactly that secret.
    let mut args = vec![
        "verify".to_string(),
        env.p(FILES[0]),
        env.p(FILES[1]),
        "--secret".into(),
        env.p("secret.bin"),
    ];
    for p in set.pws(&[0, 1]) {
        args.extend(["--password-file".into(), p.to_string()]);
    }
    env.run(&args)
        .ok()
        .stdout_has(&["it holds exactly the secret in"]);

    // One share with the wrong password: fails, naming it.
    let out = open_cmd(env, "verify", &[FILES[1]], &set.pws(&[0]), None);
    // Checked alone, the share's own failure is the answer: a wrong password is exit 3.
    out.code(exit::AUTH)
        .error_has(&[&format!("{}: the password is wrong", env.p(FILES[1]))]);
    assert!(!out.stdout.contains("OK"), "{}", out.dump());
    no_secret(&out, &set.secret);
}

// ───────────────────────────── writing a set ─────────────────────────────

#[test]
fn a_write_failure_in_the_middle_of_a_split_reports_an_incomplete_set() {
    let env = Env::new("split-fault");
    env.init_token(TOKEN);
    env.keygen(TOKEN, KEY, "aes");
    let secret = env.secret("secret.bin", 32);
    let mut args: Vec<String> = vec![
        "backup".into(),
        "--secret".into(),
        env.p("secret.bin"),
        "--threshold".into(),
        "2".into(),
    ];
    for f in FILES {
        args.extend(["--out".into(), env.p(f)]);
    }
    args.extend(WEAK_KDF.iter().map(|s| s.to_string()));
    args.extend([
        "--allow-same-device".into(),
        "--token".into(),
        uri(TOKEN, KEY),
        "--password-file".into(),
        env.password_file(),
    ]);
    let out = env.run_env(&args, &[("CUSTODY_FAULT_INJECT", Some("rename@2"))]);
    out.code(exit::OTHER);
    no_secret(&out, &secret);
    let (a, b, c) = (env.p(FILES[0]), env.p(FILES[1]), env.p(FILES[2]));
    out.error_has(&[
        "the split set is INCOMPLETE",
        &format!("writing {b} failed"),
        "(injected by CUSTODY_FAULT_INJECT=rename)",
        &format!("Written: {a}."),
        &format!("Not written: {c}."),
        "never completed",
    ])
    .stderr_has(&["destroy the written shares"]);
    // What is on disk matches the message: the first share, nothing else, no temporary file.
    assert!(env.path(FILES[0]).is_file(), "{a} should exist");
    env.assert_absent(FILES[1]);
    env.assert_absent(FILES[2]);
    env.assert_no_temp_files(".");
    assert!(
        !out.stdout.contains("written and read back"),
        "no success report after a partial write\n{}",
        out.dump()
    );
    // The share that was written is a share of a set that has no other file: it alone
    // restores nothing.
    let j = inspect_json(&env, FILES[0]);
    assert_eq!(
        (&j["index"], &j["count"]),
        (&serde_json::json!(1), &serde_json::json!(3))
    );
    let pw = env.password_file();
    let out = restore_set(&env, &[FILES[0]], &[&pw], "r.bin");
    failed_cleanly(&env, &out, exit::NOT_ENOUGH_SHARES, "r.bin", &secret);
}

#[test]
fn usage_errors_of_a_split_backup_write_nothing() {
    let env = Env::new("split-usage");
    env.init_token(TOKEN);
    env.keygen(TOKEN, KEY, "aes");
    env.secret("secret.bin", 32);
    let u = uri(TOKEN, KEY);
    let pw = env.password_file();
    let three = |extra: &[&str]| -> Vec<String> {
        let mut v: Vec<String> = vec!["backup".into(), "--secret".into(), env.p("secret.bin")];
        for f in FILES {
            v.extend(["--out".into(), env.p(f)]);
        }
        v.extend(WEAK_KDF.iter().map(|s| s.to_string()));
        v.extend(
            ["--allow-same-device", "--token", &u, "--password-file", &pw]
                .iter()
                .map(|s| s.to_string()),
        );
        v.extend(extra.iter().map(|s| s.to_string()));
        v
    };
    let cases: Vec<(&str, Vec<String>, Vec<&str>)> = vec![
        (
            "threshold 1",
            three(&["--threshold", "1"]),
            vec!["--threshold 1 with 3 --out", "2 ≤ K ≤ N"],
        ),
        (
            "threshold 4",
            three(&["--threshold", "4"]),
            vec!["--threshold 4 with 3 --out", "2 ≤ K ≤ N"],
        ),
        (
            "no threshold",
            three(&[]),
            vec!["3 --out given", "needs --threshold K"],
        ),
        (
            "two hints",
            three(&["--threshold", "2", "--hint", "h1", "--hint", "h2"]),
            vec!["2 --hint for 3 --out", "one per share"],
        ),
        (
            "two officers",
            three(&["--threshold", "2", "--officer", "A", "--officer", "B"]),
            vec!["2 --officer for 3 --out"],
        ),
        (
            "two password files",
            three(&["--threshold", "2", "--password-file", &pw]),
            vec!["2 --password-file for 3 --out"],
        ),
        (
            "share-token 4",
            three(&["--threshold", "2", "--share-token", &format!("4={u}")]),
            vec!["--share-token 4=", "I must be 1..=3"],
        ),
        (
            "share-token 0",
            three(&["--threshold", "2", "--share-token", &format!("0={u}")]),
            vec!["--share-token 0=", "I must be 1..=3"],
        ),
    ];
    for (what, args, parts) in cases {
        let out = env.run(&args);
        out.code(exit::USAGE).error_has(&parts);
        for f in FILES {
            env.assert_absent(f);
        }
        env.assert_no_temp_files(".");
        eprintln!("{what}: {}", out.error_text().trim());
    }
}

#[test]
fn two_outputs_on_one_filesystem_are_refused_without_allow_same_device() {
    let env = Env::new("split-same-dev");
    env.init_token(TOKEN);
    env.keygen(TOKEN, KEY, "aes");
    env.secret("secret.bin", 32);
    let mut args: Vec<String> = vec![
        "backup".into(),
        "--secret".into(),
        env.p("secret.bin"),
        "--threshold".into(),
        "2".into(),
    ];
    for f in FILES {
        args.extend(["--out".into(), env.p(f)]);
    }
    args.extend(WEAK_KDF.iter().map(|s| s.to_string()));
    args.extend([
        "--token".into(),
        uri(TOKEN, KEY),
        "--password-file".into(),
        env.password_file(),
    ]);
    let out = env.run(&args);
    out.code(exit::USAGE).error_has(&[
        &format!(
            "{} and {} are on the same filesystem",
            env.p(FILES[0]),
            env.p(FILES[1])
        ),
        "--allow-same-device",
    ]);
    for f in FILES {
        env.assert_absent(f);
    }
    env.assert_no_temp_files(".");
}

// ───────────────────────────── the README ─────────────────────────────

/// The fingerprint in "Restored N bytes (fingerprint XXXX-XXXX-XXXX-XXXX, as the file records it;
/// ...".
#[track_caller]
fn restored_fingerprint(out: &Out) -> String {
    let s = &out.stderr;
    let i = s
        .find("(fingerprint ")
        .unwrap_or_else(|| panic!("no restored fingerprint\n{}", out.dump()));
    let rest = &s[i + "(fingerprint ".len()..];
    let j = rest
        .find(", as the file records it")
        .unwrap_or_else(|| panic!("no \", as the file records it\"\n{}", out.dump()));
    rest[..j].to_owned()
}

#[track_caller]
fn assert_fingerprint_shape(fp: &str) {
    let groups: Vec<&str> = fp.split('-').collect();
    assert!(
        groups.len() == 4
            && groups.iter().all(|g| g.len() == 4
                && g.chars()
                    .all(|c| c.is_ascii_digit() || c.is_ascii_uppercase())),
        "not a XXXX-XXXX-XXXX-XXXX fingerprint: {fp:?}"
    );
}

/// README §4: a 2-of-3 set on three media (one directory each, one filesystem here), under the
/// vault HSM key and a spare token; any two officers restore, and the fingerprint printed at
/// backup is the one printed at every restore.
#[test]
fn readme_walkthrough_two_of_three_on_three_media() {
    let env = Env::new("split-readme");
    env.init_token("Vault HSM");
    env.keygen("Vault%20HSM", "custody-aes", "aes");
    env.init_token("Spare");
    env.keygen("Spare", "custody-p256", "p256");
    let generated = env.run(["generate", "--out", &env.p("master.key")]);
    generated.ok();
    let secret = env.read("master.key");
    let media = ["media/alice", "media/bob", "media/carol"];
    for m in media {
        std::fs::create_dir_all(env.path(m)).unwrap();
    }
    let shares: Vec<String> = media.iter().map(|m| format!("{m}/vault.share")).collect();
    let shares: Vec<&str> = shares.iter().map(String::as_str).collect();
    let pw: Vec<String> = OFFICERS.iter().map(|o| officer_password(&env, o)).collect();
    let vault = uri("Vault%20HSM", "custody-aes");
    let spare = uri("Spare", "custody-p256");
    let out = split_backup(
        &env,
        "master.key",
        2,
        &shares,
        &[
            "--officer",
            "Alice",
            "--officer",
            "Bob",
            "--officer",
            "Carol",
            "--token",
            &vault,
            "--token",
            &spare,
            "--password-file",
            &pw[0],
            "--password-file",
            &pw[1],
            "--password-file",
            &pw[2],
        ],
    );
    out.ok()
        .stdout_has(&[
            "any 2 of them restore the secret",
            "\"Vault HSM\"",
            "\"Spare\"",
        ])
        .stderr_lacks(&["lost with it"]);
    no_secret(&out, &secret);
    let backup_fp = out.field("fingerprint:");
    assert_fingerprint_shape(&backup_fp);
    // `custody generate` printed the same fingerprint.
    assert!(
        generated
            .all()
            .contains(&format!("Fingerprint: {backup_fp}")),
        "generate printed another fingerprint\n{}",
        generated.dump()
    );
    for m in media {
        assert_eq!(env.entries(m), vec!["vault.share".to_string()]);
    }

    for (a, b) in [(0, 2), (0, 1), (1, 2)] {
        let r = format!("master-{a}{b}.key");
        let out = restore_set(&env, &[shares[a], shares[b]], &[&pw[a], &pw[b]], &r);
        out.ok();
        no_secret(&out, &secret);
        assert_eq!(restored_fingerprint(&out), backup_fp, "{}", out.dump());
        assert_restored(&env, &r, &secret);
    }
    // Each officer checks their own share alone.
    for i in 0..3 {
        let out = open_cmd(&env, "verify", &[shares[i]], &[&pw[i]], None);
        out.ok().stdout_has(&[&format!(
            "the share of officer {} (share {}) opens and matches its commitment",
            OFFICERS[i],
            i + 1
        )]);
        assert_eq!(out.field("fingerprint:"), backup_fp);
    }
}

/// The token URIs of README §4's split example, as printed there.
fn readme_split_token_uris() -> Vec<String> {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/README.md"))
        .expect("README.md");
    let start = readme
        .find("Split custody")
        .expect("README has a split custody section");
    let section = &readme[start..];
    let end = section
        .find("**The restore ceremony.**")
        .unwrap_or(section.len());
    section[..end]
        .lines()
        .filter_map(|l| {
            let i = l.find("--token '")?;
            let rest = &l[i + "--token '".len()..];
            Some(rest[..rest.find('\'')?].to_owned())
        })
        .collect()
}

/// README §4 prints `--token 'pkcs11:token=Vault HSM;object=custody-aes'`, with a raw space,
/// which custody's URI parser refuses on purpose (a space must be `%20`).
#[test]
fn readme_split_example_token_uris_are_accepted_as_printed() {
    let uris = readme_split_token_uris();
    assert_eq!(uris.len(), 2, "{uris:?}");
    let env = Env::new("split-readme-uris");
    env.init_token("Vault HSM");
    env.keygen("Vault%20HSM", "custody-aes", "aes");
    env.init_token("Spare");
    env.keygen("Spare", "custody-p256", "p256");
    env.secret("master.key", 32);
    let mut extra: Vec<&str> = vec!["--password-file"];
    let pw = env.password_file();
    extra.push(&pw);
    for u in &uris {
        extra.extend(["--token", u]);
    }
    split_backup(
        &env,
        "master.key",
        2,
        &["a.share", "b.share", "c.share"],
        &extra,
    )
    .ok();
}

// ─────────────── issue 8, item 3: groups by set before any password ───────────────

/// A copy of `file` with `field`'s line replaced by `line` (checksum recomputed).
fn altered_copy(env: &Env, file: &str, rel: &str, field: &str, line: &str) {
    let bytes = env.read(file);
    env.write(rel, &replace_line(&bytes, &format!("{field}:"), line));
}

/// No password file and no terminal: anything asked would fail with its own error.
fn restore_asking_nothing(env: &Env, files: &[&str], out: &str, extra: &[&str]) -> Out {
    let mut args: Vec<String> = vec!["restore".into()];
    args.extend(files.iter().map(|f| env.p(f)));
    args.extend(["--out".into(), env.p(out)]);
    args.extend(extra.iter().map(|s| s.to_string()));
    env.run_setsid(&args, &[("CUSTODY_PASSWORD", None)])
}

#[test]
fn two_groups_that_could_each_restore_one_set_id_stop_before_any_password() {
    let set = officers_2_of_3("split-rivals");
    let env = &set.env;
    // Shares 1 and 2 copied with another fingerprint field (a forger's two shares copying
    // the set id): a second group of 2 distinct shares, as restorable on its face as the first.
    let good_fp = line_value(&env.read(FILES[0]), "fingerprint");
    let forged_fp = format!(
        "{}{}",
        &good_fp[..good_fp.len() - 1],
        if good_fp.ends_with('0') { '1' } else { '0' }
    );
    for (i, rel) in [(0, "f1.share"), (1, "f2.share")] {
        altered_copy(
            env,
            FILES[i],
            rel,
            "fingerprint",
            &format!("fingerprint: {forged_fp}"),
        );
    }
    let files = [FILES[0], FILES[1], "f1.share", "f2.share"];
    let out = restore_asking_nothing(env, &files, "r.bin", &[]);
    out.code(exit::DAMAGED)
        .stderr_lacks(&["Password for", "Share of"])
        .error_has(&["two groups of files claim set", &set.set_id]);
    for f in files {
        out.error_has(&[&env.p(f)]);
    }
    // The files were shown by set first.
    out.stderr_has(&["The files given, by set"]);
    env.assert_absent("r.bin");

    // The fingerprint from the paper log accepts exactly one group: it is restored, the other
    // named.
    let mut extra = vec!["--expect-fingerprint", &good_fp];
    let pws = set.pws(&[0, 1, 0, 1]);
    for p in &pws {
        extra.extend(["--password-file", p]);
    }
    let out = restore_asking_nothing(env, &files, "r.bin", &extra);
    out.ok()
        .stderr_has(&[&format!("{}: claims set", env.p("f1.share"))]);
    assert_restored(env, "r.bin", &set.secret);
}

#[test]
fn a_smaller_altered_group_needs_the_fingerprint_checked_and_foreign_files_a_yes() {
    let set = officers_2_of_3("split-smaller");
    let env = &set.env;
    altered_copy(
        env,
        FILES[2],
        "c-label.share",
        "label",
        "label: not the real label",
    );
    let files = [FILES[0], FILES[1], "c-label.share"];
    // Non-interactively, without --record or --expect-fingerprint: refused before any password.
    let out = restore_asking_nothing(env, &files, "r.bin", &[]);
    out.code(exit::DAMAGED)
        .stderr_lacks(&["Password for", "Share of"])
        .error_has(&["differ from it", &env.p("c-label.share")]);
    env.assert_absent("r.bin");
    // With the fingerprint, the altered file is named and left out.
    let out = open_cmd_with(
        env,
        "restore",
        &files,
        &set.pws(&[0, 1, 2]),
        Some("r.bin"),
        &["--expect-fingerprint", &set.fp],
    );
    out.ok();
    assert_restored(env, "r.bin", &set.secret);

    // A file of another set: named; without --ignore-foreign and nobody to confirm, exit 2
    // before any password.
    env.secret("other.bin", 32);
    split_backup(
        env,
        "other.bin",
        2,
        &["o1.share", "o2.share"],
        &["--token", &uri(TOKEN, KEY), "--password-file", &set.pw[0]],
    )
    .ok();
    let files = [FILES[0], "o1.share", FILES[1]];
    let out = restore_asking_nothing(env, &files, "r2.bin", &[]);
    out.code(exit::USAGE)
        .stderr_lacks(&["Password for", "Share of"])
        .error_has(&["another set", &env.p("o1.share"), "--ignore-foreign"]);
    env.assert_absent("r2.bin");
}
