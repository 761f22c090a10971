//! Text-mode copies: docs/FORMAT.md, "Text-mode copies (not part of v1)". A Windows copy may
//! turn every `\n` into `\r\n` or put a UTF-8 byte-order mark first. v1 does not allow either
//! and the strict reader (`parse`) keeps refusing such a file; this is a separate step that a
//! caller asks for, and announces, to get back the bytes the copy was made from.

use super::read::check_checksum;
use super::{FormatError, parse};

/// The UTF-8 encoding of U+FEFF, which some editors put first in a text file.
const BOM: &[u8] = b"\xef\xbb\xbf";

/// The bytes a Windows text-mode copy was made from, or `None` when `bytes` is not such a copy.
///
/// Only when the strict reader refuses `bytes` as damaged or as not a backup: drop one leading
/// byte-order mark, if there is one; if every `\n` is preceded by `\r` and no other `\r` occurs,
/// drop those `\r`; the result must differ from `bytes` and its checksum must be right. A file
/// with CRLF on some lines only is not repaired (it stays damaged). The result is not parsed
/// here: it goes through the strict reader like any other file.
pub fn repair_text_copy(bytes: &[u8]) -> Option<Vec<u8>> {
    match parse(bytes) {
        Err(FormatError::Damaged { .. } | FormatError::NotABackup) => {}
        // Good files, invalid ones (a checksum recomputed over CRs) and other versions keep
        // the strict verdict.
        _ => return None,
    }
    let body = bytes.strip_prefix(BOM).unwrap_or(bytes);
    let out = if every_newline_crlf(body) {
        body.iter().copied().filter(|&b| b != b'\r').collect()
    } else {
        body.to_vec()
    };
    if out == bytes || check_checksum(&out).is_err() {
        return None;
    }
    Some(out)
}

/// Every `\n` comes right after a `\r`, and every `\r` right before a `\n`.
fn every_newline_crlf(bytes: &[u8]) -> bool {
    let mut prev_cr = false;
    for &b in bytes {
        match b {
            b'\n' if !prev_cr => return false,
            _ if prev_cr && b != b'\n' => return false,
            _ => {}
        }
        prev_cr = b == b'\r';
    }
    !prev_cr
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::format::tests::sample;

    fn good() -> Vec<u8> {
        sample().encode().expect("encode").bytes
    }

    fn crlf(b: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for &c in b {
            if c == b'\n' {
                out.push(b'\r');
            }
            out.push(c);
        }
        out
    }

    fn with_bom(b: &[u8]) -> Vec<u8> {
        [BOM, b].concat()
    }

    #[test]
    fn crlf_bom_and_both_are_repaired_to_the_original() {
        let g = good();
        assert!(parse(&g).is_ok());
        for (what, copy) in [
            ("crlf", crlf(&g)),
            ("bom", with_bom(&g)),
            ("bom+crlf", with_bom(&crlf(&g))),
        ] {
            assert!(
                parse(&copy).is_err(),
                "{what}: the strict reader refuses it"
            );
            assert_eq!(repair_text_copy(&copy).as_deref(), Some(&g[..]), "{what}");
        }
    }

    #[test]
    fn what_is_not_repaired() {
        let g = good();
        // A good file needs no repair.
        assert_eq!(repair_text_copy(&g), None);
        // CRLF on some lines only: not a text-mode copy; stays damaged.
        let text = String::from_utf8(g.clone()).expect("utf8");
        let mixed = text.replacen('\n', "\r\n", 3).into_bytes();
        assert!(matches!(parse(&mixed), Err(FormatError::Damaged { .. })));
        assert_eq!(repair_text_copy(&mixed), None);
        assert_eq!(repair_text_copy(&with_bom(&mixed)), None);
        // A lone CR besides CRLF everywhere: the CRs are kept, so the checksum stays wrong.
        let lone = crlf(&text.replacen("label: ", "label: \r", 1).into_bytes());
        assert_eq!(repair_text_copy(&lone), None);
        // A CRLF copy with a byte changed as well: damaged after the repair too.
        let mut flipped = crlf(&g);
        let mid = flipped.len() / 2;
        flipped[mid] ^= 1;
        assert_eq!(repair_text_copy(&flipped), None);
        // Two byte-order marks: only one is dropped.
        assert_eq!(repair_text_copy(&with_bom(&with_bom(&g))), None);
        // Not a backup at all, with or without a byte-order mark.
        assert_eq!(repair_text_copy(b"hello\r\nworld\r\n"), None);
        assert_eq!(repair_text_copy(&with_bom(b"hello\n")), None);
        assert_eq!(repair_text_copy(b""), None);
    }

    #[test]
    fn invalid_files_keep_the_strict_verdict() {
        // CRLF with the checksum line recomputed over the CRs (and ending in LF, or it would
        // not be read as one): invalid, not repaired.
        let text = String::from_utf8(crlf(&good())).expect("utf8");
        let (content, _) = text.rsplit_once("checksum: ").expect("a checksum line");
        let rechecked = format!(
            "{content}checksum: {}\n",
            hex::encode(crate::crypto::checksum(content.as_bytes()))
        );
        assert!(matches!(
            parse(rechecked.as_bytes()),
            Err(FormatError::Invalid { .. })
        ));
        assert_eq!(repair_text_copy(rechecked.as_bytes()), None);
    }

    #[test]
    fn crlf_detection() {
        assert!(every_newline_crlf(b"a\r\nb\r\n"));
        assert!(every_newline_crlf(b"no newline"));
        assert!(!every_newline_crlf(b"a\r\nb\n"));
        assert!(!every_newline_crlf(b"a\rb\r\n"));
        assert!(!every_newline_crlf(b"a\r\nb\r"));
        assert!(!every_newline_crlf(b"a\r\r\n"));
    }
}
