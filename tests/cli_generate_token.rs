//! End-to-end tests of `custody generate` and `custody token ...`.

mod common;

use std::os::unix::fs::PermissionsExt;

use common::cli::{Env, exit, uri};

#[test]
fn generate_default_is_32_bytes_mode_0600() {
    let env = Env::new("gen-default");
    let out = env.run(["generate", "--out", &env.p("s.bin")]);
    out.ok()
        .stderr_has(&["32 random bytes", &env.p("s.bin"), "0600", "Fingerprint"]);
    let s = env.read("s.bin");
    assert_eq!(s.len(), 32);
    let mode = std::fs::metadata(env.path("s.bin"))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "mode {mode:o}");
    assert!(
        out.stdout.is_empty(),
        "nothing secret on stdout: {:?}",
        out.stdout
    );
    assert!(
        !out.stderr.contains(&hex::encode(&s)),
        "the secret must not be printed"
    );
    // Two runs give different secrets.
    env.run(["generate", "--out", &env.p("t.bin")]).ok();
    assert_ne!(env.read("t.bin"), s);
    env.assert_no_temp_files(".");
}

#[test]
fn generate_sizes_16_and_4096() {
    let env = Env::new("gen-sizes");
    for n in [16usize, 4096] {
        let name = format!("s{n}.bin");
        env.run([
            "generate",
            "--out",
            &env.p(&name),
            "--bytes",
            &n.to_string(),
        ])
        .ok()
        .stderr_has(&[&format!("{n} random bytes")]);
        assert_eq!(env.read(&name).len(), n);
    }
}

#[test]
fn generate_refuses_15_and_4097_bytes() {
    let env = Env::new("gen-bad-sizes");
    for n in ["15", "4097", "0"] {
        let name = format!("s{n}.bin");
        let out = env.run(["generate", "--out", &env.p(&name), "--bytes", n]);
        out.code(exit::USAGE)
            .stderr_has(&["--bytes", n, "16..=4096"]);
        env.assert_absent(&name);
    }
}

#[test]
fn generate_refuses_an_existing_file_and_leaves_it_intact() {
    let env = Env::new("gen-exists");
    env.write("s.bin", b"precious, do not overwrite");
    let out = env.run(["generate", "--out", &env.p("s.bin")]);
    out.code(exit::OUTPUT_EXISTS)
        .error_has(&[&env.p("s.bin"), "already exists"]);
    assert_eq!(env.read("s.bin"), b"precious, do not overwrite");
    env.assert_no_temp_files(".");
}

#[test]
fn generate_hex_to_stdout() {
    let env = Env::new("gen-hex");
    let out = env.run(["generate", "--out", "-", "--format", "hex"]);
    out.ok();
    let line = out.stdout.strip_suffix('\n').expect("one line");
    assert_eq!(line.len(), 64, "{line:?}");
    assert!(line.bytes().all(|b| b.is_ascii_hexdigit()), "{line:?}");
    assert_eq!(env.entries("."), ["password", "softhsm2.conf", "tokens"]);
}

#[test]
fn generate_base64_and_raw_to_a_pipe() {
    let env = Env::new("gen-raw");
    // Standard output is a pipe here, not a terminal: raw bytes are allowed.
    let out = env.run(["generate", "--out", "-", "--bytes", "48"]);
    out.ok();
    assert_eq!(out.stdout_bytes.len(), 48);
    let out = env.run(["generate", "--out", "-", "--format", "raw"]);
    out.ok();
    assert_eq!(out.stdout_bytes.len(), 32);
    let out = env.run(["generate", "--out", "-", "--format", "base64"]);
    out.ok();
    let b = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        out.stdout.trim_end(),
    )
    .expect("base64");
    assert_eq!(b.len(), 32);
}

#[test]
fn generate_format_hex_to_a_file_is_refused() {
    let env = Env::new("gen-fmt-file");
    let out = env.run(["generate", "--out", &env.p("s.hex"), "--format", "hex"]);
    out.code(exit::USAGE)
        .error_has(&["--format", "standard output"]);
    env.assert_absent("s.hex");
}

#[test]
fn token_keygen_aes_and_p256() {
    let env = Env::new("keygen");
    let serial = env.init_token("kg-tok");
    let out = env.keygen("kg-tok", "aes-key", "aes");
    out.stdout_has(&[
        "AES-256",
        "\"aes-key\"",
        "\"kg-tok\"",
        &serial,
        "not extractable",
    ]);
    assert!(
        !out.stdout.contains("key hash"),
        "an AES key has no key hash\n{}",
        out.dump()
    );
    let out = env.keygen("kg-tok", "ec-key", "p256");
    out.stdout_has(&["P-256", "\"ec-key\"", "\"kg-tok\"", &serial]);
    let hash = out.field("key hash:");
    assert_eq!(hash.len(), 64, "{hash:?}");
    assert!(hash.bytes().all(|b| b.is_ascii_hexdigit()));
    // The printed URI is usable as it is.
    out.stdout_has(&["--token 'pkcs11:token=kg-tok;object=ec-key'"]);
}

