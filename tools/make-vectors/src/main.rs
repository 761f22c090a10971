//! Makes the frozen test vectors of custody's file format (run by hand, then commit the result):
//!
//! ```text
//! cargo run --manifest-path tools/make-vectors/Cargo.toml -- tests/vectors
//! ```
//!
//! Vectors are frozen: this never replaces a file that exists. It makes the test keys in
//! `keys/` once (if they are missing), loads them into a fresh SoftHSM2 token, writes each
//! positive vector that is missing with `custody::internals::ceremony::backup`, and derives each
//! negative vector that is missing from the positive files on disk. Every new negative is opened
//! with the real code; its `.expect` records what was observed, and only if that is the outcome
//! declared (a vector whose outcome differs is reported and not written, and the run fails).
//! `tests/vectors.rs` then checks all of them.
//!
//! Split sets: it deals each set of `base_sets()` once (with
//! `custody::internals::ceremony::backup_set`, or by hand for the dishonest-dealer set) unless the
//! set's *home* case already holds its files, then makes each missing case of `set_cases()` as
//! `sets/<case>/` (the files given, copied, and `case.expect`), opened with
//! `custody::internals::ceremony::open_set` and written only if it behaves as declared; and the
//! flat `share-alone-*` vectors, share files given alone to the single-file restore, recorded as
//! observed.
//!
//! The modules: [`positives`], [`negatives`] (made with [`edit`]), [`split_sets`], and
//! [`observe`], which opens each new vector before it is written.

// The tests' SoftHSM fixture and vector harness, included by path so that the vectors are
// written and checked by one copy. The parts only the tests use are not dead.
#[path = "../../../tests/common/softhsm.rs"]
#[allow(dead_code)]
mod softhsm;
#[path = "../../../tests/common/vectors/mod.rs"]
#[allow(dead_code)]
mod vectors;

// The CLI's exit codes, which the `.expect` files record.
#[path = "../../../src/cli/exit.rs"]
#[allow(dead_code)]
mod cli_exit;

mod edit;
mod negatives;
mod observe;
mod positives;
mod split_sets;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use custody::internals::ceremony;
use custody::internals::crypto;
use custody::internals::format::{self, Descriptor, KdfParams, SlotKind};
use custody::internals::secret::MasterSecret;
use custody::internals::token::registry::TokenEnv;
use custody::internals::token::uri::TokenLocator;
use secrecy::SecretString;
use vectors::{Expect, Keys, Scripted};

use negatives::{Bases, negatives};
use observe::{observe, write_new};
use positives::positives;
use split_sets::make_sets;

