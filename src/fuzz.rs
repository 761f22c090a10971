//! The fuzz targets' bodies (fuzz/fuzz_targets/*.rs call them; tests/fuzz_replay.rs replays
//! every committed corpus file and past crash through them on stable). Each takes any bytes, may
//! refuse them, must never panic, and checks a property where the input is accepted: a parser
//! that accepts something gives it back byte for byte when it encodes it again.

// A panic here is the finding a fuzzer reports: these bodies assert on purpose.
#![allow(clippy::expect_used, clippy::panic, clippy::unwrap_used)]

use crate::format::{self, PubkeyFile};
use crate::secret::{DataKey, ShareValue};
use crate::shamir::{self, Share};
use crate::token::p11kit;
use crate::token::uri::TokenLocator;

/// A backup or share file: a file the strict reader accepts is its own canonical encoding.
pub fn backup_file(data: &[u8]) {
    if let Ok((file, enc)) = format::parse(data) {
        assert_eq!(enc.bytes, data, "accepted, so canonical");
        let again = file.encode().expect("an accepted file encodes");
        assert_eq!(again.bytes, data, "encodes back to the same bytes");
    }
}

/// A public-key file (`custody token pubkey`): accepted means canonical.
pub fn pubkey_file(data: &[u8]) {
    if let Ok(f) = PubkeyFile::parse(data) {
        let again = f.encode().expect("an accepted public-key file encodes");
        assert_eq!(again, data, "encodes back to the same bytes");
    }
}

/// A `--token` locator: a PKCS#11 URI that parses shows (without its query) a URI that parses
/// to the same token and key.
pub fn token_locator(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(TokenLocator::Pkcs11(uri)) = text.parse::<TokenLocator>() {
        let shown = uri.display_without_query();
        let back = match shown.parse::<TokenLocator>() {
            Ok(TokenLocator::Pkcs11(u)) => u,
            other => panic!("{shown:?} does not parse back: {other:?}"),
        };
        assert_eq!(back.token_label, uri.token_label);
        assert_eq!(back.token_serial, uri.token_serial);
        assert_eq!(back.object_label, uri.object_label);
        assert_eq!(back.object_id, uri.object_id);
        assert_eq!(back.display_without_query(), shown);
    }
}

/// Shares to combine: the first byte is K, then shares of 33 bytes (index, value). Combining
/// any of them must not panic; K shares that combine give the same key again however they are
/// ordered.
pub fn share_combine(data: &[u8]) {
    let Some((&k, rest)) = data.split_first() else {
        return;
    };
    let shares: Vec<Share> = rest
        .chunks_exact(33)
        .take(16)
        .filter_map(|c| {
            let value: [u8; 32] = c[1..].try_into().ok()?;
            Some(Share {
                index: c[0],
                value: ShareValue::from_bytes(&value),
            })
        })
        .collect();
    let refs: Vec<&Share> = shares.iter().collect();
    if let Ok(d) = shamir::combine(&refs, k) {
        let reversed: Vec<&Share> = shares.iter().rev().collect();
        let again: DataKey = shamir::combine(&reversed, k).expect("the same shares combine");
        assert_eq!(
            d.expose(),
            again.expose(),
            "the order of shares does not matter"
        );
    }
}

/// A ceremony record: checked line by line, whatever it holds.
pub fn record_file(data: &[u8]) {
    let checked = crate::record::check(data);
    // A record with no broken line has a line per `\n`.
    if checked.broken.is_none() {
        assert_eq!(
            checked.entries.len(),
            data.iter().filter(|&&b| b == b'\n').count()
        );
    }
}

/// A p11-kit configuration file (`pkcs11.conf`, `NAME.module`): the fields of one that parses
/// say the same when written back as `name: value` lines and parsed again, and names and values
/// carry no surrounding whitespace.
pub fn p11kit_conf(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(fields) = p11kit::parse_conf(text) {
        let mut written = String::new();
        for (name, value) in &fields {
            assert!(!name.contains('\n') && !value.contains('\n'));
            // p11-kit trims what C's isspace() calls space, not Unicode's White_Space: U+200A
            // after a vertical tab keeps the tab inside the name, as p11-kit keeps it.
            let c_space = |c: char| matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r');
            assert_eq!(
                name.trim_matches(c_space),
                name,
                "a name without surrounding whitespace"
            );
            written.push_str(&format!("{name}: {value}\n"));
        }
        // A name ending in a colon does not survive being written back; neither does a line
        // starting with `#`, `[` or `-----BEGIN ` once its name is empty. Only the others are
        // checked.
        let plain = fields.keys().all(|n| {
            !n.is_empty()
                && !n.contains(':')
                && !n.starts_with(['#', '['])
                && !n.starts_with("-----BEGIN ")
        });
        if plain {
            assert_eq!(p11kit::parse_conf(&written).as_ref(), Ok(&fields));
        }
        let _ = p11kit::module_name(text.lines().next().unwrap_or(""));
    }
}
