//! A session on one token: finding keys and the few operations custody needs from them
//! (AES-GCM with a token AES key, ECDH with a token P-256 key).

use cryptoki::context::Function;
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::UserType;
use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

use super::P256_EC_PARAMS;
use super::error::{Pkcs11Error, map_err};

/// The kinds of key custody uses on a PKCS#11 token.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// A secret AES key (`CKO_SECRET_KEY`, `CKK_AES`).
    Aes,
    /// An EC private key (`CKO_PRIVATE_KEY`, `CKK_EC`); `KeyInfo::is_p256` says whether it is
    /// on P-256.
    P256,
}

/// A key object found on (or generated on) a token, with the attributes the token revealed.
///
/// Each `Option` is `None` when the token did not reveal that attribute.
#[derive(Clone, Debug)]
pub struct KeyInfo {
    pub(super) handle: ObjectHandle,
    /// `CKA_LABEL` (lossy UTF-8).
    pub label: String,
    /// `CKA_ID` (empty when the key has none).
    pub id: Vec<u8>,
    /// Which kind of key this is.
    pub kind: KeyKind,
    /// `CKA_SENSITIVE`.
    pub sensitive: Option<bool>,
    /// `CKA_EXTRACTABLE`.
    pub extractable: Option<bool>,
    /// `CKA_LOCAL`: generated on the token.
    pub local: Option<bool>,
    /// `CKA_ALWAYS_SENSITIVE`.
    pub always_sensitive: Option<bool>,
    /// `CKA_NEVER_EXTRACTABLE`.
    pub never_extractable: Option<bool>,
    /// `CKA_ENCRYPT`.
    pub can_encrypt: Option<bool>,
    /// `CKA_DECRYPT`.
    pub can_decrypt: Option<bool>,
    /// `CKA_DERIVE`.
    pub can_derive: Option<bool>,
    /// `CKA_VALUE_LEN`: the AES key length in bytes.
    pub value_len: Option<u64>,
    /// For EC keys: `CKA_EC_PARAMS` is the prime256v1 OID. Always false for AES keys.
    pub is_p256: bool,
    /// For P-256 keys: the public point (uncompressed `04‖X‖Y`), from the private object's
    /// `CKA_EC_POINT` if it has one, else from the public object with the same id (or, for a
    /// key without an id, the same label). `None` if not found, ambiguous, or not a valid
    /// P-256 point.
    pub public_point: Option<[u8; 65]>,
}

/// An EC public key object found on a token.
#[derive(Clone, Debug)]
pub struct PublicKeyInfo {
    /// `CKA_LABEL` (lossy UTF-8).
    pub label: String,
    /// `CKA_ID` (empty when the key has none).
    pub id: Vec<u8>,
    /// `CKA_EC_PARAMS` is the prime256v1 OID.
    pub is_p256: bool,
    /// The uncompressed point `04‖X‖Y`, if present and a valid P-256 point.
    pub point: Option<[u8; 65]>,
}

/// A read-write session on one token.
#[derive(Debug)]
pub struct Session {
    pub(super) inner: cryptoki::session::Session,
    pub(super) _open: super::module::OpenSession,
}

/// Destroys a temporary session object however the function holding it returns.
struct DestroyOnDrop<'a> {
    session: &'a cryptoki::session::Session,
    handle: ObjectHandle,
}

impl Drop for DestroyOnDrop<'_> {
    fn drop(&mut self) {
        // Nothing useful can be done if this fails; the object is a session object and goes
        // away with the session anyway.
        let _ = self.session.destroy_object(self.handle);
    }
}

/// The attributes read back for every key.
const COMMON_KEY_ATTRIBUTES: [AttributeType; 10] = [
    AttributeType::Label,
    AttributeType::Id,
    AttributeType::Sensitive,
    AttributeType::Extractable,
    AttributeType::Local,
    AttributeType::AlwaysSensitive,
    AttributeType::NeverExtractable,
    AttributeType::Encrypt,
    AttributeType::Decrypt,
    AttributeType::Derive,
];

