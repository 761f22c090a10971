//! Key generation on a PKCS#11 token, and the checks that the token really made the key so that
//! it cannot leave: a key failing them is destroyed again.

use cryptoki::mechanism::Mechanism;
use cryptoki::object::{Attribute, KeyType, ObjectClass};

use super::error::{Pkcs11Error, attribute_check, map_err};
use super::{KeyInfo, KeyKind, P256_EC_PARAMS, Session};

impl Session {
    /// Generates a persistent AES-256 key that cannot leave the token, then checks that the
    /// token really made it so. A key failing the check is destroyed again.
    pub fn generate_aes256(&self, label: &str, id: &[u8]) -> Result<KeyInfo, Pkcs11Error> {
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::AES),
            Attribute::ValueLen(32.into()),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Encrypt(true),
            Attribute::Decrypt(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ];
        let handle = self
            .inner
            .generate_key(&Mechanism::AesKeyGen, &template)
            .map_err(|e| map_err(e, "AES key generation"))?;
        let checked = self
            .key_info(handle, KeyKind::Aes, None)
            .and_then(|info| check_aes(&info).map(|()| info));
        if checked.is_err() {
            let _ = self.inner.destroy_object(handle);
        }
        checked
    }

    /// Generates a persistent P-256 key pair whose private half cannot leave the token and may
    /// only be used for ECDH, then checks that the token really made it so. Returns the
    /// private key, with `public_point` filled in. A pair failing the check is destroyed again.
    pub fn generate_p256(&self, label: &str, id: &[u8]) -> Result<KeyInfo, Pkcs11Error> {
        let public_template = [
            Attribute::Class(ObjectClass::PUBLIC_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::EcParams(P256_EC_PARAMS.to_vec()),
            Attribute::Token(true),
            Attribute::Private(false),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ];
        let private_template = [
            Attribute::Class(ObjectClass::PRIVATE_KEY),
            Attribute::KeyType(KeyType::EC),
            Attribute::Token(true),
            Attribute::Private(true),
            Attribute::Sensitive(true),
            Attribute::Extractable(false),
            Attribute::Derive(true),
            Attribute::Label(label.as_bytes().to_vec()),
            Attribute::Id(id.to_vec()),
        ];
        let (public, private) = self
            .inner
            .generate_key_pair(
                &Mechanism::EccKeyPairGen,
                &public_template,
                &private_template,
            )
            .map_err(|e| map_err(e, "EC key pair generation"))?;
        let checked = self
            .key_info(private, KeyKind::P256, Some(public))
            .and_then(|info| check_p256(&info).map(|()| info));
        if checked.is_err() {
            let _ = self.inner.destroy_object(private);
            let _ = self.inner.destroy_object(public);
        }
        checked
    }
}

fn require(attribute: &'static str, value: Option<bool>, wanted: bool) -> Result<(), Pkcs11Error> {
    match value {
        Some(v) if v == wanted => Ok(()),
        Some(v) => Err(attribute_check(
            attribute,
            format!("is {v}, expected {wanted}"),
        )),
        None => Err(attribute_check(attribute, "the token did not reveal it")),
    }
}

/// Checks shared by both key kinds: the secret never was and never can be outside the token.
fn check_protection(info: &KeyInfo) -> Result<(), Pkcs11Error> {
    require("CKA_SENSITIVE", info.sensitive, true)?;
    require("CKA_EXTRACTABLE", info.extractable, false)?;
    require("CKA_LOCAL", info.local, true)?;
    // Not every token reports these; when one does, they must agree with the above.
    if info.always_sensitive.is_some() {
        require("CKA_ALWAYS_SENSITIVE", info.always_sensitive, true)?;
    }
    if info.never_extractable.is_some() {
        require("CKA_NEVER_EXTRACTABLE", info.never_extractable, true)?;
    }
    Ok(())
}

fn check_aes(info: &KeyInfo) -> Result<(), Pkcs11Error> {
    check_protection(info)?;
    require("CKA_ENCRYPT", info.can_encrypt, true)?;
    require("CKA_DECRYPT", info.can_decrypt, true)?;
    match info.value_len {
        Some(32) => Ok(()),
        Some(n) => Err(attribute_check(
            "CKA_VALUE_LEN",
            format!("is {n}, expected 32"),
        )),
        None => Err(attribute_check(
            "CKA_VALUE_LEN",
            "the token did not reveal it",
        )),
    }
}

fn check_p256(info: &KeyInfo) -> Result<(), Pkcs11Error> {
    check_protection(info)?;
    require("CKA_DERIVE", info.can_derive, true)?;
    if !info.is_p256 {
        return Err(attribute_check("CKA_EC_PARAMS", "not the prime256v1 curve"));
    }
    if info.public_point.is_none() {
        return Err(attribute_check(
            "CKA_EC_POINT",
            "no valid P-256 public point on the token",
        ));
    }
    Ok(())
}
