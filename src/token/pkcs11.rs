//! PKCS#11 backend: loading a module, finding tokens and keys, and the few operations custody
//! needs from them (AES-GCM with a token AES key, ECDH with a token P-256 key, key generation).
//!
//! This module only talks to the device. It knows nothing about custody's file formats.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Function, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::mechanism::Mechanism;
use cryptoki::mechanism::aead::GcmParams;
use cryptoki::mechanism::elliptic_curve::{EcKdf, Ecdh1DeriveParams};
use cryptoki::object::{Attribute, AttributeType, KeyType, ObjectClass, ObjectHandle};
use cryptoki::session::UserType;
use cryptoki::slot::Slot;
use secrecy::SecretString;
use zeroize::{Zeroize, Zeroizing};

/// DER encoding of the named-curve OID prime256v1 (1.2.840.10045.3.1.7), as `CKA_EC_PARAMS`.
pub const P256_EC_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];

/// Errors from the PKCS#11 backend.
///
/// No variant ever carries a PIN.
#[non_exhaustive]
#[derive(Debug)]
pub enum Pkcs11Error {
    /// The PKCS#11 module could not be found, loaded or initialised.
    LibraryLoad {
        /// The module path as given.
        path: PathBuf,
        /// Why loading failed.
        reason: String,
    },
    /// The token rejected the PIN (`CKR_PIN_INCORRECT`). The token may count this try.
    PinIncorrect,
    /// The PIN is locked after too many wrong tries (`CKR_PIN_LOCKED`).
    PinLocked,
    /// The PIN has a length or characters the token does not accept (`CKR_PIN_LEN_RANGE`,
    /// `CKR_PIN_INVALID`).
    PinInvalid,
    /// The PIN has expired and must be changed first (`CKR_PIN_EXPIRED`).
    PinExpired,
    /// The token's user PIN was never set (`CKR_USER_PIN_NOT_INITIALIZED`).
    PinNotInitialized,
    /// The token is not (or no longer) in its slot (`CKR_TOKEN_NOT_PRESENT`,
    /// `CKR_DEVICE_REMOVED`).
    TokenNotPresent,
    /// The key may not be used for this operation (`CKR_KEY_FUNCTION_NOT_PERMITTED`,
    /// `CKR_KEY_TYPE_INCONSISTENT`, or the key's own attributes say so).
    KeyFunctionNotPermitted {
        /// The operation that was refused, e.g. "ECDH".
        operation: &'static str,
    },
    /// AES-GCM decryption failed: wrong key, wrong AAD, or damaged ciphertext.
    ///
    /// Tokens report this in different ways (`CKR_GENERAL_ERROR` on SoftHSM,
    /// `CKR_ENCRYPTED_DATA_INVALID` elsewhere), so it cannot tell those causes apart.
    DecryptFailed,
    /// A freshly generated key does not have the protection attributes that were asked for,
    /// or the token would not reveal them. The key has been destroyed again.
    KeyAttributeCheck {
        /// The PKCS#11 attribute that failed the check, e.g. "CKA_SENSITIVE".
        attribute: &'static str,
        /// What was found instead.
        detail: String,
    },
    /// An ECDH derivation returned something other than a 32-byte shared secret.
    BadDerivedValue,
    /// Any other PKCS#11 failure.
    Other {
        /// The PKCS#11 function that failed, e.g. "C_GenerateKey", or for a failure outside
        /// any PKCS#11 call (e.g. a length that does not fit a `CK_ULONG`), the operation.
        function: String,
        /// The `CKR_` code or other detail.
        detail: String,
    },
}

impl fmt::Display for Pkcs11Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Pkcs11Error::LibraryLoad { path, reason } => {
                write!(
                    f,
                    "cannot load PKCS#11 module {}: {reason}",
                    path.display()
                )
            }
            Pkcs11Error::PinIncorrect => f.write_str("the token rejected the PIN"),
            Pkcs11Error::PinLocked => f.write_str("the token PIN is locked"),
            Pkcs11Error::PinInvalid => {
                f.write_str("the token does not accept a PIN of that length or with those characters")
            }
            Pkcs11Error::PinExpired => {
                f.write_str("the token PIN has expired and must be changed first")
            }
            Pkcs11Error::PinNotInitialized => f.write_str("the token's user PIN is not set"),
            Pkcs11Error::TokenNotPresent => f.write_str("the token is not present"),
            Pkcs11Error::KeyFunctionNotPermitted { operation } => {
                write!(f, "the token key is not allowed to be used for {operation}")
            }
            Pkcs11Error::DecryptFailed => f.write_str(
                "decryption on the token failed (wrong key, wrong associated data, or damaged data)",
            ),
            Pkcs11Error::KeyAttributeCheck { attribute, detail } => {
                write!(
                    f,
                    "the generated key failed the {attribute} check: {detail}"
                )
            }
            Pkcs11Error::BadDerivedValue => {
                f.write_str("the token's ECDH result is not a 32-byte shared secret")
            }
            Pkcs11Error::Other { function, detail } => {
                write!(f, "PKCS#11 {function} failed: {detail}")
            }
        }
    }
}

