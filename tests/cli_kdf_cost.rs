//! Cost before work: a file that asks for more Argon2id than custody's defaults is named with
//! its cost and refused unless confirmed or accepted with `--max-kdf-*`, and Argon2id that
//! this process has no memory for is refused with the numbers — both before any token, PIN or
//! password. Memory limits are set with `prlimit --as` (no root or cgroup needed).

mod common;

use std::process::{Command, Stdio};
use std::time::Duration;

use common::cli::{self, Env, exit, replace_line, uri};
use common::pty::Pty;

/// A token with an AES key and a weak (fast) backup `b.cb` with a hint.
fn fixture(name: &str) -> Env {
    fixture_with(name, &[])
}

/// The same, with `extra` backup arguments.
fn fixture_with(name: &str, extra: &[&str]) -> Env {
    let env = Env::new(name);
    env.init_token("cost-tok");
    env.keygen("cost-tok", "k", "aes");
    env.secret("secret.bin", 32);
    let mut a = vec!["--single-token", "--hint", "blue"];
    a.extend_from_slice(extra);
    env.backup("secret.bin", &[&uri("cost-tok", "k")], "b.cb", &a)
        .ok();
    env
}

/// `b.cb` with its KDF lines changed (and its checksum fixed up) into `rel`: its MAC no longer
/// matches, but every check of this item runs before anything is authenticated.
fn with_kdf(env: &Env, rel: &str, memory_kib: u32, iterations: u32, parallelism: u32) {
    let b = env.read("b.cb");
    let b = replace_line(&b, "kdf-memory:", &format!("kdf-memory: {memory_kib}"));
    let b = replace_line(
        &b,
        "kdf-iterations:",
        &format!("kdf-iterations: {iterations}"),
    );
    let b = replace_line(
        &b,
        "kdf-parallelism:",
        &format!("kdf-parallelism: {parallelism}"),
    );
    env.write(rel, &b);
}

/// Strings to arguments.
fn args(a: &[&str]) -> Vec<String> {
    a.iter().map(|s| s.to_string()).collect()
}

/// Run custody with no controlling terminal (so that a prompt reached would fail, never wait)
/// and, when `as_limit` is given, under `prlimit --as=<bytes>`.
fn run_limited(env: &Env, as_limit: Option<u64>, argv: &[String]) -> cli::Out {
    let base = env.command();
    let mut c = Command::new(cli::require_tool("setsid", "util-linux"));
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    if let Some(d) = base.get_current_dir() {
        c.current_dir(d);
    }
    c.stdin(Stdio::null()).arg("-w");
    if let Some(limit) = as_limit {
        c.arg(cli::require_tool("prlimit", "util-linux"))
            .arg(format!("--as={limit}"))
            .arg("--");
    }
    c.arg(base.get_program()).args(argv);
    cli::run_command(c)
}

/// Nothing of the ceremony was reached: no hint shown, no token logged in to, no password
/// asked, and quickly (no Argon2id at the file's cost ran).
#[track_caller]
fn nothing_asked(out: &cli::Out) {
    out.stderr_lacks(&["Password hint", "Password for", "logging in", "PIN"]);
    assert!(
        out.elapsed < Duration::from_secs(20),
        "took {:?}\n{}",
        out.elapsed,
        out.dump()
    );
}

const MIB: u64 = 1024 * 1024;

#[test]
fn a_costly_file_is_refused_without_a_terminal_before_any_prompt() {
    let env = fixture("cost-refused");
    with_kdf(&env, "costly.cb", 4 * 1024 * 1024, 16, 1);
    let costly = env.p("costly.cb");
    for argv in [
        args(&["restore", &costly, "--out", "r.bin"]),
        args(&["verify", &costly]),
        args(&["rewrap", &costly, "--out", "new.cb", "--hint", "x"]),
        args(&["reshare", &costly, "--threshold", "1", "--out", "new.cb"])
            .into_iter()
            .chain(cli::WEAK_KDF.iter().map(|s| s.to_string()))
            .chain(args(&["--token", &uri("cost-tok", "k"), "--single-token"]))
            .collect(),
    ] {
        let out = run_limited(&env, None, &argv);
        out.code(exit::USAGE).error_has(&[
            &costly,
            "asks for 4096 MiB × 16 passes, about ",
            " s here",
            "custody's default (1024 MiB × 3 passes)",
            "--max-kdf-memory 4096 --max-kdf-iterations 16",
        ]);
        nothing_asked(&out);
        env.assert_absent("r.bin");
        env.assert_absent("new.cb");
    }
    // One flag is not enough when both values are above the defaults.
    let out = run_limited(
        &env,
        None,
        &args(&["verify", &costly, "--max-kdf-memory", "4096"]),
    );
    out.code(exit::USAGE)
        .error_has(&["asks for 4096 MiB × 16 passes"]);
    nothing_asked(&out);
}

