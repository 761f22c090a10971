//! Finding the YubiKey and PIV slot that a locator or a file's slot names, with the PIN
//! verified once per card for the length of an operation.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

use secrecy::SecretString;
use yubikey::YubiKey;

use super::{
    PivEcdh, RETIRED, card_name, default_slot, generate_key, list_serials, open_card,
    slot_public_key, touch_needed, verify_pin,
};
use crate::crypto;
use crate::format::Descriptor;
use crate::prompt::{PinReason, PinRequest, Prompter};
use crate::token::uri::{TokenLocator, YubikeyLocator};
use crate::token::{
    Backend, GeneratedKey, KeyOps, PinHint, PivKeygen, PivTouchPolicy, TokenError, TokenKey,
    pin_error,
};

/// A card serial, a PIV slot and the public key in it.
pub type SlotPoint = (u32, u8, [u8; 65]);

/// The YubiKeys opened in one operation, by serial, with their PIN once it was verified.
#[derive(Default)]
pub struct PivCards {
    cards: HashMap<u32, (Rc<RefCell<YubiKey>>, Option<SecretString>)>,
    /// Refuse a key the card says was imported (a backup's new keys), instead of warning.
    require_bound: bool,
}

impl Backend for PivCards {
    fn resolve(
        &mut self,
        prompter: &mut dyn Prompter,
        loc: &TokenLocator,
    ) -> Option<Result<TokenKey<'static>, TokenError>> {
        match loc {
            TokenLocator::Yubikey(y) => Some(self.resolve_card(prompter, y)),
            _ => None,
        }
    }
}

impl PivCards {
    /// The YubiKey with this serial, opened once per operation.
    pub fn card(&mut self, serial: u32) -> Result<Rc<RefCell<YubiKey>>, TokenError> {
        if let Some((c, _)) = self.cards.get(&serial) {
            return Ok(c.clone());
        }
        let c = Rc::new(RefCell::new(open_card(serial)?));
        self.cards.insert(serial, (c.clone(), None));
        Ok(c)
    }

    /// Serials of the YubiKeys present (none when the smart-card service is not running).
    pub fn present(&self) -> Vec<u32> {
        list_serials().unwrap_or_default()
    }

