//! The on-disk format, version 1: pure code, no I/O. docs/FORMAT.md is the contract; this module
//! is its implementation. Parsing is strict: every file has exactly one canonical encoding, and the
//! parser proves it by re-encoding what it read and comparing byte for byte.

mod percent;
mod text;

use std::fmt;

pub use percent::{PercentError, percent_decode_canonical, percent_encode};
pub use text::{display_escaped, normalize_free_text, validate_free_text};

/// First line of every file.
pub const MAGIC: &str = "custody-backup v1";
/// A file larger than this is refused before it is read whole.
pub const MAX_FILE_BYTES: u64 = 1 << 20;
/// Longest line accepted (the payload line of a 4096-byte secret is about 5.5 KiB).
pub const MAX_LINE_BYTES: usize = 8192;
/// Most slots (tokens) one file may carry.
pub const MAX_SLOTS: usize = 16;
/// Bounds on the secret itself.
pub const MIN_SECRET_BYTES: usize = 16;
pub const MAX_SECRET_BYTES: usize = 4096;
/// AES-GCM tag length.
pub const TAG_BYTES: usize = 16;
/// Length of the data key D, of a share value and of a token secret z.
pub const KEY_BYTES: usize = 32;
/// Longest decoded token string (PKCS#11 labels are 32 bytes; leave room for other tokens).
pub const MAX_TOKEN_STRING_BYTES: usize = 256;
/// Longest key id.
pub const MAX_KEY_ID_BYTES: usize = 64;
/// Reading refuses KDF parameters above these before anything is allocated.
pub const MAX_KDF_MEMORY_KIB: u32 = 4 * 1024 * 1024;
pub const MAX_KDF_ITERATIONS: u32 = 16;
pub const MAX_KDF_PARALLELISM: u32 = 16;
/// The smallest parameters ever written or read (`--allow-weak-kdf`).
pub const MIN_KDF_MEMORY_KIB: u32 = 8 * 1024;
/// Below these a file is "weak".
pub const STRONG_KDF_MEMORY_KIB: u32 = 64 * 1024;
pub const STRONG_KDF_ITERATIONS: u32 = 3;

/// How a slot's token secret z is obtained.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SlotKind {
    /// A PKCS#11 AES-256 key encrypts z with AES-GCM.
    Pkcs11Aes,
    /// A PKCS#11 EC P-256 key: z is ECDH with an ephemeral key.
    Pkcs11P256,
    /// A P-256 key in a PIV card slot (YubiKey): z is ECDH with an ephemeral key.
    PivP256,
}

impl SlotKind {
    pub fn name(self) -> &'static str {
        match self {
            SlotKind::Pkcs11Aes => "pkcs11-aes",
            SlotKind::Pkcs11P256 => "pkcs11-p256",
            SlotKind::PivP256 => "piv-p256",
        }
    }
    fn from_name(s: &str) -> Option<Self> {
        Some(match s {
            "pkcs11-aes" => SlotKind::Pkcs11Aes,
            "pkcs11-p256" => SlotKind::Pkcs11P256,
            "piv-p256" => SlotKind::PivP256,
            _ => return None,
        })
    }
    /// Whether z comes from ECDH (the file then carries an ephemeral point and a key hash).
    pub fn is_ecdh(self) -> bool {
        !matches!(self, SlotKind::Pkcs11Aes)
    }
}

/// Which key a slot needs: enough to find it again, nothing that decides what code runs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Descriptor {
    Pkcs11 {
        kind: SlotKind,
        token_label: String,
        token_serial: String,
        key_label: String,
        key_id: Vec<u8>,
        /// Present exactly for [`SlotKind::Pkcs11P256`].
        key_hash: Option<[u8; 32]>,
    },
    Piv {
        card_serial: u32,
        piv_slot: u8,
        key_hash: [u8; 32],
    },
}

impl Descriptor {
    pub fn kind(&self) -> SlotKind {
        match self {
            Descriptor::Pkcs11 { kind, .. } => *kind,
            Descriptor::Piv { .. } => SlotKind::PivP256,
        }
    }
    pub fn key_hash(&self) -> Option<&[u8; 32]> {
        match self {
            Descriptor::Pkcs11 { key_hash, .. } => key_hash.as_ref(),
            Descriptor::Piv { key_hash, .. } => Some(key_hash),
        }
    }
    /// A one-line description for people (values escaped: they are unauthenticated when shown).
    pub fn describe(&self) -> String {
        match self {
            Descriptor::Pkcs11 {
                kind,
                token_label,
                token_serial,
                key_label,
                key_id,
                ..
            } => format!(
                "PKCS#11 token \"{}\" (serial {}), {} key \"{}\"{}",
                display_escaped(token_label),
                display_escaped(token_serial),
                if *kind == SlotKind::Pkcs11Aes {
                    "AES"
                } else {
                    "P-256"
                },
                display_escaped(key_label),
                if key_id.is_empty() {
                    String::new()
                } else {
                    format!(" id {}", hex::encode(key_id))
                }
            ),
            Descriptor::Piv {
                card_serial,
                piv_slot,
                ..
            } => format!("YubiKey {card_serial}, PIV slot {piv_slot:02x}"),
        }
    }
}

