//! The PKCS#11 backend against a real SoftHSM2 token (no mocks).

// These tests reach the library's internals, which only the `internals` feature makes public.
#[cfg(not(feature = "internals"))]
compile_error!(
    "run the tests with `--features internals,fault-injection` (softhsm-config/test.sh does)"
);

mod common;

use std::path::Path;

use common::pkcs11_cases::{
    SoftHsm, assert_ecdh_matches_software, assert_gcm_round_trip, assert_sign_only_key_refused,
    logged_in,
};
use common::softhsm;
use custody::internals::token::pkcs11::{KeyKind, Module, Pkcs11Error};

// The cases that hold for any module (tests/common/pkcs11_cases.rs), against SoftHSM2;
// tests/pkcs11_kryoptic.rs runs them against kryoptic.
pkcs11_library_tests!(common::pkcs11_cases::SoftHsm);

// What follows is SoftHSM's own: keys made by pkcs11-tool on a SoftHSM token, and loading
// failures.

#[test]
fn pkcs11_tool_aes_key_is_usable_for_gcm() {
    let (_module, _token, session) = logged_in(&SoftHsm, "tool-aes");
    softhsm::pkcs11_tool(
        "tool-aes",
        &[
            "--keygen",
            "--key-type",
            "AES:32",
            "--sensitive",
            "--label",
            "tool-aes-key",
            "--id",
            "01",
        ],
    );
    let keys = session
        .find_keys(Some("tool-aes-key"), Some(&[1]), KeyKind::Aes)
        .unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key.sensitive, Some(true));
    assert_eq!(key.value_len, Some(32));
    assert_gcm_round_trip(&session, key);
}

#[test]
fn pkcs11_tool_ec_key_is_usable_for_ecdh() {
    let (_module, _token, session) = logged_in(&SoftHsm, "tool-ec");
    softhsm::pkcs11_tool(
        "tool-ec",
        &[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--usage-derive",
            "--label",
            "tool-ec-key",
            "--id",
            "02",
        ],
    );
    let keys = session
        .find_keys(Some("tool-ec-key"), None, KeyKind::P256)
        .unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert!(key.is_p256);
    assert_eq!(key.id, [2]);
    assert_eq!(key.can_derive, Some(true));
    assert!(key.public_point.is_some());
    assert_ecdh_matches_software(&session, key);
}

#[test]
fn ec_key_without_derive_is_refused() {
    let (_module, _token, session) = logged_in(&SoftHsm, "tool-ec-sign");
    softhsm::pkcs11_tool(
        "tool-ec-sign",
        &[
            "--keypairgen",
            "--key-type",
            "EC:prime256v1",
            "--usage-sign",
            "--label",
            "sign-only",
            "--id",
            "03",
        ],
    );
    assert_sign_only_key_refused(&session, "sign-only", &[3]);
}

#[test]
fn missing_module_is_library_load_error() {
    let path = Path::new("/nonexistent/custody/libnothing.so");
    let err = Module::load(path).unwrap_err();
    match &err {
        Pkcs11Error::LibraryLoad { path: p, reason } => {
            assert_eq!(p, path);
            assert!(!reason.is_empty());
        }
        other => panic!("expected LibraryLoad, got {other:?}"),
    }
    assert!(
        err.to_string()
            .contains("/nonexistent/custody/libnothing.so")
    );

    // A file that exists but is no PKCS#11 module.
    let fake = softhsm::process_token_dir().join("../not-a-module.so");
    std::fs::write(&fake, b"not a shared library").unwrap();
    let err = Module::load(&fake).unwrap_err();
    assert!(matches!(err, Pkcs11Error::LibraryLoad { .. }), "{err:?}");
}
