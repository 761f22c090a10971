//! Modules registered with p11-kit (issue 10, item 1) and keys listed with URIs (item 2):
//! without `CUSTODY_PKCS11_MODULE`, custody finds SoftHSM2 through its p11-kit registration
//! (Debian's softhsm2 package installs /usr/share/p11-kit/modules/softhsm2.module), a URI with
//! `module-name=softhsm2` works for backup and restore, and every usable key `token list`
//! shows has a URI that works when pasted into `backup --token`.
//!
//! The tests that register modules write to /etc/pkcs11/modules (CI runs as root), under names
//! unique to this process, and remove them when they end, pass or fail.

mod common;

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use common::cli::{Env, Out, exit, require_tool};

/// Runs `args` as the environment does, but without `CUSTODY_PKCS11_MODULE`: modules come
/// from p11-kit's registry.
fn registry_run(env: &Env, args: &[&str]) -> Out {
    env.run_env(args, &[("CUSTODY_PKCS11_MODULE", None)])
}

fn token_list_json(env: &Env, extra: &[&str]) -> serde_json::Value {
    let mut args = vec!["token", "list", "--json"];
    args.extend_from_slice(extra);
    let out = registry_run(env, &args);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("token list --json");
    // The schema comes first.
    assert_eq!(
        out.stdout.trim_start().lines().nth(1).map(str::trim),
        Some("\"schema\": \"custody/token-list/1\","),
        "{}",
        out.stdout
    );
    v
}