/// `CKA_EC_POINT` is a DER OCTET STRING around the point; some tokens give the bare point.
/// Returns the point only if it is a valid uncompressed P-256 point.
fn parse_ec_point(raw: &[u8]) -> Option<[u8; 65]> {
    let bare = match raw {
        [0x04, 0x41, rest @ ..] if rest.len() == 65 => rest,
        _ if raw.len() == 65 => raw,
        _ => return None,
    };
    let point: [u8; 65] = bare.try_into().ok()?;
    if point[0] != 0x04 || p256::PublicKey::from_sec1_bytes(&point).is_err() {
        return None;
    }
    Some(point)
}

fn search_template(
    class: ObjectClass,
    key_type: KeyType,
    label: Option<&str>,
    id: Option<&[u8]>,
) -> Vec<Attribute> {
    let mut template = vec![Attribute::Class(class), Attribute::KeyType(key_type)];
    if let Some(label) = label {
        template.push(Attribute::Label(label.as_bytes().to_vec()));
    }
    if let Some(id) = id {
        template.push(Attribute::Id(id.to_vec()));
    }
    template
}

impl Session {
    /// The underlying cryptoki session, for anything this wrapper does not offer.
    #[cfg(feature = "internals")]
    pub fn cryptoki(&self) -> &cryptoki::session::Session {
        &self.inner
    }

    /// Logs in as the normal user. Being logged in already counts as success.
    ///
    /// Never retries: a wrong PIN is returned as [`Pkcs11Error::PinIncorrect`] at once, as
    /// real tokens lock after a few wrong tries.
    pub fn login(&self, pin: &SecretString) -> Result<(), Pkcs11Error> {
        self.login_inner(Some(pin))
    }

    /// Logs in as the normal user through the token's protected authentication path (a PIN
    /// pad on the reader). Only for tokens with `TokenInfo::protected_auth_path`.
    pub fn login_protected(&self) -> Result<(), Pkcs11Error> {
        self.login_inner(None)
    }

    fn login_inner(&self, pin: Option<&SecretString>) -> Result<(), Pkcs11Error> {
        match self.inner.login(UserType::User, pin) {
            Ok(()) | Err(CkError::Pkcs11(RvError::UserAlreadyLoggedIn, _)) => Ok(()),
            Err(e) => Err(map_err(e, "login")),
        }
    }

    /// Finds AES secret keys or EC private keys, filtered by label and/or id when given.
    /// Returns every match, in the token's order.
    pub fn find_keys(
        &self,
        label: Option<&str>,
        id: Option<&[u8]>,
        kind: KeyKind,
    ) -> Result<Vec<KeyInfo>, Pkcs11Error> {
        let template = match kind {
            KeyKind::Aes => search_template(ObjectClass::SECRET_KEY, KeyType::AES, label, id),
            KeyKind::P256 => search_template(ObjectClass::PRIVATE_KEY, KeyType::EC, label, id),
        };
        let handles = self
            .inner
            .find_objects(&template)
            .map_err(|e| map_err(e, "find keys"))?;
        handles
            .into_iter()
            .map(|handle| self.key_info(handle, kind, None))
            .collect()
    }

