//! Finding the PKCS#11 token and key that a locator (backup, `--token`) or a file's slot
//! (restore without `--token`) names, with one login per token for the length of an operation.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::rc::Rc;
use std::sync::Arc;

use super::adapter::{P11Aes, P11Ecdh};
use super::error::token_error;
use super::{KeyInfo, KeyKind, Module, Pkcs11Error, Session, TokenInfo};
use crate::crypto;
use crate::format::{Descriptor, SlotKind, display_escaped, display_path};
use crate::prompt::{PinReason, PinRequest, Prompter};
use crate::token::p11kit::RegisteredModule;
use crate::token::uri::{Pkcs11Uri, TokenLocator};
use crate::token::{
    Backend, GeneratedKey, KeyOps, KeySummary, PinHint, TokenError, TokenKey, TokenSummary,
};

/// SoftHSM2's module on Debian.
pub const SOFTHSM_DEFAULT_MODULE: &str = "/usr/lib/softhsm/libsofthsm2.so";

/// The PKCS#11 side of one operation: where modules come from, and the sessions opened so far
/// (one login per token).
pub struct Pkcs11Tokens {
    /// `CUSTODY_PKCS11_MODULE`: the module of a URI that names none, and searched first.
    env_module: Option<PathBuf>,
    /// The modules registered with p11-kit.
    registered: Vec<RegisteredModule>,
    sessions: HashMap<(PathBuf, u64), Rc<Session>>,
    /// Refuse a key that is not bound to its token (a backup's new keys), instead of warning.
    require_bound: bool,
}

/// The tokens of one module, as listed.
pub type Listed = (Arc<Module>, Vec<TokenInfo>);

/// The tokens of several modules, and the modules that could not be used.
#[derive(Default)]
pub struct Listing {
    /// Each module that could be listed, with its tokens.
    pub listed: Vec<Listed>,
    /// Each module that failed, and why.
    pub failed: Vec<(PathBuf, TokenError)>,
}

impl Listing {
    /// Every token listed, with its module.
    pub fn tokens(&self) -> impl Iterator<Item = (&Arc<Module>, &TokenInfo)> {
        self.listed
            .iter()
            .flat_map(|(m, ts)| ts.iter().map(move |t| (m, t)))
    }

    /// Why nothing could be listed: the first module's failure, when every module failed.
    pub fn all_failed(&self) -> Option<&TokenError> {
        if self.listed.is_empty() {
            self.failed.first().map(|(_, e)| e)
        } else {
            None
        }
    }
}