/// What the token contributed, as stored.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SlotMaterial {
    /// z encrypted by the token (AES-GCM): the IV the token used and ciphertext ‖ tag.
    TokenCiphertext {
        iv: [u8; 12],
        ciphertext: [u8; KEY_BYTES + TAG_BYTES],
    },
    /// The ephemeral public point, uncompressed SEC1 (04 ‖ X ‖ Y).
    Ephemeral([u8; 65]),
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Slot {
    pub descriptor: Descriptor,
    /// custody opened this slot from the written bytes when it was made.
    pub verified: bool,
    pub salt: [u8; 32],
    pub material: SlotMaterial,
    pub wrap_nonce: [u8; 12],
    /// The file's secret s (D, or a share of D) under the slot's KEK: ciphertext ‖ tag.
    pub wrapped: [u8; KEY_BYTES + TAG_BYTES],
    pub key_commitment: [u8; 32],
}

/// Argon2id's cost is crypto's type; what a file may ask for is the format's rule.
pub use crate::crypto::KdfParams;

impl KdfParams {
    pub fn is_weak(&self) -> bool {
        self.memory_kib < STRONG_KDF_MEMORY_KIB || self.iterations < STRONG_KDF_ITERATIONS
    }
    /// Within what any reader accepts (refused before anything is allocated).
    pub fn check_readable(&self) -> Result<(), String> {
        if self.memory_kib > MAX_KDF_MEMORY_KIB
            || self.iterations > MAX_KDF_ITERATIONS
            || self.parallelism > MAX_KDF_PARALLELISM
        {
            return Err(format!(
                "Argon2id parameters m={} KiB, t={}, p={} exceed the limits m=4 GiB, t=16, p=16",
                self.memory_kib, self.iterations, self.parallelism
            ));
        }
        if self.memory_kib < MIN_KDF_MEMORY_KIB || self.iterations < 1 || self.parallelism < 1 {
            return Err(format!(
                "Argon2id parameters m={} KiB, t={}, p={} are below the minimum m=8 MiB, t=1, p=1",
                self.memory_kib, self.iterations, self.parallelism
            ));
        }
        // Argon2 needs at least 8 KiB per lane.
        if self.memory_kib < 8 * self.parallelism {
            return Err("Argon2id memory is below 8 KiB per lane".into());
        }
        Ok(())
    }
}

/// Fields every file of one backup set shares.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommonHeader {
    pub set_id: [u8; 16],
    /// UTC, `YYYY-MM-DDTHH:MM:SSZ`.
    pub created: String,
    pub label: String,
    pub threshold: u8,
    pub count: u8,
    /// One per share, index order (a single backup has one).
    pub officers: Vec<String>,
    /// One per share, index order.
    pub commitments: Vec<[u8; 32]>,
    pub fingerprint: [u8; 16],
    pub payload_nonce: [u8; 12],
}

/// Fields of one file that are its own (its officer's).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileFields {
    pub index: u8,
    pub hint: String,
    pub kdf: KdfParams,
    pub kdf_salt: [u8; 32],
}

/// One backup file (a single backup, or one share of a split set).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BackupFile {
    pub common: CommonHeader,
    pub own: FileFields,
    pub slots: Vec<Slot>,
    /// The secret under the payload key: ciphertext ‖ tag.
    pub payload: Vec<u8>,
    pub mac: [u8; 32],
}

/// Why a file could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FormatError {
    /// The checksum line is missing or does not match: the bytes were damaged (or truncated).
    Damaged { reason: String },
    /// The checksum matches but the content is not a valid v1 file.
    Invalid { line: usize, reason: String },
    /// A custody file of a version this build does not read.
    UnsupportedVersion { found: String },
    /// Not a custody backup at all.
    NotABackup,
    /// Refused while building a file (a value out of bounds).
    BadValue { field: &'static str, reason: String },
}

