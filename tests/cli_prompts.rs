//! What a person sees at the prompts: custody run on a pseudo-terminal that is its controlling
//! terminal, answered the way a person would, and run with no terminal at all.

mod common;

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use common::pty::Pty;

const BIN: &str = env!("CARGO_BIN_EXE_custody");
const MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

struct Env {
    dir: PathBuf,
    conf: PathBuf,
}

impl Env {
    fn new(tag: &str) -> Env {
        assert!(
            Path::new(MODULE).exists(),
            "SoftHSM2 is missing ({MODULE}): install softhsm2 (softhsm-config/install-deps.sh)"
        );
        let dir = std::env::temp_dir().join(format!(
            "custody-prompts-{tag}-{}-{}",
            std::process::id(),
            Instant::now().elapsed().as_nanos()
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(dir.join("tokens")).unwrap();
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                dir.join("tokens").display()
            ),
        )
        .unwrap();
        let env = Env { dir, conf };
        let out = Command::new("softhsm2-util")
            .args([
                "--init-token",
                "--free",
                "--label",
                "prompt",
                "--so-pin",
                "12345678",
                "--pin",
                "123456",
            ])
            .env("SOFTHSM2_CONF", &env.conf)
            .output()
            .expect("softhsm2-util is missing: install softhsm2");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let k = env
            .cmd(&[
                "token",
                "keygen",
                "--token",
                "pkcs11:token=prompt;object=k",
                "--type",
                "aes",
            ])
            .env("CUSTODY_PIN", "123456")
            .output()
            .unwrap();
        assert!(k.status.success(), "{}", String::from_utf8_lossy(&k.stderr));
        std::fs::write(env.path("secret"), [7u8; 32]).unwrap();
        env
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.join(name)
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(BIN);
        c.args(args)
            .current_dir(&self.dir)
            .env("SOFTHSM2_CONF", &self.conf)
            .env_remove("CUSTODY_PASSWORD")
            .env_remove("CUSTODY_PIN")
            .env_remove("CUSTODY_PKCS11_MODULE");
        c
    }

