//! `custody token`: make a key, list tokens and their custody keys, export a public key.

use std::io::{self, Write};

use zeroize::Zeroizing;

use custody::TokenLocator;
use custody::{
    CardSummary, GeneratedKey, KeySummary, MgmSource, ModuleInventory, PivKeygen, PivPinPolicy,
    PivTouchPolicy, TokenError, TokenInventory, TokenSummary,
};
use custody::{Descriptor, SlotKind, display_escaped};

use crate::cli::args::{self, KeyType, TokenCommand};
use crate::cli::output::Out;
use crate::cli::record::Recording;
use crate::cli::term::TerminalPrompter;
use crate::cli::{Failure, Res, exit, token_env};

pub fn run(t: TokenCommand, stdout: &mut Out) -> Res {
    let mut p = TerminalPrompter {
        password_files: Vec::new(),
        new_password_files: None,
    };
    let tf = |e: TokenError| Failure::of(&e);
    match t {
        TokenCommand::Keygen {
            token,
            key_type,
            pin_policy,
            touch_policy,
            mgm_key_file,
            mgm_key_protected,
            force,
            record,
        } => {
            let loc = token
                .parse::<TokenLocator>()
                .map_err(|e| Failure::usage(format!("--token: {e}")))?;
            let kind = match (&loc, key_type) {
                (TokenLocator::Pkcs11(_), KeyType::Aes) => SlotKind::Pkcs11Aes,
                (TokenLocator::Pkcs11(_), KeyType::P256) => SlotKind::Pkcs11P256,
                (_, _) => SlotKind::PivP256,
            };
            let yubikey = matches!(loc, TokenLocator::Yubikey(_));
            if matches!(loc, TokenLocator::Pkcs11(_))
                && (pin_policy.is_some()
                    || touch_policy.is_some()
                    || mgm_key_file.is_some()
                    || mgm_key_protected
                    || force)
            {
                return Err(Failure::usage(
                    "--pin-policy, --touch-policy, --mgm-key-* and --force are for YubiKeys",
                ));
            }
            if yubikey && key_type != KeyType::P256 {
                return Err(Failure::usage(
                    "a YubiKey holds P-256 keys: use --type p256",
                ));
            }
            let mgm = match (mgm_key_file, mgm_key_protected) {
                (Some(_), true) => {
                    return Err(Failure::usage(
                        "give --mgm-key-file or --mgm-key-protected, not both",
                    ));
                }
                (Some(f), false) => {
                    MgmSource::Given(Zeroizing::new(custody::read_bounded(&f, 1024).map_err(
                        |e| Failure::new(exit::OTHER, e.to_string(), "check --mgm-key-file"),
                    )?))
                }
                (None, true) => MgmSource::Protected,
                (None, false) => MgmSource::Default,
            };
            let piv = PivKeygen {
                mgm,
                pin_policy: match pin_policy.unwrap_or(args::PinPolicyArg::Once) {
                    args::PinPolicyArg::Once => PivPinPolicy::Once,
                    args::PinPolicyArg::Always => PivPinPolicy::Always,
                    args::PinPolicyArg::Never => PivPinPolicy::Never,
                },
                touch_policy: match touch_policy.unwrap_or(args::TouchPolicyArg::Always) {
                    args::TouchPolicyArg::Always => PivTouchPolicy::Always,
                    args::TouchPolicyArg::Cached => PivTouchPolicy::Cached,
                    args::TouchPolicyArg::Never => PivTouchPolicy::Never,
                },
                force,
            };
            let mut rec = Recording::open(&record, custody::RecordOp::TokenKeygen, &[], &[])?;
            let key =
                custody::generate_key(token_env(), &mut p, &loc, kind, piv).map_err(|e| match e {
                    custody::KeygenError::NoLabel => {
                        Failure::usage("the token URI must name the new key with object=<label>")
                    }
                    custody::KeygenError::KindNotOnCard => {
                        Failure::usage("a YubiKey holds P-256 keys: use --type p256")
                    }
                    custody::KeygenError::Pubkey => {
                        Failure::usage("keys are generated on a token, not a pubkey: file")
                    }
                    custody::KeygenError::Token(e @ TokenError::Failed { .. }) if !yubikey => {
                        Failure::new(
                            exit::OTHER,
                            e.to_string(),
                            "check that the token supports the key type",
                        )
                    }
                    custody::KeygenError::Token(e) => tf(e),
                    e => Failure::usage(e.to_string()),
                });
            let key = key.map_err(|f| rec.failed(f, false))?;
            print_generated(stdout, &loc, &key)?;
            stdout.flush()?;
            rec.done(custody::RecordEvent::KeyGenerated(&key), "the key was made")
        }
        TokenCommand::List { module, no_login } => {
            let inv = custody::token_inventory(token_env(), &mut p, module.as_deref(), !no_login);
            // A module asked for by path must load; among those searched, one that fails is
            // shown with why, and the others are listed.
            if let (Some(_), Some(Err(e))) = (&module, inv.modules.first().map(|m| &m.tokens)) {
                return Err(tf(e.clone()));
            }
            crate::cli::output::document_members(token_list_json(&inv));
            print_token_list(stdout, &inv)?;
            Ok(())
        }
        TokenCommand::Pubkey { token, out } => {
            let loc = token
                .parse::<TokenLocator>()
                .map_err(|e| Failure::usage(format!("--token: {e}")))?;
            let key =
                custody::export_public_key(token_env(), &mut p, &loc, &out).map_err(
                    |e| match e {
                        custody::ExportError::Token(e) => tf(e),
                        e @ custody::ExportError::NoPublicKey { .. } => {
                            Failure::usage(e.to_string())
                        }
                        custody::ExportError::Write(e) => {
                            let code = if matches!(e, custody::MediaError::Exists { .. }) {
                                exit::OUTPUT_EXISTS
                            } else {
                                exit::OTHER
                            };
                            Failure::new(code, e.to_string(), "choose another --out")
                        }
                        e => Failure::new(exit::OTHER, e.to_string(), ""),
                    },
                )?;
            crate::cli::output::document(
                "key",
                serde_json::json!({
                    "name": key.name,
                    "key_hash": hex::encode(custody::p256_key_hash(&key.point)),
                    "out": std::path::absolute(&out).unwrap_or(out.clone()).display().to_string(),
                }),
            );
            writeln!(
                stdout,
                "Wrote the public key of {} to {}",
                key.name,
                custody::display_path(&out)
            )?;
            writeln!(
                stdout,
                "  key hash: {}",
                hex::encode(custody::p256_key_hash(&key.point))
            )?;
            Ok(())
        }
    }
}

