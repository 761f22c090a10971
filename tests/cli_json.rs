//! `--json` on every command (issue 10, item 3): each run writes exactly one JSON document on
//! standard output, an object whose first member is `schema`, which validates against the JSON
//! Schema in docs/json/ that it names; a failure is an `error` object with the exit code
//! unchanged; no secret is ever in it.

mod common;

use std::path::{Path, PathBuf};

use common::cli::{Env, Out, WEAK_KDF, exit, uri};

/// The docs/json/ files, served under the `$id`s they carry.
struct DocsJson;

const BASE: &str = "https://custody.invalid/json/";

fn schema_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("docs/json")
        .join(name)
}

fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

impl jsonschema::Retrieve for DocsJson {
    fn retrieve(
        &self,
        uri: &jsonschema::Uri<String>,
    ) -> Result<serde_json::Value, Box<dyn std::error::Error + Send + Sync>> {
        let name = uri
            .as_str()
            .strip_prefix(BASE)
            .ok_or_else(|| format!("{} is not one of docs/json/", uri.as_str()))?;
        Ok(read_json(&schema_file(name)))
    }
}

/// Checks that `out`'s standard output is one JSON document, `schema` first, valid against its
/// schema file; returns it.
fn valid(out: &Out, schema: &str) -> serde_json::Value {
    // One document: serde_json refuses anything after it.
    let v: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("stdout is not one JSON document ({e})\n{}", out.dump()));
    let first = v
        .as_object()
        .and_then(|m| m.keys().next().cloned())
        .unwrap_or_default();
    assert_eq!(first, "schema", "the first member\n{}", out.dump());
    assert_eq!(v["schema"], format!("custody/{schema}/1"), "{}", out.dump());
    let file = schema_file(&format!("{schema}.json"));
    let validator = jsonschema::options()
        .with_retriever(DocsJson)
        .build(&read_json(&file))
        .unwrap_or_else(|e| panic!("{} is not a valid JSON Schema: {e}", file.display()));
    let errors: Vec<String> = validator
        .iter_errors(&v)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(
        errors.is_empty(),
        "{} does not validate:\n{}\n{}",
        schema,
        errors.join("\n"),
        out.dump()
    );
    v
}

fn no_secret(out: &Out, secret: &[u8]) {
    common::cli::no_secret(out, secret);
}

