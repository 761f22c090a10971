//! Smoke test of piv-card through the `yubikey` crate (the version custody uses).
//!
//! Needs a running card: `tools/piv-card/run-with-card.sh cargo run --release --manifest-path
//! tools/piv-card/Cargo.toml --example smoke`. Generates a P-256 key in retired slot 0x82 (R1),
//! overwriting whatever is there: use it on the virtual card only.

use std::{process::ExitCode, str::FromStr, time::Instant};

use p256::{ecdh::EphemeralSecret, elliptic_curve::Generate, PublicKey, Sec1Point};
use x509_cert::{
    der::{Decode, Encode},
    name::Name,
    serial_number::SerialNumber,
    spki::SubjectPublicKeyInfoOwned,
    time::Validity,
};
use yubikey::{
    certificate::Certificate,
    piv::{self, AlgorithmId, RetiredSlotId, SlotId},
    Error, MgmKey, PinPolicy, TouchPolicy, YubiKey,
};

const PIN: &[u8] = b"123456";
const SLOT: SlotId = SlotId::Retired(RetiredSlotId::R1); // 0x82

struct Report {
    passed: usize,
    failed: usize,
}

impl Report {
    fn check(&mut self, what: &str, ok: bool, detail: impl std::fmt::Display) {
        if ok {
            self.passed += 1;
            println!("ok    {what}: {detail}");
        } else {
            self.failed += 1;
            println!("FAIL  {what}: {detail}");
        }
    }
}

fn ms(t: Instant) -> String {
    format!("{:.1} ms", t.elapsed().as_secs_f64() * 1000.0)
}

fn card_public_key(spki: &SubjectPublicKeyInfoOwned) -> Result<PublicKey, String> {
    let bytes = spki
        .subject_public_key
        .as_bytes()
        .ok_or("public key bit string has unused bits")?;
    PublicKey::from_sec1_bytes(bytes).map_err(|e| format!("not a P-256 point: {e}"))
}

/// ECDH on the card against a fresh ephemeral point, compared with software ECDH.
fn ecdh_matches(yk: &mut YubiKey, card_pub: &PublicKey) -> Result<(bool, String), Error> {
    let ephemeral = EphemeralSecret::generate();
    let point = Sec1Point::from(ephemeral.public_key()); // uncompressed 04||X||Y
    let t = Instant::now();
    let shared_on_card = piv::decrypt_data(yk, point.as_bytes(), AlgorithmId::EccP256, SLOT)?;
    let elapsed = ms(t);
    let shared_in_software = ephemeral.diffie_hellman(card_pub);
    let same = shared_on_card.as_slice() == shared_in_software.raw_secret_bytes().as_slice();
    Ok((same, format!("{} bytes, {elapsed}", shared_on_card.len())))
}