    /// Every secret or private key that is neither AES nor EC: (what it is, label, id).
    pub fn other_keys(&self) -> Result<Vec<(String, String, Vec<u8>)>, Pkcs11Error> {
        let mut out = Vec::new();
        for (class, skip) in [
            (ObjectClass::SECRET_KEY, KeyType::AES),
            (ObjectClass::PRIVATE_KEY, KeyType::EC),
        ] {
            let handles = self
                .inner
                .find_objects(&[Attribute::Class(class)])
                .map_err(|e| map_err(e, "find keys"))?;
            for handle in handles {
                let attributes = self
                    .inner
                    .get_attributes(
                        handle,
                        &[
                            AttributeType::KeyType,
                            AttributeType::Label,
                            AttributeType::Id,
                        ],
                    )
                    .map_err(|e| map_err(e, "read key attributes"))?;
                let (mut kind, mut label, mut id) = (None, String::new(), Vec::new());
                for a in attributes {
                    match a {
                        Attribute::KeyType(t) => kind = Some(t),
                        Attribute::Label(v) => label = String::from_utf8_lossy(&v).into_owned(),
                        Attribute::Id(v) => id = v,
                        _ => {}
                    }
                }
                if kind == Some(skip) {
                    continue;
                }
                let what = match kind {
                    Some(t) if class == ObjectClass::SECRET_KEY => format!("a {t} secret key"),
                    Some(t) => format!("a {t} private key"),
                    None => "a key of a type the token does not say".into(),
                };
                out.push((what, label, id));
            }
        }
        Ok(out)
    }

    /// Finds EC public key objects by label and/or id. Works without login on most tokens.
    pub fn find_public_p256(
        &self,
        label: Option<&str>,
        id: Option<&[u8]>,
    ) -> Result<Vec<PublicKeyInfo>, Pkcs11Error> {
        let template = search_template(ObjectClass::PUBLIC_KEY, KeyType::EC, label, id);
        let handles = self
            .inner
            .find_objects(&template)
            .map_err(|e| map_err(e, "find public keys"))?;
        handles
            .into_iter()
            .map(|handle| self.public_key_info(handle))
            .collect()
    }

    fn public_key_info(&self, handle: ObjectHandle) -> Result<PublicKeyInfo, Pkcs11Error> {
        let attributes = self
            .inner
            .get_attributes(
                handle,
                &[
                    AttributeType::Label,
                    AttributeType::Id,
                    AttributeType::EcParams,
                    AttributeType::EcPoint,
                ],
            )
            .map_err(|e| map_err(e, "read public key attributes"))?;
        let mut info = PublicKeyInfo {
            label: String::new(),
            id: Vec::new(),
            is_p256: false,
            point: None,
        };
        for attribute in attributes {
            match attribute {
                Attribute::Label(v) => info.label = String::from_utf8_lossy(&v).into_owned(),
                Attribute::Id(v) => info.id = v,
                Attribute::EcParams(v) => info.is_p256 = v == P256_EC_PARAMS,
                Attribute::EcPoint(v) => info.point = parse_ec_point(&v),
                _ => {}
            }
        }
        if !info.is_p256 {
            info.point = None;
        }
        Ok(info)
    }

    /// Reads a key's attributes. `public_handle`, when known (right after generation), is
    /// where the public point comes from if the private object has none.
    pub(super) fn key_info(
        &self,
        handle: ObjectHandle,
        kind: KeyKind,
        public_handle: Option<ObjectHandle>,
    ) -> Result<KeyInfo, Pkcs11Error> {
        let mut wanted = COMMON_KEY_ATTRIBUTES.to_vec();
        match kind {
            KeyKind::Aes => wanted.push(AttributeType::ValueLen),
            KeyKind::P256 => {
                wanted.push(AttributeType::EcParams);
                wanted.push(AttributeType::EcPoint);
            }
        }
        let attributes = self
            .inner
            .get_attributes(handle, &wanted)
            .map_err(|e| map_err(e, "read key attributes"))?;
        let mut info = KeyInfo {
            handle,
            label: String::new(),
            id: Vec::new(),
            kind,
            sensitive: None,
            extractable: None,
            local: None,
            always_sensitive: None,
            never_extractable: None,
            can_encrypt: None,
            can_decrypt: None,
            can_derive: None,
            value_len: None,
            is_p256: false,
            public_point: None,
        };
        for attribute in attributes {
            match attribute {
                Attribute::Label(v) => info.label = String::from_utf8_lossy(&v).into_owned(),
                Attribute::Id(v) => info.id = v,
                Attribute::Sensitive(b) => info.sensitive = Some(b),
                Attribute::Extractable(b) => info.extractable = Some(b),
                Attribute::Local(b) => info.local = Some(b),
                Attribute::AlwaysSensitive(b) => info.always_sensitive = Some(b),
                Attribute::NeverExtractable(b) => info.never_extractable = Some(b),
                Attribute::Encrypt(b) => info.can_encrypt = Some(b),
                Attribute::Decrypt(b) => info.can_decrypt = Some(b),
                Attribute::Derive(b) => info.can_derive = Some(b),
                Attribute::ValueLen(n) => info.value_len = Some(usize::from(n) as u64),
                Attribute::EcParams(v) => info.is_p256 = v == P256_EC_PARAMS,
                Attribute::EcPoint(v) => info.public_point = parse_ec_point(&v),
                _ => {}
            }
        }
        if kind == KeyKind::P256 && info.is_p256 && info.public_point.is_none() {
            info.public_point = match public_handle {
                Some(public) => self.public_key_info(public)?.point,
                None => self.matching_public_point(&info.label, &info.id)?,
            };
        }
        if !info.is_p256 {
            info.public_point = None;
        }
        Ok(info)
    }

