//! The tokens and cards one operation uses, whatever their backend: one login per token and
//! one PIN verification per card, for the length of the operation. The ceremony sees tokens only
//! through this registry; which backend serves a locator or a slot is decided here.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use super::piv::{self, PivCards};
use super::pkcs11::{Module, Pkcs11Tokens, TokenInfo};
use super::uri::{Pkcs11Uri, TokenLocator};
use super::{
    Backend, CardSummary, GeneratedKey, PinHint, PivKeygen, TokenError, TokenKey, TokenSummary,
};
use crate::format::{Descriptor, SlotKind};
use crate::prompt::{PinReason, Prompter};

pub use super::pkcs11::SOFTHSM_DEFAULT_MODULE;

/// Where a module comes from when a locator names none.
#[derive(Clone, Debug)]
pub struct TokenEnv {
    /// `CUSTODY_PKCS11_MODULE`, else SoftHSM2's default path.
    pub default_module: PathBuf,
}

/// A token found present that may hold the key of a slot: an opaque handle the ceremony passes
/// back to [`Tokens::key_for_slot`].
#[derive(Clone)]
pub struct Present(PresentInner);

#[derive(Clone)]
enum PresentInner {
    Pkcs11(Arc<Module>, TokenInfo),
    Piv,
}

/// The tokens of one module, as listed.
type Listed = (Arc<Module>, Vec<TokenInfo>);

/// What is present for a restore: the PKCS#11 tokens of the default module and the YubiKeys.
pub struct Presence {
    pkcs11: Option<Result<Listed, TokenError>>,
    cards: Option<Vec<u32>>,
}

impl Presence {
    /// Why the PKCS#11 tokens could not be listed, if they could not.
    pub fn pkcs11_error(&self) -> Option<&TokenError> {
        self.pkcs11.as_ref().and_then(|r| r.as_ref().err())
    }

    /// The YubiKeys present (empty when none was looked for).
    pub fn cards(&self) -> &[u32] {
        self.cards.as_deref().unwrap_or_default()
    }
}

/// Everything a listing shows: the tokens of one PKCS#11 module and the YubiKeys present.
pub struct Inventory {
    /// The module that was asked.
    pub module: PathBuf,
    /// Its tokens, or why it could not be used.
    pub tokens: Result<Vec<TokenSummary>, TokenError>,
    /// The YubiKeys, or why the smart-card service could not be reached.
    pub cards: Result<Vec<CardSummary>, TokenError>,
}

/// Open sessions and cards for the length of one operation.
pub struct Tokens<'p> {
    prompter: &'p mut dyn Prompter,
    pkcs11: Pkcs11Tokens,
    piv: PivCards,
}

impl<'p> Tokens<'p> {
    /// A registry that asks `prompter` for PINs and tells it what happens.
    pub fn new(env: TokenEnv, prompter: &'p mut dyn Prompter) -> Self {
        Tokens {
            prompter,
            pkcs11: Pkcs11Tokens::new(env.default_module),
            piv: PivCards::default(),
        }
    }

    /// The person at the keyboard, for messages between token operations.
    pub fn prompter(&mut self) -> &mut dyn Prompter {
        self.prompter
    }

