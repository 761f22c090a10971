use super::write::b64;
use super::*;

pub(crate) fn sample() -> BackupFile {
    BackupFile {
        common: CommonHeader {
            set_id: [0x11; 16],
            created: "2026-11-28T16:00:00Z".into(),
            label: "Vault root key — prod".into(),
            threshold: 1,
            count: 1,
            officers: vec![String::new()],
            commitments: vec![[0x22; 32]],
            fingerprint: [0x33; 16],
            payload_nonce: [0x44; 12],
        },
        own: FileFields {
            index: 1,
            hint: "the usual one".into(),
            kdf: KdfParams {
                memory_kib: 8192,
                iterations: 1,
                parallelism: 1,
            },
            kdf_salt: [0x55; 32],
        },
        slots: vec![
            Slot {
                descriptor: Descriptor::Pkcs11 {
                    kind: SlotKind::Pkcs11Aes,
                    token_label: "custody hsm".into(),
                    token_serial: "1a2b".into(),
                    key_label: "custody-aes".into(),
                    key_id: vec![1, 2],
                    key_hash: None,
                },
                verified: true,
                salt: [0x66; 32],
                material: SlotMaterial::TokenCiphertext {
                    iv: [0x77; 12],
                    ciphertext: [0x88; 48],
                },
                wrap_nonce: [0x99; 12],
                wrapped: [0xaa; 48],
                key_commitment: [0xbb; 32],
            },
            Slot {
                descriptor: Descriptor::Pkcs11 {
                    kind: SlotKind::Pkcs11P256,
                    token_label: "spare".into(),
                    token_serial: String::new(),
                    key_label: "ec;key".into(),
                    key_id: vec![],
                    key_hash: Some([0xcc; 32]),
                },
                verified: false,
                salt: [0x67; 32],
                material: SlotMaterial::Ephemeral([0x04; 65]),
                wrap_nonce: [0x98; 12],
                wrapped: [0xab; 48],
                key_commitment: [0xbc; 32],
            },
            Slot {
                descriptor: Descriptor::Piv {
                    card_serial: 12345678,
                    piv_slot: 0x82,
                    key_hash: [0xcd; 32],
                },
                verified: true,
                salt: [0x68; 32],
                material: SlotMaterial::Ephemeral([0x04; 65]),
                wrap_nonce: [0x97; 12],
                wrapped: [0xac; 48],
                key_commitment: [0xbd; 32],
            },
        ],
        payload: vec![0xdd; 48],
        mac: [0xee; 32],
    }
}

/// Replace the checksum so that a change reaches the parser rather than the damage check.
pub(crate) fn resum(text: &str) -> Vec<u8> {
    let body = text.strip_suffix('\n').unwrap();
    let cut = body.rfind('\n').map_or(0, |p| p + 1);
    let before = &text[..cut];
    format!(
        "{before}checksum: {}\n",
        hex::encode(crate::crypto::checksum(before.as_bytes()))
    )
    .into_bytes()
}

fn text() -> String {
    String::from_utf8(sample().encode().unwrap().bytes).unwrap()
}

fn invalid(bytes: &[u8]) -> String {
    match parse(bytes) {
        Err(FormatError::Invalid { reason, .. }) => reason,
        other => panic!("expected Invalid, got {other:?}"),
    }
}

#[test]
fn round_trip() {
    let f = sample();
    let enc = f.encode().unwrap();
    let (g, enc2) = parse(&enc.bytes).unwrap();
    assert_eq!(f, g);
    assert_eq!(enc.bytes, enc2.bytes);
    assert_eq!(enc.slot_fields.len(), 3);
    let t = text();
    assert!(t.starts_with("custody-backup v1\nset-id: 1111"));
    assert!(
        t.contains("\nofficer.1:\n"),
        "empty value written without a space"
    );
    assert!(t.contains("\nkey-label: ec%3Bkey\n"));
}

#[test]
fn regions_are_consistent() {
    let enc = sample().encode().unwrap();
    assert!(enc.common().ends_with(b"\n"));
    assert!(
        std::str::from_utf8(enc.common())
            .unwrap()
            .ends_with(&format!("payload-nonce: {}\n", "44".repeat(12)))
    );
    assert!(enc.file_fields().starts_with(b"index: 1\n"));
    assert!(enc.slot_descriptor(0).starts_with(b"slot: pkcs11-aes\n"));
    assert!(enc.slot_fields(0).starts_with(enc.slot_descriptor(0)));
    assert!(
        enc.slot_fields(1)
            .ends_with(format!("ephemeral: {}\n", "04".repeat(65)).as_bytes())
    );
    assert_eq!(
        encode_slot_fields(
            &sample().slots[0].descriptor,
            true,
            &[0x66; 32],
            &sample().slots[0].material
        ),
        enc.slot_fields(0)
    );
    assert_eq!(encode_common(&sample().common), enc.common());
    assert_eq!(encode_file_fields(&sample().own), enc.file_fields());
}