impl fmt::Display for FormatError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FormatError::Damaged { reason } => write!(f, "the file is damaged ({reason})"),
            FormatError::Invalid { line, reason } => {
                write!(
                    f,
                    "the file is not a valid custody v1 backup: line {line}: {reason}"
                )
            }
            FormatError::UnsupportedVersion { found } => write!(
                f,
                "the file is a custody backup of a version this build does not read (\"{}\")",
                display_escaped(found)
            ),
            FormatError::NotABackup => write!(f, "the file is not a custody backup"),
            FormatError::BadValue { field, reason } => write!(f, "{field}: {reason}"),
        }
    }
}

impl std::error::Error for FormatError {}

impl FormatError {
    /// What kind of failure this is.
    pub fn kind(&self) -> crate::error::ErrorKind {
        use crate::error::ErrorKind;
        match self {
            FormatError::Damaged { .. } => ErrorKind::Damaged,
            FormatError::Invalid { .. } => ErrorKind::InvalidFile,
            FormatError::UnsupportedVersion { .. } => ErrorKind::UnsupportedVersion,
            FormatError::NotABackup => ErrorKind::NotABackup,
            FormatError::BadValue { .. } => ErrorKind::InvalidRequest,
        }
    }
}

/// Byte regions of an encoded file that the cryptography binds, all taken from one encoding.
#[derive(Clone, Debug)]
pub struct Encoded {
    pub bytes: Vec<u8>,
    /// Magic line through `payload-nonce:` (hashed to Hc).
    pub common: std::ops::Range<usize>,
    /// `index:` through `kdf-salt:`.
    pub file_fields: std::ops::Range<usize>,
    /// Per slot: `slot:` through the last descriptor line (the token's AES-GCM AAD).
    pub slot_descriptors: Vec<std::ops::Range<usize>>,
    /// Per slot: `slot:` through `ephemeral:` / `token-ciphertext:` (the slot AEAD's AAD).
    pub slot_fields: Vec<std::ops::Range<usize>>,
    /// Everything before the `mac:` line.
    pub before_mac: std::ops::Range<usize>,
    /// Everything before the `checksum:` line.
    pub before_checksum: std::ops::Range<usize>,
}

impl Encoded {
    pub fn common(&self) -> &[u8] {
        &self.bytes[self.common.clone()]
    }
    pub fn file_fields(&self) -> &[u8] {
        &self.bytes[self.file_fields.clone()]
    }
    pub fn slot_descriptor(&self, i: usize) -> &[u8] {
        &self.bytes[self.slot_descriptors[i].clone()]
    }
    pub fn slot_fields(&self, i: usize) -> &[u8] {
        &self.bytes[self.slot_fields[i].clone()]
    }
    pub fn before_mac(&self) -> &[u8] {
        &self.bytes[self.before_mac.clone()]
    }
}

struct Writer {
    out: String,
}