fn print_generated(stdout: &mut Out, loc: &TokenLocator, key: &GeneratedKey) -> io::Result<()> {
    match &key.descriptor {
        Descriptor::Piv {
            card_serial,
            piv_slot,
            key_hash,
        } => {
            writeln!(
                stdout,
                "Generated a P-256 key in PIV slot {piv_slot:02x} of YubiKey {card_serial} (made on the card; a certificate CN=custody records it)."
            )?;
            writeln!(stdout, "  key hash: {}", hex::encode(key_hash))?;
            writeln!(
                stdout,
                "  Record the key hash: backups made from its public key show it."
            )?;
            writeln!(
                stdout,
                "  Use it with: --token 'yubikey:serial={card_serial};slot={piv_slot:02x}'"
            )?;
        }
        Descriptor::Pkcs11 {
            kind,
            token_label,
            token_serial,
            key_hash,
            ..
        } => {
            let _ = loc;
            writeln!(
                stdout,
                "Generated {} key \"{}\" (id {}) on token \"{}\" (serial {}): sensitive, not extractable, made on the token.",
                if *kind == SlotKind::Pkcs11Aes {
                    "AES-256"
                } else {
                    "P-256"
                },
                display_escaped(&key.label),
                hex::encode(&key.id),
                display_escaped(token_label),
                display_escaped(token_serial)
            )?;
            if let Some(h) = key_hash {
                writeln!(stdout, "  key hash: {}", hex::encode(h))?;
                writeln!(
                    stdout,
                    "  Record the key hash: backups made from its public key show it."
                )?;
            }
            writeln!(
                stdout,
                "  Use it with: --token 'pkcs11:token={};object={}'",
                custody::percent_encode(token_label.as_bytes()),
                custody::percent_encode(key.label.as_bytes())
            )?;
        }
    }
    Ok(())
}

/// The p11-kit name a ready-to-paste URI uses for this module (none for a module known only by
/// its path or by `CUSTODY_PKCS11_MODULE`).
fn module_name(m: &ModuleInventory) -> Option<&str> {
    m.names
        .iter()
        .map(String::as_str)
        .find(|n| *n != "CUSTODY_PKCS11_MODULE")
}

