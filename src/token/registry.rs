//! The tokens and cards one operation uses, whatever their backend: one login per token and
//! one PIN verification per card, for the length of the operation. The ceremony sees tokens only
//! through this registry; which backend serves a locator or a slot is decided here.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use super::p11kit;
use super::piv::{self, PivCards};
use super::pkcs11::{self as p11, Listed, Module, Pkcs11Tokens, TokenInfo};
use super::uri::{Pkcs11Uri, TokenLocator};
use super::{
    Backend, CardSummary, GeneratedKey, KeySummary, PinHint, PivKeygen, TokenError, TokenKey,
    TokenSummary,
};
use crate::format::{Descriptor, SlotKind};
use crate::format::{display_escaped, display_path};
use crate::prompt::{PinReason, Prompter};

pub use super::pkcs11::SOFTHSM_DEFAULT_MODULE;

/// Where PKCS#11 modules come from when a locator names none (docs/FORMAT.md §5.2): the file
/// never names one.
#[derive(Clone, Debug, Default)]
pub struct TokenEnv {
    /// `CUSTODY_PKCS11_MODULE`: the module of a URI that names none, and searched first.
    pub module: Option<PathBuf>,
    /// The modules registered with p11-kit ([`TokenEnv::from_system`]), searched too and named by
    /// `module-name=`. With neither, SoftHSM2's default module is used.
    pub registered: Vec<p11kit::RegisteredModule>,
}

impl TokenEnv {
    /// This process's: `CUSTODY_PKCS11_MODULE` and p11-kit's registry as p11-kit reads it for
    /// a program named `custody`, with what in that registry was not used and why.
    pub fn from_system() -> (TokenEnv, Vec<String>) {
        let registry = p11kit::load(&p11kit::Dirs::system(), "custody");
        (
            TokenEnv {
                module: std::env::var_os("CUSTODY_PKCS11_MODULE")
                    .filter(|v| !v.is_empty())
                    .map(PathBuf::from),
                registered: registry.modules,
            },
            registry.warnings,
        )
    }
}

/// A token found present that may hold the key of a slot: an opaque handle the ceremony passes
/// back to [`Tokens::key_for_slot`].
#[derive(Clone)]
pub struct Present(PresentInner);

#[derive(Clone)]
enum PresentInner {
    Pkcs11(Arc<Module>, Box<TokenInfo>),
    Piv,
}

/// What is present for a restore: the PKCS#11 tokens of the modules searched and the YubiKeys.
pub struct Presence {
    /// The modules listed, or why none could be.
    pkcs11: Option<Result<Vec<Listed>, TokenError>>,
    /// Modules that failed while others were listed.
    failed_modules: Vec<(PathBuf, TokenError)>,
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

/// Everything a listing shows: the tokens of each PKCS#11 module and the YubiKeys present.
pub struct Inventory {
    /// Each module asked, in the order searched.
    pub modules: Vec<ModuleInventory>,
    /// The YubiKeys, or why the smart-card service could not be reached.
    pub cards: Result<Vec<CardSummary>, TokenError>,
}

/// One PKCS#11 module of an [`Inventory`].
pub struct ModuleInventory {
    /// The library.
    pub path: PathBuf,
    /// Its p11-kit names (or `CUSTODY_PKCS11_MODULE`); empty for a module given by path.
    pub names: Vec<String>,
    /// Its tokens, or why it could not be used.
    pub tokens: Result<Vec<TokenInventory>, TokenError>,
}

/// One token of an [`Inventory`], and its keys.
pub struct TokenInventory {
    /// What the token says of itself.
    pub token: TokenSummary,
    /// Its keys; `None` when no login was asked for; the error when they could not be listed
    /// (no PIN, a PIN refused, ...).
    pub keys: Option<Result<Vec<KeySummary>, TokenError>>,
}

/// Open sessions and cards for the length of one operation.
pub struct Tokens<'p> {
    prompter: &'p mut dyn Prompter,
    pkcs11: Pkcs11Tokens,
    piv: PivCards,
    /// Modules that failed and were named in a warning (once per operation).
    warned: BTreeSet<PathBuf>,
}