#[test]
fn the_max_kdf_flags_let_a_costly_file_past_the_check() {
    let env = fixture("cost-accepted");
    // 4 GiB × 16 accepted: past the cost check, it meets the memory check (here made to fail
    // with a 1 GiB address-space limit, so that no 4 GiB Argon2id runs in a test).
    with_kdf(&env, "costly.cb", 4 * 1024 * 1024, 16, 1);
    let costly = env.p("costly.cb");
    let out = run_limited(
        &env,
        Some(1024 * MIB),
        &args(&[
            "restore",
            &costly,
            "--out",
            "r.bin",
            "--max-kdf-memory",
            "4096",
            "--max-kdf-iterations",
            "16",
        ]),
    );
    out.code(exit::OTHER)
        .error_has(&["Argon2id needs 4096 MiB of memory"]);
    out.stderr_lacks(&["asks for"]);
    nothing_asked(&out);

    // 256 MiB × 13 passes: less memory than the default but more work (memory × passes),
    // refused; accepted by --max-kdf-iterations, it runs (a few seconds), and as its KDF line
    // was edited the file then fails as a wrong password or an altered file would — not as a
    // refused cost.
    with_kdf(&env, "passes.cb", 256 * 1024, 13, 1);
    let passes = env.p("passes.cb");
    let out = run_limited(&env, None, &args(&["verify", &passes]));
    out.code(exit::USAGE).error_has(&[
        "asks for 256 MiB × 13 passes",
        "(accepted without a question by --max-kdf-iterations 13)",
    ]);
    nothing_asked(&out);
    let out = run_limited(
        &env,
        None,
        &args(&[
            "verify",
            &passes,
            "--password-file",
            &env.password_file(),
            "--max-kdf-iterations",
            "13",
        ]),
    );
    out.code(exit::AUTH).error_has(&["password is wrong"]);
    out.stderr_lacks(&["asks for"]);

    // More passes over little memory cost less than the default: no question at all.
    with_kdf(&env, "cheap.cb", 8 * 1024, 16, 1);
    let out = run_limited(
        &env,
        None,
        &args(&[
            "verify",
            &env.p("cheap.cb"),
            "--password-file",
            &env.password_file(),
        ]),
    );
    out.code(exit::AUTH).error_has(&["password is wrong"]);
    out.stderr_lacks(&["asks for"]);
}

#[test]
fn a_default_kdf_file_without_the_memory_fails_early_with_the_numbers() {
    let env = fixture("cost-memory");
    with_kdf(&env, "default.cb", 1024 * 1024, 3, 4);
    let file = env.p("default.cb");
    for argv in [
        args(&["restore", &file, "--out", "r.bin"]),
        args(&["verify", &file]),
    ] {
        let out = run_limited(&env, Some(512 * MIB), &argv);
        out.code(exit::OTHER).error_has(&[
            &file,
            "Argon2id needs 1024 MiB of memory and ",
            " MiB is available here",
            "RLIMIT_AS",
            "ulimit -v",
        ]);
        nothing_asked(&out);
        env.assert_absent("r.bin");
    }
    // Without the limit the same file goes past the memory check (to the password, which no
    // one can give here).
    let out = run_limited(&env, None, &args(&["verify", &file]));
    out.code(exit::OTHER).error_has(&["password"]);
    out.stderr_lacks(&["Argon2id needs"]);
}

#[test]
fn a_backup_at_the_default_kdf_without_the_memory_fails_before_any_token_or_password() {
    let env = fixture("cost-backup");
    let out = run_limited(
        &env,
        Some(512 * MIB),
        &args(&[
            "backup",
            "--secret",
            &env.p("secret.bin"),
            "--token",
            &uri("cost-tok", "k"),
            "--single-token",
            "--out",
            "default.cb",
        ]),
    );
    out.code(exit::OTHER).error_has(&[
        "default.cb",
        "Argon2id needs 1024 MiB of memory and ",
        "RLIMIT_AS",
    ]);
    nothing_asked(&out);
    out.stderr_lacks(&["New password"]);
    env.assert_absent("default.cb");
}

