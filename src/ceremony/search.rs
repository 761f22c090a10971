//! The honest token search: the candidates of a file's slots in order, each key logged in to
//! and proven before any password, one token at a time.

#[allow(unused_imports)]
use super::*;

/// A slot whose key proved itself, with the token secret z it gave.
pub struct Proven {
    pub(crate) slot: usize,
    pub(crate) z: TokenSecret,
    pub(crate) key: String,
}

/// Go through the candidates in order until one key proves it is its slot's key (see
/// [`slot::token_secret`]): the first token is logged in to, and its key found and proven,
/// before any password, so a PIN typo or a wrong token costs no Argon2id. A further token is
/// logged in to only when every earlier candidate failed to prove its key.
pub fn prove_first(
    lf: &LoadedFile,
    plan: Plan,
    overrides: &[KeySpec],
    tokens: &mut Tokens<'_>,
) -> Result<Proven, OpenFileError> {
    let mut search = Search::new(overrides);
    for (i, cand) in plan.0 {
        if let Some(p) = search.try_candidate(lf, i, cand, tokens)? {
            return Ok(p);
        }
    }
    Err(search.failure(lf))
}

/// The keys tried so far on a file's slots, and why each attempt failed.
pub(crate) struct Search<'o> {
    overrides: &'o [KeySpec],
    /// Each `--token` key, resolved once (an error with whether it means "not found").
    resolved: Vec<Option<Result<TokenKey<'static>, (String, bool)>>>,
    /// Each failed attempt, for people.
    pub(crate) attempts: Vec<String>,
    /// Attempts that failed only because a token or key was not there (exit 4, not 3).
    pub(crate) not_found: usize,
    /// A blocked token is skipped for the next candidate; if no other one proves, the block is
    /// the real cause, and the error says so.
    pub(crate) blocked: Option<TokenError>,
}

impl<'o> Search<'o> {
    pub(crate) fn new(overrides: &'o [KeySpec]) -> Self {
        Search {
            overrides,
            resolved: overrides.iter().map(|_| None).collect(),
            attempts: Vec::new(),
            not_found: 0,
            blocked: None,
        }
    }

    /// Why no candidate proved its key: a blocked token when nothing else was there, no token
    /// when every attempt was "not there", else the attempts.
    pub(crate) fn failure(self, lf: &LoadedFile) -> OpenFileError {
        let path = &lf.path;
        if self.not_found == self.attempts.len() {
            if let Some(error) = self.blocked {
                return OpenFileError::Token {
                    file: path.clone(),
                    error,
                };
            }
            return OpenFileError::NoToken {
                file: path.clone(),
                accepted: lf
                    .file
                    .slots
                    .iter()
                    .map(|s| s.descriptor.describe())
                    .collect(),
                detail: Some(self.attempts.join("; ")),
            };
        }
        OpenFileError::Auth {
            file: path.clone(),
            attempts: self.attempts,
        }
    }

    /// Try one candidate key on slot `i`: the proven key, or `None` with the failure noted (a
    /// PIN failure or an altered file stops everything).
    pub(crate) fn try_candidate(
        &mut self,
        lf: &LoadedFile,
        i: usize,
        cand: Candidate,
        tokens: &mut Tokens<'_>,
    ) -> Result<Option<Proven>, OpenFileError> {
        let file = &lf.file;
        let path = &lf.path;
        let Some(slot_desc) = file.slots.get(i).map(|s| &s.descriptor) else {
            return Ok(None);
        };
        let mut owned = None;
        let key = match cand {
            Candidate::Override(o) => {
                let loc = match self.overrides.get(o) {
                    Some(KeySpec::Locator(loc)) => loc,
                    Some(KeySpec::Key(k)) if k.descriptor.kind() == slot_desc.kind() => {
                        return prove(lf, i, k, &mut self.attempts, &mut self.not_found);
                    }
                    Some(KeySpec::Key(_)) | None => return Ok(None),
                };
                if self.resolved.get(o).is_some_and(Option::is_none) {
                    let found = tokens.resolve(loc).unwrap_or_else(|| {
                        Err(TokenError::NotFound {
                            what: "a pubkey: file cannot open a backup".into(),
                        })
                    });
                    let entry = match found {
                        Ok(k) => Ok(k),
                        Err(
                            e @ (TokenError::PinIncorrect { .. }
                            | TokenError::NoPin { .. }
                            | TokenError::PinSource { .. }),
                        ) => {
                            return Err(OpenFileError::Token {
                                file: path.clone(),
                                error: e,
                            });
                        }
                        Err(e @ TokenError::PinLocked { .. }) => {
                            let entry = Err((e.to_string(), true));
                            self.blocked = Some(e);
                            entry
                        }
                        Err(e) => Err((
                            e.to_string(),
                            matches!(
                                e,
                                TokenError::NotFound { .. } | TokenError::KeyUnusable { .. }
                            ),
                        )),
                    };
                    if let Some(r) = self.resolved.get_mut(o) {
                        *r = Some(entry);
                    }
                }
                match self.resolved.get(o).and_then(Option::as_ref) {
                    Some(Ok(k)) if k.descriptor.kind() == slot_desc.kind() => Some(k),
                    Some(Ok(_)) | None => return Ok(None),
                    Some(Err((e, nf))) => {
                        self.not_found += usize::from(*nf);
                        self.attempts.push(format!(
                            "slot {} ({}): {e}",
                            i + 1,
                            slot_desc.describe()
                        ));
                        return Ok(None);
                    }
                }
            }
            Candidate::Present(present, why, o) => {
                // A token of another backend than the slot's has no key for it: not a failure.
                let Some(found) =
                    tokens.key_for_slot(&present, slot_desc, pin_hint(self.overrides, o), why)
                else {
                    return Ok(None);
                };
                take_key(
                    found,
                    &mut owned,
                    (path, i),
                    &mut self.attempts,
                    &mut self.not_found,
                    &mut self.blocked,
                )?
            }
        };
        let Some(key) = key else { return Ok(None) };
        prove(lf, i, key, &mut self.attempts, &mut self.not_found)
    }
}

