//! What a file shows without a token or a password.

#[allow(unused_imports)]
use super::*;

/// Everything in a file that is not secret, as JSON (values as stored; escape them to display).
pub fn inspect_json(lf: &LoadedFile) -> serde_json::Value {
    use serde_json::json;
    let f = &lf.file;
    let slots: Vec<_> = f
        .slots
        .iter()
        .map(|s| {
            let mut v = match &s.descriptor {
                Descriptor::Pkcs11 {
                    token_label,
                    token_serial,
                    key_label,
                    key_id,
                    key_hash,
                    ..
                } => json!({
                    "token_label": token_label,
                    "token_serial": token_serial,
                    "key_label": key_label,
                    "key_id": hex::encode(key_id),
                    "key_hash": key_hash.map(hex::encode),
                }),
                Descriptor::Piv {
                    card_serial,
                    piv_slot,
                    key_hash,
                } => json!({
                    "card_serial": card_serial,
                    "piv_slot": format!("{piv_slot:02x}"),
                    "key_hash": hex::encode(key_hash),
                }),
            };
            v["kind"] = json!(s.descriptor.kind().name());
            v["verified"] = json!(s.verified);
            v
        })
        .collect();
    let mut v = json!({
        "file": lf.path.display().to_string(),
        "format_version": 1,
        "set_id": hex::encode(f.common.set_id),
        "created": f.common.created,
        "label": f.common.label,
        "threshold": f.common.threshold,
        "count": f.common.count,
        "index": f.own.index,
        "officers": f.common.officers,
        "fingerprint": crypto::fingerprint_display(&f.common.fingerprint),
        "fingerprint_full": hex::encode(f.common.fingerprint),
        "hint": f.own.hint,
        "kdf": {
            "algorithm": "argon2id",
            "memory_kib": f.own.kdf.memory_kib,
            "iterations": f.own.kdf.iterations,
            "parallelism": f.own.kdf.parallelism,
            "weak": f.own.kdf.is_weak(),
        },
        "secret_bytes": f.payload.len() - format::TAG_BYTES,
        "tokens_that_can_open": f.slots.len(),
        "slots": slots,
    });
    // Only for a repaired text-mode copy, so that the output of every other file is unchanged.
    if let (Some(t), Some(notice)) = (&lf.text_copy, lf.text_copy_notice()) {
        v["text_copy"] = json!({
            "notice": notice,
            "read_sha256": hex::encode(t.read_sha256),
            "repaired_sha256": hex::encode(t.repaired_sha256),
        });
    }
    v
}

/// The same, for people.
pub fn inspect_text(lf: &LoadedFile) -> String {
    let f = &lf.file;
    let mut o = String::new();
    let mut o_line: Vec<String> = Vec::new();
    let mut line = |k: &str, v: String| o.push_str(&format!("{k:<13}{v}\n"));
    line("file:", display_path(&lf.path));
    line("format:", "custody-backup v1".into());
    line("set id:", hex::encode(f.common.set_id));
    line(
        "fingerprint:",
        crypto::fingerprint_display(&f.common.fingerprint),
    );
    line("created:", f.common.created.clone());
    line("label:", display_escaped(&f.common.label));
    if f.common.count == 1 {
        line("kind:", "single backup (1 of 1)".into());
    } else {
        line(
            "kind:",
            format!(
                "share {} of a {}-of-{} split set",
                f.own.index, f.common.threshold, f.common.count
            ),
        );
        let officer = &f.common.officers[f.own.index as usize - 1];
        line("officer:", display_escaped(officer));
        for (i, o) in f.common.officers.iter().enumerate() {
            o_line.push(format!(
                "  share {}: {}{}",
                i + 1,
                if o.is_empty() {
                    "(no officer named)".to_string()
                } else {
                    display_escaped(o)
                },
                if i + 1 == f.own.index as usize {
                    "  <- this file"
                } else {
                    ""
                }
            ));
        }
    }
    line("hint:", display_escaped(&f.own.hint));
    line(
        "password kdf:",
        format!(
            "argon2id m={} MiB t={} p={}{}",
            f.own.kdf.memory_kib / 1024,
            f.own.kdf.iterations,
            f.own.kdf.parallelism,
            if f.own.kdf.is_weak() { "  WEAK" } else { "" }
        ),
    );
    line(
        "secret:",
        format!("{} bytes", f.payload.len() - format::TAG_BYTES),
    );
    line(
        "tokens:",
        format!(
            "{} token{} can open this file (each together with the password)",
            f.slots.len(),
            if f.slots.len() == 1 { "" } else { "s" }
        ),
    );
    for (i, s) in f.slots.iter().enumerate() {
        o.push_str(&format!(
            "  slot {}: {} [{}]{}\n",
            i + 1,
            s.descriptor.describe(),
            s.descriptor.kind().name(),
            if s.verified {
                "  marked verified by its writer"
            } else {
                "  UNVERIFIED (made from a public key alone)"
            }
        ));
        if let Some(h) = s.descriptor.key_hash() {
            o.push_str(&format!("          key hash {}\n", hex::encode(h)));
        }
    }
    if !o_line.is_empty() {
        o.push_str("shares:\n");
        for l in o_line {
            o.push_str(&l);
            o.push('\n');
        }
    }
    o
}
