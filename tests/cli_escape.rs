//! Untrusted text is escaped wherever custody prints it. A file name on a hostile medium, a token
//! label, or a label, officer or hint given on the command line may hold newlines, carriage
//! returns, terminal escape sequences and bidirectional controls. Printed raw, such a name could
//! clear the screen, print a fake fingerprint line of its own, or reorder what the person reads.
//! Every run here checks that neither stream holds a raw control or bidi character, that both are
//! UTF-8 (a name that is not is shown as `\xNN`), and that no line starts with the fake text.

mod common;

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStringExt;
use std::path::PathBuf;

use common::cli::{Env, Out, WEAK_KDF, assert_restored, exit, uri};

/// What a hostile name tries to pass off as custody's own line.
const FAKE: &str = "fingerprint: 0000-0000-0000-0000";
const FAKE_SET: &str = "set id:      00000000000000000000000000000000";

/// Every kind of character a name may not print raw: newline, carriage return, ESC sequences
/// (clear screen, cursor home, hidden text, a window title ended by BEL), C1 (CSI), DEL, and the
/// bidirectional controls.
fn hostile(stem: &str) -> String {
    format!(
        "{stem}\n{FAKE}\n{FAKE_SET}\r{FAKE}\x1b[2J\x1b[H{FAKE}\x1b[8m\x1b]0;t\x07\u{9b}31m\x7f\
         \u{202a}\u{202b}\u{202c}\u{202d}\u{202e}\u{2066}\u{2067}\u{2068}\u{2069}\u{200e}\u{200f}\
         \u{61c}kc.cb"
    )
}

/// A name that is not UTF-8 at all, with an ESC sequence after the bad bytes.
fn not_utf8(stem: &str) -> OsString {
    let mut b = stem.as_bytes().to_vec();
    b.extend_from_slice(b"\xff\xfe\x1b[2J\n");
    b.extend_from_slice(FAKE.as_bytes());
    b.extend_from_slice(b"\xc3.cb");
    OsString::from_vec(b)
}

