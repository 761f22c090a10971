//! Helpers for end-to-end tests of the `custody` binary.
//!
//! Every test makes its own [`Env`]: a fresh directory with its own `softhsm2.conf` and token
//! directory (or, from [`Env::kryoptic`], its own `kryoptic.conf` and kryoptic token). Each CLI
//! run is a separate process that reads that configuration at start-up, so tests never share
//! tokens and can run in parallel. This module never loads SoftHSM in the test
//! process itself (unlike [`super::softhsm`]), so there is nothing to lock.
//!
//! A machine without SoftHSM2 (or the other tools a test asks for) makes the tests fail with a
//! clear message: they never skip.

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// The SO PIN and user PIN of every token made by [`Env::init_token`].
pub const SO_PIN: &str = "12345678";
pub const USER_PIN: &str = "123456";
/// The password every test backup uses (first line of [`Env::password_file`]).
pub const PASSWORD: &str = "correct horse battery staple";
/// Argon2id parameters that keep tests fast (the file is then marked weak).
pub const WEAK_KDF: [&str; 7] = [
    "--kdf-memory",
    "8",
    "--kdf-iterations",
    "1",
    "--kdf-parallelism",
    "1",
    "--allow-weak-kdf",
];

/// How long one CLI run may take before the test fails (a run that waits for a terminal, or a
/// KDF that was not refused, must not hang the suite).
pub const RUN_TIMEOUT: Duration = Duration::from_secs(60);

/// Exit codes (the contract printed by `custody --help`).
pub mod exit {
    pub const OK: i32 = 0;
    pub const OTHER: i32 = 1;
    pub const USAGE: i32 = 2;
    pub const AUTH: i32 = 3;
    pub const NOT_FOUND: i32 = 4;
    pub const DAMAGED: i32 = 5;
    pub const PIN_LOCKED: i32 = 6;
    pub const OUTPUT_EXISTS: i32 = 7;
    pub const NOT_ENOUGH_SHARES: i32 = 8;
}

/// The SoftHSM2 module: `CUSTODY_PKCS11_MODULE` if set, else Debian's path. Panics if missing.
pub fn softhsm_module() -> PathBuf {
    let path = std::env::var_os("CUSTODY_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"));
    assert!(
        path.is_file(),
        "SoftHSM2 PKCS#11 module not found at {}: install the Debian package `softhsm2` (or set \
         CUSTODY_PKCS11_MODULE). These tests need it and never skip.",
        path.display()
    );
    path
}

/// Full path of a program on PATH; panics with what to install if it is missing.
pub fn require_tool(name: &str, package: &str) -> PathBuf {
    let path = std::env::var_os("PATH").unwrap_or_default();
    for dir in std::env::split_paths(&path) {
        let p = dir.join(name);
        if p.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        {
            return p;
        }
    }
    panic!(
        "`{name}` not found on PATH: install the Debian package `{package}`. This test needs it and never skips."
    );
}

/// The result of one run.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
    pub stdout_bytes: Vec<u8>,
    pub stderr_bytes: Vec<u8>,
    pub elapsed: Duration,
    /// The command line, for messages.
    pub cmdline: String,
}

impl Out {
    /// Both streams, for checks that do not care where a message went.
    pub fn all(&self) -> String {
        format!("{}\n{}", self.stdout, self.stderr)
    }

