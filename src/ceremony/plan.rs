//! Which keys to try on which slots of a file, found before any password or PIN is asked: the
//! `--token` keys given, or the present tokens and cards the slots name.

#[allow(unused_imports)]
use super::*;

/// Which key to try on a slot.
pub(crate) enum Candidate {
    /// The `--token` override at this position.
    Override(usize),
    /// A present token or card the slot names, why it was chosen, and the override that named
    /// it (for its PIN), if any.
    Present(Present, PinReason, Option<usize>),
}

/// The slots of one file that a present token can try, in file order.
pub struct Plan(pub(crate) Vec<(usize, Candidate)>);

pub fn plan_file(
    lf: &LoadedFile,
    overrides: &[KeySpec],
    tokens: &mut Tokens<'_>,
) -> Result<Plan, OpenFileError> {
    let file = &lf.file;
    let path = &lf.path;
    let accepted: Vec<String> = file.slots.iter().map(|s| s.descriptor.describe()).collect();
    // Every ephemeral point is checked before any token is touched: an invalid-curve point sent
    // to a token can leak its private key.
    for (i, s) in file.slots.iter().enumerate() {
        if let Some(e) = ephemeral_of(s)
            && let Err(r) = crypto::validate_p256_point(e)
        {
            return Err(OpenFileError::Altered {
                file: path.clone(),
                reason: format!("slot {}: the ephemeral key {r}", i + 1),
            });
        }
    }

    // Which keys to try on which slots, found before any password or PIN is asked.
    let mut plan: Vec<(usize, Candidate)> = Vec::new();
    let mut list_error = None;
    if overrides.is_empty() {
        // Ask each kind of token only if the file has a slot of that kind.
        let descriptors: Vec<&Descriptor> = file.slots.iter().map(|s| &s.descriptor).collect();
        // None of them present: someone at the terminal may plug one in, and custody waits.
        let presence = tokens.presence_waiting(&descriptors);
        let mut missing_cards = Vec::new();
        for (i, s) in file.slots.iter().enumerate() {
            if let Some((present, why)) = tokens.present_for_slot(&presence, &s.descriptor) {
                plan.push((i, Candidate::Present(present, why, None)));
                continue;
            }
            match &s.descriptor {
                Descriptor::Pkcs11 { .. } => {
                    if let Some(e) = presence.pkcs11_error() {
                        list_error = Some(e.to_string());
                    }
                }
                Descriptor::Piv { card_serial, .. } => {
                    missing_cards.push(card_name(*card_serial));
                }
            }
        }
        if plan.is_empty() && !missing_cards.is_empty() {
            let present: Vec<String> = presence.cards().iter().map(|s| card_name(*s)).collect();
            list_error = Some(format!(
                "{} is needed: plug it in ({})",
                missing_cards.join(" or "),
                if present.is_empty() {
                    "no YubiKey is present; is pcscd running?".to_string()
                } else {
                    format!("only {} is present", present.join(", "))
                }
            ));
        }
    } else {
        for (o, spec) in overrides.iter().enumerate() {
            let loc = match spec {
                KeySpec::Locator(loc) => loc,
                // A key given as it is: try it on every slot of its kind.
                KeySpec::Key(k) => {
                    for (i, s) in file.slots.iter().enumerate() {
                        if s.descriptor.kind() == k.descriptor.kind() {
                            plan.push((i, Candidate::Override(o)));
                        }
                    }
                    continue;
                }
            };
            // A token the person named and that is not here is the cause to say first (a
            // label typo, a wrong card serial), before any PIN and whatever else is present.
            named_present(lf, loc, tokens)?;
            // A token named without a key: use it for the keys the slots name.
            if let TokenLocator::Pkcs11(uri) = loc
                && uri.object_label.is_none()
                && uri.object_id.is_none()
            {
                match tokens.find_token(uri) {
                    Ok(present) => {
                        for (i, s) in file.slots.iter().enumerate() {
                            if matches!(s.descriptor, Descriptor::Pkcs11 { .. }) {
                                plan.push((
                                    i,
                                    Candidate::Present(present.clone(), PinReason::Named, Some(o)),
                                ));
                            }
                        }
                    }
                    Err(e) => list_error = Some(e.to_string()),
                }
                continue;
            }
            let kinds: &[SlotKind] = match loc {
                TokenLocator::Pkcs11(_) => &[SlotKind::Pkcs11Aes, SlotKind::Pkcs11P256],
                TokenLocator::Yubikey(_) => &[SlotKind::PivP256],
                TokenLocator::Pubkey(_) => &[],
            };
            for (i, s) in file.slots.iter().enumerate() {
                if kinds.contains(&s.descriptor.kind()) {
                    plan.push((i, Candidate::Override(o)));
                }
            }
        }
    }
    if plan.is_empty() {
        return Err(OpenFileError::NoToken {
            file: path.clone(),
            accepted,
            detail: list_error,
        });
    }
    Ok(Plan(plan))
}

/// Whether the token or card a `--token` locator names is present: if not, the error says
/// what was named, what is present and (for a YubiKey) which card the file needs.
fn named_present(
    lf: &LoadedFile,
    loc: &TokenLocator,
    tokens: &mut Tokens<'_>,
) -> Result<(), OpenFileError> {
    let absent = |error| OpenFileError::Token {
        file: lf.path.clone(),
        error,
    };
    match loc {
        TokenLocator::Pkcs11(uri) => match tokens.find_token(uri) {
            Err(e @ TokenError::NotFound { .. }) => Err(absent(e)),
            // Anything else (the module itself) is met again, and reported, when it is used.
            _ => Ok(()),
        },
        TokenLocator::Yubikey(y) => {
            let needed: Vec<u32> = lf
                .file
                .slots
                .iter()
                .filter_map(|s| match s.descriptor {
                    Descriptor::Piv { card_serial, .. } => Some(card_serial),
                    _ => None,
                })
                .collect();
            let piv = Descriptor::Piv {
                card_serial: y.serial,
                piv_slot: 0,
                key_hash: [0; 32],
            };
            let present = tokens.presence(&[&piv]).cards().to_vec();
            if present.contains(&y.serial) {
                return Ok(());
            }
            let names = |v: &[u32]| {
                if v.is_empty() {
                    "no YubiKey".to_string()
                } else {
                    v.iter()
                        .map(|s| card_name(*s))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            };
            Err(absent(TokenError::NotFound {
                what: if needed.is_empty() || needed.contains(&y.serial) {
                    format!(
                        "{} is not present; present: {}",
                        card_name(y.serial),
                        names(&present)
                    )
                } else if let Some(right) = needed.iter().find(|s| present.contains(s)) {
                    // The card the file needs is right there: the mistake is in --token.
                    format!(
                        "--token names {}, which is not present; this file needs {}, which is: \
                         leave out --token or name that card",
                        card_name(y.serial),
                        card_name(*right)
                    )
                } else {
                    format!(
                        "this file needs {}; present: {} (--token names {})",
                        needed
                            .iter()
                            .map(|s| card_name(*s))
                            .collect::<Vec<_>>()
                            .join(" or "),
                        names(&present),
                        card_name(y.serial)
                    )
                },
            }))
        }
        TokenLocator::Pubkey(_) => Ok(()),
    }
}

pub(crate) fn ephemeral_of(s: &format::Slot) -> Option<&[u8; 65]> {
    match &s.material {
        format::SlotMaterial::Ephemeral(e) => Some(e),
        _ => None,
    }
}
