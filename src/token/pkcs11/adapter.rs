//! PKCS#11 keys behind the token traits: an AES key encrypts z on the token, an EC key does ECDH.

use std::rc::Rc;

use super::error::token_error;
use super::{KeyInfo, Pkcs11Error, Session};
use crate::crypto;
use crate::secret::TokenSecret;
use crate::token::{AesKey, EcdhP256, TokenError};

pub(super) struct P11Aes {
    pub(super) session: Rc<Session>,
    pub(super) key: KeyInfo,
    pub(super) name: String,
}

impl AesKey for P11Aes {
    fn encrypt_z(
        &self,
        iv: &mut [u8; 12],
        aad: &[u8],
        z: &TokenSecret,
    ) -> Result<[u8; 48], TokenError> {
        #[cfg(feature = "fault-injection")]
        crate::error::fault_pause("token-use");
        let ct = self
            .session
            .aes_gcm_encrypt(&self.key, iv, aad, z.expose())
            .map_err(|e| token_error(&self.name, e))?;
        ct.try_into().map_err(|v: Vec<u8>| TokenError::Failed {
            token: self.name.clone(),
            detail: format!("AES-GCM returned {} bytes instead of 48", v.len()),
        })
    }
    fn decrypt_z(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        ct: &[u8; 48],
    ) -> Result<TokenSecret, TokenError> {
        #[cfg(feature = "fault-injection")]
        crate::error::fault_pause("token-use");
        match self.session.aes_gcm_decrypt(&self.key, iv, aad, ct) {
            Ok(pt) => crypto::check_z(&pt[..]).map_err(|detail| TokenError::Failed {
                token: self.name.clone(),
                detail,
            }),
            Err(Pkcs11Error::DecryptFailed) => Err(TokenError::WrongKey {
                key: self.name.clone(),
            }),
            Err(e) => Err(token_error(&self.name, e)),
        }
    }
}

pub(super) struct P11Ecdh {
    pub(super) session: Rc<Session>,
    pub(super) key: KeyInfo,
    pub(super) point: [u8; 65],
    pub(super) name: String,
}

impl EcdhP256 for P11Ecdh {
    fn public_point(&self) -> [u8; 65] {
        self.point
    }
    fn ecdh(&self, peer: &p256::PublicKey) -> Result<TokenSecret, TokenError> {
        let peer = crypto::p256_uncompressed(peer);
        #[cfg(feature = "fault-injection")]
        crate::error::fault_pause("token-use");
        let z = self
            .session
            .ecdh_p256(&self.key, &peer)
            .map_err(|e| token_error(&self.name, e))?;
        Ok(TokenSecret::from_bytes(&z))
    }
}