impl Writer {
    fn line(&mut self, key: &str, value: &str) {
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

fn b64() -> base64::engine::GeneralPurpose {
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

fn write_descriptor(w: &mut Writer, d: &Descriptor) {
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

    /// Encode with the MAC and checksum as stored (the MAC is whatever `self.mac` holds).
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

fn valid_timestamp(s: &str) -> bool {
    let b = s.as_bytes();
    if b.len() != 20 {
        return false;
    }
    let digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18];
    if !digits.iter().all(|&i| b[i].is_ascii_digit()) {
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
    let num = |r: std::ops::Range<usize>| s[r].parse::<u32>().unwrap_or(99);
    let (y, m) = (num(0..4), num(5..7));
    let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return false,
    };
    (1..=days).contains(&num(8..10)) && num(11..13) < 24 && num(14..16) < 60 && num(17..19) < 60
}

/// Check the final checksum line alone. Wrong or missing means the bytes are damaged.
pub fn check_checksum(bytes: &[u8]) -> Result<(), FormatError> {
    if !bytes.starts_with(b"custody-backup ") {
        return Err(FormatError::NotABackup);
    }
    if !bytes.ends_with(b"\n") {
        return Err(FormatError::Damaged {
            reason: "it does not end with a complete line: truncated?".into(),
        });
    }
    let body = &bytes[..bytes.len() - 1];
    let start = body.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1);
    let last = &body[start..];
    let Some(hexsum) = last.strip_prefix(b"checksum: ") else {
        return Err(FormatError::Damaged {
            reason: "the checksum line is missing: truncated?".into(),
        });
    };
    let want = crate::crypto::checksum(&bytes[..start]);
    if hexsum != hex::encode(want).as_bytes() {
        return Err(FormatError::Damaged {
            reason: "the checksum does not match its content".into(),
        });
    }
    Ok(())
}

/// Parse a whole file: checksum first, then strict parsing, then a canonical re-encoding check.
pub fn parse(bytes: &[u8]) -> Result<(BackupFile, Encoded), FormatError> {
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(FormatError::Damaged {
            reason: format!("it is larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    // The version line is read before the checksum so that a later version is named as such.
    let first_end = bytes
        .iter()
        .take(64)
        .position(|&b| b == b'\n')
        .unwrap_or(bytes.len().min(64));
    if first_end == bytes.len() && bytes.starts_with(b"custody-backup ") {
        return Err(FormatError::Damaged {
            reason: "it ends inside its first line: truncated".into(),
        });
    }
    let first = &bytes[..first_end];
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

struct Parser<'a> {
    lines: Vec<&'a str>,
    pos: usize,
}

type PResult<T> = Result<T, FormatError>;

impl<'a> Parser<'a> {
    fn new(bytes: &'a [u8]) -> PResult<Self> {
        let text = std::str::from_utf8(bytes).map_err(|e| FormatError::Invalid {
            line: 1 + bytes[..e.valid_up_to()]
                .iter()
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

    fn err<T>(&self, reason: impl Into<String>) -> PResult<T> {
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

    fn hex_fixed<const N: usize>(&mut self, key: &str) -> PResult<[u8; N]> {
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
        Ok(hex::decode(v).expect("checked hex"))
    }

    fn number(&mut self, key: &str, max: u64) -> PResult<u64> {
        let v = self.field(key)?;
        let canonical = !v.is_empty()
            && v.len() <= 10
            && v.bytes().all(|b| b.is_ascii_digit())
            && (v == "0" || !v.starts_with('0'));
        if !canonical {
            return self.err(format!(
                "\"{key}\" must be a decimal number without leading zeros"
            ));
        }
        let n: u64 = v.parse().expect("checked digits");
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

    fn parse_descriptor(&mut self) -> PResult<Descriptor> {
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

/// First line of a public-key file written by `custody token pubkey`.
pub const PUBKEY_MAGIC: &str = "custody-pubkey v1";

/// A token's P-256 public key with the descriptor a slot made from it records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PubkeyFile {
    pub descriptor: Descriptor,
    pub public_key: [u8; 65],
}

impl PubkeyFile {
    pub fn encode(&self) -> Result<Vec<u8>, FormatError> {
        self.check()?;
        let mut w = Writer { out: String::new() };
        w.out.push_str(PUBKEY_MAGIC);
        w.out.push('\n');
        write_descriptor(&mut w, &self.descriptor);
        w.line("public-key", &hex::encode(self.public_key));
        let sum = crate::crypto::checksum(w.out.as_bytes());
        w.line("checksum", &hex::encode(sum));
        Ok(w.out.into_bytes())
    }

    fn check(&self) -> Result<(), FormatError> {
        let bad = |reason: &str| FormatError::BadValue {
            field: "public-key",
            reason: reason.into(),
        };
        if !self.descriptor.kind().is_ecdh() {
            return Err(bad("only P-256 keys have a public-key file"));
        }
        crate::crypto::validate_p256_point(&self.public_key).map_err(|e| bad(&e))?;
        if self.descriptor.key_hash() != Some(&crate::crypto::p256_key_hash(&self.public_key)) {
            return Err(bad("the key hash does not match the public key"));
        }
        Ok(())
    }

    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() > 64 * 1024 {
            return Err(FormatError::NotABackup);
        }
        if !bytes.starts_with(PUBKEY_MAGIC.as_bytes()) {
            return Err(FormatError::NotABackup);
        }
        // Same damage check as a backup file, with its own magic.
        let body_end = bytes.len().saturating_sub(1);
        let start = bytes[..body_end]
            .iter()
            .rposition(|&b| b == b'\n')
            .map_or(0, |p| p + 1);
        let ok = bytes.ends_with(b"\n")
            && bytes[start..body_end].strip_prefix(b"checksum: ")
                == Some(hex::encode(crate::crypto::checksum(&bytes[..start])).as_bytes());
        if !ok {
            return Err(FormatError::Damaged {
                reason: "the checksum line is missing or does not match".into(),
            });
        }
        let mut p = Parser::new(bytes)?;
        p.pos = 1;
        let descriptor = p.parse_descriptor()?;
        let public_key = p.hex_fixed::<65>("public-key")?;
        let _ = p.hex_fixed::<32>("checksum")?;
        if p.pos != p.lines.len() {
            return p.err("data after the checksum line");
        }
        let f = PubkeyFile {
            descriptor,
            public_key,
        };
        f.check().map_err(|e| FormatError::Invalid {
            line: 0,
            reason: e.to_string(),
        })?;
        if f.encode()? != bytes {
            return Err(FormatError::Invalid {
                line: 0,
                reason: "not in canonical form".into(),
            });
        }
        Ok(f)
    }
}

#[cfg(test)]
mod tests;
