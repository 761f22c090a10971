//! The frozen test vectors in tests/vectors/ (made by tools/make-vectors): every
//! `NAME.custody` is opened with the real code against a fresh SoftHSM2 token holding the test
//! keys, and must give what `NAME.expect` says. Vectors are never edited: every later version of
//! custody must still read them the same way. New vectors are picked up from the directory.
//!
//! Split sets: every `sets/<case>/case.expect` names the share files of its directory that are
//! given together, in order, to `ceremony::open_set`, with one password per file, and what must
//! come out (see `common::vectors::sets::SetExpect`).

// These tests reach the library's internals, which only the `internals` feature makes public.
#[cfg(not(feature = "internals"))]
compile_error!(
    "run the tests with `--features internals,fault-injection` (softhsm-config/test.sh does)"
);

mod common;

#[path = "../src/cli/exit.rs"]
#[allow(dead_code)]
mod cli_exit;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use common::softhsm;
use common::vectors::sets::{PerFile, SET_EXPECT_FILE, SETS_DIR, SetExpect};
use common::vectors::{self, Expect, Keys, Scripted};
use custody::internals::ceremony::{self, Input, KeySpec, OpenFileError, SetCheck, SetError};
use custody::internals::error::ErrorKind;
use custody::internals::format::{self, FormatError, SlotKind};
use custody::internals::token::registry::TokenEnv;
use custody::internals::token::uri::TokenLocator;
use secrecy::SecretString;

/// The suite must not shrink unnoticed.
const MIN_VECTORS: usize = 30;
/// Nor the split-set cases.
const MIN_SET_CASES: usize = 10;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// A fresh token with the test keys, made once for this process (fails, never skips, without
/// SoftHSM), and a guard: the tests of this file use it one at a time.
fn token_env() -> (TokenEnv, std::sync::MutexGuard<'static, ()>) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    static ENV: std::sync::OnceLock<TokenEnv> = std::sync::OnceLock::new();
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let env = ENV.get_or_init(|| {
        let keys = Keys::read(&vectors_dir().join("keys")).expect("the test keys");
        softhsm::softhsm_module();
        softhsm::init_token(vectors::TOKEN_LABEL);
        let module = softhsm::softhsm();
        let token = softhsm::find_token(vectors::TOKEN_LABEL);
        {
            let session = module.open(&token).expect("open session");
            session
                .login(&SecretString::from(vectors::USER_PIN))
                .expect("login");
            keys.load(&session).expect("load the test keys");
        }
        TokenEnv {
            module: Some(softhsm::softhsm_module()),
            registered: Vec::new(),
        }
    });
    (env.clone(), guard)
}

/// Does an open error match an `expect:` category? Categories are error kinds.
fn matches_category(e: &OpenFileError, expect: &str) -> bool {
    let want = match expect {
        "damaged" => ErrorKind::Damaged,
        "invalid" => ErrorKind::InvalidFile,
        "unsupported" => ErrorKind::UnsupportedVersion,
        "not-a-backup" => ErrorKind::NotABackup,
        "auth" => ErrorKind::Authentication,
        "altered" => ErrorKind::Altered,
        "not-found" => ErrorKind::NotFound,
        _ => return false,
    };
    e.kind() == want
}

/// What `format::parse` alone must say: the format categories are decided there, everything
/// else must parse. One exception: a share of a split set is a valid file, refused as invalid
/// only by the single-file restore (see `share_of_set`).
fn check_parse(bytes: &[u8], expect: &str) -> Result<(), String> {
    let r = format::parse(bytes);
    let ok = match (expect, &r) {
        ("invalid", Ok((file, _))) if file.common.count >= 2 => true,
        ("damaged", Err(FormatError::Damaged { .. }))
        | ("invalid", Err(FormatError::Invalid { .. }))
        | ("unsupported", Err(FormatError::UnsupportedVersion { .. }))
        | ("not-a-backup", Err(FormatError::NotABackup)) => true,
        ("damaged" | "invalid" | "unsupported" | "not-a-backup", _) => false,
        (_, r) => r.is_ok(),
    };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "format::parse gave {:?}, expected {expect}",
            r.map(|_| "a parsed file")
        ))
    }
}

