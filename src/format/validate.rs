//! The bounds a file must respect, checked before writing (the parser enforces the same).

use super::{
    BackupFile, Descriptor, FormatError, MAX_KEY_ID_BYTES, MAX_SECRET_BYTES, MAX_SLOTS,
    MAX_TOKEN_STRING_BYTES, MIN_SECRET_BYTES, SlotKind, SlotMaterial, TAG_BYTES,
    validate_free_text,
};

impl BackupFile {
    /// Check what the writer must never produce (the parser enforces the same).
    pub fn validate(&self) -> Result<(), FormatError> {
        let bad =
            |field: &'static str, reason: String| Err(FormatError::BadValue { field, reason });
        let c = &self.common;
        if !valid_timestamp(&c.created) {
            return bad("created", "not a UTC timestamp YYYY-MM-DDTHH:MM:SSZ".into());
        }
        if let Err(e) = validate_free_text(&c.label) {
            return bad("label", e);
        }
        if c.count == 0 || c.threshold == 0 || c.threshold > c.count {
            return bad(
                "threshold",
                format!("{} of {} is not a valid threshold", c.threshold, c.count),
            );
        }
        if c.threshold == 1 && c.count != 1 {
            return bad(
                "threshold",
                "a split set needs a threshold of at least 2".into(),
            );
        }
        if c.officers.len() != c.count as usize || c.commitments.len() != c.count as usize {
            return bad("count", "one officer and one commitment per share".into());
        }
        for o in &c.officers {
            if let Err(e) = validate_free_text(o) {
                return bad("officer", e);
            }
        }
        let o = &self.own;
        if o.index == 0 || o.index > c.count {
            return bad("index", format!("{} is not in 1..={}", o.index, c.count));
        }
        if let Err(e) = validate_free_text(&o.hint) {
            return bad("hint", e);
        }
        if let Err(e) = o.kdf.check_readable() {
            return bad("kdf", e);
        }
        if self.slots.is_empty() || self.slots.len() > MAX_SLOTS {
            return bad("slot", format!("a file has 1 to {MAX_SLOTS} slots"));
        }
        for s in &self.slots {
            let ecdh = s.descriptor.kind().is_ecdh();
            match (&s.material, ecdh) {
                (SlotMaterial::Ephemeral(_), true)
                | (SlotMaterial::TokenCiphertext { .. }, false) => {}
                _ => return bad("slot", "material does not match the slot kind".into()),
            }
            if let Descriptor::Pkcs11 {
                kind,
                token_label,
                token_serial,
                key_label,
                key_id,
                key_hash,
            } = &s.descriptor
            {
                if key_hash.is_some() != (*kind == SlotKind::Pkcs11P256) {
                    return bad("key-hash", "present exactly for pkcs11-p256 slots".into());
                }
                for (field, v) in [
                    ("token-label", token_label),
                    ("token-serial", token_serial),
                    ("key-label", key_label),
                ] {
                    if v.len() > MAX_TOKEN_STRING_BYTES {
                        return bad(field, format!("longer than {MAX_TOKEN_STRING_BYTES} bytes"));
                    }
                }
                if key_id.len() > MAX_KEY_ID_BYTES {
                    return bad("key-id", format!("longer than {MAX_KEY_ID_BYTES} bytes"));
                }
            }
        }
        let n = self.payload.len();
        if !(MIN_SECRET_BYTES + TAG_BYTES..=MAX_SECRET_BYTES + TAG_BYTES).contains(&n) {
            return bad("payload", format!("{n} bytes is out of bounds"));
        }
        Ok(())
    }
}

/// `YYYY-MM-DDTHH:MM:SSZ`, a real date and time of day (no leap second).
pub(super) fn valid_timestamp(s: &str) -> bool {
    // A fixed-size array: every index below is checked by the compiler.
    let Ok(b) = <&[u8; 20]>::try_from(s.as_bytes()) else {
        return false;
    };
    let digits = [
        b[0], b[1], b[2], b[3], b[5], b[6], b[8], b[9], b[11], b[12], b[14], b[15], b[17], b[18],
    ];
    if !digits.iter().all(u8::is_ascii_digit) {
        return false;
    }
    if b[4] != b'-'
        || b[7] != b'-'
        || b[10] != b'T'
        || b[13] != b':'
        || b[16] != b':'
        || b[19] != b'Z'
    {
        return false;
    }
    // Both are ASCII digits (checked above), so neither subtraction can wrap.
    let num = |hi: u8, lo: u8| u32::from(hi - b'0') * 10 + u32::from(lo - b'0');
    let (y, m) = (num(b[0], b[1]) * 100 + num(b[2], b[3]), num(b[5], b[6]));
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&num(b[8], b[9]))
        && num(b[11], b[12]) < 24
        && num(b[14], b[15]) < 60
        && num(b[17], b[18]) < 60
}
