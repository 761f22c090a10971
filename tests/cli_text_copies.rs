//! Windows text-mode copies through the CLI (docs/FORMAT.md, "Text-mode copies (not part of
//! v1)"): restore, verify, inspect, rewrap and reshare read a whole CRLF and/or byte-order-mark
//! copy as the bytes it was made from and say so; a copy with CRLF on some lines only is still
//! damaged.

mod common;

use common::cli::{Env, WEAK_KDF, exit, uri};

const BOM: &[u8] = b"\xef\xbb\xbf";

/// A token with an AES key, a backup `b.cb` of a fresh secret, and its text-mode copies:
/// `crlf.cb`, `crlf-bom.cb`, `bom.cb` and `mixed.cb` (CRLF on the first three lines only).
fn fixture(name: &str) -> (Env, Vec<u8>) {
    let env = Env::new(name);
    env.init_token("tc-tok");
    env.keygen("tc-tok", "k", "aes");
    let secret = env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("tc-tok", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    let good = env.read("b.cb");
    let crlf: Vec<u8> = String::from_utf8(good.clone())
        .expect("a backup is UTF-8")
        .replace('\n', "\r\n")
        .into_bytes();
    env.write("crlf.cb", &crlf);
    env.write("crlf-bom.cb", &[BOM, &crlf].concat());
    env.write("bom.cb", &[BOM, &good].concat());
    let mixed = String::from_utf8(good)
        .expect("a backup is UTF-8")
        .replacen('\n', "\r\n", 3);
    env.write("mixed.cb", mixed.as_bytes());
    (env, secret)
}

fn notice(env: &Env, rel: &str) -> String {
    format!(
        "warning: {} is a Windows (CRLF/BOM) copy, read as its original bytes",
        env.p(rel)
    )
}

#[test]
fn restore_and_verify_read_a_windows_copy_and_say_so() {
    let (env, secret) = fixture("tc-restore");
    for (i, copy) in ["crlf.cb", "crlf-bom.cb", "bom.cb"].iter().enumerate() {
        let out_file = format!("r{i}.bin");
        env.restore(copy, &out_file, &[])
            .ok()
            .stderr_has(&[&notice(&env, copy), "Restored 32 bytes"]);
        assert_eq!(env.read(&out_file), secret, "{copy}");
        env.run([
            "verify",
            &env.p(copy),
            "--password-file",
            &env.password_file(),
        ])
        .ok()
        .stderr_has(&[&notice(&env, copy)])
        .stdout_has(&["OK, it opens with"]);
    }
    // The file as written is not announced.
    env.restore("b.cb", "r.bin", &[])
        .ok()
        .stderr_lacks(&["Windows"]);
}

#[test]
fn a_copy_with_crlf_on_some_lines_only_stays_damaged() {
    let (env, _) = fixture("tc-mixed");
    env.restore("mixed.cb", "r.bin", &[])
        .code(exit::DAMAGED)
        .stderr_lacks(&["Windows"])
        .error_has(&[&env.p("mixed.cb"), "damaged"]);
    env.assert_absent("r.bin");
    env.run([
        "verify",
        &env.p("mixed.cb"),
        "--password-file",
        &env.password_file(),
    ])
    .code(exit::DAMAGED)
    .stderr_lacks(&["Windows"]);
    env.run(["inspect", &env.p("mixed.cb")])
        .code(exit::DAMAGED)
        .stderr_lacks(&["Windows"]);
}

#[test]
fn inspect_reads_a_windows_copy_and_says_so() {
    let (env, _) = fixture("tc-inspect");
    let original = env.run(["inspect", &env.p("b.cb")]);
    original.ok().stderr_lacks(&["Windows"]);
    let out = env.run(["inspect", &env.p("crlf-bom.cb")]);
    out.ok().stderr_has(&[&notice(&env, "crlf-bom.cb")]);
    // Everything but the file name as for the original.
    assert_eq!(
        out.stdout.replace(&env.p("crlf-bom.cb"), "FILE"),
        original.stdout.replace(&env.p("b.cb"), "FILE")
    );
    let out = env.run(["inspect", "--json", &env.p("crlf.cb")]);
    out.ok().stderr_has(&[&notice(&env, "crlf.cb")]);
    let doc: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    let j = &doc["files"][0];
    let read = common::cli::sha256_hex(&env.read("crlf.cb"));
    let repaired = common::cli::sha256_hex(&env.read("b.cb"));
    assert_eq!(j["text_copy"]["read_sha256"], read.as_str(), "{j:#}");
    assert_eq!(
        j["text_copy"]["repaired_sha256"],
        repaired.as_str(),
        "{j:#}"
    );
    let j = common::cli::inspect_json(&env, "b.cb");
    assert!(j.get("text_copy").is_none(), "{j:#}");
}

#[test]
fn rewrap_and_reshare_read_a_windows_copy_and_write_v1() {
    let (env, secret) = fixture("tc-change");
    env.write("new-pw", b"another password altogether\n");
    let mut args: Vec<String> = [
        "rewrap",
        &env.p("crlf-bom.cb"),
        "--out",
        &env.p("rewrapped.cb"),
        "--password-file",
        &env.password_file(),
        "--new-password-file",
        &env.p("new-pw"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    env.run(&args)
        .ok()
        .stderr_has(&[&notice(&env, "crlf-bom.cb")]);
    let rewrapped = env.read("rewrapped.cb");
    assert!(
        !rewrapped.contains(&b'\r') && rewrapped.starts_with(b"custody-backup v1\n"),
        "a rewrap writes a v1 file"
    );
    args = [
        "restore",
        &env.p("rewrapped.cb"),
        "--out",
        &env.p("r1.bin"),
        "--password-file",
        &env.p("new-pw"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    env.run(&args).ok().stderr_lacks(&["Windows"]);
    assert_eq!(env.read("r1.bin"), secret);

    let mut args: Vec<String> = [
        "reshare",
        &env.p("crlf.cb"),
        "--password-file",
        &env.password_file(),
        "--threshold",
        "1",
        "--out",
        &env.p("reshared.cb"),
        "--token",
        &uri("tc-tok", "k"),
        "--single-token",
        "--new-password-file",
        &env.p("new-pw"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(WEAK_KDF.iter().map(|s| s.to_string()));
    env.run(&args).ok().stderr_has(&[&notice(&env, "crlf.cb")]);
    let args: Vec<String> = [
        "restore",
        &env.p("reshared.cb"),
        "--out",
        &env.p("r2.bin"),
        "--password-file",
        &env.p("new-pw"),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    env.run(&args).ok().stderr_lacks(&["Windows"]);
    assert_eq!(env.read("r2.bin"), secret);
}

#[test]
fn a_share_that_is_a_windows_copy_restores_with_the_others_and_is_named() {
    let env = Env::new("tc-split");
    env.init_token("tc-tok");
    env.keygen("tc-tok", "k", "aes");
    let secret = env.secret("secret.bin", 32);
    let mut args: Vec<String> = [
        "backup",
        "--secret",
        &env.p("secret.bin"),
        "--threshold",
        "2",
        "--out",
        &env.p("a.share"),
        "--out",
        &env.p("b.share"),
        "--token",
        &uri("tc-tok", "k"),
        "--single-token",
        "--allow-same-device",
        "--password-file",
        &env.password_file(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(WEAK_KDF.iter().map(|s| s.to_string()));
    env.run(&args).ok();
    let crlf = String::from_utf8(env.read("b.share"))
        .expect("a share is UTF-8")
        .replace('\n', "\r\n");
    env.write("b-crlf.share", [BOM, crlf.as_bytes()].concat().as_slice());
    let out = env.run([
        "restore",
        &env.p("a.share"),
        &env.p("b-crlf.share"),
        "--out",
        &env.p("r.bin"),
        "--password-file",
        &env.password_file(),
    ]);
    out.ok().stderr_has(&[&notice(&env, "b-crlf.share")]);
    assert_eq!(out.stderr.matches("Windows").count(), 1, "{}", out.dump());
    assert_eq!(env.read("r.bin"), secret);
}
