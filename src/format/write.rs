//! Encoding: the one canonical byte form of each part of a file.

use super::{
    BackupFile, CommonHeader, Descriptor, Encoded, FileFields, FormatError, MAGIC, SlotMaterial,
    percent_encode,
};

pub(super) struct Writer {
    pub(super) out: String,
}

impl Writer {
    pub(super) fn line(&mut self, key: &str, value: &str) {
        self.out.push_str(key);
        self.out.push(':');
        if !value.is_empty() {
            self.out.push(' ');
            self.out.push_str(value);
        }
        self.out.push('\n');
    }
    fn pos(&self) -> usize {
        self.out.len()
    }
}

pub(super) fn b64() -> base64::engine::GeneralPurpose {
    base64::engine::general_purpose::STANDARD
}

/// Encode the common header alone (what Hc is computed over); used before slots exist.
pub fn encode_common(common: &CommonHeader) -> Vec<u8> {
    let mut w = Writer { out: String::new() };
    write_common(&mut w, common);
    w.out.into_bytes()
}

fn write_common(w: &mut Writer, c: &CommonHeader) {
    w.out.push_str(MAGIC);
    w.out.push('\n');
    w.line("set-id", &hex::encode(c.set_id));
    w.line("created", &c.created);
    w.line("label", &c.label);
    w.line("threshold", &c.threshold.to_string());
    w.line("count", &c.count.to_string());
    for (i, o) in c.officers.iter().enumerate() {
        w.line(&format!("officer.{}", i + 1), o);
    }
    for (i, cm) in c.commitments.iter().enumerate() {
        w.line(&format!("commitment.{}", i + 1), &hex::encode(cm));
    }
    w.line("fingerprint", &hex::encode(c.fingerprint));
    w.line("payload-nonce", &hex::encode(c.payload_nonce));
}

/// Encode the file's own fields alone.
pub fn encode_file_fields(own: &FileFields) -> Vec<u8> {
    let mut w = Writer { out: String::new() };
    write_file_fields(&mut w, own);
    w.out.into_bytes()
}

fn write_file_fields(w: &mut Writer, o: &FileFields) {
    w.line("index", &o.index.to_string());
    w.line("hint", &o.hint);
    w.line("kdf", "argon2id");
    w.line("kdf-memory", &o.kdf.memory_kib.to_string());
    w.line("kdf-iterations", &o.kdf.iterations.to_string());
    w.line("kdf-parallelism", &o.kdf.parallelism.to_string());
    w.line("kdf-salt", &hex::encode(o.kdf_salt));
}

/// Encode a slot's descriptor lines alone (the token's AES-GCM AAD input).
pub fn encode_descriptor(d: &Descriptor) -> Vec<u8> {
    let mut w = Writer { out: String::new() };
    write_descriptor(&mut w, d);
    w.out.into_bytes()
}

pub(super) fn write_descriptor(w: &mut Writer, d: &Descriptor) {
    w.line("slot", d.kind().name());
    match d {
        Descriptor::Pkcs11 {
            token_label,
            token_serial,
            key_label,
            key_id,
            key_hash,
            ..
        } => {
            w.line("token-label", &percent_encode(token_label.as_bytes()));
            w.line("token-serial", &percent_encode(token_serial.as_bytes()));
            w.line("key-label", &percent_encode(key_label.as_bytes()));
            w.line("key-id", &hex::encode(key_id));
            if let Some(h) = key_hash {
                w.line("key-hash", &hex::encode(h));
            }
        }
        Descriptor::Piv {
            card_serial,
            piv_slot,
            key_hash,
        } => {
            w.line("card-serial", &card_serial.to_string());
            w.line("piv-slot", &format!("{piv_slot:02x}"));
            w.line("key-hash", &hex::encode(key_hash));
        }
    }
}

/// Encode a slot's own fields (descriptor through the token material): the slot AEAD binds these.
pub fn encode_slot_fields(
    d: &Descriptor,
    verified: bool,
    salt: &[u8; 32],
    m: &SlotMaterial,
) -> Vec<u8> {
    let mut w = Writer { out: String::new() };
    write_slot_fields(&mut w, d, verified, salt, m);
    w.out.into_bytes()
}

fn write_slot_fields(
    w: &mut Writer,
    d: &Descriptor,
    verified: bool,
    salt: &[u8; 32],
    m: &SlotMaterial,
) {
    write_descriptor(w, d);
    write_slot_tail(w, verified, salt, m);
}

/// The slot lines after the descriptor, through the token material.
fn write_slot_tail(w: &mut Writer, verified: bool, salt: &[u8; 32], m: &SlotMaterial) {
    w.line("verified", if verified { "yes" } else { "no" });
    w.line("slot-salt", &hex::encode(salt));
    match m {
        SlotMaterial::TokenCiphertext { iv, ciphertext } => {
            w.line("token-iv", &hex::encode(iv));
            w.line("token-ciphertext", &hex::encode(ciphertext));
        }
        SlotMaterial::Ephemeral(p) => w.line("ephemeral", &hex::encode(p)),
    }
}

impl BackupFile {
    /// Encode with the MAC and checksum as stored (the MAC is whatever `self.mac` holds).
    /// Refuses with [`FormatError::BadValue`] whatever [`validate`](Self::validate) refuses.
    pub fn encode(&self) -> Result<Encoded, FormatError> {
        self.validate()?;
        let mut w = Writer { out: String::new() };
        write_common(&mut w, &self.common);
        let common = 0..w.pos();
        let ff_start = w.pos();
        write_file_fields(&mut w, &self.own);
        let file_fields = ff_start..w.pos();
        let mut slot_descriptors = Vec::new();
        let mut slot_fields = Vec::new();
        for s in &self.slots {
            let start = w.pos();
            write_descriptor(&mut w, &s.descriptor);
            slot_descriptors.push(start..w.pos());
            write_slot_tail(&mut w, s.verified, &s.salt, &s.material);
            slot_fields.push(start..w.pos());
            w.line("wrap-nonce", &hex::encode(s.wrap_nonce));
            w.line("wrapped", &hex::encode(s.wrapped));
            w.line("key-commitment", &hex::encode(s.key_commitment));
        }
        w.line("payload", &base64::Engine::encode(&b64(), &self.payload));
        let before_mac = 0..w.pos();
        w.line("mac", &hex::encode(self.mac));
        let before_checksum = 0..w.pos();
        let sum = crate::crypto::checksum(w.out.as_bytes());
        w.line("checksum", &hex::encode(sum));
        Ok(Encoded {
            bytes: w.out.into_bytes(),
            common,
            file_fields,
            slot_descriptors,
            slot_fields,
            before_mac,
            before_checksum,
        })
    }
}