fn args(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

/// For each officer: `--out <prefix>I.cb --officer NAME --hint h <password flag> pw-NAME`.
fn officers(env: &Env, a: &mut Vec<String>, names: &[&str], prefix: &str, password_flag: &str) {
    for (i, o) in names.iter().enumerate() {
        env.write(&format!("pw-{o}"), format!("password of {o}\n").as_bytes());
        let out = env.p(&format!("{prefix}{i}.cb"));
        let pw = env.p(&format!("pw-{o}"));
        a.extend(args(&[
            "--out",
            &out,
            "--officer",
            o,
            "--hint",
            "h",
            password_flag,
            &pw,
        ]));
    }
}

#[test]
fn every_command_writes_one_document_that_validates() {
    let env = Env::new("json-all");
    env.init_token("json-tok");
    let kg = env.run([
        "--json",
        "token",
        "keygen",
        "--token",
        &uri("json-tok", "k"),
        "--type",
        "aes",
    ]);
    kg.ok();
    let v = valid(&kg, "token-keygen");
    assert_eq!(v["operation"]["op"], "token-keygen");
    // The human report is not on standard output.
    assert!(!kg.stdout.contains("Generated"), "{}", kg.dump());
    let kg = env.run([
        "token",
        "keygen",
        "--json",
        "--token",
        &uri("json-tok", "ec"),
        "--type",
        "p256",
    ]);
    valid(&kg, "token-keygen");

    let made = env.run(["generate", "--json", "--out", &env.p("secret.bin")]);
    made.ok();
    let secret = env.read("secret.bin");
    no_secret(&made, &secret);
    let v = valid(&made, "generate");
    assert_eq!(v["out"], env.p("secret.bin"));
    // A secret on standard output and a document cannot share it.
    let out = env.run(["generate", "--json", "--out", "-"]);
    out.code(exit::USAGE);
    let v = valid(&out, "generate");
    assert_eq!(v["error"]["exit"], exit::USAGE);

    let mut b = args(&[
        "backup",
        "--json",
        "--secret",
        &env.p("secret.bin"),
        "--token",
        &uri("json-tok", "k"),
    ]);
    b.extend(args(&[
        "--out",
        &env.p("b.cb"),
        "--password-file",
        &env.password_file(),
        "--single-token",
    ]));
    b.extend(args(&WEAK_KDF));
    let out = env.run(&b);
    out.ok();
    no_secret(&out, &secret);
    let v = valid(&out, "backup");
    assert_eq!(v["operation"]["files"][0]["role"], "written");

    // Always a list of files, one file or several.
    let one = env.run(["inspect", "--json", &env.p("b.cb")]);
    assert_eq!(valid(&one, "inspect")["files"].as_array().unwrap().len(), 1);
    let two = env.run(["inspect", "--json", &env.p("b.cb"), &env.p("b.cb")]);
    assert_eq!(valid(&two, "inspect")["files"].as_array().unwrap().len(), 2);

    let out = env.run([
        "restore",
        "--json",
        &env.p("b.cb"),
        "--out",
        &env.p("r.bin"),
        "--password-file",
        &env.password_file(),
    ]);
    out.ok();
    no_secret(&out, &secret);
    let v = valid(&out, "restore");
    assert_eq!(v["operation"]["outcome"], "restored");
    assert_eq!(env.read("r.bin"), secret);
    let out = env.run(["restore", "--json", &env.p("b.cb"), "--out", "-"]);
    out.code(exit::USAGE);
    no_secret(&out, &secret);
    valid(&out, "restore");

    let out = env.run([
        "verify",
        "--json",
        &env.p("b.cb"),
        "--password-file",
        &env.password_file(),
    ]);
    out.ok();
    let v = valid(&out, "verify");
    assert_eq!(v["operation"]["op"], "verify");
    assert!(v.get("secret_same_as").is_none(), "{v:#}");
    // With --secret, the document says which secret file the backup holds exactly.
    let out = env.run([
        "verify",
        "--json",
        &env.p("b.cb"),
        "--password-file",
        &env.password_file(),
        "--secret",
        &env.p("secret.bin"),
    ]);
    out.ok();
    no_secret(&out, &secret);
    assert_eq!(valid(&out, "verify")["secret_same_as"], env.p("secret.bin"));

    env.write("pw2", b"another password entirely\n");
    let mut r = args(&["rewrap", "--json", &env.p("b.cb"), "--out", &env.p("b2.cb")]);
    r.extend(args(&[
        "--password-file",
        &env.password_file(),
        "--new-password-file",
        &env.p("pw2"),
    ]));
    r.extend(args(&WEAK_KDF));
    let out = env.run(&r);
    out.ok();
    assert_eq!(valid(&out, "rewrap")["operation"]["op"], "rewrap");

    // A 2-of-3 set, and a reshare of it.
    let mut s = args(&[
        "backup",
        "--secret",
        &env.p("secret.bin"),
        "--threshold",
        "2",
        "--token",
        &uri("json-tok", "k"),
    ]);
    officers(&env, &mut s, &["ann", "bob", "cy"], "s", "--password-file");
    s.extend(args(&WEAK_KDF));
    s.push("--allow-same-device".into());
    s.push("--json".into());
    let out = env.run(&s);
    out.ok();
    assert_eq!(
        valid(&out, "backup")["operation"]["files"]
            .as_array()
            .unwrap()
            .len(),
        3
    );
    let mut rs = args(&["reshare", "--json", &env.p("s0.cb"), &env.p("s1.cb")]);
    rs.extend(args(&[
        "--password-file",
        &env.p("pw-ann"),
        "--password-file",
        &env.p("pw-bob"),
    ]));
    rs.extend(args(&[
        "--threshold",
        "2",
        "--token",
        &uri("json-tok", "k"),
    ]));
    officers(&env, &mut rs, &["dee", "eve"], "n", "--new-password-file");
    rs.extend(args(&WEAK_KDF));
    rs.push("--allow-same-device".into());
    let out = env.run(&rs);
    out.ok();
    no_secret(&out, &secret);
    assert_eq!(valid(&out, "reshare")["operation"]["op"], "reshare");

    let out = env.run(["token", "list", "--json"]);
    out.ok();
    valid(&out, "token-list");
    let out = env.run([
        "token",
        "pubkey",
        "--json",
        "--token",
        &uri("json-tok", "ec"),
        "--out",
        &env.p("ec.pub"),
    ]);
    out.ok();
    valid(&out, "token-pubkey");

    // A record, shown and verified: its lines unchanged.
    let mut g = args(&[
        "generate",
        "--out",
        &env.p("s2.bin"),
        "--record",
        &env.p("rec/ceremony.record"),
    ]);
    std::fs::create_dir_all(env.path("rec")).unwrap();
    g.push("--json".into());
    let out = env.run(&g);
    out.ok();
    valid(&out, "generate");
    let out = env.run(["record", "show", "--json", &env.p("rec/ceremony.record")]);
    out.ok();
    let v = valid(&out, "record-show");
    let line = std::fs::read_to_string(env.path("rec/ceremony.record")).unwrap();
    let stored: serde_json::Value = serde_json::from_str(line.trim_end()).unwrap();
    assert_eq!(v["entries"][0], stored, "an entry is the line as stored");
    let out = env.run(["record", "verify", "--json", &env.p("rec/ceremony.record")]);
    out.ok();
    assert_eq!(valid(&out, "record-verify")["record"]["lines"], 1);
}

#[test]
fn a_failure_is_one_error_document_with_the_exit_code_unchanged() {
    let env = Env::new("json-fail");
    env.init_token("jf-tok");
    env.keygen("jf-tok", "k", "aes");
    let secret = env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("jf-tok", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    env.write("wrong", b"not the password\n");
    let out = env.run([
        "restore",
        "--json",
        &env.p("b.cb"),
        "--out",
        &env.p("r.bin"),
        "--password-file",
        &env.p("wrong"),
    ]);
    out.code(exit::AUTH);
    no_secret(&out, &secret);
    let v = valid(&out, "restore");
    assert_eq!(v["error"]["kind"], "authentication");
    assert_eq!(v["error"]["exit"], exit::AUTH);
    assert!(v["error"]["advice"].as_str().is_some_and(|a| !a.is_empty()));
    // The human error is still on standard error.
    out.stderr_has(&["error: "]);
    env.assert_absent("r.bin");

    let out = env.run(["inspect", "--json", &env.p("missing.cb")]);
    assert_ne!(out.code, 0);
    valid(&out, "inspect");

    // A command line that does not parse, and a command that has no report.
    let out = env.run(["restore", "--json", "--no-such-flag"]);
    out.code(exit::USAGE);
    valid(&out, "usage");
    let out = env.run(["completions", "bash", "--json"]);
    out.code(exit::USAGE);
    valid(&out, "usage");
}