    /// Panics (showing everything) unless the exit code is `code`.
    #[track_caller]
    pub fn code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            code,
            "exit code of `{}`\n{}",
            self.cmdline,
            self.dump()
        );
        self
    }

    #[track_caller]
    pub fn ok(&self) -> &Self {
        self.code(0)
    }

    #[track_caller]
    pub fn failed(&self) -> &Self {
        assert_ne!(
            self.code,
            0,
            "`{}` should have failed\n{}",
            self.cmdline,
            self.dump()
        );
        self
    }

    /// Panics unless standard error contains every one of `parts`.
    #[track_caller]
    pub fn stderr_has(&self, parts: &[&str]) -> &Self {
        for p in parts {
            assert!(
                self.stderr.contains(p),
                "stderr of `{}` lacks {p:?}\n{}",
                self.cmdline,
                self.dump()
            );
        }
        self
    }

    #[track_caller]
    pub fn stdout_has(&self, parts: &[&str]) -> &Self {
        for p in parts {
            assert!(
                self.stdout.contains(p),
                "stdout of `{}` lacks {p:?}\n{}",
                self.cmdline,
                self.dump()
            );
        }
        self
    }

    #[track_caller]
    pub fn stderr_lacks(&self, parts: &[&str]) -> &Self {
        for p in parts {
            assert!(
                !self.stderr.contains(p),
                "stderr of `{}` should not contain {p:?}\n{}",
                self.cmdline,
                self.dump()
            );
        }
        self
    }

    /// The `error: ...` lines custody printed (what the user reads first).
    pub fn error_text(&self) -> String {
        let mut keep = false;
        let mut out = String::new();
        for line in self.stderr.lines() {
            if line.starts_with("error: ") {
                keep = true;
            } else if !line.starts_with("  ") {
                keep = false;
            }
            if keep {
                out.push_str(line);
                out.push('\n');
            }
        }
        out
    }

    /// Panics unless the `error:` message contains every one of `parts`.
    #[track_caller]
    pub fn error_has(&self, parts: &[&str]) -> &Self {
        let e = self.error_text();
        assert!(
            !e.is_empty(),
            "`{}` printed no error line\n{}",
            self.cmdline,
            self.dump()
        );
        for p in parts {
            assert!(
                e.contains(p),
                "the error of `{}` lacks {p:?}\n{}",
                self.cmdline,
                self.dump()
            );
        }
        self
    }

    /// Panics unless the `error:` message contains at least one of `alternatives` (for a
    /// meaning that may be worded in more than one way).
    #[track_caller]
    pub fn error_has_any(&self, alternatives: &[&str]) -> &Self {
        let e = self.error_text();
        assert!(
            alternatives.iter().any(|a| e.contains(a)),
            "the error of `{}` contains none of {alternatives:?}\n{}",
            self.cmdline,
            self.dump()
        );
        self
    }

    pub fn dump(&self) -> String {
        format!(
            "--- exit code {} after {:?}\n--- stdout:\n{}\n--- stderr:\n{}",
            self.code, self.elapsed, self.stdout, self.stderr
        )
    }

    /// The value after `label` on the first stdout or stderr line holding it (trimmed).
    #[track_caller]
    pub fn field(&self, label: &str) -> String {
        self.all()
            .lines()
            .find_map(|l| {
                l.trim_start()
                    .strip_prefix(label)
                    .map(|v| v.trim().to_owned())
            })
            .unwrap_or_else(|| {
                panic!(
                    "no {label:?} line in the output of `{}`\n{}",
                    self.cmdline,
                    self.dump()
                )
            })
    }
}

static COUNTER: AtomicU64 = AtomicU64::new(0);

/// The PKCS#11 implementation whose tokens an [`Env`] holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    /// SoftHSM2: `conf` is a `softhsm2.conf`, the tokens are in `tokens/`.
    SoftHsm,
    /// kryoptic (see [`super::kryoptic`]): `conf` is a `kryoptic.conf` with one slot.
    Kryoptic,
}

impl Backend {
    /// The environment variable that tells the module where its configuration is.
    pub fn conf_var(self) -> &'static str {
        match self {
            Backend::SoftHsm => "SOFTHSM2_CONF",
            Backend::Kryoptic => "KRYOPTIC_CONF",
        }
    }
}

/// One test's world: a directory, its PKCS#11 module's configuration and tokens.
pub struct Env {
    pub dir: PathBuf,
    pub conf: PathBuf,
    pub module: PathBuf,
    pub backend: Backend,
    /// Extra environment for every run (`None` removes the variable).
    pub vars: Vec<(String, Option<String>)>,
}

impl Env {
    /// A fresh directory `custody-cli-<name>-<pid>-<n>-<nanos>` under the temp dir.
    pub fn new(name: &str) -> Env {
        let module = softhsm_module();
        require_tool("softhsm2-util", "softhsm2");
        let dir = fresh_dir(name);
        let tokens = dir.join("tokens");
        std::fs::create_dir_all(&tokens)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", tokens.display()));
        let conf = dir.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", conf.display()));
        Env::with_conf(dir, conf, module, Backend::SoftHsm)
    }

