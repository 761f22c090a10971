//! Finding tokens and keys from locators (backup, `--token`) or from a file's slot descriptors
//! (restore without `--token`), with one login per token.

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use secrecy::SecretString;
use zeroize::Zeroizing;

use super::pkcs11::{KeyInfo, KeyKind, Module, Pkcs11Error, Session, TokenInfo};
use super::uri::{Pkcs11Uri, TokenLocator};
use super::{AesKey, EcdhP256, KeyOps, TokenError, TokenKey, piv};
use crate::crypto::{self, Key32};
use crate::format::{Descriptor, PubkeyFile, SlotKind, display_escaped};
use crate::prompt::Prompter;

/// Where a module comes from when a locator names none.
#[derive(Clone, Debug)]
pub struct TokenEnv {
    /// `CUSTODY_PKCS11_MODULE`, else SoftHSM2's default path.
    pub default_module: PathBuf,
}

/// SoftHSM2's module on Debian.
pub const SOFTHSM_DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// Open sessions, one login per token, for the length of one operation.
pub struct Tokens<'p> {
    pub env: TokenEnv,
    prompter: &'p mut dyn Prompter,
    sessions: HashMap<(PathBuf, u64), Rc<Session>>,
    /// YubiKeys opened in this operation, by serial, with their PIN once it was verified.
    cards: HashMap<u32, (Rc<RefCell<yubikey::YubiKey>>, Option<SecretString>)>,
}

fn token_name(t: &TokenInfo) -> String {
    format!(
        "token \"{}\" (serial {})",
        display_escaped(&t.label),
        display_escaped(&t.serial)
    )
}

fn key_name(t: &TokenInfo, k: &KeyInfo) -> String {
    format!(
        "key \"{}\"{} on {}",
        display_escaped(&k.label),
        if k.id.is_empty() {
            String::new()
        } else {
            format!(" (id {})", hex::encode(&k.id))
        },
        token_name(t)
    )
}

fn map_err(token: &str, e: Pkcs11Error) -> TokenError {
    match e {
        Pkcs11Error::PinIncorrect => TokenError::PinIncorrect {
            token: token.to_owned(),
            final_try: false,
        },
        Pkcs11Error::PinLocked => TokenError::PinLocked {
            token: token.to_owned(),
        },
        Pkcs11Error::TokenNotPresent => TokenError::NotFound {
            what: format!("{token} is no longer present"),
        },
        Pkcs11Error::LibraryLoad { .. } => TokenError::NotFound {
            what: e.to_string(),
        },
        Pkcs11Error::KeyFunctionNotPermitted { operation } => TokenError::KeyUnusable {
            key: token.to_owned(),
            reason: format!("the token does not allow it to be used for {operation}"),
        },
        other => TokenError::Failed {
            token: token.to_owned(),
            detail: other.to_string(),
        },
    }
}

struct P11Aes {
    session: Rc<Session>,
    key: KeyInfo,
    name: String,
}

impl AesKey for P11Aes {
    fn encrypt_z(
        &self,
        iv: &mut [u8; 12],
        aad: &[u8],
        z: &[u8; 32],
    ) -> Result<[u8; 48], TokenError> {
        let ct = self
            .session
            .aes_gcm_encrypt(&self.key, iv, aad, z)
            .map_err(|e| map_err(&self.name, e))?;
        ct.try_into().map_err(|v: Vec<u8>| TokenError::Failed {
            token: self.name.clone(),
            detail: format!("AES-GCM returned {} bytes instead of 48", v.len()),
        })
    }
    fn decrypt_z(&self, iv: &[u8; 12], aad: &[u8], ct: &[u8; 48]) -> Result<Key32, TokenError> {
        match self.session.aes_gcm_decrypt(&self.key, iv, aad, ct) {
            Ok(pt) => crypto::check_z(&pt[..]).map_err(|detail| TokenError::Failed {
                token: self.name.clone(),
                detail,
            }),
            Err(Pkcs11Error::DecryptFailed) => Err(TokenError::WrongKey {
                key: self.name.clone(),
            }),
            Err(e) => Err(map_err(&self.name, e)),
        }
    }
}