/// Every token of `label` in the listing, with its module's names.
fn tokens_labelled<'a>(
    v: &'a serde_json::Value,
    label: &str,
) -> Vec<(&'a serde_json::Value, Vec<String>)> {
    let mut out = Vec::new();
    for m in v["modules"].as_array().expect("modules") {
        let names: Vec<String> = m["names"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|n| n.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        for t in m["tokens"].as_array().expect("tokens") {
            if t["label"] == label {
                out.push((t, names.clone()));
            }
        }
    }
    out
}

#[test]
fn softhsm_is_found_through_p11_kit_and_module_name_works_for_backup_and_restore() {
    let env = Env::new("p11kit-name");
    env.init_token("p11kit-tok");
    env.keygen("p11kit-tok", "k", "aes");
    let secret = env.secret("secret.bin", 32);

    let v = token_list_json(&env, &[]);
    // The smart-card service's state is always said, with why when it cannot be reached.
    let reachable = v["pcscd"]["reachable"].as_bool().expect("pcscd.reachable");
    assert!(reachable || v["pcscd"]["error"].as_str().is_some_and(|e| !e.is_empty()));
    let found = tokens_labelled(&v, "p11kit-tok");
    assert_eq!(found.len(), 1, "{v:#}");
    assert!(found[0].1.iter().any(|n| n == "softhsm2"), "{v:#}");

    let uri = "pkcs11:token=p11kit-tok;object=k?module-name=softhsm2";
    let mut args: Vec<String> = ["backup", "--secret", &env.p("secret.bin"), "--token", uri]
        .iter()
        .map(|s| s.to_string())
        .collect();
    args.extend([
        "--out".into(),
        env.p("b.cb"),
        "--password-file".into(),
        env.password_file(),
    ]);
    args.push("--single-token".into());
    args.extend(common::cli::WEAK_KDF.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    registry_run(&env, &args).ok();
    // Named by module-name=, and found by the serial in the file.
    let r = |out: &str, extra: &[&str]| {
        let mut a = vec![
            "restore".to_string(),
            env.p("b.cb"),
            "--out".into(),
            env.p(out),
            "--password-file".into(),
            env.password_file(),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        let a: Vec<&str> = a.iter().map(String::as_str).collect();
        registry_run(&env, &a)
    };
    r("r1.bin", &["--token", uri]).ok();
    assert_eq!(env.read("r1.bin"), secret);
    r("r2.bin", &[]).ok();
    assert_eq!(env.read("r2.bin"), secret);

    // A name p11-kit does not know is refused (exit 4), never swapped for another module.
    r(
        "r3.bin",
        &[
            "--token",
            "pkcs11:token=p11kit-tok;object=k?module-name=no-such-module",
        ],
    )
    .code(exit::NOT_FOUND)
    .error_has(&[
        "module-name=no-such-module names no module registered with p11-kit",
        "softhsm2",
    ]);
    env.assert_absent("r3.bin");
}

#[test]
fn every_usable_key_listed_has_a_uri_that_works_in_backup() {
    let env = Env::new("p11kit-uris");
    env.init_token("uri-tok");
    env.keygen("uri-tok", "aes%20key", "aes");
    env.keygen("uri-tok", "ec%2Fkey", "p256");
    // A key custody cannot use: AES-128, made by pkcs11-tool.
    env.pkcs11_tool(
        "uri-tok",
        &[
            "--keygen",
            "--key-type",
            "AES:16",
            "--label",
            "short",
            "--sensitive",
        ],
    );
    env.secret("secret.bin", 32);
    let v = token_list_json(&env, &[]);
    let found = tokens_labelled(&v, "uri-tok");
    assert_eq!(found.len(), 1, "{v:#}");
    let keys = found[0].0["keys"]
        .as_array()
        .expect("keys listed after a login");
    let mut usable = 0;
    for k in keys {
        if k["label"] == "short" {
            assert_eq!(k["usable"], false, "{k:#}");
            assert!(k["uri"].is_null(), "{k:#}");
            assert!(k["reason"].as_str().unwrap().contains("AES-128"), "{k:#}");
            continue;
        }
        assert_eq!(k["usable"], true, "{k:#}");
        let uri = k["uri"].as_str().expect("a usable key has a URI");
        assert!(uri.contains("module-name=softhsm2"), "{uri}");
        // Pasted as is into a backup, without CUSTODY_PKCS11_MODULE.
        let out_rel = format!("b{usable}.cb");
        let mut args: Vec<String> = vec![
            "backup".into(),
            "--secret".into(),
            env.p("secret.bin"),
            "--token".into(),
            uri.into(),
            "--out".into(),
            env.p(&out_rel),
            "--password-file".into(),
            env.password_file(),
            "--single-token".into(),
        ];
        args.extend(common::cli::WEAK_KDF.iter().map(|s| s.to_string()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        registry_run(&env, &args).ok();
        usable += 1;
    }
    assert_eq!(usable, 2, "{keys:#?}");

    // Without a login, and without a PIN to log in with, the keys are not listed and the
    // listing says why.
    let v = token_list_json(&env, &["--no-login"]);
    let t = tokens_labelled(&v, "uri-tok")[0].0.clone();
    assert!(t["keys"].is_null() && t["keys_error"].as_str().unwrap().contains("--no-login"));
    let out = env.run_setsid(
        ["token", "list", "--json"],
        &[("CUSTODY_PKCS11_MODULE", None), ("CUSTODY_PIN", None)],
    );
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let t = tokens_labelled(&v, "uri-tok")[0].0.clone();
    assert!(t["keys"].is_null(), "{t:#}");
    assert!(t["keys_error"].as_str().unwrap().contains("PIN"), "{t:#}");
}

/// Module files this test writes into /etc/pkcs11/modules, removed when dropped.
struct Registered(Vec<PathBuf>);

impl Registered {
    fn new(files: &[(&str, &str)]) -> Registered {
        let dir = Path::new("/etc/pkcs11/modules");
        std::fs::create_dir_all(dir).expect("create /etc/pkcs11/modules (the tests run as root)");
        let mut written = Vec::new();
        for (name, text) in files {
            let p = dir.join(format!("custody-test-{}-{name}.module", std::process::id()));
            std::fs::write(&p, text).unwrap();
            written.push(p);
        }
        Registered(written)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        for p in &self.0 {
            let _ = std::fs::remove_file(p);
        }
    }
}

/// Tests that write to /etc/pkcs11/modules take turns.
static ETC: Mutex<()> = Mutex::new(());

fn canonical(p: &str, module_dir: &Path) -> PathBuf {
    let p = Path::new(p);
    let full = if p.is_absolute() {
        p.to_path_buf()
    } else {
        module_dir.join(p)
    };
    std::fs::canonicalize(&full).unwrap_or(full)
}

#[test]
fn custody_loads_the_libraries_p11_kit_lists() {
    let _etc = ETC.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new("p11kit-compare");
    let module_dir = Path::new("/usr/lib/x86_64-linux-gnu/pkcs11");
    // Another name for SoftHSM2 (the same library: loaded and shown once), and another
    // library of OpenSC's by a relative path.
    let _reg = Registered::new(&[
        (
            "alias",
            &format!("module: {}\n", common::cli::softhsm_module().display()),
        ),
        ("onepin", "module: onepin-opensc-pkcs11.so\n"),
        (
            "off",
            "module: /nonexistent/libnothing.so\ndisable-in: custody p11-kit\n",
        ),
    ]);
    let tool = require_tool("p11-kit", "p11-kit");
    let out = std::process::Command::new(tool)
        .arg("list-modules")
        .env("SOFTHSM2_CONF", env.path("softhsm2.conf"))
        .output()
        .expect("p11-kit list-modules");
    let text = String::from_utf8_lossy(&out.stdout);
    let theirs: BTreeSet<PathBuf> = text
        .lines()
        .filter(|l| !l.starts_with(char::is_whitespace))
        .filter_map(|l| l.split_once(": "))
        .map(|(_, path)| canonical(path.trim(), module_dir))
        .collect();
    let v = token_list_json(&env, &["--no-login"]);
    let ours: BTreeSet<PathBuf> = v["modules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| canonical(m["path"].as_str().unwrap(), module_dir))
        .collect();
    assert_eq!(
        ours, theirs,
        "custody: {v:#}\np11-kit list-modules:\n{text}"
    );
    assert!(ours.iter().any(|p| p.ends_with("onepin-opensc-pkcs11.so")));
    // The SoftHSM2 library once, under both its names.
    let softhsm: Vec<&serde_json::Value> = v["modules"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|m| {
            m["names"]
                .as_array()
                .unwrap()
                .iter()
                .any(|n| n == "softhsm2")
        })
        .collect();
    assert_eq!(softhsm.len(), 1, "{v:#}");
    let alias = format!("custody-test-{}-alias", std::process::id());
    assert!(
        softhsm[0]["names"]
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n == &alias),
        "{v:#}"
    );
}

#[test]
fn a_module_configuration_others_can_write_is_not_used() {
    use std::os::unix::fs::PermissionsExt;
    let _etc = ETC.lock().unwrap_or_else(|e| e.into_inner());
    let env = Env::new("p11kit-unsafe");
    let reg = Registered::new(&[("writable", "module: onepin-opensc-pkcs11.so\n")]);
    std::fs::set_permissions(&reg.0[0], std::fs::Permissions::from_mode(0o666)).unwrap();
    let out = registry_run(&env, &["token", "list", "--json", "--no-login"]);
    out.ok().stderr_has(&[
        "p11-kit configuration",
        &reg.0[0].display().to_string(),
        "others than its owner can write it",
    ]);
    let v: serde_json::Value = serde_json::from_str(&out.stdout).unwrap();
    let name = format!("custody-test-{}-writable", std::process::id());
    assert!(
        !out.stdout.contains(&name),
        "the writable module was used: {v:#}"
    );
}

/// `token list --json` says why a module failed to load and why the smart-card service cannot
/// be reached (here: a socket pcsc-lite is told to use and that does not exist), and still
/// lists the tokens of the modules that work.
#[test]
fn token_list_json_names_a_module_that_fails_and_an_unreachable_pcscd() {
    let env = Env::new("p11kit-fail");
    env.init_token("fail-tok");
    let missing = env.p("no-such-module.so");
    let out = env.run_env(
        ["token", "list", "--json", "--no-login"],
        &[
            ("CUSTODY_PKCS11_MODULE", Some(&missing)),
            ("PCSCLITE_CSOCK_NAME", Some(&env.p("no-pcscd.comm"))),
        ],
    );
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("token list --json");
    assert_eq!(v["pcscd"]["reachable"], false, "{v:#}");
    assert!(
        v["pcscd"]["error"]
            .as_str()
            .is_some_and(|e| e.contains("pcscd running?")),
        "{v:#}"
    );
    let failed: Vec<&serde_json::Value> = v["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .filter(|m| m["path"] == missing.as_str())
        .collect();
    assert_eq!(failed.len(), 1, "{v:#}");
    assert_eq!(failed[0]["names"][0], "CUSTODY_PKCS11_MODULE", "{v:#}");
    assert!(
        failed[0]["error"]
            .as_str()
            .is_some_and(|e| e.contains("cannot load PKCS#11 module")),
        "{v:#}"
    );
    assert_eq!(tokens_labelled(&v, "fail-tok").len(), 1, "{v:#}");
}