/// Whether `key` proves it holds slot `i`'s key: its z, or why not (one more attempt; counted
/// as "not found" when the key or its token went away while it was used, which says nothing
/// about the password).
fn prove(
    lf: &LoadedFile,
    i: usize,
    key: &TokenKey<'_>,
    attempts: &mut Vec<String>,
    not_found: &mut usize,
) -> Result<Option<Proven>, OpenFileError> {
    let path = &lf.path;
    // A PIV key proves itself by its public key alone: a challenge would cost a second touch.
    let challenge = key.descriptor.kind() == SlotKind::Pkcs11P256;
    match slot::token_secret(&lf.file, &lf.enc, i, &key.ops, challenge) {
        Ok(z) => Ok(Some(Proven {
            slot: i,
            z,
            key: key.name.clone(),
        })),
        Err(OpenError::Token(
            e @ (TokenError::PinIncorrect { .. }
            | TokenError::NoPin { .. }
            | TokenError::PinSource { .. }),
        )) => Err(OpenFileError::Token {
            file: path.clone(),
            error: e,
        }),
        Err(OpenError::BadPoint(r)) => Err(OpenFileError::Altered {
            file: path.clone(),
            reason: format!("slot {}: the ephemeral key {r}", i + 1),
        }),
        Err(e) => {
            *not_found += usize::from(matches!(e, OpenError::Token(TokenError::NotFound { .. })));
            attempts.push(format!(
                "slot {} with {}: {}",
                i + 1,
                key.name,
                open_error_text(&e)
            ));
            Ok(None)
        }
    }
}

/// The PIN a `--token` override carries (its query part), for the token it names.
fn pin_hint(overrides: &[KeySpec], o: Option<usize>) -> PinHint<'_> {
    match o.and_then(|o| overrides.get(o)) {
        Some(KeySpec::Locator(TokenLocator::Pkcs11(u))) => PinHint {
            value: u.pin_value.as_ref(),
            source: u.pin_source.as_deref(),
        },
        Some(KeySpec::Locator(TokenLocator::Yubikey(y))) => PinHint {
            value: y.pin_value.as_ref(),
            source: y.pin_source.as_deref(),
        },
        _ => PinHint::default(),
    }
}

/// A key found for a slot, kept in `owned`; a PIN failure stops everything, anything else is
/// one more failed attempt (counted as "not found" when a token or key was missing).
fn take_key<'k>(
    found: Result<TokenKey<'static>, TokenError>,
    owned: &'k mut Option<TokenKey<'static>>,
    (path, i): (&Path, usize),
    attempts: &mut Vec<String>,
    not_found: &mut usize,
    blocked: &mut Option<TokenError>,
) -> Result<Option<&'k TokenKey<'static>>, OpenFileError> {
    match found {
        Ok(k) => Ok(Some(owned.insert(k))),
        // An unreadable PIN file is the person's to fix, not a key that failed to prove.
        Err(
            e @ (TokenError::PinIncorrect { .. }
            | TokenError::NoPin { .. }
            | TokenError::PinSource { .. }),
        ) => Err(OpenFileError::Token {
            file: path.to_owned(),
            error: e,
        }),
        // A blocked token is named and skipped: another candidate may open the file.
        Err(e @ TokenError::PinLocked { .. }) => {
            *not_found += 1;
            attempts.push(format!("slot {}: {e}", i + 1));
            *blocked = Some(e);
            Ok(None)
        }
        Err(e) => {
            *not_found += usize::from(matches!(
                e,
                TokenError::NotFound { .. }
                    | TokenError::KeyUnusable { .. }
                    | TokenError::PinLocked { .. }
            ));
            attempts.push(format!("slot {}: {e}", i + 1));
            Ok(None)
        }
    }
}
