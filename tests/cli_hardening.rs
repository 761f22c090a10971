//! Secret memory (issue 9, item 1): while custody waits at a prompt, it cannot dump core (its
//! core limit is 0 and it is not dumpable), and the secrets it was given in its environment are
//! no longer there — not even in /proc/PID/environ, which shows the block the process started
//! with. And where it may not lock memory, it says so once and works all the same.

mod common;

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use common::cli::{Env, Out, PASSWORD, USER_PIN, WEAK_KDF, require_tool, run_command, uri};
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
    const NEW_PASSWORD: &str = "a new password, never to be seen again";
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
        // Read, scrubbed and dropped at start whatever the command (a restore has no use for it).
        .env("CUSTODY_NEW_PASSWORD", NEW_PASSWORD)
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
    for gone in [
        "CUSTODY_PIN",
        "CUSTODY_PASSWORD",
        PASSWORD,
        "CUSTODY_NEW_PASSWORD",
        NEW_PASSWORD,
    ] {
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

/// custody with `args`, as `env` runs it, but without CAP_IPC_LOCK (root ignores
/// RLIMIT_MEMLOCK; `setpriv` drops the capability from the bounding set, so the exec'd custody
/// does not get it) and with RLIMIT_MEMLOCK at `memlock` bytes.
fn without_ipc_lock(env: &Env, args: &[String], memlock: u64) -> Out {
    let base = env.command();
    let mut c = Command::new(require_tool("setpriv", "util-linux"));
    c.args(["--bounding-set", "-ipc_lock", "--"])
        .arg(base.get_program())
        .args(args)
        .current_dir(env.path(""))
        .stdin(std::process::Stdio::null());
    for (k, v) in base.get_envs() {
        match v {
            Some(v) => c.env(k, v),
            None => c.env_remove(k),
        };
    }
    let limit = libc::rlimit {
        rlim_cur: memlock,
        rlim_max: memlock,
    };
    // SAFETY: only setrlimit, async-signal-safe, between fork and exec.
    unsafe {
        c.pre_exec(move || {
            if libc::setrlimit(libc::RLIMIT_MEMLOCK, &limit) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
    run_command(c)
}

/// A split backup of `secret.bin` into three shares: three Argon2id runs in one process.
fn three_shares(env: &Env, token: &str, memlock: u64) -> Out {
    let mut args: Vec<String> = [
        "backup",
        "--secret",
        &env.p("secret.bin"),
        "--threshold",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    for (i, officer) in ["ann", "bob", "cy"].iter().enumerate() {
        let pw = env.write(
            &format!("pw-{officer}"),
            format!("pw of {officer}\n").as_bytes(),
        );
        args.extend([
            "--out".into(),
            env.p(&format!("s{i}.cb")),
            "--officer".into(),
            officer.to_string(),
            "--hint".into(),
            format!("hint {i}"),
            "--password-file".into(),
            pw.display().to_string(),
        ]);
    }
    args.extend([
        "--token".into(),
        uri(token, "k"),
        "--allow-same-device".into(),
    ]);
    args.extend(WEAK_KDF.iter().map(|s| s.to_string()));
    without_ipc_lock(env, &args, memlock)
}

fn times(out: &Out, needle: &str) -> usize {
    out.stderr.matches(needle).count()
}

#[test]
fn without_the_right_to_lock_memory_custody_says_so_once_and_still_works() {
    let env = Env::new("nolock");
    env.init_token("nolock-tok");
    env.keygen("nolock-tok", "k", "aes");
    env.secret("secret.bin", 32);
    // Nothing may be locked: one warning, naming what is not locked and why.
    let out = three_shares(&env, "nolock-tok", 0);
    out.ok();
    assert_eq!(times(&out, "memory cannot be locked"), 1, "{}", out.dump());
    out.stderr_has(&[
        "the master secret, passwords, keys and Argon2id's memory can be written to swap",
        "RLIMIT_MEMLOCK is 0 KiB",
        "CAP_IPC_LOCK",
    ])
    .stderr_lacks(&["Argon2id's memory is not locked"]);
    // The control: with the capability (as root), nothing is said.
    let mut args = vec!["restore".to_string(), env.p("s0.cb"), env.p("s1.cb")];
    args.extend(["--out".into(), env.p("r.bin")]);
    for o in ["ann", "bob"] {
        args.extend(["--password-file".into(), env.p(&format!("pw-{o}"))]);
    }
    env.run(&args).ok().stderr_lacks(&["locked"]);
    assert_eq!(env.read("r.bin"), env.read("secret.bin"));
}

#[test]
fn when_only_argon2id_memory_cannot_be_locked_custody_says_so_once() {
    let env = Env::new("argon-nolock");
    env.init_token("argon-tok");
    env.keygen("argon-tok", "k", "aes");
    env.secret("secret.bin", 32);
    // Room for the secrets' region (224 KiB), not for Argon2id's 8 MiB.
    let out = three_shares(&env, "argon-tok", 1024 * 1024);
    out.ok();
    assert_eq!(
        times(&out, "Argon2id's memory is not locked"),
        1,
        "{}",
        out.dump()
    );
    out.stderr_has(&[
        "the secrets themselves are locked",
        "RLIMIT_MEMLOCK is 1024 KiB",
    ])
    .stderr_lacks(&["memory cannot be locked"]);
}
