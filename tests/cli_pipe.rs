//! Standard output whose reader goes away: a report (`inspect`) cut short ends custody quietly
//! with success, as other command-line tools do; a secret (`generate --out -`,
//! `restore --out -`) cut short is a failure, said on standard error.
//!
//! custody writes into a pipe of one page (the smallest Linux allows), so that what it writes
//! cannot all be buffered in the pipe before the test reads one byte and closes its end: the
//! outcome does not depend on timing.

mod common;

use std::fs::OpenOptions;
use std::io::Read;
use std::process::{Child, Stdio};
use std::time::Instant;

use common::cli::{Env, RUN_TIMEOUT, exit, uri};

/// The pipe buffer Linux gives by default: what `inspect` must write more than.
const DEFAULT_PIPE_BYTES: usize = 64 * 1024;
/// A page: the smallest pipe buffer.
const SMALL_PIPE_BYTES: usize = 4096;
/// `--bytes 4096 --format hex`: two hex digits a byte and a newline.
const HEX_SECRET_LEN: usize = 2 * 4096 + 1;

/// A token with an AES key, a secret of `bytes` bytes and a backup `b.cb` of it.
fn fixture(name: &str, bytes: usize) -> (Env, Vec<u8>) {
    let env = Env::new(name);
    env.init_token("pipe-tok");
    env.keygen("pipe-tok", "k", "aes");
    let secret = env.secret("secret.bin", bytes);
    env.backup(
        "secret.bin",
        &[&uri("pipe-tok", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    (env, secret)
}

/// What one run into a pipe gave.
struct Piped {
    code: i32,
    /// The bytes the test read before it closed its end.
    read: Vec<u8>,
    stderr: String,
    cmdline: String,
}

impl Piped {
    fn dump(&self) -> String {
        format!(
            "`{}`: exit code {}, {} bytes read\n--- stderr:\n{}",
            self.cmdline,
            self.code,
            self.read.len(),
            self.stderr
        )
    }
}

/// Runs custody with `args`, its standard output a one-page pipe. The test reads `keep` bytes
/// (all of them with `None`), closes the pipe and waits for custody to end.
fn run_piped(env: &Env, args: &[String], keep: Option<usize>) -> Piped {
    let (mut reader, writer) = std::io::pipe().expect("pipe");
    let size = rustix::pipe::fcntl_setpipe_size(&writer, SMALL_PIPE_BYTES).expect("F_SETPIPE_SZ");
    assert_eq!(size, SMALL_PIPE_BYTES, "the pipe buffer should be one page");
    let (child, cmdline) = spawn(env, args, Stdio::from(writer));
    let read = match keep {
        Some(n) => {
            let mut v = vec![0u8; n];
            reader.read_exact(&mut v).expect("read the first bytes");
            v
        }
        None => {
            let mut v = Vec::new();
            reader.read_to_end(&mut v).expect("read all");
            v
        }
    };
    drop(reader);
    finish(child, cmdline, read)
}

/// Runs custody with `args`, its standard output `stdout`.
fn run_into(env: &Env, args: &[String], stdout: Stdio) -> Piped {
    let (child, cmdline) = spawn(env, args, stdout);
    finish(child, cmdline, Vec::new())
}

fn spawn(env: &Env, args: &[String], stdout: Stdio) -> (Child, String) {
    let cmdline = if args.len() > 10 {
        format!(
            "custody {} ... ({} arguments)",
            args[..8].join(" "),
            args.len()
        )
    } else {
        format!("custody {}", args.join(" "))
    };
    // The command holds the parent's copy of the write end until it is dropped: drop it at
    // once, or the reader would never see the end of the output.
    let child = {
        let mut c = env.command();
        c.args(args).stdout(stdout).stderr(Stdio::piped());
        c.spawn()
            .unwrap_or_else(|e| panic!("cannot run `{cmdline}`: {e}"))
    };
    (child, cmdline)
}

fn finish(mut child: Child, cmdline: String, read: Vec<u8>) -> Piped {
    let mut se = child.stderr.take().expect("stderr");
    let t = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let start = Instant::now();
    let status = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{cmdline}` did not finish within {RUN_TIMEOUT:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    };
    let stderr = String::from_utf8_lossy(&t.join().expect("stderr reader")).into_owned();
    let code = status
        .code()
        .unwrap_or_else(|| panic!("`{cmdline}` was killed by a signal ({status})\n{stderr}"));
    Piped {
        code,
        read,
        stderr,
        cmdline,
    }
}

fn inspect_args(copies: usize) -> Vec<String> {
    let mut args = vec!["inspect".to_string()];
    args.extend(std::iter::repeat_n("b.cb".to_string(), copies));
    args
}

fn generate_args() -> Vec<String> {
    [
        "generate", "--out", "-", "--bytes", "4096", "--format", "hex",
    ]
    .map(String::from)
    .to_vec()
}

fn restore_args(env: &Env) -> Vec<String> {
    vec![
        "restore".into(),
        "b.cb".into(),
        "--out".into(),
        "-".into(),
        "--format".into(),
        "hex".into(),
        "--password-file".into(),
        env.password_file(),
    ]
}

#[track_caller]
fn assert_no_panic(p: &Piped) {
    for bad in ["panicked", "Broken pipe", "RUST_BACKTRACE"] {
        assert!(!p.stderr.contains(bad), "stderr has {bad:?}\n{}", p.dump());
    }
}

#[track_caller]
fn assert_not_delivered(p: &Piped) {
    assert_eq!(p.code, exit::OTHER, "{}", p.dump());
    assert_no_panic(p);
    assert!(
        p.stderr
            .contains("error: the secret was not delivered in full: "),
        "{}",
        p.dump()
    );
    assert!(
        p.stderr.contains(&format!(" of {HEX_SECRET_LEN} bytes")),
        "{}",
        p.dump()
    );
    assert!(
        p.stderr.contains("  what to do: ") && p.stderr.contains("--out FILE"),
        "{}",
        p.dump()
    );
}

#[test]
fn inspect_into_a_reader_that_goes_away_ends_quietly_with_success() {
    let (env, _) = fixture("pipe-inspect", 32);
    let args = inspect_args(300);

    // The same command read to the end writes far more than a pipe holds by default.
    let full = env.run(&args);
    full.ok();
    assert!(
        full.stdout_bytes.len() > DEFAULT_PIPE_BYTES,
        "inspect wrote only {} bytes: not enough to fill a pipe",
        full.stdout_bytes.len()
    );
    let whole = run_piped(&env, &args, None);
    assert_eq!(whole.code, exit::OK, "{}", whole.dump());
    assert_eq!(whole.read, full.stdout_bytes);

    let cut = run_piped(&env, &args, Some(1));
    assert_eq!(cut.code, exit::OK, "{}", cut.dump());
    assert_no_panic(&cut);
    assert!(
        !cut.stderr.contains("error:"),
        "a reader going away is no error\n{}",
        cut.dump()
    );
    assert_eq!(cut.read, full.stdout_bytes[..1]);
}

#[test]
fn a_secret_cut_short_is_a_failure() {
    let (env, _) = fixture("pipe-secret-cut", 4096);
    for args in [generate_args(), restore_args(&env)] {
        let p = run_piped(&env, &args, Some(1));
        assert_not_delivered(&p);
        assert_eq!(p.read.len(), 1);
    }
}

#[test]
fn a_secret_read_to_the_end_is_delivered() {
    let (env, secret) = fixture("pipe-secret-whole", 4096);

    let g = run_piped(&env, &generate_args(), None);
    assert_eq!(g.code, exit::OK, "{}", g.dump());
    assert_no_panic(&g);
    assert_eq!(g.read.len(), HEX_SECRET_LEN, "{}", g.dump());
    assert!(g.read.ends_with(b"\n"));
    assert_eq!(
        hex::decode(&g.read[..HEX_SECRET_LEN - 1])
            .expect("hex")
            .len(),
        4096
    );

    let r = run_piped(&env, &restore_args(&env), None);
    assert_eq!(r.code, exit::OK, "{}", r.dump());
    assert_no_panic(&r);
    assert_eq!(r.read, format!("{}\n", hex::encode(&secret)).into_bytes());
    assert!(r.stderr.contains("Restored 4096 bytes"), "{}", r.dump());
}

/// A full device (not a reader that went away) is an error for reports and secrets alike.
#[test]
fn other_write_errors_on_standard_output_are_reported() {
    let (env, _) = fixture("pipe-full", 4096);
    let full = || {
        Stdio::from(
            OpenOptions::new()
                .write(true)
                .open("/dev/full")
                .expect("open /dev/full"),
        )
    };

    let i = run_into(&env, &inspect_args(1), full());
    assert_eq!(i.code, exit::OTHER, "{}", i.dump());
    assert_no_panic(&i);
    assert!(
        i.stderr.contains("error: writing to standard output: "),
        "{}",
        i.dump()
    );

    for args in [generate_args(), restore_args(&env)] {
        let p = run_into(&env, &args, full());
        assert_not_delivered(&p);
        assert!(p.stderr.contains("failed after 0 of"), "{}", p.dump());
    }
}
