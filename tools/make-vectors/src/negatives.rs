//! The negative vectors: each derived from a positive file, with the outcome it must have.

use std::collections::BTreeMap;

use custody::internals::crypto;
use custody::internals::format::SlotMaterial;

use crate::edit::{
    body_bytes, body_lines, edit, flip_byte, flip_hex, get, pos, random_point, replace_bytes,
    restruct, seal_bytes, set, slot_range,
};
use crate::positives::PASSWORD;

/// A negative vector: derived from a positive file.
pub struct Negative {
    pub name: &'static str,
    pub base: &'static str,
    /// The outcome this vector is meant to have (checked against what the code does).
    pub expect: &'static str,
    pub password: Option<&'static str>,
    pub token_used: Option<bool>,
    pub comment: &'static str,
    /// Why this vector is known not to behave as declared yet: it is written once the code
    /// does, and until then reported without failing the run.
    pub pending: Option<&'static str>,
    pub make: Box<Maker>,
}

pub type Bases = BTreeMap<String, Vec<u8>>;
/// Makes a negative's bytes from its base file (and, if it needs them, the other bases).
pub type Maker = dyn Fn(&[u8], &Bases) -> Vec<u8>;

fn neg(
    name: &'static str,
    base: &'static str,
    expect: &'static str,
    comment: &'static str,
    make: impl Fn(&[u8], &Bases) -> Vec<u8> + 'static,
) -> Negative {
    Negative {
        name,
        base,
        expect,
        password: None,
        token_used: None,
        comment,
        pending: None,
        make: Box::new(make),
    }
}

impl Negative {
    fn password(mut self, p: &'static str) -> Self {
        self.password = Some(p);
        self
    }
    fn pending(mut self, why: &'static str) -> Self {
        self.pending = Some(why);
        self
    }
    /// The file must be refused before any token is logged in to.
    fn no_token(mut self) -> Self {
        self.token_used = Some(false);
        self
    }
}

// ───────────────────────────── the negatives ─────────────────────────────

/// `format::parse` reads the version line before the checksum and compares it whole, so
/// "custody-backup v1\r" is named a later version ("use a newer custody") instead of damage.
const CRLF_PENDING: &str = "a CRLF v1 file is reported as an unsupported version \"v1\\r\"";

