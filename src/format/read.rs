//! Reading: the damage check first, then strict parsing, then the canonical re-encoding check.

use super::write::b64;
use super::{
    BackupFile, CommonHeader, Descriptor, Encoded, FileFields, FormatError, KdfParams, MAGIC,
    MAX_FILE_BYTES, MAX_KEY_ID_BYTES, MAX_LINE_BYTES, MAX_SLOTS, MAX_TOKEN_STRING_BYTES, Slot,
    SlotKind, SlotMaterial, display_escaped, percent_decode_canonical, validate::valid_timestamp,
    validate_free_text,
};

/// Check the final checksum line alone. Wrong or missing means the bytes are damaged.
pub fn check_checksum(bytes: &[u8]) -> Result<(), FormatError> {
    if !bytes.starts_with(b"custody-backup ") {
        return Err(FormatError::NotABackup);
    }
    let Some((content, last)) = split_last_line(bytes) else {
        return Err(FormatError::Damaged {
            reason: "it does not end with a complete line: truncated?".into(),
        });
    };
    let Some(hexsum) = last.strip_prefix(b"checksum: ") else {
        return Err(FormatError::Damaged {
            reason: "the checksum line is missing: truncated?".into(),
        });
    };
    let want = crate::crypto::checksum(content);
    if hexsum != hex::encode(want).as_bytes() {
        return Err(FormatError::Damaged {
            reason: "the checksum does not match its content".into(),
        });
    }
    Ok(())
}

/// `bytes` up to and including the newline before its last line, and that last line without
/// its newline; `None` when `bytes` does not end with a newline (a truncated file).
pub(super) fn split_last_line(bytes: &[u8]) -> Option<(&[u8], &[u8])> {
    let body = bytes.strip_suffix(b"\n")?;
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    body.split_at_checked(start)
}

