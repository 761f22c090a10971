//! The public-key file of `custody token pubkey`: a descriptor and the point it names.

use super::read::{Parser, split_last_line};
use super::write::{Writer, write_descriptor};
use super::{Descriptor, FormatError};

/// First line of a public-key file written by `custody token pubkey`.
pub const PUBKEY_MAGIC: &str = "custody-pubkey v1";

/// A token's P-256 public key with the descriptor a slot made from it records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PubkeyFile {
    /// The key as a slot made from it records it (kind `pkcs11-p256` or `piv-p256`).
    pub descriptor: Descriptor,
    /// The uncompressed SEC1 point; its hash is the descriptor's key hash.
    pub public_key: [u8; 65],
}

impl PubkeyFile {
    /// The file's canonical bytes. [`FormatError::BadValue`] for an AES descriptor, a point not
    /// on P-256, or a key hash that does not match the point.
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

    /// Read a public-key file, as strictly as a backup: damage check, canonical form, and the
    /// same checks as [`encode`](Self::encode). Anything not starting with [`PUBKEY_MAGIC`]
    /// (or over 64 KiB) is [`FormatError::NotABackup`].
    pub fn parse(bytes: &[u8]) -> Result<Self, FormatError> {
        if bytes.len() > 64 * 1024 {
            return Err(FormatError::NotABackup);
        }
        if !bytes.starts_with(PUBKEY_MAGIC.as_bytes()) {
            return Err(FormatError::NotABackup);
        }
        // Same damage check as a backup file, with its own magic.
        let ok = split_last_line(bytes).is_some_and(|(content, last)| {
            last.strip_prefix(b"checksum: ")
                == Some(hex::encode(crate::crypto::checksum(content)).as_bytes())
        });
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