fn ensure_keys(keys_dir: &Path) -> Keys {
    let aes = keys_dir.join(vectors::AES_KEY_FILE);
    let ec = keys_dir.join(vectors::P256_KEY_FILE);
    match (aes.exists(), ec.exists()) {
        (true, true) => {}
        (false, false) => {
            std::fs::create_dir_all(keys_dir).expect("create keys dir");
            let scalar = loop {
                let s: [u8; 32] = crypto::random_array();
                if p256::SecretKey::from_bytes(&s.into()).is_ok() {
                    break s;
                }
            };
            write_new(
                &aes,
                format!("{}\n", hex::encode(crypto::random_array::<32>())).as_bytes(),
            );
            write_new(&ec, format!("{}\n", hex::encode(scalar)).as_bytes());
            println!("made new test keys in {}", keys_dir.display());
        }
        _ => panic!(
            "only one of {} and {} exists: the test keys are frozen, restore the other",
            aes.display(),
            ec.display()
        ),
    }
    Keys::read(keys_dir).expect("read keys")
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: make-vectors <vectors directory>"),
    );
    std::fs::create_dir_all(&dir).expect("create the vectors directory");
    let keys = ensure_keys(&dir.join("keys"));

    // A fresh token in this process (SOFTHSM2_CONF is set by the fixture before the module loads).
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
    let env = TokenEnv {
        module: Some(softhsm::softhsm_module()),
        registered: Vec::new(),
    };
    let work = softhsm::process_token_dir()
        .parent()
        .expect("parent")
        .to_path_buf();

    // The public-key file of vector-p256, as `custody token pubkey` writes it.
    let point = keys.p256_point();
    let pubkey = format::PubkeyFile {
        descriptor: Descriptor::Pkcs11 {
            kind: SlotKind::Pkcs11P256,
            token_label: vectors::TOKEN_LABEL.into(),
            token_serial: token.serial.clone(),
            key_label: vectors::P256_LABEL.into(),
            key_id: vectors::P256_ID.to_vec(),
            key_hash: Some(crypto::p256_key_hash(&point)),
        },
        public_key: point,
    }
    .encode()
    .expect("encode the pubkey file");
    let pubkey_path = work.join("vector-p256.pubkey");
    std::fs::write(&pubkey_path, &pubkey).expect("write the pubkey file");

    let mut bases: Bases = BTreeMap::new();
    bases.insert("pubkey-file".into(), pubkey);
    let mut passwords: BTreeMap<&str, &str> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut pending = Vec::new();

    for p in positives() {
        let path = dir.join(format!("{}.custody", p.name));
        let expect_path = dir.join(format!("{}.expect", p.name));
        passwords.insert(p.name, p.password);
        if path.exists() {
            assert!(expect_path.exists(), "{} has no .expect", path.display());
            println!("kept     {}", p.name);
        } else {
            assert!(
                !expect_path.exists(),
                "{} exists alone",
                expect_path.display()
            );
            let mut secret = vec![0u8; p.secret_len];
            crypto::fill_random(&mut secret);
            let tokens = p
                .tokens
                .iter()
                .map(|t| {
                    ceremony::KeySpec::Locator(if *t == "pubkey" {
                        TokenLocator::Pubkey(pubkey_path.clone())
                    } else {
                        TokenLocator::from_str(t).expect("locator")
                    })
                })
                .collect();
            let req = ceremony::SetRequest::single(
                ceremony::Output::Path(path.clone()),
                tokens,
                p.hint.map(String::from),
                p.label,
                KdfParams {
                    memory_kib: 8 * 1024,
                    iterations: 1,
                    parallelism: 1,
                },
                ceremony::BackupOptions {
                    allow_weak_kdf: true,
                    single_token: true,
                    // The vector keys are imported (tests/vectors/keys), never bound to a token.
                    allow_exportable_key: true,
                    ..ceremony::BackupOptions::default()
                },
            )
            .unwrap_or_else(|e| panic!("backup {}: {e}", p.name));
            let master = MasterSecret::from_slice(&secret).expect("a vector secret");
            let mut prompter = Scripted::new(p.password);
            ceremony::backup(req, master, env.clone(), &mut prompter)
                .unwrap_or_else(|e| panic!("backup {}: {e}", p.name));
            let expect = Expect {
                expect: "ok".into(),
                exit: 0,
                password: p.expect_password.unwrap_or(p.password).into(),
                secret: Some(secret),
                token_used: None,
                comment: p.comment.into(),
            };
            write_new(&expect_path, expect.encode().as_bytes());
            println!("made     {}", p.name);
        }
        let expect = Expect::parse(&std::fs::read_to_string(&expect_path).expect("read"))
            .expect("parse .expect");
        let o = observe(&path, &expect.password, &env);
        if o.secret != expect.secret {
            failures.push(format!(
                "{}: did not open to its secret: {}",
                p.name, o.message
            ));
        }
        bases.insert(p.name.into(), std::fs::read(&path).expect("read"));
    }

    for n in negatives() {
        let path = dir.join(format!("{}.custody", n.name));
        let expect_path = dir.join(format!("{}.expect", n.name));
        if path.exists() {
            assert!(expect_path.exists(), "{} has no .expect", path.display());
            println!("kept     {}", n.name);
            continue;
        }
        assert!(
            !expect_path.exists(),
            "{} exists alone",
            expect_path.display()
        );
        let bytes = (n.make)(&bases[n.base], &bases);
        assert!(
            n.password.is_some() || bytes != bases[n.base],
            "{} changes nothing",
            n.name
        );
        let password = n.password.unwrap_or(passwords[n.base]);
        // Observe from a scratch copy; write the vector only if it behaves as declared.
        let scratch = work.join(format!("{}.custody", n.name));
        std::fs::write(&scratch, &bytes).expect("write scratch");
        let o = observe(&scratch, password, &env);
        let want_exit = match n.expect {
            "auth" => cli_exit::AUTH,
            "not-found" => cli_exit::NOT_FOUND,
            _ => cli_exit::DAMAGED,
        };
        let mut problems = Vec::new();
        if o.category != n.expect {
            problems.push(format!("came out as {}, declared {}", o.category, n.expect));
        }
        if o.exit != want_exit {
            problems.push(format!("exit {} (want {want_exit})", o.exit));
        }
        if n.token_used == Some(false) && o.pin_asked != 0 {
            problems.push(format!("a PIN was asked {} time(s)", o.pin_asked));
        }
        if o.secret.is_some() {
            problems.push("it opened".into());
        }
        let status = match (problems.is_empty(), n.pending) {
            (true, _) => "made    ",
            (false, None) => "REFUSED ",
            (false, Some(_)) => "PENDING ",
        };
        println!(
            "{status} {:<28} {:<12} exit {}  pin asked {}  {}",
            n.name, o.category, o.exit, o.pin_asked, o.message
        );
        if !problems.is_empty() {
            match n.pending {
                Some(why) => pending.push(format!("{}: {} ({why})", n.name, problems.join("; "))),
                None => failures.push(format!("{}: {}", n.name, problems.join("; "))),
            }
            continue;
        }
        write_new(&path, &bytes);
        let expect = Expect {
            expect: o.category,
            exit: o.exit,
            password: password.into(),
            secret: None,
            token_used: n.token_used,
            comment: n.comment.into(),
        };
        write_new(&expect_path, expect.encode().as_bytes());
    }

    make_sets(&dir, &work, &env, &mut failures, &mut pending);

    if !pending.is_empty() {
        eprintln!(
            "\n{} pending vector(s), not written until the code behaves as declared:",
            pending.len()
        );
        for p in &pending {
            eprintln!("  {p}");
        }
    }
    if !failures.is_empty() {
        eprintln!(
            "\n{} problem(s), those vectors were not written:",
            failures.len()
        );
        for f in &failures {
            eprintln!("  {f}");
        }
        std::process::exit(1);
    }
}
