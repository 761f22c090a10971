//! The PKCS#11 backend against a real SoftHSM2 token (no mocks).

// These tests reach the library's internals, which only the `internals` feature makes public.
#[cfg(not(feature = "internals"))]
compile_error!(
    "run the tests with `--features internals,fault-injection` (softhsm-config/test.sh does)"
);

mod common;

use std::path::Path;
use std::sync::Arc;

use common::softhsm;
use cryptoki::object::{Attribute, ObjectClass};
use custody::internals::token::pkcs11::{
    KeyInfo, KeyKind, Module, Pkcs11Error, Session, TokenInfo,
};
use p256::elliptic_curve::Generate;
use secrecy::SecretString;

/// A fresh token labelled `label`, and a logged-in session on it.
fn logged_in(label: &str) -> (Arc<Module>, TokenInfo, Session) {
    let (_so_pin, pin) = softhsm::init_token(label);
    let module = softhsm::softhsm();
    let token = softhsm::find_token(label);
    let session = module.open(&token).expect("open session");
    session.login(&SecretString::from(pin)).expect("login");
    (module, token, session)
}

fn software_ecdh(token_public: &[u8; 65]) -> ([u8; 65], [u8; 32]) {
    let public = p256::PublicKey::from_sec1_bytes(token_public).expect("token point is valid");
    let ephemeral = p256::ecdh::EphemeralSecret::generate_from_rng(&mut rand::rng());
    let ephemeral_public: [u8; 65] = ephemeral
        .public_key()
        .to_sec1_bytes()
        .as_ref()
        .try_into()
        .expect("uncompressed point");
    let shared = ephemeral.diffie_hellman(&public);
    let shared: [u8; 32] = shared.raw_secret_bytes().as_slice().try_into().unwrap();
    (ephemeral_public, shared)
}

fn session_secret_keys(session: &Session) -> usize {
    session
        .cryptoki()
        .find_objects(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::Token(false),
        ])
        .expect("find session objects")
        .len()
}

fn assert_ecdh_matches_software(session: &Session, key: &KeyInfo) {
    let point = key.public_point.expect("public point");
    let (peer, expected) = software_ecdh(&point);
    let shared = session.ecdh_p256(key, &peer).expect("ECDH on token");
    assert_eq!(*shared, expected, "token ECDH differs from software ECDH");
}

#[test]
fn token_listing() {
    let (_module, token, _session) = logged_in("list-token");
    assert_eq!(token.label, "list-token");
    assert!(!token.serial.is_empty());
    assert!(!token.serial.ends_with(' '));
    assert!(token.manufacturer.contains("SoftHSM"), "{token:?}");
    assert!(token.login_required);
    assert!(!token.protected_auth_path);
    assert!(!token.pin_locked);
}

#[test]
fn aes_keygen_attributes_and_gcm_round_trip() {
    let (_module, _token, session) = logged_in("aes-round-trip");
    let key = session.generate_aes256("custody-aes", &[0xa1]).unwrap();
    assert_eq!(key.kind, KeyKind::Aes);
    assert_eq!(key.label, "custody-aes");
    assert_eq!(key.id, [0xa1]);
    assert_eq!(key.sensitive, Some(true));
    assert_eq!(key.extractable, Some(false));
    assert_eq!(key.local, Some(true));
    assert_eq!(key.always_sensitive, Some(true));
    assert_eq!(key.never_extractable, Some(true));
    assert_eq!(key.can_encrypt, Some(true));
    assert_eq!(key.can_decrypt, Some(true));
    assert_eq!(key.value_len, Some(32));
    assert!(!key.is_p256);
    assert!(key.public_point.is_none());

    let found = session
        .find_keys(Some("custody-aes"), None, KeyKind::Aes)
        .unwrap();
    assert_eq!(found.len(), 1);
    let by_id = session
        .find_keys(None, Some(&[0xa1]), KeyKind::Aes)
        .unwrap();
    assert_eq!(by_id.len(), 1);
    assert!(
        session
            .find_keys(Some("custody-aes"), Some(&[0xa2]), KeyKind::Aes)
            .unwrap()
            .is_empty()
    );
    assert!(
        session
            .find_keys(Some("custody-aes"), None, KeyKind::P256)
            .unwrap()
            .is_empty()
    );

    let mut iv = [7u8; 12];
    let plaintext = b"the master secret, 32 bytes long";
    let ciphertext = session
        .aes_gcm_encrypt(&found[0], &mut iv, b"header", plaintext)
        .unwrap();
    assert_eq!(ciphertext.len(), plaintext.len() + 16);
    assert_ne!(&ciphertext[..plaintext.len()], plaintext);
    let decrypted = session
        .aes_gcm_decrypt(&by_id[0], &iv, b"header", &ciphertext)
        .unwrap();
    assert_eq!(decrypted.as_slice(), plaintext);
}

