//! The binary: turns arguments into validated requests, calls the library, prints results and
//! errors (what went wrong, then what to do), and maps them to exit codes.

mod advice;
mod args;
mod exit;
mod pin;
mod term;

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};

use clap::Parser;
use zeroize::Zeroizing;

use advice::Advised;
use args::{Cli, Command, KeyType, OutFormat, TokenCommand};
use custody::Prompter;
use custody::TokenLocator;
use custody::{
    CardSummary, GeneratedKey, MgmSource, PivKeygen, PivPinPolicy, PivTouchPolicy, TokenError,
    TokenSummary,
};
use custody::{Descriptor, KdfParams, SlotKind, display_escaped};
use custody::{SOFTHSM_DEFAULT_MODULE, TokenEnv};
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
        Failure::new(exit::code(e.kind()), e.to_string(), e.advice())
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
    if std::env::var_os(custody::FAULT_INJECT_ENV).is_some_and(|v| !v.is_empty()) {
        eprintln!(
            "error: {} is set, but this custody was built without fault injection",
            custody::FAULT_INJECT_ENV
        );
        eprintln!(
            "  what to do: unset {}; to test fault injection, build with `--features fault-injection` (softhsm-config/test.sh does)",
            custody::FAULT_INJECT_ENV
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
    custody::write_secret_new(out, bytes).map_err(|e| {
        let code = if matches!(e, custody::MediaError::Exists { .. }) {
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
    let secret = custody::MasterSecret::random(a.bytes as usize)
        .map_err(|e| Failure::usage(format!("--bytes: {e}")))?;
    let buf = secret.expose();
    emit_secret(&a.out, a.format, buf)?;
    if a.out != Path::new("-") {
        eprintln!(
            "Wrote {} random bytes to {} (mode 0600). Fingerprint: {}",
            a.bytes,
            a.out.display(),
            custody::fingerprint_display(&custody::fingerprint(buf))
        );
    }
    Ok(())
}

fn read_secret(path: &Path) -> Result<custody::MasterSecret, Failure> {
    let max = custody::MAX_SECRET_BYTES as u64 + 1;
    let too_long = || {
        let n = custody::MAX_SECRET_BYTES + 1;
        Failure::usage(custody::check_secret_len(n).err().unwrap_or_default())
    };
    let secret = if path == Path::new("-") {
        // Read straight into the secret's own storage: no growing buffer holds it.
        custody::MasterSecret::read_from(&mut std::io::stdin().lock()).map_err(|e| {
            if e.kind() == std::io::ErrorKind::InvalidData {
                too_long()
            } else {
                Failure::new(
                    exit::OTHER,
                    format!("reading the secret from standard input: {e}"),
                    "",
                )
            }
        })?
    } else {
        // Sized from the file's length first, and wiped after the copy.
        let bytes = Zeroizing::new(custody::read_bounded(path, max).map_err(|e| {
            Failure::new(
                exit::OTHER,
                format!("reading the secret: {e}"),
                "check the --secret path",
            )
        })?);
        custody::MasterSecret::from_slice(&bytes).map_err(|_| too_long())?
    };
    custody::check_secret_len(secret.len()).map_err(Failure::usage)?;
    Ok(secret)
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
    custody::check_kdf_request(&kdf, a.allow_weak_kdf).map_err(Failure::usage)?;
    let hints = per_share(&a.hint, n, "--hint")?;
    let officers = per_share(&a.officer, n, "--officer")?;
    per_share(&a.password_file, n, "--password-file")?;
    refuse_existing(&a.out, a.force)?;
    let secret = read_secret(&a.secret)?;
    let shares = share_specs(&a.out, &officers, &hints, &tokens, &share_tokens);
    let req = custody::SetRequest {
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
    let r = custody::backup_set(req, token_env(), &mut p).map_err(|e| Failure::of(&e))?;
    print_set_report(&r);
    Ok(())
}

fn print_set_report(r: &custody::BackupReport) {
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
        custody::fingerprint_display(&r.fingerprint)
    );
    if r.weak_kdf {
        println!("  WEAK password key derivation (--allow-weak-kdf): for tests only.");
    }
    println!("Record the set id and fingerprint in the ceremony record.");
}

/// What opening the FILE arguments gave.
enum Opened {
    Whole(custody::OpenedBackup),
    /// Shares checked alone (verify with fewer than K).
    Shares(custody::SetCheck),
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
    let kdf = custody::KdfChange {
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
    let req = custody::RewrapRequest {
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
    let r = custody::rewrap(req, token_env(), &mut p).map_err(|e| Failure::of(&e))?;
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
        custody::fingerprint_display(&r.fingerprint)
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
    custody::check_kdf_request(&kdf, a.allow_weak_kdf).map_err(Failure::usage)?;
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
    let r = custody::reshare(
        &a.files,
        &open_with,
        |secret, old_label| custody::SetRequest {
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
    .map_err(|e| Failure::of(&e))?;
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
) -> Vec<custody::ShareSpec> {
    outs.iter()
        .enumerate()
        .map(|(i, out)| custody::ShareSpec {
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
        let opened = match custody::load(&files[0]) {
            Ok(lf) if lf.file.common.count == 1 => Some(custody::open_loaded_backup(
                lf,
                &overrides,
                token_env(),
                &mut p,
            )),
            Ok(_) => None,
            Err(e) => Some(Err(e)),
        };
        if let Some(r) = opened {
            return r.map(Opened::Whole).map_err(|e| Failure::of(&e));
        }
    }
    match custody::open_set(files, &overrides, token_env(), &mut p, partial_ok) {
        Ok(custody::SetCheck::Whole(o)) => Ok(Opened::Whole(o)),
        Ok(c) => Ok(Opened::Shares(c)),
        Err(e) => Err(Failure::of(&e)),
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
    emit_secret(&a.out, a.format, o.secret.expose())?;
    eprintln!(
        "Restored {} bytes (fingerprint {} matches; set id {}), opened with {}.",
        o.secret.expose().len(),
        custody::fingerprint_display(&o.fingerprint),
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
        Opened::Shares(custody::SetCheck::Shares {
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
                custody::fingerprint_display(&fingerprint)
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
        custody::fingerprint_display(&o.fingerprint)
    );
    if o.weak_kdf {
        println!("  WEAK password key derivation");
    }
    if let Some(e) = expected {
        if custody::constant_time_eq(e.expose(), o.secret.expose()) {
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
        match custody::load(f) {
            Ok(lf) => {
                if a.json {
                    all.push(custody::inspect_json(&lf));
                } else {
                    print!("{}", custody::inspect_text(&lf));
                    if a.files.len() > 1 {
                        println!();
                    }
                }
            }
            Err(e) => {
                eprintln!("error: {e}\n  what to do: {}", e.advice());
                first_err.get_or_insert(exit::code(e.kind()));
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
    let tf = |e: TokenError| Failure::of(&e);
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
            let kind = match (&loc, key_type) {
                (TokenLocator::Pkcs11(_), KeyType::Aes) => SlotKind::Pkcs11Aes,
                (TokenLocator::Pkcs11(_), KeyType::P256) => SlotKind::Pkcs11P256,
                (_, _) => SlotKind::PivP256,
            };
            let yubikey = matches!(loc, TokenLocator::Yubikey(_));
            if matches!(loc, TokenLocator::Pkcs11(_))
                && (pin_policy.is_some()
                    || touch_policy.is_some()
                    || mgm_key_file.is_some()
                    || mgm_key_protected
                    || force)
            {
                return Err(Failure::usage(
                    "--pin-policy, --touch-policy, --mgm-key-* and --force are for YubiKeys",
                ));
            }
            if yubikey && key_type != KeyType::P256 {
                return Err(Failure::usage(
                    "a YubiKey holds P-256 keys: use --type p256",
                ));
            }
            let mgm = match (mgm_key_file, mgm_key_protected) {
                (Some(_), true) => {
                    return Err(Failure::usage(
                        "give --mgm-key-file or --mgm-key-protected, not both",
                    ));
                }
                (Some(f), false) => {
                    MgmSource::Given(Zeroizing::new(custody::read_bounded(&f, 1024).map_err(
                        |e| Failure::new(exit::OTHER, e.to_string(), "check --mgm-key-file"),
                    )?))
                }
                (None, true) => MgmSource::Protected,
                (None, false) => MgmSource::Default,
            };
            let piv = PivKeygen {
                mgm,
                pin_policy: match pin_policy.unwrap_or(args::PinPolicyArg::Once) {
                    args::PinPolicyArg::Once => PivPinPolicy::Once,
                    args::PinPolicyArg::Always => PivPinPolicy::Always,
                    args::PinPolicyArg::Never => PivPinPolicy::Never,
                },
                touch_policy: match touch_policy.unwrap_or(args::TouchPolicyArg::Always) {
                    args::TouchPolicyArg::Always => PivTouchPolicy::Always,
                    args::TouchPolicyArg::Cached => PivTouchPolicy::Cached,
                    args::TouchPolicyArg::Never => PivTouchPolicy::Never,
                },
                force,
            };
            let key =
                custody::generate_key(token_env(), &mut p, &loc, kind, piv).map_err(
                    |e| match e {
                        custody::KeygenError::NoLabel => Failure::usage(
                            "the token URI must name the new key with object=<label>",
                        ),
                        custody::KeygenError::KindNotOnCard => {
                            Failure::usage("a YubiKey holds P-256 keys: use --type p256")
                        }
                        custody::KeygenError::Pubkey => {
                            Failure::usage("keys are generated on a token, not a pubkey: file")
                        }
                        custody::KeygenError::Token(e @ TokenError::Failed { .. }) if !yubikey => {
                            Failure::new(
                                exit::OTHER,
                                e.to_string(),
                                "check that the token supports the key type",
                            )
                        }
                        custody::KeygenError::Token(e) => tf(e),
                    },
                )?;
            print_generated(&loc, &key);
            Ok(())
        }
        TokenCommand::List { module, json } => {
            let inv = custody::token_inventory(token_env(), &mut p, module.as_deref());
            let module_path = inv.module.display().to_string();
            // Without --module, a machine with only YubiKeys lists them even when no PKCS#11
            // module is installed; a module asked for by name must load.
            let (list, p11_error) = match inv.tokens {
                Ok(list) => (list, None),
                Err(e) if module.is_none() => (Vec::new(), Some(e.to_string())),
                Err(e) => return Err(tf(e)),
            };
            // YubiKeys beside the PKCS#11 tokens; no smart-card service is not an error here.
            let (cards, card_error) = match inv.cards {
                Ok(c) => (c, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
            if json {
                print_token_list_json(&module_path, &list, &cards);
            } else {
                print_token_list(
                    &module_path,
                    &list,
                    p11_error.as_deref(),
                    &cards,
                    card_error.as_deref(),
                );
            }
            Ok(())
        }
        TokenCommand::Pubkey { token, out } => {
            let loc = token
                .parse::<TokenLocator>()
                .map_err(|e| Failure::usage(format!("--token: {e}")))?;
            let key =
                custody::export_public_key(token_env(), &mut p, &loc, &out).map_err(
                    |e| match e {
                        custody::ExportError::Token(e) => tf(e),
                        e @ custody::ExportError::NoPublicKey { .. } => {
                            Failure::usage(e.to_string())
                        }
                        custody::ExportError::Write(e) => {
                            let code = if matches!(e, custody::MediaError::Exists { .. }) {
                                exit::OUTPUT_EXISTS
                            } else {
                                exit::OTHER
                            };
                            Failure::new(code, e.to_string(), "choose another --out")
                        }
                        e => Failure::new(exit::OTHER, e.to_string(), ""),
                    },
                )?;
            println!("Wrote the public key of {} to {}", key.name, out.display());
            println!(
                "  key hash: {}",
                hex::encode(custody::p256_key_hash(&key.point))
            );
            Ok(())
        }
    }
}

fn print_generated(loc: &TokenLocator, key: &GeneratedKey) {
    match &key.descriptor {
        Descriptor::Piv {
            card_serial,
            piv_slot,
            key_hash,
        } => {
            println!(
                "Generated a P-256 key in PIV slot {piv_slot:02x} of YubiKey {card_serial} (made on the card; a certificate CN=custody records it)."
            );
            println!("  key hash: {}", hex::encode(key_hash));
            println!("  Record the key hash: backups made from its public key show it.");
            println!("  Use it with: --token 'yubikey:serial={card_serial};slot={piv_slot:02x}'");
        }
        Descriptor::Pkcs11 {
            kind,
            token_label,
            token_serial,
            key_hash,
            ..
        } => {
            let _ = loc;
            println!(
                "Generated {} key \"{}\" (id {}) on token \"{}\" (serial {}): sensitive, not extractable, made on the token.",
                if *kind == SlotKind::Pkcs11Aes {
                    "AES-256"
                } else {
                    "P-256"
                },
                display_escaped(&key.label),
                hex::encode(&key.id),
                display_escaped(token_label),
                display_escaped(token_serial)
            );
            if let Some(h) = key_hash {
                println!("  key hash: {}", hex::encode(h));
                println!("  Record the key hash: backups made from its public key show it.");
            }
            println!(
                "  Use it with: --token 'pkcs11:token={};object={}'",
                custody::percent_encode(token_label.as_bytes()),
                custody::percent_encode(key.label.as_bytes())
            );
        }
    }
}

fn print_token_list_json(module_path: &str, list: &[TokenSummary], cards: &[CardSummary]) {
    let mut v: Vec<_> = list
        .iter()
        .map(|t| {
            serde_json::json!({
                "kind": "pkcs11",
                "module": module_path,
                "slot_id": t.slot_id,
                "label": t.label,
                "serial": t.serial,
                "manufacturer": t.manufacturer,
                "model": t.model,
                "login_required": t.login_required,
                "pin_count_low": t.pin_count_low,
                "pin_final_try": t.pin_final_try,
                "pin_locked": t.pin_locked,
                "uri": format!("pkcs11:token={};serial={}", custody::percent_encode(t.label.as_bytes()), custody::percent_encode(t.serial.as_bytes())),
            })
        })
        .collect();
    for c in cards {
        v.push(serde_json::json!({
            "kind": "yubikey",
            "serial": c.serial,
            "firmware": c.version,
            "reader": c.reader,
            "pin_tries_left": c.pin_tries,
            "custody_slots": c.custody_slots.iter().map(|(s, p)| serde_json::json!({
                "slot": format!("{s:02x}"),
                "key_hash": hex::encode(custody::p256_key_hash(p)),
                "uri": format!("yubikey:serial={};slot={s:02x}", c.serial),
            })).collect::<Vec<_>>(),
        }));
    }
    println!(
        "{}",
        serde_json::to_string_pretty(&v).unwrap_or_else(|_| "[]".into())
    );
}

fn print_token_list(
    module_path: &str,
    list: &[TokenSummary],
    p11_error: Option<&str>,
    cards: &[CardSummary],
    card_error: Option<&str>,
) {
    println!("PKCS#11 module {module_path}");
    if let Some(e) = p11_error {
        println!("  not usable: {e}");
    }
    if list.is_empty() && p11_error.is_none() {
        println!("  no token present");
    }
    for t in list {
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
            custody::percent_encode(t.label.as_bytes()),
            custody::percent_encode(t.serial.as_bytes())
        );
    }
    match card_error {
        Some(e) => println!("YubiKeys: none found ({e})"),
        None if cards.is_empty() => println!("YubiKeys: none present"),
        None => {}
    }
    for c in cards {
        println!(
            "YubiKey {} (firmware {}, reader \"{}\"){}",
            c.serial,
            c.version,
            display_escaped(&c.reader),
            match c.pin_tries {
                Some(0) => " PIN BLOCKED (unblock it with the PUK)".to_string(),
                Some(t) => format!(", {t} PIN tr{} left", if t == 1 { "y" } else { "ies" }),
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
                hex::encode(custody::p256_key_hash(point))
            );
            println!("    --token 'yubikey:serial={};slot={slot:02x}'", c.serial);
        }
    }
}

#[allow(dead_code)]
fn _assert_prompter(p: &mut TerminalPrompter) -> &mut dyn Prompter {
    p
}
