//! End-to-end round trips (backup then restore) and the ways opening a backup can fail because
//! of the token, the PIN or the password.

mod common;

use common::cli::{self, Env, PASSWORD, USER_PIN, assert_restored, exit, uri};

/// A token `label` with a key `key` of `kind` and a 32-byte secret in `secret.bin`.
fn one_token(env: &Env, label: &str, key: &str, kind: &str) -> Vec<u8> {
    env.init_token(label);
    env.keygen(label, key, kind);
    env.secret("secret.bin", 32)
}

#[test]
fn roundtrip_aes() {
    let env = Env::new("rt-aes");
    let secret = one_token(&env, "rt-aes-tok", "key-a", "aes");
    let out = env.backup(
        "secret.bin",
        &[&uri("rt-aes-tok", "key-a")],
        "b.cb",
        &["--single-token"],
    );
    out.ok().stdout_has(&[
        &format!("Backup written to {}", env.p("b.cb")),
        "it opens",
        "\"key-a\"",
        "\"rt-aes-tok\"",
        "(opened)",
        "WEAK",
    ]);
    let set_id = out.field("set id:");
    let fp = out.field("fingerprint:");
    let out = env.restore("b.cb", "r.bin", &[]);
    out.ok().stderr_has(&[
        "Restored 32 bytes",
        &set_id,
        &fp,
        "opened with PKCS#11 token \"rt-aes-tok\"",
        "AES key \"key-a\"",
    ]);
    assert_restored(&env, "r.bin", &secret);
    assert!(
        out.stdout.is_empty(),
        "restore to a file prints nothing on stdout"
    );
}

#[test]
fn roundtrip_p256() {
    let env = Env::new("rt-p256");
    let secret = one_token(&env, "rt-ec-tok", "key-e", "p256");
    env.backup(
        "secret.bin",
        &[&uri("rt-ec-tok", "key-e")],
        "b.cb",
        &["--single-token"],
    )
    .ok()
    .stdout_has(&["(opened)", "\"key-e\""]);
    env.restore("b.cb", "r.bin", &[])
        .ok()
        .stderr_has(&["P-256 key \"key-e\"", "\"rt-ec-tok\""]);
    assert_restored(&env, "r.bin", &secret);
}

#[test]
fn roundtrip_4096_byte_secret_and_16_byte_secret() {
    let env = Env::new("rt-sizes");
    env.init_token("rt-size-tok");
    env.keygen("rt-size-tok", "k", "aes");
    for n in [16usize, 4096] {
        let s = env.secret(&format!("s{n}"), n);
        env.backup(
            &format!("s{n}"),
            &[&uri("rt-size-tok", "k")],
            &format!("b{n}.cb"),
            &["--single-token"],
        )
        .ok();
        env.restore(&format!("b{n}.cb"), &format!("r{n}"), &[])
            .ok()
            .stderr_has(&[&format!("Restored {n} bytes")]);
        assert_restored(&env, &format!("r{n}"), &s);
    }
}

#[test]
fn backup_refuses_secrets_of_wrong_size_and_empty_stdin() {
    let env = Env::new("bk-sizes");
    env.init_token("bs-tok");
    env.keygen("bs-tok", "k", "aes");
    for n in [15usize, 4097] {
        env.write(&format!("s{n}"), &vec![0xA5; n]);
        env.backup(
            &format!("s{n}"),
            &[&uri("bs-tok", "k")],
            &format!("b{n}.cb"),
            &["--single-token"],
        )
        .code(exit::USAGE)
        .error_has(&[&format!("{n} bytes"), "16 to 4096"]);
        env.assert_absent(&format!("b{n}.cb"));
    }
    // --secret - with standard input null reads nothing.
    let mut args = vec!["backup", "--secret", "-", "--token"];
    let u = uri("bs-tok", "k");
    args.push(&u);
    let out_path = env.p("stdin.cb");
    let pw = env.password_file();
    args.extend(["--out", &out_path, "--password-file", &pw, "--single-token"]);
    args.extend(cli::WEAK_KDF);
    env.run(&args).code(exit::USAGE).error_has(&["0 bytes"]);
    env.assert_absent("stdin.cb");
}

#[test]
fn backup_refuses_the_same_key_twice() {
    let env = Env::new("bk-twice");
    env.init_token("tw-tok");
    env.keygen("tw-tok", "k", "aes");
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("tw-tok", "k"), &uri("tw-tok", "k")],
        "b.cb",
        &[],
    )
    .code(exit::USAGE)
    .error_has(&["\"k\"", "twice"]);
    env.assert_absent("b.cb");
}