#[test]
fn aes_gcm_rejects_wrong_aad_damage_and_wrong_key() {
    let (_module, _token, session) = logged_in("aes-reject");
    let key = session.generate_aes256("k", &[1]).unwrap();
    let other = session.generate_aes256("other", &[2]).unwrap();
    let mut iv = [1u8; 12];
    let ciphertext = session
        .aes_gcm_encrypt(&key, &mut iv, b"aad", b"secret")
        .unwrap();

    let err = session
        .aes_gcm_decrypt(&key, &iv, b"other aad", &ciphertext)
        .unwrap_err();
    assert!(matches!(err, Pkcs11Error::DecryptFailed), "{err:?}");

    let mut damaged = ciphertext.clone();
    damaged[0] ^= 1;
    let err = session
        .aes_gcm_decrypt(&key, &iv, b"aad", &damaged)
        .unwrap_err();
    assert!(matches!(err, Pkcs11Error::DecryptFailed), "{err:?}");

    let err = session
        .aes_gcm_decrypt(&other, &iv, b"aad", &ciphertext)
        .unwrap_err();
    assert!(matches!(err, Pkcs11Error::DecryptFailed), "{err:?}");

    let err = session
        .aes_gcm_decrypt(&key, &iv, b"aad", &ciphertext[..10])
        .unwrap_err();
    assert!(matches!(err, Pkcs11Error::DecryptFailed), "{err:?}");

    // The session is still usable after failed decryptions.
    let ok = session
        .aes_gcm_decrypt(&key, &iv, b"aad", &ciphertext)
        .unwrap();
    assert_eq!(ok.as_slice(), b"secret");
}

#[test]
fn p256_keygen_and_ecdh_match_software() {
    let (module, token, session) = logged_in("p256-ecdh");
    let key = session.generate_p256("custody-ec", &[0xec, 1]).unwrap();
    assert_eq!(key.kind, KeyKind::P256);
    assert!(key.is_p256);
    assert_eq!(key.label, "custody-ec");
    assert_eq!(key.id, [0xec, 1]);
    assert_eq!(key.sensitive, Some(true));
    assert_eq!(key.extractable, Some(false));
    assert_eq!(key.local, Some(true));
    assert_eq!(key.can_derive, Some(true));
    let point = key.public_point.expect("public point");
    assert_eq!(point[0], 0x04);
    p256::PublicKey::from_sec1_bytes(&point).expect("valid P-256 point");

    // Found again, the private object has no CKA_EC_POINT on SoftHSM: the point must come
    // from the public object.
    let found = session
        .find_keys(None, Some(&[0xec, 1]), KeyKind::P256)
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].public_point, Some(point));
    assert!(found[0].is_p256);
    assert!(
        session
            .find_keys(None, Some(&[0xec, 1]), KeyKind::Aes)
            .unwrap()
            .is_empty()
    );

    // The public half is readable without login.
    let anonymous = module.open(&token).unwrap();
    let public = anonymous
        .find_public_p256(Some("custody-ec"), None)
        .unwrap();
    assert_eq!(public.len(), 1);
    assert!(public[0].is_p256);
    assert_eq!(public[0].id, [0xec, 1]);
    assert_eq!(public[0].point, Some(point));

    assert_ecdh_matches_software(&session, &key);
    assert_ecdh_matches_software(&session, &found[0]);
}