    /// The point of the public object belonging to a private key: matched by id, or by label
    /// when the key has no id. Several public objects with different points give `None`,
    /// because picking one could encrypt to a key nobody holds.
    fn matching_public_point(
        &self,
        label: &str,
        id: &[u8],
    ) -> Result<Option<[u8; 65]>, Pkcs11Error> {
        let candidates = if !id.is_empty() {
            self.find_public_p256(None, Some(id))?
        } else if !label.is_empty() {
            self.find_public_p256(Some(label), None)?
        } else {
            return Ok(None);
        };
        let mut found: Option<[u8; 65]> = None;
        for point in candidates.iter().filter_map(|c| c.point) {
            match found {
                None => found = Some(point),
                Some(existing) if existing == point => {}
                Some(_) => return Ok(None),
            }
        }
        Ok(found)
    }

    /// AES-GCM encryption with a 128-bit tag. Returns ciphertext‖tag.
    ///
    /// `iv` is read and may be overwritten: some tokens generate the IV themselves and return
    /// it there, so the caller must store what is in `iv` afterwards.
    pub fn aes_gcm_encrypt(
        &self,
        key: &KeyInfo,
        iv: &mut [u8; 12],
        aad: &[u8],
        plaintext: &[u8],
    ) -> Result<Vec<u8>, Pkcs11Error> {
        if key.can_encrypt == Some(false) {
            return Err(Pkcs11Error::KeyFunctionNotPermitted {
                operation: "AES-GCM encryption",
            });
        }
        let params =
            GcmParams::new(iv, aad, 128.into()).map_err(|e| map_err(e, "AES-GCM encryption"))?;
        self.inner
            .encrypt(&Mechanism::AesGcm(params), key.handle, plaintext)
            .map_err(|e| map_err(e, "AES-GCM encryption"))
    }