/// How people see a token in messages.
pub fn token_name(t: &TokenInfo) -> String {
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

/// Whether a token is one a URI names (every token attribute the URI gives agrees).
pub fn uri_matches(uri: &Pkcs11Uri, t: &TokenInfo) -> bool {
    uri.token_label.as_ref().is_none_or(|l| &t.label == l)
        && uri.token_serial.as_ref().is_none_or(|s| &t.serial == s)
        && uri
            .manufacturer
            .as_ref()
            .is_none_or(|s| &t.manufacturer == s)
        && uri.model.as_ref().is_none_or(|s| &t.model == s)
        && uri.slot_id.is_none_or(|s| t.slot.id() == s)
        && uri
            .slot_description
            .as_ref()
            .is_none_or(|s| t.slot_description.as_ref() == Some(s))
        && uri
            .slot_manufacturer
            .as_ref()
            .is_none_or(|s| t.slot_manufacturer.as_ref() == Some(s))
        && uri
            .library_manufacturer
            .as_ref()
            .is_none_or(|s| t.library.as_ref().is_some_and(|l| &l.manufacturer == s))
        && uri
            .library_description
            .as_ref()
            .is_none_or(|s| t.library.as_ref().is_some_and(|l| &l.description == s))
        && uri.library_version.is_none_or(|(major, minor)| {
            t.library
                .as_ref()
                .is_some_and(|l| l.version.0 == major && minor.is_none_or(|m| l.version.1 == m))
        })
}

/// How people see the token a URI names, before it is present: `token "L" (serial S)` with
/// the parts the URI gives, else the URI itself.
pub fn wanted_name(uri: &Pkcs11Uri) -> String {
    match (&uri.token_label, &uri.token_serial) {
        (Some(l), Some(s)) => format!(
            "token \"{}\" (serial {})",
            display_escaped(l),
            display_escaped(s)
        ),
        (Some(l), None) => format!("token \"{}\"", display_escaped(l)),
        (None, Some(s)) => format!("the token with serial {}", display_escaped(s)),
        (None, None) => format!("a token matching {}", uri.display_without_query()),
    }
}

fn present_list(tokens: &[TokenInfo]) -> String {
    if tokens.is_empty() {
        return "none".into();
    }
    tokens.iter().map(token_name).collect::<Vec<_>>().join(", ")
}

impl TokenInfo {
    /// The backend-neutral description of this token.
    pub fn summary(&self) -> TokenSummary {
        TokenSummary {
            slot_id: self.slot.id(),
            label: self.label.clone(),
            serial: self.serial.clone(),
            manufacturer: self.manufacturer.clone(),
            model: self.model.clone(),
            login_required: self.login_required,
            pin_count_low: self.pin_count_low,
            pin_final_try: self.pin_final_try,
            pin_locked: self.pin_locked,
        }
    }
}

impl Backend for Pkcs11Tokens {
    fn resolve(
        &mut self,
        prompter: &mut dyn Prompter,
        loc: &TokenLocator,
    ) -> Option<Result<TokenKey<'static>, TokenError>> {
        match loc {
            TokenLocator::Pkcs11(uri) => Some(self.resolve_uri(prompter, uri)),
            _ => None,
        }
    }
}

impl Pkcs11Tokens {
    /// `env_module` (`CUSTODY_PKCS11_MODULE`) is the module of a URI that names none; it and
    /// the `registered` modules are searched when nothing names a module. With neither,
    /// SoftHSM2's default module is.
    pub fn new(env_module: Option<PathBuf>, registered: Vec<RegisteredModule>) -> Self {
        Pkcs11Tokens {
            env_module,
            registered,
            sessions: HashMap::new(),
            require_bound: false,
        }
    }

    /// Refuse keys that are not bound to their token from now on (a backup's keys), instead of
    /// warning about them.
    pub fn require_bound(&mut self, on: bool) {
        self.require_bound = on;
    }

    /// The modules searched when nothing names one, each with its names (p11-kit's, or
    /// `CUSTODY_PKCS11_MODULE`): that variable's module, then every registered one (a library
    /// registered under the same file is not searched twice); SoftHSM2's default module when
    /// there is neither.
    pub fn search_modules(&self) -> Vec<(Vec<String>, PathBuf)> {
        let canonical = |p: &Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
        let mut out: Vec<(Vec<String>, PathBuf)> = Vec::new();
        if let Some(p) = &self.env_module {
            out.push((vec!["CUSTODY_PKCS11_MODULE".into()], p.clone()));
        }
        for m in &self.registered {
            match out
                .iter_mut()
                .find(|(_, p)| canonical(p) == canonical(&m.path))
            {
                Some((names, _)) => names.extend(m.names.iter().cloned()),
                None => out.push((m.names.clone(), m.path.clone())),
            }
        }
        if out.is_empty() {
            out.push((Vec::new(), PathBuf::from(SOFTHSM_DEFAULT_MODULE)));
        }
        out
    }