    /// The key a `yubikey:` locator names.
    pub fn resolve_card(
        &mut self,
        prompter: &mut dyn Prompter,
        y: &YubikeyLocator,
    ) -> Result<TokenKey<'static>, TokenError> {
        let (slot, point) = self.locator_key(y)?;
        self.check_origin(prompter, y.serial, slot)?;
        let pin = PinHint {
            value: y.pin_value.as_ref(),
            source: y.pin_source.as_deref(),
        };
        self.piv_key(prompter, y.serial, slot, point, pin, PinReason::Named)
    }

    /// Refuse keys the card says were imported from now on (a backup's keys), instead of
    /// warning about them.
    pub fn require_bound(&mut self, on: bool) {
        self.require_bound = on;
    }

    /// What the card says of where the slot's key comes from (its metadata, firmware 5.3 and
    /// later): imported is refused when keys must be bound, else warned about; a card that does
    /// not say gets a warning where keys must be bound, since the origin cannot be checked.
    fn check_origin(
        &mut self,
        prompter: &mut dyn Prompter,
        serial: u32,
        slot: u8,
    ) -> Result<(), TokenError> {
        let card = self.card(serial)?;
        let id = super::slot_id(slot)?;
        let name = format!("{}, PIV slot {slot:02x}", card_name(serial));
        let meta = yubikey::piv::metadata(&mut card.borrow_mut(), id).ok();
        // A key that needs no PIN answers whoever holds the card: the card alone is then one
        // factor, not "something held and something known".
        if self.require_bound
            && meta
                .as_ref()
                .and_then(|m| m.policy)
                .is_some_and(|(pin, _)| pin == yubikey::PinPolicy::Never)
        {
            prompter.warn(
                &format!(
                    "{name}: the card uses this key without its PIN (PIN policy \"never\"): \
                     whoever holds the card can use it"
                ),
                "prefer a key made with `custody token keygen --pin-policy once`",
            );
        }
        match meta.and_then(|m| m.origin) {
            Some(yubikey::piv::Origin::Generated) => Ok(()),
            Some(yubikey::piv::Origin::Imported) if self.require_bound => {
                Err(TokenError::NotBound {
                    key: name,
                    reason: "the card says its key was imported: its value exists off the card"
                        .into(),
                })
            }
            Some(yubikey::piv::Origin::Imported) => {
                prompter.warn(
                    &format!(
                        "{name}: the card says its key was imported, so its value exists off \
                         the card"
                    ),
                    "make a key on the card (`custody token keygen`) and rewrap onto it",
                );
                Ok(())
            }
            None if self.require_bound => {
                prompter.warn(
                    &format!(
                        "{name}: the card does not say where the key comes from (no key \
                         metadata: firmware before 5.3, or another card), so custody cannot \
                         check that it was made on the card"
                    ),
                    "use a key you made on this card yourself (`custody token keygen`)",
                );
                Ok(())
            }
            None => Ok(()),
        }
    }

    /// The slot a `yubikey:` locator means and the public key in it, read without a PIN: the
    /// card is present and the slot holds a key, or the error says which is not so.
    pub fn locator_key(&mut self, y: &YubikeyLocator) -> Result<(u8, [u8; 65]), TokenError> {
        let card = self.card(y.serial)?;
        let slot = default_slot(&mut card.borrow_mut(), y.slot);
        let Some((point, _)) = slot_public_key(&mut card.borrow_mut(), slot)? else {
            return Err(TokenError::NotFound {
                what: format!(
                    "{} has no key in PIV slot {slot:02x}: make one with `custody token \
                     keygen --token yubikey:serial={};slot={slot:02x} --type p256`",
                    card_name(y.serial),
                    y.serial
                ),
            });
        };
        Ok((slot, point))
    }

    /// A PIV key whose public key is known: say whether touch is needed, verify the PIN once per
    /// card, and wrap it as an ECDH provider.
    fn piv_key(
        &mut self,
        prompter: &mut dyn Prompter,
        serial: u32,
        slot: u8,
        point: [u8; 65],
        pin: PinHint<'_>,
        reason: PinReason,
    ) -> Result<TokenKey<'static>, TokenError> {
        let card = self.card(serial)?;
        let name = format!("{}, PIV slot {slot:02x}", card_name(serial));
        let known = self.cards.get(&serial).and_then(|(_, p)| p.clone());
        let pin = if let Some(p) = known {
            p
        } else {
            let final_try = card.borrow_mut().get_pin_retries().is_ok_and(|t| t == 1);
            if pin.value.is_none() && pin.source.is_none() && final_try {
                prompter.warn(
                    &format!(
                        "{}: one more wrong PIN will block its PIN",
                        card_name(serial)
                    ),
                    "type its PIN with care, or stop here (Ctrl-C) and find the right one",
                );
            }
            let asker = card_name(serial);
            let mut request = PinRequest {
                token: &asker,
                reason,
                value: pin.value,
                source: pin.source,
                final_try,
                after_refusal: false,
            };
            let mut pin = prompter.pin(&request).map_err(|e| pin_error(&asker, e))?;
            // Verified now, so a wrong PIN is reported before anything else happens.
            if let Err(err) = verify_pin(&mut card.borrow_mut(), &pin) {
                let TokenError::PinIncorrect { final_try, .. } = &err else {
                    return Err(err);
                };
                // Once: the source may give this card's own PIN instead of the refused one.
                request.after_refusal = true;
                request.final_try = *final_try;
                let Ok(other) = prompter.pin(&request) else {
                    return Err(err);
                };
                verify_pin(&mut card.borrow_mut(), &other)?;
                pin = other;
            }
            if let Some(c) = self.cards.get_mut(&serial) {
                c.1 = Some(pin.clone());
            }
            pin
        };
        match touch_needed(&mut card.borrow_mut(), slot) {
            Some(true) => prompter.act(&format!("Touch your YubiKey {serial} when it blinks.")),
            None => prompter.act(&format!("If your YubiKey {serial} blinks, touch it.")),
            Some(false) => {}
        }
        Ok(TokenKey {
            // PIV has no export of private keys.
            hardware_bound: true,
            descriptor: Descriptor::Piv {
                card_serial: serial,
                piv_slot: slot,
                key_hash: crypto::p256_key_hash(&point),
            },
            name,
            ops: KeyOps::Ecdh(Box::new(PivEcdh {
                card,
                slot,
                point,
                serial,
                pin,
            })),
        })
    }

    /// Restore: the PIV key a slot names. The card and the slot's public key are checked before
    /// any PIN is asked ([`PivCards::slot_key`]). `None`: the slot is not a PIV slot.
    pub fn key_for_slot(
        &mut self,
        prompter: &mut dyn Prompter,
        d: &Descriptor,
        pin: PinHint<'_>,
        reason: PinReason,
    ) -> Option<Result<TokenKey<'static>, TokenError>> {
        Some(match self.slot_key(d)? {
            Err(e) => Err(e),
            Ok((serial, slot, point)) => self
                .check_origin(prompter, serial, slot)
                .and_then(|()| self.piv_key(prompter, serial, slot, point, pin, reason)),
        })
    }

    /// The public key in the card slot a file's slot names, read without a PIN: a missing card,
    /// another card, and the right card without the key each get their own message. `None`:
    /// the slot is not a PIV slot.
    pub fn slot_key(&mut self, d: &Descriptor) -> Option<Result<SlotPoint, TokenError>> {
        let Descriptor::Piv {
            card_serial,
            piv_slot,
            key_hash,
        } = d
        else {
            return None;
        };
        let (serial, slot) = (*card_serial, *piv_slot);
        let found = self
            .card(serial)
            .and_then(|card| slot_public_key(&mut card.borrow_mut(), slot));
        Some(match found {
            Err(e) => Err(e),
            Ok(None) => Err(TokenError::NotFound {
                what: format!(
                    "{} is present, but its PIV slot {slot:02x} holds no key: this is the \
                     right card without the key this file needs (was the slot reset?)",
                    card_name(serial)
                ),
            }),
            Ok(Some((point, _))) if !crypto::ct_eq(&crypto::p256_key_hash(&point), key_hash) => {
                Err(TokenError::NotFound {
                    what: format!(
                        "{} is present, but the key in PIV slot {slot:02x} is another key than \
                         the one this file was made with (the slot was regenerated?)",
                        card_name(serial)
                    ),
                })
            }
            Ok(Some((point, _))) => Ok((serial, slot, point)),
        })
    }

    /// Make a P-256 key in the slot a `yubikey:` locator names (the first retired slot when it
    /// names none), with the certificate that records it.
    pub fn generate(
        &mut self,
        prompter: &mut dyn Prompter,
        y: &YubikeyLocator,
        options: PivKeygen,
    ) -> Result<GeneratedKey, TokenError> {
        let card = self.card(y.serial)?;
        let slot = y.slot.unwrap_or(*RETIRED.start());
        let asker = card_name(y.serial);
        let pin = prompter
            .pin(&PinRequest {
                token: &asker,
                reason: PinReason::Named,
                value: y.pin_value.as_ref(),
                source: y.pin_source.as_deref(),
                final_try: false,
                after_refusal: false,
            })
            .map_err(|e| pin_error(&asker, e))?;
        if options.touch_policy != PivTouchPolicy::Never {
            prompter.info(&format!(
                "Touch your YubiKey {} when it blinks (the new key signs its certificate).",
                y.serial
            ));
        }
        let factory_mgm = matches!(options.mgm, crate::token::MgmSource::Default);
        let point = generate_key(&mut card.borrow_mut(), slot, &pin, options)?;
        // It worked with the factory key: so anyone holding the card can too, and could put
        // another key and certificate in its slots.
        if factory_mgm {
            prompter.warn(
                &format!(
                    "{} still has the factory management key: anyone holding it can replace \
                     its keys and certificates",
                    card_name(y.serial)
                ),
                "change it, stored on the card behind the PIN: `ykman piv access \
                 change-management-key --generate --protect` (custody then needs \
                 --mgm-key-protected)",
            );
        }
        Ok(GeneratedKey {
            descriptor: Descriptor::Piv {
                card_serial: y.serial,
                piv_slot: slot,
                key_hash: crypto::p256_key_hash(&point),
            },
            label: String::new(),
            id: Vec::new(),
            public_point: Some(point),
        })
    }
}