#[test]
fn damage_is_told_apart() {
    let t = text();
    let mut b = t.clone().into_bytes();
    let i = t.find("wrapped: ").unwrap() + 12;
    b[i] = if b[i] == b'a' { b'b' } else { b'a' };
    assert!(matches!(parse(&b), Err(FormatError::Damaged { .. })));
    for cut in [1, 10, 70, t.len() / 2] {
        assert!(
            matches!(
                parse(&t.as_bytes()[..t.len() - cut]),
                Err(FormatError::Damaged { .. })
            ),
            "truncation by {cut}"
        );
    }
    assert!(matches!(parse(b"hello"), Err(FormatError::NotABackup)));
    assert!(matches!(
        parse(
            t.replace("custody-backup v1", "custody-backup v2")
                .as_bytes()
        ),
        Err(FormatError::UnsupportedVersion { .. })
    ));
}

#[test]
fn strictness() {
    let t = text();
    let cases: Vec<(&str, String)> = vec![
        (
            "reordered",
            t.replace("threshold: 1\ncount: 1\n", "count: 1\nthreshold: 1\n"),
        ),
        (
            "unknown field",
            t.replace(
                "hint: the usual one\n",
                "hint: the usual one\ncolour: red\n",
            ),
        ),
        (
            "repeated",
            t.replace("hint: the usual one\n", "hint: the usual one\nhint: x\n"),
        ),
        (
            "CR",
            t.replace("hint: the usual one\n", "hint: the usual one\r\n"),
        ),
        ("upper hex", t.replace(&"55".repeat(32), &"5A".repeat(32))),
        (
            "leading zero",
            t.replace("kdf-iterations: 1\n", "kdf-iterations: 01\n"),
        ),
        ("two spaces", t.replace("hint: the", "hint:  the")),
        (
            "space before empty",
            t.replace("officer.1:\n", "officer.1: \n"),
        ),
        (
            "trailing space",
            t.replace("hint: the usual one\n", "hint: the usual one \n"),
        ),
        (
            "control char",
            t.replace("the usual one", "the\u{1b}[2Jusual"),
        ),
        (
            "bidi override",
            t.replace("the usual one", "the \u{202e}usual"),
        ),
        ("not NFC", t.replace("the usual one", "cafe\u{301}")),
        ("non-canonical pct", t.replace("ec%3Bkey", "ec%3bkey")),
        (
            "pct unreserved escaped",
            t.replace("custody%20hsm", "custody%20%68sm"),
        ),
        (
            "kdf memory too large",
            t.replace("kdf-memory: 8192\n", "kdf-memory: 4194305\n"),
        ),
        (
            "kdf iterations too large",
            t.replace("kdf-iterations: 1\n", "kdf-iterations: 17\n"),
        ),
        (
            "kdf parallelism too large",
            t.replace("kdf-parallelism: 1\n", "kdf-parallelism: 17\n"),
        ),
        (
            "kdf memory too small",
            t.replace("kdf-memory: 8192\n", "kdf-memory: 8191\n"),
        ),
        ("index out of range", t.replace("index: 1\n", "index: 2\n")),
        ("index zero", t.replace("index: 1\n", "index: 0\n")),
        (
            "threshold above count",
            t.replace("threshold: 1\n", "threshold: 2\n"),
        ),
        (
            "unknown slot kind",
            t.replace("slot: pkcs11-aes", "slot: quantum"),
        ),
        ("bad piv slot", t.replace("piv-slot: 82", "piv-slot: 01")),
        (
            "verified maybe",
            t.replacen("verified: yes", "verified: maybe", 1),
        ),
        (
            "bad date",
            t.replace("2026-11-28T16:00:00Z", "2026-13-28T16:00:00Z"),
        ),
        ("base64 non-canonical", {
            let enc = base64::Engine::encode(&b64(), [0xdd; 48]);
            t.replace(&enc, &enc.replace("3d3d", "3d3d "))
        }),
        ("no slot", {
            let s = t.find("slot: ").unwrap();
            let e = t.find("payload: ").unwrap();
            format!("{}{}", &t[..s], &t[e..])
        }),
    ];
    for (name, changed) in cases {
        assert_ne!(changed, t, "case {name} changed nothing");
        let r = parse(&resum(&changed));
        assert!(
            matches!(r, Err(FormatError::Invalid { .. })),
            "case {name}: {r:?}"
        );
    }
    // Data after the checksum.
    let mut extra = t.clone().into_bytes();
    extra.extend_from_slice(b"checksum: 00\n");
    assert!(parse(&extra).is_err());
    assert!(invalid(&resum(&t.replace("kdf: argon2id", "kdf: scrypt"))).contains("argon2id"));
}