    /// Like [`Env::new`], with one uninitialised kryoptic token instead of SoftHSM's: the
    /// module from `CUSTODY_KRYOPTIC_MODULE` (tools/kryoptic/build.sh), which every run uses.
    pub fn kryoptic(name: &str) -> Env {
        let module = super::kryoptic::module();
        require_tool("pkcs11-tool", "opensc");
        let dir = fresh_dir(name);
        std::fs::create_dir_all(&dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
        let conf = super::kryoptic::write_conf(&dir, 1);
        Env::with_conf(dir, conf, module, Backend::Kryoptic)
    }

    fn with_conf(dir: PathBuf, conf: PathBuf, module: PathBuf, backend: Backend) -> Env {
        let env = Env {
            dir,
            conf,
            module,
            backend,
            vars: Vec::new(),
        };
        env.write("password", format!("{PASSWORD}\n").as_bytes());
        env
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.join(rel)
    }

    /// `path(rel)` as a string (temp paths are UTF-8).
    pub fn p(&self, rel: &str) -> String {
        self.path(rel).to_str().expect("UTF-8 temp path").to_owned()
    }

    pub fn password_file(&self) -> String {
        self.p("password")
    }

    /// Write a file (creating parent directories) and return its path.
    pub fn write(&self, rel: &str, bytes: &[u8]) -> PathBuf {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("create parent");
        }
        std::fs::write(&p, bytes).unwrap_or_else(|e| panic!("cannot write {}: {e}", p.display()));
        p
    }

    pub fn read(&self, rel: &str) -> Vec<u8> {
        let p = self.path(rel);
        std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {}: {e}", p.display()))
    }

    /// Panics if `rel` exists (a failed run must leave no output behind).
    #[track_caller]
    pub fn assert_absent(&self, rel: &str) {
        let p = self.path(rel);
        assert!(
            p.symlink_metadata().is_err(),
            "{} exists but should not (left behind by a failed run?)",
            p.display()
        );
    }