    /// The module files a URI means: its `module-path=`; else its `module-name=`, which must be
    /// registered with p11-kit; else `CUSTODY_PKCS11_MODULE`; else every module searched. No URI:
    /// every module searched.
    pub fn modules_for(&self, uri: Option<&Pkcs11Uri>) -> Result<Vec<PathBuf>, TokenError> {
        if let Some(p) = uri.and_then(|u| u.module_path.as_ref()) {
            return Ok(vec![p.clone()]);
        }
        if let Some(name) = uri.and_then(|u| u.module_name.as_deref()) {
            return match self
                .registered
                .iter()
                .find(|m| m.names.iter().any(|n| n == name))
            {
                Some(m) => Ok(vec![m.path.clone()]),
                None => Err(TokenError::NotFound {
                    what: format!(
                        "module-name={name} names no module registered with p11-kit (registered: \
                         {}); `p11-kit list-modules` shows them",
                        if self.registered.is_empty() {
                            "none".to_owned()
                        } else {
                            self.registered
                                .iter()
                                .flat_map(|m| m.names.iter().map(String::as_str))
                                .collect::<Vec<_>>()
                                .join(", ")
                        }
                    ),
                }),
            };
        }
        if uri.is_some()
            && let Some(p) = &self.env_module
        {
            return Ok(vec![p.clone()]);
        }
        Ok(self.search_modules().into_iter().map(|(_, p)| p).collect())
    }

    fn module(&self, path: &Path) -> Result<Arc<Module>, TokenError> {
        Module::load(path).map_err(|e| TokenError::NotFound {
            what: format!(
                "{e} (set the module with module-path= or module-name= in the token URI, or \
                 CUSTODY_PKCS11_MODULE)"
            ),
        })
    }

    /// Look for tokens plugged in since the modules were loaded ([`Module::rescan`]). Errors
    /// are left to the next listing, which reports them.
    pub fn rescan(&self, uri: Option<&Pkcs11Uri>) {
        for p in self.modules_for(uri).unwrap_or_default() {
            if let Ok(m) = self.module(&p) {
                let _ = m.rescan();
            }
        }
    }

    /// Every token present in one module.
    pub fn list(&self, module: &Path) -> Result<Listed, TokenError> {
        let m = self.module(module)?;
        let t = m.tokens().map_err(|e| TokenError::Failed {
            token: display_path(m.path()),
            detail: e.to_string(),
        })?;
        // An uninitialised token (SoftHSM2's free slot) holds no keys and has no label to match.
        Ok((m, t.into_iter().filter(|t| t.initialized).collect()))
    }

    /// Every key on `token` ([`KeySummary`]), after a login when the token needs one (AES and
    /// private keys are invisible before it): the PIN comes the usual way, through the
    /// prompter. The error says why the keys could not be listed (no PIN, refused, ...).
    pub fn keys_of(
        &mut self,
        prompter: &mut dyn Prompter,
        m: &Arc<Module>,
        token: &TokenInfo,
    ) -> Result<Vec<KeySummary>, TokenError> {
        let name = token_name(token);
        let listed = if token.login_required {
            let s = self.session(prompter, m, token, PinHint::default(), PinReason::Named)?;
            key_summaries(&s)
        } else {
            let s = m.open(token).map_err(|e| token_error(&name, e))?;
            key_summaries(&s)
        };
        listed.map_err(|e| token_error(&name, e))
    }

    /// Every token present in the modules a URI means ([`Pkcs11Tokens::modules_for`]), and the
    /// modules that failed. An error only when the URI names a module that is not registered.
    pub fn list_for(&self, uri: Option<&Pkcs11Uri>) -> Result<Listing, TokenError> {
        let mut listing = Listing::default();
        for p in self.modules_for(uri)? {
            match self.list(&p) {
                Ok(l) => listing.listed.push(l),
                Err(e) => listing.failed.push((p, e)),
            }
        }
        Ok(listing)
    }