/// For a share of a split set (`count` ≥ 2), what the single-file restore must call it when it
/// refuses it: "share i of a K-of-N" set.
fn share_of_set(path: &Path) -> Option<String> {
    let (file, _) = format::parse(&std::fs::read(path).ok()?).ok()?;
    (file.common.count >= 2).then(|| {
        format!(
            "share {} of a {}-of-{}",
            file.own.index, file.common.threshold, file.common.count
        )
    })
}

/// Open one vector; every way it differs from its `.expect` is returned.
fn open_and_check(
    path: &Path,
    overrides: &[TokenLocator],
    expect: &Expect,
    env: &TokenEnv,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut prompter = Scripted::new(&expect.password);
    let overrides: Vec<KeySpec> = overrides.iter().cloned().map(KeySpec::Locator).collect();
    let input = Input::Path(path.to_owned());
    let r = ceremony::open_backup(&input, &overrides, env.clone(), &mut prompter);
    match (&r, expect.expect.as_str()) {
        (Ok(opened), "ok") => {
            if Some(opened.secret.expose()) != expect.secret.as_deref() {
                problems.push("opened to a WRONG secret".into());
            }
            if expect.exit != cli_exit::OK {
                problems.push(format!("expect says ok with exit {}", expect.exit));
            }
        }
        (Ok(opened), want) => problems.push(format!(
            "opened (with {}) but should be {want}{}",
            opened.opened_with,
            if Some(opened.secret.expose()) == expect.secret.as_deref() {
                ""
            } else {
                ", and to a secret of its own"
            }
        )),
        (Err(e), want) => {
            if !matches_category(e, want) {
                problems.push(format!("gave [{e:?}] \"{e}\", expected {want}"));
            } else if cli_exit::code(e.kind()) != expect.exit {
                problems.push(format!(
                    "exit code {}, expected {} (\"{e}\")",
                    cli_exit::code(e.kind()),
                    expect.exit
                ));
            }
            // A share given alone is named as the share it is.
            if let Some(says) = share_of_set(path)
                && !e.to_string().contains(&says)
            {
                problems.push(format!(
                    "a share of a split set, but \"{e}\" does not say {says:?}"
                ));
            }
        }
    }
    if expect.token_used == Some(false) && prompter.pin_asked != 0 {
        problems.push(format!(
            "a token was logged in to ({} PIN prompt(s)) though the file must be refused before",
            prompter.pin_asked
        ));
    }
    problems
}