    /// Names of the entries of directory `rel` (sorted).
    pub fn entries(&self, rel: &str) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(self.path(rel))
            .unwrap_or_else(|e| panic!("cannot list {rel}: {e}"))
            .map(|e| {
                e.expect("dir entry")
                    .file_name()
                    .to_string_lossy()
                    .into_owned()
            })
            .collect();
        v.sort();
        v
    }

    /// Panics if directory `rel` holds a temporary file (`.<name>.tmp-...`) of custody.
    #[track_caller]
    pub fn assert_no_temp_files(&self, rel: &str) {
        let temps: Vec<String> = self
            .entries(rel)
            .into_iter()
            .filter(|n| n.starts_with('.') || n.contains(".tmp"))
            .collect();
        assert!(temps.is_empty(), "temporary files left in {rel}: {temps:?}");
    }

    /// A command for the custody binary with this world's environment: module configuration,
    /// the test PIN, no password or fault injection from the caller's environment, stdin null.
    pub fn command(&self) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_custody"));
        self.prepare(&mut c);
        c
    }

    fn prepare(&self, c: &mut Command) {
        c.env(self.backend.conf_var(), &self.conf)
            .env("CUSTODY_PKCS11_MODULE", &self.module)
            .env("CUSTODY_PIN", USER_PIN)
            .env_remove("CUSTODY_PASSWORD")
            .env_remove("CUSTODY_FAULT_INJECT")
            .current_dir(&self.dir)
            .stdin(Stdio::null());
        for (k, v) in &self.vars {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
    }

    /// Run custody with `args`.
    pub fn run<I, S>(&self, args: I) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.run_env(args, &[])
    }

    /// Run custody with `args` and extra environment (`None` removes a variable).
    pub fn run_env<I, S>(&self, args: I, vars: &[(&str, Option<&str>)]) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut c = self.command();
        c.args(args);
        for (k, v) in vars {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        run_command(c)
    }

    /// Run custody in a new session (`setsid -w`): no controlling terminal, so no prompt can
    /// be answered.
    pub fn run_setsid<I, S>(&self, args: I, vars: &[(&str, Option<&str>)]) -> Out
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let setsid = require_tool("setsid", "util-linux");
        let mut c = Command::new(setsid);
        self.prepare(&mut c);
        c.arg("-w").arg(env!("CARGO_BIN_EXE_custody")).args(args);
        for (k, v) in vars {
            match v {
                Some(v) => c.env(k, v),
                None => c.env_remove(k),
            };
        }
        run_command(c)
    }

    /// Run another tool (softhsm2-util, pkcs11-tool, openssl) with this world's module
    /// configuration; panics with its output if it fails.
    pub fn tool(&self, program: &str, package: &str, args: &[&str]) -> Out {
        let mut c = Command::new(require_tool(program, package));
        c.env(self.backend.conf_var(), &self.conf)
            .current_dir(&self.dir)
            .stdin(Stdio::null())
            .args(args);
        let out = run_command(c);
        assert_eq!(out.code, 0, "`{}` failed\n{}", out.cmdline, out.dump());
        out
    }

    /// `pkcs11-tool --module <this world's module> --login --pin <user PIN> --token-label
    /// <token> <args>`, which must succeed.
    pub fn pkcs11_tool(&self, token: &str, args: &[&str]) -> Out {
        let module = self.module.to_str().expect("UTF-8").to_owned();
        let mut all = vec![
            "--module",
            &module,
            "--login",
            "--pin",
            USER_PIN,
            "--token-label",
            token,
        ];
        all.extend_from_slice(args);
        self.tool("pkcs11-tool", "opensc", &all)
    }

    /// Initialise a token labelled `label` with [`SO_PIN`] and [`USER_PIN`]; returns its serial.
    /// A kryoptic world has one token: initialise it once.
    pub fn init_token(&self, label: &str) -> String {
        if self.backend == Backend::Kryoptic {
            super::kryoptic::init_with_pkcs11_tool(self, label);
            return self.serial_of(label);
        }
        self.tool(
            "softhsm2-util",
            "softhsm2",
            &[
                "--init-token",
                "--free",
                "--label",
                label,
                "--so-pin",
                SO_PIN,
                "--pin",
                USER_PIN,
            ],
        );
        self.serial_of(label)
    }

    /// The serial of the one token labelled `label` (from `custody token list --json`).
    pub fn serial_of(&self, label: &str) -> String {
        let out = self.run(["token", "list", "--json", "--no-login"]);
        out.ok();
        let v: serde_json::Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|e| panic!("token list --json is not JSON ({e})\n{}", out.dump()));
        let matching: Vec<&serde_json::Value> = listed_tokens(&v)
            .into_iter()
            .filter(|t| t["label"] == label)
            .collect();
        assert_eq!(
            matching.len(),
            1,
            "want one token labelled {label:?}\n{}",
            out.dump()
        );
        matching[0]["serial"].as_str().expect("serial").to_owned()
    }

    /// `custody token keygen` of `kind` ("aes" or "p256"), asserting success.
    pub fn keygen(&self, token: &str, key: &str, kind: &str) -> Out {
        let out = self.run([
            "token",
            "keygen",
            "--token",
            &uri(token, key),
            "--type",
            kind,
        ]);
        out.ok();
        out
    }

    /// A new random secret of `bytes` bytes in file `rel` (via `custody generate`).
    pub fn secret(&self, rel: &str, bytes: usize) -> Vec<u8> {
        self.run([
            "generate",
            "--out",
            &self.p(rel),
            "--bytes",
            &bytes.to_string(),
        ])
        .ok();
        let s = self.read(rel);
        assert_eq!(s.len(), bytes);
        s
    }

    /// `custody backup --secret <secret> --token ... --out <out>` with the test password file,
    /// weak (fast) KDF parameters and `extra` arguments.
    pub fn backup(&self, secret: &str, tokens: &[&str], out: &str, extra: &[&str]) -> Out {
        let mut args: Vec<String> = vec!["backup".into(), "--secret".into(), self.p(secret)];
        for t in tokens {
            args.push("--token".into());
            args.push((*t).into());
        }
        args.extend([
            "--out".into(),
            self.p(out),
            "--password-file".into(),
            self.password_file(),
        ]);
        args.extend(WEAK_KDF.iter().map(|s| s.to_string()));
        args.extend(extra.iter().map(|s| s.to_string()));
        self.run(&args)
    }

    /// `custody restore <file> --out <out> --password-file <the test password>` plus `extra`.
    pub fn restore(&self, file: &str, out: &str, extra: &[&str]) -> Out {
        self.restore_env(file, out, extra, &[])
    }

    /// [`Env::restore`] with `vars` set (`Some`) or removed (`None`), as [`Env::run_env`].
    pub fn restore_env(
        &self,
        file: &str,
        out: &str,
        extra: &[&str],
        vars: &[(&str, Option<&str>)],
    ) -> Out {
        let mut args: Vec<String> = vec![
            "restore".into(),
            self.p(file),
            "--out".into(),
            if out == "-" { "-".into() } else { self.p(out) },
            "--password-file".into(),
            self.password_file(),
        ];
        args.extend(extra.iter().map(|s| s.to_string()));
        self.run_env(&args, vars)
    }

    /// Copy the token labelled `label` (its SoftHSM directory) from `other` into this world.
    /// The copy has the same serial and keys: the same token, moved to another machine.
    pub fn copy_token_from(&self, other: &Env, label: &str) {
        self.copy_token_into(other, label, &self.path("tokens"));
    }

    /// Plug in the token labelled `label` from `other` while custody runs here: copied whole
    /// beside the token directory first, then moved in with one rename, so that a look at the
    /// token directory never sees half a token.
    pub fn plug_in_token_from(&self, other: &Env, label: &str) {
        let staging = self.path("tokens.staging");
        self.copy_token_into(other, label, &staging);
        for e in std::fs::read_dir(&staging).expect("list staging") {
            let e = e.expect("entry");
            std::fs::rename(e.path(), self.path("tokens").join(e.file_name()))
                .expect("move the token in");
        }
    }

    fn copy_token_into(&self, other: &Env, label: &str, root: &Path) {
        let src_root = other.path("tokens");
        let mut found = Vec::new();
        for e in std::fs::read_dir(&src_root).expect("list tokens") {
            let e = e.expect("entry");
            let obj = e.path().join("token.object");
            if let Ok(bytes) = std::fs::read(&obj) {
                // SoftHSM stores the label padded with spaces to 32 bytes.
                let mut padded = label.as_bytes().to_vec();
                padded.resize(32, b' ');
                if bytes.windows(32).any(|w| w == padded.as_slice()) {
                    found.push(e.path());
                }
            }
        }
        assert_eq!(
            found.len(),
            1,
            "want one token directory for {label:?} in {}",
            src_root.display()
        );
        let dst = root.join(found[0].file_name().expect("name"));
        std::fs::create_dir_all(&dst).expect("mkdir");
        for e in std::fs::read_dir(&found[0]).expect("list token") {
            let e = e.expect("entry");
            std::fs::copy(e.path(), dst.join(e.file_name())).expect("copy token file");
        }
    }
}