#[test]
fn ecdh_leaves_no_session_objects() {
    let (_module, _token, session) = logged_in("ecdh-cleanup");
    let key = session.generate_p256("ec", &[3]).unwrap();
    let before = session_secret_keys(&session);
    for _ in 0..3 {
        assert_ecdh_matches_software(&session, &key);
    }
    assert_eq!(session_secret_keys(&session), before);

    // A failed derivation leaves nothing behind either.
    let mut off_curve = key.public_point.unwrap();
    off_curve[64] ^= 1;
    // SoftHSM refuses a point off the curve (CKR_GENERAL_ERROR) at C_DeriveKey.
    assert!(session.ecdh_p256(&key, &off_curve).is_err());
    assert_eq!(session_secret_keys(&session), before);
}

#[test]
fn wrong_pin_is_pin_incorrect_and_login_twice_is_ok() {
    let (_so_pin, pin) = softhsm::init_token("wrong-pin");
    let module = softhsm::softhsm();
    let token = softhsm::find_token("wrong-pin");
    let session = module.open(&token).unwrap();
    let wrong = "999999";
    let err = session.login(&SecretString::from(wrong)).unwrap_err();
    assert!(matches!(err, Pkcs11Error::PinIncorrect), "{err:?}");
    assert!(!err.to_string().contains(wrong));
    assert!(!format!("{err:?}").contains(wrong));

    let err = session.login(&SecretString::from("")).unwrap_err();
    assert!(
        matches!(err, Pkcs11Error::PinInvalid | Pkcs11Error::PinIncorrect),
        "{err:?}"
    );

    // SoftHSM reports the wrong try, but never locks.
    let token = softhsm::find_token("wrong-pin");
    assert!(token.pin_count_low);

    session.login(&SecretString::from(pin.clone())).unwrap();
    session.login(&SecretString::from(pin)).unwrap();
}

#[test]
fn keys_without_login_are_not_visible() {
    let (_so_pin, pin) = softhsm::init_token("no-login");
    let module = softhsm::softhsm();
    let token = softhsm::find_token("no-login");
    let session = module.open(&token).unwrap();
    session.login(&SecretString::from(pin)).unwrap();
    session.generate_aes256("private-aes", &[9]).unwrap();
    drop(session);
    let anonymous = module.open(&token).unwrap();
    assert!(
        anonymous
            .find_keys(Some("private-aes"), None, KeyKind::Aes)
            .unwrap()
            .is_empty()
    );
}

#[test]
fn pkcs11_tool_aes_key_is_usable_for_gcm() {
    let (_module, _token, session) = logged_in("tool-aes");
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
    let mut iv = [0x42; 12];
    let ciphertext = session
        .aes_gcm_encrypt(key, &mut iv, b"", b"hello")
        .unwrap();
    let plaintext = session.aes_gcm_decrypt(key, &iv, b"", &ciphertext).unwrap();
    assert_eq!(plaintext.as_slice(), b"hello");
}

#[test]
fn pkcs11_tool_ec_key_is_usable_for_ecdh() {
    let (_module, _token, session) = logged_in("tool-ec");
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
    let (_module, _token, session) = logged_in("tool-ec-sign");
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
    let keys = session
        .find_keys(Some("sign-only"), Some(&[3]), KeyKind::P256)
        .unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key.can_derive, Some(false));
    let point = key.public_point.expect("public point");
    let (peer, _) = software_ecdh(&point);
    let err = session.ecdh_p256(key, &peer).unwrap_err();
    assert!(
        matches!(
            err,
            Pkcs11Error::KeyFunctionNotPermitted { operation: "ECDH" }
        ),
        "{err:?}"
    );
}

#[test]
fn module_load_is_cached() {
    softhsm::process_token_dir();
    // Loaded through the fixture first: the first load reads every token (see common::softhsm).
    let first = softhsm::softhsm();
    let path = softhsm::softhsm_module();
    let second = Module::load(&path).unwrap();
    let third = Module::load(&path).unwrap();
    assert!(Arc::ptr_eq(&second, &third));
    assert!(Arc::ptr_eq(&first, &second));
    // The same file reached through another spelling of its path is the same module.
    let dotted = path
        .parent()
        .unwrap()
        .join(".")
        .join(path.file_name().unwrap());
    assert!(Arc::ptr_eq(&first, &Module::load(&dotted).unwrap()));
    assert_eq!(first.path(), path.canonicalize().unwrap());
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
