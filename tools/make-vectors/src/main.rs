//! Makes the frozen test vectors of custody's file format (run by hand, then commit the result):
//!
//! ```text
//! cargo run --manifest-path tools/make-vectors/Cargo.toml -- tests/vectors
//! ```
//!
//! Vectors are frozen: this never replaces a file that exists. It makes the test keys in
//! `keys/` once (if they are missing), loads them into a fresh SoftHSM2 token, writes each
//! positive vector that is missing with `custody::internals::ceremony::backup`, and derives each negative
//! vector that is missing from the positive files on disk. Every new negative is opened with the
//! real code; its `.expect` records what was observed, and only if that is the outcome declared
//! below (a vector whose outcome differs is reported and not written, and the run fails).
//! `tests/vectors.rs` then checks all of them.
//!
//! Split sets: it deals each set of `base_sets()` once (with `custody::internals::ceremony::backup_set`, or
//! by hand for the dishonest-dealer set) unless the set's *home* case already holds its files,
//! then makes each missing case of `set_cases()` as `sets/<case>/` (the files given, copied, and
//! `case.expect`), opened with `custody::internals::ceremony::open_set` and written only if it behaves as
//! declared; and the flat `share-alone-*` vectors, share files given alone to the single-file
//! restore, recorded as observed.

// The tests' SoftHSM fixture and vector harness, included by path so that the vectors are
// written and checked by one copy. The parts only the tests use are not dead.
#[path = "../../../tests/common/softhsm.rs"]
#[allow(dead_code)]
mod softhsm;
#[path = "../../../tests/common/vectors/mod.rs"]
#[allow(dead_code)]
mod vectors;

// The CLI's exit codes, which the `.expect` files record.
#[path = "../../../src/cli/exit.rs"]
#[allow(dead_code)]
mod cli_exit;

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use custody::internals::ceremony::{self, BackupRequest, OpenFileError};
use custody::internals::crypto;
use custody::internals::format::{
    self, BackupFile, Descriptor, FormatError, KdfParams, SlotKind, SlotMaterial,
};
use custody::internals::token::TokenError;
use custody::internals::token::registry::TokenEnv;
use custody::internals::token::uri::TokenLocator;
use secrecy::{ExposeSecret, SecretBox, SecretString};
use vectors::{Expect, Keys, Scripted};

const PASSWORD: &str = "vector password";
const AES_URI: &str = "pkcs11:token=custody-vectors;object=vector-aes";
const P256_URI: &str = "pkcs11:token=custody-vectors;object=vector-p256";

/// A positive vector: made by `custody::internals::ceremony::backup`.
struct Positive {
    name: &'static str,
    /// `--token` arguments; `pubkey` stands for a public-key file of `vector-p256`.
    tokens: &'static [&'static str],
    secret_len: usize,
    label: &'static str,
    hint: Option<&'static str>,
    /// The password the backup is made with.
    password: &'static str,
    /// The password written to `.expect` (defaults to `password`).
    expect_password: Option<&'static str>,
    comment: &'static str,
}

fn positives() -> Vec<Positive> {
    let p = |name, tokens, secret_len, comment| Positive {
        name,
        tokens,
        secret_len,
        label: "custody test vectors",
        hint: Some("the vector password"),
        password: PASSWORD,
        expect_password: None,
        comment,
    };
    vec![
        p(
            "aes-single",
            &[AES_URI],
            32,
            "one pkcs11-aes slot, 32-byte secret: the basic AES-GCM-on-token path",
        ),
        p(
            "p256-single",
            &[P256_URI],
            32,
            "one pkcs11-p256 slot, 32-byte secret: the basic ECDH-on-token path",
        ),
        p(
            "two-slots",
            &[AES_URI, P256_URI],
            32,
            "two slots (pkcs11-aes then pkcs11-p256) wrapping the same data key; either opens it",
        ),
        p(
            "pubkey-only-p256",
            &["pubkey"],
            32,
            "a pkcs11-p256 slot made from a custody-pubkey file alone (verified: no) opens with the token",
        ),
        Positive {
            hint: None,
            ..p(
                "secret-16",
                &[AES_URI],
                16,
                "the smallest secret (16 bytes) and an empty hint (\"hint:\" with no value)",
            )
        },
        p(
            "secret-4096",
            &[P256_URI],
            4096,
            "the largest secret (4096 bytes): a payload line of about 5.5 KiB",
        ),
        Positive {
            label: "Zoë's vault — 金庫",
            hint: Some("Großvaters Geburtstag — 誕生日"),
            password: "Zoë’s pässwörd 金庫",
            ..p(
                "unicode-label-hint",
                &[AES_URI],
                32,
                "non-ASCII (NFC) label, hint and password",
            )
        },
        Positive {
            password: "crème brûlée",
            expect_password: Some("cre\u{300}me bru\u{302}le\u{301}e"),
            ..p(
                "nfd-password",
                &[P256_URI],
                32,
                "made with an NFC password, opened with the same password typed in NFD: passwords are NFC-normalised",
            )
        },
    ]
}

/// A negative vector: derived from a positive file.
struct Negative {
    name: &'static str,
    base: &'static str,
    /// The outcome this vector is meant to have (checked against what the code does).
    expect: &'static str,
    password: Option<&'static str>,
    token_used: Option<bool>,
    comment: &'static str,
    /// Why this vector is known not to behave as declared yet: it is written once the code
    /// does, and until then reported without failing the run.
    pending: Option<&'static str>,
    make: Box<Maker>,
}

type Bases = BTreeMap<String, Vec<u8>>;
/// Makes a negative's bytes from its base file (and, if it needs them, the other bases).
type Maker = dyn Fn(&[u8], &Bases) -> Vec<u8>;

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

// ───────────────────────────── editing helpers ─────────────────────────────

/// The lines of a valid file, without the checksum line.
fn body_lines(b: &[u8]) -> Vec<String> {
    let t = std::str::from_utf8(b).expect("a positive vector is UTF-8");
    let mut l: Vec<String> = t
        .strip_suffix('\n')
        .expect("final newline")
        .split('\n')
        .map(String::from)
        .collect();
    assert!(l.pop().expect("lines").starts_with("checksum: "));
    l
}

/// The bytes before the checksum line.
fn body_bytes(b: &[u8]) -> Vec<u8> {
    let mut l = body_lines(b).join("\n").into_bytes();
    l.push(b'\n');
    l
}

/// Append a correct checksum line.
fn seal_bytes(mut body: Vec<u8>) -> Vec<u8> {
    let sum = crypto::checksum(&body);
    body.extend_from_slice(format!("checksum: {}\n", hex::encode(sum)).as_bytes());
    body
}

fn seal(lines: &[String]) -> Vec<u8> {
    let mut s = lines.join("\n");
    s.push('\n');
    seal_bytes(s.into_bytes())
}

/// Edit the lines, then recompute the checksum (so the result reaches the parser).
fn edit(b: &[u8], f: impl FnOnce(&mut Vec<String>)) -> Vec<u8> {
    let mut l = body_lines(b);
    f(&mut l);
    seal(&l)
}

