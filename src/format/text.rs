//! Free-text values (hint, label, officer): the only non-ASCII a file may hold.

use unicode_general_category::{GeneralCategory, get_general_category};
use unicode_normalization::{UnicodeNormalization, is_nfc};

/// Longest free-text value, in UTF-8 bytes.
pub const MAX_FREE_TEXT_BYTES: usize = 256;

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
    if s.starts_with(char::is_whitespace) || s.ends_with(char::is_whitespace) {
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
pub fn display_escaped(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if is_forbidden(c) || c == '\\' {
            if c == '\\' {
                out.push_str("\\\\");
            } else {
                out.push_str(&format!("\\u{{{:x}}}", c as u32));
            }
        } else {
            out.push(c);
        }
    }
    out
}