struct P11Ecdh {
    session: Rc<Session>,
    key: KeyInfo,
    point: [u8; 65],
    name: String,
}

impl EcdhP256 for P11Ecdh {
    fn public_point(&self) -> [u8; 65] {
        self.point
    }
    fn ecdh(&self, peer: &p256::PublicKey) -> Result<Key32, TokenError> {
        let peer = crypto::p256_uncompressed(peer);
        let z: Zeroizing<[u8; 32]> = self
            .session
            .ecdh_p256(&self.key, &peer)
            .map_err(|e| map_err(&self.name, e))?;
        Ok(z)
    }
}

/// How a PIN was supplied in a locator (the URI's query part), if at all.
pub struct PinHint<'a> {
    pub value: Option<&'a SecretString>,
    pub source: Option<&'a Path>,
}

impl<'p> Tokens<'p> {
    pub fn new(env: TokenEnv, prompter: &'p mut dyn Prompter) -> Self {
        Tokens {
            env,
            prompter,
            sessions: HashMap::new(),
            cards: HashMap::new(),
        }
    }

    pub fn prompter(&mut self) -> &mut dyn Prompter {
        self.prompter
    }

    fn module(&self, path: Option<&Path>) -> Result<Arc<Module>, TokenError> {
        let p = path.unwrap_or(&self.env.default_module);
        Module::load(p).map_err(|e| TokenError::NotFound {
            what: format!(
                "{e} (set the module with module-path= in the token URI or CUSTODY_PKCS11_MODULE)"
            ),
        })
    }

    /// Every token present in a module.
    pub fn list(&self, module: Option<&Path>) -> Result<(Arc<Module>, Vec<TokenInfo>), TokenError> {
        let m = self.module(module)?;
        let t = m.tokens().map_err(|e| TokenError::Failed {
            token: m.path().display().to_string(),
            detail: e.to_string(),
        })?;
        // An uninitialised token (SoftHSM2's free slot) holds no keys and has no label to match.
        Ok((m, t.into_iter().filter(|t| t.initialized).collect()))
    }

    /// A logged-in session on `token` (one login per token per operation).
    fn session(
        &mut self,
        m: &Arc<Module>,
        token: &TokenInfo,
        pin: &PinHint<'_>,
    ) -> Result<Rc<Session>, TokenError> {
        let key = (m.path().to_path_buf(), token.slot.id());
        if let Some(s) = self.sessions.get(&key) {
            return Ok(s.clone());
        }
        let name = token_name(token);
        if token.pin_locked {
            return Err(TokenError::PinLocked { token: name });
        }
        let session = m.open(token).map_err(|e| map_err(&name, e))?;
        if token.login_required {
            if token.protected_auth_path {
                self.prompter
                    .info(&format!("Enter the PIN of {name} on its PIN pad."));
                session.login_protected().map_err(|e| map_err(&name, e))?;
            } else {
                let pin = match (pin.value, pin.source) {
                    (Some(v), _) => v.clone(),
                    (None, Some(path)) => {
                        read_pin_file(path).map_err(|detail| TokenError::Failed {
                            token: name.clone(),
                            detail,
                        })?
                    }
                    (None, None) => {
                        if token.pin_final_try {
                            self.prompter
                                .warn(&format!("{name}: one more wrong PIN will lock it."));
                        }
                        self.prompter.pin(&name).map_err(|e| TokenError::NoPin {
                            token: name.clone(),
                            detail: e.to_string(),
                        })?
                    }
                };
                if let Err(e) = session.login(&pin) {
                    let mut err = map_err(&name, e);
                    if let TokenError::PinIncorrect { final_try, .. } = &mut err {
                        *final_try = m
                            .tokens()
                            .ok()
                            .and_then(|ts| ts.into_iter().find(|t| t.slot.id() == token.slot.id()))
                            .is_some_and(|t| t.pin_final_try);
                    }
                    return Err(err);
                }
            }
        }
        let s = Rc::new(session);
        self.sessions.insert(key, s.clone());
        Ok(s)
    }