fn is_key(line: &str, key: &str) -> bool {
    line.starts_with(key) && line.as_bytes().get(key.len()) == Some(&b':')
}

/// Index of the `nth` (0-based) line with `key`.
fn pos(l: &[String], key: &str, nth: usize) -> usize {
    l.iter()
        .enumerate()
        .filter(|(_, x)| is_key(x, key))
        .nth(nth)
        .unwrap_or_else(|| panic!("no {nth}th {key:?} line"))
        .0
}

fn set(l: &mut [String], key: &str, value: &str) {
    set_nth(l, key, 0, value)
}

fn set_nth(l: &mut [String], key: &str, nth: usize, value: &str) {
    let i = pos(l, key, nth);
    l[i] = if value.is_empty() {
        format!("{key}:")
    } else {
        format!("{key}: {value}")
    };
}

fn get(l: &[String], key: &str, nth: usize) -> String {
    let line = &l[pos(l, key, nth)];
    line[key.len() + 1..].trim_start_matches(' ').to_owned()
}

/// Lines `slot:` through `key-commitment:` of slot `i`.
fn slot_range(l: &[String], i: usize) -> std::ops::Range<usize> {
    let start = pos(l, "slot", i);
    let end = pos(l, "key-commitment", i) + 1;
    start..end
}

/// Flip one bit of hex digit `digit` of the `nth` `key` line's value.
fn flip_hex(l: &mut [String], key: &str, nth: usize, digit: usize) {
    let mut v = get(l, key, nth).into_bytes();
    let d = (v[digit] as char).to_digit(16).expect("hex digit") ^ 1;
    v[digit] = char::from_digit(d, 16).expect("hex digit") as u8;
    set_nth(l, key, nth, &String::from_utf8(v).expect("ascii"));
}

/// Parse, change, encode again (the checksum is recomputed; the MAC is kept as stored).
fn restruct(b: &[u8], f: impl FnOnce(&mut BackupFile)) -> Vec<u8> {
    let (mut file, _) = format::parse(b).expect("a positive vector parses");
    f(&mut file);
    file.encode().expect("still encodable").bytes
}

fn replace_bytes(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let i = hay
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)));
    let mut out = hay[..i].to_vec();
    out.extend_from_slice(with);
    out.extend_from_slice(&hay[i + needle.len()..]);
    out
}

fn flip_byte(b: &[u8], at: usize) -> Vec<u8> {
    let mut v = b.to_vec();
    v[at] ^= 0x01;
    v
}

fn random_point() -> [u8; 65] {
    let sk = p256::SecretKey::from_bytes(&crypto::random_array::<32>().into())
        .expect("a random scalar is valid (overwhelmingly)");
    crypto::p256_uncompressed(&sk.public_key())
}

// ───────────────────────────── the negatives ─────────────────────────────

/// `format::parse` reads the version line before the checksum and compares it whole, so
/// "custody-backup v1\r" is named a later version ("use a newer custody") instead of damage.
const CRLF_PENDING: &str = "a CRLF v1 file is reported as an unsupported version \"v1\\r\"";

fn negatives() -> Vec<Negative> {
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

// ───────────────────────────── split sets ─────────────────────────────
//
// A set case is a directory `sets/<case>/` holding the share files it gives (copies: every
// case stands alone) and `case.expect` (see `vectors::sets::SetExpect`). The sets themselves are dealt
// once; the files of each live in the directory of its *home* case, which gives all N of them as
// `1.custody` .. `N.custody` in index order, so a later run reads the set back from there.

const SET_LABEL: &str = "custody set vectors";

/// A set dealt once: by `ceremony::backup_set`, or (`forge`) by hand with a share that is not on
/// the polynomial of the others, as a dishonest dealer would make it.
struct BaseSet {
    name: &'static str,
    home: &'static str,
    threshold: u8,
    shares: Vec<BaseShare>,
    /// Dealt by hand: this share's value is random (and committed in the header), not a point
    /// of the polynomial the other shares lie on.
    forge: Option<u8>,
}

struct BaseShare {
    officer: &'static str,
    password: &'static str,
    hint: Option<&'static str>,
    tokens: &'static [&'static str],
}

fn bs(
    officer: &'static str,
    password: &'static str,
    hint: Option<&'static str>,
    tokens: &'static [&'static str],
) -> BaseShare {
    BaseShare {
        officer,
        password,
        hint,
        tokens,
    }
}

fn base_sets() -> Vec<BaseSet> {
    vec![
        BaseSet {
            name: "aes-2of3",
            home: "aes-2of3-all",
            threshold: 2,
            shares: vec![
                bs("Alice", "alice password", Some("Alice's usual"), &[AES_URI]),
                bs("Bob", "bob password", Some("Bob's usual"), &[AES_URI]),
                bs("Carol", "carol password", Some("Carol's usual"), &[AES_URI]),
            ],
            forge: None,
        },
        BaseSet {
            name: "p256-3of5",
            home: "p256-3of5-all",
            threshold: 3,
            shares: vec![
                bs("", "share one password", None, &[P256_URI]),
                bs("", "share two password", None, &[P256_URI]),
                bs("", "share three password", None, &[P256_URI]),
                bs("", "share four password", None, &[P256_URI]),
                bs("", "share five password", None, &[P256_URI]),
            ],
            forge: None,
        },
        BaseSet {
            name: "unicode-2of2",
            home: "unicode-2of2-both",
            threshold: 2,
            shares: vec![
                bs(
                    "Zoë Ångström",
                    "Zoë’s pässwörd 金庫",
                    Some("Großvaters Geburtstag"),
                    &[AES_URI],
                ),
                bs(
                    "Ōta Sōichirō 太田",
                    "太田の合言葉 — ōta",
                    Some("誕生日"),
                    &[P256_URI],
                ),
            ],
            forge: None,
        },
        BaseSet {
            name: "forged-2of3",
            home: "forged-2of3-all",
            threshold: 2,
            shares: vec![
                bs("Dana", "dana password", Some("Dana's usual"), &[AES_URI]),
                bs("Erin", "erin password", Some("Erin's usual"), &[AES_URI]),
                bs(
                    "Mallory",
                    "mallory password",
                    Some("Mallory's usual"),
                    &[AES_URI],
                ),
            ],
            forge: Some(3),
        },
    ]
}

/// A dealt set: its files in index order, and its secret when known.
struct Dealt {
    files: Vec<Vec<u8>>,
    secret: Option<Vec<u8>>,
}

const SET_KDF: KdfParams = KdfParams {
    memory_kib: 8 * 1024,
    iterations: 1,
    parallelism: 1,
};

fn share_file(i: usize) -> String {
    format!("{}.custody", i + 1)
}

