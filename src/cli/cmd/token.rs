//! `custody token`: make a key, list tokens and their custody keys, export a public key.

use std::io::{self, Write};

use zeroize::Zeroizing;

use custody::TokenLocator;
use custody::{
    CardSummary, GeneratedKey, MgmSource, PivKeygen, PivPinPolicy, PivTouchPolicy, TokenError,
    TokenSummary,
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
        quiet: false,
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
        TokenCommand::List { module, json } => {
            let inv = custody::token_inventory(token_env(), &mut p, module.as_deref());
            // Without --module, a machine with only YubiKeys lists them even when no PKCS#11
            // module is installed; a module asked for by name must load.
            let (list, p11_error) = match inv.tokens {
                Ok(list) => (list, None),
                Err(e) if module.is_none() => (Vec::new(), Some(e.to_string())),
                Err(e) => return Err(tf(e)),
            };
            // YubiKeys beside the PKCS#11 tokens; no smart-card service is not an error here.
            let (cards, card_error) = match inv.cards {
                Ok(c) => (c, None),
                Err(e) => (Vec::new(), Some(e.to_string())),
            };
            if json {
                print_token_list_json(stdout, &inv.module.display().to_string(), &list, &cards)?;
            } else {
                print_token_list(
                    stdout,
                    &custody::display_path(&inv.module),
                    &list,
                    p11_error.as_deref(),
                    &cards,
                    card_error.as_deref(),
                )?;
            }
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

fn print_token_list_json(
    stdout: &mut Out,
    module_path: &str,
    list: &[TokenSummary],
    cards: &[CardSummary],
) -> io::Result<()> {
    let mut v: Vec<_> = list
        .iter()
        .map(|t| {
            serde_json::json!({
                "kind": "pkcs11",
                "module": module_path,
                "slot_id": t.slot_id,
                "label": t.label,
                "serial": t.serial,
                "manufacturer": t.manufacturer,
                "model": t.model,
                "login_required": t.login_required,
                "pin_count_low": t.pin_count_low,
                "pin_final_try": t.pin_final_try,
                "pin_locked": t.pin_locked,
                "uri": format!("pkcs11:token={};serial={}", custody::percent_encode(t.label.as_bytes()), custody::percent_encode(t.serial.as_bytes())),
            })
        })
        .collect();
    for c in cards {
        v.push(serde_json::json!({
            "kind": "yubikey",
            "serial": c.serial,
            "firmware": c.version,
            "reader": c.reader,
            "pin_tries_left": c.pin_tries,
            "custody_slots": c.custody_slots.iter().map(|(s, p)| serde_json::json!({
                "slot": format!("{s:02x}"),
                "key_hash": hex::encode(custody::p256_key_hash(p)),
                "uri": format!("yubikey:serial={};slot={s:02x}", c.serial),
            })).collect::<Vec<_>>(),
        }));
    }
    writeln!(
        stdout,
        "{}",
        serde_json::to_string_pretty(&v).unwrap_or_else(|_| "[]".into())
    )
}

fn print_token_list(
    stdout: &mut Out,
    module_path: &str,
    list: &[TokenSummary],
    p11_error: Option<&str>,
    cards: &[CardSummary],
    card_error: Option<&str>,
) -> io::Result<()> {
    writeln!(stdout, "PKCS#11 module {module_path}")?;
    if let Some(e) = p11_error {
        writeln!(stdout, "  not usable: {e}")?;
    }
    if list.is_empty() && p11_error.is_none() {
        writeln!(stdout, "  no token present")?;
    }
    for t in list {
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
        writeln!(
            stdout,
            "    --token 'pkcs11:token={};serial={};object=<key label>'",
            custody::percent_encode(t.label.as_bytes()),
            custody::percent_encode(t.serial.as_bytes())
        )?;
    }
    match card_error {
        Some(e) => writeln!(stdout, "YubiKeys: none found ({e})")?,
        None if cards.is_empty() => writeln!(stdout, "YubiKeys: none present")?,
        None => {}
    }
    for c in cards {
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
        if c.custody_slots.is_empty() {
            writeln!(
                stdout,
                "  no custody key: make one with --token 'yubikey:serial={}' --type p256",
                c.serial
            )?;
        }
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
    }
    Ok(())
}
