//! The binary: turns arguments into validated requests, calls the library, prints results and
//! errors (what went wrong, then what to do), and maps them to exit codes.

mod args;
mod term;

use std::io::{IsTerminal, Read, Write};
use std::path::{Path, PathBuf};

use clap::Parser;
use secrecy::{ExposeSecret, SecretBox};
use zeroize::Zeroizing;

use args::{Cli, Command, KeyType, OutFormat, TokenCommand};
use custody::ceremony::{self, exit};
use custody::crypto;
use custody::format::{self, KdfParams, PubkeyFile, display_escaped};
use custody::media;
use custody::prompt::Prompter;
use custody::token::KeyOps;
use custody::token::locate::{SOFTHSM_DEFAULT_MODULE, TokenEnv, Tokens};
use custody::token::uri::TokenLocator;
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
    fn usage(msg: impl Into<String>) -> Self {
        Failure::new(exit::USAGE, msg, "see `custody --help`")
    }
}

type Res = Result<(), Failure>;

pub fn main() -> i32 {
    // This build ignores the variable, so it would write normally where a test expects a
    // failure: refuse it, so that a test run against the wrong build fails loudly.
    #[cfg(not(feature = "fault-injection"))]
    if std::env::var_os(media::FAULT_INJECT_ENV).is_some_and(|v| !v.is_empty()) {
        eprintln!(
            "error: {} is set, but this custody was built without fault injection",
            media::FAULT_INJECT_ENV
        );
        eprintln!(
            "  what to do: unset {}; to test fault injection, build with `--features fault-injection` (softhsm-config/test.sh does)",
            media::FAULT_INJECT_ENV
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
            return code;
        }
    };
    match run(cli) {
        Ok(()) => exit::OK,
        Err(f) => {
            eprintln!("error: {}", f.msg);
            if !f.advice.is_empty() {
                eprintln!("  what to do: {}", f.advice);
            }
            f.code
        }
    }
}

fn token_env() -> TokenEnv {
    TokenEnv {
        default_module: std::env::var_os("CUSTODY_PKCS11_MODULE")
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(SOFTHSM_DEFAULT_MODULE)),
    }
}

fn locators(raw: &[String]) -> Result<Vec<TokenLocator>, Failure> {
    raw.iter()
        .map(|s| {
            s.parse::<TokenLocator>()
                .map_err(|e| Failure::usage(format!("--token: {e}")))
        })
        .collect()
}

fn run(cli: Cli) -> Res {
    match cli.command {
        Command::Generate(a) => generate(a),
        Command::Backup(a) => backup(a),
        Command::Restore(a) => restore(a),
        Command::Verify(a) => verify(a),
        Command::Inspect(a) => inspect(a),
        Command::Rewrap(a) => rewrap(a),
        Command::Reshare(a) => reshare(a),
        Command::Token(t) => token(t),
    }
}

/// Write secret bytes to a new file (0600) or standard output in the chosen encoding.
fn emit_secret(out: &Path, fmt: Option<OutFormat>, bytes: &[u8]) -> Res {
    if out == Path::new("-") {
        let fmt = fmt.unwrap_or(OutFormat::Raw);
        let mut stdout = std::io::stdout();
        if fmt == OutFormat::Raw && stdout.is_terminal() {
            return Err(Failure::usage(
                "raw secret bytes are not written to a terminal; add --format hex or --format base64, or redirect standard output",
            ));
        }
        let text: Zeroizing<Vec<u8>> = Zeroizing::new(match fmt {
            OutFormat::Raw => bytes.to_vec(),
            OutFormat::Hex => format!("{}\n", hex::encode(bytes)).into_bytes(),
            OutFormat::Base64 => format!(
                "{}\n",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
            )
            .into_bytes(),
        });
        return match stdout.write_all(&text).and_then(|_| stdout.flush()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(Failure::new(
                exit::OTHER,
                format!("writing to standard output: {e}"),
                "",
            )),
        };
    }
    if fmt.is_some_and(|f| f != OutFormat::Raw) {
        return Err(Failure::usage(
            "--format applies to standard output only (--out -); files get raw bytes",
        ));
    }
    media::write_secret_new(out, bytes).map_err(|e| {
        let code = if matches!(e, media::MediaError::Exists { .. }) {
            exit::OUTPUT_EXISTS
        } else {
            exit::OTHER
        };
        Failure::new(
            code,
            e.to_string(),
            "choose a new output file; custody never overwrites a secret",
        )
    })?;
    Ok(())
}