impl Drop for Env {
    /// A passing test removes its directory; a failing one keeps it for inspection.
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(test files kept in {})", self.dir.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }
}

/// Every PKCS#11 token in a `token list --json` document, whatever its module.
pub fn listed_tokens(v: &serde_json::Value) -> Vec<&serde_json::Value> {
    v["modules"]
        .as_array()
        .expect("token list --json has modules")
        .iter()
        .flat_map(|m| m["tokens"].as_array().into_iter().flatten())
        .collect()
}

/// A fresh directory name `custody-cli-<name>-<pid>-<n>-<nanos>` under the temp dir.
fn fresh_dir(name: &str) -> PathBuf {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!(
        "custody-cli-{name}-{}-{}-{nanos}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    ))
}

/// `pkcs11:token=<token>;object=<key>`.
pub fn uri(token: &str, key: &str) -> String {
    format!("pkcs11:token={token};object={key}")
}

/// Run a prepared command with piped output and a timeout.
pub fn run_command(mut c: Command) -> Out {
    let cmdline = format!(
        "{} {}",
        c.get_program().to_string_lossy(),
        c.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    c.stdout(Stdio::piped()).stderr(Stdio::piped());
    let start = Instant::now();
    let mut child = c
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run `{cmdline}`: {e}"));
    let mut so = child.stdout.take().expect("stdout");
    let mut se = child.stderr.take().expect("stderr");
    let t1 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = so.read_to_end(&mut v);
        v
    });
    let t2 = std::thread::spawn(move || {
        let mut v = Vec::new();
        let _ = se.read_to_end(&mut v);
        v
    });
    let status: ExitStatus = loop {
        if let Some(s) = child.try_wait().expect("wait") {
            break s;
        }
        if start.elapsed() > RUN_TIMEOUT {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{cmdline}` did not finish within {RUN_TIMEOUT:?} (waiting for a terminal?)");
        }
        std::thread::sleep(Duration::from_millis(5));
    };
    let elapsed = start.elapsed();
    let stdout_bytes = t1.join().expect("stdout reader");
    let stderr_bytes = t2.join().expect("stderr reader");
    // SIGKILL is what tests/cli_crash.rs sends on purpose (`kill:STEP`): -9. Any other death
    // by a signal is a crash of custody, and fails the test at once.
    let killed = std::os::unix::process::ExitStatusExt::signal(&status) == Some(libc::SIGKILL);
    let code = status
        .code()
        .or(killed.then_some(-libc::SIGKILL))
        .unwrap_or_else(|| {
            panic!(
                "`{cmdline}` was killed by a signal ({status})\nstdout:\n{}\nstderr:\n{}",
                String::from_utf8_lossy(&stdout_bytes),
                String::from_utf8_lossy(&stderr_bytes)
            )
        });
    Out {
        code,
        stdout: String::from_utf8_lossy(&stdout_bytes).into_owned(),
        stderr: String::from_utf8_lossy(&stderr_bytes).into_owned(),
        stdout_bytes,
        stderr_bytes,
        elapsed,
        cmdline,
    }
}

// ───────────────────────────── crafting files ─────────────────────────────

/// SHA-256 hex, computed here (not by custody) so the tests do not trust the code they test.
pub fn sha256_hex(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

/// Replace the last line (`checksum: ...`) with a correct checksum of everything before it.
pub fn fix_checksum(bytes: &[u8]) -> Vec<u8> {
    assert!(bytes.ends_with(b"\n"), "file does not end with a newline");
    let body = &bytes[..bytes.len() - 1];
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    assert!(
        body[start..].starts_with(b"checksum: "),
        "last line is not a checksum line"
    );
    let mut out = bytes[..start].to_vec();
    out.extend_from_slice(format!("checksum: {}\n", sha256_hex(&bytes[..start])).as_bytes());
    out
}

/// Replace the whole line starting with `prefix` (exactly one must exist) by `new_line`, then
/// recompute the checksum.
#[track_caller]
pub fn replace_line(bytes: &[u8], prefix: &str, new_line: &str) -> Vec<u8> {
    let text = std::str::from_utf8(bytes).expect("backup files are UTF-8");
    let mut hits = 0;
    let lines: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(prefix) {
                hits += 1;
                new_line.to_owned()
            } else {
                l.to_owned()
            }
        })
        .collect();
    assert_eq!(hits, 1, "want exactly one line starting with {prefix:?}");
    fix_checksum(format!("{}\n", lines.join("\n")).as_bytes())
}

/// The value of the one line `key: value` of a backup file.
#[track_caller]
pub fn line_value(bytes: &[u8], key: &str) -> String {
    let text = std::str::from_utf8(bytes).expect("UTF-8");
    let want = format!("{key}:");
    let v: Vec<&str> = text
        .lines()
        .filter_map(|l| l.strip_prefix(want.as_str()))
        .collect();
    assert_eq!(v.len(), 1, "want one {key:?} line");
    v[0].trim().to_owned()
}

/// Whether `needle` occurs in `hay` as a byte string.
pub fn contains_bytes(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

// ───────────────────────────── checks ─────────────────────────────

/// `custody inspect --json <file>`, which must succeed, parsed.
pub fn inspect_json(env: &Env, file: &str) -> serde_json::Value {
    let out = env.run(["inspect", "--json", &env.p(file)]);
    out.ok();
    let doc: serde_json::Value = serde_json::from_str(&out.stdout)
        .unwrap_or_else(|e| panic!("inspect --json is not JSON ({e})\n{}", out.dump()));
    doc["files"][0].clone()
}

/// The restored file holds exactly `secret`, mode 0600.
#[track_caller]
pub fn assert_restored(env: &Env, out_rel: &str, secret: &[u8]) {
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(env.read(out_rel), secret, "restored secret differs");
    let mode = std::fs::metadata(env.path(out_rel))
        .unwrap()
        .permissions()
        .mode()
        & 0o777;
    assert_eq!(mode, 0o600, "restored secret has mode {mode:o}");
}

/// Neither stream holds the secret, raw, in hex or in base64.
#[track_caller]
pub fn no_secret(out: &Out, secret: &[u8]) {
    let h = hex::encode(secret);
    let b64 = base64::Engine::encode(&base64::engine::general_purpose::STANDARD, secret);
    for (name, stream) in [("stdout", &out.stdout_bytes), ("stderr", &out.stderr_bytes)] {
        assert!(
            !contains_bytes(stream, secret),
            "raw secret on {name} of `{}`\n{}",
            out.cmdline,
            out.dump()
        );
        for enc in [&h, &h.to_uppercase(), &b64] {
            assert!(
                !contains_bytes(stream, enc.as_bytes()),
                "encoded secret on {name} of `{}`\n{}",
                out.cmdline,
                out.dump()
            );
        }
    }
}

/// A failed run: exit `code`, no output file, no secret printed, no temporary file left.
#[track_caller]
pub fn failed_cleanly(env: &Env, out: &Out, code: i32, out_rel: &str, secret: &[u8]) {
    out.code(code);
    env.assert_absent(out_rel);
    env.assert_no_temp_files(".");
    no_secret(out, secret);
}