    /// AES-GCM decryption of ciphertext‖tag with a 128-bit tag.
    ///
    /// A tag that does not verify gives [`Pkcs11Error::DecryptFailed`].
    pub fn aes_gcm_decrypt(
        &self,
        key: &KeyInfo,
        iv: &[u8; 12],
        aad: &[u8],
        ciphertext: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, Pkcs11Error> {
        if key.can_decrypt == Some(false) {
            return Err(Pkcs11Error::KeyFunctionNotPermitted {
                operation: "AES-GCM decryption",
            });
        }
        // GcmParams wants a mutable IV (for encryption); give it a copy.
        let mut iv = *iv;
        let params = GcmParams::new(&mut iv, aad, 128.into())
            .map_err(|e| map_err(e, "AES-GCM decryption"))?;
        match self
            .inner
            .decrypt(&Mechanism::AesGcm(params), key.handle, ciphertext)
        {
            Ok(plaintext) => Ok(Zeroizing::new(plaintext)),
            Err(CkError::Pkcs11(
                RvError::GeneralError
                | RvError::EncryptedDataInvalid
                | RvError::EncryptedDataLenRange,
                Function::Decrypt | Function::DecryptFinal,
            )) => Err(Pkcs11Error::DecryptFailed),
            Err(e) => Err(map_err(e, "AES-GCM decryption")),
        }
    }

    /// ECDH (`CKM_ECDH1_DERIVE`, no KDF) between `key` and `peer` (uncompressed `04‖X‖Y`,
    /// already checked to be on P-256). Returns the shared x-coordinate.
    ///
    /// The shared secret passes through a temporary session object, which is destroyed
    /// before this returns, whatever happens.
    pub fn ecdh_p256(
        &self,
        key: &KeyInfo,
        peer: &[u8; 65],
    ) -> Result<Zeroizing<[u8; 32]>, Pkcs11Error> {
        const OPERATION: &str = "ECDH";
        if key.can_derive == Some(false) {
            return Err(Pkcs11Error::KeyFunctionNotPermitted {
                operation: OPERATION,
            });
        }
        let mechanism = Mechanism::Ecdh1Derive(Ecdh1DeriveParams::new(EcKdf::null(), peer));
        let template = [
            Attribute::Class(ObjectClass::SECRET_KEY),
            Attribute::KeyType(KeyType::GENERIC_SECRET),
            Attribute::Token(false),
            // Not sensitive and extractable, or the value could not be read out.
            Attribute::Sensitive(false),
            Attribute::Extractable(true),
            Attribute::ValueLen(32.into()),
        ];
        let derived = self
            .inner
            .derive_key(&mechanism, key.handle, &template)
            .map_err(|e| map_err(e, OPERATION))?;
        let _guard = DestroyOnDrop {
            session: &self.inner,
            handle: derived,
        };
        let attributes = self
            .inner
            .get_attributes(derived, &[AttributeType::Value])
            .map_err(|e| map_err(e, OPERATION))?;
        let mut result = Err(Pkcs11Error::BadDerivedValue);
        for mut attribute in attributes {
            if let Attribute::Value(value) = &mut attribute {
                if let Ok(bytes) = <[u8; 32]>::try_from(value.as_slice()) {
                    result = Ok(Zeroizing::new(bytes));
                }
                value.zeroize();
            }
        }
        result
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn ec_point_forms() {
        // The P-256 generator: a valid point.
        let mut g = [0u8; 65];
        g[0] = 0x04;
        g[1..33].copy_from_slice(&[
            0x6b, 0x17, 0xd1, 0xf2, 0xe1, 0x2c, 0x42, 0x47, 0xf8, 0xbc, 0xe6, 0xe5, 0x63, 0xa4,
            0x40, 0xf2, 0x77, 0x03, 0x7d, 0x81, 0x2d, 0xeb, 0x33, 0xa0, 0xf4, 0xa1, 0x39, 0x45,
            0xd8, 0x98, 0xc2, 0x96,
        ]);
        g[33..].copy_from_slice(&[
            0x4f, 0xe3, 0x42, 0xe2, 0xfe, 0x1a, 0x7f, 0x9b, 0x8e, 0xe7, 0xeb, 0x4a, 0x7c, 0x0f,
            0x9e, 0x16, 0x2b, 0xce, 0x33, 0x57, 0x6b, 0x31, 0x5e, 0xce, 0xcb, 0xb6, 0x40, 0x68,
            0x37, 0xbf, 0x51, 0xf5,
        ]);
        assert_eq!(parse_ec_point(&g), Some(g));
        let mut wrapped = vec![0x04, 0x41];
        wrapped.extend_from_slice(&g);
        assert_eq!(parse_ec_point(&wrapped), Some(g));
        let mut off_curve = g;
        off_curve[64] ^= 1;
        assert_eq!(parse_ec_point(&off_curve), None);
        assert_eq!(parse_ec_point(&g[..64]), None);
    }
}