/// Parse a whole file: checksum first, then strict parsing, then a canonical re-encoding check.
///
/// Nothing read is authenticated yet (the MAC needs the secret); the error says whether the
/// bytes are damaged, invalid, of another version or not a backup at all.
pub fn parse(bytes: &[u8]) -> Result<(BackupFile, Encoded), FormatError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(FormatError::Damaged {
            reason: format!("it is larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    // The version line is read before the checksum so that a later version is named as such.
    // The first line, or the first 64 bytes when no newline comes sooner.
    let head = bytes.get(..64).unwrap_or(bytes);
    let first = head.split(|&b| b == b'\n').next().unwrap_or(head);
    if first.len() == bytes.len() && bytes.starts_with(b"custody-backup ") {
        return Err(FormatError::Damaged {
            reason: "it ends inside its first line: truncated".into(),
        });
    }
    // A file copied in text mode (CRLF) is damaged or invalid, not of another version.
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    if let Some(v) = first.strip_prefix(b"custody-backup ") {
        if first != MAGIC.as_bytes() {
            return Err(FormatError::UnsupportedVersion {
                found: String::from_utf8_lossy(v).into_owned(),
            });
        }
    } else {
        return Err(FormatError::NotABackup);
    }
    check_checksum(bytes)?;
    let file = Parser::new(bytes)?.parse_file()?;
    let enc = file.encode().map_err(|e| FormatError::Invalid {
        line: 0,
        reason: e.to_string(),
    })?;
    if enc.bytes != bytes {
        return Err(FormatError::Invalid {
            line: 0,
            reason: "not in canonical form".into(),
        });
    }
    Ok((file, enc))
}

pub(super) struct Parser<'a> {
    pub(super) lines: Vec<&'a str>,
    pub(super) pos: usize,
}

pub(super) type PResult<T> = Result<T, FormatError>;

impl<'a> Parser<'a> {
    pub(super) fn new(bytes: &'a [u8]) -> PResult<Self> {
        let text = std::str::from_utf8(bytes).map_err(|e| FormatError::Invalid {
            line: 1 + bytes
                .iter()
                .take(e.valid_up_to())
                .filter(|&&b| b == b'\n')
                .count(),
            reason: "not valid UTF-8".into(),
        })?;
        let body = text.strip_suffix('\n').ok_or(FormatError::Invalid {
            line: 0,
            reason: "no final newline".into(),
        })?;
        let lines: Vec<&str> = body.split('\n').collect();
        for (i, l) in lines.iter().enumerate() {
            if l.len() > MAX_LINE_BYTES {
                return Err(FormatError::Invalid {
                    line: i + 1,
                    reason: format!("line longer than {MAX_LINE_BYTES} bytes"),
                });
            }
            if l.contains('\r') {
                return Err(FormatError::Invalid {
                    line: i + 1,
                    reason: "carriage return".into(),
                });
            }
        }
        Ok(Parser { lines, pos: 0 })
    }

    pub(super) fn err<T>(&self, reason: impl Into<String>) -> PResult<T> {
        Err(FormatError::Invalid {
            line: self.pos.max(1),
            reason: reason.into(),
        })
    }

    /// Next line must be `key: value` (or `key:` for empty); returns the value.
    fn field(&mut self, key: &str) -> PResult<&'a str> {
        let Some(&line) = self.lines.get(self.pos) else {
            self.pos += 1;
            return self.err(format!("expected \"{key}:\", found the end of the file"));
        };
        self.pos += 1;
        let Some(rest) = line.strip_prefix(key).and_then(|r| r.strip_prefix(':')) else {
            let found = line.split(':').next().unwrap_or("");
            return self.err(format!(
                "expected \"{key}:\", found \"{}\"",
                display_escaped(&found.chars().take(40).collect::<String>())
            ));
        };
        if rest.is_empty() {
            return Ok("");
        }
        match rest.strip_prefix(' ') {
            Some(v) if !v.is_empty() => Ok(v),
            _ => self.err(format!(
                "\"{key}:\" must be followed by one space and a value"
            )),
        }
    }

    fn peek_key(&self) -> Option<&'a str> {
        self.lines
            .get(self.pos)
            .map(|l| l.split(':').next().unwrap_or(""))
    }

    pub(super) fn hex_fixed<const N: usize>(&mut self, key: &str) -> PResult<[u8; N]> {
        let v = self.field(key)?;
        if v.len() != 2 * N
            || !v
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return self.err(format!("\"{key}\" must be {} lowercase hex digits", 2 * N));
        }
        let mut out = [0u8; N];
        hex::decode_to_slice(v, &mut out).map_err(|_| FormatError::Invalid {
            line: self.pos,
            reason: format!("\"{key}\" is not hex"),
        })?;
        Ok(out)
    }

    fn hex_var(&mut self, key: &str, max: usize) -> PResult<Vec<u8>> {
        let v = self.field(key)?;
        if v.len() > 2 * max
            || v.len() % 2 != 0
            || !v
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        {
            return self.err(format!(
                "\"{key}\" must be lowercase hex of at most {max} bytes"
            ));
        }
        // Checked above; should hex ever disagree, the same refusal rather than a panic.
        hex::decode(v).or_else(|_| {
            self.err(format!(
                "\"{key}\" must be lowercase hex of at most {max} bytes"
            ))
        })
    }

    fn number(&mut self, key: &str, max: u64) -> PResult<u64> {
        let v = self.field(key)?;
        let canonical = !v.is_empty()
            && v.len() <= 10
            && v.bytes().all(|b| b.is_ascii_digit())
            && (v == "0" || !v.starts_with('0'));
        // At most 10 digits always fit a u64: the parse only fails where `canonical` does.
        let (true, Ok(n)) = (canonical, v.parse::<u64>()) else {
            return self.err(format!(
                "\"{key}\" must be a decimal number without leading zeros"
            ));
        };
        if n > max {
            return self.err(format!("\"{key}\" {n} is larger than {max}"));
        }
        Ok(n)
    }

    fn free_text(&mut self, key: &str) -> PResult<String> {
        let v = self.field(key)?;
        if let Err(e) = validate_free_text(v) {
            return self.err(format!("\"{key}\": {e}"));
        }
        Ok(v.to_owned())
    }

    fn token_string(&mut self, key: &str) -> PResult<String> {
        let v = self.field(key)?;
        let bytes = percent_decode_canonical(v).map_err(|e| FormatError::Invalid {
            line: self.pos,
            reason: format!("\"{key}\": {e}"),
        })?;
        if bytes.len() > MAX_TOKEN_STRING_BYTES {
            return self.err(format!(
                "\"{key}\" longer than {MAX_TOKEN_STRING_BYTES} bytes"
            ));
        }
        String::from_utf8(bytes).or_else(|_| self.err(format!("\"{key}\" is not UTF-8")))
    }

    fn parse_file(mut self) -> PResult<BackupFile> {
        if self.lines.first() != Some(&MAGIC) {
            return self.err("missing magic line");
        }
        self.pos = 1;
        let set_id = self.hex_fixed::<16>("set-id")?;
        let created = self.field("created")?.to_owned();
        if !valid_timestamp(&created) {
            return self.err("\"created\" must be a UTC timestamp YYYY-MM-DDTHH:MM:SSZ");
        }
        let label = self.free_text("label")?;
        let threshold = self.number("threshold", 255)? as u8;
        let count = self.number("count", 255)? as u8;
        if count == 0 || threshold == 0 || threshold > count || (threshold == 1 && count != 1) {
            return self.err(format!("{threshold} of {count} is not a valid threshold"));
        }
        let mut officers = Vec::with_capacity(count as usize);
        for i in 1..=count {
            officers.push(self.free_text(&format!("officer.{i}"))?);
        }
        let mut commitments = Vec::with_capacity(count as usize);
        for i in 1..=count {
            commitments.push(self.hex_fixed::<32>(&format!("commitment.{i}"))?);
        }
        let fingerprint = self.hex_fixed::<16>("fingerprint")?;
        let payload_nonce = self.hex_fixed::<12>("payload-nonce")?;
        let index = self.number("index", count as u64)? as u8;
        if index == 0 {
            return self.err("\"index\" must be at least 1");
        }
        let hint = self.free_text("hint")?;
        if self.field("kdf")? != "argon2id" {
            return self.err("\"kdf\" must be argon2id");
        }
        let kdf = KdfParams {
            memory_kib: self.number("kdf-memory", u32::MAX as u64)? as u32,
            iterations: self.number("kdf-iterations", u32::MAX as u64)? as u32,
            parallelism: self.number("kdf-parallelism", u32::MAX as u64)? as u32,
        };
        if let Err(e) = kdf.check_readable() {
            return self.err(e);
        }
        let kdf_salt = self.hex_fixed::<32>("kdf-salt")?;
        let mut slots = Vec::new();
        while self.peek_key() == Some("slot") {
            if slots.len() == MAX_SLOTS {
                return self.err(format!("more than {MAX_SLOTS} slots"));
            }
            slots.push(self.parse_slot()?);
        }
        if slots.is_empty() {
            self.pos += 1;
            return self.err("expected at least one \"slot:\"");
        }
        let payload_b64 = self.field("payload")?;
        let payload = base64::Engine::decode(&b64(), payload_b64)
            .or_else(|_| self.err("\"payload\" is not canonical base64"))?;
        let mac = self.hex_fixed::<32>("mac")?;
        let _ = self.hex_fixed::<32>("checksum")?;
        if self.pos != self.lines.len() {
            self.pos += 1;
            return self.err("data after the checksum line");
        }
        Ok(BackupFile {
            common: CommonHeader {
                set_id,
                created,
                label,
                threshold,
                count,
                officers,
                commitments,
                fingerprint,
                payload_nonce,
            },
            own: FileFields {
                index,
                hint,
                kdf,
                kdf_salt,
            },
            slots,
            payload,
            mac,
        })
    }

    fn parse_slot(&mut self) -> PResult<Slot> {
        let descriptor = self.parse_descriptor()?;
        let kind = descriptor.kind();
        let verified = match self.field("verified")? {
            "yes" => true,
            "no" => false,
            _ => return self.err("\"verified\" must be yes or no"),
        };
        let salt = self.hex_fixed::<32>("slot-salt")?;
        let material = if kind.is_ecdh() {
            SlotMaterial::Ephemeral(self.hex_fixed::<65>("ephemeral")?)
        } else {
            SlotMaterial::TokenCiphertext {
                iv: self.hex_fixed::<12>("token-iv")?,
                ciphertext: self.hex_fixed::<48>("token-ciphertext")?,
            }
        };
        Ok(Slot {
            descriptor,
            verified,
            salt,
            material,
            wrap_nonce: self.hex_fixed::<12>("wrap-nonce")?,
            wrapped: self.hex_fixed::<48>("wrapped")?,
            key_commitment: self.hex_fixed::<32>("key-commitment")?,
        })
    }

    pub(super) fn parse_descriptor(&mut self) -> PResult<Descriptor> {
        let kind_name = self.field("slot")?;
        let Some(kind) = SlotKind::from_name(kind_name) else {
            return self.err(format!(
                "unknown slot kind \"{}\"",
                display_escaped(kind_name)
            ));
        };
        let descriptor = match kind {
            SlotKind::Pkcs11Aes | SlotKind::Pkcs11P256 => {
                let token_label = self.token_string("token-label")?;
                let token_serial = self.token_string("token-serial")?;
                let key_label = self.token_string("key-label")?;
                let key_id = self.hex_var("key-id", MAX_KEY_ID_BYTES)?;
                let key_hash = if kind == SlotKind::Pkcs11P256 {
                    Some(self.hex_fixed::<32>("key-hash")?)
                } else {
                    None
                };
                Descriptor::Pkcs11 {
                    kind,
                    token_label,
                    token_serial,
                    key_label,
                    key_id,
                    key_hash,
                }
            }
            SlotKind::PivP256 => {
                let card_serial = self.number("card-serial", u32::MAX as u64)? as u32;
                let s = self.hex_fixed::<1>("piv-slot")?[0];
                if !((0x82..=0x95).contains(&s) || [0x9a, 0x9c, 0x9d, 0x9e].contains(&s)) {
                    return self.err(format!("\"piv-slot\" {s:02x} is not a PIV key slot"));
                }
                let key_hash = self.hex_fixed::<32>("key-hash")?;
                Descriptor::Piv {
                    card_serial,
                    piv_slot: s,
                    key_hash,
                }
            }
        };
        Ok(descriptor)
    }
}
