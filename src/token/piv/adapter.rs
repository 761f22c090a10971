//! A key in a PIV slot behind the token trait: ECDH on the card.

use std::cell::RefCell;
use std::rc::Rc;

use secrecy::SecretString;
use yubikey::YubiKey;
use yubikey::piv::{self, AlgorithmId};
use zeroize::Zeroizing;

use super::error::map_pin_error;
use super::{card_name, slot_id, verify_pin};
use crate::crypto;
use crate::secret::TokenSecret;
use crate::token::{EcdhP256, TokenError};

/// A key in a PIV slot, its PIN verified.
pub struct PivEcdh {
    /// The card, shared with the other keys of the same operation.
    pub card: Rc<RefCell<YubiKey>>,
    /// The PIV key slot.
    pub slot: u8,
    /// The slot's public key, uncompressed.
    pub point: [u8; 65],
    /// The card's serial number, for messages.
    pub serial: u32,
    /// Verified once already; verified again right before each use, since reading objects
    /// re-selects the applet and drops the verification (as on a real YubiKey).
    pub pin: SecretString,
}

impl EcdhP256 for PivEcdh {
    fn public_point(&self) -> [u8; 65] {
        self.point
    }

    fn ecdh(&self, peer: &p256::PublicKey) -> Result<TokenSecret, TokenError> {
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