#[test]
fn pubkey_backup_without_login_then_restore_with_the_token() {
    let env = Env::new("rt-pubkey");
    let secret = one_token(&env, "rt-pk-tok", "key-p", "p256");
    // A second P-256 key on the token: restore must pick the one the slot names.
    env.keygen("rt-pk-tok", "other-p", "p256");
    let out = env.run([
        "token",
        "pubkey",
        "--token",
        &uri("rt-pk-tok", "key-p"),
        "--out",
        &env.p("key.pub"),
    ]);
    out.ok();
    let hash = out.field("key hash:");

    // No PIN anywhere and no terminal: a backup from a public key must not need a login.
    let args = [
        "backup",
        "--secret",
        &env.p("secret.bin"),
        "--token",
        &format!("pubkey:{}", env.p("key.pub")),
        "--out",
        &env.p("b.cb"),
        "--password-file",
        &env.password_file(),
        "--single-token",
    ];
    let mut args: Vec<&str> = args.to_vec();
    args.extend(cli::WEAK_KDF);
    let out = env.run_setsid(&args, &[("CUSTODY_PIN", None)]);
    out.ok().stdout_has(&["UNVERIFIED", "\"key-p\""]);
    assert!(
        out.all().contains(&hash),
        "the backup output must show the key hash {hash}\n{}",
        out.dump()
    );
    out.stderr_has(&["public key", "cannot be checked"]);

    let out = env.run(["inspect", &env.p("b.cb")]);
    out.ok().stdout_has(&["UNVERIFIED", "\"key-p\"", &hash]);
    let v = common::cli::inspect_json(&env, "b.cb");
    assert_eq!(v["slots"][0]["verified"], false);
    assert_eq!(v["slots"][0]["key_hash"], hash.as_str());
    assert_eq!(v["slots"][0]["kind"], "pkcs11-p256");

    env.restore("b.cb", "r.bin", &[])
        .ok()
        .stderr_has(&["\"key-p\""]);
    assert_restored(&env, "r.bin", &secret);
}

#[test]
fn two_token_backup_restores_with_either_token_named() {
    let env = Env::new("rt-two");
    env.init_token("two-aaa");
    env.init_token("two-bbb");
    env.keygen("two-aaa", "ka", "aes");
    env.keygen("two-bbb", "kb", "p256");
    let secret = env.secret("secret.bin", 32);
    let out = env.backup(
        "secret.bin",
        &[&uri("two-aaa", "ka"), &uri("two-bbb", "kb")],
        "b.cb",
        &[],
    );
    out.ok().stdout_has(&["\"ka\"", "\"kb\""]);
    out.stderr_lacks(&["can be opened only with"]);
    assert_eq!(out.stdout.matches("(opened)").count(), 2, "{}", out.dump());

    env.restore("b.cb", "ra.bin", &["--token", &uri("two-aaa", "ka")])
        .ok()
        .stderr_has(&["opened with PKCS#11 token \"two-aaa\""]);
    assert_restored(&env, "ra.bin", &secret);
    env.restore("b.cb", "rb.bin", &["--token", &uri("two-bbb", "kb")])
        .ok()
        .stderr_has(&["opened with PKCS#11 token \"two-bbb\""]);
    assert_restored(&env, "rb.bin", &secret);
    // Both present, no --token: it opens.
    env.restore("b.cb", "r.bin", &[]).ok();
    assert_restored(&env, "r.bin", &secret);
}

#[test]
fn two_token_backup_restores_where_only_one_token_is_present() {
    let env = Env::new("rt-two-away");
    let sa = env.init_token("away-aaa");
    let sb = env.init_token("away-bbb");
    env.keygen("away-aaa", "ka", "aes");
    env.keygen("away-bbb", "kb", "p256");
    let secret = env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("away-aaa", "ka"), &uri("away-bbb", "kb")],
        "b.cb",
        &[],
    )
    .ok();
    let file = env.read("b.cb");

    // Another machine with only token A (the same token, moved), then one with only token B.
    for (label, serial, key) in [("away-aaa", &sa, "ka"), ("away-bbb", &sb, "kb")] {
        let other = Env::new("rt-two-away-1");
        other.copy_token_from(&env, label);
        assert_eq!(&other.serial_of(label), serial);
        other.write("b.cb", &file);
        other.restore("b.cb", "r.bin", &[]).ok().stderr_has(&[
            &format!("token \"{label}\" (serial {serial})"),
            &format!("key \"{key}\""),
        ]);
        assert_eq!(other.read("r.bin"), secret);
    }
}

#[test]
fn restore_without_an_accepted_token_lists_the_accepted_ones() {
    let env = Env::new("rt-none");
    let sa = env.init_token("acc-aaa");
    let sb = env.init_token("acc-bbb");
    env.keygen("acc-aaa", "ka", "aes");
    env.keygen("acc-bbb", "kb", "p256");
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("acc-aaa", "ka"), &uri("acc-bbb", "kb")],
        "b.cb",
        &[],
    )
    .ok();

    let other = Env::new("rt-none-1");
    other.init_token("stranger");
    other.keygen("stranger", "ka", "aes");
    other.write("b.cb", &env.read("b.cb"));
    let out = other.restore("b.cb", "r.bin", &[]);
    out.code(exit::NOT_FOUND).error_has(&[
        &other.p("b.cb"),
        "none of the tokens",
        "\"acc-aaa\"",
        &sa,
        "AES key \"ka\"",
        "\"acc-bbb\"",
        &sb,
        "P-256 key \"kb\"",
    ]);
    other.assert_absent("r.bin");

    // Naming a token that is not there: not found either, and it is named.
    let out = other.restore("b.cb", "r.bin", &["--token", &uri("acc-aaa", "ka")]);
    out.code(exit::NOT_FOUND).error_has(&["acc-aaa"]);
    other.assert_absent("r.bin");
}