#[test]
fn escaped_display() {
    assert_eq!(display_escaped("a\u{1b}[2Jb"), "a\\u{1b}[2Jb");
    assert_eq!(display_escaped("x\u{202e}y"), "x\\u{202e}y");
    assert_eq!(display_escaped("Zoë"), "Zoë");
    assert_eq!(normalize_free_text("cafe\u{301}").unwrap(), "caf\u{e9}");
    assert!(normalize_free_text(" x").is_err());
    assert!(normalize_free_text(&"x".repeat(257)).is_err());
}

/// Every character that could move the cursor, restyle the terminal or reorder text: C0, DEL, C1,
/// the bidirectional controls, the line and paragraph separators.
fn terminal_controls() -> Vec<char> {
    let mut v: Vec<char> = (0u32..0x20)
        .chain(0x7f..0xa0)
        .filter_map(char::from_u32)
        .collect();
    v.extend(
        (0x202a..=0x202e)
            .chain(0x2066..=0x2069)
            .filter_map(char::from_u32),
    );
    v.extend([
        '\u{200e}', '\u{200f}', '\u{61c}', '\u{2028}', '\u{2029}', '\u{feff}',
    ]);
    v
}

/// Undo `display_path`: `\\`, `\u{hex}` and `\xNN` back to bytes. That this recovers every
/// input shows that the escaping is one to one, so escaped text cannot pass for other text.
fn unescape(s: &str) -> Vec<u8> {
    let mut out = Vec::new();
    let mut rest = s;
    while let Some(c) = rest.chars().next() {
        if let Some(r) = rest.strip_prefix("\\\\") {
            out.push(b'\\');
            rest = r;
        } else if let Some(r) = rest.strip_prefix("\\x") {
            out.push(u8::from_str_radix(&r[..2], 16).unwrap());
            rest = &r[2..];
        } else if let Some(r) = rest.strip_prefix("\\u{") {
            let end = r.find('}').unwrap();
            let c = char::from_u32(u32::from_str_radix(&r[..end], 16).unwrap()).unwrap();
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            rest = &r[end + 1..];
        } else {
            assert_ne!(c, '\\', "a lone backslash in {s:?}");
            out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes());
            rest = &rest[c.len_utf8()..];
        }
    }
    out
}

#[test]
fn escaping_leaves_no_terminal_control() {
    for c in terminal_controls() {
        let shown = display_escaped(&format!("a{c}b"));
        assert_eq!(
            shown,
            format!("a\\u{{{:x}}}b", c as u32),
            "U+{:04X}",
            c as u32
        );
        let shown = display_path(std::path::Path::new(&format!("a{c}b")));
        assert_eq!(
            shown,
            format!("a\\u{{{:x}}}b", c as u32),
            "U+{:04X}",
            c as u32
        );
    }
    // A name that would print a fake line of its own stays on the line it is printed on.
    let fake = "x\n\u{1b}[2J\rfingerprint: 0000-0000-0000-0000\u{202e}";
    let shown = display_escaped(fake);
    assert!(
        !shown.chars().any(|c| terminal_controls().contains(&c)),
        "{shown}"
    );
    assert_eq!(
        shown,
        "x\\u{a}\\u{1b}[2J\\u{d}fingerprint: 0000-0000-0000-0000\\u{202e}"
    );
}

#[test]
fn ordinary_names_print_as_before() {
    for name in [
        "b.cb",
        "/media/usb 1/share-2.cb",
        "Zoë's backup.cb",
        "ключ.cb",
        "€ 😀",
    ] {
        assert_eq!(display_escaped(name), name);
        assert_eq!(display_path(std::path::Path::new(name)), name);
    }
}

