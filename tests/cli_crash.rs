//! A crash at each write step (issue 9, item 8): custody killed with SIGKILL (nothing runs after
//! it, no cleanup) before each step, through the `kill:STEP` mode of the fault-injection seam.
//! A secret output leaves no copy of the secret under any name, and nothing partial is ever under
//! the final name of a backup: what is there is the previous file, or the complete new one.

mod common;

use common::cli::{Env, contains_bytes, exit, uri};

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
    let mut leftovers = 0;
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
        // A temporary file the killed write left is named by the next run, which stops until
        // it is removed.
        let left: Vec<String> = env
            .entries("")
            .into_iter()
            .filter(|n| n.starts_with(".b.cb.tmp-"))
            .collect();
        if let Some(name) = left.first() {
            leftovers += 1;
            env.run(["generate", "--out", &env.p("other.bin")])
                .code(exit::OTHER)
                .error_has(&[name.as_str(), "left by a custody write that did not finish"]);
            env.assert_absent("other.bin");
            for name in &left {
                std::fs::remove_file(env.path(name)).unwrap();
            }
        }
    }
    // Killed between creating its temporary file and moving it into place, a backup leaves one:
    // at write, sync-file and rename, and (replacing a file, whose new bytes are checked before
    // the old ones go) at read-back and verify.
    assert_eq!(leftovers, 5);
}

/// `custody backup` of `secret.bin` to `out`, with the test password and weak KDF, not waited
/// for: `program_prefix` runs it (e.g. in a mount namespace of its own).
fn backup_command(env: &Env, out: &str, pause: &str, prefix: &[String]) -> std::process::Command {
    let base = env.command();
    let mut c = match prefix.split_first() {
        Some((first, rest)) => {
            let mut c = std::process::Command::new(first);
            c.args(rest).arg(base.get_program());
            c
        }
        None => std::process::Command::new(base.get_program()),
    };
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.current_dir(&env.dir)
        .args(["backup", "--secret", &env.p("secret.bin")])
        .args(["--token", &uri("crash-tok", "k"), "--single-token"])
        .args(["--out", out, "--password-file", &env.password_file()])
        .args(common::cli::WEAK_KDF)
        .env("CUSTODY_FAULT_PAUSE", pause)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    c
}

/// Wait until `dir` (seen from the test) holds a temporary file: the write is half done.
fn wait_for_temp(dir: &std::path::Path) {
    let start = std::time::Instant::now();
    loop {
        let found = std::fs::read_dir(dir)
            .map(|d| {
                d.filter_map(Result::ok)
                    .any(|e| e.file_name().to_string_lossy().contains(".tmp-"))
            })
            .unwrap_or(false);
        if found {
            return;
        }
        assert!(
            start.elapsed() < std::time::Duration::from_secs(30),
            "no temporary file in {}",
            dir.display()
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

fn crash_world(name: &str) -> Env {
    let env = Env::new(name);
    env.init_token("crash-tok");
    env.keygen("crash-tok", "k", "aes");
    env.secret("secret.bin", 32);
    env
}

#[test]
fn the_target_folder_removed_mid_write_is_named_and_nothing_is_recreated() {
    let env = crash_world("crash-gone");
    std::fs::create_dir_all(env.path("stick")).unwrap();
    let child = backup_command(&env, &env.p("stick/b.cb"), "rename@2000", &[])
        .spawn()
        .expect("spawn custody");
    wait_for_temp(&env.path("stick"));
    // The medium is pulled (its folder goes) while the file waits to be moved into place.
    std::fs::remove_dir_all(env.path("stick")).unwrap();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains(&env.p("stick/b.cb")), "{stderr}");
    assert!(!env.path("stick").exists(), "the folder was made again");
}

/// The disk fills up (ENOSPC) or the filesystem turns read-only (EROFS) after custody checked
/// the folder, while the write waits: a small tmpfs in a mount namespace of custody's own
/// (`unshare -m`, so it never outlives the test; CI runs as root; 2 MiB, as custody wants 1 MiB
/// free before it asks anything). The test reaches it through
/// /proc/PID/root. The error names the medium, and nothing is left in it.
#[test]
fn a_disk_that_fills_up_or_turns_read_only_mid_write_is_named() {
    let env = crash_world("crash-full");
    let unshare = common::cli::require_tool("unshare", "util-linux");
    let nsenter = common::cli::require_tool("nsenter", "util-linux");
    std::fs::create_dir_all(env.path("tmpfs")).unwrap();
    let dir = env.p("tmpfs");
    let prefix = |pause_dir: &str| -> Vec<String> {
        vec![
            unshare.display().to_string(),
            "-m".into(),
            "sh".into(),
            "-c".into(),
            "mount -t tmpfs -o size=2m tmpfs \"$1\" && shift && exec \"$@\"".into(),
            "sh".into(),
            pause_dir.into(),
        ]
    };
    for (case, pause, errno) in [
        ("full", "write@3000", "No space left on device"),
        ("read-only", "create-temp@3000", "Read-only file system"),
    ] {
        let child = backup_command(&env, &format!("{dir}/b.cb"), pause, &prefix(&dir))
            .spawn()
            .expect("spawn custody in its own mount namespace");
        let pid = child.id();
        // custody's view of the folder: its own tmpfs, once it is mounted.
        let inside = std::path::PathBuf::from(format!("/proc/{pid}/root{dir}"));
        let start = std::time::Instant::now();
        while !std::fs::read_to_string(format!("/proc/{pid}/mounts"))
            .is_ok_and(|m| m.contains(&dir))
        {
            assert!(
                start.elapsed() < std::time::Duration::from_secs(20),
                "{case}: no tmpfs"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        // Let custody check the folder and reach its pause (the checks take milliseconds).
        std::thread::sleep(std::time::Duration::from_millis(1000));
        if case == "full" {
            // Fill it: the filler stops at ENOSPC.
            let _ = std::fs::write(inside.join("fill"), vec![0u8; 4 << 20]);
        } else {
            let out = std::process::Command::new(&nsenter)
                .args([
                    "-t",
                    &pid.to_string(),
                    "-m",
                    "mount",
                    "-o",
                    "remount,ro",
                    &dir,
                ])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        let out = child.wait_with_output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{case}\n{stderr}");
        assert!(
            stderr.contains(&format!("{dir}/b.cb")) && stderr.contains(errno),
            "{case}\n{stderr}"
        );
        assert!(
            stderr.contains("nothing was left behind"),
            "{case}\n{stderr}"
        );
    }
}