pub fn negatives() -> Vec<Negative> {
    vec![
        // ── damaged: the checksum line is missing or wrong (exit 5, never "auth") ──
        neg(
            "byte-flip-middle",
            "aes-single",
            "damaged",
            "one bit flipped in the middle of the file: the checksum catches it",
            |b, _| flip_byte(b, b.len() / 2),
        ),
        neg(
            "byte-flip-p256-slot",
            "two-slots",
            "damaged",
            "one bit flipped inside the second slot's ephemeral point: the checksum catches it before any token is used",
            |b, _| {
                let at = body_bytes(b)
                    .windows(11)
                    .position(|w| w == b"ephemeral: ")
                    .expect("ephemeral line")
                    + 40;
                flip_byte(b, at)
            },
        )
        .no_token(),
        neg(
            "checksum-digit-changed",
            "p256-single",
            "damaged",
            "one hex digit of the checksum itself changed",
            |b, _| flip_byte(b, b.len() - 2),
        ),
        neg(
            "zeroed-block",
            "secret-4096",
            "damaged",
            "512 bytes in the middle of the payload line overwritten with zero bytes (a bad sector)",
            |b, _| {
                let mut v = b.to_vec();
                let mid = v.len() / 2;
                v[mid..mid + 512].fill(0);
                v
            },
        ),
        neg(
            "truncated-half",
            "aes-single",
            "damaged",
            "cut in half, in the middle of a line",
            |b, _| b[..b.len() / 2].to_vec(),
        ),
        neg(
            "truncated-at-line",
            "p256-single",
            "damaged",
            "cut after the payload line (mac and checksum lines lost): ends with a newline but no checksum line",
            |b, _| {
                let l = body_lines(b);
                let mut s = l[..pos(&l, "mac", 0)].join("\n");
                s.push('\n');
                s.into_bytes()
            },
        ),
        neg(
            "truncated-in-checksum",
            "two-slots",
            "damaged",
            "cut in the middle of the checksum line",
            |b, _| b[..b.len() - 20].to_vec(),
        ),
        neg(
            "truncated-final-newline",
            "aes-single",
            "damaged",
            "only the final newline is missing",
            |b, _| b[..b.len() - 1].to_vec(),
        ),
        neg(
            "truncated-to-magic",
            "aes-single",
            "damaged",
            "only the first line \"custody-backup v1\" is left",
            |b, _| b[..b.iter().position(|&c| c == b'\n').expect("line") + 1].to_vec(),
        ),
        neg(
            "checksum-removed",
            "aes-single",
            "damaged",
            "the checksum line is removed, everything else intact",
            |b, _| body_bytes(b),
        ),
        neg(
            "checksum-uppercase",
            "p256-single",
            "damaged",
            "the checksum written in uppercase hex: it must be exactly the lowercase digest",
            |b, _| {
                let body = body_bytes(b);
                let mut out = body.clone();
                out.extend_from_slice(
                    format!(
                        "checksum: {}\n",
                        hex::encode_upper(crypto::checksum(&body))
                    )
                    .as_bytes(),
                );
                out
            },
        ),
        neg(
            "crlf-all-lines",
            "aes-single",
            "damaged",
            "every line ends in CRLF, as a text-mode copy makes it: the checksum no longer matches",
            |b, _| {
                String::from_utf8(b.to_vec())
                    .expect("utf-8")
                    .replace('\n', "\r\n")
                    .into_bytes()
            },
        )
        .pending(CRLF_PENDING),
        neg(
            "garbage-after-checksum",
            "aes-single",
            "damaged",
            "a line appended after the checksum line (checksum not recomputed): the last line is not a checksum",
            |b, _| {
                let mut v = b.to_vec();
                v.extend_from_slice(b"appended: by a careless copy\n");
                v
            },
        ),
        neg(
            "empty-line-after-checksum",
            "p256-single",
            "damaged",
            "one empty line appended after the checksum line",
            |b, _| {
                let mut v = b.to_vec();
                v.push(b'\n');
                v
            },
        ),
        // ── unsupported / not a backup ──
        neg(
            "version-v2",
            "aes-single",
            "unsupported",
            "the version line says \"custody-backup v2\": named as a later version, not as damage",
            |b, _| replace_bytes(b, b"custody-backup v1\n", b"custody-backup v2\n"),
        ),
        neg(
            "not-a-backup-text",
            "aes-single",
            "not-a-backup",
            "a plain text file",
            |_, _| b"This is not a custody backup.\nJust some notes.\n".to_vec(),
        ),
        neg(
            "not-a-backup-empty",
            "aes-single",
            "not-a-backup",
            "an empty file",
            |_, _| Vec::new(),
        ),
        neg(
            "not-a-backup-binary",
            "aes-single",
            "not-a-backup",
            "binary data (a PNG signature followed by random bytes)",
            |_, _| {
                let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
                v.extend_from_slice(&crypto::random_array::<64>());
                v
            },
        ),
        neg(
            "not-a-backup-pubkey-file",
            "p256-single",
            "not-a-backup",
            "a custody-pubkey v1 file (the other file custody writes) given as a backup",
            |_, bases| bases["pubkey-file"].clone(),
        ),
        neg(
            "truncated-in-magic",
            "aes-single",
            "not-a-backup",
            "cut after 10 bytes (\"custody-ba\"): too little is left to tell it is a custody file",
            |b, _| b[..10].to_vec(),
        ),
        // ── invalid: checksum recomputed, the parser refuses ──
        neg(
            "fields-reordered",
            "aes-single",
            "invalid",
            "\"created\" and \"set-id\" swapped (checksum recomputed): fields have one fixed order",
            |b, _| {
                edit(b, |l| {
                    let (i, j) = (pos(l, "set-id", 0), pos(l, "created", 0));
                    l.swap(i, j)
                })
            },
        ),
        neg(
            "unknown-field",
            "aes-single",
            "invalid",
            "an unknown field \"x-unknown-field\" after the hint (checksum recomputed)",
            |b, _| {
                edit(b, |l| {
                    let i = pos(l, "hint", 0);
                    l.insert(i + 1, "x-unknown-field: 1".into())
                })
            },
        ),
        neg(
            "repeated-field",
            "aes-single",
            "invalid",
            "the hint line repeated (checksum recomputed)",
            |b, _| {
                edit(b, |l| {
                    let i = pos(l, "hint", 0);
                    let h = l[i].clone();
                    l.insert(i + 1, h)
                })
            },
        ),
        neg(
            "crlf-rechecksummed",
            "aes-single",
            "invalid",
            "CRLF line endings with the checksum recomputed over them: a carriage return is never valid",
            |b, _| {
                let body: Vec<u8> = String::from_utf8(body_bytes(b))
                    .expect("utf-8")
                    .replace('\n', "\r\n")
                    .into_bytes();
                seal_bytes(body)
            },
        )
        .pending(CRLF_PENDING),
        neg(
            "cr-in-one-line",
            "aes-single",
            "invalid",
            "only the hint line ends in CRLF (checksum recomputed): a carriage return anywhere is invalid",
            |b, _| {
                edit(b, |l| {
                    let i = pos(l, "hint", 0);
                    l[i].push('\r')
                })
            },
        ),
        neg(
            "crlf-after-first-line",
            "p256-single",
            "damaged",
            "every line but the first ends in CRLF (checksum not recomputed): the checksum line no longer matches",
            |b, _| {
                let t = String::from_utf8(b.to_vec()).expect("utf-8");
                let (first, rest) = t.split_once('\n').expect("lines");
                format!("{first}\n{}", rest.replace('\n', "\r\n")).into_bytes()
            },
        ),
        neg(
            "uppercase-hex",
            "aes-single",
            "invalid",
            "set-id in uppercase hex (checksum recomputed): hex is lowercase only",
            |b, _| {
                edit(b, |l| {
                    let v = get(l, "set-id", 0).to_uppercase();
                    set(l, "set-id", &v)
                })
            },
        ),
        neg(
            "uppercase-hex-key-hash",
            "p256-single",
            "invalid",
            "key-hash in uppercase hex (checksum recomputed)",
            |b, _| {
                edit(b, |l| {
                    let v = get(l, "key-hash", 0).to_uppercase();
                    set(l, "key-hash", &v)
                })
            },
        ),
        neg(
            "leading-zero",
            "aes-single",
            "invalid",
            "kdf-memory written \"08192\" (checksum recomputed): numbers have no leading zeros",
            |b, _| edit(b, |l| set(l, "kdf-memory", "08192")),
        ),
        neg(
            "number-trailing-space",
            "aes-single",
            "invalid",
            "kdf-iterations written \"1 \" with a trailing space (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "kdf-iterations", "1 ")),
        ),
        neg(
            "empty-value-with-space",
            "secret-16",
            "invalid",
            "the empty hint written \"hint: \" (colon, space, nothing) instead of \"hint:\" (checksum recomputed)",
            |b, _| {
                edit(b, |l| {
                    let i = pos(l, "hint", 0);
                    l[i] = "hint: ".into()
                })
            },
        ),
        neg(
            "base64-trailing-bits",
            "secret-16",
            "invalid",
            "payload base64 with non-zero trailing bits before the padding (checksum recomputed): not canonical",
            |b, _| {
                edit(b, |l| {
                    let mut v = get(l, "payload", 0).into_bytes();
                    assert_eq!(v.last(), Some(&b'='), "a 32-byte payload has one pad");
                    let n = v.len();
                    const ALPHABET: &[u8] =
                        b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
                    let idx = ALPHABET.iter().position(|&c| c == v[n - 2]).expect("b64");
                    v[n - 2] = ALPHABET[idx | 1];
                    set(l, "payload", &String::from_utf8(v).expect("ascii"))
                })
            },
        ),
        neg(
            "base64-no-padding",
            "secret-16",
            "invalid",
            "payload base64 without its \"=\" padding (checksum recomputed): not canonical",
            |b, _| {
                edit(b, |l| {
                    let v = get(l, "payload", 0);
                    set(l, "payload", v.trim_end_matches('='))
                })
            },
        ),
        neg(
            "data-after-checksum",
            "aes-single",
            "invalid",
            "a line after a correct checksum line, then a checksum line over all of it: data after the checksum",
            |b, _| {
                let mut v = b.to_vec();
                v.extend_from_slice(b"extra: data\n");
                seal_bytes(v)
            },
        ),
        neg(
            "kdf-memory-too-large",
            "aes-single",
            "invalid",
            "kdf-memory 4194305 KiB, just above the 4 GiB limit (checksum recomputed): refused before anything is allocated",
            |b, _| edit(b, |l| set(l, "kdf-memory", "4194305")),
        )
        .no_token(),
        neg(
            "kdf-memory-too-small",
            "aes-single",
            "invalid",
            "kdf-memory 8191 KiB, just below the 8 MiB minimum (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "kdf-memory", "8191")),
        ),
        neg(
            "kdf-iterations-17",
            "aes-single",
            "invalid",
            "kdf-iterations 17, just above the limit of 16 (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "kdf-iterations", "17")),
        ),
        neg(
            "kdf-iterations-0",
            "aes-single",
            "invalid",
            "kdf-iterations 0 (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "kdf-iterations", "0")),
        ),
        neg(
            "kdf-parallelism-17",
            "aes-single",
            "invalid",
            "kdf-parallelism 17, just above the limit of 16 (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "kdf-parallelism", "17")),
        ),
        neg(
            "kdf-not-argon2id",
            "aes-single",
            "invalid",
            "kdf \"argon2i\" instead of \"argon2id\" (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "kdf", "argon2i")),
        ),
        neg(
            "unknown-slot-kind",
            "aes-single",
            "invalid",
            "slot kind \"x-vector-unknown-kind\" (checksum recomputed): an unknown kind is refused, not skipped",
            |b, _| edit(b, |l| set(l, "slot", "x-vector-unknown-kind")),
        ),
        neg(
            "hint-invalid-utf8",
            "aes-single",
            "invalid",
            "a 0xFF byte in the hint (checksum recomputed): not UTF-8",
            |b, _| {
                seal_bytes(replace_bytes(
                    &body_bytes(b),
                    b"hint: the vector password",
                    b"hint: the vector \xff password",
                ))
            },
        ),
        neg(
            "hint-escape-char",
            "aes-single",
            "invalid",
            "an ESC (U+001B) control character in the hint (checksum recomputed): could drive a terminal",
            |b, _| {
                edit(b, |l| {
                    set(l, "hint", "the vector \u{1b}[2Jpassword");
                })
            },
        ),
        neg(
            "hint-bidi-override",
            "unicode-label-hint",
            "invalid",
            "a RIGHT-TO-LEFT OVERRIDE (U+202E, a format character) in the hint (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "hint", "Großvaters \u{202e}Geburtstag")),
        ),
        neg(
            "hint-not-nfc",
            "unicode-label-hint",
            "invalid",
            "the hint in NFD (\"o\" + U+0308 instead of \"ö\") (checksum recomputed): free text is NFC",
            |b, _| edit(b, |l| set(l, "hint", "Gro\u{df}vaters Geburtstag, Zoe\u{308}")),
        ),
        neg(
            "label-leading-space",
            "aes-single",
            "invalid",
            "the label with a leading space (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "label", " custody test vectors")),
        ),
        neg(
            "no-slot",
            "aes-single",
            "invalid",
            "every slot removed (checksum recomputed): a file has at least one slot",
            |b, _| {
                edit(b, |l| {
                    let r = slot_range(l, 0);
                    l.drain(r);
                })
            },
        ),
        neg(
            "too-many-slots",
            "aes-single",
            "invalid",
            "the slot repeated to 17 slots (checksum recomputed): a file has at most 16",
            |b, _| {
                edit(b, |l| {
                    let r = slot_range(l, 0);
                    let block: Vec<String> = l[r.clone()].to_vec();
                    for _ in 0..16 {
                        l.splice(r.end..r.end, block.clone());
                    }
                })
            },
        ),
        neg(
            "index-2-of-1",
            "aes-single",
            "invalid",
            "index 2 in a 1-of-1 file (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "index", "2")),
        ),
        neg(
            "index-0",
            "aes-single",
            "invalid",
            "index 0 (checksum recomputed): indexes start at 1",
            |b, _| edit(b, |l| set(l, "index", "0")),
        ),
        neg(
            "threshold-2-of-1",
            "aes-single",
            "invalid",
            "threshold 2 with count 1 (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "threshold", "2")),
        ),
        neg(
            "created-bad-month",
            "aes-single",
            "invalid",
            "created with month 13 (checksum recomputed)",
            |b, _| {
                edit(b, |l| {
                    let mut v = get(l, "created", 0);
                    v.replace_range(5..7, "13");
                    set(l, "created", &v)
                })
            },
        ),
        neg(
            "verified-maybe",
            "aes-single",
            "invalid",
            "verified \"maybe\" (checksum recomputed): only yes or no",
            |b, _| edit(b, |l| set(l, "verified", "maybe")),
        ),
        neg(
            "token-label-bad-percent",
            "aes-single",
            "invalid",
            "token-label \"custody%2Dvectors\": an unreserved character percent-encoded (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "token-label", "custody%2Dvectors")),
        ),
        neg(
            "key-label-dangling-percent",
            "p256-single",
            "invalid",
            "key-label ending in a lone \"%\" (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "key-label", "vector-p256%")),
        ),
        neg(
            "payload-too-short",
            "aes-single",
            "invalid",
            "a payload of 20 bytes, shorter than a 16-byte secret and its tag (checksum recomputed)",
            |b, _| {
                edit(b, |l| {
                    let v = base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        [7u8; 20],
                    );
                    set(l, "payload", &v)
                })
            },
        ),
        // ── altered: a slot opens (or the file is refused before a token is used), then the
        //    file does not check out (exit 5, never "ok") ──
        neg(
            "ephemeral-off-curve",
            "p256-single",
            "altered",
            "the ephemeral point moved off the curve (checksum recomputed): refused before the token is logged in to or sees it",
            |b, _| {
                restruct(b, |f| {
                    let SlotMaterial::Ephemeral(e) = &mut f.slots[0].material else {
                        panic!("p256 slot")
                    };
                    e[64] ^= 1;
                    assert!(crypto::validate_p256_point(e).is_err());
                })
            },
        )
        .no_token(),
        neg(
            "ephemeral-compressed-prefix",
            "secret-4096",
            "altered",
            "the ephemeral point's 04 prefix changed to 02 (checksum recomputed): not an uncompressed point, refused before the token is used",
            |b, _| {
                restruct(b, |f| {
                    let SlotMaterial::Ephemeral(e) = &mut f.slots[0].material else {
                        panic!("p256 slot")
                    };
                    e[0] = 0x02;
                })
            },
        )
        .no_token(),
        neg(
            "payload-changed",
            "aes-single",
            "altered",
            "one bit of the payload flipped (checksum recomputed): the slot opens, the file MAC does not match",
            |b, _| restruct(b, |f| f.payload[3] ^= 0x01),
        ),
        neg(
            "payload-changed-p256",
            "secret-4096",
            "altered",
            "one bit of a 4096-byte payload flipped (checksum recomputed): the file MAC does not match",
            |b, _| restruct(b, |f| f.payload[4000] ^= 0x80),
        ),
        neg(
            "mac-changed",
            "aes-single",
            "altered",
            "one bit of the mac flipped (checksum recomputed)",
            |b, _| restruct(b, |f| f.mac[0] ^= 0x01),
        ),
        neg(
            "mac-changed-p256",
            "p256-single",
            "altered",
            "one bit of the mac flipped (checksum recomputed), P-256 slot",
            |b, _| restruct(b, |f| f.mac[31] ^= 0x80),
        ),
        neg(
            "wrapped-changed",
            "aes-single",
            "altered",
            "one bit of the slot's wrapped key flipped (checksum recomputed): the key commitment matches, the AEAD does not open",
            |b, _| restruct(b, |f| f.slots[0].wrapped[0] ^= 0x01),
        ),
        neg(
            "wrap-nonce-changed",
            "p256-single",
            "altered",
            "one bit of the slot's wrap-nonce flipped (checksum recomputed): the key commitment matches, the AEAD does not open",
            |b, _| restruct(b, |f| f.slots[0].wrap_nonce[0] ^= 0x01),
        ),
        neg(
            "slots-swapped",
            "two-slots",
            "altered",
            "the two slots in the other order (checksum recomputed): the first slot opens, the file MAC does not match",
            |b, _| restruct(b, |f| f.slots.swap(0, 1)),
        ),
        neg(
            "slot-removed",
            "two-slots",
            "altered",
            "the second slot removed (checksum recomputed): the first slot opens, the file MAC does not match",
            |b, _| {
                restruct(b, |f| {
                    f.slots.pop();
                })
            },
        ),
        neg(
            "slot-duplicated",
            "aes-single",
            "altered",
            "the slot repeated (checksum recomputed): it opens, the file MAC does not match",
            |b, _| {
                restruct(b, |f| {
                    let s = f.slots[0].clone();
                    f.slots.push(s)
                })
            },
        ),
        neg(
            "other-slot-changed",
            "two-slots",
            "altered",
            "the second slot's wrapped key changed (checksum recomputed): the first slot opens, the file MAC does not match",
            |b, _| restruct(b, |f| f.slots[1].wrapped[5] ^= 0x10),
        ),
        neg(
            "first-slot-broken",
            "two-slots",
            "altered",
            "the first (AES) slot's token-ciphertext changed (checksum recomputed): it fails, the second opens, the file MAC does not match",
            |b, _| {
                restruct(b, |f| {
                    let SlotMaterial::TokenCiphertext { ciphertext, .. } =
                        &mut f.slots[0].material
                    else {
                        panic!("aes slot")
                    };
                    ciphertext[0] ^= 0x01;
                })
            },
        ),
        // ── auth: a bound field changed, a wrong password, or a foreign slot (exit 3) ──
        neg(
            "wrong-password-aes",
            "aes-single",
            "auth",
            "an intact file opened with a wrong password (AES slot)",
            |b, _| b.to_vec(),
        )
        .password("wrong password"),
        neg(
            "wrong-password-p256",
            "p256-single",
            "auth",
            "an intact file opened with a wrong password (P-256 slot)",
            |b, _| b.to_vec(),
        )
        .password("wrong password"),
        neg(
            "wrong-password-two-slots",
            "two-slots",
            "auth",
            "an intact two-slot file opened with a wrong password: both slots refuse",
            |b, _| b.to_vec(),
        )
        .password("vector passwort"),
        neg(
            "wrong-password-unicode",
            "unicode-label-hint",
            "auth",
            "the non-ASCII password with one letter in the wrong case",
            |b, _| b.to_vec(),
        )
        .password("zoë’s pässwörd 金庫"),
        neg(
            "hint-changed",
            "aes-single",
            "auth",
            "the hint changed (checksum recomputed): the hint is in the slot's AAD, so the slot refuses like a wrong password",
            |b, _| edit(b, |l| set(l, "hint", "the other password")),
        ),
        neg(
            "label-changed",
            "aes-single",
            "auth",
            "the label changed (checksum recomputed): Hc is bound into the token AAD and the slot AEAD",
            |b, _| edit(b, |l| set(l, "label", "custody test vectorz")),
        ),
        neg(
            "label-changed-p256",
            "p256-single",
            "auth",
            "the label changed (checksum recomputed), P-256 slot: Hc is bound into the slot AEAD",
            |b, _| edit(b, |l| set(l, "label", "custody test vectorz")),
        ),
        neg(
            "kdf-iterations-changed",
            "aes-single",
            "auth",
            "kdf-iterations changed 1 to 2 (checksum recomputed): another password key, and the file fields are bound",
            |b, _| edit(b, |l| set(l, "kdf-iterations", "2")),
        ),
        neg(
            "kdf-memory-changed",
            "p256-single",
            "auth",
            "kdf-memory changed 8192 to 16384 (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "kdf-memory", "16384")),
        ),
        neg(
            "kdf-salt-changed",
            "aes-single",
            "auth",
            "one bit of kdf-salt flipped (checksum recomputed)",
            |b, _| edit(b, |l| flip_hex(l, "kdf-salt", 0, 10)),
        ),
        neg(
            "fingerprint-changed",
            "aes-single",
            "auth",
            "one bit of the fingerprint flipped (checksum recomputed): part of Hc",
            |b, _| edit(b, |l| flip_hex(l, "fingerprint", 0, 0)),
        ),
        neg(
            "set-id-changed",
            "p256-single",
            "auth",
            "one bit of the set-id flipped (checksum recomputed): part of Hc",
            |b, _| edit(b, |l| flip_hex(l, "set-id", 0, 31)),
        ),
        neg(
            "created-changed",
            "aes-single",
            "auth",
            "the created timestamp moved by one second (checksum recomputed): part of Hc",
            |b, _| {
                edit(b, |l| {
                    let mut v = get(l, "created", 0);
                    let s: u32 = v[17..19].parse().expect("seconds");
                    v.replace_range(17..19, &format!("{:02}", (s + 1) % 60));
                    set(l, "created", &v)
                })
            },
        ),
        neg(
            "payload-nonce-changed",
            "aes-single",
            "auth",
            "one bit of the payload-nonce flipped (checksum recomputed): part of Hc",
            |b, _| edit(b, |l| flip_hex(l, "payload-nonce", 0, 5)),
        ),
        neg(
            "commitment-changed",
            "p256-single",
            "auth",
            "one bit of commitment.1 flipped (checksum recomputed): part of Hc",
            |b, _| edit(b, |l| flip_hex(l, "commitment.1", 0, 7)),
        ),
        neg(
            "key-hash-changed",
            "p256-single",
            "auth",
            "one bit of the slot's key-hash flipped (checksum recomputed): the token's key is not the one the slot names",
            |b, _| edit(b, |l| flip_hex(l, "key-hash", 0, 0)),
        ),
        neg(
            "verified-flipped",
            "aes-single",
            "auth",
            "verified yes changed to no (checksum recomputed): part of the slot's AAD",
            |b, _| edit(b, |l| set(l, "verified", "no")),
        ),
        neg(
            "slot-salt-changed",
            "aes-single",
            "auth",
            "one bit of slot-salt flipped (checksum recomputed)",
            |b, _| edit(b, |l| flip_hex(l, "slot-salt", 0, 3)),
        ),
        neg(
            "token-iv-changed",
            "aes-single",
            "auth",
            "one bit of token-iv flipped (checksum recomputed): the token's AES-GCM refuses",
            |b, _| edit(b, |l| flip_hex(l, "token-iv", 0, 0)),
        ),
        neg(
            "token-ciphertext-changed",
            "secret-16",
            "auth",
            "one bit of token-ciphertext flipped (checksum recomputed): the token's AES-GCM refuses",
            |b, _| edit(b, |l| flip_hex(l, "token-ciphertext", 0, 95)),
        ),
        neg(
            "key-commitment-changed",
            "aes-single",
            "auth",
            "one bit of key-commitment flipped (checksum recomputed): looks like a wrong password",
            |b, _| edit(b, |l| flip_hex(l, "key-commitment", 0, 1)),
        ),
        neg(
            "ephemeral-other-point",
            "p256-single",
            "auth",
            "the ephemeral point replaced by another valid point (checksum recomputed): the token derives another secret",
            |b, _| {
                restruct(b, |f| {
                    f.slots[0].material = SlotMaterial::Ephemeral(random_point());
                })
            },
        ),
        neg(
            "slot-from-other-file",
            "secret-16",
            "auth",
            "the slot replaced by the slot of aes-single (same token key, checksum recomputed): a slot is bound to its file's header",
            |b, bases| {
                edit(b, |l| {
                    let other = body_lines(&bases["aes-single"]);
                    let block = other[slot_range(&other, 0)].to_vec();
                    let r = slot_range(l, 0);
                    l.splice(r, block);
                })
            },
        ),
        neg(
            "slot-from-other-file-p256",
            "nfd-password",
            "auth",
            "the slot replaced by the slot of p256-single (checksum recomputed), opened with p256-single's password",
            |b, bases| {
                edit(b, |l| {
                    let other = body_lines(&bases["p256-single"]);
                    let block = other[slot_range(&other, 0)].to_vec();
                    let r = slot_range(l, 0);
                    l.splice(r, block);
                })
            },
        )
        .password(PASSWORD),
        // ── not found: no token or key the file names is present (exit 4) ──
        neg(
            "token-not-present",
            "aes-single",
            "not-found",
            "token-label and token-serial changed to a token that is not present (checksum recomputed): no PIN is asked",
            |b, _| {
                edit(b, |l| {
                    set(l, "token-label", "no-such-token");
                    set(l, "token-serial", "0000000000000000");
                })
            },
        )
        .no_token(),
        neg(
            "key-label-not-present",
            "aes-single",
            "not-found",
            "key-label changed to a key the token does not hold (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "key-label", "no-such-key")),
        ),
        neg(
            "key-id-not-present",
            "p256-single",
            "not-found",
            "key-id changed to ff, which the token does not hold (checksum recomputed)",
            |b, _| edit(b, |l| set(l, "key-id", "ff")),
        ),
    ]
}