#[test]
fn token_keygen_refuses_a_duplicate_label() {
    let env = Env::new("keygen-dup");
    env.init_token("dup-tok");
    env.keygen("dup-tok", "k", "aes");
    for kind in ["aes", "p256"] {
        let out = env.run([
            "token",
            "keygen",
            "--token",
            &uri("dup-tok", "k"),
            "--type",
            kind,
        ]);
        out.code(exit::OUTPUT_EXISTS)
            .error_has(&["\"dup-tok\"", "already has a key labelled \"k\""]);
    }
    // The same label on a P-256 key refuses an AES key too.
    env.keygen("dup-tok", "e", "p256");
    env.run([
        "token",
        "keygen",
        "--token",
        &uri("dup-tok", "e"),
        "--type",
        "aes",
    ])
    .code(exit::OUTPUT_EXISTS)
    .error_has(&["\"e\""]);
}

#[test]
fn token_keygen_needs_an_object_label_and_an_existing_token() {
    let env = Env::new("keygen-bad");
    env.init_token("kb-tok");
    env.run([
        "token",
        "keygen",
        "--token",
        "pkcs11:token=kb-tok",
        "--type",
        "aes",
    ])
    .code(exit::USAGE)
    .error_has(&["object="]);
    env.run([
        "token",
        "keygen",
        "--token",
        &uri("missing-tok", "k"),
        "--type",
        "aes",
    ])
    .code(exit::NOT_FOUND)
    .error_has(&["missing-tok", "kb-tok"]);
}

#[test]
fn token_list_text_and_json() {
    let env = Env::new("list");
    let s1 = env.init_token("list-one");
    let s2 = env.init_token("list-two");
    let out = env.run(["token", "list"]);
    out.ok().stdout_has(&[
        "token \"list-one\"",
        &s1,
        "token \"list-two\"",
        &s2,
        &format!("pkcs11:token=list-one;serial={s1}"),
    ]);
    let out = env.run(["token", "list", "--json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("JSON");
    assert_eq!(v["schema"], "custody/token-list/1");
    for (label, serial) in [("list-one", &s1), ("list-two", &s2)] {
        let module = v["modules"]
            .as_array()
            .expect("modules")
            .iter()
            .find(|m| {
                m["tokens"]
                    .as_array()
                    .is_some_and(|ts| ts.iter().any(|t| t["label"] == label))
            })
            .unwrap_or_else(|| panic!("{label} missing\n{}", out.dump()));
        assert!(
            module["path"]
                .as_str()
                .is_some_and(|m| m.contains("softhsm"))
        );
        let t = common::cli::listed_tokens(&v)
            .into_iter()
            .find(|t| t["label"] == label)
            .unwrap();
        assert_eq!(t["serial"], serial.as_str());
        assert_eq!(t["login_required"], true);
        assert_eq!(t["pin_locked"], false);
        assert!(
            t["uri"]
                .as_str()
                .unwrap()
                .starts_with(&format!("pkcs11:token={label};serial={serial}")),
            "{t}"
        );
        // Logged in with CUSTODY_PIN: the keys are listed (none yet).
        assert_eq!(t["keys"], serde_json::json!([]), "{t}");
    }
    // An explicit module works as well.
    env.run(["token", "list", "--module", env.module.to_str().unwrap()])
        .ok()
        .stdout_has(&["list-one"]);
}

#[test]
fn token_pubkey_writes_a_file_and_refuses_aes() {
    let env = Env::new("pubkey");
    env.init_token("pk-tok");
    let kg = env.keygen("pk-tok", "ec", "p256");
    let hash = kg.field("key hash:");
    let out = env.run([
        "token",
        "pubkey",
        "--token",
        &uri("pk-tok", "ec"),
        "--out",
        &env.p("ec.pub"),
    ]);
    out.ok().stdout_has(&[&env.p("ec.pub"), "\"ec\""]);
    assert_eq!(
        out.field("key hash:"),
        hash,
        "pubkey and keygen disagree on the key hash"
    );
    let text = String::from_utf8(env.read("ec.pub")).expect("text");
    assert!(text.starts_with("custody-pubkey v1\n"), "{text}");
    assert!(text.contains(&format!("key-hash: {hash}")), "{text}");
    // Not overwritten.
    env.run([
        "token",
        "pubkey",
        "--token",
        &uri("pk-tok", "ec"),
        "--out",
        &env.p("ec.pub"),
    ])
    .code(exit::OUTPUT_EXISTS)
    .error_has(&[&env.p("ec.pub")]);

    env.keygen("pk-tok", "sym", "aes");
    let out = env.run([
        "token",
        "pubkey",
        "--token",
        &uri("pk-tok", "sym"),
        "--out",
        &env.p("sym.pub"),
    ]);
    out.code(exit::USAGE)
        .error_has(&["\"sym\"", "AES key", "no public key"]);
    env.assert_absent("sym.pub");
    env.assert_no_temp_files(".");
}

#[test]
fn rewrap_with_nothing_to_change_is_refused() {
    let env = Env::new("rewrap-nothing");
    env.run(["rewrap", "x", "--out", "y"])
        .code(exit::USAGE)
        .error_has(&["nothing to change"]);
}
