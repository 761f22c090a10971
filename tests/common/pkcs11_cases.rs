//! The PKCS#11 library tests that hold for any module: each case takes a [`Fixture`] (SoftHSM2
//! or kryoptic, loaded in the test process), and [`pkcs11_library_tests!`] makes one `#[test]`
//! of each case for a fixture. Where modules differ, the code under test must cope, not the
//! cases: a case asserts what custody promises, whatever the module.

use std::path::PathBuf;
use std::sync::Arc;

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};
use custody::internals::token::pkcs11::{
    KeyInfo, KeyKind, Module, P256_EC_PARAMS, Pkcs11Error, Session, TokenInfo, binding_problems,
};
use p256::elliptic_curve::Generate;
use secrecy::SecretString;

use super::{kryoptic, softhsm};

/// A PKCS#11 module loaded in the test process, with fresh tokens to order.
pub trait Fixture {
    /// The module's file.
    fn module_path(&self) -> PathBuf;
    /// The module, loaded (once a process) with this process's configuration.
    fn module(&self) -> Arc<Module>;
    /// Makes a fresh token labelled `label`; returns its user PIN.
    fn init_token(&self, label: &str) -> String;
    /// The one token labelled `label`.
    fn find_token(&self, label: &str) -> TokenInfo;
    /// What the module's tokens give as manufacturer (a part of it).
    fn manufacturer(&self) -> &'static str;
}

/// SoftHSM2 ([`softhsm`]).
pub struct SoftHsm;

impl Fixture for SoftHsm {
    fn module_path(&self) -> PathBuf {
        softhsm::softhsm_module()
    }
    fn module(&self) -> Arc<Module> {
        softhsm::softhsm()
    }
    fn init_token(&self, label: &str) -> String {
        softhsm::init_token(label).1
    }
    fn find_token(&self, label: &str) -> TokenInfo {
        softhsm::find_token(label)
    }
    fn manufacturer(&self) -> &'static str {
        "SoftHSM"
    }
}

/// kryoptic ([`kryoptic`]).
pub struct Kryoptic;

impl Fixture for Kryoptic {
    fn module_path(&self) -> PathBuf {
        kryoptic::module()
    }
    fn module(&self) -> Arc<Module> {
        kryoptic::kryoptic()
    }
    fn init_token(&self, label: &str) -> String {
        kryoptic::init_token(label).1
    }
    fn find_token(&self, label: &str) -> TokenInfo {
        kryoptic::find_token(label)
    }
    fn manufacturer(&self) -> &'static str {
        "Kryoptic"
    }
}

/// One `#[test]` of each case below, named after it, against the fixture `$fixture` (a path to
/// one of the [`Fixture`]s), in the test file that says `pkcs11_library_tests!(...)`.
#[macro_export]
macro_rules! pkcs11_library_tests {
    ($fixture:path) => {
        $crate::pkcs11_library_tests!(@each $fixture;
            token_listing,
            aes_keygen_attributes_and_gcm_round_trip,
            aes_gcm_rejects_wrong_aad_damage_and_wrong_key,
            p256_keygen_and_ecdh_match_software,
            ecdh_leaves_no_session_objects,
            ec_key_that_may_not_derive_is_refused,
            an_imported_key_is_not_bound,
            wrong_pin_is_pin_incorrect_and_login_twice_is_ok,
            keys_without_login_are_not_visible,
            module_load_is_cached,
        );
    };
    (@each $fixture:path; $($case:ident),* $(,)?) => {
        $(
            #[test]
            fn $case() {
                $crate::common::pkcs11_cases::$case(&$fixture);
            }
        )*
    };
}

/// A fresh token labelled `label`, and a logged-in session on it.
pub fn logged_in(f: &dyn Fixture, label: &str) -> (Arc<Module>, TokenInfo, Session) {
    let pin = f.init_token(label);
    let module = f.module();
    let token = f.find_token(label);
    let session = module.open(&token).expect("open session");
    session.login(&SecretString::from(pin)).expect("login");
    (module, token, session)
}

