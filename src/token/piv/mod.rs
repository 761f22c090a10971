//! The YubiKey backend: a P-256 key in a PIV slot, over PC/SC. It serves the same
//! [`EcdhP256`](crate::token::EcdhP256) function as a PKCS#11 EC key, so point validation, the
//! key-hash check and the HKDF binding are shared and unchanged.

mod adapter;
mod error;
mod keygen;
mod resolve;

use secrecy::{ExposeSecret, SecretString};
use yubikey::piv::{self, SlotId};
use yubikey::{Serial, YubiKey};

use crate::crypto;
use crate::token::{CardSummary, TokenError};
use error::{map_pin_error, pcsc_hint};

pub use adapter::PivEcdh;
pub use keygen::generate_key;
pub use resolve::PivCards;

/// Retired key slots, where custody keys live by default.
pub const RETIRED: std::ops::RangeInclusive<u8> = 0x82..=0x95;
/// The subject common name of the certificate custody writes beside its keys.
pub const CERT_CN: &str = "custody";

/// The name a YubiKey goes by in messages.
pub fn card_name(serial: u32) -> String {
    format!("YubiKey {serial}")
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

/// Let go of a card handle that was only looked at. Dropping a `YubiKey` resets the card
/// (`SCARD_RESET_CARD`), and a reset ends every other handle's session on it: the card kept
/// open for an operation then fails its next command with "card was reset" (seen as a slot that
/// suddenly "holds no key" when a rewrap read the same slot again after a card listing).
/// Handles that verified a PIN are still dropped with a reset at the end of an operation, so
/// that the PIN does not stay verified on the card.
pub(crate) fn leave(yk: YubiKey) {
    let _ = yk.disconnect(pcsc::Disposition::LeaveCard);
}

/// Open the YubiKey with this serial, naming what is present when it is not.
pub fn open_card(serial: u32) -> Result<YubiKey, TokenError> {
    let cards = open_all()?;
    let present: Vec<u32> = cards.iter().map(|(_, yk)| yk.serial().0).collect();
    let mut wanted = None;
    for (_, yk) in cards {
        if wanted.is_none() && yk.serial().0 == serial {
            wanted = Some(yk);
        } else {
            leave(yk);
        }
    }
    match wanted {
        Some(yk) => Ok(yk),
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

pub(crate) fn slot_id(slot: u8) -> Result<SlotId, TokenError> {
    SlotId::try_from(slot).map_err(|_| TokenError::NotFound {
        what: format!("{slot:02x} is not a PIV key slot"),
    })
}

/// The uncompressed P-256 point of a SubjectPublicKeyInfo, if it is one.
pub(crate) fn spki_point(bytes: Option<&[u8]>) -> Option<[u8; 65]> {
    let bytes = bytes?;
    crypto::validate_p256_point(bytes).ok()?;
    bytes.try_into().ok()
}

/// The public key in a slot and whether custody's certificate is beside it; `Ok(None)` when the
/// slot holds no P-256 key.
///
/// The key's own metadata (firmware ≥ 5.3) is what the card will use, so it wins: a
/// certificate can be rewritten by anyone with the management key, and one that disagrees with
/// the key is refused rather than believed. Only a card without metadata is read from the
/// certificate alone.
pub fn slot_public_key(yk: &mut YubiKey, slot: u8) -> Result<Option<([u8; 65], bool)>, TokenError> {
    let Ok(id) = slot_id(slot) else {
        return Ok(None);
    };
    let cert = yubikey::certificate::Certificate::read(yk, id)
        .ok()
        .map(|cert| {
            (
                spki_point(cert.subject_pki().subject_public_key.as_bytes()),
                cert.subject().contains(&format!("CN={CERT_CN}")),
            )
        });
    let meta = match piv::metadata(yk, id) {
        Ok(meta) => meta,
        // The card keeps metadata and says the slot is empty: a certificate alone is no key.
        Err(yubikey::Error::NotFound) => return Ok(None),
        Err(_) => return Ok(cert.and_then(|(point, custody)| Some((point?, custody)))),
    };
    let Some(point) = meta
        .public
        .as_ref()
        .and_then(|k| spki_point(k.subject_public_key.as_bytes()))
    else {
        return Ok(None);
    };
    match cert {
        None => Ok(Some((point, false))),
        Some((Some(cert_point), custody)) if cert_point == point => Ok(Some((point, custody))),
        Some(_) => Err(TokenError::KeyUnusable {
            key: format!("{}, PIV slot {slot:02x}", card_name(serial_of(yk))),
            reason: "its certificate holds another public key than the key the card keeps in \
                     the slot (read from the key's metadata): someone with the management key \
                     has replaced the certificate. custody does not use this slot; check who \
                     had the card, and make a new key elsewhere"
                .into(),
        }),
    }
}

/// Serials of the YubiKeys present.
pub fn list_serials() -> Result<Vec<u32>, TokenError> {
    Ok(open_all()?
        .into_iter()
        .map(|(_, yk)| {
            let serial = serial_of(&yk);
            leave(yk);
            serial
        })
        .collect())
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
pub fn list_cards() -> Result<Vec<CardSummary>, TokenError> {
    let mut out = Vec::new();
    for (reader, mut yk) in open_all()? {
        let serial = yk.serial().0;
        let version = yk.version().to_string();
        let pin_tries = yk.get_pin_retries().ok();
        let custody_slots = RETIRED
            .filter_map(|s| match slot_public_key(&mut yk, s) {
                Ok(Some((p, true))) => Some((s, p)),
                _ => None,
            })
            .collect();
        leave(yk);
        out.push(CardSummary {
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
        .find(|&s| matches!(slot_public_key(yk, s), Ok(Some((_, true)))))
        .unwrap_or(*RETIRED.start())
}

/// Verify the PIN once for this card (never retried: a wrong PIN is reported with tries left).
pub fn verify_pin(yk: &mut YubiKey, pin: &SecretString) -> Result<(), TokenError> {
    let serial = yk.serial().0;
    yk.verify_pin(pin.expose_secret().as_bytes())
        .map_err(|e| map_pin_error(serial, e))
}

/// The card's serial number, as `yubikey:serial=` and a slot's `card-serial` name it.
pub fn serial_of(yk: &YubiKey) -> u32 {
    let Serial(s) = yk.serial();
    s
}