fn generate(a: args::GenerateArgs) -> Res {
    let mut buf = Zeroizing::new(vec![0u8; a.bytes as usize]);
    crypto::fill_random(&mut buf);
    emit_secret(&a.out, a.format, &buf)?;
    if a.out != Path::new("-") {
        eprintln!(
            "Wrote {} random bytes to {} (mode 0600). Fingerprint: {}",
            a.bytes,
            a.out.display(),
            crypto::fingerprint_display(&crypto::fingerprint(&buf))
        );
    }
    Ok(())
}

fn read_secret(path: &Path) -> Result<ceremony::Secret, Failure> {
    let max = format::MAX_SECRET_BYTES as u64 + 1;
    let bytes = if path == Path::new("-") {
        let mut v = Zeroizing::new(Vec::new());
        std::io::stdin()
            .take(max)
            .read_to_end(&mut v)
            .map_err(|e| {
                Failure::new(
                    exit::OTHER,
                    format!("reading the secret from standard input: {e}"),
                    "",
                )
            })?;
        v
    } else {
        Zeroizing::new(media::read_bounded(path, max).map_err(|e| {
            Failure::new(
                exit::OTHER,
                format!("reading the secret: {e}"),
                "check the --secret path",
            )
        })?)
    };
    ceremony::check_secret_len(bytes.len()).map_err(Failure::usage)?;
    Ok(SecretBox::new(Box::new(bytes.to_vec())))
}

/// Values given once apply to every share; given N times, one each in order.
fn per_share<T: Clone>(v: &[T], n: usize, flag: &str) -> Result<Vec<Option<T>>, Failure> {
    match v.len() {
        0 => Ok(vec![None; n]),
        1 => Ok(vec![Some(v[0].clone()); n]),
        k if k == n => Ok(v.iter().cloned().map(Some).collect()),
        k => Err(Failure::usage(format!(
            "{k} {flag} for {n} --out: give one per share, in --out order, or a single one for all"
        ))),
    }
}

fn backup(a: args::BackupArgs) -> Res {
    let n = a.out.len();
    let threshold = match (a.threshold, n) {
        (None, 1) => 1,
        (None, _) => {
            return Err(Failure::usage(format!(
                "{n} --out given: a split backup needs --threshold K (2 ≤ K ≤ {n})"
            )));
        }
        (Some(k), 1) => {
            return Err(Failure::usage(format!(
                "--threshold {k} needs one --out per share (at least two)"
            )));
        }
        (Some(k), n) if k < 2 || k as usize > n || n > 255 => {
            return Err(Failure::usage(format!(
                "--threshold {k} with {n} --out: a split needs 2 ≤ K ≤ N ≤ 255"
            )));
        }
        (Some(k), _) => k,
    };
    let (tokens, share_tokens) = tokens_for_shares(&a.tokens, &a.share_token, n)?;
    let kdf = kdf_from(a.kdf_memory, a.kdf_iterations, a.kdf_parallelism)?;
    ceremony::check_kdf_request(&kdf, a.allow_weak_kdf).map_err(Failure::usage)?;
    let hints = per_share(&a.hint, n, "--hint")?;
    let officers = per_share(&a.officer, n, "--officer")?;
    per_share(&a.password_file, n, "--password-file")?;
    refuse_existing(&a.out, a.force)?;
    let secret = read_secret(&a.secret)?;
    let shares = share_specs(&a.out, &officers, &hints, &tokens, &share_tokens);
    let req = ceremony::SetRequest {
        secret,
        threshold,
        shares,
        label: a.label,
        kdf,
        allow_weak_kdf: a.allow_weak_kdf,
        single_token: a.single_token,
        force: a.force,
        allow_same_device: a.allow_same_device,
    };
    let mut p = TerminalPrompter {
        password_files: a.password_file,
        new_password_files: None,
        quiet: false,
    };
    let r = ceremony::backup_set(req, token_env(), &mut p)
        .map_err(|e| Failure::new(e.exit_code(), e.to_string(), e.advice()))?;
    print_set_report(&r);
    Ok(())
}

fn print_set_report(r: &ceremony::BackupReport) {
    let split = r.files.len() > 1;
    if split {
        println!(
            "Split backup: {} shares written and read back, any {} of them restore the secret.",
            r.files.len(),
            r.threshold
        );
    }
    for f in &r.files {
        if split {
            println!(
                "Share {} of {}{} written to {} and read back: it opens.",
                f.index,
                r.files.len(),
                if f.officer.is_empty() {
                    String::new()
                } else {
                    format!(" (officer {})", display_escaped(&f.officer))
                },
                f.path.display()
            );
        } else {
            println!(
                "Backup written to {} and read back: it opens.",
                f.path.display()
            );
        }
        for (name, checked) in &f.slots {
            println!(
                "  token:       {name}{}",
                if *checked {
                    " (opened)"
                } else {
                    " (UNVERIFIED: public key only)"
                }
            );
        }
    }
    println!("  set id:      {}", hex::encode(r.set_id));
    println!(
        "  fingerprint: {}",
        crypto::fingerprint_display(&r.fingerprint)
    );
    if r.weak_kdf {
        println!("  WEAK password key derivation (--allow-weak-kdf): for tests only.");
    }
    println!("Record the set id and fingerprint in the ceremony record.");
}

