//! GET METADATA (YubiKey firmware ≥ 5.3, INS F7) for the slots this card generated keys in.
//!
//! piv-authenticator has no such command, so the harness watches GENERATE ASYMMETRIC KEY PAIR
//! and remembers, per slot, the algorithm, the policies asked for and the public key it answered.
//! custody reads a slot's public key and the key's origin from here, as from a real YubiKey.

use std::{
    collections::BTreeMap,
    fs,
    path::{Path, PathBuf},
};

/// What a YubiKey reports of a key it holds.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyMeta {
    /// PIV algorithm id (0x11 for P-256).
    pub algorithm: u8,
    /// PIN policy as the card reports it (1 never, 2 once, 3 always).
    pub pin: u8,
    /// Touch policy as the card reports it (1 never, 2 always, 3 cached).
    pub touch: u8,
    /// The content of the generate answer's `7F49` template (for EC, `86 41 04‖X‖Y`).
    pub public: Vec<u8>,
}

/// Keys by slot, kept beside the card's storage when it has a state directory.
pub struct Metadata {
    keys: BTreeMap<u8, KeyMeta>,
    file: Option<PathBuf>,
    /// Report every key as imported, to test what custody does with one.
    report_imported: bool,
}

/// Origin values of the metadata's tag 03.
const GENERATED: u8 = 1;
const IMPORTED: u8 = 2;

impl Metadata {
    /// From `DIR/metadata` when the card keeps state there, else empty.
    pub fn load(state: Option<&Path>, report_imported: bool) -> Result<Metadata, String> {
        let file = state.map(|d| d.join("metadata"));
        let mut keys = BTreeMap::new();
        if let Some(path) = &file {
            match fs::read_to_string(path) {
                Ok(text) => {
                    for line in text.lines().filter(|l| !l.is_empty()) {
                        let (slot, meta) = parse_line(line)
                            .ok_or_else(|| format!("{}: bad line {line:?}", path.display()))?;
                        keys.insert(slot, meta);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                Err(e) => return Err(format!("cannot read {}: {e}", path.display())),
            }
        }
        Ok(Metadata {
            keys,
            file,
            report_imported,
        })
    }

    /// A GENERATE command for `slot` (its data, the `AC` template) was answered with `reply`.
    pub fn generated(&mut self, slot: u8, command: &[u8], reply: &[u8]) {
        let Some(public) = tlv(reply, &[0x7F, 0x49]) else {
            log::warn!("GENERATE answer without a 7F49 template: no metadata for {slot:02X}");
            return;
        };
        let template = tlv(command, &[0xAC]).unwrap_or(&[]);
        let byte = |tag: u8| tlv(template, &[tag]).and_then(|v| v.first().copied());
        let meta = KeyMeta {
            algorithm: byte(0x80).unwrap_or(0),
            // 0 asks for the slot's default: once for the PIN, never for touch.
            pin: byte(0xAA).filter(|&p| p != 0).unwrap_or(2),
            touch: byte(0xAB).filter(|&t| t != 0).unwrap_or(1),
            public: public.to_vec(),
        };
        self.keys.insert(slot, meta);
        self.save();
    }

    /// The card was reset: no keys are left.
    pub fn clear(&mut self) {
        self.keys.clear();
        self.save();
    }

    /// The answer to GET METADATA for `slot`, `None` for a slot without a (generated) key.
    pub fn answer(&self, slot: u8) -> Option<Vec<u8>> {
        let meta = self.keys.get(&slot)?;
        let origin = if self.report_imported {
            IMPORTED
        } else {
            GENERATED
        };
        let mut out = vec![0x01, 0x01, meta.algorithm];
        out.extend_from_slice(&[0x02, 0x02, meta.pin, meta.touch]);
        out.extend_from_slice(&[0x03, 0x01, origin]);
        out.push(0x04);
        push_len(&mut out, meta.public.len());
        out.extend_from_slice(&meta.public);
        Some(out)
    }

    fn save(&self) {
        let Some(path) = &self.file else { return };
        let text: String = self
            .keys
            .iter()
            .map(|(slot, m)| {
                format!(
                    "{slot:02x} {:02x} {:02x} {:02x} {}\n",
                    m.algorithm,
                    m.pin,
                    m.touch,
                    hex(&m.public)
                )
            })
            .collect();
        let tmp = path.with_extension("new");
        if let Err(e) = fs::write(&tmp, text).and_then(|()| fs::rename(&tmp, path)) {
            log::error!("cannot save {}: {e}", path.display());
        }
    }
}

fn parse_line(line: &str) -> Option<(u8, KeyMeta)> {
    let mut f = line.split(' ');
    let mut byte = || u8::from_str_radix(f.next()?, 16).ok();
    let (slot, algorithm, pin, touch) = (byte()?, byte()?, byte()?, byte()?);
    let public = unhex(f.next()?)?;
    Some((
        slot,
        KeyMeta {
            algorithm,
            pin,
            touch,
            public,
        },
    ))
}

/// The value of the first BER-TLV with this tag at the top level of `data`.
fn tlv<'a>(mut data: &'a [u8], tag: &[u8]) -> Option<&'a [u8]> {
    while !data.is_empty() {
        // Two-byte tags start with a byte whose low five bits are all set.
        let tag_len = if data[0] & 0x1F == 0x1F { 2 } else { 1 };
        let t = data.get(..tag_len)?;
        let (len, len_len) = match *data.get(tag_len)? {
            n @ 0..=0x7F => (usize::from(n), 1),
            0x81 => (usize::from(*data.get(tag_len + 1)?), 2),
            0x82 => (
                usize::from(u16::from_be_bytes([
                    *data.get(tag_len + 1)?,
                    *data.get(tag_len + 2)?,
                ])),
                3,
            ),
            _ => return None,
        };
        let start = tag_len + len_len;
        let value = data.get(start..start + len)?;
        if t == tag {
            return Some(value);
        }
        data = &data[start + len..];
    }
    None
}

