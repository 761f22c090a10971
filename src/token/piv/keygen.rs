//! Key generation in a PIV slot: management-key authentication, the key, and the certificate
//! (subject `CN=custody`) that lets listings find the key and backups read its public key.

use secrecy::SecretString;
use yubikey::piv::{self, AlgorithmId};
use yubikey::{MgmAlgorithmId, MgmKey, YubiKey};
use zeroize::Zeroizing;

use super::error::pcsc_hint;
use super::{
    CERT_CN, RETIRED, card_name, serial_of, slot_id, slot_public_key, spki_point, verify_pin,
};
use crate::crypto;
use crate::token::{MgmSource, PivKeygen, PivPinPolicy, PivTouchPolicy, TokenError};

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

/// Generate a P-256 key on the card in `slot`, with a self-signed certificate that records it
/// (subject `CN=custody`), so that listing finds it and backups can read its public key.
pub fn generate_key(
    yk: &mut YubiKey,
    slot: u8,
    pin: &SecretString,
    options: PivKeygen,
) -> Result<[u8; 65], TokenError> {
    use std::str::FromStr;
    let PivKeygen {
        mgm,
        pin_policy,
        touch_policy,
        force,
    } = options;
    let pin_policy = match pin_policy {
        PivPinPolicy::Once => yubikey::PinPolicy::Once,
        PivPinPolicy::Always => yubikey::PinPolicy::Always,
        PivPinPolicy::Never => yubikey::PinPolicy::Never,
    };
    let touch_policy = match touch_policy {
        PivTouchPolicy::Always => yubikey::TouchPolicy::Always,
        PivTouchPolicy::Cached => yubikey::TouchPolicy::Cached,
        PivTouchPolicy::Never => yubikey::TouchPolicy::Never,
    };
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
    if !force && !matches!(slot_public_key(yk, slot), Ok(None)) {
        return Err(TokenError::KeyExists {
            what: format!(
                "{name} slot {slot:02x} cannot be used: the slot already holds a key; choose \
                 another slot, or --force to replace it (the old key is then lost, and every \
                 backup made with it)"
            ),
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
    yk.authenticate(&key)
        .map_err(|e| TokenError::ManagementKeyRefused {
            token: name.clone(),
            detail: pcsc_hint(&e),
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
}