    /// Resolve a `--token` locator to a key (backup, keygen, or a restore override).
    pub fn resolve(&mut self, loc: &TokenLocator) -> Result<TokenKey<'static>, TokenError> {
        match loc {
            TokenLocator::Pkcs11(uri) => self.resolve_pkcs11(uri),
            TokenLocator::Pubkey(path) => resolve_pubkey(path),
            TokenLocator::Yubikey(y) => {
                let card = self.card(y.serial)?;
                let slot = piv::default_slot(&mut card.borrow_mut(), y.slot);
                let Some((point, _)) = piv::slot_public_key(&mut card.borrow_mut(), slot) else {
                    return Err(TokenError::NotFound {
                        what: format!(
                            "{} has no key in PIV slot {slot:02x}: make one with `custody token \
                             keygen --token yubikey:serial={};slot={slot:02x} --type p256`",
                            piv::card_name(y.serial),
                            y.serial
                        ),
                    });
                };
                let pin = PinHint {
                    value: y.pin_value.as_ref(),
                    source: y.pin_source.as_deref(),
                };
                self.piv_key(y.serial, slot, point, &pin)
            }
        }
    }

    /// The YubiKey with this serial, opened once per operation.
    pub fn card(&mut self, serial: u32) -> Result<Rc<RefCell<yubikey::YubiKey>>, TokenError> {
        if let Some((c, _)) = self.cards.get(&serial) {
            return Ok(c.clone());
        }
        let c = Rc::new(RefCell::new(piv::open_card(serial)?));
        self.cards.insert(serial, (c.clone(), None));
        Ok(c)
    }

    /// Serials of the YubiKeys present (none when the smart-card service is not running).
    pub fn cards_present(&mut self) -> Vec<u32> {
        piv::list_serials().unwrap_or_default()
    }

    /// A PIV key whose public key is known: say whether touch is needed, verify the PIN once per
    /// card, and wrap it as an ECDH provider.
    fn piv_key(
        &mut self,
        serial: u32,
        slot: u8,
        point: [u8; 65],
        pin: &PinHint<'_>,
    ) -> Result<TokenKey<'static>, TokenError> {
        let card = self.card(serial)?;
        let name = format!("{}, PIV slot {slot:02x}", piv::card_name(serial));
        let known = self.cards.get(&serial).and_then(|(_, p)| p.clone());
        let pin = if let Some(p) = known {
            p
        } else {
            let pin = match (pin.value, pin.source) {
                (Some(v), _) => {
                    self.prompter.warn(
                        "the PIN was given with pin-value= in the token locator: it is visible \
                         in the process arguments to every user of this machine. Prefer \
                         pin-source=file:... or CUSTODY_PIN.",
                    );
                    v.clone()
                }
                (None, Some(path)) => read_pin_file(path).map_err(|detail| TokenError::Failed {
                    token: name.clone(),
                    detail,
                })?,
                (None, None) => {
                    if let Ok(t) = card.borrow_mut().get_pin_retries()
                        && t == 1
                    {
                        self.prompter.warn(&format!(
                            "{}: one more wrong PIN will block its PIN.",
                            piv::card_name(serial)
                        ));
                    }
                    self.prompter
                        .pin(&piv::card_name(serial))
                        .map_err(|e| TokenError::NoPin {
                            token: piv::card_name(serial),
                            detail: e.to_string(),
                        })?
                }
            };
            // Verified now, so a wrong PIN is reported before anything else happens.
            piv::verify_pin(&mut card.borrow_mut(), &pin)?;
            if let Some(c) = self.cards.get_mut(&serial) {
                c.1 = Some(pin.clone());
            }
            pin
        };
        match piv::touch_needed(&mut card.borrow_mut(), slot) {
            Some(true) => self
                .prompter
                .info(&format!("Touch your YubiKey {serial} when it blinks.")),
            None => self
                .prompter
                .info(&format!("If your YubiKey {serial} blinks, touch it.")),
            Some(false) => {}
        }
        Ok(TokenKey {
            descriptor: Descriptor::Piv {
                card_serial: serial,
                piv_slot: slot,
                key_hash: crypto::p256_key_hash(&point),
            },
            name,
            ops: KeyOps::Ecdh(Box::new(piv::PivEcdh {
                card,
                slot,
                point,
                serial,
                pin,
            })),
        })
    }

    /// Restore: the PIV key a slot names. The card and the slot's public key are checked before
    /// any PIN is asked: a missing card, another card, and the right card without the key each
    /// get their own message.
    pub fn piv_key_for_slot(
        &mut self,
        d: &Descriptor,
        pin: &PinHint<'_>,
    ) -> Result<TokenKey<'static>, TokenError> {
        let Descriptor::Piv {
            card_serial,
            piv_slot,
            key_hash,
        } = d
        else {
            unreachable!("PIV descriptors only")
        };
        let card = self.card(*card_serial)?;
        let found = piv::slot_public_key(&mut card.borrow_mut(), *piv_slot);
        let Some((point, _)) = found else {
            return Err(TokenError::NotFound {
                what: format!(
                    "{} is present, but its PIV slot {piv_slot:02x} holds no key: this is the \
                     right card without the key this file needs (was the slot reset?)",
                    piv::card_name(*card_serial)
                ),
            });
        };
        if !crypto::ct_eq(&crypto::p256_key_hash(&point), key_hash) {
            return Err(TokenError::NotFound {
                what: format!(
                    "{} is present, but the key in PIV slot {piv_slot:02x} is another key than \
                     the one this file was made with (the slot was regenerated?)",
                    piv::card_name(*card_serial)
                ),
            });
        }
        self.piv_key(*card_serial, *piv_slot, point, pin)
    }

    /// Resolve a locator into `keys`, reusing an entry for the same key: its index.
    pub fn resolve_cached(
        &mut self,
        loc: &TokenLocator,
        keys: &mut Vec<TokenKey<'static>>,
    ) -> Result<usize, TokenError> {
        let k = self.resolve(loc)?;
        if let Some(i) = keys.iter().position(|o| o.descriptor == k.descriptor) {
            return Ok(i);
        }
        keys.push(k);
        Ok(keys.len() - 1)
    }

    /// The one token a URI names.
    pub fn find_token(&mut self, uri: &Pkcs11Uri) -> Result<(Arc<Module>, TokenInfo), TokenError> {
        if uri.pin_value.is_some() {
            self.prompter.warn(
                "the PIN was given with pin-value= in the token URI: it is visible in the process \
                 arguments to every user of this machine. Prefer pin-source=file:... or CUSTODY_PIN.",
            );
        }
        let (m, tokens) = self.list(uri.module_path.as_deref())?;
        let matching: Vec<TokenInfo> = tokens
            .iter()
            .filter(|t| {
                uri.token_label.as_ref().is_none_or(|l| &t.label == l)
                    && uri.token_serial.as_ref().is_none_or(|s| &t.serial == s)
                    && uri
                        .manufacturer
                        .as_ref()
                        .is_none_or(|s| &t.manufacturer == s)
                    && uri.model.as_ref().is_none_or(|s| &t.model == s)
                    && uri.slot_id.is_none_or(|s| t.slot.id() == s)
            })
            .cloned()
            .collect();
        match matching.len() {
            1 => Ok((m, matching.into_iter().next().expect("one"))),
            0 => Err(TokenError::NotFound {
                what: format!(
                    "no token matching {} in {}; present: {}",
                    uri.display_without_query(),
                    m.path().display(),
                    present_list(&tokens)
                ),
            }),
            n => Err(TokenError::NotFound {
                what: format!(
                    "{n} tokens match {}; add token= or serial= to pick one (present: {})",
                    uri.display_without_query(),
                    present_list(&tokens)
                ),
            }),
        }
    }

    /// A logged-in session on the token a URI names.
    pub fn open_uri(&mut self, uri: &Pkcs11Uri) -> Result<(Rc<Session>, TokenInfo), TokenError> {
        let (m, token) = self.find_token(uri)?;
        let pin = PinHint {
            value: uri.pin_value.as_ref(),
            source: uri.pin_source.as_deref(),
        };
        let s = self.session(&m, &token, &pin)?;
        Ok((s, token))
    }

    fn resolve_pkcs11(&mut self, uri: &Pkcs11Uri) -> Result<TokenKey<'static>, TokenError> {
        if uri.object_label.is_none() && uri.object_id.is_none() {
            return Err(TokenError::NotFound {
                what: format!(
                    "the token URI {} names no key: add object=<key label> or id=<key id>",
                    uri.display_without_query()
                ),
            });
        }
        let (session, token) = self.open_uri(uri)?;
        let kinds: &[KeyKind] = match uri.object_type.as_deref() {
            Some("secret-key") => &[KeyKind::Aes],
            Some("private") => &[KeyKind::P256],
            _ => &[KeyKind::Aes, KeyKind::P256],
        };
        let mut found = Vec::new();
        for &k in kinds {
            found.extend(
                session
                    .find_keys(uri.object_label.as_deref(), uri.object_id.as_deref(), k)
                    .map_err(|e| map_err(&token_name(&token), e))?,
            );
        }
        let key = match found.len() {
            1 => found.pop().expect("one"),
            0 => {
                return Err(TokenError::NotFound {
                    what: format!(
                        "{} has no AES or EC private key matching {}",
                        token_name(&token),
                        uri.display_without_query()
                    ),
                });
            }
            n => {
                return Err(TokenError::NotFound {
                    what: format!(
                        "{n} keys on {} match {}; add id= or type= to pick one",
                        token_name(&token),
                        uri.display_without_query()
                    ),
                });
            }
        };
        self.key_from(session, &token, key)
    }

    /// Check a key can do the job, warn about weak protection, and wrap it.
    fn key_from(
        &mut self,
        session: Rc<Session>,
        token: &TokenInfo,
        key: KeyInfo,
    ) -> Result<TokenKey<'static>, TokenError> {
        let name = key_name(token, &key);
        let unusable = |reason: &str| TokenError::KeyUnusable {
            key: name.clone(),
            reason: reason.to_owned(),
        };
        if key.extractable == Some(true) {
            self.prompter.warn(&format!(
                "{name} is extractable (CKA_EXTRACTABLE is true): it can be copied off the token."
            ));
        }
        if key.sensitive == Some(false) {
            self.prompter.warn(&format!(
                "{name} is not sensitive (CKA_SENSITIVE is false): its value can be read off the token."
            ));
        }
        match key.kind {
            KeyKind::Aes => {
                if key.value_len.is_some_and(|l| l != 32) {
                    return Err(unusable(&format!(
                        "it is an AES-{} key; custody needs AES-256",
                        key.value_len.unwrap_or(0) * 8
                    )));
                }
                if key.can_encrypt == Some(false) {
                    return Err(unusable("it may not encrypt (CKA_ENCRYPT is false)"));
                }
                if key.can_decrypt == Some(false) {
                    return Err(unusable("it may not decrypt (CKA_DECRYPT is false)"));
                }
                let descriptor = Descriptor::Pkcs11 {
                    kind: SlotKind::Pkcs11Aes,
                    token_label: token.label.clone(),
                    token_serial: token.serial.clone(),
                    key_label: key.label.clone(),
                    key_id: key.id.clone(),
                    key_hash: None,
                };
                Ok(TokenKey {
                    descriptor,
                    name: name.clone(),
                    ops: KeyOps::Aes(Box::new(P11Aes { session, key, name })),
                })
            }
            KeyKind::P256 => {
                if !key.is_p256 {
                    return Err(unusable("it is an EC key on another curve than P-256"));
                }
                if key.can_derive == Some(false) {
                    return Err(unusable(
                        "it may not derive (CKA_DERIVE is false: a sign-only key); make one with \
                         `custody token keygen --type p256` or pkcs11-tool --usage-derive",
                    ));
                }
                let Some(point) = key.public_point else {
                    return Err(unusable("its public key cannot be found on the token"));
                };
                let descriptor = Descriptor::Pkcs11 {
                    kind: SlotKind::Pkcs11P256,
                    token_label: token.label.clone(),
                    token_serial: token.serial.clone(),
                    key_label: key.label.clone(),
                    key_id: key.id.clone(),
                    key_hash: Some(crypto::p256_key_hash(&point)),
                };
                Ok(TokenKey {
                    descriptor,
                    name: name.clone(),
                    ops: KeyOps::Ecdh(Box::new(P11Ecdh {
                        session,
                        key,
                        point,
                        name,
                    })),
                })
            }
        }
    }

    /// Restore without `--token`: the present token a slot names (by serial, then by label).
    pub fn token_for_slot(&self, d: &Descriptor, present: &[TokenInfo]) -> Option<TokenInfo> {
        let Descriptor::Pkcs11 {
            token_label,
            token_serial,
            ..
        } = d
        else {
            return None;
        };
        if !token_serial.is_empty()
            && let Some(t) = present.iter().find(|t| &t.serial == token_serial)
        {
            return Some(t.clone());
        }
        present.iter().find(|t| &t.label == token_label).cloned()
    }

    /// The key a slot names on a given token (login as needed).
    pub fn key_for_slot(
        &mut self,
        m: &Arc<Module>,
        token: &TokenInfo,
        d: &Descriptor,
        pin: &PinHint<'_>,
    ) -> Result<TokenKey<'static>, TokenError> {
        let Descriptor::Pkcs11 {
            kind,
            key_label,
            key_id,
            ..
        } = d
        else {
            unreachable!("PKCS#11 descriptors only")
        };
        let session = self.session(m, token, pin)?;
        let kk = if *kind == SlotKind::Pkcs11Aes {
            KeyKind::Aes
        } else {
            KeyKind::P256
        };
        let id = (!key_id.is_empty()).then_some(key_id.as_slice());
        let label = (id.is_none() || !key_label.is_empty()).then_some(key_label.as_str());
        let mut found = session
            .find_keys(label, id, kk)
            .map_err(|e| map_err(&token_name(token), e))?;
        if found.len() != 1 {
            return Err(TokenError::NotFound {
                what: format!(
                    "{} has {} keys labelled \"{}\"{}",
                    token_name(token),
                    if found.is_empty() {
                        "no".to_string()
                    } else {
                        found.len().to_string()
                    },
                    display_escaped(key_label),
                    if key_id.is_empty() {
                        String::new()
                    } else {
                        format!(" with id {}", hex::encode(key_id))
                    }
                ),
            });
        }
        self.key_from(session, token, found.pop().expect("one"))
    }

    pub fn module_for_restore(&self) -> Result<(Arc<Module>, Vec<TokenInfo>), TokenError> {
        self.list(None)
    }
}

