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

pub(crate) fn ephemeral_of(s: &format::Slot) -> Option<&[u8; 65]> {
    match &s.material {
        format::SlotMaterial::Ephemeral(e) => Some(e),
        _ => None,
    }
}