/// Deal a set with `ceremony::backup_set` into `scratch`.
fn deal(b: &BaseSet, secret: &[u8], scratch: &Path, env: &TokenEnv) -> Vec<Vec<u8>> {
    let req = ceremony::SetRequest {
        secret: SecretBox::new(Box::new(secret.to_vec())),
        threshold: b.threshold,
        shares: b
            .shares
            .iter()
            .enumerate()
            .map(|(i, s)| ceremony::ShareSpec {
                out: scratch.join(share_file(i)),
                officer: s.officer.into(),
                hint: s.hint.map(String::from),
                tokens: s
                    .tokens
                    .iter()
                    .map(|t| TokenLocator::from_str(t).expect("locator"))
                    .collect(),
            })
            .collect(),
        label: SET_LABEL.into(),
        kdf: SET_KDF,
        allow_weak_kdf: true,
        single_token: true,
        force: false,
        allow_same_device: true,
    };
    let pw: Vec<Option<String>> = b.shares.iter().map(|s| Some(s.password.into())).collect();
    let mut prompter = vectors::sets::PerFile::new(&pw, vectors::USER_PIN);
    ceremony::backup_set(req, env.clone(), &mut prompter)
        .unwrap_or_else(|e| panic!("backup_set {}: {e}", b.name));
    (0..b.shares.len())
        .map(|i| std::fs::read(scratch.join(share_file(i))).expect("read a dealt share"))
        .collect()
}

/// Deal a set by hand, as `backup_set` does (§4.14, §4.15), except that share `forged` is a
/// random value: committed in the header, wrapped in its file, MAC'd, but not on the polynomial.
fn deal_forged(b: &BaseSet, forged: u8, secret: &[u8], env: &TokenEnv) -> Vec<Vec<u8>> {
    let n = b.shares.len() as u8;
    let d = crypto::random_key();
    let set_id: [u8; 16] = crypto::random_array();
    let mut values: Vec<custody::internals::shamir::Share> =
        custody::internals::shamir::split(&d, b.threshold, n).expect("split");
    values[forged as usize - 1].value = crypto::random_key();
    let common = format::CommonHeader {
        set_id,
        created: "2025-01-01T00:00:00Z".into(),
        label: SET_LABEL.into(),
        threshold: b.threshold,
        count: n,
        officers: b.shares.iter().map(|s| s.officer.to_owned()).collect(),
        commitments: values
            .iter()
            .map(|v| crypto::share_commitment(&set_id, v.index, &v.value))
            .collect(),
        fingerprint: crypto::fingerprint(secret),
        payload_nonce: crypto::random_array(),
    };
    let hc = crypto::common_header_hash(&format::encode_common(&common));
    let payload = crypto::aead_seal(
        &crypto::payload_key(&d, &set_id),
        &common.payload_nonce,
        &hc,
        secret,
    );
    let mut prompter = Scripted::new("");
    let mut tokens = custody::internals::token::registry::Tokens::new(env.clone(), &mut prompter);
    let mut out = Vec::new();
    for (i, sh) in b.shares.iter().enumerate() {
        let own = format::FileFields {
            index: values[i].index,
            hint: sh.hint.unwrap_or("").into(),
            kdf: SET_KDF,
            kdf_salt: crypto::random_array(),
        };
        let a = crypto::argon2id(&SecretString::from(sh.password), &own.kdf_salt, &own.kdf)
            .expect("argon2id");
        let ff = format::encode_file_fields(&own);
        let slots = sh
            .tokens
            .iter()
            .map(|t| {
                let key = tokens
                    .resolve(&TokenLocator::from_str(t).expect("locator"))
                    .expect("a token locator")
                    .expect("resolve a vector key");
                custody::internals::slot::make_slot(&hc, &ff, &key, &a, &values[i].value)
                    .expect("make slot")
            })
            .collect();
        let mut file = BackupFile {
            common: common.clone(),
            own,
            slots,
            payload: payload.clone(),
            mac: [0; 32],
        };
        let enc = file.encode().expect("encode");
        file.mac = custody::internals::slot::compute_mac(&file, &enc, &values[i].value);
        let bytes = file.encode().expect("encode").bytes;
        format::parse(&bytes).expect("a forged share is still a valid file");
        out.push(bytes);
    }
    out
}

/// Changes a share file's bytes.
type ShareEdit = dyn Fn(&[u8]) -> Vec<u8>;