impl std::error::Error for Pkcs11Error {}

/// `RvError`'s Debug name in `CKR_` form, e.g. `PinIncorrect` → `CKR_PIN_INCORRECT`.
fn ckr_name(rv: RvError) -> String {
    match rv {
        RvError::VendorDefined(code) => format!("CKR_VENDOR_DEFINED ({code:#x})"),
        RvError::UnknownErrorCode(code) => format!("unknown return code {code:#x}"),
        other => {
            let camel = format!("{other:?}");
            let mut out = String::from("CKR");
            for c in camel.chars() {
                if c.is_ascii_uppercase() {
                    out.push('_');
                }
                out.push(c.to_ascii_uppercase());
            }
            out
        }
    }
}

/// Maps a cryptoki error to ours. `operation` names what we were doing, for errors that are
/// about the key's permitted use and for errors that did not come from a PKCS#11 function.
fn map_err(err: CkError, operation: &'static str) -> Pkcs11Error {
    match err {
        CkError::Pkcs11(rv, function) => match rv {
            RvError::PinIncorrect => Pkcs11Error::PinIncorrect,
            RvError::PinLocked => Pkcs11Error::PinLocked,
            RvError::PinLenRange | RvError::PinInvalid => Pkcs11Error::PinInvalid,
            RvError::PinExpired => Pkcs11Error::PinExpired,
            RvError::UserPinNotInitialized => Pkcs11Error::PinNotInitialized,
            RvError::TokenNotPresent | RvError::DeviceRemoved => Pkcs11Error::TokenNotPresent,
            RvError::KeyFunctionNotPermitted | RvError::KeyTypeInconsistent => {
                Pkcs11Error::KeyFunctionNotPermitted { operation }
            }
            other => Pkcs11Error::Other {
                function: function_name(function),
                detail: ckr_name(other),
            },
        },
        CkError::LibraryLoading(e) => Pkcs11Error::Other {
            function: operation.to_owned(),
            detail: e.to_string(),
        },
        other => Pkcs11Error::Other {
            function: operation.to_owned(),
            detail: other.to_string(),
        },
    }
}

fn function_name(function: Function) -> String {
    format!("C_{function:?}")
}

fn attribute_check(attribute: &'static str, detail: impl Into<String>) -> Pkcs11Error {
    Pkcs11Error::KeyAttributeCheck {
        attribute,
        detail: detail.into(),
    }
}

/// One loaded and initialised PKCS#11 module.
#[derive(Debug)]
pub struct Module {
    path: PathBuf,
    ctx: Pkcs11,
}

type ModuleCache = Mutex<HashMap<PathBuf, Arc<Module>>>;

fn module_cache() -> &'static ModuleCache {
    static CACHE: OnceLock<ModuleCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

