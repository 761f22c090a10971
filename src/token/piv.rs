//! The YubiKey backend: a P-256 key in a PIV slot, over PC/SC. It serves the same
//! [`EcdhP256`] function as a PKCS#11 EC key, so point validation, the key-hash check and the
//! HKDF binding are shared and unchanged.

use std::cell::RefCell;
use std::rc::Rc;

use secrecy::{ExposeSecret, SecretString};
use yubikey::piv::{self, AlgorithmId, SlotId};
use yubikey::{MgmAlgorithmId, MgmKey, Serial, YubiKey};
use zeroize::Zeroizing;

use super::{EcdhP256, TokenError};
use crate::crypto::{self, Key32};

/// Retired key slots, where custody keys live by default.
pub const RETIRED: std::ops::RangeInclusive<u8> = 0x82..=0x95;
/// The subject common name of the certificate custody writes beside its keys.
pub const CERT_CN: &str = "custody";

/// A card as `token list` shows it.
pub struct CardInfo {
    pub reader: String,
    pub serial: u32,
    pub version: String,
    pub pin_tries: Option<u8>,
    /// Slots holding a P-256 key with a custody certificate: slot, uncompressed public key.
    pub custody_slots: Vec<(u8, [u8; 65])>,
}

/// Advice for PC/SC failures, which otherwise say little.
fn pcsc_hint(e: &yubikey::Error) -> String {
    match e {
        yubikey::Error::PcscError { .. } => format!(
            "{e} (is pcscd running? is the YubiKey plugged in and its CCID interface enabled?)"
        ),
        other => other.to_string(),
    }
}

pub fn card_name(serial: u32) -> String {
    format!("YubiKey {serial}")
}

fn map_pin_error(serial: u32, e: yubikey::Error) -> TokenError {
    match e {
        yubikey::Error::WrongPin { tries: 0 } | yubikey::Error::PinLocked => {
            TokenError::PinLocked {
                token: format!(
                    "{} (blocked after too many wrong PINs: unblock it with its PUK, e.g. \
                     `ykman piv access unblock-pin` or `yubico-piv-tool -a unblock-pin`)",
                    card_name(serial)
                ),
            }
        }
        yubikey::Error::WrongPin { tries } => TokenError::PinIncorrect {
            token: format!(
                "{} ({tries} tr{} left)",
                card_name(serial),
                if tries == 1 { "y" } else { "ies" }
            ),
            final_try: tries == 1,
        },
        other => TokenError::Failed {
            token: card_name(serial),
            detail: pcsc_hint(&other),
        },
    }
}

/// Every YubiKey present, each opened once.
fn open_all() -> Result<Vec<(String, YubiKey)>, TokenError> {
    let mut ctx = yubikey::reader::Context::open().map_err(|e| TokenError::NotFound {
        what: format!("cannot reach the smart-card service: {}", pcsc_hint(&e)),
    })?;
    let readers = ctx.iter().map_err(|e| TokenError::NotFound {
        what: format!("cannot list smart-card readers: {}", pcsc_hint(&e)),
    })?;
    let mut out = Vec::new();
    for r in readers {
        let name = r.name().into_owned();
        // A reader without a PIV card (or with another kind of card) is simply not a YubiKey.
        if let Ok(yk) = r.open() {
            out.push((name, yk));
        }
    }
    Ok(out)
}

/// Open the YubiKey with this serial, naming what is present when it is not.
pub fn open_card(serial: u32) -> Result<YubiKey, TokenError> {
    let cards = open_all()?;
    let present: Vec<u32> = cards.iter().map(|(_, yk)| yk.serial().0).collect();
    match cards.into_iter().find(|(_, yk)| yk.serial().0 == serial) {
        Some((_, yk)) => Ok(yk),
        None if present.is_empty() => Err(TokenError::NotFound {
            what: format!(
                "{} is needed, but no YubiKey is present: plug it in",
                card_name(serial)
            ),
        }),
        None => Err(TokenError::NotFound {
            what: format!(
                "{} is needed, but only {} {} present: plug in {}",
                card_name(serial),
                present
                    .iter()
                    .map(|s| card_name(*s))
                    .collect::<Vec<_>>()
                    .join(", "),
                if present.len() == 1 { "is" } else { "are" },
                card_name(serial)
            ),
        }),
    }
}

