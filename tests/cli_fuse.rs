//! A medium that can neither refuse to replace a name (no `RENAME_NOREPLACE`) nor link: a FAT
//! image mounted through FUSE (fusefat), as an officer's stick can be when it is not mounted by
//! the kernel. custody finds that out before it asks anything (an empty probe file), refuses to
//! create a file there rather than risk replacing one, says what to do about it (--force for a
//! backup, another medium for a secret), leaves nothing behind, and a backup written with
//! --force is whole and opens.
//!
//! Needs /dev/fuse and the right to mount (CI runs as root); the packages `fusefat`, `fuse` and
//! `dosfstools`. It fails, never skips, without them.

mod common;

use std::path::PathBuf;
use std::process::Command;

use common::cli::{Env, Out, assert_restored, exit, require_tool, run_command, uri};

/// Where the stick is mounted, in the test's folder.
const STICK: &str = "stick";

/// A FAT image mounted with fusefat, unmounted when dropped (pass or fail).
struct FuseFat {
    mount: PathBuf,
}

impl FuseFat {
    fn new(env: &Env) -> FuseFat {
        let image = env.path("stick.img");
        let mount = env.path(STICK);
        std::fs::create_dir_all(&mount).unwrap();
        std::fs::File::create(&image)
            .and_then(|f| f.set_len(8 << 20))
            .unwrap();
        let mut c = Command::new(require_tool("mkfs.vfat", "dosfstools"));
        c.arg(&image);
        let out = run_command(c);
        assert_eq!(out.code, 0, "{}", out.dump());
        let mut c = Command::new(require_tool("fusefat", "fusefat"));
        c.args(["-o", "rw+"]).arg(&image).arg(&mount);
        let out = run_command(c);
        assert_eq!(
            out.code,
            0,
            "fusefat cannot mount (is /dev/fuse there?)\n{}",
            out.dump()
        );
        let mounts = std::fs::read_to_string("/proc/self/mounts").unwrap();
        assert!(
            mounts
                .lines()
                .any(|l| l.contains(mount.to_str().unwrap()) && l.contains("fuse")),
            "{} is not a FUSE mount\n{mounts}",
            mount.display()
        );
        FuseFat { mount }
    }

    fn p(&self, name: &str) -> String {
        self.mount.join(name).to_str().unwrap().to_owned()
    }
}

impl Drop for FuseFat {
    fn drop(&mut self) {
        let _ = Command::new("fusermount")
            .arg("-u")
            .arg(&self.mount)
            .status();
    }
}

/// Refused before anything is asked or derived: the message says why, the advice what to do,
/// and nothing was added to the stick (the probe that found it out is gone too).
#[track_caller]
fn refused(out: &Out, env: &Env, before: &[String], advice: &str) {
    out.code(exit::OTHER).error_has(&[
        "is on a FUSE filesystem that supports neither no-replace renames nor hard links",
        "nothing was asked or written",
        advice,
    ]);
    out.stderr_lacks(&["Deriving the password key", "PIN for", "Password"]);
    assert_eq!(env.entries(STICK), before, "{}", out.dump());
}

#[test]
fn a_medium_that_cannot_create_safely_is_refused_with_what_to_do() {
    let env = Env::new("fuse-fat");
    env.init_token("fuse-tok");
    env.keygen("fuse-tok", "k", "aes");
    let secret = env.secret("secret.bin", 32);
    let stick = FuseFat::new(&env);
    let before = env.entries(STICK);

    // A secret: never risked, whatever is asked.
    let out = env.run(["generate", "--out", &stick.p("s.bin")]);
    refused(&out, &env, &before, "a filesystem the kernel mounts");

    // A backup: refused, with --force as the way when nothing of that name is there.
    let token = uri("fuse-tok", "k");
    let out = env.backup(
        "secret.bin",
        &[&token],
        &stick.p("b.cb"),
        &["--single-token"],
    );
    refused(&out, &env, &before, "--force");
    let out = env.backup(
        "secret.bin",
        &[&token],
        &stick.p("b.cb"),
        &["--single-token", "--force"],
    );
    out.ok()
        .stdout_has(&["read back: it opens"])
        .stderr_has(&["does not keep file modes"]);
    let mut now = before.clone();
    now.push("b.cb".into());
    now.sort();
    assert_eq!(env.entries(STICK), now);

    // What --force wrote opens; restoring onto the stick is refused like generate.
    env.restore(&stick.p("b.cb"), "r.bin", &[]).ok();
    assert_restored(&env, "r.bin", &secret);
    let out = env.run([
        "restore",
        &stick.p("b.cb"),
        "--out",
        &stick.p("r.bin"),
        "--password-file",
        &env.password_file(),
    ]);
    refused(&out, &env, &now, "a filesystem the kernel mounts");
}