#[test]
fn escaping_is_one_to_one() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let names: [&[u8]; 10] = [
        b"plain",
        b"back\\slash",
        b"\\u{1b}",
        b"\x1b",
        b"\\x1b",
        b"\\xff",
        b"\xff",
        b"caf\xc3\xa9 \xc3",
        b"\xe2\x80\xae\xe2\x80",
        b"\\\\\n",
    ];
    let mut seen = std::collections::BTreeSet::new();
    for n in names {
        let shown = display_path(std::path::Path::new(OsStr::from_bytes(n)));
        assert_eq!(unescape(&shown), n, "{shown}");
        assert!(seen.insert(shown.clone()), "two names shown as {shown}");
        if let Ok(t) = std::str::from_utf8(n) {
            assert_eq!(display_escaped(t), shown);
        }
    }
    // A byte that is not UTF-8 is shown as \xNN, never as a replacement character.
    assert_eq!(
        display_path(std::path::Path::new(OsStr::from_bytes(b"a\xffb"))),
        "a\\xffb"
    );
    // What looks like an escape in a real name is told apart by its doubled backslash.
    assert_eq!(display_escaped("\\u{1b}"), "\\\\u{1b}");
}

#[test]
fn weak_kdf_flag() {
    assert!(sample().own.kdf.is_weak());
    assert!(!KdfParams::DEFAULT.is_weak());
}

/// Random damage never panics the parser, and whatever it accepts is canonical.
#[test]
fn mutations_never_panic() {
    let base = sample().encode().unwrap().bytes;
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let mut b = base.clone();
        for _ in 0..(1 + next() % 3) {
            if b.is_empty() {
                break;
            }
            let i = (next() as usize) % b.len();
            match next() % 4 {
                0 => b[i] = next() as u8,
                1 => {
                    b.remove(i);
                }
                2 => b.insert(i, next() as u8),
                _ => b.truncate(i),
            }
        }
        // Half the time, repair the checksum so the mutation reaches the parser proper.
        if next() % 2 == 0
            && let Ok(t) = std::str::from_utf8(&b)
            && t.ends_with('\n')
            && t.trim_end_matches('\n').contains('\n')
        {
            b = resum(t);
        }
        if let Ok((_, enc)) = parse(&b) {
            assert_eq!(enc.bytes, b);
        }
    }
}

/// The edges of the damage check and of the first-line read, which index into untrusted bytes.
#[test]
fn short_and_truncated_inputs() {
    for b in [&b""[..], b"\n", b"custody-backup", b"x\n"] {
        assert!(matches!(parse(b), Err(FormatError::NotABackup)), "{b:?}");
    }
    assert!(matches!(
        parse(b"custody-backup v1"),
        Err(FormatError::Damaged { .. })
    ));
    for b in [
        &b"custody-backup v1\n"[..],
        b"custody-backup v1\nchecksum: 00\n",
    ] {
        assert!(
            matches!(parse(b), Err(FormatError::Damaged { .. })),
            "{b:?}"
        );
    }
    // A first line longer than 64 bytes is read as its first 64.
    let long = format!("custody-backup {}\n", "9".repeat(80));
    match parse(long.as_bytes()) {
        Err(FormatError::UnsupportedVersion { found }) => assert_eq!(found.len(), 64 - 15),
        other => panic!("{other:?}"),
    }
    let t = text();
    let (content, last) = super::read::split_last_line(t.as_bytes()).unwrap();
    assert!(last.starts_with(b"checksum: ") && content.ends_with(b"\n"));
    assert_eq!(content.len() + last.len() + 1, t.len());
    assert_eq!(
        super::read::split_last_line(b"one\n"),
        Some((&b""[..], &b"one"[..]))
    );
    assert_eq!(super::read::split_last_line(b"one"), None);
}

#[test]
fn timestamps() {
    use super::validate::valid_timestamp;
    for ok in [
        "2026-11-28T16:00:00Z",
        "2024-02-29T23:59:59Z",
        "2000-02-29T00:00:00Z",
        "0000-01-01T00:00:00Z",
    ] {
        assert!(valid_timestamp(ok), "{ok}");
    }
    for bad in [
        "",
        "2026-11-28T16:00:00",
        "2026-11-28T16:00:00Z ",
        "2026-11-28 16:00:00Z",
        "2026-11-28T16:00:60Z",
        "2026-11-28T24:00:00Z",
        "2026-11-28T16:60:00Z",
        "2026-13-01T00:00:00Z",
        "2026-00-01T00:00:00Z",
        "2026-11-31T00:00:00Z",
        "2026-11-00T00:00:00Z",
        "2023-02-29T00:00:00Z",
        "1900-02-29T00:00:00Z",
        "2026-1a-28T16:00:00Z",
        "20261128T160000Z0000",
        "２026-11-28T16:00:0Z",
    ] {
        assert!(!valid_timestamp(bad), "{bad}");
    }
}