#[test]
fn frozen_vectors() {
    let dir = vectors_dir();
    let (env, _one_at_a_time) = token_env();

    let mut names: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("read tests/vectors") {
        let path = entry.expect("dir entry").path();
        let Some(name) = path.file_stem().and_then(|s| s.to_str()) else {
            continue;
        };
        match path.extension().and_then(|e| e.to_str()) {
            Some("custody") => names.push(name.to_owned()),
            Some("expect") if !dir.join(format!("{name}.custody")).exists() => {
                failures.push(format!("{name}: a .expect without a .custody"));
            }
            _ => {}
        }
    }
    names.sort();
    assert!(
        names.len() >= MIN_VECTORS,
        "only {} vectors in {} (at least {MIN_VECTORS} expected)",
        names.len(),
        dir.display()
    );

    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for name in &names {
        let path = dir.join(format!("{name}.custody"));
        let expect = match std::fs::read_to_string(dir.join(format!("{name}.expect")))
            .map_err(|e| e.to_string())
            .and_then(|t| Expect::parse(&t))
        {
            Ok(e) => e,
            Err(e) => {
                failures.push(format!("{name}: no usable .expect: {e}"));
                continue;
            }
        };
        *counts.entry(expect.expect.clone()).or_default() += 1;
        let bytes = std::fs::read(&path).expect("read vector");
        let mut problems = Vec::new();
        if let Err(p) = check_parse(&bytes, &expect.expect) {
            problems.push(p);
        }
        problems.extend(open_and_check(&path, &[], &expect, &env));

        // A good file also opens when its key is named with --token.
        if expect.expect == "ok" {
            match format::parse(&bytes) {
                Ok((file, _)) => {
                    let mut kinds: Vec<SlotKind> =
                        file.slots.iter().map(|s| s.descriptor.kind()).collect();
                    kinds.dedup();
                    for kind in kinds {
                        let key = match kind {
                            SlotKind::Pkcs11Aes => vectors::AES_LABEL,
                            SlotKind::Pkcs11P256 => vectors::P256_LABEL,
                            SlotKind::PivP256 => {
                                problems.push("a PIV slot: no test token for it".into());
                                continue;
                            }
                        };
                        let uri = format!("pkcs11:token={};object={key}", vectors::TOKEN_LABEL);
                        let loc = TokenLocator::from_str(&uri).expect("locator");
                        for p in open_and_check(&path, &[loc], &expect, &env) {
                            problems.push(format!("with --token {uri}: {p}"));
                        }
                    }
                }
                Err(e) => problems.push(format!("does not parse: {e}")),
            }
        }
        for p in problems {
            failures.push(format!("{name}: {p}  [{}]", expect.comment));
        }
    }
    println!("{} vectors: {counts:?}", names.len());
    assert!(
        failures.is_empty(),
        "{} problem(s) with the frozen vectors in {}:\n  {}",
        failures.len(),
        dir.display(),
        failures.join("\n  ")
    );
}

// ───────────────────────────── split sets ─────────────────────────────

/// What `open_set` gave, for comparing with a `case.expect`.
struct SetOutcome {
    category: &'static str,
    exit: i32,
    /// The error, or what opened.
    text: String,
    secret: Option<Vec<u8>>,
}

fn set_outcome(r: &Result<SetCheck, SetError>) -> SetOutcome {
    match r {
        Ok(SetCheck::Whole(o)) => SetOutcome {
            category: "ok",
            exit: cli_exit::OK,
            text: format!("opened with {}", o.opened_with),
            secret: Some(o.secret.expose().to_vec()),
        },
        Ok(SetCheck::Shares { opened, .. }) => SetOutcome {
            category: "shares-ok",
            exit: cli_exit::OK,
            text: opened
                .iter()
                .map(|(f, who)| format!("{}: {who} opens and matches its commitment", f.display()))
                .collect::<Vec<_>>()
                .join("; "),
            secret: None,
        },
        Err(e) => SetOutcome {
            category: match e {
                SetError::NotEnough { .. } => "not-enough",
                SetError::Inconsistent { .. } => "inconsistent",
                SetError::NothingReadable { .. } => "unreadable",
                SetError::Fatal(_) => "fatal",
                _ => "another error",
            },
            exit: cli_exit::code(e.kind()),
            text: e.to_string(),
            secret: None,
        },
    }
}

/// Open one set case; every way it differs from its `case.expect` is returned.
fn open_set_and_check(
    case_dir: &Path,
    overrides: &[TokenLocator],
    expect: &SetExpect,
    env: &TokenEnv,
) -> Vec<String> {
    let mut problems = Vec::new();
    let paths: Vec<Input> = expect
        .files
        .iter()
        .map(|f| Input::Path(case_dir.join(f)))
        .collect();
    let overrides: Vec<KeySpec> = overrides.iter().cloned().map(KeySpec::Locator).collect();
    let mut prompter = PerFile::new(&expect.passwords, vectors::USER_PIN);
    let r = ceremony::open_set(
        &paths,
        &overrides,
        env.clone(),
        &mut prompter,
        expect.partial_ok,
    );
    let o = set_outcome(&r);
    // Never a secret other than the set's, whatever the case expects.
    if let Some(s) = &o.secret
        && Some(s) != expect.secret.as_ref()
    {
        problems.push("opened to a WRONG secret".into());
    }
    if o.category != expect.expect {
        problems.push(format!(
            "gave {} (exit {}): \"{}\", expected {}",
            o.category, o.exit, o.text, expect.expect
        ));
    } else if o.exit != expect.exit {
        problems.push(format!(
            "exit code {}, expected {} (\"{}\")",
            o.exit, expect.exit, o.text
        ));
    }
    for n in &expect.names {
        if !o.text.contains(n.as_str()) && !prompter.warn.iter().any(|w| w.contains(n.as_str())) {
            problems.push(format!(
                "{n:?} is named neither in \"{}\" nor in the warnings {:?}",
                o.text, prompter.warn
            ));
        }
    }
    if let Some(want) = &expect.asked {
        let asked: Vec<&str> = prompter
            .asked
            .iter()
            .map(|&p| {
                expect
                    .files
                    .get(p)
                    .map_or("<no such position>", |f| f.as_str())
            })
            .collect();
        if asked != *want {
            problems.push(format!("passwords asked for {asked:?}, expected {want:?}"));
        }
    }
    problems
}