fn is_terminal_control(c: char) -> bool {
    (c.is_control() && c != '\n')
        || matches!(
            c,
            '\u{202a}'..='\u{202e}'
                | '\u{2066}'..='\u{2069}'
                | '\u{200e}'
                | '\u{200f}'
                | '\u{061c}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// Both streams are UTF-8, hold no control or bidi character but newline, and no line of them
/// starts with the fake text.
#[track_caller]
fn assert_clean(out: &Out) {
    // What failed is shown escaped: raw, it would clear the terminal of whoever runs the tests.
    let dump = || out.dump().escape_debug().to_string().replace("\\n", "\n");
    for (which, bytes) in [("stdout", &out.stdout_bytes), ("stderr", &out.stderr_bytes)] {
        let text = std::str::from_utf8(bytes)
            .unwrap_or_else(|e| panic!("{which} is not UTF-8 ({e})\n{}", dump()));
        if let Some(c) = text.chars().find(|&c| is_terminal_control(c)) {
            panic!("{which} holds U+{:04X} raw\n{}", c as u32, dump());
        }
        for line in text.lines() {
            let l = line.trim_start();
            assert!(
                !l.starts_with(FAKE) && !l.starts_with(FAKE_SET) && !l.starts_with("0000-0000"),
                "{which} has a line made by a file name: {line:?}\n{}",
                dump()
            );
        }
    }
}

/// Run custody with arguments that may not be UTF-8, and check the output is clean.
fn run(env: &Env, args: &[&OsStr]) -> Out {
    let out = env.run(args);
    assert_clean(&out);
    out
}

/// `dir/name` as an argument.
fn arg(env: &Env, name: impl AsRef<OsStr>) -> OsString {
    env.dir.join(name.as_ref()).into_os_string()
}

/// A token with an AES key and a 32-byte secret in `secret.bin`.
fn world(name: &str) -> (Env, String, Vec<u8>) {
    let env = Env::new(name);
    env.init_token("esc-tok");
    env.keygen("esc-tok", "k", "aes");
    let secret = env.secret("secret.bin", 32);
    (env, uri("esc-tok", "k"), secret)
}

fn backup_to(env: &Env, token: &str, out: &OsStr) -> Out {
    let mut args: Vec<OsString> = vec![
        "backup".into(),
        "--secret".into(),
        arg(env, "secret.bin"),
        "--token".into(),
        token.into(),
        "--single-token".into(),
        "--out".into(),
        out.into(),
        "--password-file".into(),
        env.password_file().into(),
    ];
    args.extend(WEAK_KDF.iter().map(OsString::from));
    let a: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    run(env, &a)
}

/// The escaped form of the hostile name's first ESC sequence, as display_path shows it.
const ESCAPED_CLEAR: &str = "\\u{1b}[2J";

#[test]
fn hostile_backup_names_print_escaped_at_backup_inspect_verify_and_restore() {
    let (env, token, secret) = world("esc-single");
    let name = hostile("b");
    let file = arg(&env, &name);

    let out = backup_to(&env, &token, &file);
    out.ok()
        .stdout_has(&["Backup written to ", ESCAPED_CLEAR, "\\u{a}", "\\u{202e}"]);
    let set_id = out.field("set id:");
    let fp = out.field("fingerprint:");
    assert!(
        std::fs::read(&file).is_ok(),
        "the file has its hostile name"
    );

    // inspect: the file: line holds the whole name, escaped, and the real fields follow.
    let out = run(&env, &["inspect".as_ref(), &file]);
    out.ok()
        .stdout_has(&[ESCAPED_CLEAR, "\\u{d}", "\\u{7f}", "\\u{9b}", "\\u{61c}"]);
    assert_eq!(out.field("fingerprint:"), fp, "{}", out.dump());
    assert_eq!(out.field("set id:"), set_id, "{}", out.dump());
    let file_lines: Vec<&str> = out
        .stdout
        .lines()
        .filter(|l| l.starts_with("file:"))
        .collect();
    assert_eq!(file_lines.len(), 1, "{}", out.dump());
    assert!(file_lines[0].ends_with("kc.cb"), "{}", out.dump());

    // verify: the OK line names the file escaped.
    let pw = env.password_file();
    let out = run(
        &env,
        &[
            "verify".as_ref(),
            &file,
            "--password-file".as_ref(),
            pw.as_ref(),
        ],
    );
    out.ok().stdout_has(&[ESCAPED_CLEAR, ": OK, it opens with"]);
    assert_eq!(out.field("fingerprint:"), fp, "{}", out.dump());

    // restore: the header and the closing line; the output file has a hostile name too.
    let restored = arg(&env, hostile("r"));
    let out = run(
        &env,
        &[
            "restore".as_ref(),
            &file,
            "--out".as_ref(),
            &restored,
            "--password-file".as_ref(),
            pw.as_ref(),
        ],
    );
    out.ok()
        .stderr_has(&["Backup ", ESCAPED_CLEAR, "Restored 32 bytes", &fp, &set_id]);
    assert_eq!(std::fs::read(&restored).expect("restored"), secret);

    // restore onto an existing file: refused, naming it escaped.
    let out = run(
        &env,
        &[
            "restore".as_ref(),
            &file,
            "--out".as_ref(),
            &restored,
            "--password-file".as_ref(),
            pw.as_ref(),
        ],
    );
    out.code(exit::OUTPUT_EXISTS)
        .error_has(&[ESCAPED_CLEAR, "already exists"]);

    // restore with the wrong password: the error names the file, escaped.
    env.write("wrong", b"not the password\n");
    let wrong = env.p("wrong");
    let out = run(
        &env,
        &[
            "restore".as_ref(),
            &file,
            "--out".as_ref(),
            arg(&env, "r2.bin").as_ref(),
            "--password-file".as_ref(),
            wrong.as_ref(),
        ],
    );
    out.code(exit::AUTH)
        .error_has(&[ESCAPED_CLEAR, "the password is wrong"]);
    env.assert_absent("r2.bin");

    // A password file and a backup that do not exist: both named escaped.
    let out = run(
        &env,
        &[
            "restore".as_ref(),
            &file,
            "--out".as_ref(),
            arg(&env, "r3.bin").as_ref(),
            "--password-file".as_ref(),
            &arg(&env, hostile("pw")),
        ],
    );
    out.failed().error_has(&[ESCAPED_CLEAR, "password file"]);
    let out = run(
        &env,
        &[
            "restore".as_ref(),
            &arg(&env, hostile("absent")),
            "--out".as_ref(),
            arg(&env, "r4.bin").as_ref(),
            "--password-file".as_ref(),
            pw.as_ref(),
        ],
    );
    out.failed().error_has(&[ESCAPED_CLEAR, "kc.cb"]);
    env.assert_absent("r3.bin");
    env.assert_absent("r4.bin");

    // rewrap: the report names the old and the new file escaped.
    let rewrapped = arg(&env, hostile("n"));
    let out = run(
        &env,
        &[
            "rewrap".as_ref(),
            &file,
            "--out".as_ref(),
            &rewrapped,
            "--password-file".as_ref(),
            pw.as_ref(),
            "--new-password-file".as_ref(),
            pw.as_ref(),
        ],
    );
    out.ok()
        .stdout_has(&["Rewrapped ", ESCAPED_CLEAR, "The old file "]);
    assert_eq!(out.field("fingerprint:"), fp, "{}", out.dump());

    // An altered copy: the damage message names the file escaped.
    let mut bytes = std::fs::read(&file).expect("read");
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0x20;
    let damaged = arg(&env, hostile("d"));
    std::fs::write(&damaged, &bytes).expect("write");
    let out = run(&env, &["inspect".as_ref(), &damaged]);
    out.code(exit::DAMAGED).error_has(&[ESCAPED_CLEAR]);
    assert_restored(&env, "secret.bin", &secret);
}

#[test]
fn names_that_are_not_utf8_print_as_hex_escapes() {
    let (env, token, secret) = world("esc-utf8");
    let file = arg(&env, not_utf8("b"));
    backup_to(&env, &token, &file)
        .ok()
        .stdout_has(&["\\xff\\xfe\\u{1b}[2J\\u{a}fingerprint", "\\xc3.cb"]);
    run(&env, &["inspect".as_ref(), &file])
        .ok()
        .stdout_has(&["file:", "\\xff\\xfe"]);
    // JSON carries the value itself (JSON escapes control characters on its own).
    let out = run(&env, &["inspect".as_ref(), "--json".as_ref(), &file]);
    out.ok().stdout_has(&["\\u001b[2J"]);
    let out = run(
        &env,
        &[
            "restore".as_ref(),
            &file,
            "--out".as_ref(),
            arg(&env, not_utf8("r")).as_ref(),
            "--password-file".as_ref(),
            env.password_file().as_ref(),
        ],
    );
    out.ok().stderr_has(&["Backup ", "\\xff\\xfe"]);
    let restored: PathBuf = env.dir.join(not_utf8("r"));
    assert_eq!(std::fs::read(restored).expect("restored"), secret);
}

#[test]
fn hostile_share_names_print_escaped_at_split_backup_verify_and_restore() {
    let (env, token, secret) = world("esc-split");
    let names: Vec<OsString> = ["1", "2", "3"]
        .iter()
        .map(|s| arg(&env, hostile(&format!("share{s}"))))
        .collect();
    let pws: Vec<String> = ["alice", "bob", "carol"]
        .iter()
        .map(|o| {
            env.write(
                &format!("pw-{o}"),
                format!("the password of {o}\n").as_bytes(),
            );
            env.p(&format!("pw-{o}"))
        })
        .collect();
    let mut args: Vec<OsString> = vec![
        "backup".into(),
        "--secret".into(),
        arg(&env, "secret.bin"),
        "--threshold".into(),
        "2".into(),
        "--token".into(),
        token.clone().into(),
        "--allow-same-device".into(),
    ];
    for (n, (o, p)) in names.iter().zip(["Alice", "Bob", "Carol"].iter().zip(&pws)) {
        args.extend(["--out".into(), n.clone(), "--officer".into(), (*o).into()]);
        args.extend(["--password-file".into(), p.into()]);
    }
    args.extend(WEAK_KDF.iter().map(OsString::from));
    let a: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    let out = run(&env, &a);
    out.ok()
        .stdout_has(&["Share 1 of 3 (officer Alice) written to ", ESCAPED_CLEAR]);
    let fp = out.field("fingerprint:");

    // One share verified alone.
    let out = run(
        &env,
        &[
            "verify".as_ref(),
            &names[1],
            "--password-file".as_ref(),
            pws[1].as_ref(),
        ],
    );
    out.ok().stdout_has(&[
        ESCAPED_CLEAR,
        ": OK, the share of officer Bob (share 2) opens and matches its commitment",
    ]);

    // A split restore with a share missing: one given, one that is not there.
    let absent = arg(&env, hostile("share-absent"));
    let out = run(
        &env,
        &[
            "restore".as_ref(),
            &names[0],
            &absent,
            "--out".as_ref(),
            arg(&env, "r.bin").as_ref(),
            "--password-file".as_ref(),
            pws[0].as_ref(),
            "--password-file".as_ref(),
            pws[1].as_ref(),
        ],
    );
    out.code(exit::NOT_ENOUGH_SHARES)
        .error_has(&[ESCAPED_CLEAR, "Bob", "Carol"]);
    env.assert_absent("r.bin");

    // A wrong password for one of two shares: named escaped, nothing written.
    env.write("wrong", b"not the password\n");
    let out = run(
        &env,
        &[
            "restore".as_ref(),
            &names[0],
            &names[2],
            "--out".as_ref(),
            arg(&env, "r.bin").as_ref(),
            "--password-file".as_ref(),
            pws[0].as_ref(),
            "--password-file".as_ref(),
            env.p("wrong").as_ref(),
        ],
    );
    out.failed().error_has(&[ESCAPED_CLEAR]);
    env.assert_absent("r.bin");

    // Two shares: restored, each named escaped on the way.
    let out = run(
        &env,
        &[
            "restore".as_ref(),
            &names[0],
            &names[2],
            "--out".as_ref(),
            arg(&env, "r.bin").as_ref(),
            "--password-file".as_ref(),
            pws[0].as_ref(),
            "--password-file".as_ref(),
            pws[2].as_ref(),
        ],
    );
    out.ok()
        .stderr_has(&[ESCAPED_CLEAR, "Restored 32 bytes", &fp]);
    assert_restored(&env, "r.bin", &secret);
}

#[test]
fn hostile_labels_officers_hints_and_token_text_are_refused_without_echo() {
    let (env, token, _) = world("esc-text");
    let bad = format!("L\n{FAKE}\x1b[2J\u{202e}x");
    let b = arg(&env, "b.cb");
    for flag in ["--label", "--hint"] {
        let mut args: Vec<OsString> = vec![
            "backup".into(),
            "--secret".into(),
            arg(&env, "secret.bin"),
            "--token".into(),
            token.clone().into(),
            "--single-token".into(),
            "--out".into(),
            b.clone(),
            "--password-file".into(),
            env.password_file().into(),
            flag.into(),
            bad.clone().into(),
        ];
        args.extend(WEAK_KDF.iter().map(OsString::from));
        let a: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        run(&env, &a).code(exit::USAGE).error_has(&[flag]);
        env.assert_absent("b.cb");
    }
    let mut args: Vec<OsString> = vec![
        "backup".into(),
        "--secret".into(),
        arg(&env, "secret.bin"),
        "--threshold".into(),
        "2".into(),
        "--token".into(),
        token.clone().into(),
        "--allow-same-device".into(),
    ];
    for (i, o) in ["Alice", &bad].iter().enumerate() {
        args.extend([
            "--out".into(),
            arg(&env, format!("s{i}")),
            "--officer".into(),
            (*o).into(),
            "--password-file".into(),
            env.password_file().into(),
        ]);
    }
    args.extend(WEAK_KDF.iter().map(OsString::from));
    let a: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
    run(&env, &a).code(exit::USAGE).error_has(&["--officer"]);

    // A token locator and a share-token argument with an ESC sequence in them.
    let bad_uri = format!("pkcs11:token=\x1b[2J\n{FAKE};object=k");
    let bad_st = format!("x\x1b[2J\n{FAKE}");
    for extra in [
        ["--token", bad_uri.as_str()],
        ["--share-token", bad_st.as_str()],
    ] {
        let mut args: Vec<OsString> = vec![
            "backup".into(),
            "--secret".into(),
            arg(&env, "secret.bin"),
            "--threshold".into(),
            "2".into(),
            "--token".into(),
            token.clone().into(),
            "--out".into(),
            arg(&env, "t1"),
            "--out".into(),
            arg(&env, "t2"),
            "--allow-same-device".into(),
            extra[0].into(),
            extra[1].into(),
        ];
        args.extend(WEAK_KDF.iter().map(OsString::from));
        let a: Vec<&OsStr> = args.iter().map(|a| a.as_os_str()).collect();
        run(&env, &a).code(exit::USAGE);
    }

    // A token whose label holds an ESC sequence and a bidi override, as `token list` shows it.
    env.init_token("t\x1b[2J\u{202e}x");
    run(&env, &["token".as_ref(), "list".as_ref()])
        .ok()
        .stdout_has(&["t\\u{1b}[2J\\u{202e}x"]);
}