fn present_list(tokens: &[TokenInfo]) -> String {
    if tokens.is_empty() {
        return "none".into();
    }
    tokens.iter().map(token_name).collect::<Vec<_>>().join(", ")
}

/// First line of a PIN file, minus one trailing newline.
pub fn read_pin_file(path: &Path) -> Result<SecretString, String> {
    let bytes = Zeroizing::new(
        crate::media::read_bounded(path, 4096)
            .map_err(|e| format!("cannot read the PIN file {}: {e}", path.display()))?,
    );
    let s = std::str::from_utf8(&bytes)
        .map_err(|_| format!("the PIN file {} is not UTF-8", path.display()))?;
    let line = s.split('\n').next().unwrap_or("");
    let line = line.strip_suffix('\r').unwrap_or(line);
    Ok(SecretString::from(line.to_owned()))
}

fn resolve_pubkey(path: &Path) -> Result<TokenKey<'static>, TokenError> {
    let bytes = crate::media::read_bounded(path, 64 * 1024).map_err(|e| TokenError::NotFound {
        what: format!("cannot read the public-key file {}: {e}", path.display()),
    })?;
    let f = PubkeyFile::parse(&bytes).map_err(|e| TokenError::NotFound {
        what: format!("{} is not a custody public-key file: {e}", path.display()),
    })?;
    Ok(TokenKey {
        name: format!("{} (from {})", f.descriptor.describe(), path.display()),
        descriptor: f.descriptor,
        ops: KeyOps::PublicOnly(f.public_key),
    })
}
