//! Output files: never overwritten (unless `backup --force`), written atomically, and nothing
//! left behind when a write step fails (CUSTODY_FAULT_INJECT).

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};

use common::cli::{self, Env, exit, uri};

const STEPS: [&str; 7] = [
    "create-temp",
    "write",
    "sync-file",
    "rename",
    "sync-dir",
    "read-back",
    "verify",
];
/// Steps that, with --force, fail before the new file replaces an existing one. A backup is read
/// back and verified from its temporary file before it replaces another, so only `sync-dir`
/// (after the rename) can cost the old file.
const BEFORE_REPLACE: [&str; 6] = [
    "create-temp",
    "write",
    "sync-file",
    "rename",
    "read-back",
    "verify",
];

/// A token with an AES key, a secret and a backup `b.cb` of it.
fn fixture(name: &str) -> (Env, Vec<u8>) {
    let env = Env::new(name);
    env.init_token("out-tok");
    env.keygen("out-tok", "k", "aes");
    let secret = env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("out-tok", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    (env, secret)
}

#[test]
fn restore_refuses_an_existing_output_and_leaves_it_intact() {
    let (env, _) = fixture("restore-exists");
    env.write("r.bin", b"keep me");
    let out = env.restore("b.cb", "r.bin", &[]);
    out.code(exit::OUTPUT_EXISTS)
        .error_has(&[&env.p("r.bin"), "already exists"]);
    assert_eq!(env.read("r.bin"), b"keep me");
    // Refused before any password or token is used.
    out.stderr_lacks(&["Password hint", "Restored"]);

    // A dangling symbolic link counts as existing: its target is not created.
    std::os::unix::fs::symlink(env.path("target.bin"), env.path("link.bin")).unwrap();
    env.restore("b.cb", "link.bin", &[])
        .code(exit::OUTPUT_EXISTS)
        .error_has(&[&env.p("link.bin")]);
    env.assert_absent("target.bin");
    env.assert_no_temp_files(".");
}

#[test]
fn restore_to_stdout_in_each_format() {
    let (env, secret) = fixture("restore-stdout");
    let out = env.restore("b.cb", "-", &["--format", "base64"]);
    out.ok();
    let decoded = base64::Engine::decode(
        &base64::engine::general_purpose::STANDARD,
        out.stdout.trim_end(),
    )
    .expect("base64");
    assert_eq!(decoded, secret);
    assert_eq!(
        out.stdout,
        format!(
            "{}\n",
            base64::Engine::encode(&base64::engine::general_purpose::STANDARD, &secret)
        )
    );

    let out = env.restore("b.cb", "-", &["--format", "hex"]);
    out.ok();
    assert_eq!(out.stdout, format!("{}\n", hex::encode(&secret)));

    // Raw to a pipe (not a terminal) is allowed, and is the default.
    let out = env.restore("b.cb", "-", &[]);
    out.ok();
    assert_eq!(out.stdout_bytes, secret);
    // The secret goes to stdout only, never to stderr.
    assert!(!out.stderr.contains(&hex::encode(&secret)));
    assert_eq!(
        env.entries("."),
        ["b.cb", "password", "secret.bin", "softhsm2.conf", "tokens"]
    );
}

#[test]
fn restore_format_hex_to_a_file_is_a_usage_error() {
    let (env, _) = fixture("restore-fmt");
    for fmt in ["hex", "base64"] {
        let out = env.restore("b.cb", "r.txt", &["--format", fmt]);
        out.code(exit::USAGE)
            .error_has(&["--format", "standard output"]);
        env.assert_absent("r.txt");
    }
    // --format raw with a file is what a file gets anyway.
    env.restore("b.cb", "r.bin", &["--format", "raw"]).ok();
}

#[test]
fn backup_refuses_an_existing_output_and_leaves_it_intact() {
    let (env, _) = fixture("backup-exists");
    let before = env.read("b.cb");
    let out = env.backup(
        "secret.bin",
        &[&uri("out-tok", "k")],
        "b.cb",
        &["--single-token"],
    );
    out.code(exit::OUTPUT_EXISTS)
        .error_has(&[&env.p("b.cb"), "already exists"])
        .stderr_has(&["--force"]);
    assert_eq!(env.read("b.cb"), before);
    env.assert_no_temp_files(".");
}

#[test]
fn backup_force_replaces_atomically() {
    let (env, _) = fixture("backup-force");
    std::fs::set_permissions(env.path("b.cb"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let old = env.read("b.cb");
    let old_ino = std::fs::metadata(env.path("b.cb")).unwrap().ino();
    // A second name for the old file: an in-place overwrite would change it too.
    std::fs::hard_link(env.path("b.cb"), env.path("old-link.cb")).unwrap();

    let secret2 = env.secret("secret2.bin", 32);
    let out = env.backup(
        "secret2.bin",
        &[&uri("out-tok", "k")],
        "b.cb",
        &["--single-token", "--force"],
    );
    out.ok().stdout_has(&[&env.p("b.cb")]);
    let meta = std::fs::metadata(env.path("b.cb")).unwrap();
    assert_ne!(
        meta.ino(),
        old_ino,
        "replaced in place instead of renamed into place"
    );
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert_eq!(
        env.read("old-link.cb"),
        old,
        "the old file's bytes were changed in place"
    );
    assert_ne!(env.read("b.cb"), old);
    env.assert_no_temp_files(".");

    env.restore("b.cb", "r.bin", &[]).ok();
    assert_eq!(env.read("r.bin"), secret2);
    // --force with no existing file is an ordinary create.
    env.backup(
        "secret2.bin",
        &[&uri("out-tok", "k")],
        "new.cb",
        &["--single-token", "--force"],
    )
    .ok();
}

/// Run a backup into `out/b.cb` with CUSTODY_FAULT_INJECT=`step`.
fn backup_with_fault(env: &Env, step: &str, force: bool) -> cli::Out {
    let mut args = vec![
        "backup".to_string(),
        "--secret".into(),
        env.p("secret.bin"),
        "--token".into(),
        uri("out-tok", "k"),
        "--out".into(),
        env.p("out/b.cb"),
        "--password-file".into(),
        env.password_file(),
        "--single-token".into(),
    ];
    args.extend(cli::WEAK_KDF.iter().map(|s| s.to_string()));
    if force {
        args.push("--force".into());
    }
    env.run_env(&args, &[("CUSTODY_FAULT_INJECT", Some(step))])
}

#[test]
fn fault_injection_leaves_nothing_behind() {
    let (env, _) = fixture("faults");
    std::fs::create_dir(env.path("out")).unwrap();
    for step in STEPS {
        let out = backup_with_fault(&env, step, false);
        out.code(exit::OTHER).error_has(&[
            &env.p("out/b.cb"),
            &format!("CUSTODY_FAULT_INJECT={step}"),
            "nothing was left behind",
        ]);
        assert!(
            env.entries("out").is_empty(),
            "{step}: left in the directory: {:?}\n{}",
            env.entries("out"),
            out.dump()
        );
    }
    // Without a fault the same command works.
    backup_with_fault(&env, "", false).ok();
    assert_eq!(env.entries("out"), ["b.cb"]);
}

#[test]
fn fault_injection_with_force_keeps_the_existing_file_until_it_is_replaced() {
    let (env, _) = fixture("faults-force");
    std::fs::create_dir(env.path("out")).unwrap();
    for step in STEPS {
        let existing = format!("existing backup before {step}\n");
        env.write("out/b.cb", existing.as_bytes());
        let out = backup_with_fault(&env, step, true);
        out.code(exit::OTHER)
            .error_has(&[&env.p("out/b.cb"), &format!("CUSTODY_FAULT_INJECT={step}")]);
        if BEFORE_REPLACE.contains(&step) {
            assert_eq!(
                env.read("out/b.cb"),
                existing.as_bytes(),
                "{step}: the existing file changed"
            );
            assert_eq!(env.entries("out"), ["b.cb"], "{step}\n{}", out.dump());
            out.error_has(&["no existing file was changed"]);
        } else {
            // sync-dir: the old file was already replaced: it is gone, and the error says so;
            // the unconfirmed new file is removed.
            assert_eq!(step, "sync-dir");
            assert!(
                env.entries("out").is_empty(),
                "{step}: {:?}",
                env.entries("out")
            );
            out.error_has(&["is gone"]);
        }
    }
}

#[test]
fn a_mistyped_fault_step_is_an_error() {
    let (env, _) = fixture("fault-typo");
    std::fs::create_dir(env.path("out")).unwrap();
    let out = backup_with_fault(&env, "sync_dir", false);
    out.failed()
        .error_has(&["CUSTODY_FAULT_INJECT", "sync_dir", "sync-dir"]);
    assert!(env.entries("out").is_empty());
}

#[test]
fn fault_injection_on_secret_outputs_leaves_nothing_behind() {
    let (env, secret) = fixture("faults-secret");
    std::fs::create_dir(env.path("out")).unwrap();
    for step in ["create-temp", "write", "sync-file", "rename", "sync-dir"] {
        let out = env.run_env(
            [
                "restore",
                &env.p("b.cb"),
                "--out",
                &env.p("out/r.bin"),
                "--password-file",
                &env.password_file(),
            ],
            &[("CUSTODY_FAULT_INJECT", Some(step))],
        );
        out.failed().error_has(&[&env.p("out/r.bin"), step]);
        assert!(
            env.entries("out").is_empty(),
            "restore {step}: {:?}",
            env.entries("out")
        );
        let out = env.run_env(
            ["generate", "--out", &env.p("out/g.bin")],
            &[("CUSTODY_FAULT_INJECT", Some(step))],
        );
        out.failed().error_has(&[&env.p("out/g.bin"), step]);
        assert!(
            env.entries("out").is_empty(),
            "generate {step}: {:?}",
            env.entries("out")
        );
    }
    // Secret outputs are not read back: those two steps do not apply.
    let out = env.run_env(
        [
            "restore",
            &env.p("b.cb"),
            "--out",
            &env.p("out/r.bin"),
            "--password-file",
            &env.password_file(),
        ],
        &[("CUSTODY_FAULT_INJECT", Some("read-back"))],
    );
    out.ok();
    assert_eq!(env.read("out/r.bin"), secret);
}