#[test]
fn wrong_password_is_exit_3_and_says_so() {
    let env = Env::new("wrong-pw");
    one_token(&env, "wp-tok", "k", "aes");
    env.backup(
        "secret.bin",
        &[&uri("wp-tok", "k")],
        "b.cb",
        &["--single-token", "--hint", "the usual one"],
    )
    .ok();
    env.write("wrong", b"not the password\n");
    let out = env.run([
        "restore",
        &env.p("b.cb"),
        "--out",
        &env.p("r.bin"),
        "--password-file",
        &env.p("wrong"),
    ]);
    out.code(exit::AUTH)
        .error_has(&[&env.p("b.cb"), "password is wrong"])
        .stderr_has(&["Password hint: the usual one"]);
    env.assert_absent("r.bin");
    // The same through CUSTODY_PASSWORD, and verify.
    let out = env.run_env(
        ["verify", &env.p("b.cb")],
        &[("CUSTODY_PASSWORD", Some("still wrong"))],
    );
    out.code(exit::AUTH).error_has(&["password is wrong"]);
    // The right one through CUSTODY_PASSWORD works.
    env.run_env(
        ["verify", &env.p("b.cb")],
        &[("CUSTODY_PASSWORD", Some(PASSWORD))],
    )
    .ok();
}