/// A software ECDH with the token's public point: (ephemeral public point, shared secret).
pub fn software_ecdh(token_public: &[u8; 65]) -> ([u8; 65], [u8; 32]) {
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

pub fn assert_ecdh_matches_software(session: &Session, key: &KeyInfo) {
    let point = key.public_point.expect("public point");
    let (peer, expected) = software_ecdh(&point);
    let shared = session.ecdh_p256(key, &peer).expect("ECDH on token");
    assert_eq!(*shared, expected, "token ECDH differs from software ECDH");
}

/// AES-GCM with `key` gives back what it was given.
pub fn assert_gcm_round_trip(session: &Session, key: &KeyInfo) {
    let mut iv = [0x42; 12];
    let ciphertext = session
        .aes_gcm_encrypt(key, &mut iv, b"", b"hello")
        .unwrap();
    let plaintext = session.aes_gcm_decrypt(key, &iv, b"", &ciphertext).unwrap();
    assert_eq!(plaintext.as_slice(), b"hello");
}

pub fn token_listing(f: &dyn Fixture) {
    let (_module, token, _session) = logged_in(f, "list-token");
    assert_eq!(token.label, "list-token");
    assert!(token.initialized);
    assert!(!token.serial.is_empty());
    assert!(!token.serial.ends_with(' '));
    assert!(token.manufacturer.contains(f.manufacturer()), "{token:?}");
    assert!(token.login_required);
    assert!(!token.protected_auth_path);
    assert!(!token.pin_locked);
}

pub fn aes_keygen_attributes_and_gcm_round_trip(f: &dyn Fixture) {
    let (_module, _token, session) = logged_in(f, "aes-round-trip");
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
    assert_eq!(binding_problems(&key), Vec::<String>::new());

    let found = session
        .find_keys(Some("custody-aes"), None, KeyKind::Aes)
        .unwrap();
    assert_eq!(found.len(), 1);
    let by_id = session
        .find_keys(None, Some(&[0xa1]), KeyKind::Aes)
        .unwrap();
    assert_eq!(by_id.len(), 1);
    assert_eq!(binding_problems(&by_id[0]), Vec::<String>::new());
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

pub fn aes_gcm_rejects_wrong_aad_damage_and_wrong_key(f: &dyn Fixture) {
    let (_module, _token, session) = logged_in(f, "aes-reject");
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

pub fn p256_keygen_and_ecdh_match_software(f: &dyn Fixture) {
    let (module, token, session) = logged_in(f, "p256-ecdh");
    let key = session.generate_p256("custody-ec", &[0xec, 1]).unwrap();
    assert_eq!(key.kind, KeyKind::P256);
    assert!(key.is_p256);
    assert_eq!(key.label, "custody-ec");
    assert_eq!(key.id, [0xec, 1]);
    assert_eq!(key.sensitive, Some(true));
    assert_eq!(key.extractable, Some(false));
    assert_eq!(key.local, Some(true));
    assert_eq!(key.can_derive, Some(true));
    assert_eq!(binding_problems(&key), Vec::<String>::new());
    let point = key.public_point.expect("public point");
    assert_eq!(point[0], 0x04);
    p256::PublicKey::from_sec1_bytes(&point).expect("valid P-256 point");

    // Found again, the private object may have no CKA_EC_POINT (SoftHSM's has none): the point
    // then comes from the public object.
    let found = session
        .find_keys(None, Some(&[0xec, 1]), KeyKind::P256)
        .unwrap();
    assert_eq!(found.len(), 1);
    assert_eq!(found[0].public_point, Some(point));
    assert!(found[0].is_p256);
    assert_eq!(binding_problems(&found[0]), Vec::<String>::new());
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

pub fn ecdh_leaves_no_session_objects(f: &dyn Fixture) {
    let (_module, _token, session) = logged_in(f, "ecdh-cleanup");
    let key = session.generate_p256("ec", &[3]).unwrap();
    let before = session_secret_keys(&session);
    for _ in 0..3 {
        assert_ecdh_matches_software(&session, &key);
    }
    assert_eq!(session_secret_keys(&session), before);

    // A failed derivation leaves nothing behind either.
    let mut off_curve = key.public_point.unwrap();
    off_curve[64] ^= 1;
    assert!(session.ecdh_p256(&key, &off_curve).is_err());
    assert_eq!(session_secret_keys(&session), before);
}

/// A P-256 pair made for signing only (`CKA_DERIVE` false on the private key, as
/// `pkcs11-tool --usage-sign` makes them): custody refuses ECDH with it by name.
pub fn ec_key_that_may_not_derive_is_refused(f: &dyn Fixture) {
    let (_module, _token, session) = logged_in(f, "ec-sign-only");
    let common = [
        Attribute::KeyType(KeyType::EC),
        Attribute::Token(true),
        Attribute::Label(b"sign-only".to_vec()),
        Attribute::Id(vec![3]),
    ];
    let public = [
        &common[..],
        &[
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::EcParams(P256_EC_PARAMS.to_vec()),
            Attribute::Verify(true),
        ],
    ]
    .concat();
    let private = [
        &common[..],
        &[
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Sign(true),
            Attribute::Derive(false),
        ],
    ]
    .concat();
    session
        .cryptoki()
        .generate_key_pair(&Mechanism::EccKeyPairGen, &public, &private)
        .expect("C_GenerateKeyPair");
    assert_sign_only_key_refused(&session, "sign-only", &[3]);
}

/// The P-256 key `label`/`id` says it may not derive (`CKA_DERIVE` false), and custody refuses
/// ECDH with it by name.
pub fn assert_sign_only_key_refused(session: &Session, label: &str, id: &[u8]) {
    let keys = session
        .find_keys(Some(label), Some(id), KeyKind::P256)
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

/// A key whose value was given to the token (`C_CreateObject`) works, but is not bound to the
/// token: `binding_problems` says `CKA_LOCAL` is false, and custody refuses it for a backup.
pub fn an_imported_key_is_not_bound(f: &dyn Fixture) {
    let (_module, _token, session) = logged_in(f, "imported");
    session
        .cryptoki()
        .create_object(&[
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Value(vec![0x5a; 32]),
            Attribute::Label(b"imported-aes".to_vec()),
            Attribute::Id(vec![6]),
        ])
        .expect("C_CreateObject");
    let keys = session
        .find_keys(Some("imported-aes"), Some(&[6]), KeyKind::Aes)
        .unwrap();
    assert_eq!(keys.len(), 1);
    let key = &keys[0];
    assert_eq!(key.local, Some(false));
    assert_eq!(key.sensitive, Some(true));
    assert_eq!(key.value_len, Some(32));
    let problems = binding_problems(key);
    assert!(
        problems.iter().any(|p| p.starts_with("CKA_LOCAL is false")),
        "{problems:?}"
    );
    assert_gcm_round_trip(&session, key);
}

pub fn wrong_pin_is_pin_incorrect_and_login_twice_is_ok(f: &dyn Fixture) {
    let pin = f.init_token("wrong-pin");
    let module = f.module();
    let token = f.find_token("wrong-pin");
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

    // Two wrong tries lock no token here (SoftHSM never locks, kryoptic after ten), and are
    // not the last try either. (Whether one wrong try already sets CKF_USER_PIN_COUNT_LOW
    // differs: SoftHSM sets it, kryoptic only with 2 or 3 tries left.)
    let token = f.find_token("wrong-pin");
    assert!(!token.pin_locked, "{token:?}");
    assert!(!token.pin_final_try, "{token:?}");

    session.login(&SecretString::from(pin.clone())).unwrap();
    session.login(&SecretString::from(pin)).unwrap();
}

pub fn keys_without_login_are_not_visible(f: &dyn Fixture) {
    let pin = f.init_token("no-login");
    let module = f.module();
    let token = f.find_token("no-login");
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

pub fn module_load_is_cached(f: &dyn Fixture) {
    // Loaded through the fixture first, with the process's configuration.
    let first = f.module();
    let path = f.module_path();
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
