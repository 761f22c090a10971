//! The wait after the last officer's entry (issue 8, item 10): three officers typing their
//! passwords at a terminal, 3 s each, with custody's default Argon2id, against one officer
//! alone. Each officer's run goes on while the next one types, so the wait after the last
//! entry should be about one run (target: at most 1.3 × the single backup's wait), not three.
//!
//! The same for a restore: three officers' shares against one officer's backup.
//!
//! A benchmark, not a test (it takes about a minute): run it on a release build with
//! `cargo test --release --features internals --test bench_officers -- --ignored --nocapture`.

mod common;

use std::time::{Duration, Instant};

use common::cli::{Env, exit, uri};
use common::pty::Pty;

/// How long each officer takes to type, from their prompt to their last Enter.
const TYPING: Duration = Duration::from_secs(3);

/// A backup at a terminal to `outs` (one file: a single backup; more: a 2-of-N set), each
/// officer typing their password twice after [`TYPING`]: the time from the last Enter to the
/// end of custody, and from the start to the end.
fn wait_after_last_entry(env: &Env, outs: &[&str]) -> (Duration, Duration) {
    let mut args: Vec<String> = vec![
        "backup".into(),
        "--secret".into(),
        env.p("secret.bin"),
        "--token".into(),
        uri("bench-tok", "k"),
        "--single-token".into(),
        "--allow-same-device".into(),
    ];
    if outs.len() > 1 {
        args.extend(["--threshold".into(), "2".into()]);
    }
    for (i, o) in outs.iter().enumerate() {
        let _ = std::fs::remove_file(env.path(o));
        args.extend(["--out".into(), env.p(o), "--hint".into(), format!("h{i}")]);
        if outs.len() > 1 {
            args.extend(["--officer".into(), format!("officer{i}")]);
        }
    }
    let mut c = env.command();
    c.args(&args);
    let start = Instant::now();
    let mut pty = Pty::spawn(c);
    for i in 0..outs.len() {
        let pw = format!("the password of officer {i}, long enough");
        if outs.len() > 1 {
            pty.expect("take the keyboard and press Enter");
            pty.send("");
        }
        pty.expect("New password for");
        std::thread::sleep(TYPING);
        pty.send(&pw);
        pty.expect("Type it again: ");
        pty.send(&pw);
    }
    let last = Instant::now();
    let (code, screen) = pty.finish();
    let waited = last.elapsed();
    assert_eq!(code, exit::OK, "{screen}");
    (waited, start.elapsed())
}

/// A restore at a terminal of `files` (one file: a single backup; more: the shares of a set),
/// each officer typing their password after [`TYPING`]: the time from the last Enter to the end
/// of custody, and from the start to the end.
fn restore_wait_after_last_entry(env: &Env, files: &[&str]) -> (Duration, Duration) {
    let _ = std::fs::remove_file(env.path("r.bin"));
    let mut c = env.command();
    c.arg("restore");
    for f in files {
        c.arg(env.p(f));
    }
    c.args(["--out", &env.p("r.bin")]);
    let start = Instant::now();
    let mut pty = Pty::spawn(c);
    pty.expect("(or \"skip\")? ");
    pty.send("skip");
    for i in 0..files.len() {
        if files.len() > 1 {
            pty.expect("take the keyboard and press Enter");
            pty.send("");
        }
        pty.expect("Password for ");
        std::thread::sleep(TYPING);
        pty.send(&format!("the password of officer {i}, long enough"));
    }
    let last = Instant::now();
    let (code, screen) = pty.finish();
    let waited = last.elapsed();
    assert_eq!(code, exit::OK, "{screen}");
    (waited, start.elapsed())
}

#[test]
#[ignore = "a benchmark: about a minute on a release build"]
fn three_officers_wait_about_one_argon2id_after_the_last_entry() {
    let env = Env::new("bench-officers");
    env.init_token("bench-tok");
    env.keygen("bench-tok", "k", "aes");
    env.secret("secret.bin", 32);
    let (one, one_total) = wait_after_last_entry(&env, &["one.cb"]);
    let (three, three_total) = wait_after_last_entry(&env, &["a.cb", "b.cb", "c.cb"]);
    let ratio = three.as_secs_f64() / one.as_secs_f64();
    println!(
        "wait after the last entry: one officer {:.2} s, three officers {:.2} s ({ratio:.2} × one); \
         whole backup: {:.2} s and {:.2} s",
        one.as_secs_f64(),
        three.as_secs_f64(),
        one_total.as_secs_f64(),
        three_total.as_secs_f64()
    );
}

#[test]
#[ignore = "a benchmark: about a minute on a release build"]
fn three_officers_restoring_wait_about_one_argon2id_after_the_last_entry() {
    let env = Env::new("bench-officers-restore");
    env.init_token("bench-tok");
    env.keygen("bench-tok", "k", "aes");
    env.secret("secret.bin", 32);
    wait_after_last_entry(&env, &["one.cb"]);
    wait_after_last_entry(&env, &["a.cb", "b.cb", "c.cb"]);
    let (one, one_total) = restore_wait_after_last_entry(&env, &["one.cb"]);
    let (three, three_total) = restore_wait_after_last_entry(&env, &["a.cb", "b.cb", "c.cb"]);
    let ratio = three.as_secs_f64() / one.as_secs_f64();
    println!(
        "restore, wait after the last entry: one officer {:.2} s, three officers {:.2} s \
         ({ratio:.2} × one); whole restore: {:.2} s and {:.2} s",
        one.as_secs_f64(),
        three.as_secs_f64(),
        one_total.as_secs_f64(),
        three_total.as_secs_f64()
    );
}