/// The `--token` URI of a key: `token`, `serial`, `object`, `id`, and `module-name` for a
/// registered module.
fn key_uri(m: &ModuleInventory, t: &TokenSummary, k: &KeySummary) -> String {
    let pe = |b: &[u8]| custody::percent_encode(b);
    let mut uri = format!(
        "pkcs11:token={};serial={};object={}",
        pe(t.label.as_bytes()),
        pe(t.serial.as_bytes()),
        pe(k.label.as_bytes())
    );
    if !k.id.is_empty() {
        // Every byte as %XX: an id is binary, and half-printable ids read badly.
        let id: String = k.id.iter().map(|b| format!("%{b:02X}")).collect();
        uri.push_str(&format!(";id={id}"));
    }
    if let Some(name) = module_name(m) {
        uri.push_str(&format!("?module-name={}", pe(name.as_bytes())));
    }
    uri
}

fn token_uri(m: &ModuleInventory, t: &TokenSummary) -> String {
    let pe = |b: &[u8]| custody::percent_encode(b);
    let mut uri = format!(
        "pkcs11:token={};serial={}",
        pe(t.label.as_bytes()),
        pe(t.serial.as_bytes())
    );
    if let Some(name) = module_name(m) {
        uri.push_str(&format!("?module-name={}", pe(name.as_bytes())));
    }
    uri
}

/// The first retired slot without a custody key: where `token keygen` would put a new one.
fn free_slot(c: &CardSummary) -> u8 {
    (0x82..=0x95u8)
        .find(|s| !c.custody_slots.iter().any(|(used, _)| used == s))
        .unwrap_or(0x82)
}