impl<'p> Tokens<'p> {
    /// A registry that asks `prompter` for PINs and tells it what happens.
    pub fn new(env: TokenEnv, prompter: &'p mut dyn Prompter) -> Self {
        Tokens {
            prompter,
            pkcs11: Pkcs11Tokens::new(env.module, env.registered),
            piv: PivCards::default(),
            warned: BTreeSet::new(),
        }
    }

    /// From now on, refuse a PKCS#11 key that is not bound to its token (imported, or one the
    /// token could let out: see `binding_problems`) instead of warning about it: for the keys a
    /// backup, rewrap or reshare adds. Restore and verify only warn.
    pub fn require_bound(&mut self, on: bool) {
        self.pkcs11.require_bound(on);
        self.piv.require_bound(on);
    }

    /// The person at the keyboard, for messages between token operations.
    pub fn prompter(&mut self) -> &mut dyn Prompter {
        self.prompter
    }

    /// The key a `--token` locator names. `None` for a `pubkey:` locator: a file, not a token.
    /// When the token or card it names is absent and someone can plug it in, custody waits.
    pub fn resolve(&mut self, loc: &TokenLocator) -> Option<Result<TokenKey<'static>, TokenError>> {
        self.await_locator(loc);
        let backends: [&mut dyn Backend; 2] = [&mut self.pkcs11, &mut self.piv];
        backends
            .into_iter()
            .find_map(|b| b.resolve(&mut *self.prompter, loc))
    }

    /// What can be checked of a key locator before any PIN (issue 8, item 6): the token or card
    /// it names is present (waited for, as usual, when someone can plug it in), a PKCS#11 URI
    /// names a key and one token, and a YubiKey slot holds a key. AES and private keys on a
    /// PKCS#11 token are invisible before a login: they are looked for right after it.
    pub fn check_before_login(&mut self, loc: &TokenLocator) -> Result<(), TokenError> {
        self.await_locator(loc);
        match loc {
            TokenLocator::Pkcs11(uri) => self.pkcs11.check_uri(uri),
            TokenLocator::Yubikey(y) => self.piv.locator_key(y).map(|_| ()),
            TokenLocator::Pubkey(_) => Ok(()),
        }
    }

    /// What can be checked of a file's slot before any PIN: its token or card is present and,
    /// for a YubiKey slot, the card holds the slot's very key (its public key is readable
    /// without a PIN). The error says what is missing.
    pub fn check_slot_before_login(&mut self, d: &Descriptor) -> Result<(), TokenError> {
        let presence = self.presence(&[d]);
        if let Some(e) = presence.pkcs11_error() {
            return Err(e.clone());
        }
        if slot_present(&presence, d).is_none() {
            return Err(TokenError::NotFound {
                what: format!("{} is not present", wanted_for_slot(d)),
            });
        }
        match self.piv.slot_key(d) {
            Some(Err(e)) => Err(e),
            _ => Ok(()),
        }
    }

    /// What is present, looking only for the kinds of token the file's slots name.
    pub fn presence(&mut self, slots: &[&Descriptor]) -> Presence {
        let p = presence_of(&self.pkcs11, &self.piv, slots);
        self.warn_failed(&p);
        p
    }

    /// A module that fails while others work is named once, and the others are used.
    fn warn_failed(&mut self, p: &Presence) {
        for (path, e) in &p.failed_modules {
            if self.warned.insert(path.clone()) {
                self.prompter.warn(
                    &format!("PKCS#11 module {} is not used: {e}", display_path(path)),
                    "if custody needs it, check that the library loads (`p11-kit list-modules`) \
                     or remove its registration; the other modules are still searched",
                );
            }
        }
    }

    /// What is present, as [`Tokens::presence`]; when no slot's token or card is, and someone
    /// is there to plug one in ([`Prompter::wait_for`]), the tokens and cards are looked for
    /// again every [`WAIT_INTERVAL`] until one of them is (or the prompter stops the wait).
    pub fn presence_waiting(&mut self, slots: &[&Descriptor]) -> Presence {
        let first = presence_of(&self.pkcs11, &self.piv, slots);
        self.warn_failed(&first);
        let any_present = |p: &Presence| slots.iter().any(|d| slot_present(p, d).is_some());
        let piv_slots = slots.iter().any(|d| matches!(d, Descriptor::Piv { .. }));
        // Nothing to wait for when the module itself fails (it will not heal by waiting) and
        // no slot is a YubiKey's.
        if any_present(&first) || (first.pkcs11_error().is_some() && !piv_slots) {
            return first;
        }
        let mut wanted: Vec<String> = Vec::new();
        for d in slots {
            let name = wanted_for_slot(d);
            if !wanted.contains(&name) {
                wanted.push(name);
            }
        }
        let (pkcs11, piv) = (&self.pkcs11, &self.piv);
        wait_until(
            &mut *self.prompter,
            &wanted.join(" or "),
            WAIT_INTERVAL,
            present_names(&first),
            || {
                if slots.iter().any(|d| matches!(d, Descriptor::Pkcs11 { .. })) {
                    pkcs11.rescan(None);
                }
                let p = presence_of(pkcs11, piv, slots);
                if any_present(&p) {
                    Ok(p)
                } else {
                    Err(present_names(&p))
                }
            },
        )
        .unwrap_or(first)
    }

    /// The present token a slot names, and why it was chosen (serial or label match).
    pub fn present_for_slot(
        &self,
        presence: &Presence,
        d: &Descriptor,
    ) -> Option<(Present, PinReason)> {
        slot_present(presence, d)
    }

    /// Wait, if someone is there to plug it in, until the token a URI names is present. The
    /// caller then finds it as usual, so a wait that ends without it reports the absence.
    fn await_token(&mut self, uri: &Pkcs11Uri) {
        let listed = |p: &Pkcs11Tokens| -> Result<(), BTreeSet<String>> {
            match p.list_for(Some(uri)) {
                Ok(l) if l.tokens().any(|(_, t)| p11::uri_matches(uri, t)) => Ok(()),
                Ok(l) => Err(l.tokens().map(|(_, t)| p11::token_name(t)).collect()),
                Err(_) => Err(BTreeSet::new()),
            }
        };
        let seen = match self.pkcs11.list_for(Some(uri)) {
            // A module that fails, or a module name that is not registered, is reported by the
            // caller: waiting will not mend it.
            Err(_) => return,
            Ok(l) if l.all_failed().is_some() => return,
            Ok(_) => match listed(&self.pkcs11) {
                Ok(()) => return,
                Err(seen) => seen,
            },
        };
        let pkcs11 = &self.pkcs11;
        wait_until(
            &mut *self.prompter,
            &p11::wanted_name(uri),
            WAIT_INTERVAL,
            seen,
            || {
                pkcs11.rescan(Some(uri));
                listed(pkcs11)
            },
        );
    }

    /// Wait, if someone is there to plug it in, until the YubiKey with this serial is present.
    fn await_card(&mut self, serial: u32) {
        let listed = || -> Result<(), BTreeSet<String>> {
            let present = piv::list_serials().unwrap_or_default();
            if present.contains(&serial) {
                Ok(())
            } else {
                Err(present.into_iter().map(piv::card_name).collect())
            }
        };
        let Err(seen) = listed() else {
            return;
        };
        wait_until(
            &mut *self.prompter,
            &piv::card_name(serial),
            WAIT_INTERVAL,
            seen,
            listed,
        );
    }

    /// Wait for what a locator names, if it is absent and someone can plug it in.
    fn await_locator(&mut self, loc: &TokenLocator) {
        match loc {
            TokenLocator::Pkcs11(uri) => self.await_token(uri),
            TokenLocator::Yubikey(y) => self.await_card(y.serial),
            TokenLocator::Pubkey(_) => {}
        }
    }
    /// The one PKCS#11 token a URI names (a `--token` that names a token but no key). When it
    /// is absent and someone can plug it in, custody waits for it.
    pub fn find_token(&mut self, uri: &Pkcs11Uri) -> Result<Present, TokenError> {
        self.await_token(uri);
        let (m, t) = self.pkcs11.find_token(uri)?;
        Ok(Present(PresentInner::Pkcs11(m, Box::new(t))))
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

    /// Every token of a module (every module searched when `module` is `None`) and every
    /// YubiKey; with `login`, each token's keys too, after a login with its PIN (asked through
    /// the prompter: an empty entry skips that token's keys).
    pub fn inventory(&mut self, module: Option<&Path>, login: bool) -> Inventory {
        let modules = match module {
            Some(p) => vec![(Vec::new(), p.to_path_buf())],
            None => self.pkcs11.search_modules(),
        };
        let mut out = Vec::new();
        for (names, path) in modules {
            let tokens = self.pkcs11.list(&path).map(|(m, list)| {
                list.iter()
                    .map(|t| TokenInventory {
                        token: t.summary(),
                        keys: login.then(|| self.pkcs11.keys_of(self.prompter, &m, t)),
                    })
                    .collect()
            });
            out.push(ModuleInventory {
                path,
                names,
                tokens,
            });
        }
        Inventory {
            modules: out,
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
        self.await_locator(loc);
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

/// How often an absent token or card is looked for again while custody waits for it: often
/// enough that a plugged-in token is taken at once, seldom enough to cost nothing. Modules
/// are polled (`C_GetSlotList`, the PC/SC reader list) rather than waited on with
/// `C_WaitForSlotEvent`: one loop serves both backends, and SoftHSM2 does not support the
/// event call at all. Before each look a module with no session open is initialised again
/// (`Module::rescan`): SoftHSM2 sees new tokens only then.
pub const WAIT_INTERVAL: Duration = Duration::from_millis(250);

/// Wait for something absent: if the prompter has someone to plug `what` in, `look` again
/// every `interval` until it finds it (`Ok`), asking [`Prompter::still_waiting`] each round.
/// `look`'s `Err` names what is present instead; a name not in `seen` is something just plugged
/// in that is not what is needed, and is said so once. `None`: no wait, or the wait was stopped.
pub(crate) fn wait_until<T>(
    prompter: &mut dyn Prompter,
    what: &str,
    interval: Duration,
    mut seen: BTreeSet<String>,
    mut look: impl FnMut() -> Result<T, BTreeSet<String>>,
) -> Option<T> {
    if !matches!(prompter.wait_for(what), Ok(true)) {
        return None;
    }
    loop {
        std::thread::sleep(interval);
        if crate::error::stop_requested() || !prompter.still_waiting() {
            return None;
        }
        match look() {
            Ok(found) => return Some(found),
            Err(present) => {
                for name in present.difference(&seen) {
                    prompter.warn(
                        &format!("{name} is not the one needed"),
                        &format!("insert {what}: custody is still waiting (Ctrl-C to stop)"),
                    );
                }
                // Something unplugged and plugged in again is news again.
                seen = present;
            }
        }
    }
}

/// What is present, looking only for the kinds of token the slots name.
fn presence_of(pkcs11: &Pkcs11Tokens, piv: &PivCards, slots: &[&Descriptor]) -> Presence {
    let mut failed_modules = Vec::new();
    let p11 = slots
        .iter()
        .any(|d| matches!(d, Descriptor::Pkcs11 { .. }))
        .then(|| {
            let listing = pkcs11.list_for(None)?;
            if let Some(e) = listing.all_failed() {
                return Err(e.clone());
            }
            failed_modules = listing.failed;
            Ok(listing.listed)
        });
    let cards = slots
        .iter()
        .any(|d| matches!(d, Descriptor::Piv { .. }))
        .then(|| piv.present());
    Presence {
        pkcs11: p11,
        failed_modules,
        cards,
    }
}

/// The names of every token and card present, as messages show them.
fn present_names(p: &Presence) -> BTreeSet<String> {
    let tokens: Vec<String> = match &p.pkcs11 {
        Some(Ok(listed)) => listed
            .iter()
            .flat_map(|(_, list)| list.iter().map(p11::token_name))
            .collect(),
        _ => Vec::new(),
    };
    tokens
        .into_iter()
        .chain(p.cards().iter().map(|s| piv::card_name(*s)))
        .collect()
}

/// How people see the token or card a slot names, before it is present.
fn wanted_for_slot(d: &Descriptor) -> String {
    match d {
        Descriptor::Pkcs11 {
            token_label,
            token_serial,
            ..
        } => format!(
            "token \"{}\" (serial {})",
            display_escaped(token_label),
            display_escaped(token_serial)
        ),
        Descriptor::Piv { card_serial, .. } => piv::card_name(*card_serial),
    }
}

/// The present token a slot names, and why it was chosen (serial or label match).
fn slot_present(presence: &Presence, d: &Descriptor) -> Option<(Present, PinReason)> {
    match d {
        Descriptor::Pkcs11 { .. } => {
            let Some(Ok(listed)) = &presence.pkcs11 else {
                return None;
            };
            // A serial match in any module before a label match in any.
            let found: Vec<(&Arc<Module>, (TokenInfo, PinReason))> = listed
                .iter()
                .filter_map(|(m, present)| Some((m, Pkcs11Tokens::token_for_slot(d, present)?)))
                .collect();
            let pick = found
                .iter()
                .find(|(_, (_, why))| *why == PinReason::SerialMatch)
                .or(found.first())?;
            let (m, (t, why)) = pick;
            Some((
                Present(PresentInner::Pkcs11((*m).clone(), Box::new(t.clone()))),
                *why,
            ))
        }
        Descriptor::Piv { card_serial, .. } => presence
            .cards()
            .contains(card_serial)
            .then_some((Present(PresentInner::Piv), PinReason::SerialMatch)),
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::prompt::{NewPassword, PinRequest, PromptError};
    use crate::secret::Password;
    use secrecy::SecretString;

    /// A prompter that waits (or not) and records what it is told.
    struct Waiter {
        wait: bool,
        asked: Vec<String>,
        warned: Vec<String>,
        rounds: usize,
        stop_after: Option<usize>,
    }

    impl Waiter {
        fn new(wait: bool) -> Self {
            Waiter {
                wait,
                asked: Vec::new(),
                warned: Vec::new(),
                rounds: 0,
                stop_after: None,
            }
        }
    }

    impl Prompter for Waiter {
        fn info(&mut self, _: &str) {}
        fn warn(&mut self, what: &str, todo: &str) {
            self.warned.push(format!("{what}; {todo}"));
        }
        fn new_password(&mut self, _: &str, _: bool) -> Result<NewPassword, PromptError> {
            Err(PromptError::Refused {
                reason: "this test asks for no password or PIN".into(),
            })
        }
        fn password(&mut self, _: &str) -> Result<Password, PromptError> {
            Err(PromptError::Refused {
                reason: "this test asks for no password or PIN".into(),
            })
        }
        fn pin(&mut self, _: &PinRequest<'_>) -> Result<SecretString, PromptError> {
            Err(PromptError::Refused {
                reason: "this test asks for no password or PIN".into(),
            })
        }
        fn wait_for(&mut self, what: &str) -> Result<bool, PromptError> {
            self.asked.push(what.to_owned());
            Ok(self.wait)
        }
        fn still_waiting(&mut self) -> bool {
            self.rounds += 1;
            self.stop_after.is_none_or(|n| self.rounds <= n)
        }
    }

    fn set(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nobody_to_wait_for_means_no_look_at_all() {
        let mut p = Waiter::new(false);
        let mut looks = 0;
        let got: Option<()> = wait_until(&mut p, "token \"A\"", Duration::ZERO, set(&[]), || {
            looks += 1;
            Ok(())
        });
        assert!(got.is_none());
        assert_eq!(looks, 0);
        assert_eq!(p.asked, ["token \"A\""]);
    }

    #[test]
    fn a_wrong_token_is_named_once_and_the_wait_goes_on_until_the_right_one() {
        let mut p = Waiter::new(true);
        // Rounds: nothing new, a wrong token plugged in (twice seen), then the right one.
        let mut rounds = vec![
            Err(set(&["old"])),
            Err(set(&["old", "token \"B\""])),
            Err(set(&["old", "token \"B\""])),
            Ok(7),
        ]
        .into_iter();
        let got = wait_until(&mut p, "token \"A\"", Duration::ZERO, set(&["old"]), || {
            rounds.next().unwrap()
        });
        assert_eq!(got, Some(7));
        assert_eq!(
            p.warned,
            [
                "token \"B\" is not the one needed; insert token \"A\": custody is still \
                 waiting (Ctrl-C to stop)"
            ]
        );
        assert_eq!(p.rounds, 4);
    }

    #[test]
    fn the_prompter_can_stop_the_wait() {
        let mut p = Waiter::new(true);
        p.stop_after = Some(2);
        let mut looks = 0;
        let got: Option<()> = wait_until(&mut p, "YubiKey 1", Duration::ZERO, set(&[]), || {
            looks += 1;
            Err(set(&[]))
        });
        assert!(got.is_none());
        assert_eq!(looks, 2);
    }
}