fn push_len(out: &mut Vec<u8>, len: usize) {
    match len {
        0..=0x7F => out.push(len as u8),
        0x80..=0xFF => out.extend_from_slice(&[0x81, len as u8]),
        _ => out.extend_from_slice(&[0x82, (len >> 8) as u8, len as u8]),
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Option<Vec<u8>> {
    if !text.len().is_multiple_of(2) {
        return None;
    }
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(text.get(i..i + 2)?, 16).ok())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_generated_p256_key_is_answered_with_its_point_and_policies() {
        let mut m = Metadata::load(None, false).unwrap();
        let point: Vec<u8> = std::iter::once(4).chain(1..=64).collect();
        let mut reply = vec![0x7F, 0x49, 0x43, 0x86, 0x41];
        reply.extend_from_slice(&point);
        let command = [0xAC, 0x06, 0x80, 0x01, 0x11, 0xAA, 0x01, 0x03];
        m.generated(0x85, &command, &reply);
        let answer = m.answer(0x85).unwrap();
        assert_eq!(&answer[..10], &[1, 1, 0x11, 2, 2, 3, 1, 3, 1, 1]);
        assert_eq!(&answer[10..13], &[4, 0x43, 0x86]);
        assert_eq!(&answer[14..], &point[..]);
        assert!(m.answer(0x86).is_none());
        let imported = Metadata {
            report_imported: true,
            ..m
        };
        assert_eq!(imported.answer(0x85).unwrap()[9], IMPORTED);
    }

    #[test]
    fn metadata_survives_a_restart_with_state() {
        let dir = std::env::temp_dir().join(format!("piv-card-meta-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let mut m = Metadata::load(Some(&dir), false).unwrap();
        m.generated(0x90, &[], &[0x7F, 0x49, 0x03, 0x86, 0x01, 0x04]);
        let again = Metadata::load(Some(&dir), false).unwrap();
        assert_eq!(again.keys, m.keys);
        fs::remove_dir_all(&dir).unwrap();
    }
}
