//! The binary: turns arguments into validated requests, calls the library, prints results and
//! errors (what went wrong, then what to do), and maps them to exit codes. Each subcommand lives
//! in its own module under `cmd/`; this file keeps the dispatch, [`Failure`] and the helpers
//! several subcommands share.

mod advice;
mod args;
mod cmd;
mod exit;
mod output;
mod pin;
mod record;
mod request;
mod say;
mod secret_in;
mod secret_out;
mod shares;
mod signals;
mod term;

use std::io::{self, Write};
use std::path::PathBuf;

use clap::Parser;

use advice::Advised;
use args::{Cli, Command};
use custody::Prompter;
use custody::TokenLocator;
use custody::{KdfParams, TokenEnv};
use output::Out;
use term::TerminalPrompter;

/// A failure to report: the message, what to do, and the exit code.
struct Failure {
    msg: String,
    advice: String,
    code: i32,
}

impl Failure {
    fn new(code: i32, msg: impl Into<String>, advice: impl Into<String>) -> Self {
        Failure {
            msg: msg.into(),
            advice: advice.into(),
            code,
        }
    }
    /// A library error: its message, the CLI's advice, and the exit code of its kind.
    fn of(e: &dyn Advised) -> Self {
        Failure::new(exit::code(e.kind()), e.message(), e.advice())
    }
    fn usage(msg: impl Into<String>) -> Self {
        Failure::new(exit::USAGE, msg, "see `custody --help`")
    }
    /// The reader of standard output went away: no message, and success.
    fn reader_gone() -> Self {
        Failure::new(exit::OK, "", "")
    }
    /// After a signal (see `signals`), whatever failed failed because of it: 128 + the
    /// signal's number, as a shell reports a command a signal ended, and a message that says so.
    fn or_interrupted(self) -> Self {
        let Some(sig) = signals::caught() else {
            return self;
        };
        Failure::new(
            128 + sig,
            format!(
                "stopped by {} ({})",
                signals::name(sig),
                if self.msg.is_empty() {
                    "nothing more was done".to_owned()
                } else {
                    self.msg
                }
            ),
            "nothing was left half done; run the command again when ready",
        )
    }
}

impl From<io::Error> for Failure {
    /// The one I/O error the subcommands pass up with `?`: a failed write of a report to
    /// standard output (any other I/O error is worded where it happens). A reader that went
    /// away (`| head`, a pager quit early) wanted no more: custody ends quietly with success,
    /// as other command-line tools do. The secret itself is not written this way (see
    /// `secret_out`): its reader going away is a failure.
    fn from(e: io::Error) -> Self {
        if e.kind() == io::ErrorKind::BrokenPipe {
            Failure::reader_gone()
        } else {
            Failure::new(exit::OTHER, format!("writing to standard output: {e}"), "")
        }
    }
}

type Res = Result<(), Failure>;