    /// The key a `--token` locator names. `None` for a `pubkey:` locator: a file, not a token.
    pub fn resolve(&mut self, loc: &TokenLocator) -> Option<Result<TokenKey<'static>, TokenError>> {
        let backends: [&mut dyn Backend; 2] = [&mut self.pkcs11, &mut self.piv];
        backends
            .into_iter()
            .find_map(|b| b.resolve(&mut *self.prompter, loc))
    }

    /// What is present, looking only for the kinds of token the file's slots name.
    pub fn presence(&mut self, slots: &[&Descriptor]) -> Presence {
        let pkcs11 = slots
            .iter()
            .any(|d| matches!(d, Descriptor::Pkcs11 { .. }))
            .then(|| self.pkcs11.list(None));
        let cards = slots
            .iter()
            .any(|d| matches!(d, Descriptor::Piv { .. }))
            .then(|| self.piv.present());
        Presence { pkcs11, cards }
    }

    /// The present token a slot names, and why it was chosen (serial or label match).
    pub fn present_for_slot(
        &self,
        presence: &Presence,
        d: &Descriptor,
    ) -> Option<(Present, PinReason)> {
        match d {
            Descriptor::Pkcs11 { .. } => {
                let Some(Ok((m, present))) = &presence.pkcs11 else {
                    return None;
                };
                Pkcs11Tokens::token_for_slot(d, present)
                    .map(|(t, why)| (Present(PresentInner::Pkcs11(m.clone(), t)), why))
            }
            Descriptor::Piv { card_serial, .. } => presence
                .cards()
                .contains(card_serial)
                .then_some((Present(PresentInner::Piv), PinReason::SerialMatch)),
        }
    }

    /// The one PKCS#11 token a URI names (a `--token` that names a token but no key).
    pub fn find_token(&mut self, uri: &Pkcs11Uri) -> Result<Present, TokenError> {
        let (m, t) = self.pkcs11.find_token(uri)?;
        Ok(Present(PresentInner::Pkcs11(m, t)))
    }

    /// The key a slot names on a present token or card, logging in as needed. `pin` is what
    /// the locator that named the token said about its PIN. `None`: that token cannot hold
    /// this slot's key (another backend).
    pub fn key_for_slot(
        &mut self,
        present: &Present,
        d: &Descriptor,
        pin: PinHint<'_>,
        reason: PinReason,
    ) -> Option<Result<TokenKey<'static>, TokenError>> {
        match &present.0 {
            PresentInner::Pkcs11(m, t) => {
                self.pkcs11
                    .key_for_slot(self.prompter, m, t, d, pin, reason)
            }
            PresentInner::Piv => self.piv.key_for_slot(self.prompter, d, pin, reason),
        }
    }

    /// Every token of a module (the default one when `module` is `None`) and every YubiKey.
    pub fn inventory(&self, module: Option<&Path>) -> Inventory {
        let module_path = module.unwrap_or(self.pkcs11.default_module()).to_path_buf();
        let tokens = self
            .pkcs11
            .list(module)
            .map(|(_, list)| list.iter().map(TokenInfo::summary).collect());
        Inventory {
            module: module_path,
            tokens,
            cards: piv::list_cards(),
        }
    }

    /// Make a key where a locator says: AES-256 or P-256 on a PKCS#11 token (named by the
    /// URI's `object=`), or P-256 in a YubiKey's PIV slot.
    pub fn generate(
        &mut self,
        loc: &TokenLocator,
        kind: SlotKind,
        piv_options: PivKeygen,
    ) -> Result<GeneratedKey, KeygenRefusal> {
        match loc {
            TokenLocator::Pkcs11(uri) => {
                if kind == SlotKind::PivP256 {
                    return Err(KeygenRefusal::KindNotOnToken);
                }
                let Some(label) = uri.object_label.clone() else {
                    return Err(KeygenRefusal::NoLabel);
                };
                Ok(self.pkcs11.generate(self.prompter, uri, &label, kind)?)
            }
            TokenLocator::Yubikey(y) => {
                if kind != SlotKind::PivP256 {
                    return Err(KeygenRefusal::KindNotOnCard);
                }
                Ok(self.piv.generate(self.prompter, y, piv_options)?)
            }
            TokenLocator::Pubkey(_) => Err(KeygenRefusal::Pubkey),
        }
    }
}

/// Why key generation did not start, or the token's own failure.
#[derive(Debug)]
#[non_exhaustive]
pub enum KeygenRefusal {
    /// The PKCS#11 URI names no `object=` label for the new key.
    NoLabel,
    /// An AES key was asked of a YubiKey (PIV holds P-256 keys here).
    KindNotOnCard,
    /// A PIV key was asked of a PKCS#11 token (PKCS#11 keys are `pkcs11-aes` or `pkcs11-p256`).
    KindNotOnToken,
    /// A `pubkey:` file was given: keys are made on a token.
    Pubkey,
    /// The token or card failed or refused.
    Token(TokenError),
}

impl std::fmt::Display for KeygenRefusal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KeygenRefusal::NoLabel => write!(f, "the token URI names no label for the new key"),
            KeygenRefusal::KindNotOnCard => write!(f, "a YubiKey holds P-256 keys"),
            KeygenRefusal::KindNotOnToken => {
                write!(
                    f,
                    "a PKCS#11 token holds AES-256 or P-256 keys, not PIV keys"
                )
            }
            KeygenRefusal::Pubkey => write!(f, "keys are generated on a token, not a file"),
            KeygenRefusal::Token(e) => write!(f, "{e}"),
        }
    }
}

impl std::error::Error for KeygenRefusal {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            KeygenRefusal::Token(e) => Some(e),
            _ => None,
        }
    }
}

impl KeygenRefusal {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        match self {
            KeygenRefusal::Token(e) => e.kind(),
            _ => crate::error::ErrorKind::InvalidRequest,
        }
    }
}

impl From<TokenError> for KeygenRefusal {
    fn from(e: TokenError) -> Self {
        KeygenRefusal::Token(e)
    }
}

/// The name a YubiKey goes by in messages.
pub fn card_name(serial: u32) -> String {
    piv::card_name(serial)
}