    /// A logged-in session on `token` (one login per token per operation).
    fn session(
        &mut self,
        prompter: &mut dyn Prompter,
        m: &Arc<Module>,
        token: &TokenInfo,
        pin: PinHint<'_>,
        reason: PinReason,
    ) -> Result<Rc<Session>, TokenError> {
        let key = (m.path().to_path_buf(), token.slot.id());
        if let Some(s) = self.sessions.get(&key) {
            return Ok(s.clone());
        }
        let name = token_name(token);
        if token.pin_locked {
            return Err(TokenError::PinLocked { token: name });
        }
        let session = m.open(token).map_err(|e| token_error(&name, e))?;
        if token.login_required {
            if token.protected_auth_path {
                prompter.act(&format!("Enter the PIN of {name} on its PIN pad."));
                session
                    .login_protected()
                    .map_err(|e| token_error(&name, e))?;
            } else {
                if pin.value.is_none() && pin.source.is_none() && token.pin_final_try {
                    prompter.warn(
                        &format!("{name}: one more wrong PIN will lock it"),
                        "type its PIN with care, or stop here (Ctrl-C) and find the right one",
                    );
                }
                let mut request = PinRequest {
                    token: &name,
                    reason,
                    value: pin.value,
                    source: pin.source,
                    final_try: token.pin_final_try,
                    after_refusal: false,
                };
                let first = prompter
                    .pin(&request)
                    .map_err(|e| crate::token::pin_error(&name, e))?;
                if let Err(e) = session.login(&first) {
                    let mut err = token_error(&name, e);
                    let TokenError::PinIncorrect { final_try, .. } = &mut err else {
                        return Err(err);
                    };
                    *final_try = m
                        .tokens()
                        .ok()
                        .and_then(|ts| ts.into_iter().find(|t| t.slot.id() == token.slot.id()))
                        .is_some_and(|t| t.pin_final_try);
                    // Once: the source may give this token's own PIN instead of the refused one
                    // (never the same again); if it will not, the refusal stands.
                    request.after_refusal = true;
                    request.final_try = *final_try;
                    let Ok(other) = prompter.pin(&request) else {
                        return Err(err);
                    };
                    session.login(&other).map_err(|e| token_error(&name, e))?;
                }
            }
        }
        let s = Rc::new(session);
        self.sessions.insert(key, s.clone());
        Ok(s)
    }

    /// The one token a URI names, in the modules it means.
    pub fn find_token(&self, uri: &Pkcs11Uri) -> Result<(Arc<Module>, TokenInfo), TokenError> {
        let listing = self.list_for(Some(uri))?;
        if let Some(e) = listing.all_failed() {
            return Err(e.clone());
        }
        let all: Vec<TokenInfo> = listing.tokens().map(|(_, t)| t.clone()).collect();
        let mut matching: Vec<(&Arc<Module>, &TokenInfo)> = listing
            .tokens()
            .filter(|(_, t)| uri_matches(uri, t))
            .collect();
        let modules = listing
            .listed
            .iter()
            .map(|(m, _)| display_path(m.path()))
            .collect::<Vec<_>>()
            .join(", ");
        match (matching.pop(), matching.len()) {
            (Some((m, t)), 0) => Ok((m.clone(), t.clone())),
            // A label alone is what a person types (and mistypes): name it as such.
            (None, _) => Err(TokenError::NotFound {
                what: format!(
                    "no token {}; present: {} (module{} {modules})",
                    match &uri.token_label {
                        Some(l)
                            if uri.token_serial.is_none()
                                && uri.manufacturer.is_none()
                                && uri.model.is_none()
                                && uri.slot_id.is_none()
                                && uri.slot_description.is_none()
                                && uri.slot_manufacturer.is_none()
                                && uri.library_manufacturer.is_none()
                                && uri.library_description.is_none()
                                && uri.library_version.is_none() =>
                            format!("labelled \"{}\"", display_escaped(l)),
                        _ => format!("matching {}", uri.display_without_query()),
                    },
                    present_list(&all),
                    if listing.listed.len() == 1 { "" } else { "s" },
                ),
            }),
            (Some(_), n) => Err(TokenError::NotFound {
                what: format!(
                    "{} tokens match {}; add token= or serial= (or module-name=) to pick one \
                     (present: {})",
                    n + 1,
                    uri.display_without_query(),
                    present_list(&all)
                ),
            }),
        }
    }

