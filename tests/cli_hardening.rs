//! Secret memory (issue 9, item 1): while custody waits at a prompt, it cannot dump core (its
//! core limit is 0 and it is not dumpable), and the secrets it was given in its environment are
//! no longer there — not even in /proc/PID/environ, which shows the block the process started
//! with.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cli::{Env, PASSWORD, USER_PIN, uri};
use common::pty::Pty;

/// Raise this test process's core limit (soft and hard; the tests run as root), so that what
/// custody shows is its own doing, not an inherited 0 (shells here start with `ulimit -c 0`).
fn allow_core_dumps() {
    let unlimited = libc::rlimit {
        rlim_cur: libc::RLIM_INFINITY,
        rlim_max: libc::RLIM_INFINITY,
    };
    assert_eq!(
        unsafe { libc::setrlimit(libc::RLIMIT_CORE, &unlimited) },
        0,
        "cannot raise RLIMIT_CORE: {}",
        std::io::Error::last_os_error()
    );
}

fn cores_in(dir: &Path) -> Vec<String> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let n = e.unwrap().file_name().to_string_lossy().into_owned();
            n.starts_with("core").then_some(n)
        })
        .collect()
}

/// Wait until `pid` has ended (reaped by its parent).
fn wait_gone(pid: u32) {
    let start = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "{pid} did not end"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn at_a_prompt_custody_cannot_dump_core_and_its_environment_holds_no_secret() {
    allow_core_dumps();
    let env = Env::new("harden");
    env.init_token("hard-tok");
    env.keygen("hard-tok", "k", "aes");
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("hard-tok", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    // A folder of its own, so that only custody's core could land there.
    std::fs::create_dir_all(env.path("cwd")).unwrap();
    let mut c = env.command();
    c.args(["restore", &env.p("b.cb"), "--out", &env.p("r.bin")])
        .env("CUSTODY_PASSWORD", PASSWORD)
        .current_dir(env.path("cwd"));
    let mut pty = Pty::spawn(c);
    // Waiting at the fingerprint question: the PIN and password were given in the environment.
    pty.expect("(or \"skip\")? ");
    let pid = pty.pid();

    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let core = limits
        .lines()
        .find(|l| l.starts_with("Max core file size"))
        .expect("a core line");
    let fields: Vec<&str> = core.split_whitespace().collect();
    assert_eq!(&fields[4..6], ["0", "0"], "{core}");

    let environ = std::fs::read(format!("/proc/{pid}/environ")).unwrap();
    let text = String::from_utf8_lossy(&environ);
    for gone in ["CUSTODY_PIN", "CUSTODY_PASSWORD", PASSWORD] {
        assert!(!text.contains(gone), "{gone:?} in /proc/{pid}/environ");
    }
    // The control for the reading: the rest of the environment is there.
    assert!(text.contains("SOFTHSM2_CONF="), "{text}");
    // The PIN's value too, where the variable was.
    assert!(!text.contains(&format!("={USER_PIN}")), "{text}");

    // SIGABRT: custody dies, and leaves no core.
    pty.signal(libc::SIGABRT);
    let (code, _) = pty.wait_end();
    assert_eq!(code, -1, "killed by SIGABRT");
    wait_gone(pid);
    assert!(cores_in(&env.path("cwd")).is_empty(), "custody left a core");

    // The control: another process with the same limit, in the same folder, does leave one.
    let mut control = Command::new("sleep")
        .arg("30")
        .current_dir(env.path("cwd"))
        .spawn()
        .expect("sleep");
    std::thread::sleep(Duration::from_millis(200));
    unsafe { libc::kill(control.id() as libc::pid_t, libc::SIGABRT) };
    let _ = control.wait();
    assert!(
        !cores_in(&env.path("cwd")).is_empty(),
        "the control process left no core either: this machine cannot show the difference \
         (core_pattern: {:?})",
        std::fs::read_to_string("/proc/sys/kernel/core_pattern")
    );
}