/// What opening the FILE arguments gave.
enum Opened {
    Whole(ceremony::OpenedBackup),
    /// Shares checked alone (verify with fewer than K).
    Shares(ceremony::SetCheck),
}

/// A single backup goes through the single-file path (its exit codes are the file's); share
/// files, or several files, through the set path.
fn kdf_from(memory_mib: u32, iterations: u32, parallelism: u32) -> Result<KdfParams, Failure> {
    Ok(KdfParams {
        memory_kib: memory_mib
            .checked_mul(1024)
            .ok_or_else(|| Failure::usage("--kdf-memory is too large"))?,
        iterations,
        parallelism,
    })
}

fn rewrap(a: args::RewrapArgs) -> Res {
    let kdf = ceremony::KdfChange {
        memory_kib: a
            .kdf_memory
            .map(|m| {
                m.checked_mul(1024)
                    .ok_or_else(|| Failure::usage("--kdf-memory is too large"))
            })
            .transpose()?,
        iterations: a.kdf_iterations,
        parallelism: a.kdf_parallelism,
    };
    if a.new_token.is_empty()
        && a.drop_token.is_empty()
        && !a.new_password
        && a.new_password_file.is_none()
        && kdf.is_empty()
        && a.hint.is_none()
    {
        return Err(Failure::usage(
            "nothing to change: give --new-password[-file], --new-token, --drop-token, --hint or --kdf-*",
        ));
    }
    refuse_existing(std::slice::from_ref(&a.out), a.force)?;
    let req = ceremony::RewrapRequest {
        file: a.file.clone(),
        out: a.out,
        open_with: locators(&a.tokens)?,
        new_password: a.new_password || a.new_password_file.is_some(),
        hint: a.hint,
        kdf,
        allow_weak_kdf: a.allow_weak_kdf,
        add: locators(&a.new_token)?,
        drop: locators(&a.drop_token)?,
        force: a.force,
    };
    let mut p = TerminalPrompter {
        password_files: a.password_file.into_iter().collect(),
        new_password_files: Some(a.new_password_file.into_iter().collect()),
        quiet: false,
    };
    let r = ceremony::rewrap(req, token_env(), &mut p)
        .map_err(|e| Failure::new(e.exit_code(), e.to_string(), e.advice()))?;
    println!(
        "Rewrapped {} into {}{}: same {}, written and read back.",
        a.file.display(),
        r.out.display(),
        if r.password_changed {
            " with a new password"
        } else {
            ""
        },
        if r.count == 1 {
            "secret".to_string()
        } else {
            format!("share ({} of {})", r.index, r.count)
        }
    );
    for d in &r.dropped {
        println!("  dropped:     {d}");
    }
    for (name, checked) in &r.slots {
        println!(
            "  token:       {name}{}",
            if *checked {
                ""
            } else {
                " (UNVERIFIED: public key only)"
            }
        );
    }
    println!("  set id:      {}", hex::encode(r.set_id));
    println!(
        "  fingerprint: {}",
        crypto::fingerprint_display(&r.fingerprint)
    );
    println!(
        "The old file {} still opens with its old password and tokens until it is destroyed.",
        a.file.display()
    );
    Ok(())
}