pub fn main() -> i32 {
    // Before anything else, while the process has one thread: no core dump and no ptrace of
    // this process, and no secret left in its environment.
    let hardening = custody::harden_process();
    // Locked before anything is typed or read into it.
    let locked = custody::lock_secret_memory();
    term::capture_env_secrets();
    // Before anything can prompt or write: a signal then ends custody through its normal path.
    signals::install();
    for (what, why) in [
        ("core dumps could not be turned off", &hardening.core_dumps),
        (
            "the process could not be made non-dumpable (no ptrace, no core)",
            &hardening.dumpable,
        ),
    ] {
        if let Some(why) = why {
            say::warning(
                &format!("{what}: {why}"),
                "run custody on a machine where it may set its own limits (not inside a \
                 sandbox that forbids prctl or setrlimit)",
            );
        }
    }
    if let Err(not) = locked {
        say::warning(
            &format!(
                "memory cannot be locked, so the master secret, passwords, keys and Argon2id's \
                 memory can be written to swap: {not}"
            ),
            "run as root, raise the limit (`ulimit -l`), or run on a machine without swap (or \
             with encrypted swap)",
        );
    }
    // This build ignores the variable, so it would write normally where a test expects a
    // failure: refuse it, so that a test run against the wrong build fails loudly.
    #[cfg(not(feature = "fault-injection"))]
    if std::env::var_os(custody::FAULT_INJECT_ENV).is_some_and(|v| !v.is_empty()) {
        say::error(
            &format!(
                "{} is set, but this custody was built without fault injection",
                custody::FAULT_INJECT_ENV
            ),
            &format!(
                "unset {}; to test fault injection, build with `--features fault-injection` \
                 (softhsm-config/test.sh does)",
                custody::FAULT_INJECT_ENV
            ),
        );
        return exit::USAGE;
    }
    let cli = match Cli::try_parse() {
        Ok(c) => c,
        Err(e) => {
            let code = if e.use_stderr() {
                exit::USAGE
            } else {
                exit::OK
            };
            let _ = e.print();
            // Asked for JSON: the one document says so too, even when the line did not parse.
            if code == exit::USAGE && std::env::args_os().any(|a| a == "--json") {
                let f = Failure::usage(e.kind().to_string());
                let doc =
                    serde_json::json!({ "schema": "custody/usage/1", "error": error_json(&f) });
                let _ = Out::stdout().write_document(&doc);
            }
            return code;
        }
    };
    match run(cli).map_err(Failure::or_interrupted) {
        Ok(()) => exit::OK,
        Err(f) if signals::caught().is_some() => {
            // The prompt's line was left where Enter would have ended it.
            eprintln!();
            say::error(&f.msg, &f.advice);
            f.code
        }
        // Only `reader_gone` has no message: there is nothing to say.
        Err(f) if f.msg.is_empty() => f.code,
        Err(f) => {
            say::error(&f.msg, &f.advice);
            f.code
        }
    }
}

/// `CUSTODY_PKCS11_MODULE` and p11-kit's registry, read once per run; what in the registry
/// was not used is said once, as it is read.
fn token_env() -> TokenEnv {
    static ENV: std::sync::OnceLock<TokenEnv> = std::sync::OnceLock::new();
    ENV.get_or_init(|| {
        let (env, warnings) = TokenEnv::from_system();
        for w in warnings {
            say::warning(
                &format!("p11-kit configuration: {w}"),
                "correct or remove that configuration file (`p11-kit list-modules` shows what \
                 p11-kit itself loads)",
            );
        }
        env
    })
    .clone()
}

fn locators(raw: &[String]) -> Result<Vec<TokenLocator>, Failure> {
    raw.iter()
        .map(|s| {
            s.parse::<TokenLocator>()
                .map_err(|e| Failure::usage(format!("--token: {e}")))
        })
        .collect()
}

/// The `schema` of a command's `--json` document; `None` for a command that has none.
fn schema_of(c: &Command) -> Option<&'static str> {
    Some(match c {
        Command::Generate(_) => "custody/generate/1",
        Command::Backup(_) => "custody/backup/1",
        Command::Restore(_) => "custody/restore/1",
        Command::Verify(_) => "custody/verify/1",
        Command::Inspect(_) => "custody/inspect/1",
        Command::Rewrap(_) => "custody/rewrap/1",
        Command::Reshare(_) => "custody/reshare/1",
        Command::Token(args::TokenCommand::List { .. }) => "custody/token-list/1",
        Command::Token(args::TokenCommand::Keygen { .. }) => "custody/token-keygen/1",
        Command::Token(args::TokenCommand::Pubkey { .. }) => "custody/token-pubkey/1",
        Command::Record(args::RecordCommand::Show { .. }) => "custody/record-show/1",
        Command::Record(args::RecordCommand::Verify { .. }) => "custody/record-verify/1",
        Command::Completions(_) | Command::Man(_) => return None,
    })
}