fn slot_id(slot: u8) -> Result<SlotId, TokenError> {
    SlotId::try_from(slot).map_err(|_| TokenError::NotFound {
        what: format!("{slot:02x} is not a PIV key slot"),
    })
}

/// The uncompressed P-256 point of a SubjectPublicKeyInfo, if it is one.
fn spki_point(bytes: Option<&[u8]>) -> Option<[u8; 65]> {
    let bytes = bytes?;
    crypto::validate_p256_point(bytes).ok()?;
    bytes.try_into().ok()
}

/// The public key in a slot: from its certificate, else from the slot's metadata (firmware
/// ≥ 5.3). An unreadable slot is "no key here", never an error for the caller.
pub fn slot_public_key(yk: &mut YubiKey, slot: u8) -> Option<([u8; 65], bool)> {
    let id = slot_id(slot).ok()?;
    if let Ok(cert) = yubikey::certificate::Certificate::read(yk, id) {
        let custody = cert.subject().contains(&format!("CN={CERT_CN}"));
        if let Some(p) = spki_point(cert.subject_pki().subject_public_key.as_bytes()) {
            return Some((p, custody));
        }
    }
    let meta = piv::metadata(yk, id).ok()?;
    meta.public
        .as_ref()
        .and_then(|k| spki_point(k.subject_public_key.as_bytes()))
        .map(|p| (p, false))
}

/// Serials of the YubiKeys present.
pub fn list_serials() -> Result<Vec<u32>, TokenError> {
    Ok(open_all()?.iter().map(|(_, yk)| serial_of(yk)).collect())
}

/// Whether the slot's key needs a touch: from its metadata (firmware ≥ 5.3); `None` when the
/// card does not say.
pub fn touch_needed(yk: &mut YubiKey, slot: u8) -> Option<bool> {
    let meta = piv::metadata(yk, slot_id(slot).ok()?).ok()?;
    let (_, touch) = meta.policy?;
    Some(matches!(
        touch,
        yubikey::TouchPolicy::Always | yubikey::TouchPolicy::Cached
    ))
}

/// What `token list` shows of every YubiKey present.
pub fn list_cards() -> Result<Vec<CardInfo>, TokenError> {
    let mut out = Vec::new();
    for (reader, mut yk) in open_all()? {
        let serial = yk.serial().0;
        let version = yk.version().to_string();
        let pin_tries = yk.get_pin_retries().ok();
        let custody_slots = RETIRED
            .filter_map(|s| match slot_public_key(&mut yk, s) {
                Some((p, true)) => Some((s, p)),
                _ => None,
            })
            .collect();
        out.push(CardInfo {
            reader,
            serial,
            version,
            pin_tries,
            custody_slots,
        });
    }
    Ok(out)
}

/// The slot a locator means: the one given, else the first slot holding a custody key, else the
/// first retired slot.
pub fn default_slot(yk: &mut YubiKey, given: Option<u8>) -> u8 {
    if let Some(s) = given {
        return s;
    }
    RETIRED
        .clone()
        .find(|&s| matches!(slot_public_key(yk, s), Some((_, true))))
        .unwrap_or(*RETIRED.start())
}

/// Verify the PIN once for this card (never retried: a wrong PIN is reported with tries left).
pub fn verify_pin(yk: &mut YubiKey, pin: &SecretString) -> Result<(), TokenError> {
    let serial = yk.serial().0;
    yk.verify_pin(pin.expose_secret().as_bytes())
        .map_err(|e| map_pin_error(serial, e))
}

/// A key in a PIV slot, its PIN verified.
pub struct PivEcdh {
    pub card: Rc<RefCell<YubiKey>>,
    pub slot: u8,
    pub point: [u8; 65],
    pub serial: u32,
    /// Verified once already; verified again right before each use, since reading objects
    /// re-selects the applet and drops the verification (as on a real YubiKey).
    pub pin: SecretString,
}

impl EcdhP256 for PivEcdh {
    fn public_point(&self) -> [u8; 65] {
        self.point
    }

