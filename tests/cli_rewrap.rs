//! `custody rewrap` (one file's password, hint, KDF parameters and tokens, same secret) and
//! `custody reshare` (a new set of the same secret from K shares of an old one, or from a
//! single backup), end to end.

mod common;

use common::cli::{
    Env, Out, WEAK_KDF, assert_restored, exit, failed_cleanly, inspect_json, no_secret, uri,
};

// ───────────────────────────── helpers ─────────────────────────────

/// Write a password file `rel` holding `password` and return its path.
fn password(env: &Env, rel: &str, password: &str) -> String {
    env.write(rel, format!("{password}\n").as_bytes());
    env.p(rel)
}

/// `custody rewrap <file> --out <out>` plus `extra`.
fn rewrap(env: &Env, file: &str, out: &str, extra: &[&str]) -> Out {
    let mut args: Vec<String> = vec!["rewrap".into(), env.p(file), "--out".into(), env.p(out)];
    args.extend(extra.iter().map(|s| s.to_string()));
    env.run(&args)
}

/// `custody restore FILE... --out OUT --password-file P...` plus `extra` (`pws` are paths).
fn restore_with(env: &Env, files: &[&str], pws: &[&str], out: &str, extra: &[&str]) -> Out {
    let mut args: Vec<String> = vec!["restore".into()];
    args.extend(files.iter().map(|f| env.p(f)));
    args.extend(["--out".into(), env.p(out)]);
    for p in pws {
        args.extend(["--password-file".into(), (*p).to_string()]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    env.run(&args)
}

/// A token `label` holding one key `key` of `kind`.
fn token(env: &Env, label: &str, key: &str, kind: &str) -> String {
    env.init_token(label);
    env.keygen(label, key, kind);
    uri(label, key)
}

/// A single backup `b.cb` of a new 32-byte secret under `tokens`, with the kit's password and
/// hint "old hint".
fn single(env: &Env, tokens: &[&str]) -> (Vec<u8>, Out) {
    let secret = env.secret("secret.bin", 32);
    let out = env.backup(
        "secret.bin",
        tokens,
        "b.cb",
        &["--single-token", "--hint", "old hint"],
    );
    out.ok();
    (secret, out)
}

const OFFICERS: [&str; 3] = ["Alice", "Bob", "Carol"];
const FILES: [&str; 3] = ["alice.share", "bob.share", "carol.share"];

/// A 2-of-3 set of Alice, Bob and Carol, each with their own password, under one AES key;
/// returns the secret, the password files and the backup output.
fn set_2_of_3(env: &Env, tok: &str, label: &str) -> (Vec<u8>, Vec<String>, Out) {
    let secret = env.secret("secret.bin", 32);
    let pw: Vec<String> = OFFICERS
        .iter()
        .map(|o| password(env, &format!("pw-{o}"), &format!("{o}'s old password")))
        .collect();
    let mut args: Vec<String> = vec![
        "backup".into(),
        "--secret".into(),
        env.p("secret.bin"),
        "--threshold".into(),
        "2".into(),
        "--label".into(),
        label.into(),
        "--token".into(),
        tok.into(),
        "--single-token".into(),
        "--allow-same-device".into(),
    ];
    for i in 0..3 {
        args.extend([
            "--out".into(),
            env.p(FILES[i]),
            "--officer".into(),
            OFFICERS[i].into(),
            "--password-file".into(),
            pw[i].clone(),
        ]);
    }
    args.extend(WEAK_KDF.iter().map(|s| s.to_string()));
    let out = env.run(&args);
    out.ok();
    (secret, pw, out)
}

// ───────────────────────────── rewrap ─────────────────────────────

#[test]
fn rewrap_with_a_new_password() {
    let env = Env::new("rw-password");
    let t = token(&env, "rw-tok", "k", "aes");
    let (secret, _) = single(&env, &[&t]);
    let old = env.password_file();
    let new = password(&env, "new-pw", "a brand new password");

    // The wrong current password: refused, nothing written.
    let out = rewrap(
        &env,
        "b.cb",
        "n.cb",
        &["--password-file", &new, "--new-password-file", &new],
    );
    failed_cleanly(&env, &out, exit::AUTH, "n.cb", &secret);
    out.error_has(&[&env.p("b.cb"), "the password is wrong"]);

    let out = rewrap(
        &env,
        "b.cb",
        "n.cb",
        &["--password-file", &old, "--new-password-file", &new],
    );
    out.ok().stdout_has(&[
        &format!(
            "Rewrapped {} into {} with a new password: same secret, written and read back.",
            env.p("b.cb"),
            env.p("n.cb")
        ),
        &format!(
            "The old file {} still opens with its old password",
            env.p("b.cb")
        ),
    ]);
    no_secret(&out, &secret);

    // The new file: the new password only.
    let out = restore_with(&env, &["n.cb"], &[&new], "r-new.bin", &[]);
    out.ok();
    assert_restored(&env, "r-new.bin", &secret);
    let out = restore_with(&env, &["n.cb"], &[&old], "r-new-old.bin", &[]);
    failed_cleanly(&env, &out, exit::AUTH, "r-new-old.bin", &secret);
    out.error_has(&[&env.p("n.cb"), "the password is wrong"]);

    // The old file: still the old password only.
    let out = restore_with(&env, &["b.cb"], &[&old], "r-old.bin", &[]);
    out.ok();
    assert_restored(&env, "r-old.bin", &secret);
    let out = restore_with(&env, &["b.cb"], &[&new], "r-old-new.bin", &[]);
    failed_cleanly(&env, &out, exit::AUTH, "r-old-new.bin", &secret);

    // Same set id and fingerprint; the old hint went with the old password.
    let (a, b) = (inspect_json(&env, "b.cb"), inspect_json(&env, "n.cb"));
    assert_eq!(a["set_id"], b["set_id"]);
    assert_eq!(a["fingerprint_full"], b["fingerprint_full"]);
    assert_eq!(a["created"], b["created"]);
    assert_eq!(
        (&a["threshold"], &a["count"]),
        (&b["threshold"], &b["count"])
    );
    assert_ne!(a["kdf"], serde_json::Value::Null);
    assert_eq!(a["hint"], "old hint");
    assert_eq!(
        b["hint"], "",
        "a new password without --hint keeps no hint\n{b:#}"
    );

    // With --hint, the new file carries it.
    let out = rewrap(
        &env,
        "n.cb",
        "h.cb",
        &[
            "--password-file",
            &new,
            "--new-password-file",
            &old,
            "--hint",
            "the first one",
        ],
    );
    out.ok();
    assert_eq!(inspect_json(&env, "h.cb")["hint"], "the first one");
    restore_with(&env, &["h.cb"], &[&old], "r-h.bin", &[])
        .ok()
        .stderr_has(&["Password hint: the first one"]);
    assert_restored(&env, "r-h.bin", &secret);
}

#[test]
fn rewrap_adding_a_second_token_opens_with_either() {
    let env = Env::new("rw-add");
    let t1 = token(&env, "rw-first", "k1", "aes");
    let t2 = token(&env, "rw-second", "k2", "p256");
    let (secret, _) = single(&env, &[&t1]);
    assert_eq!(inspect_json(&env, "b.cb")["tokens_that_can_open"], 1);
    let pw = env.password_file();

    let out = rewrap(
        &env,
        "b.cb",
        "two.cb",
        &["--password-file", &pw, "--new-token", &t2],
    );
    out.ok()
        .stdout_has(&["\"rw-first\"", "\"rw-second\"", "same secret"])
        .stdout_lacks_with_a_new_password();
    no_secret(&out, &secret);
    let j = inspect_json(&env, "two.cb");
    assert_eq!(j["tokens_that_can_open"], 2, "{j:#}");
    let slots = j["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 2, "{j:#}");
    assert_eq!(
        (&slots[0]["token_label"], &slots[1]["token_label"]),
        (
            &serde_json::json!("rw-first"),
            &serde_json::json!("rw-second")
        )
    );
    assert_eq!(j["set_id"], inspect_json(&env, "b.cb")["set_id"]);

    // Each token alone, on a machine holding only that one, with the same password.
    for (label, other) in [("rw-first", "rw-second"), ("rw-second", "rw-first")] {
        let there = Env::new(&format!("rw-add-{label}"));
        there.copy_token_from(&env, label);
        there.write("two.cb", &env.read("two.cb"));
        there.write("b.cb", &env.read("b.cb"));
        let out = there.restore("two.cb", "r.bin", &[]);
        out.ok()
            .stderr_has(&[&format!("\"{label}\"")])
            .stderr_lacks(&[&format!("opened with PKCS#11 token \"{other}\"")]);
        assert_restored(&there, "r.bin", &secret);
        // The original file opens only where the first token is.
        let out = there.restore("b.cb", "r-old.bin", &[]);
        if label == "rw-first" {
            out.ok();
        } else {
            failed_cleanly(&there, &out, exit::NOT_FOUND, "r-old.bin", &secret);
            out.error_has(&["none of the tokens this file accepts is present"]);
        }
    }
}

trait NoNewPassword {
    fn stdout_lacks_with_a_new_password(&self) -> &Self;
}

impl NoNewPassword for Out {
    #[track_caller]
    fn stdout_lacks_with_a_new_password(&self) -> &Self {
        assert!(
            !self.stdout.contains("with a new password"),
            "no new password was asked for\n{}",
            self.dump()
        );
        self
    }
}

#[test]
fn rewrap_dropping_a_token() {
    let env = Env::new("rw-drop");
    let t1 = token(&env, "rw-keep", "k1", "aes");
    let t2 = token(&env, "rw-lost", "k2", "aes");
    let (secret, _) = single(&env, &[&t1, &t2]);
    let pw = env.password_file();
    assert_eq!(inspect_json(&env, "b.cb")["tokens_that_can_open"], 2);

    let out = rewrap(
        &env,
        "b.cb",
        "one.cb",
        &[
            "--password-file",
            &pw,
            "--drop-token",
            "pkcs11:token=rw-lost",
        ],
    );
    out.ok()
        .stdout_has(&["dropped:", "\"rw-lost\"", "\"rw-keep\""]);
    // Down to one token: said, as a backup with one token says it.
    out.stderr_has(&[
        "warning: after this rewrap only ",
        "\"rw-keep\"",
        "if that token is lost or broken",
        "  what to do: keep a spare",
    ]);
    let j = inspect_json(&env, "one.cb");
    let slots = j["slots"].as_array().unwrap();
    assert_eq!(slots.len(), 1, "{j:#}");
    assert_eq!(slots[0]["token_label"], "rw-keep", "{j:#}");

    // The remaining token opens it.
    let out = env.restore("one.cb", "r.bin", &[]);
    out.ok().stderr_has(&["\"rw-keep\""]);
    assert_restored(&env, "r.bin", &secret);
    let out = env.restore("one.cb", "r-keep.bin", &["--token", &t1]);
    out.ok();
    assert_restored(&env, "r-keep.bin", &secret);
    // The dropped key no longer does, even named explicitly.
    // (It is tried on the remaining AES slot and does not open it: exit 3, "did not open".)
    let out = env.restore("one.cb", "r-lost.bin", &["--token", &t2]);
    failed_cleanly(&env, &out, exit::AUTH, "r-lost.bin", &secret);
    out.error_has(&[&env.p("one.cb"), "did not open", "\"rw-lost\""]);
    // ... while it still opens the old file.
    env.restore("b.cb", "r-old.bin", &["--token", &t2]).ok();
    // On a machine with only the dropped token: nothing to open it with.
    let there = Env::new("rw-drop-there");
    there.copy_token_from(&env, "rw-lost");
    there.write("one.cb", &env.read("one.cb"));
    let out = there.restore("one.cb", "r.bin", &[]);
    failed_cleanly(&there, &out, exit::NOT_FOUND, "r.bin", &secret);

    // Dropping the only token left: refused, nothing written.
    let out = rewrap(
        &env,
        "one.cb",
        "none.cb",
        &[
            "--password-file",
            &pw,
            "--drop-token",
            "pkcs11:token=rw-keep",
        ],
    );
    failed_cleanly(&env, &out, exit::USAGE, "none.cb", &secret);
    out.error_has(&["no token able to open the file"]);

    // A --drop-token that names no slot: refused, nothing written.
    for (what, drop) in [
        ("another token", "pkcs11:token=no-such-token".to_string()),
        ("another key", uri("rw-keep", "not-this-key")),
        ("already dropped", "pkcs11:token=rw-lost".to_string()),
    ] {
        let out = rewrap(
            &env,
            "one.cb",
            "nomatch.cb",
            &["--password-file", &pw, "--drop-token", &drop],
        );
        failed_cleanly(&env, &out, exit::USAGE, "nomatch.cb", &secret);
        out.error_has(&["--drop-token names no slot of this file"]);
        eprintln!("{what}: {}", out.error_text().trim());
    }
}

#[test]
fn rewrap_a_share_with_a_new_password_keeps_the_share() {
    let env = Env::new("rw-share");
    let t = token(&env, "rw-share-tok", "k", "aes");
    let (secret, pw, backup) = set_2_of_3(&env, &t, "vault");
    let set_id = backup.field("set id:");
    let new = password(&env, "new-bob", "Bob's new password");

    let out = rewrap(
        &env,
        FILES[1],
        "bob-new.share",
        &["--password-file", &pw[1], "--new-password-file", &new],
    );
    out.ok()
        .stdout_has(&["with a new password: same share (2 of 3)", &set_id]);
    no_secret(&out, &secret);
    let (a, b) = (
        inspect_json(&env, FILES[1]),
        inspect_json(&env, "bob-new.share"),
    );
    for k in [
        "index",
        "set_id",
        "threshold",
        "count",
        "officers",
        "fingerprint_full",
        "label",
        "created",
    ] {
        assert_eq!(a[k], b[k], "{k} changed\n{a:#}\n{b:#}");
    }
    assert_eq!(b["index"], 2);
    assert_eq!(b["set_id"], set_id.as_str());

    // The rewrapped share with Alice's: the secret.
    for (files, pws, r) in [
        (["bob-new.share", FILES[0]], [&new, &pw[0]], "r1.bin"),
        ([FILES[2], "bob-new.share"], [&pw[2], &new], "r2.bin"),
    ] {
        let out = restore_with(&env, &files, &[pws[0].as_str(), pws[1].as_str()], r, &[]);
        out.ok().stderr_has(&["officer Bob (share 2)", &set_id]);
        no_secret(&out, &secret);
        assert_restored(&env, r, &secret);
    }
    // Bob's old password does not open the new file.
    let out = restore_with(
        &env,
        &["bob-new.share", FILES[0]],
        &[&pw[1], &pw[0]],
        "r3.bin",
        &[],
    );
    failed_cleanly(&env, &out, exit::NOT_ENOUGH_SHARES, "r3.bin", &secret);
    out.error_has(&[
        &format!(
            "officer Bob (share 2): {}: the password is wrong",
            env.p("bob-new.share")
        ),
        "(1 more)",
    ]);
}

#[test]
fn rewrap_with_new_kdf_memory_keeps_the_password() {
    let env = Env::new("rw-kdf");
    let t = token(&env, "rw-kdf-tok", "k", "aes");
    let (secret, _) = single(&env, &[&t]);
    let pw = env.password_file();
    assert_eq!(inspect_json(&env, "b.cb")["kdf"]["memory_kib"], 8192);

    // Weak parameters still need --allow-weak-kdf.
    let out = rewrap(
        &env,
        "b.cb",
        "k.cb",
        &["--password-file", &pw, "--kdf-memory", "16"],
    );
    failed_cleanly(&env, &out, exit::USAGE, "k.cb", &secret);
    out.error_has(&["--allow-weak-kdf"]);

    let out = rewrap(
        &env,
        "b.cb",
        "k.cb",
        &[
            "--password-file",
            &pw,
            "--kdf-memory",
            "16",
            "--allow-weak-kdf",
        ],
    );
    out.ok().stdout_lacks_with_a_new_password();
    let j = inspect_json(&env, "k.cb");
    assert_eq!(j["kdf"]["memory_kib"], 16 * 1024, "{j:#}");
    assert_eq!(j["kdf"]["weak"], true, "{j:#}");
    assert_eq!(
        j["hint"], "old hint",
        "the password and its hint are kept\n{j:#}"
    );
    env.run(["inspect", &env.p("k.cb")])
        .ok()
        .stdout_has(&["argon2id m=16 MiB"]);
    eprintln!(
        "rewrap --kdf-memory 16 of a t=1 p=1 file gave t={} p={}",
        j["kdf"]["iterations"], j["kdf"]["parallelism"]
    );
    // The same password opens it.
    let out = env.restore("k.cb", "r.bin", &[]);
    out.ok();
    assert_restored(&env, "r.bin", &secret);
}

/// `--kdf-memory` alone should change the memory only: "keeps the file's parameters unless
/// one of these is given" (rewrap --help). The parameters not given are taken from
/// `KdfParams::DEFAULT` (t=3, p=4) instead of the file, so a file made with more iterations
/// silently gets fewer: a "stronger Argon2id" rewrap (README) can weaken it.
#[test]
fn rewrap_kdf_memory_alone_keeps_the_file_iterations_and_parallelism() {
    let env = Env::new("rw-kdf-keep");
    let t = token(&env, "rw-kdf-keep-tok", "k", "aes");
    env.secret("secret.bin", 32);
    env.run([
        "backup",
        "--secret",
        &env.p("secret.bin"),
        "--token",
        &t,
        "--out",
        &env.p("b.cb"),
        "--password-file",
        &env.password_file(),
        "--single-token",
        "--kdf-memory",
        "8",
        "--kdf-iterations",
        "5",
        "--kdf-parallelism",
        "1",
        "--allow-weak-kdf",
    ])
    .ok();
    let before = inspect_json(&env, "b.cb");
    assert_eq!(
        (&before["kdf"]["iterations"], &before["kdf"]["parallelism"]),
        (&serde_json::json!(5), &serde_json::json!(1))
    );
    let pw = env.password_file();
    rewrap(
        &env,
        "b.cb",
        "k.cb",
        &[
            "--password-file",
            &pw,
            "--kdf-memory",
            "16",
            "--allow-weak-kdf",
        ],
    )
    .ok();
    let after = inspect_json(&env, "k.cb");
    assert_eq!(after["kdf"]["memory_kib"], 16 * 1024);
    assert_eq!(
        (&after["kdf"]["iterations"], &after["kdf"]["parallelism"]),
        (&serde_json::json!(5), &serde_json::json!(1)),
        "{after:#}"
    );
}

#[test]
fn rewrap_to_an_existing_file_needs_force() {
    let env = Env::new("rw-exists");
    let t = token(&env, "rw-ex-tok", "k", "aes");
    let (secret, _) = single(&env, &[&t]);
    let pw = env.password_file();
    let new = password(&env, "new-pw", "another new password");
    env.write("taken.cb", b"keep me\n");

    let out = rewrap(
        &env,
        "b.cb",
        "taken.cb",
        &["--password-file", &pw, "--new-password-file", &new],
    );
    out.code(exit::OUTPUT_EXISTS)
        .error_has(&[&env.p("taken.cb"), "already exists"]);
    assert_eq!(env.read("taken.cb"), b"keep me\n");
    env.assert_no_temp_files(".");
    no_secret(&out, &secret);

    let out = rewrap(
        &env,
        "b.cb",
        "taken.cb",
        &[
            "--password-file",
            &pw,
            "--new-password-file",
            &new,
            "--force",
        ],
    );
    out.ok();
    restore_with(&env, &["taken.cb"], &[&new], "r.bin", &[]).ok();
    assert_restored(&env, "r.bin", &secret);

    // --out may be the file itself, with --force: replaced in place.
    let out = rewrap(
        &env,
        "b.cb",
        "b.cb",
        &["--password-file", &pw, "--new-password-file", &new],
    );
    out.code(exit::OUTPUT_EXISTS);
    restore_with(&env, &["b.cb"], &[&pw], "r-still-old.bin", &[]).ok();
    let out = rewrap(
        &env,
        "b.cb",
        "b.cb",
        &[
            "--password-file",
            &pw,
            "--new-password-file",
            &new,
            "--force",
        ],
    );
    out.ok();
    env.assert_no_temp_files(".");
    restore_with(&env, &["b.cb"], &[&new], "r-in-place.bin", &[]).ok();
    assert_restored(&env, "r-in-place.bin", &secret);
    let out = restore_with(&env, &["b.cb"], &[&pw], "r-in-place-old.bin", &[]);
    failed_cleanly(&env, &out, exit::AUTH, "r-in-place-old.bin", &secret);
}

// ───────────────────────────── reshare ─────────────────────────────

/// `custody reshare FILE... --password-file P... --threshold K --out ... ` with `extra`.
fn reshare(env: &Env, files: &[&str], pws: &[&str], k: u8, outs: &[&str], extra: &[&str]) -> Out {
    let mut args: Vec<String> = vec!["reshare".into()];
    args.extend(files.iter().map(|f| env.p(f)));
    for p in pws {
        args.extend(["--password-file".into(), (*p).to_string()]);
    }
    args.extend(["--threshold".into(), k.to_string()]);
    for o in outs {
        args.extend(["--out".into(), env.p(o)]);
    }
    args.extend(WEAK_KDF.iter().map(|s| s.to_string()));
    args.push("--allow-same-device".into());
    args.extend(extra.iter().map(|s| s.to_string()));
    env.run(&args)
}

/// Every `k`-subset of `0..n`.
fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    (0u32..1 << n)
        .filter(|m| m.count_ones() as usize == k)
        .map(|m| (0..n).filter(|i| m & (1 << i) != 0).collect())
        .collect()
}

#[test]
fn reshare_two_of_three_into_three_of_four() {
    let env = Env::new("rs-3of4");
    let t = token(&env, "rs-tok", "k", "aes");
    let (secret, pw, backup) = set_2_of_3(&env, &t, "vault");
    let old_id = backup.field("set id:");
    let fp = backup.field("fingerprint:");
    let new_officers = ["Alice", "Bob", "Dave", "Erin"];
    let new_files = [
        "n-alice.share",
        "n-bob.share",
        "n-dave.share",
        "n-erin.share",
    ];
    let npw: Vec<String> = new_officers
        .iter()
        .map(|o| password(&env, &format!("npw-{o}"), &format!("{o}'s new password")))
        .collect();
    let mut extra: Vec<&str> = vec!["--token", &t, "--single-token"];
    for i in 0..4 {
        extra.extend(["--officer", new_officers[i], "--new-password-file", &npw[i]]);
    }

    // Carol's password wrong: the old set does not open, nothing new is written.
    let out = reshare(
        &env,
        &[FILES[0], FILES[2]],
        &[&pw[0], &pw[0]],
        3,
        &new_files,
        &extra,
    );
    out.code(exit::NOT_ENOUGH_SHARES).error_has(&[
        &format!(
            "officer Carol (share 3): {}: the password is wrong",
            env.p(FILES[2])
        ),
        "(1 more)",
    ]);
    no_secret(&out, &secret);
    for f in new_files {
        env.assert_absent(f);
    }
    env.assert_no_temp_files(".");

    // Alice and Carol make the new set.
    let out = reshare(
        &env,
        &[FILES[0], FILES[2]],
        &[&pw[0], &pw[2]],
        3,
        &new_files,
        &extra,
    );
    out.ok().stdout_has(&[
        "Split backup: 4 shares written and read back, any 3 of them restore the secret.",
        "Share 3 of 4 (officer Dave)",
        &format!(
            "The OLD files ({}, {}) stay valid until they are destroyed: destroy every old share now.",
            env.p(FILES[0]),
            env.p(FILES[2])
        ),
    ]);
    no_secret(&out, &secret);
    let new_id = out.field("set id:");
    assert_ne!(new_id, old_id, "a reshare makes a new set id");
    assert_eq!(
        out.field("fingerprint:"),
        fp,
        "same secret, same fingerprint"
    );
    for (i, f) in new_files.iter().enumerate() {
        let j = inspect_json(&env, f);
        assert_eq!(j["threshold"], 3, "{j:#}");
        assert_eq!(j["count"], 4, "{j:#}");
        assert_eq!(j["index"], i as u64 + 1, "{j:#}");
        assert_eq!(j["officers"], serde_json::json!(new_officers), "{j:#}");
        assert_eq!(j["label"], "vault", "the old label is kept\n{j:#}");
        assert_eq!(j["set_id"], new_id.as_str(), "{j:#}");
    }

    // Any 3 of the new 4 restore; no 2 do.
    for s in subsets(4, 3) {
        let files: Vec<&str> = s.iter().map(|&i| new_files[i]).collect();
        let pws: Vec<&str> = s.iter().map(|&i| npw[i].as_str()).collect();
        let r = format!("r3-{s:?}.bin").replace([' ', ',', '[', ']'], "");
        let out = restore_with(&env, &files, &pws, &r, &[]);
        out.ok().stderr_has(&[&new_id, &fp]);
        no_secret(&out, &secret);
        assert_restored(&env, &r, &secret);
    }
    for s in subsets(4, 2) {
        let files: Vec<&str> = s.iter().map(|&i| new_files[i]).collect();
        let pws: Vec<&str> = s.iter().map(|&i| npw[i].as_str()).collect();
        let r = format!("r2-{s:?}.bin").replace([' ', ',', '[', ']'], "");
        let out = restore_with(&env, &files, &pws, &r, &[]);
        failed_cleanly(&env, &out, exit::NOT_ENOUGH_SHARES, &r, &secret);
        out.error_has(&["3 needed (1 more)", &new_id]);
    }

    // The old shares still restore (until destroyed), with the old passwords.
    let out = restore_with(
        &env,
        &[FILES[1], FILES[0]],
        &[&pw[1], &pw[0]],
        "old.bin",
        &[],
    );
    out.ok().stderr_has(&[&old_id]);
    assert_restored(&env, "old.bin", &secret);

    // Old and new shares do not mix.
    let out = restore_with(
        &env,
        &[FILES[0], new_files[1], new_files[2]],
        &[&pw[0], &npw[1], &npw[2]],
        "mixed.bin",
        &[],
    );
    failed_cleanly(&env, &out, exit::NOT_ENOUGH_SHARES, "mixed.bin", &secret);
    out.error_has(&[&format!("{}: from another set ({old_id}", env.p(FILES[0]))]);
}

#[test]
fn reshare_a_single_backup_into_two_of_two() {
    let env = Env::new("rs-single");
    let t = token(&env, "rs1-tok", "k", "aes");
    let (secret, backup) = single(&env, &[&t]);
    let old_id = backup.field("set id:");
    let fp = backup.field("fingerprint:");
    let pw = env.password_file();
    let np1 = password(&env, "np1", "first new password");
    let np2 = password(&env, "np2", "second new password");
    let out = reshare(
        &env,
        &["b.cb"],
        &[&pw],
        2,
        &["x.share", "y.share"],
        &[
            "--token",
            &t,
            "--single-token",
            "--officer",
            "Xavier",
            "--officer",
            "Yolanda",
            "--new-password-file",
            &np1,
            "--new-password-file",
            &np2,
            "--label",
            "split from b.cb",
        ],
    );
    out.ok().stdout_has(&[
        "any 2 of them restore the secret",
        &format!("The OLD files ({}) stay valid", env.p("b.cb")),
    ]);
    no_secret(&out, &secret);
    let new_id = out.field("set id:");
    assert_ne!(new_id, old_id);
    assert_eq!(out.field("fingerprint:"), fp);
    let j = inspect_json(&env, "y.share");
    assert_eq!(
        (&j["threshold"], &j["count"], &j["index"], &j["label"]),
        (
            &serde_json::json!(2),
            &serde_json::json!(2),
            &serde_json::json!(2),
            &serde_json::json!("split from b.cb")
        )
    );
    env.run(["inspect", &env.p("x.share")])
        .ok()
        .stdout_has(&["share 1 of a 2-of-2 split set", "share 2: Yolanda"]);

    let out = restore_with(&env, &["y.share", "x.share"], &[&np2, &np1], "r.bin", &[]);
    out.ok()
        .stderr_has(&["opened with officer Yolanda (share 2), officer Xavier (share 1)"]);
    assert_restored(&env, "r.bin", &secret);
    // One share of a 2-of-2 is not enough; Yolanda holds the other.
    let out = restore_with(&env, &["x.share"], &[&np1], "r1.bin", &[]);
    failed_cleanly(&env, &out, exit::NOT_ENOUGH_SHARES, "r1.bin", &secret);
    out.error_has(&["(1 more)", "officer Yolanda (share 2)"]);
    // The single backup still opens.
    env.restore("b.cb", "r-old.bin", &[]).ok();
    assert_restored(&env, "r-old.bin", &secret);
}
