//! The text-mode copy vectors in tests/vectors-text-copies/ (see its README): Windows copies
//! (CRLF, a byte-order mark) of committed v1 vectors. The strict reader keeps refusing them, by
//! default everywhere in the library; the repair, asked for, reads a true text-mode copy as the
//! bytes it was made from, says so, and opens it to the source's secret with the test keys.

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

use common::softhsm;
use common::vectors::{self, CATEGORIES, Keys, Scripted};
use custody::internals::ceremony::{
    self, Input, LoadOptions, OpenFileError, RestoreError, RestoreRequest, SetCheck,
};
use custody::internals::crypto;
use custody::internals::error::ErrorKind;
use custody::internals::format::{self, FormatError};
use custody::internals::token::registry::TokenEnv;
use secrecy::SecretString;

/// Every vector of the directory must be checked: it must not shrink unnoticed.
const MIN_VECTORS: usize = 5;

fn dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors-text-copies")
}

fn v1_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// A fresh token with the test keys, made once for this process (as in tests/vectors.rs).
fn token_env() -> (TokenEnv, std::sync::MutexGuard<'static, ()>) {
    static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());
    static ENV: std::sync::OnceLock<TokenEnv> = std::sync::OnceLock::new();
    let guard = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
    let env = ENV.get_or_init(|| {
        let keys = Keys::read(&v1_dir().join("keys")).expect("the test keys");
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

/// One `NAME.expect` of the directory (its README says what each line means).
struct CopyExpect {
    source: String,
    strict: String,
    repair: bool,
    expect: String,
    exit: i32,
    password: String,
    secret: Option<Vec<u8>>,
    comment: String,
}

impl CopyExpect {
    fn parse(text: &str) -> Result<CopyExpect, String> {
        let body = text.strip_suffix('\n').ok_or("no final newline")?;
        let mut lines = body.split('\n').peekable();
        let mut field = |key: &str, optional: bool| -> Result<Option<String>, String> {
            match lines.peek() {
                Some(l) if l.starts_with(&format!("{key}: ")) => {
                    Ok(lines.next().map(|l| l[key.len() + 2..].to_owned()))
                }
                _ if optional => Ok(None),
                other => Err(format!("expected \"{key}: \", found {other:?}")),
            }
        };
        let required = |v: Option<String>| v.ok_or("a required line is missing");
        let source = required(field("source", false)?)?;
        let strict = required(field("strict", false)?)?;
        if !["damaged", "not-a-backup"].contains(&strict.as_str()) {
            return Err(format!("strict: {strict:?} is not damaged or not-a-backup"));
        }
        let repair = match required(field("repair", false)?)?.as_str() {
            "yes" => true,
            "no" => false,
            v => return Err(format!("repair: {v:?} is not yes or no")),
        };
        let expect = required(field("expect", false)?)?;
        if !CATEGORIES.contains(&expect.as_str()) {
            return Err(format!("unknown category {expect:?}"));
        }
        let exit = required(field("exit", false)?)?
            .parse::<i32>()
            .map_err(|e| format!("exit: {e}"))?;
        let password = required(field("password", false)?)?;
        let secret = field("secret", true)?
            .map(|h| hex::decode(h).map_err(|e| format!("secret: {e}")))
            .transpose()?;
        if secret.is_some() != (expect == "ok") {
            return Err("\"secret:\" is given exactly for \"expect: ok\"".into());
        }
        let comment = required(field("comment", false)?)?;
        if let Some(extra) = lines.next() {
            return Err(format!("unexpected line {extra:?}"));
        }
        Ok(CopyExpect {
            source,
            strict,
            repair,
            expect,
            exit,
            password,
            secret,
            comment,
        })
    }
}

fn kind_of(category: &str) -> Option<ErrorKind> {
    Some(match category {
        "damaged" => ErrorKind::Damaged,
        "invalid" => ErrorKind::InvalidFile,
        "unsupported" => ErrorKind::UnsupportedVersion,
        "not-a-backup" => ErrorKind::NotABackup,
        "auth" => ErrorKind::Authentication,
        "altered" => ErrorKind::Altered,
        "not-found" => ErrorKind::NotFound,
        _ => return None,
    })
}

fn strict_verdict(bytes: &[u8]) -> &'static str {
    match format::parse(bytes) {
        Ok(_) => "ok",
        Err(FormatError::Damaged { .. }) => "damaged",
        Err(FormatError::Invalid { .. }) => "invalid",
        Err(FormatError::UnsupportedVersion { .. }) => "unsupported",
        Err(FormatError::NotABackup) => "not-a-backup",
        Err(_) => "another error",
    }
}

fn restore_one(
    path: &Path,
    repair: bool,
    password: &str,
    env: &TokenEnv,
) -> (Result<SetCheck, RestoreError>, Scripted) {
    let mut prompter = Scripted::new(password);
    let req = RestoreRequest {
        files: vec![Input::Path(path.to_owned())],
        keys: Vec::new(),
        partial_ok: false,
        kdf_limits: ceremony::KdfLimits::default(),
        repair_text_copies: repair,
        expect: ceremony::Expectation::default(),
        ignore_foreign: false,
    };
    (ceremony::restore(req, env.clone(), &mut prompter), prompter)
}

/// Every way one vector differs from its `.expect`.
fn check(path: &Path, e: &CopyExpect, env: &TokenEnv) -> Vec<String> {
    let mut problems = Vec::new();
    let bytes = std::fs::read(path).expect("read the vector");
    let source = match std::fs::read(v1_dir().join(&e.source)) {
        Ok(b) => b,
        Err(err) => return vec![format!("source {}: {err}", e.source)],
    };
    let notice = format!(
        "{} is a Windows (CRLF/BOM) copy, read as its original bytes",
        path.display()
    );
    let strict_kind = kind_of(&e.strict).expect("a checked category");

    // 1. The strict reader, and every open function by default, keep their verdict.
    let got = strict_verdict(&bytes);
    if got != e.strict {
        problems.push(format!("format::parse says {got}, expected {}", e.strict));
    }
    match ceremony::load(path) {
        Ok(_) => problems.push("load (strict) read it".into()),
        Err(err) if err.kind() != strict_kind => problems.push(format!(
            "load (strict) gave \"{err}\", expected {}",
            e.strict
        )),
        Err(_) => {}
    }
    match ceremony::load_bytes(path, &bytes) {
        Ok(_) => problems.push("load_bytes (strict) read it".into()),
        Err(err) if err.kind() != strict_kind => problems.push(format!(
            "load_bytes (strict) gave \"{err}\", expected {}",
            e.strict
        )),
        Err(_) => {}
    }
    let mut p = Scripted::new(&e.password);
    match ceremony::open_backup(&Input::Path(path.to_owned()), &[], env.clone(), &mut p) {
        Ok(_) => problems.push("open_backup (strict) opened it".into()),
        Err(err) if err.kind() != strict_kind => problems.push(format!(
            "open_backup (strict) gave \"{err}\", expected {}",
            e.strict
        )),
        Err(_) => {}
    }
    let (r, p) = restore_one(path, false, &e.password, env);
    match r {
        Ok(_) => problems.push("restore without the repair opened it".into()),
        Err(err) if err.kind() != strict_kind => problems.push(format!(
            "restore without the repair gave \"{err}\", expected {}",
            e.strict
        )),
        Err(_) => {}
    }
    if p.pin_asked != 0 || p.warn.iter().any(|w| w.contains("Windows")) {
        problems.push("restore without the repair used a token or announced a repair".into());
    }

    // 2. The repair: exactly the source's bytes, or nothing.
    let repaired = format::repair_text_copy(&bytes);
    match (&repaired, e.repair) {
        (Some(r), true) if *r != source => {
            problems.push(format!("repaired, but not to the bytes of {}", e.source))
        }
        (None, true) => problems.push("the repair does not apply".into()),
        (Some(_), false) => problems.push("the repair applies, but must not".into()),
        _ => {}
    }
    let options = LoadOptions {
        repair_text_copies: true,
    };
    match (ceremony::load_with(path, options), e.repair) {
        (Ok(lf), true) => match &lf.text_copy {
            Some(t) => {
                if t.read_sha256 != crypto::checksum(&bytes)
                    || t.repaired_sha256 != crypto::checksum(&source)
                {
                    problems.push("the digests of the text copy are not those of its bytes".into());
                }
                if lf.enc.bytes != source {
                    problems.push("loaded, but not as the source's bytes".into());
                }
                if lf.text_copy_notice().as_deref() != Some(notice.as_str()) {
                    problems.push(format!("notice {:?}", lf.text_copy_notice()));
                }
            }
            None => problems.push("load_with read it, but does not say it was repaired".into()),
        },
        (Ok(_), false) => problems.push("load_with read a file that is no text-mode copy".into()),
        (Err(err), true) => {
            // Repaired, but refused by the strict reader: said so, with the repaired verdict.
            let repaired_refused = matches!(err, OpenFileError::TextCopy { .. })
                && Some(err.kind()) == kind_of(&e.expect)
                && err.to_string().contains(&notice);
            if !repaired_refused {
                problems.push(format!("load_with gave [{err:?}] \"{err}\""));
            }
        }
        (Err(err), false) => {
            if err.kind() != strict_kind || err.to_string().contains("Windows") {
                problems.push(format!(
                    "load_with gave \"{err}\", expected the strict {}",
                    e.strict
                ));
            }
        }
    }

    // 3. A restore with the repair asked for: the expected outcome, announced when repaired.
    let (r, p) = restore_one(path, true, &e.password, env);
    let (category, exit) = match &r {
        Ok(SetCheck::Whole(o)) => {
            if Some(o.secret.expose()) != e.secret.as_deref() {
                problems.push("opened to a WRONG secret".into());
            }
            ("ok".to_string(), cli_exit::OK)
        }
        Ok(_) => ("shares".to_string(), cli_exit::OK),
        Err(err) => {
            let cat = CATEGORIES
                .iter()
                .find(|c| kind_of(c) == Some(err.kind()))
                .map_or(format!("{:?}", err.kind()), |c| c.to_string());
            (cat, cli_exit::code(err.kind()))
        }
    };
    if category != e.expect || exit != e.exit {
        problems.push(format!(
            "restore with the repair gave {category} (exit {exit}), expected {} (exit {})",
            e.expect, e.exit
        ));
    }
    let announced = p.warn.iter().filter(|w| w.starts_with(&notice)).count()
        + usize::from(
            r.as_ref()
                .err()
                .is_some_and(|err| err.to_string().contains(&notice)),
        );
    if announced != usize::from(e.repair) {
        problems.push(format!(
            "the repair announced {announced} time(s) (warnings {:?}, result {:?})",
            p.warn,
            r.as_ref().err().map(|e| e.to_string())
        ));
    }
    problems
}

#[test]
fn text_copy_vectors() {
    let dir = dir();
    let (env, _one_at_a_time) = token_env();
    let mut names: Vec<String> = Vec::new();
    let mut failures: Vec<String> = Vec::new();
    for entry in std::fs::read_dir(&dir).expect("read tests/vectors-text-copies") {
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
    // The four kinds of copy the rule names are all there.
    for must in ["crlf", "crlf-bom", "bom", "mixed"] {
        if !names.iter().any(|n| n == must) {
            failures.push(format!("{must}: missing"));
        }
    }
    for name in &names {
        let e = match std::fs::read_to_string(dir.join(format!("{name}.expect")))
            .map_err(|e| e.to_string())
            .and_then(|t| CopyExpect::parse(&t))
        {
            Ok(e) => e,
            Err(err) => {
                failures.push(format!("{name}: no usable .expect: {err}"));
                continue;
            }
        };
        for p in check(&dir.join(format!("{name}.custody")), &e, &env) {
            failures.push(format!("{name}: {p}  [{}]", e.comment));
        }
    }
    println!("{} text-copy vectors: {names:?}", names.len());
    assert!(
        failures.is_empty(),
        "{} problem(s) with the text-copy vectors in {}:\n  {}",
        failures.len(),
        dir.display(),
        failures.join("\n  ")
    );
}

/// Among the frozen v1 vectors, the repair applies to the one that is a whole text-mode copy
/// and to no other: every other refusal stands even with the repair on.
#[test]
fn the_repair_leaves_the_v1_vectors_alone() {
    let mut repaired = Vec::new();
    for entry in std::fs::read_dir(v1_dir()).expect("read tests/vectors") {
        let path = entry.expect("dir entry").path();
        if path.extension().and_then(|e| e.to_str()) != Some("custody") {
            continue;
        }
        let bytes = std::fs::read(&path).expect("read a vector");
        if let Some(r) = format::repair_text_copy(&bytes) {
            assert!(format::parse(&r).is_ok(), "{}", path.display());
            repaired.push(path.file_stem().map(|s| s.to_string_lossy().into_owned()));
        }
    }
    assert_eq!(repaired, [Some("crlf-all-lines".to_string())]);
}