fn reshare(a: args::ReshareArgs) -> Res {
    let n = a.out.len();
    let k = a.threshold;
    if n == 1 && k != 1 || n > 1 && (k < 2 || k as usize > n) || n > 255 {
        return Err(Failure::usage(format!(
            "--threshold {k} with {n} --out: a split needs 2 ≤ K ≤ N ≤ 255 (or 1 with one --out)"
        )));
    }
    let (tokens, share_tokens) = tokens_for_shares(&a.tokens, &a.share_token, n)?;
    let kdf = kdf_from(a.kdf_memory, a.kdf_iterations, a.kdf_parallelism)?;
    ceremony::check_kdf_request(&kdf, a.allow_weak_kdf).map_err(Failure::usage)?;
    let hints = per_share(&a.hint, n, "--hint")?;
    let officers = per_share(&a.officer, n, "--officer")?;
    per_share(&a.new_password_file, n, "--new-password-file")?;
    if a.password_file.len() > 1 && a.password_file.len() != a.files.len() {
        return Err(Failure::usage(
            "give one --password-file per old FILE, or a single one",
        ));
    }
    refuse_existing(&a.out, a.force)?;
    let open_with = locators(&a.open_tokens)?;
    let mut p = TerminalPrompter {
        password_files: a.password_file,
        new_password_files: Some(a.new_password_file),
        quiet: false,
    };
    let outs = a.out.clone();
    let r = ceremony::reshare(
        &a.files,
        &open_with,
        |secret, old_label| ceremony::SetRequest {
            secret,
            threshold: k,
            shares: share_specs(&outs, &officers, &hints, &tokens, &share_tokens),
            label: a.label.unwrap_or(old_label),
            kdf,
            allow_weak_kdf: a.allow_weak_kdf,
            single_token: a.single_token,
            force: a.force,
            allow_same_device: a.allow_same_device,
        },
        token_env(),
        &mut p,
    )
    .map_err(|e| Failure::new(e.exit_code(), e.to_string(), e.advice()))?;
    print_set_report(&r);
    println!(
        "The OLD files ({}) stay valid until they are destroyed: destroy every old share now.",
        a.files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    );
    Ok(())
}

/// One share per --out, with its officer, hint and tokens.
fn share_specs(
    outs: &[PathBuf],
    officers: &[Option<String>],
    hints: &[Option<String>],
    tokens: &[TokenLocator],
    share_tokens: &[Option<Vec<TokenLocator>>],
) -> Vec<ceremony::ShareSpec> {
    outs.iter()
        .enumerate()
        .map(|(i, out)| ceremony::ShareSpec {
            out: out.clone(),
            officer: officers[i].clone().unwrap_or_default(),
            hint: hints[i].clone(),
            tokens: share_tokens[i].clone().unwrap_or_else(|| tokens.to_vec()),
        })
        .collect()
}

/// Outputs are never replaced without --force.
fn refuse_existing(outs: &[PathBuf], force: bool) -> Res {
    for out in outs {
        if out.symlink_metadata().is_ok() && !force {
            return Err(Failure::new(
                exit::OUTPUT_EXISTS,
                format!("{} already exists", out.display()),
                "choose another --out, or add --force to replace it",
            ));
        }
    }
    Ok(())
}

/// The tokens of every share: `--token` for all, `--share-token I=URI` instead for share I.
type ShareTokens = (Vec<TokenLocator>, Vec<Option<Vec<TokenLocator>>>);

fn tokens_for_shares(
    tokens: &[String],
    share: &[String],
    n: usize,
) -> Result<ShareTokens, Failure> {
    let tokens = locators(tokens)?;
    let share_tokens = share_tokens(share, n)?;
    if tokens.is_empty() && share_tokens.iter().any(Option::is_none) {
        return Err(Failure::usage(
            "give --token (for every share), or --share-token I=URI for every share",
        ));
    }
    Ok((tokens, share_tokens))
}

fn share_tokens(raw: &[String], n: usize) -> Result<Vec<Option<Vec<TokenLocator>>>, Failure> {
    let mut out: Vec<Option<Vec<TokenLocator>>> = vec![None; n];
    for st in raw {
        let (i, uri) = st
            .split_once('=')
            .ok_or_else(|| Failure::usage(format!("--share-token {st}: expected I=URI")))?;
        let i: usize = i
            .parse()
            .ok()
            .filter(|i| (1..=n).contains(i))
            .ok_or_else(|| Failure::usage(format!("--share-token {st}: I must be 1..={n}")))?;
        let loc = uri
            .parse::<TokenLocator>()
            .map_err(|e| Failure::usage(format!("--share-token {i}: {e}")))?;
        out[i - 1].get_or_insert_with(Vec::new).push(loc);
    }
    Ok(out)
}