#[test]
fn frozen_set_vectors() {
    let sets = vectors_dir().join(SETS_DIR);
    let (env, _one_at_a_time) = token_env();

    let mut names: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(&sets).expect("read tests/vectors/sets") {
        let path = entry.expect("dir entry").path();
        let name = path
            .file_name()
            .and_then(|s| s.to_str())
            .unwrap_or("?")
            .to_owned();
        if !path.is_dir() {
            failures.push(format!("{name}: not a set case directory"));
        } else if !path.join(SET_EXPECT_FILE).is_file() {
            failures.push(format!("{name}: no {}", SET_EXPECT_FILE));
        } else {
            names.push(name);
        }
    }
    names.sort();
    assert!(
        names.len() >= MIN_SET_CASES,
        "only {} set cases in {} (at least {MIN_SET_CASES} expected)",
        names.len(),
        sets.display()
    );

    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for name in &names {
        let case_dir = sets.join(name);
        let expect = match std::fs::read_to_string(case_dir.join(SET_EXPECT_FILE))
            .map_err(|e| e.to_string())
            .and_then(|t| SetExpect::parse(&t))
        {
            Ok(e) => e,
            Err(e) => {
                failures.push(format!("{name}: no usable {}: {e}", SET_EXPECT_FILE));
                continue;
            }
        };
        *counts.entry(expect.expect.clone()).or_default() += 1;
        let mut problems = Vec::new();
        for f in &expect.files {
            if !case_dir.join(f).is_file() {
                problems.push(format!("{f} is named but missing"));
            }
        }
        for entry in std::fs::read_dir(&case_dir).expect("read a case directory") {
            let f = entry.expect("dir entry").file_name();
            let f = f.to_string_lossy();
            if f != SET_EXPECT_FILE && !expect.files.iter().any(|g| *g == f) {
                problems.push(format!("{f} is in the directory but not given"));
            }
        }
        if problems.is_empty() {
            problems.extend(open_set_and_check(&case_dir, &[], &expect, &env));
            // A set that restores also restores with every test key named with --token.
            if expect.expect == "ok" && problems.is_empty() {
                let locs: Vec<TokenLocator> = [vectors::AES_LABEL, vectors::P256_LABEL]
                    .iter()
                    .map(|key| {
                        let uri = format!("pkcs11:token={};object={key}", vectors::TOKEN_LABEL);
                        TokenLocator::from_str(&uri).expect("locator")
                    })
                    .collect();
                for p in open_set_and_check(&case_dir, &locs, &expect, &env) {
                    problems.push(format!("with --token for both test keys: {p}"));
                }
            }
        }
        for p in problems {
            failures.push(format!("sets/{name}: {p}  [{}]", expect.comment));
        }
    }
    println!("{} set cases: {counts:?}", names.len());
    assert!(
        failures.is_empty(),
        "{} problem(s) with the frozen set vectors in {}:\n  {}",
        failures.len(),
        sets.display(),
        failures.join("\n  ")
    );
}