    fn ecdh(&self, peer: &p256::PublicKey) -> Result<Key32, TokenError> {
        let id = slot_id(self.slot)?;
        let peer = crypto::p256_uncompressed(peer);
        let mut card = self.card.borrow_mut();
        verify_pin(&mut card, &self.pin)?;
        let out = piv::decrypt_data(&mut card, &peer, AlgorithmId::EccP256, id)
            .map_err(|e| map_pin_error(self.serial, e))?;
        let z = Zeroizing::new(out.to_vec());
        crypto::check_z(&z).map_err(|detail| TokenError::Failed {
            token: card_name(self.serial),
            detail,
        })
    }
}

/// How to authenticate with the management key for key generation.
pub enum MgmSource {
    /// The factory default (3DES before firmware 5.7, AES-192 from 5.7).
    Default,
    /// A management key stored on the card, protected by the PIN.
    Protected,
    /// A key given in hex.
    Given(Zeroizing<Vec<u8>>),
}

/// Parse a management key given in hex: 16 or 32 bytes are AES-128/256; 24 bytes are 3DES or
/// AES-192, which the bytes cannot tell apart: the card's default algorithm decides.
pub fn parse_mgm_key(hex_text: &str, card_default: MgmAlgorithmId) -> Result<MgmKey, String> {
    let bytes = Zeroizing::new(
        hex::decode(hex_text.trim())
            .map_err(|_| "the management key file is not hex".to_string())?,
    );
    let alg = match bytes.len() {
        16 => MgmAlgorithmId::Aes128,
        24 => card_default,
        32 => MgmAlgorithmId::Aes256,
        n => {
            return Err(format!(
                "a management key is 16, 24 or 32 bytes (AES-128, 3DES or AES-192, AES-256), not {n}"
            ));
        }
    };
    MgmKey::from_bytes(&bytes[..], Some(alg)).map_err(|e| format!("management key refused: {e}"))
}

/// The management key algorithm a card uses by default.
pub fn default_mgm_algorithm(yk: &YubiKey) -> MgmAlgorithmId {
    // As the crate decides internally: AES-192 from firmware 5.7, 3DES before.
    let v = yk.version();
    if (v.major, v.minor) >= (5, 7) {
        MgmAlgorithmId::Aes192
    } else {
        MgmAlgorithmId::ThreeDes
    }
}

pub fn serial_of(yk: &YubiKey) -> u32 {
    let Serial(s) = yk.serial();
    s
}