fn token_list_json(inv: &custody::Inventory) -> serde_json::Value {
    let modules: Vec<_> = inv
        .modules
        .iter()
        .map(|m| {
            let (tokens, error) = match &m.tokens {
                Ok(list) => (
                    list.iter().map(|ti| token_json(m, ti)).collect::<Vec<_>>(),
                    None,
                ),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
            serde_json::json!({
                "path": m.path.display().to_string(),
                "names": m.names,
                "error": error,
                "tokens": tokens,
            })
        })
        .collect();
    let (cards, pcscd) = match &inv.cards {
        Ok(cards) => (
            cards
                .iter()
                .map(|c| {
                    serde_json::json!({
                        "serial": c.serial,
                        "firmware": c.version,
                        "reader": c.reader,
                        "pin_tries_left": c.pin_tries,
                        "custody_slots": c.custody_slots.iter().map(|(s, p)| serde_json::json!({
                            "slot": format!("{s:02x}"),
                            "key_hash": hex::encode(custody::p256_key_hash(p)),
                            "uri": format!("yubikey:serial={};slot={s:02x}", c.serial),
                        })).collect::<Vec<_>>(),
                        "keygen_uri": format!("yubikey:serial={};slot={:02x}", c.serial, free_slot(c)),
                    })
                })
                .collect::<Vec<_>>(),
            serde_json::json!({ "reachable": true, "error": null }),
        ),
        Err(e) => (
            Vec::new(),
            serde_json::json!({ "reachable": false, "error": e.to_string() }),
        ),
    };
    serde_json::json!({
        "modules": modules,
        "pcscd": pcscd,
        "yubikeys": cards,
    })
}

fn token_json(m: &ModuleInventory, ti: &TokenInventory) -> serde_json::Value {
    let t = &ti.token;
    let (keys, keys_error) = match &ti.keys {
        None => (serde_json::Value::Null, Some("not logged in (--no-login)".to_string())),
        Some(Err(e)) => (serde_json::Value::Null, Some(e.to_string())),
        Some(Ok(keys)) => (
            serde_json::Value::Array(
                keys.iter()
                    .map(|k| {
                        serde_json::json!({
                            "kind": k.kind,
                            "label": k.label,
                            "id": hex::encode(&k.id),
                            "usable": k.unusable.is_none(),
                            "reason": k.unusable,
                            "bound": k.not_bound.is_empty(),
                            "not_bound": k.not_bound,
                            "key_hash": k.public_point.map(|p| hex::encode(custody::p256_key_hash(&p))),
                            "uri": k.unusable.is_none().then(|| key_uri(m, t, k)),
                        })
                    })
                    .collect(),
            ),
            None,
        ),
    };
    serde_json::json!({
        "slot_id": t.slot_id,
        "label": t.label,
        "serial": t.serial,
        "manufacturer": t.manufacturer,
        "model": t.model,
        "login_required": t.login_required,
        "pin_count_low": t.pin_count_low,
        "pin_final_try": t.pin_final_try,
        "pin_locked": t.pin_locked,
        "uri": token_uri(m, t),
        "keys": keys,
        "keys_error": keys_error,
    })
}

fn print_token_list(stdout: &mut Out, inv: &custody::Inventory) -> io::Result<()> {
    for m in &inv.modules {
        let names = if m.names.is_empty() {
            String::new()
        } else {
            format!(" ({})", m.names.join(", "))
        };
        writeln!(
            stdout,
            "PKCS#11 module {}{names}",
            custody::display_path(&m.path)
        )?;
        let list = match &m.tokens {
            Ok(list) => list,
            Err(e) => {
                writeln!(stdout, "  not usable: {e}")?;
                continue;
            }
        };
        if list.is_empty() {
            writeln!(stdout, "  no token present")?;
        }
        for ti in list {
            let t = &ti.token;
            writeln!(
                stdout,
                "  token \"{}\" serial {} ({} {}){}",
                display_escaped(&t.label),
                display_escaped(&t.serial),
                display_escaped(&t.manufacturer),
                display_escaped(&t.model),
                if t.pin_locked {
                    " PIN LOCKED"
                } else if t.pin_final_try {
                    " PIN: final try"
                } else {
                    ""
                }
            )?;
            match &ti.keys {
                None => writeln!(
                    stdout,
                    "    keys not listed (--no-login): --token '{};object=<key label>'",
                    token_uri(m, t)
                        .split_once('?')
                        .map_or(token_uri(m, t), |(a, _)| a.to_owned())
                )?,
                Some(Err(e)) => writeln!(stdout, "    keys not listed: {e}")?,
                Some(Ok(keys)) if keys.is_empty() => writeln!(
                    stdout,
                    "    no key: make one with `custody token keygen --token '{};object=<label>' --type aes`",
                    token_uri(m, t)
                        .split_once('?')
                        .map_or(token_uri(m, t), |(a, _)| a.to_owned())
                )?,
                Some(Ok(keys)) => {
                    for k in keys {
                        let id = if k.id.is_empty() {
                            String::new()
                        } else {
                            format!(" (id {})", hex::encode(&k.id))
                        };
                        match &k.unusable {
                            Some(why) => writeln!(
                                stdout,
                                "    key \"{}\"{id} {}: not usable: {why}",
                                display_escaped(&k.label),
                                k.kind
                            )?,
                            None => {
                                writeln!(
                                    stdout,
                                    "    key \"{}\"{id} {}{}",
                                    display_escaped(&k.label),
                                    k.kind,
                                    if k.not_bound.is_empty() {
                                        String::new()
                                    } else {
                                        format!(
                                            " — not bound to its token ({}): a backup refuses it without --allow-exportable-key",
                                            k.not_bound.join("; ")
                                        )
                                    }
                                )?;
                                writeln!(stdout, "      --token '{}'", key_uri(m, t, k))?;
                            }
                        }
                    }
                }
            }
        }
    }
    match &inv.cards {
        Err(e) => writeln!(stdout, "YubiKeys: none found ({e})")?,
        Ok(cards) if cards.is_empty() => writeln!(stdout, "YubiKeys: none present")?,
        Ok(_) => {}
    }
    for c in inv.cards.as_deref().unwrap_or_default() {
        writeln!(
            stdout,
            "YubiKey {} (firmware {}, reader \"{}\"){}",
            c.serial,
            c.version,
            display_escaped(&c.reader),
            match c.pin_tries {
                Some(0) => " PIN BLOCKED (unblock it with the PUK)".to_string(),
                Some(t) => format!(", {t} PIN tr{} left", if t == 1 { "y" } else { "ies" }),
                None => String::new(),
            }
        )?;
        for (slot, point) in &c.custody_slots {
            writeln!(
                stdout,
                "  slot {slot:02x}: custody P-256 key, key hash {}",
                hex::encode(custody::p256_key_hash(point))
            )?;
            writeln!(
                stdout,
                "    --token 'yubikey:serial={};slot={slot:02x}'",
                c.serial
            )?;
        }
        writeln!(
            stdout,
            "  {}: custody token keygen --token 'yubikey:serial={};slot={:02x}' --type p256",
            if c.custody_slots.is_empty() {
                "no custody key; make one with"
            } else {
                "another key"
            },
            c.serial,
            free_slot(c)
        )?;
    }
    Ok(())
}