fn open_files(
    files: &[PathBuf],
    tokens: &[String],
    password_files: Vec<PathBuf>,
    partial_ok: bool,
) -> Result<Opened, Failure> {
    let overrides = locators(tokens)?;
    if password_files.len() > 1 && password_files.len() != files.len() {
        return Err(Failure::usage(format!(
            "{} --password-file for {} files: give one per file, in order, or a single one for all",
            password_files.len(),
            files.len()
        )));
    }
    let mut p = TerminalPrompter {
        password_files,
        new_password_files: None,
        quiet: false,
    };
    // One file that is not a share (or not readable: that path says why) opens alone.
    if files.len() == 1 {
        let opened = match ceremony::load(&files[0]) {
            Ok(lf) if lf.file.common.count == 1 => Some(ceremony::open_loaded_backup(
                lf,
                &overrides,
                token_env(),
                &mut p,
            )),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        };
        if let Some(r) = opened {
            return r
                .map(Opened::Whole)
                .map_err(|e| Failure::new(e.exit_code(), e.to_string(), e.advice()));
        }
    }
    match ceremony::open_set(files, &overrides, token_env(), &mut p, partial_ok) {
        Ok(ceremony::SetCheck::Whole(o)) => Ok(Opened::Whole(o)),
        Ok(c) => Ok(Opened::Shares(c)),
        Err(e) => Err(Failure::new(e.exit_code(), e.to_string(), e.advice())),
    }
}

fn restore(a: args::RestoreArgs) -> Res {
    if a.out != Path::new("-") && a.out.symlink_metadata().is_ok() {
        return Err(Failure::new(
            exit::OUTPUT_EXISTS,
            format!("{} already exists", a.out.display()),
            "choose a new output file; custody never overwrites a secret",
        ));
    }
    if a.out != Path::new("-") && a.format.is_some_and(|f| f != OutFormat::Raw) {
        return Err(Failure::usage(
            "--format applies to standard output only (--out -)",
        ));
    }
    let Opened::Whole(o) = open_files(&a.files, &a.tokens, a.password_file, false)? else {
        unreachable!("restore never accepts a partial set")
    };
    emit_secret(&a.out, a.format, o.secret.expose_secret())?;
    eprintln!(
        "Restored {} bytes (fingerprint {} matches; set id {}), opened with {}.",
        o.secret.expose_secret().len(),
        crypto::fingerprint_display(&o.fingerprint),
        hex::encode(o.set_id),
        o.opened_with
    );
    if o.weak_kdf {
        eprintln!("warning: this backup uses weak password key derivation.");
    }
    Ok(())
}

fn verify(a: args::VerifyArgs) -> Res {
    let expected = a.secret.as_deref().map(read_secret).transpose()?;
    let o = match open_files(&a.files, &a.tokens, a.password_file, true)? {
        Opened::Whole(o) => o,
        Opened::Shares(ceremony::SetCheck::Shares {
            set_id,
            fingerprint,
            threshold,
            count,
            opened,
        }) => {
            for (file, who) in &opened {
                println!(
                    "{}: OK, the share of {who} opens and matches its commitment",
                    file.display()
                );
            }
            println!("  set id:      {}", hex::encode(set_id));
            println!(
                "  fingerprint: {}",
                crypto::fingerprint_display(&fingerprint)
            );
            println!(
                "  {} of the {threshold} shares needed (of {count}) checked: the whole set is \
                 checked only with {threshold} shares together.",
                opened.len()
            );
            if expected.is_some() {
                return Err(Failure::usage(format!(
                    "--secret needs the whole set: give {threshold} share files"
                )));
            }
            return Ok(());
        }
        Opened::Shares(_) => unreachable!("a whole set is returned as Whole"),
    };
    println!(
        "{}: OK, it opens with {}",
        a.files
            .iter()
            .map(|f| f.display().to_string())
            .collect::<Vec<_>>()
            .join(", "),
        o.opened_with
    );
    println!("  set id:      {}", hex::encode(o.set_id));
    println!(
        "  fingerprint: {}",
        crypto::fingerprint_display(&o.fingerprint)
    );
    if o.weak_kdf {
        println!("  WEAK password key derivation");
    }
    if let Some(e) = expected {
        if crypto::ct_eq(e.expose_secret(), o.secret.expose_secret()) {
            println!(
                "  it holds exactly the secret in {}",
                a.secret.unwrap_or_default().display()
            );
        } else {
            return Err(Failure::new(
                exit::OTHER,
                format!(
                    "{} opens, but holds another secret than {}",
                    a.files[0].display(),
                    a.secret.unwrap_or_default().display()
                ),
                "check that you compared the right secret file with the right backup",
            ));
        }
    }
    Ok(())
}