/// A failure as the `error` member of a `--json` document.
fn error_json(f: &Failure) -> serde_json::Value {
    serde_json::json!({
        "kind": exit::kind_name(f.code),
        "message": f.msg,
        "advice": f.advice,
        "exit": f.code,
    })
}

fn run(cli: Cli) -> Res {
    say::set_quiet(cli.quiet);
    let mut stdout = Out::stdout();
    let schema = if cli.json {
        let Some(schema) = schema_of(&cli.command) else {
            let f = Failure::usage("--json: this command writes a script or pages, not a report");
            let doc = serde_json::json!({ "schema": "custody/usage/1", "error": error_json(&f) });
            stdout.write_document(&doc)?;
            return Err(f);
        };
        output::set_json(true);
        Some(schema)
    } else {
        None
    };
    let done = run_command(cli, &mut stdout);
    let Some(schema) = schema else {
        return done;
    };
    // Exactly one document: what the command set, or its failure (exit code unchanged).
    let doc = match &done {
        Ok(()) => output::take_document(schema, None),
        Err(f) if f.code == exit::OK => output::take_document(schema, None),
        Err(f) => output::take_document(schema, Some(("error", error_json(f)))),
    };
    match stdout.write_document(&doc) {
        Ok(()) => done,
        Err(e) => done.and(Err(e.into())),
    }
}

fn run_command(cli: Cli, stdout: &mut Out) -> Res {
    let stdout = &mut *stdout;
    let done = match cli.command {
        Command::Generate(a) => cmd::generate::run(a, stdout),
        Command::Backup(a) => cmd::backup::run(a, stdout),
        Command::Restore(a) => cmd::restore::run(a, stdout),
        Command::Verify(a) => cmd::verify::run(a, stdout),
        Command::Inspect(a) => cmd::inspect::run(a, stdout),
        Command::Rewrap(a) => cmd::rewrap::run(a, stdout),
        Command::Reshare(a) => cmd::reshare::run(a, stdout),
        Command::Token(t) => cmd::token::run(t, stdout),
        Command::Record(r) => cmd::record::run(r, stdout),
        Command::Completions(a) => cmd::completions::run(a, stdout),
        Command::Man(a) => cmd::man::run(a, stdout),
    };
    // Also after a failure, so that what was printed comes before the error; a write error
    // then counts only if the subcommand succeeded.
    let flushed = stdout.flush();
    done?;
    Ok(flushed?)
}

fn kdf_from(memory_mib: u32, iterations: u32, parallelism: u32) -> Result<KdfParams, Failure> {
    Ok(KdfParams {
        memory_kib: memory_mib
            .checked_mul(1024)
            .ok_or_else(|| Failure::usage("--kdf-memory is too large"))?,
        iterations,
        parallelism,
    })
}

/// The Argon2id cost files may ask for without a confirmation, from `--max-kdf-*`.
fn kdf_limits(a: args::KdfLimitArgs) -> Result<custody::KdfLimits, Failure> {
    Ok(custody::KdfLimits {
        max_memory_kib: a
            .max_kdf_memory
            .map(|m| {
                m.checked_mul(1024)
                    .ok_or_else(|| Failure::usage("--max-kdf-memory is too large"))
            })
            .transpose()?,
        max_iterations: a.max_kdf_iterations,
        ..custody::KdfLimits::default()
    })
}

/// Outputs are never replaced without --force.
fn refuse_existing(outs: &[PathBuf], force: bool) -> Res {
    for out in outs {
        if out.symlink_metadata().is_ok() && !force {
            return Err(Failure::new(
                exit::OUTPUT_EXISTS,
                format!("{} already exists", custody::display_path(out)),
                "choose another --out, or add --force to replace it",
            ));
        }
    }
    Ok(())
}

#[allow(dead_code)]
fn _assert_prompter(p: &mut TerminalPrompter) -> &mut dyn Prompter {
    p
}
