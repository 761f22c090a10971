//! A crash at each write step (issue 9, item 8): custody killed with SIGKILL (nothing runs after
//! it, no cleanup) before each step, through the `kill:STEP` mode of the fault-injection seam.
//! A secret output leaves no copy of the secret under any name, and nothing partial is ever under
//! the final name of a backup: what is there is the previous file, or the complete new one.

mod common;

use common::cli::{Env, contains_bytes, uri};

const STEPS: [&str; 5] = ["create-temp", "write", "sync-file", "rename", "sync-dir"];

#[test]
fn a_secret_output_killed_at_any_step_leaves_no_copy_of_the_secret() {
    let env = Env::new("crash-secret");
    for step in STEPS {
        let dir = format!("out-{step}");
        std::fs::create_dir_all(env.path(&dir)).unwrap();
        let out = env.run_env(
            ["generate", "--out", &env.p(&format!("{dir}/s.bin"))],
            &[("CUSTODY_FAULT_INJECT", Some(&format!("kill:{step}")))],
        );
        assert_eq!(out.code, -libc::SIGKILL, "{step}: killed\n{}", out.dump());
        let names = env.entries(&dir);
        if step == "sync-dir" {
            // Killed after the file got its name: it is whole.
            assert_eq!(names, ["s.bin"], "{step}");
            assert_eq!(env.read(&format!("{dir}/s.bin")).len(), 32, "{step}");
        } else {
            // Before that, no name holds any of it: not the output, not a temporary file.
            assert!(names.is_empty(), "{step}: {names:?}");
        }
    }
}

#[test]
fn a_restore_killed_before_its_secret_is_named_leaves_no_copy_of_it() {
    let env = Env::new("crash-restore");
    env.init_token("crash-tok");
    env.keygen("crash-tok", "k", "aes");
    let secret = env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("crash-tok", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    std::fs::create_dir_all(env.path("out")).unwrap();
    let out = env.run_env(
        [
            "restore",
            &env.p("b.cb"),
            "--out",
            &env.p("out/r.bin"),
            "--password-file",
            &env.password_file(),
        ],
        &[("CUSTODY_FAULT_INJECT", Some("kill:rename"))],
    );
    assert_eq!(out.code, -libc::SIGKILL, "killed\n{}", out.dump());
    assert!(env.entries("out").is_empty(), "{:?}", env.entries("out"));
    // And the secret's bytes are in no file of the folder (the control: the secret file itself).
    assert!(contains_bytes(&env.read("secret.bin"), &secret));
}

#[test]
fn a_backup_killed_at_any_step_never_leaves_a_partial_file_under_its_name() {
    let env = Env::new("crash-backup");
    env.init_token("crash-tok");
    env.keygen("crash-tok", "k", "aes");
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("crash-tok", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    let previous = env.read("b.cb");
    for step in STEPS.iter().chain(&["read-back", "verify"]) {
        let out = env.run_env(
            [
                "backup",
                "--secret",
                &env.p("secret.bin"),
                "--token",
                &uri("crash-tok", "k"),
                "--single-token",
                "--out",
                &env.p("b.cb"),
                "--force",
                "--password-file",
                &env.password_file(),
                "--allow-weak-kdf",
                "--kdf-memory",
                "8",
                "--kdf-iterations",
                "1",
                "--kdf-parallelism",
                "1",
            ],
            &[("CUSTODY_FAULT_INJECT", Some(&format!("kill:{step}")))],
        );
        assert_eq!(out.code, -libc::SIGKILL, "{step}: killed\n{}", out.dump());
        let now = env.read("b.cb");
        if now != previous {
            // Replaced: then by the whole new file, which reads as a backup.
            env.run(["inspect", &env.p("b.cb")]).ok();
        }
        // Before the rename, the previous file is untouched.
        if ["create-temp", "write", "sync-file", "rename"].contains(step) {
            assert_eq!(now, previous, "{step}");
        }
    }
}