fn inspect(a: args::InspectArgs) -> Res {
    let mut all = Vec::new();
    let mut first_err = None;
    for f in &a.files {
        match ceremony::load(f) {
            Ok(lf) => {
                if a.json {
                    all.push(ceremony::inspect_json(&lf));
                } else {
                    print!("{}", ceremony::inspect_text(&lf));
                    if a.files.len() > 1 {
                        println!();
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e}\n  what to do: {}", e.advice());
                first_err.get_or_insert(e.exit_code());
            }
        }
    }
    if a.json {
        let v = if a.files.len() == 1 && all.len() == 1 {
            all.pop().expect("one")
        } else {
            serde_json::Value::Array(all)
        };
        println!("{}", serde_json::to_string_pretty(&v).expect("json"));
    }
    match first_err {
        Some(code) => Err(Failure::new(
            code,
            "some files could not be read (see above)",
            "",
        )),
        None => Ok(()),
    }
}

fn token(t: TokenCommand) -> Res {
    let mut p = TerminalPrompter {
        password_files: Vec::new(),
        new_password_files: None,
        quiet: false,
    };
    let tf = |e: custody::token::TokenError| {
        Failure::new(
            ceremony::token_exit(&e),
            e.to_string(),
            ceremony::token_advice(&e),
        )
    };
    match t {
        TokenCommand::Keygen {
            token,
            key_type,
            pin_policy,
            touch_policy,
            mgm_key_file,
            mgm_key_protected,
            force,
        } => {
            let loc = token
                .parse::<TokenLocator>()
                .map_err(|e| Failure::usage(format!("--token: {e}")))?;
            let uri = match loc {
                TokenLocator::Pkcs11(uri) => {
                    if pin_policy.is_some()
                        || touch_policy.is_some()
                        || mgm_key_file.is_some()
                        || mgm_key_protected
                        || force
                    {
                        return Err(Failure::usage(
                            "--pin-policy, --touch-policy, --mgm-key-* and --force are for YubiKeys",
                        ));
                    }
                    uri
                }
                TokenLocator::Yubikey(y) => {
                    if key_type != KeyType::P256 {
                        return Err(Failure::usage(
                            "a YubiKey holds P-256 keys: use --type p256",
                        ));
                    }
                    return yubikey_keygen(
                        &y,
                        pin_policy,
                        touch_policy,
                        mgm_key_file,
                        mgm_key_protected,
                        force,
                        &mut p,
                    );
                }
                TokenLocator::Pubkey(_) => {
                    return Err(Failure::usage(
                        "keys are generated on a token, not a pubkey: file",
                    ));
                }
            };
            let Some(label) = uri.object_label.clone() else {
                return Err(Failure::usage(
                    "the token URI must name the new key with object=<label>",
                ));
            };
            let mut tokens = Tokens::new(token_env(), &mut p);
            let (session, info) = tokens.open_uri(&uri).map_err(tf)?;
            let id = uri
                .object_id
                .clone()
                .unwrap_or_else(|| crypto::random_array::<8>().to_vec());
            for kind in [
                custody::token::pkcs11::KeyKind::Aes,
                custody::token::pkcs11::KeyKind::P256,
            ] {
                let existing = session
                    .find_keys(Some(&label), None, kind)
                    .map_err(|e| Failure::new(exit::OTHER, e.to_string(), ""))?;
                if !existing.is_empty() {
                    return Err(Failure::new(
                        exit::OUTPUT_EXISTS,
                        format!(
                            "token \"{}\" already has a key labelled \"{}\"",
                            display_escaped(&info.label),
                            display_escaped(&label)
                        ),
                        "choose another object= label; custody never replaces a key",
                    ));
                }
            }
            let key = match key_type {
                KeyType::Aes => session.generate_aes256(&label, &id),
                KeyType::P256 => session.generate_p256(&label, &id),
            }
            .map_err(|e| {
                Failure::new(
                    exit::OTHER,
                    e.to_string(),
                    "check that the token supports the key type",
                )
            })?;
            println!(
                "Generated {} key \"{}\" (id {}) on token \"{}\" (serial {}): sensitive, not extractable, made on the token.",
                if key_type == KeyType::Aes {
                    "AES-256"
                } else {
                    "P-256"
                },
                display_escaped(&key.label),
                hex::encode(&key.id),
                display_escaped(&info.label),
                display_escaped(&info.serial)
            );
            if let Some(pt) = key.public_point {
                println!("  key hash: {}", hex::encode(crypto::p256_key_hash(&pt)));
                println!("  Record the key hash: backups made from its public key show it.");
            }
            println!(
                "  Use it with: --token 'pkcs11:token={};object={}'",
                custody::token::uri::percent_encode(info.label.as_bytes()),
                custody::token::uri::percent_encode(label.as_bytes())
            );
            Ok(())
        }
        TokenCommand::List { module, json } => {
            let tokens = Tokens::new(token_env(), &mut p);
            // Without --module, a machine with only YubiKeys lists them even when no PKCS#11
            // module is installed; a module asked for by name must load.
            let (module_path, list, p11_error) = match tokens.list(module.as_deref()) {
                Ok((m, list)) => (m.path().display().to_string(), list, None),
                Err(e) if module.is_none() => (
                    token_env().default_module.display().to_string(),
                    Vec::new(),
                    Some(e.to_string()),
                ),
                Err(e) => return Err(tf(e)),
            };
            // YubiKeys beside the PKCS#11 tokens; no smart-card service is not an error here.
            let (cards, card_error) = match custody::token::piv::list_cards() {
                Ok(c) => (c, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
            if json {
                let v: Vec<_> = list
                    .iter()
                    .map(|t| {
                        serde_json::json!({
                            "kind": "pkcs11",
                            "module": module_path,
                            "slot_id": t.slot.id(),
                            "label": t.label,
                            "serial": t.serial,
                            "manufacturer": t.manufacturer,
                            "model": t.model,
                            "login_required": t.login_required,
                            "pin_count_low": t.pin_count_low,
                            "pin_final_try": t.pin_final_try,
                            "pin_locked": t.pin_locked,
                            "uri": format!("pkcs11:token={};serial={}", custody::token::uri::percent_encode(t.label.as_bytes()), custody::token::uri::percent_encode(t.serial.as_bytes())),
                        })
                    })
                    .collect();
                let mut v = v;
                for c in &cards {
                    v.push(serde_json::json!({
                        "kind": "yubikey",
                        "serial": c.serial,
                        "firmware": c.version,
                        "reader": c.reader,
                        "pin_tries_left": c.pin_tries,
                        "custody_slots": c.custody_slots.iter().map(|(s, p)| serde_json::json!({
                            "slot": format!("{s:02x}"),
                            "key_hash": hex::encode(crypto::p256_key_hash(p)),
                            "uri": format!("yubikey:serial={};slot={s:02x}", c.serial),
                        })).collect::<Vec<_>>(),
                    }));
                }
                println!("{}", serde_json::to_string_pretty(&v).expect("json"));
            } else {
                println!("PKCS#11 module {module_path}");
                if let Some(e) = &p11_error {
                    println!("  not usable: {e}");
                }
                if list.is_empty() && p11_error.is_none() {
                    println!("  no token present");
                }
                for t in &list {
                    println!(
                        "  token \"{}\" serial {} ({} {}){}",
                        display_escaped(&t.label),
                        display_escaped(&t.serial),
                        display_escaped(&t.manufacturer),
                        display_escaped(&t.model),
                        if t.pin_locked {
                            " PIN LOCKED"
                        } else if t.pin_final_try {
                            " PIN: final try"
                        } else {
                            ""
                        }
                    );
                    println!(
                        "    --token 'pkcs11:token={};serial={};object=<key label>'",
                        custody::token::uri::percent_encode(t.label.as_bytes()),
                        custody::token::uri::percent_encode(t.serial.as_bytes())
                    );
                }
                match &card_error {
                    Some(e) => println!("YubiKeys: none found ({e})"),
                    None if cards.is_empty() => println!("YubiKeys: none present"),
                    None => {}
                }
                for c in &cards {
                    println!(
                        "YubiKey {} (firmware {}, reader \"{}\"){}",
                        c.serial,
                        c.version,
                        display_escaped(&c.reader),
                        match c.pin_tries {
                            Some(0) => " PIN BLOCKED (unblock it with the PUK)".to_string(),
                            Some(t) =>
                                format!(", {t} PIN tr{} left", if t == 1 { "y" } else { "ies" }),
                            None => String::new(),
                        }
                    );
                    if c.custody_slots.is_empty() {
                        println!(
                            "  no custody key: make one with --token 'yubikey:serial={}' --type p256",
                            c.serial
                        );
                    }
                    for (slot, point) in &c.custody_slots {
                        println!(
                            "  slot {slot:02x}: custody P-256 key, key hash {}",
                            hex::encode(crypto::p256_key_hash(point))
                        );
                        println!("    --token 'yubikey:serial={};slot={slot:02x}'", c.serial);
                    }
                }
            }
            Ok(())
        }
        TokenCommand::Pubkey { token, out } => {
            let loc = token
                .parse::<TokenLocator>()
                .map_err(|e| Failure::usage(format!("--token: {e}")))?;
            let mut tokens = Tokens::new(token_env(), &mut p);
            let key = tokens.resolve(&loc).map_err(tf)?;
            let point = match &key.ops {
                KeyOps::Ecdh(k) => k.public_point(),
                KeyOps::PublicOnly(p) => *p,
                KeyOps::Aes(_) => {
                    return Err(Failure::usage(format!(
                        "{} is an AES key: it has no public key; a backup under it needs the token present",
                        key.name
                    )));
                }
            };
            let f = PubkeyFile {
                descriptor: key.descriptor.clone(),
                public_key: point,
            };
            let bytes = f
                .encode()
                .map_err(|e| Failure::new(exit::OTHER, e.to_string(), ""))?;
            media::write_new(&out, &bytes, false, &mut |b| {
                PubkeyFile::parse(b).map(|_| ()).map_err(|e| e.to_string())
            })
            .map_err(|e| {
                let code = if matches!(e, media::MediaError::Exists { .. }) {
                    exit::OUTPUT_EXISTS
                } else {
                    exit::OTHER
                };
                Failure::new(code, e.to_string(), "choose another --out")
            })?;
            println!("Wrote the public key of {} to {}", key.name, out.display());
            println!("  key hash: {}", hex::encode(crypto::p256_key_hash(&point)));
            Ok(())
        }
    }
}

fn yubikey_keygen(
    y: &custody::token::uri::YubikeyLocator,
    pin_policy: Option<args::PinPolicyArg>,
    touch_policy: Option<args::TouchPolicyArg>,
    mgm_key_file: Option<PathBuf>,
    mgm_key_protected: bool,
    force: bool,
    p: &mut TerminalPrompter,
) -> Res {
    use custody::token::piv;
    let tf = |e: custody::token::TokenError| {
        // At keygen, an unusable key means the slot is already taken.
        let code = match e {
            custody::token::TokenError::KeyUnusable { .. } => exit::OUTPUT_EXISTS,
            ref e => ceremony::token_exit(e),
        };
        Failure::new(code, e.to_string(), ceremony::token_advice(&e))
    };
    let mgm = match (mgm_key_file, mgm_key_protected) {
        (Some(_), true) => {
            return Err(Failure::usage(
                "give --mgm-key-file or --mgm-key-protected, not both",
            ));
        }
        (Some(f), false) => piv::MgmSource::Given(zeroize::Zeroizing::new(
            media::read_bounded(&f, 1024)
                .map_err(|e| Failure::new(exit::OTHER, e.to_string(), "check --mgm-key-file"))?,
        )),
        (None, true) => piv::MgmSource::Protected,
        (None, false) => piv::MgmSource::Default,
    };
    let mut yk = piv::open_card(y.serial).map_err(tf)?;
    let slot = y.slot.unwrap_or(*piv::RETIRED.start());
    let pin = match (&y.pin_value, &y.pin_source) {
        (Some(v), _) => {
            p.warn("the PIN was given with pin-value=: it is visible in the process arguments.");
            v.clone()
        }
        (None, Some(path)) => custody::token::locate::read_pin_file(path)
            .map_err(|e| Failure::new(exit::OTHER, e, "check pin-source="))?,
        (None, None) => p.pin(&piv::card_name(y.serial)).map_err(|e| {
            Failure::new(
                exit::OTHER,
                e.to_string(),
                "give CUSTODY_PIN or run on a terminal",
            )
        })?,
    };
    let pin_policy = match pin_policy.unwrap_or(args::PinPolicyArg::Once) {
        args::PinPolicyArg::Once => yubikey::PinPolicy::Once,
        args::PinPolicyArg::Always => yubikey::PinPolicy::Always,
        args::PinPolicyArg::Never => yubikey::PinPolicy::Never,
    };
    let touch = touch_policy.unwrap_or(args::TouchPolicyArg::Always);
    let touch_policy = match touch {
        args::TouchPolicyArg::Always => yubikey::TouchPolicy::Always,
        args::TouchPolicyArg::Cached => yubikey::TouchPolicy::Cached,
        args::TouchPolicyArg::Never => yubikey::TouchPolicy::Never,
    };
    if touch != args::TouchPolicyArg::Never {
        p.info(&format!(
            "Touch your YubiKey {} when it blinks (the new key signs its certificate).",
            y.serial
        ));
    }
    let point =
        piv::generate_key(&mut yk, slot, &pin, mgm, pin_policy, touch_policy, force).map_err(tf)?;
    println!(
        "Generated a P-256 key in PIV slot {slot:02x} of YubiKey {} (made on the card; a certificate CN=custody records it).",
        y.serial
    );
    println!("  key hash: {}", hex::encode(crypto::p256_key_hash(&point)));
    println!("  Record the key hash: backups made from its public key show it.");
    println!(
        "  Use it with: --token 'yubikey:serial={};slot={slot:02x}'",
        y.serial
    );
    Ok(())
}

#[allow(dead_code)]
fn _assert_prompter(p: &mut TerminalPrompter) -> &mut dyn Prompter {
    p
}
