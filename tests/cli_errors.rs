//! Errors name the real cause first (issue 8, item 8): each cause of the "Wrong advice" list
//! gets its own first line, its own advice line (src/cli/advice.rs, `Cause`) and its exit code.
//! One test per cause; each checks the `error:` line, the `what to do:` line and the code.

mod common;

use std::process::{Command, Stdio};

use common::cli::{self, Env, exit, replace_line, uri};
use common::pty::Pty;

/// A token `err-tok` with an AES key `k`, a secret and a weak (fast) backup `b.cb` of it.
fn fixture(name: &str) -> Env {
    let env = Env::new(name);
    env.init_token("err-tok");
    env.keygen("err-tok", "k", "aes");
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("err-tok", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    env
}

/// The first line (`error: ...`) and the advice line (`  what to do: ...`) of a failure.
fn lines(stderr: &str) -> (String, String) {
    // Warnings have their own "what to do" lines; the error's is the one right after it.
    let mut after = stderr.lines().skip_while(|l| !l.starts_with("error: "));
    let first = after.next().unwrap_or_default().to_string();
    let advice = after
        .next()
        .filter(|l| l.starts_with("  what to do: "))
        .unwrap_or_default()
        .to_string();
    (first, advice)
}

/// The failure exited with `code`, its first line holds every one of `first` and its advice
/// line every one of `advice`, and neither holds any of `not`.
#[track_caller]
fn says(out: &cli::Out, code: i32, first: &[&str], advice: &[&str], not: &[&str]) {
    out.code(code);
    let (f, a) = lines(&out.stderr);
    for p in first {
        assert!(f.contains(p), "first line lacks {p:?}\n{}", out.dump());
    }
    for p in advice {
        assert!(a.contains(p), "advice lacks {p:?}\n{}", out.dump());
    }
    for p in not {
        assert!(
            !f.contains(p) && !a.contains(p),
            "says {p:?}\n{}",
            out.dump()
        );
    }
}

#[test]
fn a_missing_pin_file_is_named_as_such() {
    let env = fixture("err-pinfile");
    let missing = env.p("no-such-pin");
    let token = format!("pkcs11:token=err-tok;object=k?pin-source=file:{missing}");
    let out = env.restore("b.cb", "r.bin", &["--token", &token]);
    says(
        &out,
        exit::OTHER,
        &["cannot read the PIN file", "no-such-pin"],
        &["pin-source"],
        &["password", "token key is wrong"],
    );
    env.assert_absent("r.bin");
}

#[test]
fn an_empty_password_is_named_as_such() {
    let env = fixture("err-empty");
    env.write("empty", b"\n");
    let out = env.run([
        "restore",
        &env.p("b.cb"),
        "--out",
        &env.p("r.bin"),
        "--password-file",
        &env.p("empty"),
    ]);
    says(
        &out,
        exit::OTHER,
        &["the password given is empty"],
        &["not empty"],
        &["or run on a terminal"],
    );
    env.assert_absent("r.bin");
}

#[test]
fn a_confirmation_typo_advises_typing_the_same_password_twice() {
    let env = fixture("err-mismatch");
    let mut c = env.command();
    c.args([
        "backup",
        "--secret",
        &env.p("secret.bin"),
        "--token",
        &uri("err-tok", "k"),
        "--out",
        &env.p("t.cb"),
        "--single-token",
    ])
    .args(cli::WEAK_KDF);
    let mut pty = Pty::spawn(c);
    for round in 1..=3 {
        pty.expect("New password for the backup");
        pty.send(&format!("first {round}"));
        pty.expect("Type it again: ");
        pty.send(&format!("second {round}"));
    }
    let (code, screen) = pty.finish();
    assert_eq!(code, exit::OTHER, "{screen}");
    let (first, advice) = lines(&screen.replace('\r', ""));
    assert!(first.contains("the two passwords typed differ"), "{screen}");
    assert!(advice.contains("type the same password twice"), "{screen}");
    assert!(!advice.contains("or run on a terminal"), "{screen}");
    env.assert_absent("t.cb");
}

#[test]
fn argon2id_without_its_memory_advises_memory() {
    let env = fixture("err-memory");
    // The file at custody's default memory (1 GiB): its checksum fixed up, its MAC no longer
    // matches, but the memory is checked before anything is authenticated.
    let b = replace_line(&env.read("b.cb"), "kdf-memory:", "kdf-memory: 1048576");
    env.write("big.cb", &cli::fix_checksum(&b));
    let mut c = Command::new(cli::require_tool("prlimit", "util-linux"));
    let base = env.command();
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    c.current_dir(&env.dir)
        .stdin(Stdio::null())
        .arg(format!("--as={}", 512u64 << 20))
        .arg("--")
        .arg(base.get_program())
        .args([
            "restore",
            &env.p("big.cb"),
            "--out",
            &env.p("r.bin"),
            "--password-file",
            &env.password_file(),
        ]);
    let out = cli::run_command(c);
    says(
        &out,
        exit::OTHER,
        &["Argon2id needs 1024 MiB of memory"],
        &["memory"],
        &["password"],
    );
    env.assert_absent("r.bin");
}

/// Run `script` in a private mount namespace (`unshare -m`, as root) where `dir` is a small
/// tmpfs already filled to the last byte.
fn on_a_full_disk(env: &Env, dir: &str, argv: &[String]) -> cli::Out {
    let base = env.command();
    let mut c = Command::new(cli::require_tool("unshare", "util-linux"));
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    std::fs::create_dir_all(env.path(dir)).unwrap();
    c.current_dir(&env.dir).stdin(Stdio::null()).args([
        "-m",
        "sh",
        "-c",
        // The filler fails with ENOSPC once the tmpfs is full: that is the point.
        "mount -t tmpfs -o size=64k tmpfs \"$1\" && \
         { dd if=/dev/zero of=\"$1/fill\" bs=4k 2>/dev/null; true; } && \
         shift && exec \"$@\"",
        "sh",
        &env.p(dir),
    ]);
    c.arg(base.get_program()).args(argv);
    cli::run_command(c)
}

#[test]
fn a_full_disk_at_restore_advises_space_not_overwriting() {
    let env = fixture("err-full");
    let argv: Vec<String> = [
        "restore",
        &env.p("b.cb"),
        "--out",
        &env.p("full/r.bin"),
        "--password-file",
        &env.password_file(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let out = on_a_full_disk(&env, "full", &argv);
    // The folder's free space is checked before anything is asked (item 6), so the full disk
    // is named there, with its own advice, and never as "custody never overwrites a secret".
    says(
        &out,
        exit::OTHER,
        &["bytes free", "nothing was asked or written"],
        &["free some space", "another medium"],
        &["never overwrites"],
    );
}

#[test]
fn a_full_disk_at_backup_advises_space() {
    let env = fixture("err-full-backup");
    let mut argv: Vec<String> = [
        "backup",
        "--secret",
        &env.p("secret.bin"),
        "--token",
        &uri("err-tok", "k"),
        "--out",
        &env.p("full/n.cb"),
        "--password-file",
        &env.password_file(),
        "--single-token",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    argv.extend(cli::WEAK_KDF.iter().map(|s| s.to_string()));
    let out = on_a_full_disk(&env, "full", &argv);
    says(
        &out,
        exit::OTHER,
        &["bytes free", "nothing was asked or written"],
        &["free some space", "another medium"],
        &["--force"],
    );
}

#[test]
fn a_token_label_typo_names_the_label_and_the_tokens_present() {
    let env = fixture("err-label");
    for token in [
        "pkcs11:token=err-tok-typo",
        "pkcs11:token=err-tok-typo;object=k",
    ] {
        let out = env.restore("b.cb", "r.bin", &["--token", token]);
        says(
            &out,
            exit::NOT_FOUND,
            &["no token labelled \"err-tok-typo\"; present: token \"err-tok\""],
            &["--token", "custody token list"],
            &["none of the tokens this file accepts is present"],
        );
        env.assert_absent("r.bin");
    }
}

#[test]
fn a_yubikey_serial_not_present_is_named() {
    // No card is needed: the card named is absent whatever is plugged in.
    let env = fixture("err-card");
    let out = env.restore("b.cb", "r.bin", &["--token", "yubikey:serial=999;slot=85"]);
    says(
        &out,
        exit::NOT_FOUND,
        &["YubiKey 999 is not present; present: "],
        &["--token"],
        &["YubiKey 999 is needed"],
    );
    env.assert_absent("r.bin");
}

/// A PKCS#11 module that is not there (issue 9, item 8): named, exit 4, nothing written, no
/// password asked — or, while searching every module, named in a warning while the others work.
#[test]
fn a_missing_module_is_named_and_nothing_is_written() {
    let env = fixture("err-module");
    let missing = "/nonexistent/custody/libnothing.so";
    let vars = [("CUSTODY_PKCS11_MODULE", Some(missing))];
    let out = env.run_env(
        [
            "restore",
            &env.p("b.cb"),
            "--out",
            &env.p("r.bin"),
            "--password-file",
            &env.password_file(),
        ],
        &vars,
    );
    // Searching (no --token), a module that does not load is named in a warning and the others
    // are used: the token is found through SoftHSM2's p11-kit registration.
    out.ok().stderr_has(&[&format!(
        "PKCS#11 module {missing} is not used: cannot load PKCS#11 module"
    )]);
    std::fs::remove_file(env.path("r.bin")).unwrap();
    // A module a URI names must load.
    let named = format!("pkcs11:token=err-tok;object=k?module-path={missing}");
    let out = env.run_env(
        [
            "restore",
            &env.p("b.cb"),
            "--token",
            &named,
            "--out",
            &env.p("r.bin"),
            "--password-file",
            &env.password_file(),
        ],
        &vars,
    );
    out.code(exit::NOT_FOUND)
        .error_has(&["cannot load PKCS#11 module", missing])
        .stderr_lacks(&["Password hint"]);
    env.assert_absent("r.bin");
    let out = env.run_env(
        [
            "backup",
            "--secret",
            &env.p("secret.bin"),
            "--token",
            &uri("err-tok", "k"),
            "--single-token",
            "--out",
            &env.p("n.cb"),
            "--password-file",
            &env.password_file(),
        ],
        &vars,
    );
    out.code(exit::NOT_FOUND)
        .error_has(&["cannot load PKCS#11 module", missing]);
    env.assert_absent("n.cb");
}