    fn backup_args(&self) -> Vec<String> {
        [
            "backup",
            "--secret",
            "secret",
            "--token",
            "pkcs11:token=prompt;object=k",
            "--out",
            "b.custody",
            "--single-token",
            "--allow-weak-kdf",
            "--kdf-memory",
            "8",
            "--kdf-iterations",
            "1",
            "--kdf-parallelism",
            "1",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect()
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

#[test]
fn backup_then_restore_at_the_terminal() {
    let env = Env::new("roundtrip");
    let mut b = env.cmd(
        &env.backup_args()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    b.env("CUSTODY_PIN", "123456");
    let mut pty = Pty::spawn(b);
    pty.expect("New password for the backup b.custody: ");
    pty.send("Tr0ub4dor&3 horse");
    pty.expect("Type it again: ");
    pty.send("Tr0ub4dor&3 horse");
    pty.expect("Password hint");
    pty.send("the stable");
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(
        screen.contains("Backup written to b.custody and read back"),
        "{screen}"
    );
    assert!(
        !screen.contains("Tr0ub4dor"),
        "the password was echoed:\n{screen}"
    );
    let inspect = env.cmd(&["inspect", "b.custody"]).output().unwrap();
    assert!(String::from_utf8_lossy(&inspect.stdout).contains("hint:        the stable"));

    // Restore: the PIN first (the token's key is proven before any password, so a PIN typo
    // costs no Argon2id), then the hint, then the password (no CUSTODY_PIN).
    let mut pty = Pty::spawn(env.cmd(&["restore", "b.custody", "--out", "restored"]));
    skip_fingerprint_question(&mut pty);
    let pin_at = pty.expect("PIN for token \"prompt\"");
    pty.send("123456");
    let hint_at = pty.expect("Password hint: the stable");
    assert!(pin_at < hint_at);
    let pw_at = pty.expect("Password for b.custody: ");
    assert!(hint_at < pw_at);
    pty.send("Tr0ub4dor&3 horse");
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(
        !screen.contains("Tr0ub4dor") && !screen.contains("123456"),
        "echoed:\n{screen}"
    );
    assert_eq!(std::fs::read(env.path("restored")).unwrap(), [7u8; 32]);
}

#[test]
fn a_wrong_password_at_the_terminal_may_be_typed_again() {
    let env = Env::new("retype");
    let mut b = env.cmd(
        &env.backup_args()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    b.env("CUSTODY_PIN", "123456");
    let mut pty = Pty::spawn(b);
    pty.expect("New password for the backup b.custody: ");
    pty.send("right one");
    pty.expect("Type it again: ");
    pty.send("right one");
    pty.expect("Password hint");
    pty.send("");
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");

    let mut r = env.cmd(&["restore", "b.custody", "--out", "restored"]);
    r.env("CUSTODY_PIN", "123456");
    let mut pty = Pty::spawn(r);
    skip_fingerprint_question(&mut pty);
    pty.expect("Password for b.custody: ");
    pty.send("wrong one");
    pty.expect("the password is wrong");
    pty.expect("again (2 tries left");
    pty.send("right one");
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(std::fs::read(env.path("restored")).unwrap(), [7u8; 32]);
}

/// A restore at a terminal without --record or --expect-fingerprint asks for the first digits
/// of the fingerprint before any PIN or password (tests/cli_bound.rs); these tests are about
/// what follows, so they skip it.
fn skip_fingerprint_question(pty: &mut Pty) {
    pty.expect("as written in your ceremony record (or \"skip\")? ");
    pty.send("skip");
}

/// A backup made at the terminal with password "right one", for the restore tests below.
fn backup_at_terminal(env: &Env) {
    let mut b = env.cmd(
        &env.backup_args()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    b.env("CUSTODY_PIN", "123456");
    let mut pty = Pty::spawn(b);
    pty.expect("New password for the backup b.custody: ");
    pty.send("right one");
    pty.expect("Type it again: ");
    pty.send("right one");
    pty.expect("Password hint");
    pty.send("");
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
}

#[test]
fn a_refused_custody_pin_is_followed_by_the_tokens_own_pin_at_the_terminal() {
    let env = Env::new("env-pin-refused");
    backup_at_terminal(&env);
    let mut r = env.cmd(&["restore", "b.custody", "--out", "restored"]);
    r.env("CUSTODY_PIN", "000000");
    let mut pty = Pty::spawn(r);
    skip_fingerprint_question(&mut pty);
    pty.expect("refused the PIN from CUSTODY_PIN");
    pty.expect("PIN for token \"prompt\"");
    pty.send("123456");
    pty.expect("Password for b.custody: ");
    pty.send("right one");
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(std::fs::read(env.path("restored")).unwrap(), [7u8; 32]);
}

#[test]
fn an_empty_pin_entry_skips_the_token_and_sends_it_nothing() {
    let env = Env::new("empty-pin");
    backup_at_terminal(&env);
    let mut pty = Pty::spawn(env.cmd(&["restore", "b.custody", "--out", "restored"]));
    skip_fingerprint_question(&mut pty);
    pty.expect("PIN for token \"prompt\"");
    pty.send("");
    let (code, screen) = pty.finish();
    // The only token was skipped: none of the tokens the file accepts is used (exit 4), and no
    // password was asked.
    assert_eq!(code, 4, "{screen}");
    assert!(screen.contains("skipped"), "{screen}");
    assert!(!screen.contains("Password for b.custody"), "{screen}");
    assert!(!env.path("restored").exists());
}

#[test]
fn mismatched_passwords_are_refused_and_nothing_is_written() {
    let env = Env::new("mismatch");
    let mut b = env.cmd(
        &env.backup_args()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    b.env("CUSTODY_PIN", "123456");
    let mut pty = Pty::spawn(b);
    // Three rounds of a password and a confirmation that differ: then custody gives up.
    for round in 1..=3 {
        pty.expect("New password for the backup b.custody: ");
        pty.send(&format!("first one {round}"));
        pty.expect("Type it again: ");
        pty.send(&format!("second one {round}"));
        if round < 3 {
            pty.expect(&format!("try {} of 3", round + 1));
        }
    }
    let (code, screen) = pty.finish();
    assert_ne!(code, 0, "{screen}");
    assert!(
        screen.contains("the two passwords typed differ"),
        "{screen}"
    );
    assert!(!env.path("b.custody").exists());
}

#[test]
fn a_confirmation_typo_asks_both_again() {
    let env = Env::new("mismatch-again");
    let mut b = env.cmd(
        &env.backup_args()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    b.env("CUSTODY_PIN", "123456");
    let mut pty = Pty::spawn(b);
    pty.expect("New password for the backup b.custody: ");
    pty.send("correct horse");
    pty.expect("Type it again: ");
    pty.send("correct hosre");
    pty.expect("The two entries differ");
    pty.expect("New password for the backup b.custody: ");
    pty.send("correct horse");
    pty.expect("Type it again: ");
    pty.send("correct horse");
    pty.expect("Password hint");
    pty.send("");
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(env.path("b.custody").exists(), "{screen}");
}

#[test]
fn empty_password_is_refused() {
    let env = Env::new("empty");
    let mut b = env.cmd(
        &env.backup_args()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    b.env("CUSTODY_PIN", "123456");
    let mut pty = Pty::spawn(b);
    pty.expect("New password for the backup b.custody: ");
    pty.send("");
    let (code, screen) = pty.finish();
    assert_ne!(code, 0, "{screen}");
    assert!(screen.contains("empty password is not allowed"), "{screen}");
    assert!(!env.path("b.custody").exists());
}

#[test]
fn hint_given_on_the_command_line_is_not_asked() {
    let env = Env::new("hintflag");
    let mut args = env.backup_args();
    args.extend(["--hint".to_string(), "from the flag".to_string()]);
    let mut b = env.cmd(&args.iter().map(String::as_str).collect::<Vec<_>>());
    b.env("CUSTODY_PIN", "123456");
    let mut pty = Pty::spawn(b);
    pty.expect("New password for the backup b.custody: ");
    pty.send("pw pw pw");
    pty.expect("Type it again: ");
    pty.send("pw pw pw");
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("Password hint"), "{screen}");
}

#[test]
fn without_a_terminal_nothing_is_asked() {
    let env = Env::new("notty");
    // setsid: no controlling terminal; stdin closed.
    let mut b = env.cmd(
        &env.backup_args()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    b.env("CUSTODY_PIN", "123456").stdin(Stdio::null());
    unsafe {
        b.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let out = b.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{err}");
    assert!(err.contains("no terminal to ask on"), "{err}");
    assert!(err.contains("--password-file or CUSTODY_PASSWORD"), "{err}");
    assert!(!env.path("b.custody").exists());

    // The PIN is not asked either: with the password given but no PIN, restore fails clearly.
    std::fs::write(env.path("pw"), "pw\n").unwrap();
    let mut b = env.cmd(
        &env.backup_args()
            .iter()
            .map(String::as_str)
            .collect::<Vec<_>>(),
    );
    b.args(["--password-file", "pw"]).stdin(Stdio::null());
    unsafe {
        b.pre_exec(|| {
            libc::setsid();
            Ok(())
        });
    }
    let out = b.output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(0), "{err}");
    assert!(err.contains("PIN"), "{err}");
    assert!(err.contains("no terminal to ask on"), "{err}");
}

#[test]
fn an_absent_officer_is_skipped_with_an_empty_entry() {
    let env = Env::new("skip");
    for (name, pw) in [("a", "alpha pw"), ("b", "bravo pw"), ("c", "charlie pw")] {
        std::fs::write(env.path(&format!("pw-{name}")), format!("{pw}\n")).unwrap();
    }
    let mut args: Vec<String> = [
        "backup",
        "--secret",
        "secret",
        "--token",
        "pkcs11:token=prompt;object=k",
        "--threshold",
        "2",
        "--out",
        "a.share",
        "--out",
        "b.share",
        "--out",
        "c.share",
        "--officer",
        "Alice",
        "--officer",
        "Bob",
        "--officer",
        "Carol",
        "--hint",
        "ha",
        "--hint",
        "hb",
        "--hint",
        "hc",
        "--password-file",
        "pw-a",
        "--password-file",
        "pw-b",
        "--password-file",
        "pw-c",
        "--allow-same-device",
        "--single-token",
        "--allow-weak-kdf",
        "--kdf-memory",
        "8",
        "--kdf-iterations",
        "1",
        "--kdf-parallelism",
        "1",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let mut b = env.cmd(&args.iter().map(String::as_str).collect::<Vec<_>>());
    b.env("CUSTODY_PIN", "123456");
    let out = b.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    args.clear();

    // Alice is absent: Enter alone at her prompt skips her share; Bob and Carol restore.
    let mut r = env.cmd(&[
        "restore", "a.share", "b.share", "c.share", "--out", "restored",
    ]);
    r.env("CUSTODY_PIN", "123456");
    let mut pty = Pty::spawn(r);
    skip_fingerprint_question(&mut pty);
    // Each officer's turn opens with a handover, answered with Enter.
    pty.expect("Officer 1 of 3, Alice: take the keyboard and press Enter");
    pty.send("");
    let alice = pty.expect("officer Alice (share 1)");
    let hint_a = pty.expect("Password hint: ha");
    assert!(alice < hint_a);
    pty.expect("(Enter alone to skip this share): ");
    pty.send("");
    pty.expect("Officer 2 of 3, Bob: take the keyboard and press Enter");
    pty.send("");
    pty.expect("Password hint: hb");
    pty.expect("(Enter alone to skip this share): ");
    pty.send("bravo pw");
    pty.expect("Officer 3 of 3, Carol: take the keyboard and press Enter");
    pty.send("");
    pty.expect("Password hint: hc");
    pty.expect("(Enter alone to skip this share): ");
    pty.send("charlie pw");
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("skipped (officer absent)"), "{screen}");
    assert!(
        !screen.contains("bravo pw") && !screen.contains("charlie pw"),
        "echoed:\n{screen}"
    );
    assert_eq!(std::fs::read(env.path("restored")).unwrap(), [7u8; 32]);
}

/// Cursor home, erase the screen, erase the scroll-back: written between officers' turns.
const CLEAR: &str = "\x1b[H\x1b[2J\x1b[3J";

/// The arguments of a 2-of-3 split backup to a.share, b.share and c.share for Alice, Bob and
/// Carol, with no password files: at a terminal, each officer types theirs.
fn split_backup_args() -> Vec<&'static str> {
    vec![
        "backup",
        "--secret",
        "secret",
        "--token",
        "pkcs11:token=prompt;object=k",
        "--threshold",
        "2",
        "--out",
        "a.share",
        "--out",
        "b.share",
        "--out",
        "c.share",
        "--officer",
        "Alice",
        "--officer",
        "Bob",
        "--officer",
        "Carol",
        "--allow-same-device",
        "--single-token",
        "--allow-weak-kdf",
        "--kdf-memory",
        "8",
        "--kdf-iterations",
        "1",
        "--kdf-parallelism",
        "1",
    ]
}

const OFFICERS: [(&str, &str, &str, &str); 3] = [
    ("Alice", "a.share", "alpha pw", "hint of alice"),
    ("Bob", "b.share", "bravo pw", "hint of bob"),
    ("Carol", "c.share", "charlie pw", "hint of carol"),
];

/// A split backup and a split restore at the terminal: each officer's turn opens with the
/// handover and waits for Enter, the screen and scroll-back are cleared after each entry (the
/// raw bytes of the terminal hold the clear sequence between turns), and the restore counts
/// the shares out loud.
#[test]
fn officers_take_the_keyboard_in_turn() {
    let env = Env::new("officers");
    let mut b = env.cmd(&split_backup_args());
    b.env("CUSTODY_PIN", "123456");
    let mut pty = Pty::spawn(b);
    let mut ends = Vec::new();
    for (i, (name, file, pw, hint)) in OFFICERS.iter().enumerate() {
        let at = pty.expect(&format!(
            "Officer {} of 3, {name}: take the keyboard and press Enter",
            i + 1
        ));
        if let Some(end) = ends.last() {
            assert!(*end < at, "the clear comes before the next handover");
        }
        // Nothing is asked of the officer before they press Enter.
        pty.send("");
        pty.expect(&format!(
            "New password for officer {name} (share {}) of 3, {file}: ",
            i + 1
        ));
        pty.send(pw);
        pty.expect("Type it again: ");
        pty.send(pw);
        pty.expect("Password hint");
        pty.send(hint);
        ends.push(pty.expect(CLEAR));
    }
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(screen.matches(CLEAR).count(), 3, "{screen}");
    for (_, _, pw, _) in OFFICERS {
        assert!(!screen.contains(pw), "echoed:\n{screen}");
    }

    // The restore: two of the three shares, in turn.
    let mut r = env.cmd(&["restore", "c.share", "a.share", "--out", "restored"]);
    r.env("CUSTODY_PIN", "123456");
    let mut pty = Pty::spawn(r);
    skip_fingerprint_question(&mut pty);
    let mut last_clear = 0;
    for (turn, (name, _, pw, hint)) in [OFFICERS[2], OFFICERS[0]].iter().enumerate() {
        let at = pty.expect(&format!(
            "Officer {} of 2, {name}: take the keyboard and press Enter",
            turn + 1
        ));
        assert!(last_clear <= at);
        pty.send("");
        pty.expect(&format!("Password hint: {hint}"));
        pty.expect("(Enter alone to skip this share): ");
        pty.send(pw);
        last_clear = pty.expect(CLEAR);
    }
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(screen.matches(CLEAR).count(), 2, "{screen}");
    // Counted out loud, in order. Each officer's Argon2id runs while the next one types, so
    // the first share is counted before the second handover when its run has ended by then,
    // else after the second entry.
    let one = screen
        .find("1 of 2 shares accepted")
        .expect("1 of 2 counted");
    let two = screen
        .find("2 of 2 shares accepted")
        .expect("2 of 2 counted");
    assert!(first_clear_of(&screen) < one && one < two, "{screen}");
    // The first officer's hint is on the screen only before the first clear.
    let first_clear = first_clear_of(&screen);
    assert!(
        screen.rfind("hint of carol").unwrap() < first_clear,
        "{screen}"
    );
    assert_eq!(std::fs::read(env.path("restored")).unwrap(), [7u8; 32]);
}

fn first_clear_of(screen: &str) -> usize {
    screen.find(CLEAR).expect("a clear")
}

/// With the passwords in files, nobody takes the keyboard: no handover, no clearing, even at
/// a terminal; the count is still said.
#[test]
fn password_files_need_no_handover() {
    let env = Env::new("officers-files");
    let mut args = split_backup_args();
    for (name, pw) in [
        ("pw-a", "alpha pw"),
        ("pw-b", "bravo pw"),
        ("pw-c", "charlie pw"),
    ] {
        std::fs::write(env.path(name), format!("{pw}\n")).unwrap();
    }
    args.extend([
        "--password-file",
        "pw-a",
        "--password-file",
        "pw-b",
        "--password-file",
        "pw-c",
    ]);
    let mut b = env.cmd(&args);
    b.env("CUSTODY_PIN", "123456");
    let (code, screen) = Pty::spawn(b).finish();
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("take the keyboard"), "{screen}");
    assert!(!screen.contains(CLEAR), "{screen}");

    let mut r = env.cmd(&[
        "restore",
        "a.share",
        "b.share",
        "--out",
        "restored",
        "--password-file",
        "pw-a",
        "--password-file",
        "pw-b",
    ]);
    r.env("CUSTODY_PIN", "123456");
    let mut pty = Pty::spawn(r);
    skip_fingerprint_question(&mut pty);
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    assert!(!screen.contains("take the keyboard"), "{screen}");
    assert!(!screen.contains(CLEAR), "{screen}");
    assert!(screen.contains("2 of 2 shares accepted"), "{screen}");
    assert_eq!(std::fs::read(env.path("restored")).unwrap(), [7u8; 32]);
}

/// An officer whose password was wrong is called back after the last officer's entry, with
/// the handover again: three tries in all, or Enter alone to stop.
#[test]
fn an_officer_with_a_wrong_password_is_called_back() {
    let env = Env::new("officers-again");
    let mut args = split_backup_args();
    for (name, pw) in [
        ("pw-a", "alpha pw"),
        ("pw-b", "bravo pw"),
        ("pw-c", "charlie pw"),
    ] {
        std::fs::write(env.path(name), format!("{pw}\n")).unwrap();
    }
    args.extend([
        "--password-file",
        "pw-a",
        "--password-file",
        "pw-b",
        "--password-file",
        "pw-c",
        "--hint",
        "hint of alice",
        "--hint",
        "hint of bob",
        "--hint",
        "hint of carol",
    ]);
    let mut b = env.cmd(&args);
    b.env("CUSTODY_PIN", "123456");
    let out = b.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let restore = |tries: &[&str]| {
        let mut r = env.cmd(&["restore", "a.share", "b.share", "--out", "restored"]);
        r.env("CUSTODY_PIN", "123456");
        let mut pty = Pty::spawn(r);
        skip_fingerprint_question(&mut pty);
        pty.expect("Officer 1 of 2, Alice: take the keyboard and press Enter");
        pty.send("");
        pty.expect("(Enter alone to skip this share): ");
        pty.send("wrong pw");
        pty.expect("Officer 2 of 2, Bob: take the keyboard and press Enter");
        pty.send("");
        pty.expect("(Enter alone to skip this share): ");
        pty.send("bravo pw");
        pty.expect("1 of 2 shares accepted");
        for (i, typed) in tries.iter().enumerate() {
            // Alice again, her hint shown again after the clear.
            pty.expect("Officer 1 of 2, Alice: take the keyboard and press Enter");
            pty.send("");
            pty.expect("Password hint: hint of alice");
            pty.expect(&format!("again ({} tr", 2 - i));
            pty.send(typed);
        }
        pty.finish()
    };

    // Wrong twice more: three tries in all, then the share is missing.
    let (code, screen) = restore(&["still wrong", "wrong again"]);
    assert_ne!(code, 0, "{screen}");
    assert!(screen.contains("not enough shares"), "{screen}");
    assert_eq!(screen.matches("take the keyboard").count(), 4, "{screen}");
    assert!(!env.path("restored").exists());

    // Enter alone: she stops, and is not called again.
    let (code, screen) = restore(&[""]);
    assert_ne!(code, 0, "{screen}");
    assert!(screen.contains("not enough shares"), "{screen}");
    assert_eq!(screen.matches("take the keyboard").count(), 3, "{screen}");

    // Wrong once more, then right: the set restores, and her first failure is forgotten.
    let (code, screen) = restore(&["still wrong", "alpha pw"]);
    assert_eq!(code, 0, "{screen}");
    assert!(screen.contains("2 of 2 shares accepted"), "{screen}");
    assert!(!screen.contains("warning: officer Alice"), "{screen}");
    assert_eq!(std::fs::read(env.path("restored")).unwrap(), [7u8; 32]);
}
