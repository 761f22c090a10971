//! Free-text values (hint, label, officer): the only non-ASCII a file may hold.

use std::path::Path;

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
