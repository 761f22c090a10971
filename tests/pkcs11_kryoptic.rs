//! The PKCS#11 backend against kryoptic, a second implementation beside SoftHSM2
//! (tests/pkcs11_softhsm.rs): the library cases that hold for any module, in-process, and the
//! command line's token key generation, backup and restore with a kryoptic token.
//!
//! The module comes from tools/kryoptic/build.sh through `CUSTODY_KRYOPTIC_MODULE`
//! (softhsm-config/test.sh sets it); without it these tests fail, they never skip.

// These tests reach the library's internals, which only the `internals` feature makes public.
#[cfg(not(feature = "internals"))]
compile_error!(
    "run the tests with `--features internals,fault-injection` (softhsm-config/test.sh does)"
);

mod common;

use common::cli::{Env, PASSWORD, USER_PIN, assert_restored, exit, uri};
use common::kryoptic;
use custody::internals::token::pkcs11::Pkcs11Error;
use secrecy::SecretString;

pkcs11_library_tests!(common::pkcs11_cases::Kryoptic);

/// `custody token keygen` of `kind` on a kryoptic token, a backup under that key and a
/// restore, with the module, its configuration, the PIN (`CUSTODY_PIN`) and, for the restore,
/// the password (`CUSTODY_PASSWORD`) reaching custody through its environment.
fn cli_round_trip(kind: &str, key_kind: &str) {
    let env = Env::kryoptic(&format!("kryoptic-{kind}"));
    let serial = env.init_token("kry-tok");
    env.keygen("kry-tok", "kry-key", kind)
        .stdout_has(&["\"kry-key\"", "made on the token"]);
    let secret = env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("kry-tok", "kry-key")],
        "b.cb",
        &["--single-token"],
    )
    .ok()
    .stdout_has(&["(opened)", &serial]);
    let out = env.run_env(
        ["restore", &env.p("b.cb"), "--out", &env.p("r.bin")],
        &[("CUSTODY_PASSWORD", Some(PASSWORD))],
    );
    out.ok().stderr_has(&[
        "Restored 32 bytes",
        "opened with PKCS#11 token \"kry-tok\"",
        &format!("{key_kind} key \"kry-key\""),
    ]);
    assert_restored(&env, "r.bin", &secret);
}

#[test]
fn cli_keygen_backup_restore_aes() {
    cli_round_trip("aes", "AES");
}

#[test]
fn cli_keygen_backup_restore_p256() {
    cli_round_trip("p256", "P-256");
}

/// Unlike SoftHSM, kryoptic locks the user PIN after ten wrong tries, and its token flags say
/// so as it comes: few tries left, the final try, locked. The try that locks it is refused as
/// `CKR_PIN_LOCKED` (not `CKR_PIN_INCORRECT`), and so is the right PIN afterwards.
#[test]
fn a_pin_locks_after_ten_wrong_tries_and_says_so_first() {
    let (_so_pin, pin) = kryoptic::init_token("locking");
    let module = kryoptic::kryoptic();
    let session = module.open(&kryoptic::find_token("locking")).unwrap();
    let wrong = SecretString::from("99999999");
    for tries_left in (2..=10).rev() {
        let token = kryoptic::find_token("locking");
        let flags = (token.pin_count_low, token.pin_final_try, token.pin_locked);
        assert_eq!(
            flags,
            (tries_left <= 3, false, false),
            "{tries_left}: {token:?}"
        );
        let err = session.login(&wrong).unwrap_err();
        assert!(matches!(err, Pkcs11Error::PinIncorrect), "{err:?}");
    }
    let token = kryoptic::find_token("locking");
    assert!(token.pin_final_try && !token.pin_locked, "{token:?}");
    let err = session.login(&wrong).unwrap_err();
    assert!(matches!(err, Pkcs11Error::PinLocked), "{err:?}");
    assert!(kryoptic::find_token("locking").pin_locked);
    let err = session.login(&SecretString::from(pin)).unwrap_err();
    assert!(matches!(err, Pkcs11Error::PinLocked), "{err:?}");
}

/// The same from the command line: wrong PINs are refused (exit 3) one try a run, the run
/// whose try locks the PIN and every run after it say it is locked (exit 6).
#[test]
fn cli_wrong_pins_lock_the_token_and_restore_says_so() {
    let env = Env::kryoptic("kryoptic-lock");
    env.init_token("kry-lock");
    env.keygen("kry-lock", "k", "aes");
    env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("kry-lock", "k")],
        "b.cb",
        &["--single-token"],
    )
    .ok();
    let restore = |pin: &str| {
        env.run_env(
            ["restore", &env.p("b.cb"), "--out", &env.p("r.bin")],
            &[
                ("CUSTODY_PASSWORD", Some(PASSWORD)),
                ("CUSTODY_PIN", Some(pin)),
            ],
        )
    };
    for _ in 1..=8 {
        restore("99999999")
            .code(exit::AUTH)
            .error_has(&["was refused"])
            .stderr_lacks(&["will lock", "is locked"]);
    }
    restore("99999999")
        .code(exit::AUTH)
        .error_has(&["was refused", "the next wrong PIN will lock it"]);
    // The tenth wrong PIN is refused as locked; then not even the right one is tried.
    restore("99999999")
        .code(exit::PIN_LOCKED)
        .error_has(&["is locked"]);
    restore(USER_PIN)
        .code(exit::PIN_LOCKED)
        .error_has(&["is locked"])
        .stderr_lacks(&["logging in"]);
    env.assert_absent("r.bin");
}