/// Generate a P-256 key on the card in `slot`, with a self-signed certificate that records it
/// (subject `CN=custody`), so that listing finds it and backups can read its public key.
pub fn generate_key(
    yk: &mut YubiKey,
    slot: u8,
    pin: &SecretString,
    mgm: MgmSource,
    pin_policy: yubikey::PinPolicy,
    touch_policy: yubikey::TouchPolicy,
    force: bool,
) -> Result<[u8; 65], TokenError> {
    use std::str::FromStr;
    let serial = serial_of(yk);
    let name = card_name(serial);
    let failed = |what: &str, e: yubikey::Error| TokenError::Failed {
        token: name.clone(),
        detail: format!("{what}: {}", pcsc_hint(&e)),
    };
    if !RETIRED.contains(&slot) && ![0x9a, 0x9c, 0x9d, 0x9e].contains(&slot) {
        return Err(TokenError::NotFound {
            what: format!("{slot:02x} is not a PIV key slot"),
        });
    }
    let id = slot_id(slot)?;
    if !force && slot_public_key(yk, slot).is_some() {
        return Err(TokenError::KeyUnusable {
            key: format!("{name} slot {slot:02x}"),
            reason: "the slot already holds a key; choose another slot, or --force to replace it \
                     (the old key is then lost, and every backup made with it)"
                .into(),
        });
    }
    verify_pin(yk, pin)?;
    let key = match mgm {
        MgmSource::Default => {
            MgmKey::get_default(yk).map_err(|e| failed("default management key", e))?
        }
        MgmSource::Protected => {
            MgmKey::get_protected(yk).map_err(|e| failed("PIN-protected management key", e))?
        }
        MgmSource::Given(hexbytes) => {
            let text = std::str::from_utf8(&hexbytes).map_err(|_| TokenError::Failed {
                token: name.clone(),
                detail: "the management key file is not text".into(),
            })?;
            parse_mgm_key(text, default_mgm_algorithm(yk)).map_err(|detail| TokenError::Failed {
                token: name.clone(),
                detail,
            })?
        }
    };
    yk.authenticate(&key).map_err(|e| TokenError::Failed {
        token: name.clone(),
        detail: format!(
            "the management key was refused ({}): give the card's key with --mgm-key-file",
            pcsc_hint(&e)
        ),
    })?;
    let spki = piv::generate(yk, id, AlgorithmId::EccP256, pin_policy, touch_policy)
        .map_err(|e| failed("key generation", e))?;
    let point =
        spki_point(spki.subject_public_key.as_bytes()).ok_or_else(|| TokenError::Failed {
            token: name.clone(),
            detail: "the card returned a public key that is not a P-256 point".into(),
        })?;
    // The certificate is signed by the new key itself: the PIN must be fresh for that.
    verify_pin(yk, pin)?;
    let mut sn = crypto::random_array::<19>();
    sn[0] &= 0x7f;
    let serial_number = x509_cert::serial_number::SerialNumber::new(&sn[..])
        .map_err(|_| failed("certificate", yubikey::Error::GenericError))?;
    let validity =
        x509_cert::time::Validity::from_now(std::time::Duration::from_secs(20 * 365 * 86400))
            .map_err(|_| failed("certificate", yubikey::Error::GenericError))?;
    let subject = x509_cert::name::Name::from_str(&format!("CN={CERT_CN}"))
        .map_err(|_| failed("certificate", yubikey::Error::GenericError))?;
    yubikey::certificate::Certificate::generate_self_signed::<_, p256::NistP256>(
        yk,
        id,
        serial_number,
        validity,
        subject,
        spki,
        |_| Ok(()),
    )
    .map_err(|e| failed("writing the certificate", e))?;
    Ok(point)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mgm_key_lengths_and_algorithms() {
        let aes128 = "00112233445566778899aabbccddeeff";
        let k = parse_mgm_key(aes128, MgmAlgorithmId::ThreeDes).unwrap();
        assert_eq!(k.algorithm_id(), MgmAlgorithmId::Aes128);
        let k = parse_mgm_key(&"01".repeat(32), MgmAlgorithmId::ThreeDes).unwrap();
        assert_eq!(k.algorithm_id(), MgmAlgorithmId::Aes256);
        // 24 bytes: the card's default decides (AES-192 on firmware >= 5.7).
        let default_3des = "010203040506070801020304050607080102030405060708";
        let k = parse_mgm_key(default_3des, MgmAlgorithmId::Aes192).unwrap();
        assert_eq!(k.algorithm_id(), MgmAlgorithmId::Aes192);
        let k = parse_mgm_key(default_3des, MgmAlgorithmId::ThreeDes).unwrap();
        assert_eq!(k.algorithm_id(), MgmAlgorithmId::ThreeDes);
        assert!(parse_mgm_key("0102", MgmAlgorithmId::ThreeDes).is_err());
        assert!(parse_mgm_key("zz", MgmAlgorithmId::ThreeDes).is_err());
        assert!(parse_mgm_key(&format!("{aes128}\n"), MgmAlgorithmId::ThreeDes).is_ok());
    }

    #[test]
    fn pin_errors_are_told_apart() {
        assert!(matches!(
            map_pin_error(7, yubikey::Error::WrongPin { tries: 2 }),
            TokenError::PinIncorrect { final_try: false, ref token } if token.contains("2 tries left")
        ));
        assert!(matches!(
            map_pin_error(7, yubikey::Error::WrongPin { tries: 1 }),
            TokenError::PinIncorrect {
                final_try: true,
                ..
            }
        ));
        // The best-known tool calls this "0 tries remaining": it is a blocked PIN.
        assert!(matches!(
            map_pin_error(7, yubikey::Error::WrongPin { tries: 0 }),
            TokenError::PinLocked { .. }
        ));
        assert!(matches!(
            map_pin_error(7, yubikey::Error::PinLocked),
            TokenError::PinLocked { .. }
        ));
    }
}
