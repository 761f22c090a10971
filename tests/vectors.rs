//! The frozen test vectors in tests/vectors/ (made by `examples/make_vectors.rs`): every
//! `NAME.custody` is opened with the real code against a fresh SoftHSM2 token holding the test
//! keys, and must give what `NAME.expect` says. Vectors are never edited: every later version of
//! custody must still read them the same way. New vectors are picked up from the directory.

mod common;
#[path = "vectors/support.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::str::FromStr;

use custody::ceremony::{self, OpenFileError};
use custody::format::{self, FormatError, SlotKind};
use custody::token::TokenError;
use custody::token::locate::TokenEnv;
use custody::token::uri::TokenLocator;
use secrecy::{ExposeSecret, SecretString};
use support::{Expect, Keys, Scripted};

/// The suite must not shrink unnoticed.
const MIN_VECTORS: usize = 30;

fn vectors_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors")
}

/// Does an open error match an `expect:` category?
fn matches_category(e: &OpenFileError, expect: &str) -> bool {
    match (expect, e) {
        ("damaged", OpenFileError::Format { error, .. }) => {
            matches!(error, FormatError::Damaged { .. })
        }
        ("invalid", OpenFileError::Format { error, .. }) => {
            matches!(error, FormatError::Invalid { .. })
        }
        ("unsupported", OpenFileError::Format { error, .. }) => {
            matches!(error, FormatError::UnsupportedVersion { .. })
        }
        ("not-a-backup", OpenFileError::Format { error, .. }) => {
            matches!(error, FormatError::NotABackup)
        }
        ("auth", OpenFileError::Auth { .. }) => true,
        (
            "auth",
            OpenFileError::Token {
                error: TokenError::WrongKey { .. } | TokenError::PinIncorrect { .. },
                ..
            },
        ) => true,
        ("altered", OpenFileError::Altered { .. }) => true,
        ("not-found", OpenFileError::NoToken { .. }) => true,
        _ => false,
    }
}

/// What `format::parse` alone must say: the format categories are decided there, everything
/// else must parse.
fn check_parse(bytes: &[u8], expect: &str) -> Result<(), String> {
    let r = format::parse(bytes);
    let ok = match (expect, &r) {
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

/// Open one vector; every way it differs from its `.expect` is returned.
fn open_and_check(
    path: &Path,
    overrides: &[TokenLocator],
    expect: &Expect,
    env: &TokenEnv,
) -> Vec<String> {
    let mut problems = Vec::new();
    let mut prompter = Scripted::new(&expect.password);
    let r = ceremony::open_backup(path, overrides, env.clone(), &mut prompter);
    match (&r, expect.expect.as_str()) {
        (Ok(opened), "ok") => {
            if Some(opened.secret.expose_secret()) != expect.secret.as_ref() {
                problems.push("opened to a WRONG secret".into());
            }
            if expect.exit != ceremony::exit::OK {
                problems.push(format!("expect says ok with exit {}", expect.exit));
            }
        }
        (Ok(opened), want) => problems.push(format!(
            "opened (with {}) but should be {want}{}",
            opened.opened_with,
            if Some(opened.secret.expose_secret()) == expect.secret.as_ref() {
                ""
            } else {
                ", and to a secret of its own"
            }
        )),
        (Err(e), want) => {
            if !matches_category(e, want) {
                problems.push(format!("gave [{e:?}] \"{e}\", expected {want}"));
            } else if e.exit_code() != expect.exit {
                problems.push(format!(
                    "exit code {}, expected {} (\"{e}\")",
                    e.exit_code(),
                    expect.exit
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
    let keys = Keys::read(&dir.join("keys")).expect("the test keys");

    // A fresh token with the test keys (fails, never skips, without SoftHSM).
    common::softhsm_module();
    common::init_token(support::TOKEN_LABEL);
    let module = common::softhsm();
    let token = common::find_token(support::TOKEN_LABEL);
    {
        let session = module.open(&token).expect("open session");
        session
            .login(&SecretString::from(support::USER_PIN))
            .expect("login");
        keys.load(&session).expect("load the test keys");
    }
    let env = TokenEnv {
        default_module: common::softhsm_module(),
    };

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
                            SlotKind::Pkcs11Aes => support::AES_LABEL,
                            SlotKind::Pkcs11P256 => support::P256_LABEL,
                            SlotKind::PivP256 => {
                                problems.push("a PIV slot: no test token for it".into());
                                continue;
                            }
                        };
                        let uri = format!("pkcs11:token={};object={key}", support::TOKEN_LABEL);
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