/// On a terminal the person is asked; "no" (or just Enter) stops with nothing done, "y" goes on
/// to the hint and the password.
#[test]
fn on_a_terminal_the_cost_is_confirmed_or_declined() {
    let env = fixture("cost-tty");
    with_kdf(&env, "passes.cb", 256 * 1024, 13, 1);
    let passes = env.p("passes.cb");
    for answer in ["n", ""] {
        let mut c = env.command();
        c.args(["verify", &passes]);
        let mut pty = Pty::spawn(c);
        pty.expect("asks for 256 MiB × 13 passes, about ");
        pty.expect("Run it at this cost? [y/N] ");
        pty.send(answer);
        let (code, screen) = pty.finish();
        assert_eq!(code, exit::USAGE, "{screen}");
        assert!(screen.contains("Not confirmed;"), "{screen}");
        assert!(!screen.contains("Password"), "{screen}");
    }
    let mut c = env.command();
    c.args(["verify", &passes]);
    let mut pty = Pty::spawn(c);
    pty.expect("Run it at this cost? [y/N] ");
    pty.send("y");
    pty.expect("Password hint: blue");
    pty.expect("Password for ");
    // An empty password is refused before Argon2id: the test need not wait for one.
    pty.send("");
    let (code, screen) = pty.finish();
    assert_eq!(code, exit::OTHER, "{screen}");
    assert!(screen.contains("empty password"), "{screen}");
}

/// The record `rec` with its last line's `"kdf"` object replaced by `kdf`. Only the last line:
/// no later line holds its hash, so the chain still verifies (whoever can write a record can do
/// as much, which is why the head goes into the paper log).
fn record_last_kdf(env: &Env, rec: &str, kdf: &str) {
    let text = String::from_utf8(env.read(rec)).unwrap();
    let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
    let last = lines.last_mut().expect("a line");
    let start = last.find("\"kdf\":{").expect("a kdf object") + "\"kdf\":".len();
    let end = start + last[start..].find('}').expect("its end") + 1;
    last.replace_range(start..end, kdf);
    env.write(rec, (lines.join("\n") + "\n").as_bytes());
}

#[test]
fn with_a_record_a_file_is_compared_with_the_parameters_recorded_for_its_set() {
    // The record's path is relative to the folder custody runs in: the test's own.
    let env = fixture_with(
        "cost-record",
        &["--record", "rec", "--allow-record-on-medium"],
    );
    // Each verify below appends a line: the backup's line is kept to start again from.
    env.write("rec.backup", &env.read("rec"));
    // The set was recorded with 4 GiB × 16 passes (the line edited: no such Argon2id runs in a
    // test), and the file asks for the same.
    record_last_kdf(
        &env,
        "rec",
        "{\"memory_kib\":4194304,\"iterations\":16,\"parallelism\":1}",
    );
    with_kdf(&env, "costly.cb", 4 * 1024 * 1024, 16, 1);
    let costly = env.p("costly.cb");
    // Without the record: refused, as more than custody's defaults.
    let out = run_limited(&env, None, &args(&["verify", &costly]));
    out.code(exit::USAGE)
        .error_has(&["asks for 4096 MiB × 16 passes", "custody's default"]);
    // With it: what the set was written with is expected, so the cost is accepted; the memory
    // check that follows (a 1 GiB address-space limit) shows the cost check was passed.
    let record_args = |file: &str| {
        args(&[
            "verify",
            file,
            "--record",
            &env.p("rec"),
            "--allow-record-on-medium",
        ])
    };
    let out = run_limited(&env, Some(1024 * MIB), &record_args(&costly));
    out.code(exit::OTHER)
        .error_has(&["Argon2id needs 4096 MiB of memory"]);
    out.stderr_lacks(&["asks for"]);
    nothing_asked(&out);
    // A file of the set asking for more than the record holds is named against the record.
    env.write("rec", &env.read("rec.backup"));
    record_last_kdf(
        &env,
        "rec",
        "{\"memory_kib\":2097152,\"iterations\":16,\"parallelism\":1}",
    );
    let out = run_limited(&env, None, &record_args(&costly));
    out.code(exit::USAGE).error_has(&[
        "asks for 4096 MiB × 16 passes",
        "the parameters expected for its set (2048 MiB × 16 passes)",
    ]);
    nothing_asked(&out);
}
