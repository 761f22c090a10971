//! Editing helpers: change the lines or bytes of a positive file to derive a negative one.

use custody::internals::crypto;
use custody::internals::format::{self, BackupFile};

/// The lines of a valid file, without the checksum line.
pub fn body_lines(b: &[u8]) -> Vec<String> {
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
pub fn body_bytes(b: &[u8]) -> Vec<u8> {
    let mut l = body_lines(b).join("\n").into_bytes();
    l.push(b'\n');
    l
}

/// Append a correct checksum line.
pub fn seal_bytes(mut body: Vec<u8>) -> Vec<u8> {
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
pub fn edit(b: &[u8], f: impl FnOnce(&mut Vec<String>)) -> Vec<u8> {
    let mut l = body_lines(b);
    f(&mut l);
    seal(&l)
}

fn is_key(line: &str, key: &str) -> bool {
    line.starts_with(key) && line.as_bytes().get(key.len()) == Some(&b':')
}

/// Index of the `nth` (0-based) line with `key`.
pub fn pos(l: &[String], key: &str, nth: usize) -> usize {
    l.iter()
        .enumerate()
        .filter(|(_, x)| is_key(x, key))
        .nth(nth)
        .unwrap_or_else(|| panic!("no {nth}th {key:?} line"))
        .0
}

pub fn set(l: &mut [String], key: &str, value: &str) {
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

pub fn get(l: &[String], key: &str, nth: usize) -> String {
    let line = &l[pos(l, key, nth)];
    line[key.len() + 1..].trim_start_matches(' ').to_owned()
}

/// Lines `slot:` through `key-commitment:` of slot `i`.
pub fn slot_range(l: &[String], i: usize) -> std::ops::Range<usize> {
    let start = pos(l, "slot", i);
    let end = pos(l, "key-commitment", i) + 1;
    start..end
}

/// Flip one bit of hex digit `digit` of the `nth` `key` line's value.
pub fn flip_hex(l: &mut [String], key: &str, nth: usize, digit: usize) {
    let mut v = get(l, key, nth).into_bytes();
    let d = (v[digit] as char).to_digit(16).expect("hex digit") ^ 1;
    v[digit] = char::from_digit(d, 16).expect("hex digit") as u8;
    set_nth(l, key, nth, &String::from_utf8(v).expect("ascii"));
}

/// Parse, change, encode again (the checksum is recomputed; the MAC is kept as stored).
pub fn restruct(b: &[u8], f: impl FnOnce(&mut BackupFile)) -> Vec<u8> {
    let (mut file, _) = format::parse(b).expect("a positive vector parses");
    f(&mut file);
    file.encode().expect("still encodable").bytes
}

pub fn replace_bytes(hay: &[u8], needle: &[u8], with: &[u8]) -> Vec<u8> {
    let i = hay
        .windows(needle.len())
        .position(|w| w == needle)
        .unwrap_or_else(|| panic!("{:?} not found", String::from_utf8_lossy(needle)));
    let mut out = hay[..i].to_vec();
    out.extend_from_slice(with);
    out.extend_from_slice(&hay[i + needle.len()..]);
    out
}

pub fn flip_byte(b: &[u8], at: usize) -> Vec<u8> {
    let mut v = b.to_vec();
    v[at] ^= 0x01;
    v
}

pub fn random_point() -> [u8; 65] {
    let sk = p256::SecretKey::from_bytes(&crypto::random_array::<32>().into())
        .expect("a random scalar is valid (overwhelmingly)");
    crypto::p256_uncompressed(&sk.public_key())
}