impl Module {
    /// Loads the module at `path` and initialises it (`CKF_OS_LOCKING_OK`).
    ///
    /// Modules are cached per canonicalised path for the life of the process, because a module
    /// cannot be initialised twice in one process: a second call returns the same `Arc`.
    pub fn load(path: &Path) -> Result<Arc<Module>, Pkcs11Error> {
        let load_error = |reason: String| Pkcs11Error::LibraryLoad {
            path: path.to_path_buf(),
            reason,
        };
        let canonical = path.canonicalize().map_err(|e| load_error(e.to_string()))?;
        if !canonical.is_file() {
            return Err(load_error("not a file".to_owned()));
        }

        // The map is only written after a module is fully initialised, so a panic elsewhere
        // while the lock was held cannot have left it inconsistent.
        let mut cache = module_cache()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(module) = cache.get(&canonical) {
            return Ok(Arc::clone(module));
        }

        let ctx = Pkcs11::new(&canonical).map_err(|e| load_error(error_chain(&e)))?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            // Something else in this process (not through this cache) initialised the same
            // library; its state is shared, so it is usable as it is.
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(load_error(format!("C_Initialize: {}", describe(&e)))),
        }
        let module = Arc::new(Module {
            path: canonical.clone(),
            ctx,
        });
        cache.insert(canonical, Arc::clone(&module));
        Ok(module)
    }

    /// The underlying cryptoki context, for anything this wrapper does not offer (e.g. test
    /// fixtures that initialise tokens in-process, which SoftHSM needs to see them).
    pub fn cryptoki(&self) -> &Pkcs11 {
        &self.ctx
    }

    /// The canonical path the module was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every slot that has a token present.
    ///
    /// A token whose description cannot be read is left out, so that one broken or busy token
    /// does not hide the others (SoftHSM, for one, fails `C_GetTokenInfo` on a token another
    /// process is writing). Only if no token at all can be read is the error returned.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, Pkcs11Error> {
        let slots = self
            .ctx
            .get_slots_with_token()
            .map_err(|e| map_err(e, "C_GetSlotList"))?;
        let mut tokens = Vec::with_capacity(slots.len());
        let mut unreadable = None;
        for slot in slots {
            let info = match self.ctx.get_token_info(slot) {
                Ok(info) => info,
                // Removed between listing and asking: it is simply not there any more.
                Err(CkError::Pkcs11(
                    RvError::TokenNotPresent | RvError::DeviceRemoved | RvError::SlotIdInvalid,
                    _,
                )) => continue,
                Err(e) => {
                    unreadable = Some(map_err(e, "C_GetTokenInfo"));
                    continue;
                }
            };
            tokens.push(TokenInfo {
                slot,
                label: info.label().trim_end().to_owned(),
                serial: info.serial_number().trim().to_owned(),
                manufacturer: info.manufacturer_id().trim_end().to_owned(),
                model: info.model().trim_end().to_owned(),
                login_required: info.login_required(),
                protected_auth_path: info.protected_authentication_path(),
                pin_count_low: info.user_pin_count_low(),
                pin_final_try: info.user_pin_final_try(),
                pin_locked: info.user_pin_locked(),
                initialized: info.token_initialized(),
            });
        }
        match unreadable {
            Some(err) if tokens.is_empty() => Err(err),
            _ => Ok(tokens),
        }
    }

    /// Opens a read-write session on `token`, not logged in.
    pub fn open(&self, token: &TokenInfo) -> Result<Session, Pkcs11Error> {
        let inner = self
            .ctx
            .open_rw_session(token.slot)
            .map_err(|e| map_err(e, "C_OpenSession"))?;
        Ok(Session { inner })
    }
}

fn describe(err: &CkError) -> String {
    match err {
        CkError::Pkcs11(rv, _) => ckr_name(*rv),
        other => error_chain(other),
    }
}

/// The error's message followed by its sources, since `LibraryLoad` keeps only text and the
/// interesting part (e.g. dlopen's message) is often in a source.
fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        let text = s.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = s.source();
    }
    out
}

/// A token in a slot, as `C_GetTokenInfo` describes it.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    /// The slot holding the token. Slot ids may change between runs: find tokens by label or
    /// serial.
    pub slot: Slot,
    /// Token label, trailing padding removed.
    pub label: String,
    /// Token serial number, padding removed.
    pub serial: String,
    /// Manufacturer id.
    pub manufacturer: String,
    /// Token model.
    pub model: String,
    /// `CKF_LOGIN_REQUIRED`.
    pub login_required: bool,
    /// `CKF_PROTECTED_AUTHENTICATION_PATH`: the PIN is entered on a PIN pad, not given by us.
    pub protected_auth_path: bool,
    /// `CKF_USER_PIN_COUNT_LOW`: a wrong user PIN was given since the last good one.
    pub pin_count_low: bool,
    /// `CKF_USER_PIN_FINAL_TRY`: one more wrong user PIN locks it.
    pub pin_final_try: bool,
    /// `CKF_USER_PIN_LOCKED`.
    pub pin_locked: bool,
    /// `CKF_TOKEN_INITIALIZED`: an empty slot of SoftHSM2 shows an uninitialised token.
    pub initialized: bool,
}

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
    handle: ObjectHandle,
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
    inner: cryptoki::session::Session,
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
    fn key_info(
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ckr_names() {
        assert_eq!(ckr_name(RvError::PinIncorrect), "CKR_PIN_INCORRECT");
        assert_eq!(
            ckr_name(RvError::EncryptedDataLenRange),
            "CKR_ENCRYPTED_DATA_LEN_RANGE"
        );
        assert_eq!(
            function_name(Function::GetAttributeValue),
            "C_GetAttributeValue"
        );
    }

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

    #[test]
    fn error_mapping() {
        let e = map_err(
            CkError::Pkcs11(RvError::PinIncorrect, Function::Login),
            "login",
        );
        assert!(matches!(e, Pkcs11Error::PinIncorrect));
        let e = map_err(
            CkError::Pkcs11(RvError::ArgumentsBad, Function::Login),
            "login",
        );
        assert_eq!(e.to_string(), "PKCS#11 C_Login failed: CKR_ARGUMENTS_BAD");
    }
}