/// How a case's file is made from a dealt set.
enum Src {
    /// Share `i` (1-based) of a set, as dealt.
    Share(&'static str, usize),
    /// Share `i` of a set, changed.
    Edit(&'static str, usize, Box<ShareEdit>),
}

/// The password given for a file.
enum Pw {
    /// The password the share was made with.
    Own,
    /// None: the officer is absent (an empty entry at the prompt).
    Skip,
    Is(&'static str),
}

struct SetCase {
    name: &'static str,
    /// The set being restored: its secret is what "ok" must give.
    base: &'static str,
    files: Vec<(String, Src, Pw)>,
    partial_ok: bool,
    expect: &'static str,
    names: Vec<&'static str>,
    comment: &'static str,
    pending: Option<&'static str>,
}

fn case(
    name: &'static str,
    base: &'static str,
    expect: &'static str,
    comment: &'static str,
) -> SetCase {
    SetCase {
        name,
        base,
        files: Vec::new(),
        partial_ok: false,
        expect,
        names: Vec::new(),
        comment,
        pending: None,
    }
}

impl SetCase {
    /// Share `i` of the case's set, as `i.custody`, with its own password.
    fn share(self, i: usize) -> Self {
        let base = self.base;
        self.file(&format!("{i}.custody"), Src::Share(base, i), Pw::Own)
    }
    fn shares(self, idx: &[usize]) -> Self {
        idx.iter().fold(self, |c, &i| c.share(i))
    }
    fn share_pw(self, i: usize, pw: Pw) -> Self {
        let base = self.base;
        self.file(&format!("{i}.custody"), Src::Share(base, i), pw)
    }
    fn file(mut self, name: &str, src: Src, pw: Pw) -> Self {
        self.files.push((name.to_owned(), src, pw));
        self
    }
    fn edited(self, name: &str, i: usize, f: impl Fn(&[u8]) -> Vec<u8> + 'static) -> Self {
        let base = self.base;
        self.file(name, Src::Edit(base, i, Box::new(f)), Pw::Own)
    }
    fn names(mut self, n: &[&'static str]) -> Self {
        self.names.extend_from_slice(n);
        self
    }
    fn partial(mut self) -> Self {
        self.partial_ok = true;
        self
    }
    fn pending(mut self, why: &'static str) -> Self {
        self.pending = Some(why);
        self
    }
}

/// The home case of a set: it gives all N files, `1.custody` .. `N.custody`.
fn home(base: &'static str, expect: &'static str, comment: &'static str) -> SetCase {
    let b = base_sets()
        .into_iter()
        .find(|b| b.name == base)
        .expect("a known base set");
    case(b.home, base, expect, comment).shares(&(1..=b.shares.len()).collect::<Vec<_>>())
}

/// §5.4 step 2 takes the first group on a tie: with one genuine and one changed file, the changed
/// one given first is taken as the set, and the genuine one is named "altered, or from another
/// backup with a forged set id"; the changed file itself is named nowhere.
const TIE_PENDING: &str =
    "on a tie the first group is the set: the genuine file is blamed, the changed one is not named";

/// §5.4 step 3 keeps the first file for an index and drops the others unopened: a changed file
/// claiming index 3 given before the genuine share 3 fails, and the genuine one is never tried.
const FIRST_OF_INDEX_PENDING: &str = "a second file for an index is never tried when the first \
     fails: a bad file given first knocks out the genuine share";

fn tamper_commitment(b: &[u8]) -> Vec<u8> {
    edit(b, |l| flip_hex(l, "commitment.2", 0, 7))
}

fn set_cases() -> Vec<SetCase> {
    const A: &str = "aes-2of3";
    const B: &str = "p256-3of5";
    const C: &str = "unicode-2of2";
    const D: &str = "forged-2of3";
    vec![
        // ── 2-of-3, AES: any two shares, in any order; a third is cross-checked ──
        home(A, "ok", "all three shares of a 2-of-3 set (AES token): the third is cross-checked against the first two"),
        case("aes-2of3-from-1-2", A, "ok", "shares 1 and 2 of a 2-of-3 set").shares(&[1, 2]),
        case("aes-2of3-from-2-3", A, "ok", "shares 2 and 3 of a 2-of-3 set").shares(&[2, 3]),
        case("aes-2of3-from-1-3", A, "ok", "shares 1 and 3 of a 2-of-3 set").shares(&[1, 3]),
        case(
            "aes-2of3-from-3-1",
            A,
            "ok",
            "shares 3 and 1 of a 2-of-3 set, given in that order: each officer's password goes by the file's position",
        )
        .shares(&[3, 1]),
        case(
            "aes-2of3-only-2",
            A,
            "not-enough",
            "one share of a 2-of-3 set: refused before any password is asked, naming the officers who hold the others",
        )
        .share(2)
        .names(&["officer Alice (share 1)", "officer Carol (share 3)"]),
        case(
            "aes-2of3-verify-2",
            A,
            "shares-ok",
            "one share of a 2-of-3 set verified alone (partial_ok): it opens and matches its commitment",
        )
        .share(2)
        .partial()
        .names(&["officer Bob (share 2)"]),
        case(
            "aes-2of3-same-share-twice",
            A,
            "not-enough",
            "share 1 and a byte-identical copy of it: counted once, so one share short",
        )
        .share(1)
        .file("1-copy.custody", Src::Share(A, 1), Pw::Own)
        .names(&["1-copy.custody:", "given twice", "officer Bob (share 2)"]),
        case(
            "aes-2of3-same-path-twice",
            A,
            "not-enough",
            "the same file given twice (one path, twice): counted once, so one share short",
        )
        .shares(&[1, 1])
        .names(&["given twice", "officer Bob (share 2)"]),
        case(
            "aes-2of3-same-share-twice-and-3",
            A,
            "ok",
            "share 1, a byte-identical copy of it, and share 3: the copy is named and left out",
        )
        .share(1)
        .file("1-copy.custody", Src::Share(A, 1), Pw::Own)
        .share(3)
        .names(&["1-copy.custody:", "given twice"]),
        case(
            "aes-2of3-wrong-password-with-extra",
            A,
            "ok",
            "share 1 with a wrong password, shares 2 and 3 right: restored, share 1 named",
        )
        .share_pw(1, Pw::Is("not alice password"))
        .shares(&[2, 3])
        .names(&["1.custody: the password is wrong"]),
        case(
            "aes-2of3-wrong-password-no-extra",
            A,
            "not-enough",
            "share 1 with a wrong password, share 2 right, no third: one short, share 1 named",
        )
        .share_pw(1, Pw::Is("not alice password"))
        .share(2)
        .names(&["1.custody: the password is wrong", "officer Alice (share 1)"]),
        case(
            "aes-2of3-skipped-with-extra",
            A,
            "ok",
            "officer 1 absent (empty password entry), shares 2 and 3: restored, the skip named",
        )
        .share_pw(1, Pw::Skip)
        .shares(&[2, 3])
        .names(&["1.custody: skipped"]),
        case(
            "aes-2of3-skipped-no-extra",
            A,
            "not-enough",
            "share 1, officer 2 absent (empty password entry): one short, officer 2 named",
        )
        .share(1)
        .share_pw(2, Pw::Skip)
        .names(&["2.custody: skipped", "officer Bob (share 2)"]),
        case(
            "aes-2of3-foreign-share",
            A,
            "ok",
            "shares 1 and 3 with share 1 of another set (the 2-of-2 set) between them: restored, the foreign file named",
        )
        .share(1)
        .file("foreign.custody", Src::Share(C, 1), Pw::Own)
        .share(3)
        .names(&["foreign.custody:", "another set"]),
        case(
            "aes-2of3-tampered-commitment",
            A,
            "ok",
            "share 2 with one bit of its own commitment.2 flipped (checksum recomputed), between shares 1 and 3: its header differs, it is named and left out",
        )
        .share(1)
        .edited("2-tampered.custody", 2, tamper_commitment)
        .share(3)
        .names(&["2-tampered.custody:"]),
        case(
            "aes-2of3-tampered-commitment-no-extra",
            A,
            "not-enough",
            "share 1, then share 2 with commitment.2 changed (checksum recomputed): one short, the changed file named",
        )
        .share(1)
        .edited("2-tampered.custody", 2, tamper_commitment)
        .names(&["2-tampered.custody:", "officer Bob (share 2)"]),
        case(
            "aes-2of3-tampered-first-tie",
            A,
            "not-enough",
            "share 2 with commitment.2 changed (checksum recomputed) given first, then share 1: two groups of one; the changed file must be the one named",
        )
        .edited("2-tampered.custody", 2, tamper_commitment)
        .share(1)
        .names(&["2-tampered.custody:"])
        .pending(TIE_PENDING),
        case(
            "aes-2of3-tampered-officer",
            A,
            "ok",
            "share 2 with officer.2 renamed \"Mallory\" (checksum recomputed), between shares 1 and 3: named and left out",
        )
        .share(1)
        .edited("2-tampered.custody", 2, |b| edit(b, |l| set(l, "officer.2", "Mallory")))
        .share(3)
        .names(&["2-tampered.custody:"]),
        case(
            "aes-2of3-tampered-threshold",
            A,
            "ok",
            "share 2 with threshold 3 instead of 2 (checksum recomputed), given first, then shares 1 and 3: the two agreeing files are the set, the changed one is named",
        )
        .edited("2-tampered.custody", 2, |b| edit(b, |l| set(l, "threshold", "3")))
        .shares(&[1, 3])
        .names(&["2-tampered.custody:"]),
        case(
            "aes-2of3-tampered-payload",
            A,
            "ok",
            "share 2 with one bit of its payload flipped (checksum recomputed), between shares 1 and 3: named and left out",
        )
        .share(1)
        .edited("2-tampered.custody", 2, |b| restruct(b, |f| f.payload[3] ^= 0x01))
        .share(3)
        .names(&["2-tampered.custody:"]),
        case(
            "aes-2of3-tampered-mac",
            A,
            "ok",
            "share 2 with one bit of its mac flipped (checksum recomputed), between shares 1 and 3: its slot opens, its MAC does not match, it is named as altered",
        )
        .share(1)
        .edited("2-tampered.custody", 2, |b| restruct(b, |f| f.mac[0] ^= 0x01))
        .share(3)
        .names(&["2-tampered.custody:", "altered"]),
        case(
            "aes-2of3-tampered-mac-no-extra",
            A,
            "not-enough",
            "share 1, then share 2 with its mac changed (checksum recomputed): one short, share 2 named as altered",
        )
        .share(1)
        .edited("2-tampered.custody", 2, |b| restruct(b, |f| f.mac[0] ^= 0x01))
        .names(&["2-tampered.custody:", "altered"]),
        case(
            "aes-2of3-index-changed-after",
            A,
            "ok",
            "shares 1 and 3, then share 2 claiming index 3 (checksum recomputed): another file for share 3, named and not used",
        )
        .shares(&[1, 3])
        .edited("2-as-3.custody", 2, |b| edit(b, |l| set(l, "index", "3")))
        .names(&["2-as-3.custody:"]),
        case(
            "aes-2of3-index-changed-first",
            A,
            "ok",
            "share 2 claiming index 3 (checksum recomputed) given first, then the genuine shares 3 and 1: the two genuine shares must still restore",
        )
        .edited("2-as-3.custody", 2, |b| edit(b, |l| set(l, "index", "3")))
        .shares(&[3, 1])
        .names(&["2-as-3.custody:"])
        .pending(FIRST_OF_INDEX_PENDING),
        case(
            "aes-2of3-damaged-share",
            A,
            "ok",
            "share 2 with one bit flipped (checksum not recomputed), between shares 1 and 3: named as damaged",
        )
        .share(1)
        .edited("2-damaged.custody", 2, |b| flip_byte(b, b.len() / 2))
        .share(3)
        .names(&["2-damaged.custody:", "damaged"]),
        case(
            "aes-2of3-only-damaged",
            A,
            "unreadable",
            "a damaged share alone: no file given is readable",
        )
        .edited("2-damaged.custody", 2, |b| flip_byte(b, b.len() / 2))
        .names(&["2-damaged.custody:", "damaged"]),
        // ── 3-of-5, P-256, officers without names ──
        home(B, "ok", "all five shares of a 3-of-5 set (P-256 token, no officer names): two extra shares cross-checked"),
        case(
            "p256-3of5-from-5-1-3",
            B,
            "ok",
            "shares 5, 1 and 3 of a 3-of-5 set, in that order",
        )
        .shares(&[5, 1, 3]),
        case(
            "p256-3of5-from-1-2",
            B,
            "not-enough",
            "two shares of a 3-of-5 set: refused before any password is asked, naming shares 3, 4 and 5",
        )
        .shares(&[1, 2])
        .names(&["share 3", "share 4", "share 5"]),
        // ── 2-of-2, officers with non-ASCII names and passwords, one AES and one P-256 share ──
        home(C, "ok", "both shares of a 2-of-2 set whose officers have non-ASCII names and passwords (share 1 AES, share 2 P-256)"),
        case(
            "unicode-2of2-reversed",
            C,
            "ok",
            "both shares of the non-ASCII 2-of-2 set, share 2 first",
        )
        .shares(&[2, 1]),
        case(
            "unicode-2of2-only-2",
            C,
            "not-enough",
            "share 2 of the non-ASCII 2-of-2 set alone: the missing officer is named as written",
        )
        .share(2)
        .names(&["officer Zoë Ångström (share 1)"]),
        // ── a dishonest dealer: share 3 committed but not on the polynomial ──
        home(D, "inconsistent", "a hand-dealt 2-of-3 set whose share 3 is genuine-looking (committed, MAC'd) but not on the polynomial of shares 1 and 2: the extra share is at odds, nothing is output")
        .names(&["3.custody is at odds"]),
        case(
            "forged-2of3-from-1-3",
            D,
            "inconsistent",
            "shares 1 and 3 of the hand-dealt set (share 3 off the polynomial): they combine to a wrong data key, the payload does not open, nothing is output",
        )
        .shares(&[1, 3])
        .names(&["does not decrypt"]),
        case(
            "forged-2of3-from-1-2",
            D,
            "ok",
            "shares 1 and 2 of the hand-dealt set (both on the polynomial): restored",
        )
        .shares(&[1, 2]),
    ]
}

/// A share file in the flat directory: a backup file too, given alone to `open_backup`.
struct FlatShare {
    name: &'static str,
    base: &'static str,
    index: usize,
    comment: &'static str,
}

fn flat_shares() -> Vec<FlatShare> {
    vec![
        FlatShare {
            name: "share-alone-aes-2of3-2",
            base: "aes-2of3",
            index: 2,
            comment: "share 2 of a 2-of-3 set (AES) opened alone as a single backup (open_backup): refused before any token is used, naming it share 2 of a 2-of-3 set; recorded as observed (invalid, exit 5)",
        },
        FlatShare {
            name: "share-alone-p256-3of5-5",
            base: "p256-3of5",
            index: 5,
            comment: "share 5 of a 3-of-5 set (P-256) opened alone as a single backup (open_backup): refused before any token is used, naming it share 5 of a 3-of-5 set; recorded as observed (invalid, exit 5)",
        },
        FlatShare {
            name: "share-alone-unicode-2of2-1",
            base: "unicode-2of2",
            index: 1,
            comment: "share 1 of a 2-of-2 set (non-ASCII officers) opened alone as a single backup (open_backup): refused before any token is used, naming it share 1 of a 2-of-2 set; recorded as observed (invalid, exit 5)",
        },
    ]
}

fn share_password(bases: &[BaseSet], base: &str, i: usize) -> &'static str {
    bases
        .iter()
        .find(|b| b.name == base)
        .unwrap_or_else(|| panic!("no base set {base}"))
        .shares[i - 1]
        .password
}

struct SetObserved {
    category: String,
    exit: i32,
    /// The error, or what opened.
    text: String,
    warn: Vec<String>,
    secret: Option<Vec<u8>>,
    asked: Vec<usize>,
}

fn observe_set(
    paths: &[PathBuf],
    passwords: &[Option<String>],
    env: &TokenEnv,
    partial_ok: bool,
) -> SetObserved {
    let mut p = vectors::sets::PerFile::new(passwords, vectors::USER_PIN);
    let r = ceremony::open_set(paths, &[], env.clone(), &mut p, partial_ok);
    let (category, exit, text, secret) = match r {
        Ok(ceremony::SetCheck::Whole(o)) => (
            "ok",
            cli_exit::OK,
            format!("opened with {}", o.opened_with),
            Some(o.secret.expose_secret().clone()),
        ),
        Ok(ceremony::SetCheck::Shares { opened, .. }) => (
            "shares-ok",
            cli_exit::OK,
            opened
                .iter()
                .map(|(f, who)| format!("{}: {who}", f.display()))
                .collect::<Vec<_>>()
                .join("; "),
            None,
        ),
        Err(e) => (
            match &e {
                ceremony::SetError::NotEnough { .. } => "not-enough",
                ceremony::SetError::Inconsistent { .. } => "inconsistent",
                ceremony::SetError::NothingReadable { .. } => "unreadable",
                ceremony::SetError::Fatal(_) => "fatal",
                _ => "other",
            },
            cli_exit::code(e.kind()),
            e.to_string(),
            None,
        ),
    };
    SetObserved {
        category: category.into(),
        exit,
        text,
        warn: p.warn,
        secret,
        asked: p.asked,
    }
}

fn set_want_exit(category: &str) -> i32 {
    match category {
        "ok" | "shares-ok" => cli_exit::OK,
        "not-enough" => cli_exit::NOT_ENOUGH_SHARES,
        _ => cli_exit::DAMAGED,
    }
}

fn fresh_dir(p: &Path) {
    if p.exists() {
        std::fs::remove_dir_all(p).unwrap_or_else(|e| panic!("remove {}: {e}", p.display()));
    }
    std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
}

/// Deal (or read back) the sets, then make every set case and flat share vector that is missing.
fn make_sets(
    dir: &Path,
    work: &Path,
    env: &TokenEnv,
    failures: &mut Vec<String>,
    pending: &mut Vec<String>,
) {
    let sets_dir = dir.join(vectors::sets::SETS_DIR);
    std::fs::create_dir_all(&sets_dir).expect("create the sets directory");
    let bases = base_sets();
    let cases = set_cases();
    for (i, c) in cases.iter().enumerate() {
        assert!(
            !cases[..i].iter().any(|o| o.name == c.name),
            "set case {} twice",
            c.name
        );
    }

    let mut dealt: BTreeMap<&str, Dealt> = BTreeMap::new();
    for b in &bases {
        let home = cases
            .iter()
            .find(|c| c.name == b.home)
            .unwrap_or_else(|| panic!("set {} has no home case {}", b.name, b.home));
        assert!(
            home.base == b.name
                && home.files.len() == b.shares.len()
                && home.files.iter().enumerate().all(|(i, (f, src, _))| {
                    *f == share_file(i)
                        && matches!(src, Src::Share(s, j) if *s == b.name && *j == i + 1)
                }),
            "the home case {} must give all shares of {} as 1.custody .. N.custody",
            b.home,
            b.name
        );
        let home_dir = sets_dir.join(b.home);
        let d = if home_dir.exists() {
            let files = (0..b.shares.len())
                .map(|i| {
                    std::fs::read(home_dir.join(share_file(i)))
                        .unwrap_or_else(|e| panic!("set {}: {e}", b.name))
                })
                .collect();
            // The secret, from a case of this set that opens.
            let secret = cases
                .iter()
                .filter(|c| c.base == b.name)
                .filter_map(|c| {
                    let t = std::fs::read_to_string(
                        sets_dir.join(c.name).join(vectors::sets::SET_EXPECT_FILE),
                    )
                    .ok()?;
                    vectors::sets::SetExpect::parse(&t).ok()?.secret
                })
                .next();
            println!("kept     set {} (from {})", b.name, b.home);
            Dealt { files, secret }
        } else {
            for c in cases.iter().filter(|c| c.base == b.name) {
                assert!(
                    !sets_dir.join(c.name).exists(),
                    "{} exists but the home case {} of its set does not: cases are frozen, restore {}",
                    c.name,
                    b.home,
                    b.home
                );
            }
            let mut secret = vec![0u8; 32];
            crypto::fill_random(&mut secret);
            let scratch = work.join("deal").join(b.name);
            fresh_dir(&scratch);
            let files = match b.forge {
                None => deal(b, &secret, &scratch, env),
                Some(f) => deal_forged(b, f, &secret, env),
            };
            println!(
                "dealt    set {} ({} of {})",
                b.name,
                b.threshold,
                b.shares.len()
            );
            Dealt {
                files,
                secret: Some(secret),
            }
        };
        dealt.insert(b.name, d);
    }

    for c in &cases {
        let case_dir = sets_dir.join(c.name);
        if case_dir.exists() {
            assert!(
                case_dir.join(vectors::sets::SET_EXPECT_FILE).exists(),
                "{} has no {}",
                case_dir.display(),
                vectors::sets::SET_EXPECT_FILE
            );
            println!("kept     sets/{}", c.name);
            continue;
        }
        let scratch = work.join("sets").join(c.name);
        fresh_dir(&scratch);
        let mut written: Vec<(String, Vec<u8>)> = Vec::new();
        let mut passwords: Vec<Option<String>> = Vec::new();
        for (name, src, pw) in &c.files {
            let (b, i, bytes) = match src {
                Src::Share(b, i) => (*b, *i, dealt[b].files[i - 1].clone()),
                Src::Edit(b, i, f) => {
                    let base = &dealt[b].files[i - 1];
                    let bytes = f(base);
                    assert!(bytes != *base, "{}: {name} changes nothing", c.name);
                    (*b, *i, bytes)
                }
            };
            match written.iter().find(|(n, _)| n == name) {
                Some((_, w)) => assert!(
                    *w == bytes,
                    "{}: {name} given twice with other bytes",
                    c.name
                ),
                None => {
                    std::fs::write(scratch.join(name), &bytes).expect("write scratch");
                    written.push((name.clone(), bytes));
                }
            }
            passwords.push(match pw {
                Pw::Own => Some(share_password(&bases, b, i).to_owned()),
                Pw::Skip => None,
                Pw::Is(p) => Some((*p).to_owned()),
            });
        }
        let paths: Vec<PathBuf> = c.files.iter().map(|(n, _, _)| scratch.join(n)).collect();
        let o = observe_set(&paths, &passwords, env, c.partial_ok);
        let seen = format!("{}\n{}", o.text, o.warn.join("\n"));

        let mut problems = Vec::new();
        let want_secret = dealt[c.base].secret.clone();
        if let Some(s) = &o.secret
            && Some(s) != want_secret.as_ref()
        {
            problems.push("opened to a WRONG secret (or the set's secret is unknown)".into());
        }
        if o.category != c.expect {
            problems.push(format!("came out as {}, declared {}", o.category, c.expect));
        }
        if o.exit != set_want_exit(c.expect) {
            problems.push(format!(
                "exit {} (want {})",
                o.exit,
                set_want_exit(c.expect)
            ));
        }
        for n in &c.names {
            if !seen.contains(n) {
                problems.push(format!("{n:?} is named nowhere"));
            }
        }
        let status = match (problems.is_empty(), c.pending) {
            (true, _) => "made    ",
            (false, None) => "REFUSED ",
            (false, Some(_)) => "PENDING ",
        };
        println!(
            "{status} sets/{:<36} {:<12} exit {}  asked {:?}",
            c.name, o.category, o.exit, o.asked
        );
        if !problems.is_empty() || std::env::var_os("VECTORS_VERBOSE").is_some() {
            println!("           {}", seen.replace('\n', "\n           "));
        }
        if !problems.is_empty() {
            let p = format!("sets/{}: {}", c.name, problems.join("; "));
            match c.pending {
                Some(why) => pending.push(format!("{p} ({why})")),
                None => failures.push(p),
            }
            continue;
        }
        let expect = vectors::sets::SetExpect {
            files: c.files.iter().map(|(n, _, _)| n.clone()).collect(),
            passwords,
            partial_ok: c.partial_ok,
            expect: o.category,
            exit: o.exit,
            secret: o.secret,
            asked: Some(o.asked.iter().map(|&p| c.files[p].0.clone()).collect()),
            names: c.names.iter().map(|n| (*n).to_owned()).collect(),
            comment: c.comment.into(),
        };
        expect
            .check()
            .unwrap_or_else(|e| panic!("sets/{}: {e}", c.name));
        let text = expect.encode();
        assert_eq!(
            vectors::sets::SetExpect::parse(&text).as_ref(),
            Ok(&expect),
            "sets/{}: case.expect does not read back",
            c.name
        );
        std::fs::create_dir(&case_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", case_dir.display()));
        for (name, bytes) in &written {
            write_new(&case_dir.join(name), bytes);
        }
        write_new(
            &case_dir.join(vectors::sets::SET_EXPECT_FILE),
            text.as_bytes(),
        );
    }

    for f in flat_shares() {
        let path = dir.join(format!("{}.custody", f.name));
        let expect_path = dir.join(format!("{}.expect", f.name));
        if path.exists() {
            assert!(expect_path.exists(), "{} has no .expect", path.display());
            println!("kept     {}", f.name);
            continue;
        }
        assert!(
            !expect_path.exists(),
            "{} exists alone",
            expect_path.display()
        );
        let bytes = dealt[f.base].files[f.index - 1].clone();
        let (file, _) = format::parse(&bytes).expect("a share parses");
        let password = share_password(&bases, f.base, f.index);
        let scratch = work.join(format!("{}.custody", f.name));
        std::fs::write(&scratch, &bytes).expect("write scratch");
        let mut p = Scripted::new(password);
        let r = ceremony::open_backup(&scratch, &[], env.clone(), &mut p);
        let says = format!(
            "share {} of a {}-of-{}",
            file.own.index, file.common.threshold, file.common.count
        );
        let mut problems = Vec::new();
        let (cat, exit, msg) = match &r {
            Ok(o) => {
                problems.push(format!("it opened (with {})", o.opened_with));
                ("ok", 0, String::new())
            }
            Err(e) => (category(e), cli_exit::code(e.kind()), e.to_string()),
        };
        if r.is_err() && !msg.contains(&says) {
            problems.push(format!("the error does not say {says:?}"));
        }
        // Recorded as observed, in a category the single-file checks know.
        if r.is_err() && !vectors::CATEGORIES.contains(&cat) {
            problems.push(format!("refused as {cat}, not a category of .expect files"));
        }
        if p.pin_asked != 0 {
            problems.push(format!("a PIN was asked {} time(s)", p.pin_asked));
        }
        println!(
            "{} {:<28} {cat:<12} exit {exit}  pin asked {}  {msg}",
            if problems.is_empty() {
                "made    "
            } else {
                "REFUSED "
            },
            f.name,
            p.pin_asked
        );
        if !problems.is_empty() {
            failures.push(format!("{}: {}", f.name, problems.join("; ")));
            continue;
        }
        write_new(&path, &bytes);
        let expect = Expect {
            expect: cat.into(),
            exit,
            password: password.into(),
            secret: None,
            token_used: Some(false),
            comment: f.comment.into(),
        };
        write_new(&expect_path, expect.encode().as_bytes());
    }
}

// ───────────────────────────── observing ─────────────────────────────

struct Observed {
    category: String,
    exit: i32,
    message: String,
    secret: Option<Vec<u8>>,
    pin_asked: usize,
}

fn category(e: &OpenFileError) -> &'static str {
    match e {
        OpenFileError::Format { error, .. } => match error {
            FormatError::Damaged { .. } => "damaged",
            FormatError::Invalid { .. } => "invalid",
            FormatError::UnsupportedVersion { .. } => "unsupported",
            FormatError::NotABackup => "not-a-backup",
            _ => "other",
        },
        OpenFileError::Auth { .. } => "auth",
        OpenFileError::Token {
            error: TokenError::WrongKey { .. } | TokenError::PinIncorrect { .. },
            ..
        } => "auth",
        OpenFileError::Altered { .. } => "altered",
        OpenFileError::NoToken { .. } => "not-found",
        _ => "other",
    }
}

fn observe(path: &Path, password: &str, env: &TokenEnv) -> Observed {
    let mut p = Scripted::new(password);
    let r = ceremony::open_backup(path, &[], env.clone(), &mut p);
    match r {
        Ok(o) => Observed {
            category: "ok".into(),
            exit: 0,
            message: format!("opened with {}", o.opened_with),
            secret: Some(o.secret.expose_secret().clone()),
            pin_asked: p.pin_asked,
        },
        Err(e) => Observed {
            category: category(&e).into(),
            exit: cli_exit::code(e.kind()),
            message: e.to_string(),
            secret: None,
            pin_asked: p.pin_asked,
        },
    }
}

fn write_new(path: &Path, bytes: &[u8]) {
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .unwrap_or_else(|e| panic!("cannot create {}: {e}", path.display()));
    f.write_all(bytes)
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
}

fn ensure_keys(keys_dir: &Path) -> Keys {
    let aes = keys_dir.join(vectors::AES_KEY_FILE);
    let ec = keys_dir.join(vectors::P256_KEY_FILE);
    match (aes.exists(), ec.exists()) {
        (true, true) => {}
        (false, false) => {
            std::fs::create_dir_all(keys_dir).expect("create keys dir");
            let scalar = loop {
                let s: [u8; 32] = crypto::random_array();
                if p256::SecretKey::from_bytes(&s.into()).is_ok() {
                    break s;
                }
            };
            write_new(
                &aes,
                format!("{}\n", hex::encode(crypto::random_array::<32>())).as_bytes(),
            );
            write_new(&ec, format!("{}\n", hex::encode(scalar)).as_bytes());
            println!("made new test keys in {}", keys_dir.display());
        }
        _ => panic!(
            "only one of {} and {} exists: the test keys are frozen, restore the other",
            aes.display(),
            ec.display()
        ),
    }
    Keys::read(keys_dir).expect("read keys")
}

fn main() {
    let dir = PathBuf::from(
        std::env::args()
            .nth(1)
            .expect("usage: make-vectors <vectors directory>"),
    );
    std::fs::create_dir_all(&dir).expect("create the vectors directory");
    let keys = ensure_keys(&dir.join("keys"));

    // A fresh token in this process (SOFTHSM2_CONF is set by the fixture before the module loads).
    softhsm::init_token(vectors::TOKEN_LABEL);
    let module = softhsm::softhsm();
    let token = softhsm::find_token(vectors::TOKEN_LABEL);
    {
        let session = module.open(&token).expect("open session");
        session
            .login(&SecretString::from(vectors::USER_PIN))
            .expect("login");
        keys.load(&session).expect("load the test keys");
    }
    let env = TokenEnv {
        default_module: softhsm::softhsm_module(),
    };
    let work = softhsm::process_token_dir()
        .parent()
        .expect("parent")
        .to_path_buf();

    // The public-key file of vector-p256, as `custody token pubkey` writes it.
    let point = keys.p256_point();
    let pubkey = format::PubkeyFile {
        descriptor: Descriptor::Pkcs11 {
            kind: SlotKind::Pkcs11P256,
            token_label: vectors::TOKEN_LABEL.into(),
            token_serial: token.serial.clone(),
            key_label: vectors::P256_LABEL.into(),
            key_id: vectors::P256_ID.to_vec(),
            key_hash: Some(crypto::p256_key_hash(&point)),
        },
        public_key: point,
    }
    .encode()
    .expect("encode the pubkey file");
    let pubkey_path = work.join("vector-p256.pubkey");
    std::fs::write(&pubkey_path, &pubkey).expect("write the pubkey file");

    let mut bases: Bases = BTreeMap::new();
    bases.insert("pubkey-file".into(), pubkey);
    let mut passwords: BTreeMap<&str, &str> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut pending = Vec::new();

    for p in positives() {
        let path = dir.join(format!("{}.custody", p.name));
        let expect_path = dir.join(format!("{}.expect", p.name));
        passwords.insert(p.name, p.password);
        if path.exists() {
            assert!(expect_path.exists(), "{} has no .expect", path.display());
            println!("kept     {}", p.name);
        } else {
            assert!(
                !expect_path.exists(),
                "{} exists alone",
                expect_path.display()
            );
            let mut secret = vec![0u8; p.secret_len];
            crypto::fill_random(&mut secret);
            let tokens = p
                .tokens
                .iter()
                .map(|t| {
                    if *t == "pubkey" {
                        TokenLocator::Pubkey(pubkey_path.clone())
                    } else {
                        TokenLocator::from_str(t).expect("locator")
                    }
                })
                .collect();
            let req = BackupRequest {
                secret: SecretBox::new(Box::new(secret.clone())),
                tokens,
                out: path.clone(),
                hint: p.hint.map(String::from),
                label: p.label.into(),
                kdf: KdfParams {
                    memory_kib: 8 * 1024,
                    iterations: 1,
                    parallelism: 1,
                },
                allow_weak_kdf: true,
                single_token: true,
                force: false,
            };
            let mut prompter = Scripted::new(p.password);
            ceremony::backup(req, env.clone(), &mut prompter)
                .unwrap_or_else(|e| panic!("backup {}: {e}", p.name));
            let expect = Expect {
                expect: "ok".into(),
                exit: 0,
                password: p.expect_password.unwrap_or(p.password).into(),
                secret: Some(secret),
                token_used: None,
                comment: p.comment.into(),
            };
            write_new(&expect_path, expect.encode().as_bytes());
            println!("made     {}", p.name);
        }
        let expect = Expect::parse(&std::fs::read_to_string(&expect_path).expect("read"))
            .expect("parse .expect");
        let o = observe(&path, &expect.password, &env);
        if o.secret != expect.secret {
            failures.push(format!(
                "{}: did not open to its secret: {}",
                p.name, o.message
            ));
        }
        bases.insert(p.name.into(), std::fs::read(&path).expect("read"));
    }

    for n in negatives() {
        let path = dir.join(format!("{}.custody", n.name));
        let expect_path = dir.join(format!("{}.expect", n.name));
        if path.exists() {
            assert!(expect_path.exists(), "{} has no .expect", path.display());
            println!("kept     {}", n.name);
            continue;
        }
        assert!(
            !expect_path.exists(),
            "{} exists alone",
            expect_path.display()
        );
        let bytes = (n.make)(&bases[n.base], &bases);
        assert!(
            n.password.is_some() || bytes != bases[n.base],
            "{} changes nothing",
            n.name
        );
        let password = n.password.unwrap_or(passwords[n.base]);
        // Observe from a scratch copy; write the vector only if it behaves as declared.
        let scratch = work.join(format!("{}.custody", n.name));
        std::fs::write(&scratch, &bytes).expect("write scratch");
        let o = observe(&scratch, password, &env);
        let want_exit = match n.expect {
            "auth" => cli_exit::AUTH,
            "not-found" => cli_exit::NOT_FOUND,
            _ => cli_exit::DAMAGED,
        };
        let mut problems = Vec::new();
        if o.category != n.expect {
            problems.push(format!("came out as {}, declared {}", o.category, n.expect));
        }
        if o.exit != want_exit {
            problems.push(format!("exit {} (want {want_exit})", o.exit));
        }
        if n.token_used == Some(false) && o.pin_asked != 0 {
            problems.push(format!("a PIN was asked {} time(s)", o.pin_asked));
        }
        if o.secret.is_some() {
            problems.push("it opened".into());
        }
        let status = match (problems.is_empty(), n.pending) {
            (true, _) => "made    ",
            (false, None) => "REFUSED ",
            (false, Some(_)) => "PENDING ",
        };
        println!(
            "{status} {:<28} {:<12} exit {}  pin asked {}  {}",
            n.name, o.category, o.exit, o.pin_asked, o.message
        );
        if !problems.is_empty() {
            match n.pending {
                Some(why) => pending.push(format!("{}: {} ({why})", n.name, problems.join("; "))),
                None => failures.push(format!("{}: {}", n.name, problems.join("; "))),
            }
            continue;
        }
        write_new(&path, &bytes);
        let expect = Expect {
            expect: o.category,
            exit: o.exit,
            password: password.into(),
            secret: None,
            token_used: n.token_used,
            comment: n.comment.into(),
        };
        write_new(&expect_path, expect.encode().as_bytes());
    }

    make_sets(&dir, &work, &env, &mut failures, &mut pending);

    if !pending.is_empty() {
        eprintln!(
            "\n{} pending vector(s), not written until the code behaves as declared:",
            pending.len()
        );
        for p in &pending {
            eprintln!("  {p}");
        }
    }
    if !failures.is_empty() {
        eprintln!(
            "\n{} problem(s), those vectors were not written:",
            failures.len()
        );
        for f in &failures {
            eprintln!("  {f}");
        }
        std::process::exit(1);
    }
}