    /// A logged-in session on the token a URI names.
    fn open_uri(
        &mut self,
        prompter: &mut dyn Prompter,
        uri: &Pkcs11Uri,
    ) -> Result<(Rc<Session>, TokenInfo), TokenError> {
        let (m, token) = self.find_token(uri)?;
        let pin = PinHint {
            value: uri.pin_value.as_ref(),
            source: uri.pin_source.as_deref(),
        };
        let s = self.session(prompter, &m, &token, pin, PinReason::Named)?;
        Ok((s, token))
    }

    /// What can be known of a key URI before a login: it names a key, and the one token it
    /// names is present. AES and private keys are invisible until the login.
    pub fn check_uri(&self, uri: &Pkcs11Uri) -> Result<(), TokenError> {
        if uri.object_label.is_none() && uri.object_id.is_none() {
            return Err(TokenError::NotFound {
                what: format!(
                    "the token URI {} names no key: add object=<key label> or id=<key id>",
                    uri.display_without_query()
                ),
            });
        }
        self.find_token(uri).map(|_| ())
    }

    /// The key a `--token` URI names (backup, or a restore override).
    pub fn resolve_uri(
        &mut self,
        prompter: &mut dyn Prompter,
        uri: &Pkcs11Uri,
    ) -> Result<TokenKey<'static>, TokenError> {
        self.check_uri(uri)?;
        let (session, token) = self.open_uri(prompter, uri)?;
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
                    .map_err(|e| token_error(&token_name(&token), e))?,
            );
        }
        let key = match (found.pop(), found.len()) {
            (Some(k), 0) => k,
            (None, _) => {
                return Err(TokenError::NotFound {
                    what: format!(
                        "{} has no AES or EC private key matching {}",
                        token_name(&token),
                        uri.display_without_query()
                    ),
                });
            }
            (Some(_), n) => {
                return Err(TokenError::NotFound {
                    what: format!(
                        "{} keys on {} match {}; add id= or type= to pick one",
                        n + 1,
                        token_name(&token),
                        uri.display_without_query()
                    ),
                });
            }
        };
        key_from(prompter, session, &token, key, self.require_bound)
    }

    /// Restore without `--token`: the present token a slot names (by serial, then by label),
    /// and which of the two matched. `None` for a slot of another backend.
    pub fn token_for_slot(d: &Descriptor, present: &[TokenInfo]) -> Option<(TokenInfo, PinReason)> {
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
            return Some((t.clone(), PinReason::SerialMatch));
        }
        present
            .iter()
            .find(|t| &t.label == token_label)
            .map(|t| (t.clone(), PinReason::LabelMatch))
    }

    /// The key a slot names on a given token (login as needed). `None`: the slot is not a
    /// PKCS#11 slot, so this backend has no key for it.
    pub fn key_for_slot(
        &mut self,
        prompter: &mut dyn Prompter,
        m: &Arc<Module>,
        token: &TokenInfo,
        d: &Descriptor,
        pin: PinHint<'_>,
        reason: PinReason,
    ) -> Option<Result<TokenKey<'static>, TokenError>> {
        let Descriptor::Pkcs11 {
            kind,
            key_label,
            key_id,
            ..
        } = d
        else {
            return None;
        };
        Some(self.key_for_pkcs11_slot(prompter, m, token, (*kind, key_label, key_id), pin, reason))
    }

    fn key_for_pkcs11_slot(
        &mut self,
        prompter: &mut dyn Prompter,
        m: &Arc<Module>,
        token: &TokenInfo,
        (kind, key_label, key_id): (SlotKind, &str, &[u8]),
        pin: PinHint<'_>,
        reason: PinReason,
    ) -> Result<TokenKey<'static>, TokenError> {
        let session = self.session(prompter, m, token, pin, reason)?;
        let kk = if kind == SlotKind::Pkcs11Aes {
            KeyKind::Aes
        } else {
            KeyKind::P256
        };
        let id = (!key_id.is_empty()).then_some(key_id);
        let label = (id.is_none() || !key_label.is_empty()).then_some(key_label);
        let mut found = session
            .find_keys(label, id, kk)
            .map_err(|e| token_error(&token_name(token), e))?;
        match (found.pop(), found.len()) {
            (Some(k), 0) => key_from(prompter, session, token, k, self.require_bound),
            (one, rest) => Err(TokenError::NotFound {
                what: format!(
                    "{} has {} keys labelled \"{}\"{}",
                    token_name(token),
                    if one.is_none() {
                        "no".to_string()
                    } else {
                        (rest + 1).to_string()
                    },
                    display_escaped(key_label),
                    if key_id.is_empty() {
                        String::new()
                    } else {
                        format!(" with id {}", hex::encode(key_id))
                    }
                ),
            }),
        }
    }

    /// Make a key on the token a URI names: AES-256 or P-256, labelled as `object=` says, with
    /// the URI's `id=` or a random one. A key already carrying the label is never replaced.
    pub fn generate(
        &mut self,
        prompter: &mut dyn Prompter,
        uri: &Pkcs11Uri,
        label: &str,
        kind: SlotKind,
    ) -> Result<GeneratedKey, TokenError> {
        let (session, info) = self.open_uri(prompter, uri)?;
        let id = uri
            .object_id
            .clone()
            .unwrap_or_else(|| crypto::random_array::<8>().to_vec());
        for k in [KeyKind::Aes, KeyKind::P256] {
            let existing =
                session
                    .find_keys(Some(label), None, k)
                    .map_err(|e| TokenError::Failed {
                        token: token_name(&info),
                        detail: e.to_string(),
                    })?;
            if !existing.is_empty() {
                return Err(TokenError::KeyExists {
                    what: format!(
                        "token \"{}\" already has a key labelled \"{}\"",
                        display_escaped(&info.label),
                        display_escaped(label)
                    ),
                });
            }
        }
        let key = match kind {
            SlotKind::Pkcs11Aes => session.generate_aes256(label, &id),
            _ => session.generate_p256(label, &id),
        }
        .map_err(|e| TokenError::Failed {
            token: token_name(&info),
            detail: e.to_string(),
        })?;
        Ok(GeneratedKey {
            descriptor: descriptor(&info, &key, kind),
            label: key.label.clone(),
            id: key.id.clone(),
            public_point: key.public_point,
        })
    }
}