#[test]
fn wrong_pin_is_exit_3_and_mentions_the_pin() {
    let env = Env::new("wrong-pin");
    one_token(&env, "pin-tok", "k", "aes");
    // At backup: nothing written.
    let mut args: Vec<String> = [
        "backup",
        "--secret",
        &env.p("secret.bin"),
        "--token",
        &uri("pin-tok", "k"),
        "--out",
        &env.p("b0.cb"),
        "--password-file",
        &env.password_file(),
        "--single-token",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(cli::WEAK_KDF.iter().map(|s| s.to_string()));
    let out = env.run_env(&args, &[("CUSTODY_PIN", Some("000000"))]);
    out.code(exit::AUTH).error_has(&["PIN", "\"pin-tok\""]);
    env.assert_absent("b0.cb");

    env.backup(
        "secret.bin",
        &[&uri("pin-tok", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    for extra in [vec![], vec!["--token".to_string(), uri("pin-tok", "k")]] {
        let mut args = vec![
            "restore".to_string(),
            env.p("b.cb"),
            "--out".into(),
            env.p("r.bin"),
            "--password-file".into(),
            env.password_file(),
        ];
        args.extend(extra);
        let out = env.run_env(&args, &[("CUSTODY_PIN", Some("000000"))]);
        out.code(exit::AUTH)
            .error_has(&["PIN", "refused", "\"pin-tok\""]);
        env.assert_absent("r.bin");
    }
}

/// Ways custody may say "this is another key than the slot's".
const WRONG_KEY: &[&str] = &[
    "not the key this slot was made with",
    "another key than the one",
];

/// `custody token keygen` with an explicit key id (`;id=%01`).
fn keygen_with_id(env: &Env, token: &str, key: &str, kind: &str) {
    env.run([
        "token",
        "keygen",
        "--token",
        &format!("{};id=%01", uri(token, key)),
        "--type",
        kind,
    ])
    .ok()
    .stdout_has(&["(id 01)"]);
}

#[test]
fn another_token_with_a_same_label_aes_key_is_exit_3_naming_the_key() {
    let env = Env::new("same-label");
    env.init_token("twin");
    keygen_with_id(&env, "twin", "k", "aes");
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("twin", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();

    // Another token with the same label, holding a different key with the same label and id.
    let other = Env::new("same-label-1");
    let serial2 = other.init_token("twin");
    keygen_with_id(&other, "twin", "k", "aes");
    other.write("b.cb", &env.read("b.cb"));
    // The file names the token by a label another token also has: without --token, that
    // token's PIN is not sent on the file's word (issue 8, item 7): exit 4, use --token.
    let out = other.restore("b.cb", "r.bin", &[]);
    out.code(exit::NOT_FOUND)
        .error_has(&["\"twin\"", &serial2, "label only", "--token"]);
    other.assert_absent("r.bin");
    // Named with --token: the same.
    let out = other.restore("b.cb", "r.bin", &["--token", &uri("twin", "k")]);
    out.code(exit::AUTH)
        .error_has(&["key \"k\""])
        .error_has_any(WRONG_KEY);
    other.assert_absent("r.bin");
}

#[test]
fn another_token_with_a_same_label_key_of_another_id_is_not_found() {
    let env = Env::new("same-label-id");
    one_token(&env, "twin-id", "k", "aes");
    env.backup(
        "secret.bin",
        &[&uri("twin-id", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    let id = cli::line_value(&env.read("b.cb"), "key-id");

    // Same token label and key label, but `custody token keygen` chose another random id.
    let other = Env::new("same-label-id-1");
    let serial2 = other.init_token("twin-id");
    other.keygen("twin-id", "k", "aes");
    other.write("b.cb", &env.read("b.cb"));
    let out = other.restore("b.cb", "r.bin", &[]);
    out.code(exit::NOT_FOUND)
        .error_has(&["\"twin-id\"", &serial2, "\"k\"", &id]);
    other.assert_absent("r.bin");
}

#[test]
fn another_p256_key_with_the_same_labels_is_refused_naming_the_key() {
    let env = Env::new("p256-mismatch");
    env.init_token("twin-ec");
    keygen_with_id(&env, "twin-ec", "e", "p256");
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("twin-ec", "e")],
        "b.cb",
        &["--single-token"],
    )
    .ok();

    let other = Env::new("p256-mismatch-1");
    other.init_token("twin-ec");
    keygen_with_id(&other, "twin-ec", "e", "p256");
    other.write("b.cb", &env.read("b.cb"));
    // Without --token the token, matched by label only, is not logged in to: exit 4.
    let out = other.restore("b.cb", "r.bin", &[]);
    out.code(exit::NOT_FOUND)
        .error_has(&["\"twin-ec\"", "label only", "--token"]);
    other.assert_absent("r.bin");
    let out = other.restore("b.cb", "r.bin", &["--token", &uri("twin-ec", "e")]);
    out.failed()
        .error_has(&["key \"e\"", "\"twin-ec\"", "not the one this slot names"]);
    assert_eq!(out.code, exit::AUTH, "{}", out.dump());
    other.assert_absent("r.bin");
}

#[test]
fn no_password_and_no_terminal_fails_clearly() {
    let env = Env::new("noninteractive");
    one_token(&env, "ni-tok", "k", "aes");
    let mut args = vec![
        "backup".to_string(),
        "--secret".into(),
        env.p("secret.bin"),
        "--token".into(),
        uri("ni-tok", "k"),
        "--out".into(),
        env.p("b.cb"),
        "--single-token".into(),
    ];
    args.extend(cli::WEAK_KDF.iter().map(|s| s.to_string()));
    let out = env.run_setsid(&args, &[("CUSTODY_PASSWORD", None)]);
    out.code(exit::OTHER)
        .error_has(&["password", &env.p("b.cb"), "is needed", "no terminal"]);
    out.stderr_has(&["--password-file", "CUSTODY_PASSWORD"]);
    env.assert_absent("b.cb");
    env.assert_no_temp_files(".");

    env.backup(
        "secret.bin",
        &[&uri("ni-tok", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    let out = env.run_setsid(
        ["restore", &env.p("b.cb"), "--out", &env.p("r.bin")],
        &[("CUSTODY_PASSWORD", None)],
    );
    out.code(exit::OTHER)
        .error_has(&["password", &env.p("b.cb"), "is needed", "no terminal"]);
    env.assert_absent("r.bin");
}

#[test]
fn backup_without_pin_and_no_terminal_names_the_token() {
    let env = Env::new("nopin-backup");
    one_token(&env, "np-tok", "k", "aes");
    let mut args = vec![
        "backup".to_string(),
        "--secret".into(),
        env.p("secret.bin"),
        "--token".into(),
        uri("np-tok", "k"),
        "--out".into(),
        env.p("b.cb"),
        "--password-file".into(),
        env.password_file(),
        "--single-token".into(),
    ];
    args.extend(cli::WEAK_KDF.iter().map(|s| s.to_string()));
    let out = env.run_setsid(&args, &[("CUSTODY_PIN", None)]);
    out.code(exit::OTHER)
        .error_has(&["PIN", "\"np-tok\"", "no terminal", "CUSTODY_PIN"]);
    env.assert_absent("b.cb");
}

#[test]
fn restore_without_pin_and_no_terminal_says_a_pin_is_needed() {
    let env = Env::new("nopin-restore");
    one_token(&env, "npr-tok", "k", "aes");
    env.backup(
        "secret.bin",
        &[&uri("npr-tok", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    let out = env.run_setsid(
        [
            "restore",
            &env.p("b.cb"),
            "--out",
            &env.p("r.bin"),
            "--password-file",
            &env.password_file(),
        ],
        &[("CUSTODY_PIN", None)],
    );
    out.code(exit::OTHER)
        .error_has(&["PIN", "\"npr-tok\"", "no terminal"])
        .stderr_lacks(&["password or the token key is wrong"]);
    env.assert_absent("r.bin");
}

#[test]
fn single_token_warning() {
    let env = Env::new("single");
    one_token(&env, "st-tok", "k", "aes");
    let out = env.backup("secret.bin", &[&uri("st-tok", "k")], "b1.cb", &[]);
    out.ok().stderr_has(&[
        "warning:",
        "can be opened only with",
        "\"k\"",
        "--single-token",
    ]);
    let out = env.backup(
        "secret.bin",
        &[&uri("st-tok", "k")],
        "b2.cb",
        &["--single-token"],
    );
    out.ok()
        .stderr_lacks(&["can be opened only with", "--single-token"]);
}

#[test]
fn a_secret_that_looks_like_text_is_warned_about() {
    let env = Env::new("text-secret");
    env.init_token("tx-tok");
    env.keygen("tx-tok", "k", "aes");
    env.write("text.bin", b"my favourite passphrase 2024\n");
    env.backup(
        "text.bin",
        &[&uri("tx-tok", "k")],
        "t.cb",
        &["--single-token"],
    )
    .ok()
    .stderr_has(&["warning:", "looks like text"]);
    env.secret("random.bin", 32);
    // A random 32-byte secret is valid UTF-8 without control characters with negligible odds.
    env.backup(
        "random.bin",
        &[&uri("tx-tok", "k")],
        "r.cb",
        &["--single-token"],
    )
    .ok()
    .stderr_lacks(&["looks like text"]);
}

/// RFC 7512's slot and library attributes narrow the match; module-name= and vendor
/// attributes are refused by name, never ignored.
#[test]
fn uri_slot_and_library_attributes_narrow_the_match_and_the_rest_is_refused() {
    let env = Env::new("uri-attrs");
    env.init_token("attrs-tok");
    env.keygen("attrs-tok", "k", "aes");
    let secret = env.secret("secret.bin", 32);
    // SoftHSM2 2.6 says of itself: manufacturer "SoftHSM", library version 2.x.
    let narrowed = "pkcs11:token=attrs-tok;object=k;library-manufacturer=SoftHSM;\
                    library-version=2;slot-manufacturer=SoftHSM%20project";
    env.backup("secret.bin", &[narrowed], "b.cb", &["--single-token"])
        .ok();
    env.restore("b.cb", "r.bin", &["--token", narrowed]).ok();
    assert_restored(&env, "r.bin", &secret);
    // A library attribute that does not match: no such token, exit 4, naming what was asked.
    let other = "pkcs11:token=attrs-tok;object=k;library-manufacturer=Nobody";
    env.backup("secret.bin", &[other], "c.cb", &["--single-token"])
        .code(exit::NOT_FOUND)
        .error_has(&[
            "library-manufacturer=Nobody",
            "present: token \"attrs-tok\"",
        ]);
    // module-name= names a module registered with p11-kit (tests/cli_p11kit.rs); one that is
    // not registered is refused by name, exit 4. With module-path= as well: a usage error.
    env.backup(
        "secret.bin",
        &["pkcs11:token=attrs-tok;object=k?module-name=not-registered"],
        "c.cb",
        &["--single-token"],
    )
    .code(exit::NOT_FOUND)
    .error_has(&["module-name=not-registered names no module registered with p11-kit"]);
    env.backup(
        "secret.bin",
        &["pkcs11:token=attrs-tok;object=k?module-name=softhsm2&module-path=/m.so"],
        "c.cb",
        &["--single-token"],
    )
    .code(exit::USAGE)
    .error_has(&["module-name= or module-path=, not both"]);
    // A vendor attribute: refused as a usage error, with what to do.
    env.backup(
        "secret.bin",
        &["pkcs11:token=attrs-tok;object=k;x-vendor=1"],
        "c.cb",
        &["--single-token"],
    )
    .code(exit::USAGE)
    .error_has(&["\"x-vendor\"", "refuses it rather than ignore it"]);
    env.assert_absent("c.cb");
}

/// OpenSC's percent-encoding (pkcs11-tool.c, `percent_encode`): these characters as `%` and
/// lowercase hex, without padding (none of them is below 0x10), trailing spaces dropped.
fn opensc_percent_encode(s: &str) -> String {
    s.trim_end_matches(' ')
        .chars()
        .map(|c| {
            if " !\"#$%&'()*+,/:;=?@[]".contains(c) {
                format!("%{:x}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// The `uri:` lines of `pkcs11-tool --list-objects` for `token`. OpenSC prints them from 0.26
/// on; Debian 12's 0.23 prints none, so then they are built as 0.26's `get_uri` builds them
/// (model, manufacturer, serial and token from `--list-slots`, then id in lowercase hex, object
/// and type) from the same listing.
fn pkcs11_tool_uris(env: &Env, token: &str) -> Vec<String> {
    let objects = env.pkcs11_tool(token, &["--list-objects"]).stdout;
    let printed: Vec<String> = objects
        .lines()
        .filter_map(|l| l.trim().strip_prefix("uri:"))
        .map(|u| u.trim().to_owned())
        .collect();
    if !printed.is_empty() {
        return printed;
    }
    let module = env.module.to_str().expect("UTF-8").to_owned();
    let slots = env
        .tool(
            "pkcs11-tool",
            "opensc",
            &["--module", &module, "--list-slots"],
        )
        .stdout;
    let field = |block: &str, name: &str| -> String {
        block
            .lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .and_then(|rest| rest.trim_start().strip_prefix(':'))
            .unwrap_or_else(|| panic!("no {name:?} in\n{block}"))
            .trim()
            .to_owned()
    };
    let block = slots
        .split("Slot ")
        .find(|b| {
            b.lines()
                .any(|l| l.trim() == format!("token label        : {token}"))
        })
        .unwrap_or_else(|| panic!("token {token:?} not listed\n{slots}"));
    let token_part = format!(
        "pkcs11:model={};manufacturer={};serial={};token={}",
        opensc_percent_encode(&field(block, "token model")),
        opensc_percent_encode(&field(block, "token manufacturer")),
        opensc_percent_encode(&field(block, "serial num")),
        opensc_percent_encode(token),
    );
    // One object per "... Object; ..." header line, its label and ID on the lines below it.
    let mut found: Vec<(&str, String, String)> = Vec::new();
    for line in objects.lines() {
        if line.contains("Object;") {
            let type_ = if line.starts_with("Secret Key") {
                "secret-key"
            } else if line.starts_with("Public Key") {
                "public"
            } else {
                "private"
            };
            found.push((type_, String::new(), String::new()));
        } else if let Some(o) = found.last_mut() {
            let l = line.trim();
            if let Some(v) = l.strip_prefix("label:") {
                o.1 = opensc_percent_encode(v.trim());
            } else if let Some(v) = l.strip_prefix("ID:") {
                let hex = v.trim().to_lowercase();
                o.2 = (0..hex.len())
                    .step_by(2)
                    .map(|i| format!("%{}", &hex[i..i + 2]))
                    .collect();
            }
        }
    }
    found
        .into_iter()
        .map(|(type_, label, id)| format!("{token_part};id={id};object={label};type={type_}"))
        .collect()
}

/// URIs as GnuTLS's `p11tool --list-all` and OpenSC's `pkcs11-tool` print them work when pasted
/// as they are into backup and restore (issue 9, item 4): model=, manufacturer=, serial=, id=,
/// type= and either case of percent-encoding, with labels that need encoding.
#[test]
fn uris_pasted_from_p11tool_and_pkcs11_tool_work() {
    let env = Env::new("pasted-uris");
    env.init_token("paste tok");
    env.keygen("paste%20tok", "aes%20one", "aes");
    env.keygen("paste%20tok", "ec%2Fone", "p256");
    let secret = env.secret("secret.bin", 32);

    let module = env.module.to_str().expect("UTF-8").to_owned();
    let mut c = std::process::Command::new(cli::require_tool("p11tool", "gnutls-bin"));
    c.env(env.backend.conf_var(), &env.conf)
        .env("GNUTLS_PIN", USER_PIN)
        .stdin(std::process::Stdio::null())
        .args(["--provider", &module, "--login", "--list-all"]);
    let listing = cli::run_command(c);
    assert_eq!(listing.code, 0, "{}", listing.dump());
    let p11tool: Vec<String> = listing
        .stdout
        .lines()
        .filter_map(|l| l.trim().strip_prefix("URL:"))
        .map(|u| u.trim().to_owned())
        .filter(|u| u.contains("token=paste%20tok;"))
        .collect();
    let opensc = pkcs11_tool_uris(&env, "paste tok");
    // Each lists the AES key, and the P-256 key's private and public objects.
    for (tool, uris) in [("p11tool", &p11tool), ("pkcs11-tool", &opensc)] {
        assert_eq!(uris.len(), 3, "{tool}: {uris:#?}");
        for t in ["secret-key", "private", "public"] {
            assert!(
                uris.iter().any(|u| u.ends_with(&format!(";type={t}"))),
                "{tool}: no type={t} in {uris:#?}"
            );
        }
    }
    // The two tools encode differently (p11tool: %2F and upper-case id; OpenSC: %2f and
    // lower-case), so both cases are exercised.
    assert!(
        p11tool.iter().any(|u| u.contains("object=ec%2Fone")),
        "{p11tool:#?}"
    );
    assert!(
        opensc.iter().any(|u| u.contains("object=ec%2fone")),
        "{opensc:#?}"
    );

    for (n, u) in p11tool.iter().chain(&opensc).enumerate() {
        let b = format!("b{n}.cb");
        let r = format!("r{n}.bin");
        env.backup("secret.bin", &[u], &b, &["--single-token"]).ok();
        env.restore(&b, &r, &["--token", u]).ok();
        assert_restored(&env, &r, &secret);
    }
}

#[test]
fn pin_value_in_uri_works_and_warns() {
    let env = Env::new("pin-value");
    let secret = one_token(&env, "pv-tok", "k", "aes");
    let u = format!("{}?pin-value={USER_PIN}", uri("pv-tok", "k"));
    let mut args = vec![
        "backup".to_string(),
        "--secret".into(),
        env.p("secret.bin"),
        "--token".into(),
        u.clone(),
        "--out".into(),
        env.p("b.cb"),
        "--password-file".into(),
        env.password_file(),
        "--single-token".into(),
    ];
    args.extend(cli::WEAK_KDF.iter().map(|s| s.to_string()));
    let out = env.run_env(&args, &[("CUSTODY_PIN", None)]);
    out.ok()
        .stderr_has(&["warning:", "pin-value", "process arguments"]);
    assert!(
        !out.all().contains(USER_PIN),
        "the PIN must not be echoed\n{}",
        out.dump()
    );

    let out = env.run_env(
        [
            "restore",
            &env.p("b.cb"),
            "--out",
            &env.p("r.bin"),
            "--password-file",
            &env.password_file(),
            "--token",
            &u,
        ],
        &[("CUSTODY_PIN", None)],
    );
    out.ok().stderr_has(&["pin-value", "process arguments"]);
    assert_eq!(env.read("r.bin"), secret);
}

#[test]
fn pin_source_file_works() {
    let env = Env::new("pin-source");
    let secret = one_token(&env, "ps-tok", "k", "aes");
    env.backup(
        "secret.bin",
        &[&uri("ps-tok", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    env.write("pin.txt", format!("{USER_PIN}\n").as_bytes());
    let u = format!(
        "{}?pin-source=file:{}",
        uri("ps-tok", "k"),
        env.p("pin.txt")
    );
    let out = env.run_env(
        [
            "restore",
            &env.p("b.cb"),
            "--out",
            &env.p("r.bin"),
            "--password-file",
            &env.password_file(),
            "--token",
            &u,
        ],
        &[("CUSTODY_PIN", None)],
    );
    out.ok().stderr_lacks(&["pin-value"]);
    assert_eq!(env.read("r.bin"), secret);

    // A wrong PIN in the file is refused like any wrong PIN.
    env.write("bad-pin.txt", b"000000\n");
    let u = format!(
        "{}?pin-source=file:{}",
        uri("ps-tok", "k"),
        env.p("bad-pin.txt")
    );
    let out = env.run_env(
        [
            "restore",
            &env.p("b.cb"),
            "--out",
            &env.p("r2.bin"),
            "--password-file",
            &env.password_file(),
            "--token",
            &u,
        ],
        &[("CUSTODY_PIN", None)],
    );
    out.code(exit::AUTH).error_has(&["PIN", "\"ps-tok\""]);
    env.assert_absent("r2.bin");
}

// ───────────────────── keys made by standard tools ─────────────────────

fn pkcs11_tool(env: &Env, token: &str, args: &[&str]) -> cli::Out {
    env.pkcs11_tool(token, args)
}

#[test]
fn keys_made_by_pkcs11_tool_work() {
    let env = Env::new("std-keys");
    env.init_token("std-tok");
    pkcs11_tool(
        &env,
        "std-tok",
        &[
            "--keygen",
            "--key-type",
            "AES:32",
            "--sensitive",
            "--label",
            "X",
            "--id",
            "01",
        ],
    );
    pkcs11_tool(
        &env,
        "std-tok",
        &[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--usage-derive",
            "--label",
            "Y",
            "--id",
            "02",
        ],
    );
    let secret = env.secret("secret.bin", 32);
    let out = env.backup(
        "secret.bin",
        &[&uri("std-tok", "X"), &uri("std-tok", "Y")],
        "b.cb",
        &[],
    );
    out.ok()
        .stdout_has(&["key \"X\" (id 01)", "key \"Y\" (id 02)"]);
    assert_eq!(out.stdout.matches("(opened)").count(), 2, "{}", out.dump());
    for (key, kind) in [("X", "AES"), ("Y", "P-256")] {
        let r = format!("r-{key}.bin");
        env.restore("b.cb", &r, &["--token", &uri("std-tok", key)])
            .ok()
            .stderr_has(&[&format!("{kind} key \"{key}\"")]);
        assert_eq!(env.read(&r), secret);
    }
    env.restore("b.cb", "r.bin", &[]).ok();
    assert_eq!(env.read("r.bin"), secret);
}

#[test]
fn a_sign_only_ec_key_is_refused_naming_cka_derive() {
    let env = Env::new("sign-only");
    env.init_token("so-tok");
    pkcs11_tool(
        &env,
        "so-tok",
        &[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--usage-sign",
            "--label",
            "S",
            "--id",
            "04",
        ],
    );
    env.secret("secret.bin", 32);
    let out = env.backup(
        "secret.bin",
        &[&uri("so-tok", "S")],
        "b.cb",
        &["--single-token"],
    );
    out.code(exit::NOT_FOUND)
        .error_has(&["key \"S\"", "\"so-tok\"", "CKA_DERIVE"]);
    env.assert_absent("b.cb");
    env.assert_no_temp_files(".");
}

/// An AES key written into the token (made elsewhere: its value exists off the token) is refused
/// at backup unless --allow-exportable-key, and warned about at every use after that.
#[test]
fn an_imported_aes_key_is_refused_at_backup_and_warned_about_at_restore() {
    let env = Env::new("imported-aes");
    env.init_token("imp-aes");
    env.write("aes.key", &[0x42; 32]);
    pkcs11_tool(
        &env,
        "imp-aes",
        &[
            "--write-object",
            &env.p("aes.key"),
            "--type",
            "secrkey",
            "--key-type",
            "AES:32",
            "--label",
            "W",
            "--id",
            "04",
            "--usage-decrypt",
            "--sensitive",
        ],
    );
    let secret = env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("imp-aes", "W")],
        "b.cb",
        &["--single-token"],
    )
    .code(exit::NOT_FOUND)
    .error_has(&[
        "key \"W\" (id 04)",
        "is not bound to its token",
        "CKA_LOCAL is false: imported, not made on the token",
        "whoever has its value and the password could open the backup without the token",
    ]);
    env.assert_absent("b.cb");
    let out = env.backup(
        "secret.bin",
        &[&uri("imp-aes", "W")],
        "b.cb",
        &["--single-token", "--allow-exportable-key"],
    );
    out.ok()
        .stderr_has(&["key \"W\" (id 04)", "is not bound to its token"]);
    // A restore never refuses a key for its attributes: it warns.
    env.restore("b.cb", "r.bin", &[])
        .ok()
        .stderr_has(&["is not bound to its token", "CKA_LOCAL is false"]);
    assert_restored(&env, "r.bin", &secret);
}

#[test]
fn an_imported_ec_key_is_refused_by_name_and_reason() {
    let env = Env::new("imported");
    env.init_token("imp-tok");
    env.tool(
        "openssl",
        "openssl",
        &[
            "ecparam",
            "-name",
            "prime256v1",
            "-genkey",
            "-noout",
            "-out",
            "key.pem",
        ],
    );
    env.tool(
        "openssl",
        "openssl",
        &[
            "pkcs8", "-topk8", "-nocrypt", "-in", "key.pem", "-out", "key8.pem",
        ],
    );
    env.tool(
        "softhsm2-util",
        "softhsm2",
        &[
            "--import", "key8.pem", "--token", "imp-tok", "--label", "Z", "--id", "03", "--pin",
            USER_PIN,
        ],
    );
    env.secret("secret.bin", 32);
    // First of all, it was imported: refused by name, saying which attribute and what it means.
    let out = env.backup(
        "secret.bin",
        &[&uri("imp-tok", "Z")],
        "b.cb",
        &["--single-token"],
    );
    out.code(exit::NOT_FOUND).error_has(&[
        "key \"Z\"",
        "\"imp-tok\"",
        "is not bound to its token",
        "CKA_LOCAL is false: imported",
        "--allow-exportable-key",
    ]);
    // Accepted as exportable, it still cannot do the job: the next reason is named.
    let out = env.backup(
        "secret.bin",
        &[&uri("imp-tok", "Z")],
        "b.cb",
        &["--single-token", "--allow-exportable-key"],
    );
    out.code(exit::NOT_FOUND)
        .error_has(&["key \"Z\"", "\"imp-tok\"", "cannot be used"]);
    let e = out.error_text();
    assert!(
        e.contains("CKA_DERIVE") || e.contains("public key"),
        "the reason must be specific (CKA_DERIVE or the missing public key)\n{}",
        out.dump()
    );
    env.assert_absent("b.cb");
}

// ───────────────────── naming what is missing; bad input ─────────────────────

#[test]
fn backup_with_a_missing_key_or_token_is_exit_4_naming_it() {
    let env = Env::new("bk-missing");
    let serial = env.init_token("here-tok");
    env.keygen("here-tok", "k", "aes");
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("here-tok", "nokey")],
        "b.cb",
        &["--single-token"],
    )
    .code(exit::NOT_FOUND)
    .error_has(&["\"here-tok\"", &serial, "object=nokey"]);
    env.assert_absent("b.cb");
    env.backup(
        "secret.bin",
        &[&uri("gone-tok", "k")],
        "b.cb",
        &["--single-token"],
    )
    .code(exit::NOT_FOUND)
    .error_has(&["no token labelled \"gone-tok\"", "present", "\"here-tok\""]);
    env.assert_absent("b.cb");
    // A spare that is missing stops the whole backup: no file with fewer slots than asked.
    env.backup(
        "secret.bin",
        &[&uri("here-tok", "k"), &uri("gone-tok", "k")],
        "b.cb",
        &[],
    )
    .code(exit::NOT_FOUND)
    .error_has(&["gone-tok"]);
    env.assert_absent("b.cb");
    // A locator custody does not understand is a usage error.
    env.backup(
        "secret.bin",
        &["token=here-tok"],
        "b.cb",
        &["--single-token"],
    )
    .code(exit::USAGE)
    .error_has(&["--token"]);
    env.assert_absent("b.cb");
}

#[test]
fn keygen_with_a_wrong_pin_is_exit_3() {
    let env = Env::new("keygen-pin");
    env.init_token("kp-tok");
    let out = env.run_env(
        [
            "token",
            "keygen",
            "--token",
            &uri("kp-tok", "k"),
            "--type",
            "aes",
        ],
        &[("CUSTODY_PIN", Some("000000"))],
    );
    out.code(exit::AUTH).error_has(&["PIN", "\"kp-tok\""]);
    // Nothing was made: the label is still free.
    env.keygen("kp-tok", "k", "aes");
}

#[test]
fn backup_refuses_an_empty_password_and_bad_free_text() {
    let env = Env::new("bk-input");
    env.init_token("in-tok");
    env.keygen("in-tok", "k", "aes");
    env.secret("secret.bin", 32);
    env.write("empty-password", b"\n");
    let mut args = vec![
        "backup".to_string(),
        "--secret".into(),
        env.p("secret.bin"),
        "--token".into(),
        uri("in-tok", "k"),
        "--out".into(),
        env.p("b.cb"),
        "--password-file".into(),
        env.p("empty-password"),
        "--single-token".into(),
    ];
    args.extend(cli::WEAK_KDF.iter().map(|s| s.to_string()));
    env.run(&args).failed().error_has(&["empty password"]);
    env.assert_absent("b.cb");

    env.backup(
        "secret.bin",
        &[&uri("in-tok", "k")],
        "b.cb",
        &["--single-token", "--hint", "a\x1b[31mb"],
    )
    .code(exit::USAGE)
    .error_has(&["--hint", "U+001B"]);
    env.assert_absent("b.cb");
    let long = "x".repeat(300);
    env.backup(
        "secret.bin",
        &[&uri("in-tok", "k")],
        "b.cb",
        &["--single-token", "--label", &long],
    )
    .code(exit::USAGE)
    .error_has(&["--label", "256"]);
    env.assert_absent("b.cb");
    // A password file's first line is the password; a CRLF ending is not part of it.
    env.write(
        "crlf-password",
        format!("{PASSWORD}\r\nsecond line\n").as_bytes(),
    );
    let mut args = args.clone();
    let i = args
        .iter()
        .position(|a| a.ends_with("empty-password"))
        .unwrap();
    args[i] = env.p("crlf-password");
    env.run(&args).ok();
    env.restore("b.cb", "r.bin", &[]).ok();
}

#[test]
fn a_token_label_with_an_escape_sequence_is_shown_escaped() {
    let env = Env::new("escape");
    env.init_token("ev\x1b[2Jil");
    let u = "pkcs11:token=ev%1B%5B2Jil;object=k";
    let outs = vec![
        env.run(["token", "list"]),
        env.run(["token", "keygen", "--token", u, "--type", "aes"]),
        {
            env.secret("secret.bin", 32);
            env.backup("secret.bin", &[u], "b.cb", &[])
        },
        env.run(["inspect", &env.p("b.cb")]),
        env.restore("b.cb", "r.bin", &[]),
    ];
    for out in &outs {
        out.ok();
        assert!(
            !out.stdout_bytes.contains(&0x1b) && !out.stderr_bytes.contains(&0x1b),
            "a raw ESC reached the terminal\n{}",
            out.dump()
        );
        assert!(out.all().contains("ev\\u{1b}[2Jil"), "{}", out.dump());
    }
}
