//! Free-text values (hint, label, officer): the only non-ASCII a file may hold.

use std::path::Path;

use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_normalization::{UnicodeNormalization, is_nfc};

/// Longest free-text value, in UTF-8 bytes.
pub const MAX_FREE_TEXT_BYTES: usize = 256;

/// The Unicode version whose General_Category, White_Space and NFC data define free text
/// (docs/FORMAT.md §2.3), for v1 and for good: a later Unicode must not make a valid file
/// invalid. The two Unicode crates are pinned (`=`) to releases of this version, and
/// a fixed White_Space table of this version is used (`char::is_whitespace` follows the toolchain's).
pub const UNICODE_VERSION: (u8, u8, u8) = (16, 0, 0);

/// White_Space in Unicode 16.0.0 (PropList.txt): unchanged since 6.3, and fixed here so that it
/// stays so.
const WHITE_SPACE: [(char, char); 10] = [
    ('\u{0009}', '\u{000D}'),
    ('\u{0020}', '\u{0020}'),
    ('\u{0085}', '\u{0085}'),
    ('\u{00A0}', '\u{00A0}'),
    ('\u{1680}', '\u{1680}'),
    ('\u{2000}', '\u{200A}'),
    ('\u{2028}', '\u{2029}'),
    ('\u{202F}', '\u{202F}'),
    ('\u{205F}', '\u{205F}'),
    ('\u{3000}', '\u{3000}'),
];

fn is_white_space(c: char) -> bool {
    WHITE_SPACE.iter().any(|&(lo, hi)| (lo..=hi).contains(&c))
}

fn is_forbidden(c: char) -> bool {
    matches!(
        get_general_category(c),
        GeneralCategory::Control
            | GeneralCategory::Format
            | GeneralCategory::LineSeparator
            | GeneralCategory::ParagraphSeparator
    )
}

/// Accept a value as it may be stored: NFC, at most 256 bytes, no control or format characters,
/// no leading or trailing white space. Empty is allowed.
pub fn validate_free_text(s: &str) -> Result<(), String> {
    if s.len() > MAX_FREE_TEXT_BYTES {
        return Err(format!(
            "{} bytes is longer than {MAX_FREE_TEXT_BYTES}",
            s.len()
        ));
    }
    if let Some(c) = s.chars().find(|&c| is_forbidden(c)) {
        return Err(format!(
            "contains the control or format character U+{:04X}",
            c as u32
        ));
    }
    if s.starts_with(is_white_space) || s.ends_with(is_white_space) {
        return Err("starts or ends with white space".into());
    }
    if !is_nfc(s) {
        return Err("is not in Unicode normal form C".into());
    }
    Ok(())
}

/// Normalise a value typed by a person to NFC, then validate it.
pub fn normalize_free_text(s: &str) -> Result<String, String> {
    let n: String = s.nfc().collect();
    validate_free_text(&n)?;
    Ok(n)
}

/// Show a value that may come from an unauthenticated file: anything that could move the cursor,
/// hide text or change the terminal is escaped.
///
/// Control characters (C0, DEL, C1), format characters (the bidirectional controls among them)
/// and line or paragraph separators become `\u{hex}`, and a backslash becomes `\\`, so escaped
/// text can always be told from text that merely looks like an escape: the mapping is one to one.
pub fn display_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    push_escaped(&mut out, s);
    out
}

fn push_escaped(out: &mut String, s: &str) {
    for c in s.chars() {
        if c == '\\' {
            out.push_str("\\\\");
        } else if is_forbidden(c) {
            out.push_str(&format!("\\u{{{:x}}}", c as u32));
        } else {
            out.push(c);
        }
    }
}

/// Show a path for people, escaped as [`display_escaped`] does; a byte that is not part of UTF-8
/// becomes `\xNN`. A path may come from a listing of a hostile medium: its name must not be able
/// to start a line of its own or restyle the terminal.
pub fn display_path(p: &Path) -> String {
    let mut out = String::with_capacity(p.as_os_str().len());
    #[cfg(unix)]
    {
        use std::os::unix::ffi::OsStrExt;
        for chunk in p.as_os_str().as_bytes().utf8_chunks() {
            push_escaped(&mut out, chunk.valid());
            for b in chunk.invalid() {
                out.push_str(&format!("\\x{b:02x}"));
            }
        }
    }
    #[cfg(not(unix))]
    {
        // Elsewhere a name that is not Unicode is rare; U+FFFD marks what could not be shown.
        push_escaped(&mut out, &p.to_string_lossy());
    }
    out
}

#[cfg(test)]
mod unicode_version {
    use super::*;

    /// The data of §2.3 is Unicode 16.0.0's: this fails when a crate is bumped to another
    /// Unicode (pinned with `=` in Cargo.toml, so only on purpose).
    #[test]
    fn every_table_is_of_the_unicode_version_of_the_format() {
        let (a, b, c) = UNICODE_VERSION;
        let want = (u64::from(a), u64::from(b), u64::from(c));
        assert_eq!(unicode_general_category::UNICODE_VERSION, want);
        assert_eq!(unicode_normalization::UNICODE_VERSION, UNICODE_VERSION);
    }

    #[test]
    fn white_space_is_the_fixed_table() {
        for c in [
            '\t', '\n', '\u{b}', '\u{c}', '\r', ' ', '\u{85}', '\u{a0}', '\u{1680}', '\u{2000}',
            '\u{200a}', '\u{2028}', '\u{2029}', '\u{202f}', '\u{205f}', '\u{3000}',
        ] {
            assert!(is_white_space(c), "{c:?}");
        }
        // U+180E left White_Space in Unicode 6.3; U+200B was never in it.
        for c in ['a', '\u{180e}', '\u{200b}', '\u{feff}', '\u{2060}'] {
            assert!(!is_white_space(c), "{c:?}");
        }
        assert_eq!(
            WHITE_SPACE
                .iter()
                .map(|&(lo, hi)| hi as u32 - lo as u32 + 1)
                .sum::<u32>(),
            25,
            "White_Space has 25 code points"
        );
    }
}