fn descriptor(token: &TokenInfo, key: &KeyInfo, kind: SlotKind) -> Descriptor {
    Descriptor::Pkcs11 {
        kind,
        token_label: token.label.clone(),
        token_serial: token.serial.clone(),
        key_label: key.label.clone(),
        key_id: key.id.clone(),
        key_hash: key.public_point.as_ref().map(crypto::p256_key_hash),
    }
}

/// Why a key is not bound to its token, from what the token says of it: each attribute that
/// fails, and what that means. An attribute the token does not reveal fails too (nothing says
/// the key is safe). Empty: bound.
pub fn binding_problems(key: &KeyInfo) -> Vec<String> {
    let says = |v: Option<bool>, want: bool, attr: &str, meaning: &str| -> Option<String> {
        match v {
            Some(b) if b == want => None,
            Some(_) => Some(format!("{attr} is {}: {meaning}", !want)),
            None => Some(format!(
                "the token does not say {attr}: {meaning} for all it says"
            )),
        }
    };
    [
        says(
            key.local,
            true,
            "CKA_LOCAL",
            "imported, not made on the token: its value exists off the token",
        ),
        says(
            key.sensitive,
            true,
            "CKA_SENSITIVE",
            "its value can be read off the token",
        ),
        says(
            key.always_sensitive,
            true,
            "CKA_ALWAYS_SENSITIVE",
            "its value could be read off the token once",
        ),
        says(
            key.extractable,
            false,
            "CKA_EXTRACTABLE",
            "it can be copied off the token, wrapped",
        ),
        says(
            key.never_extractable,
            true,
            "CKA_NEVER_EXTRACTABLE",
            "it could be copied off the token once",
        ),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// Check a key can do the job and is bound to its token (refused when `require_bound`, else a
/// warning, at every use), and wrap it.
/// Why custody cannot use a key for a slot, `None` when it can.
fn unusable_reason(key: &KeyInfo) -> Option<String> {
    match key.kind {
        KeyKind::Aes if key.value_len.is_some_and(|l| l != 32) => Some(format!(
            "it is an AES-{} key; custody needs AES-256",
            key.value_len.unwrap_or(0) * 8
        )),
        KeyKind::Aes if key.can_encrypt == Some(false) => {
            Some("it may not encrypt (CKA_ENCRYPT is false)".into())
        }
        KeyKind::Aes if key.can_decrypt == Some(false) => {
            Some("it may not decrypt (CKA_DECRYPT is false)".into())
        }
        KeyKind::P256 if !key.is_p256 => Some("it is an EC key on another curve than P-256".into()),
        KeyKind::P256 if key.can_derive == Some(false) => Some(
            "it may not derive (CKA_DERIVE is false: a sign-only key); make one with `custody \
             token keygen --type p256` or pkcs11-tool --usage-derive"
                .into(),
        ),
        KeyKind::P256 if key.public_point.is_none() => {
            Some("its public key cannot be found on the token".into())
        }
        _ => None,
    }
}

/// What `token list` shows of every key on a token: the AES and EC private keys with whether
/// custody can use them (one entry per key pair), and every other secret or private key with
/// why not.
fn key_summaries(session: &Session) -> Result<Vec<KeySummary>, Pkcs11Error> {
    let mut out = Vec::new();
    for kind in [KeyKind::Aes, KeyKind::P256] {
        for key in session.find_keys(None, None, kind)? {
            out.push(KeySummary {
                kind: match kind {
                    KeyKind::Aes => format!("aes-{}", key.value_len.unwrap_or(0) * 8),
                    KeyKind::P256 if key.is_p256 => "p256".into(),
                    KeyKind::P256 => "ec".into(),
                },
                unusable: unusable_reason(&key),
                not_bound: binding_problems(&key),
                public_point: key.public_point,
                label: key.label,
                id: key.id,
            });
        }
    }
    for (kind, label, id) in session.other_keys()? {
        out.push(KeySummary {
            unusable: Some(format!(
                "it is {kind}: custody uses AES-256 keys and P-256 keys that may derive"
            )),
            kind,
            label,
            id,
            not_bound: Vec::new(),
            public_point: None,
        });
    }
    Ok(out)
}

fn key_from(
    prompter: &mut dyn Prompter,
    session: Rc<Session>,
    token: &TokenInfo,
    key: KeyInfo,
    require_bound: bool,
) -> Result<TokenKey<'static>, TokenError> {
    let name = key_name(token, &key);
    let unusable = |reason: &str| TokenError::KeyUnusable {
        key: name.clone(),
        reason: reason.to_owned(),
    };
    let problems = binding_problems(&key);
    let bound = problems.is_empty();
    if !bound {
        let why = problems.join("; ");
        if require_bound {
            return Err(TokenError::NotBound {
                key: name.clone(),
                reason: why,
            });
        }
        prompter.warn(
            &format!(
                "{name} is not bound to its token ({why}): whoever has its value and the \
                 password can open the backup without the token"
            ),
            "make a key on the token (`custody token keygen`) and rewrap onto it \
             (`custody rewrap --new-token URI --drop-token OLD`)",
        );
    }
    if let Some(reason) = unusable_reason(&key) {
        return Err(unusable(&reason));
    }
    match key.kind {
        KeyKind::Aes => Ok(TokenKey {
            descriptor: descriptor(token, &key, SlotKind::Pkcs11Aes),
            hardware_bound: bound,
            name: name.clone(),
            ops: KeyOps::Aes(Box::new(P11Aes { session, key, name })),
        }),
        KeyKind::P256 => {
            let Some(point) = key.public_point else {
                return Err(unusable("its public key cannot be found on the token"));
            };
            Ok(TokenKey {
                descriptor: descriptor(token, &key, SlotKind::Pkcs11P256),
                hardware_bound: bound,
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