fn main() -> ExitCode {
    if std::env::var_os("RUST_LOG").is_some() {
        env_logger_init();
    }
    let mut r = Report {
        passed: 0,
        failed: 0,
    };
    match run(&mut r) {
        Ok(()) => {}
        Err(e) => {
            r.failed += 1;
            println!("FAIL  aborted: {e}");
        }
    }
    println!("{} passed, {} failed", r.passed, r.failed);
    if r.failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn env_logger_init() {
    // The yubikey crate logs through `log`; a minimal stderr logger keeps dependencies small.
    struct Stderr;
    impl log::Log for Stderr {
        fn enabled(&self, _: &log::Metadata) -> bool {
            true
        }
        fn log(&self, record: &log::Record) {
            eprintln!("[{} {}] {}", record.level(), record.target(), record.args());
        }
        fn flush(&self) {}
    }
    let _ = log::set_boxed_logger(Box::new(Stderr));
    log::set_max_level(log::LevelFilter::Debug);
}

fn run(r: &mut Report) -> Result<(), String> {
    let t = Instant::now();
    let mut yk = YubiKey::open().map_err(|e| format!("YubiKey::open: {e:?}"))?;
    r.check("open", true, format!("{} ({})", yk.name(), ms(t)));
    r.check("serial", true, yk.serial());
    r.check("version", yk.version().major == 5, yk.version());

    // Wrong PIN: the card must report the tries left, and never be retried automatically.
    let before = yk
        .get_pin_retries()
        .map_err(|e| format!("get_pin_retries: {e:?}"))?;
    match yk.verify_pin(b"000000") {
        Err(Error::WrongPin { tries }) => r.check(
            "wrong PIN",
            tries + 1 == before,
            format!("WrongPin {{ tries: {tries} }} (was {before})"),
        ),
        other => r.check("wrong PIN", false, format!("{other:?}")),
    }

    let t = Instant::now();
    let res = yk.verify_pin(PIN);
    r.check(
        "verify PIN 123456",
        res.is_ok(),
        format!("{res:?} ({})", ms(t)),
    );
    let tries = yk.get_pin_retries();
    r.check(
        "tries reset after good PIN",
        tries == Ok(before),
        format!("{tries:?}"),
    );
    // get_pin_retries re-selects the applet, which drops the PIN verification: verify again.
    yk.verify_pin(PIN)
        .map_err(|e| format!("verify_pin: {e:?}"))?;

    let mgm = MgmKey::get_default(&yk).map_err(|e| format!("MgmKey::get_default: {e:?}"))?;
    let t = Instant::now();
    let res = yk.authenticate(&mgm);
    r.check(
        "authenticate default management key",
        res.is_ok(),
        format!("{:?}, {res:?} ({})", mgm.algorithm_id(), ms(t)),
    );

    let t = Instant::now();
    let spki = piv::generate(
        &mut yk,
        SLOT,
        AlgorithmId::EccP256,
        PinPolicy::Default,
        TouchPolicy::Default,
    )
    .map_err(|e| format!("piv::generate: {e:?}"))?;
    r.check("generate P-256 in slot 0x82", true, ms(t));
    let card_pub = card_public_key(&spki)?;

    // Self-signed certificate: signs on the card (ECDSA P-256), writes it to the slot.
    let t = Instant::now();
    let validity = Validity::from_now(std::time::Duration::from_secs(3600 * 24))
        .map_err(|e| format!("validity: {e}"))?;
    let cert = Certificate::generate_self_signed::<_, p256::NistP256>(
        &mut yk,
        SLOT,
        SerialNumber::new(&[0x01, 0x02, 0x03]).expect("serial"),
        validity,
        Name::from_str("CN=custody piv-card smoke").expect("name"),
        spki.clone(),
        |_| Ok(()),
    );
    match cert {
        Ok(cert) => {
            r.check("self-signed certificate written", true, ms(t));
            let t = Instant::now();
            match Certificate::read(&mut yk, SLOT) {
                Ok(back) => {
                    let same = back.cert.to_der().ok() == cert.cert.to_der().ok();
                    r.check(
                        "certificate read back",
                        same,
                        format!("{} ({})", back.subject(), ms(t)),
                    );
                    let spki_back = SubjectPublicKeyInfoOwned::from_der(
                        &back.subject_pki().to_der().unwrap_or_default(),
                    );
                    r.check(
                        "certificate holds the generated key",
                        spki_back.as_ref().ok() == Some(&spki),
                        "",
                    );
                }
                Err(e) => r.check("certificate read back", false, format!("{e:?}")),
            }
        }
        Err(e) => r.check("self-signed certificate written", false, format!("{e:?}")),
    }

    match ecdh_matches(&mut yk, &card_pub) {
        Ok((same, detail)) => r.check("ECDH on card == software ECDH", same, detail),
        Err(e) => r.check("ECDH on card == software ECDH", false, format!("{e:?}")),
    }

    // Features of a real YubiKey this card lacks (reported, not counted).
    println!(
        "info  piv::metadata(0x82): {:?}",
        piv::metadata(&mut yk, SLOT).map(|m| m.algorithm)
    );
    println!("info  piv_keys(): {:?}", yk.piv_keys().map(|k| k.len()));

    // A new session: the key is still there, and the card forgot the PIN (reset on disconnect).
    drop(yk);
    let mut yk = YubiKey::open().map_err(|e| format!("YubiKey::open (2nd): {e:?}"))?;
    let res = ecdh_matches(&mut yk, &card_pub);
    r.check(
        "after reconnect, ECDH without PIN is refused",
        res.is_err(),
        format!("{res:?}"),
    );
    yk.verify_pin(PIN)
        .map_err(|e| format!("verify_pin: {e:?}"))?;
    match ecdh_matches(&mut yk, &card_pub) {
        Ok((same, detail)) => r.check("after reconnect + PIN, ECDH still matches", same, detail),
        Err(e) => r.check(
            "after reconnect + PIN, ECDH still matches",
            false,
            format!("{e:?}"),
        ),
    }

    // Lock the PIN with wrong tries, then unblock it with the default PUK (back to 123456).
    let mut last = Ok(());
    for _ in 0..yk.get_pin_retries().unwrap_or(3) {
        last = yk.verify_pin(b"999999");
    }
    let locked = yk.verify_pin(PIN);
    r.check(
        "PIN locked after wrong tries",
        matches!(
            locked,
            Err(Error::PinLocked) | Err(Error::WrongPin { tries: 0 })
        ),
        format!("last wrong try: {last:?}; then the right PIN: {locked:?}"),
    );
    let res = yk.unblock_pin(b"12345678", PIN);
    r.check(
        "unblock with default PUK 12345678",
        res.is_ok(),
        format!("{res:?}"),
    );
    let res = yk.verify_pin(PIN);
    r.check(
        "PIN works again",
        res.is_ok(),
        format!("{res:?}, tries {:?}", yk.get_pin_retries()),
    );
    Ok(())
}
