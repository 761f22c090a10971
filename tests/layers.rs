//! Layering guard: reads the crate's own source and checks the module import graph, so a back
//! edge between layers fails the day it is written instead of being found at the next
//! restructuring.
//!
//! Nodes are the library's top-level modules, the children of the SPLIT parents, `lib` (the crate
//! root) and `cli` (the binary). Edges are the paths a file writes (`use` trees and inline paths)
//! that lead into another node. Test code, comments and literals are not read.
//!
//! `cargo test --test layers -- --nocapture` prints the whole edge list.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::fs;
use std::path::PathBuf;
use std::sync::OnceLock;

// ---------------------------------------------------------------------------------------------
// The rules.
// ---------------------------------------------------------------------------------------------

/// Parents whose direct children are nodes of their own: the token backends must not lean on
/// each other, which one `token` node would hide.
const SPLIT: &[&str] = &["token"];

/// The bottom layer. A leaf may import only other leaves.
const LEAVES: &[&str] = &[
    "error", "secret", "crypto", "format", "shamir", "media", "prompt", "record",
];

/// In ALLOWED: "may import every node".
const ANY: &str = "*";

/// Nodes that re-export the others; they sit outside the layering and out of cycle detection.
const FACADE: &[&str] = &["lib", "internals"];

/// Which node may import which. The layers, top to bottom:
///
///   cli -> ceremony -> slot / keys -> token backends (token::*) -> token -> leaves
///
/// An import that is not listed fails `library_edges_are_allowed`. Fix the import (move the item
/// down to the layer that owns it); do not add an upward edge here to make the test pass —
/// `allowed_list_keeps_leaves_at_the_bottom` refuses leaf -> non-leaf and any cycle in this list.
/// Nodes that do not exist yet may be listed.
const ALLOWED: &[(&str, &[&str])] = &[
    // Leaves.
    ("error", &[]),
    ("secret", &["error"]),
    ("crypto", &["secret", "error"]),
    ("format", &["crypto", "secret", "error"]),
    ("shamir", &["crypto", "secret", "error"]),
    ("media", &["format", "error"]),
    ("prompt", &["secret", "error"]),
    // The ceremony record's lines and chain: pure, no I/O (the ceremony layer appends).
    ("record", &["crypto", "format", "secret", "error"]),
    // The fuzz targets' bodies (internals only): the parsers they feed, nothing above them.
    (
        "fuzz",
        &[
            "format",
            "record",
            "shamir",
            "token::uri",
            "token::p11kit",
            "secret",
            "error",
        ],
    ),
    // Token traits and errors, then the backends, then the registry that picks a backend.
    (
        "token",
        &[
            "token::uri",
            "crypto",
            "format",
            "secret",
            "prompt",
            "error",
        ],
    ),
    ("token::uri", &["format", "secret", "error"]),
    // p11-kit's module registry: configuration files in, library paths out; nothing of custody.
    ("token::p11kit", &[]),
    // A backend finds the key a locator or a slot descriptor names and asks the person for a
    // PIN through the prompter: it may read those leaf types, never a file or another backend.
    (
        "token::pkcs11",
        &[
            "token",
            "token::p11kit",
            "token::uri",
            "crypto",
            "format",
            "prompt",
            "secret",
            "error",
        ],
    ),
    (
        "token::piv",
        &[
            "token",
            "token::uri",
            "crypto",
            "format",
            "prompt",
            "secret",
            "error",
        ],
    ),
    (
        "token::registry",
        &[
            "token",
            "token::p11kit",
            "token::pkcs11",
            "token::piv",
            "token::uri",
            "crypto",
            "format",
            "prompt",
            "secret",
            "error",
        ],
    ),
    // Slot construction and key finding.
    ("slot", &["token", "crypto", "format", "secret", "error"]),
    // The operations.
    (
        "ceremony",
        &[
            "slot",
            "token",
            "token::registry",
            "token::uri",
            "crypto",
            "format",
            "shamir",
            "media",
            "prompt",
            "record",
            "secret",
            "error",
        ],
    ),
    // The facade: the root declares and re-exports; `internals` exposes what tests and tools need.
    ("lib", &[ANY]),
    ("internals", &[ANY]),
];

/// Library paths the CLI must not use: it goes through the public API, never a backend directly.
const CLI_FORBIDDEN: &[&str] = &["internals", "token::pkcs11", "token::piv"];

/// The library crate's name, as the binary writes it.
const LIB_NAME: &str = "custody";

// ---------------------------------------------------------------------------------------------
// Lexer: just enough Rust to tell code from comments and literals.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Ident,
    Punct,
    Lit,
    Lifetime,
}

#[derive(Clone, Debug)]
struct Tok {
    kind: Kind,
    text: String,
    line: usize,
}

fn is_ident_start(c: char) -> bool {
    c == '_' || c.is_alphabetic()
}

fn is_ident_continue(c: char) -> bool {
    c == '_' || c.is_alphanumeric()
}

/// End (exclusive) of a string literal starting at `i`, if one starts there: "..", b"..", c"..",
/// r#".."#, br".." and cr"..", and byte chars b'x'.
fn string_literal_end(c: &[char], i: usize) -> Option<usize> {
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    let mut j = i;
    if at(j) == 'b' || at(j) == 'c' {
        j += 1;
    }
    if at(j) == 'r' {
        j += 1;
        let mut hashes = 0;
        while at(j) == '#' {
            hashes += 1;
            j += 1;
        }
        if at(j) != '"' {
            return None;
        }
        j += 1;
        while j < c.len() {
            if c[j] == '"' && (1..=hashes).all(|h| at(j + h) == '#') {
                return Some(j + 1 + hashes);
            }
            j += 1;
        }
        return Some(c.len());
    }
    if at(j) == '"' {
        j += 1;
        while j < c.len() {
            match c[j] {
                '\\' => j += 2,
                '"' => return Some(j + 1),
                _ => j += 1,
            }
        }
        return Some(c.len());
    }
    if j == i + 1 && c[i] == 'b' && at(j) == '\'' {
        return char_literal_end(c, j);
    }
    None
}

/// End (exclusive) of a char literal whose quote is at `q`; None when it is a lifetime or label.
fn char_literal_end(c: &[char], q: usize) -> Option<usize> {
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    if at(q + 1) == '\\' {
        // '\n', '\'', '\\', '\x41', '\u{1F600}': skip the escaped char, then up to the quote.
        let mut j = q + 3;
        while j < c.len() && c[j] != '\'' {
            j += 1;
        }
        return Some((j + 1).min(c.len()));
    }
    if at(q + 1) != '\0' && at(q + 2) == '\'' {
        return Some(q + 3);
    }
    None
}

fn lex(src: &str) -> Vec<Tok> {
    let c: Vec<char> = src.chars().collect();
    let n = c.len();
    let at = |k: usize| c.get(k).copied().unwrap_or('\0');
    let mut out = Vec::new();
    let mut line = 1;
    let mut i = 0;
    let push = |out: &mut Vec<Tok>, kind, text: String, line| out.push(Tok { kind, text, line });
    while i < n {
        let ch = c[i];
        if ch == '\n' {
            line += 1;
            i += 1;
            continue;
        }
        if ch.is_whitespace() {
            i += 1;
            continue;
        }
        if ch == '/' && at(i + 1) == '/' {
            while i < n && c[i] != '\n' {
                i += 1;
            }
            continue;
        }
        if ch == '/' && at(i + 1) == '*' {
            // Block comments nest in Rust.
            let mut depth = 0usize;
            while i < n {
                if c[i] == '/' && at(i + 1) == '*' {
                    depth += 1;
                    i += 2;
                } else if c[i] == '*' && at(i + 1) == '/' {
                    depth -= 1;
                    i += 2;
                    if depth == 0 {
                        break;
                    }
                } else {
                    if c[i] == '\n' {
                        line += 1;
                    }
                    i += 1;
                }
            }
            continue;
        }
        let start_line = line;
        if let Some(end) = string_literal_end(&c, i) {
            let text: String = c[i..end].iter().collect();
            line += text.matches('\n').count();
            push(&mut out, Kind::Lit, text, start_line);
            i = end;
            continue;
        }
        if ch == '\'' {
            if let Some(end) = char_literal_end(&c, i) {
                push(&mut out, Kind::Lit, c[i..end].iter().collect(), line);
                i = end;
            } else if is_ident_start(at(i + 1)) {
                let mut j = i + 1;
                while j < n && is_ident_continue(c[j]) {
                    j += 1;
                }
                push(&mut out, Kind::Lifetime, c[i..j].iter().collect(), line);
                i = j;
            } else {
                push(&mut out, Kind::Punct, "'".into(), line);
                i += 1;
            }
            continue;
        }
        let raw_ident = ch == 'r' && at(i + 1) == '#' && is_ident_start(at(i + 2));
        let dollar_crate = ch == '$' && c[i + 1..].starts_with(&['c', 'r', 'a', 't', 'e']);
        if is_ident_start(ch) || raw_ident || dollar_crate {
            let mut j = if raw_ident || dollar_crate {
                i + 2
            } else {
                i + 1
            };
            while j < n && is_ident_continue(c[j]) {
                j += 1;
            }
            push(&mut out, Kind::Ident, c[i..j].iter().collect(), line);
            i = j;
            continue;
        }
        if ch.is_ascii_digit() {
            let mut j = i + 1;
            while j < n && (is_ident_continue(c[j]) || (c[j] == '.' && at(j + 1).is_ascii_digit()))
            {
                j += 1;
            }
            push(&mut out, Kind::Lit, c[i..j].iter().collect(), line);
            i = j;
            continue;
        }
        if ch == ':' && at(i + 1) == ':' {
            push(&mut out, Kind::Punct, "::".into(), line);
            i += 2;
            continue;
        }
        push(&mut out, Kind::Punct, ch.to_string(), line);
        i += 1;
    }
    out
}

fn is(t: Option<&Tok>, text: &str) -> bool {
    t.is_some_and(|t| t.text == text)
}

fn is_ident(t: Option<&Tok>) -> bool {
    t.is_some_and(|t| t.kind == Kind::Ident)
}

/// Index just past the bracket matching the opener at `open`.
fn matching(toks: &[Tok], open: usize) -> usize {
    let mut depth = 0usize;
    for (k, t) in toks.iter().enumerate().skip(open) {
        match t.text.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" | "}" => {
                depth -= 1;
                if depth == 0 {
                    return k + 1;
                }
            }
            _ => {}
        }
    }
    toks.len()
}

/// An attribute starting at `i`: (end, is_inner, marks test-only code).
fn attribute_at(toks: &[Tok], i: usize) -> Option<(usize, bool, bool)> {
    if !is(toks.get(i), "#") {
        return None;
    }
    let inner = is(toks.get(i + 1), "!");
    let open = if inner { i + 2 } else { i + 1 };
    if !is(toks.get(open), "[") {
        return None;
    }
    let end = matching(toks, open);
    let body = &toks[open + 1..end.saturating_sub(1)];
    let has = |w: &str| body.iter().any(|t| t.kind == Kind::Ident && t.text == w);
    let test = (body.len() == 1 && body[0].text == "test")
        || (is(body.first(), "cfg") && has("test") && !has("not") && !has("any"));
    Some((end, inner, test))
}

/// Index just past the item (or statement) starting at `i`, after its attributes.
fn skip_item(toks: &[Tok], mut i: usize) -> usize {
    while let Some((end, _, _)) = attribute_at(toks, i) {
        i = end;
    }
    let mut depth = 0i32;
    while i < toks.len() {
        match toks[i].text.as_str() {
            "(" | "[" | "{" => depth += 1,
            ")" | "]" => depth -= 1,
            "}" => {
                depth -= 1;
                if depth == 0 {
                    return i + 1;
                }
            }
            ";" if depth == 0 => return i + 1,
            _ => {}
        }
        if depth < 0 {
            // The enclosing block ended: the item was its tail.
            return i;
        }
        i += 1;
    }
    i
}

/// Drops every item marked `#[cfg(test)]` or `#[test]`. A `#[cfg(test)] mod x;` goes with it,
/// so its file is never read.
fn strip_test_code(toks: &[Tok], file: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < toks.len() {
        if let Some((end, inner, test)) = attribute_at(toks, i) {
            if test && inner {
                let at_top = out
                    .iter()
                    .all(|t: &Tok| t.kind != Kind::Ident || t.text != "mod");
                assert!(
                    at_top,
                    "{file}: #![cfg(test)] inside an inline module is not understood by tests/layers.rs"
                );
                return Vec::new();
            }
            if test {
                i = skip_item(toks, i);
            } else {
                out.extend_from_slice(&toks[i..end]);
                i = end;
            }
            continue;
        }
        out.push(toks[i].clone());
        i += 1;
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Per-module scan: child modules, use trees, inline paths.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Debug)]
struct UseLeaf {
    segs: Vec<String>,
    glob: bool,
    /// The name the leaf brings into scope (None for globs and `as _`).
    bind: Option<String>,
    line: usize,
    /// Written with a leading `::` (extern crate path).
    global: bool,
}

#[derive(Clone, Debug)]
struct RawPath {
    segs: Vec<String>,
    line: usize,
    global: bool,
}

#[derive(Default, Debug)]
struct ModScan {
    /// Inline module path below the file's own module.
    rel: Vec<String>,
    /// `mod x;`: read from another file.
    child_files: Vec<String>,
    /// Every child module, inline or from a file.
    child_mods: BTreeSet<String>,
    uses: Vec<UseLeaf>,
    paths: Vec<RawPath>,
}

fn parse_use_tree(
    t: &[Tok],
    i: &mut usize,
    prefix: &[String],
    global: bool,
    out: &mut Vec<UseLeaf>,
) {
    let mut segs = prefix.to_vec();
    while let Some(tok) = t.get(*i) {
        match tok.text.as_str() {
            "{" => {
                *i += 1;
                while let Some(tk) = t.get(*i) {
                    match tk.text.as_str() {
                        "}" => {
                            *i += 1;
                            return;
                        }
                        "," => *i += 1,
                        _ => {
                            let before = *i;
                            parse_use_tree(t, i, &segs, global, out);
                            if *i == before {
                                *i += 1;
                            }
                        }
                    }
                }
                return;
            }
            "*" => {
                *i += 1;
                out.push(UseLeaf {
                    segs,
                    glob: true,
                    bind: None,
                    line: tok.line,
                    global,
                });
                return;
            }
            _ if tok.kind == Kind::Ident => {
                segs.push(tok.text.clone());
                *i += 1;
                if is(t.get(*i), "::") {
                    *i += 1;
                    continue;
                }
                let mut bind = Some(tok.text.clone());
                if tok.text == "self" {
                    segs.pop();
                    bind = segs.last().cloned();
                }
                if is(t.get(*i), "as") {
                    bind = t.get(*i + 1).map(|n| n.text.clone()).filter(|b| b != "_");
                    *i += 2;
                }
                if !segs.is_empty() {
                    out.push(UseLeaf {
                        segs,
                        glob: false,
                        bind,
                        line: tok.line,
                        global,
                    });
                }
                return;
            }
            _ => return,
        }
    }
}

/// `a::b::c` starting at `i` (an identifier): the segments and the index past them. A turbofish
/// ends the path; what comes before it is enough to name the module.
fn collect_path(toks: &[Tok], mut i: usize) -> (Vec<String>, usize) {
    let mut segs = vec![toks[i].text.clone()];
    i += 1;
    while is(toks.get(i), "::") && is_ident(toks.get(i + 1)) {
        segs.push(toks[i + 1].text.clone());
        i += 2;
    }
    (segs, i)
}

fn scan(toks: &[Tok], rel: Vec<String>, file: &str, out: &mut Vec<ModScan>) {
    let mut me = ModScan {
        rel: rel.clone(),
        ..ModScan::default()
    };
    let mut i = 0;
    while i < toks.len() {
        let t = &toks[i];
        let prev = if i > 0 { Some(&toks[i - 1]) } else { None };
        if t.text == "#" && is(toks.get(i + 1), "[") && is(toks.get(i + 2), "path") {
            panic!(
                "{file}:{}: #[path] on a module is not understood by tests/layers.rs",
                t.line
            );
        }
        if t.kind == Kind::Ident && t.text == "mod" && is_ident(toks.get(i + 1)) {
            let name = toks[i + 1].text.clone();
            if is(toks.get(i + 2), ";") {
                me.child_mods.insert(name.clone());
                me.child_files.push(name);
                i += 3;
                continue;
            }
            if is(toks.get(i + 2), "{") {
                let end = matching(toks, i + 2);
                let mut inner = rel.clone();
                inner.push(name.clone());
                scan(&toks[i + 3..end - 1], inner, file, out);
                me.child_mods.insert(name);
                i = end;
                continue;
            }
        }
        if t.kind == Kind::Ident && t.text == "use" && !is(toks.get(i + 1), "<") {
            i += 1;
            let global = is(toks.get(i), "::");
            if global {
                i += 1;
            }
            parse_use_tree(toks, &mut i, &[], global, &mut me.uses);
            while i < toks.len() && toks[i].text != ";" {
                i += 1;
            }
            continue;
        }
        // `pub(in crate::x)` restricts visibility; it is not a dependency.
        if t.text == "pub" && is(toks.get(i + 1), "(") && is(toks.get(i + 2), "in") {
            i = matching(toks, i + 1);
            continue;
        }
        let continues = prev.is_some_and(|p| p.text == "::" || p.text == ".");
        if t.kind == Kind::Ident
            && !continues
            && is(toks.get(i + 1), "::")
            && is_ident(toks.get(i + 2))
        {
            let (segs, j) = collect_path(toks, i);
            me.paths.push(RawPath {
                segs,
                line: t.line,
                global: false,
            });
            i = j;
            continue;
        }
        let after_value = prev.is_some_and(|p| {
            p.kind == Kind::Ident || p.kind == Kind::Lifetime || [">", ")", "]"].contains(&&*p.text)
        });
        if t.text == "::" && !after_value && is_ident(toks.get(i + 1)) {
            let (segs, j) = collect_path(toks, i + 1);
            me.paths.push(RawPath {
                segs,
                line: t.line,
                global: true,
            });
            i = j;
            continue;
        }
        i += 1;
    }
    out.push(me);
}

// ---------------------------------------------------------------------------------------------
// The crate: modules read by following `mod` declarations, then edges between nodes.
// ---------------------------------------------------------------------------------------------

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
enum Krate {
    Lib,
    Bin,
}

type ModKey = (Krate, Vec<String>);

#[derive(Debug)]
struct Module {
    file: String,
    child_mods: BTreeSet<String>,
    uses: Vec<UseLeaf>,
    paths: Vec<RawPath>,
}

/// One written path that leads into another node.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Ref {
    file: String,
    line: usize,
    from: String,
    to: String,
    /// As written, e.g. `crate::token::uri::percent_encode` or `piv::list_cards`.
    text: String,
    /// Where it resolves in the library, without the crate prefix.
    target: Vec<String>,
}

trait Source {
    fn read(&self, rel: &str) -> Option<String>;
    /// `.rs` files under `rel_dir`, recursively, as paths relative to the crate.
    fn rust_files(&self, rel_dir: &str) -> Vec<String>;
}

struct FsSource {
    root: PathBuf,
}

impl Source for FsSource {
    fn read(&self, rel: &str) -> Option<String> {
        fs::read_to_string(self.root.join(rel)).ok()
    }

    fn rust_files(&self, rel_dir: &str) -> Vec<String> {
        let mut out = Vec::new();
        let Ok(entries) = fs::read_dir(self.root.join(rel_dir)) else {
            return out;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let rel = format!("{rel_dir}/{name}");
            if e.path().is_dir() {
                out.extend(self.rust_files(&rel));
            } else if name.ends_with(".rs") {
                out.push(rel);
            }
        }
        out.sort();
        out
    }
}

/// Sources given inline, for the parser's own tests.
struct MemSource(BTreeMap<String, String>);

impl MemSource {
    fn new(files: &[(&str, &str)]) -> Self {
        MemSource(
            files
                .iter()
                .map(|(p, s)| (p.to_string(), s.to_string()))
                .collect(),
        )
    }
}

impl Source for MemSource {
    fn read(&self, rel: &str) -> Option<String> {
        self.0.get(rel).cloned()
    }

    fn rust_files(&self, rel_dir: &str) -> Vec<String> {
        let prefix = format!("{rel_dir}/");
        self.0
            .keys()
            .filter(|k| k.starts_with(&prefix) && k.ends_with(".rs"))
            .cloned()
            .collect()
    }
}

struct Crate {
    modules: BTreeMap<ModKey, Module>,
    nodes: BTreeSet<String>,
    refs: Vec<Ref>,
    /// Files under src/ that no `mod` reaches (not compiled, or test-only modules).
    unread: Vec<String>,
}

/// Directory holding the files of the child modules of the module in `file`.
fn child_dir(file: &str) -> String {
    let (dir, name) = file.rsplit_once('/').unwrap_or(("", file));
    let stem = name.trim_end_matches(".rs");
    if ["mod", "lib", "main"].contains(&stem) {
        dir.to_string()
    } else {
        format!("{dir}/{stem}")
    }
}

fn load_file(
    src: &dyn Source,
    krate: Krate,
    file: &str,
    modpath: Vec<String>,
    modules: &mut BTreeMap<ModKey, Module>,
) {
    let text = src
        .read(file)
        .unwrap_or_else(|| panic!("tests/layers.rs cannot read {file}"));
    let toks = strip_test_code(&lex(&text), file);
    let mut scans = Vec::new();
    scan(&toks, Vec::new(), file, &mut scans);
    let dir = child_dir(file);
    for s in scans {
        let mut full = modpath.clone();
        full.extend(s.rel.iter().cloned());
        let sdir = s.rel.iter().fold(dir.clone(), |d, r| format!("{d}/{r}"));
        for c in &s.child_files {
            let flat = format!("{sdir}/{c}.rs");
            let nested = format!("{sdir}/{c}/mod.rs");
            let child = match (src.read(&flat).is_some(), src.read(&nested).is_some()) {
                (true, false) => flat,
                (false, true) => nested,
                _ => panic!("{file}: `mod {c};` has no single file ({flat} or {nested})"),
            };
            let mut cpath = full.clone();
            cpath.push(c.clone());
            load_file(src, krate, &child, cpath, modules);
        }
        modules.insert(
            (krate, full),
            Module {
                file: file.to_string(),
                child_mods: s.child_mods,
                uses: s.uses,
                paths: s.paths,
            },
        );
    }
}

/// Guards against `use` cycles (mutual globs such as `pub use open::*` / `use super::*`).
type Seen = BTreeSet<(ModKey, String)>;

impl Crate {
    fn load(src: &dyn Source) -> Crate {
        let mut modules = BTreeMap::new();
        load_file(src, Krate::Lib, "src/lib.rs", Vec::new(), &mut modules);
        if src.read("src/main.rs").is_some() {
            load_file(src, Krate::Bin, "src/main.rs", Vec::new(), &mut modules);
        }
        let read: BTreeSet<&str> = modules.values().map(|m| m.file.as_str()).collect();
        let unread = src
            .rust_files("src")
            .into_iter()
            .filter(|f| !read.contains(f.as_str()))
            .collect();

        // Nodes come from the module tree, so a test-only file is not a node.
        let mut nodes = BTreeSet::from(["lib".to_string()]);
        for (krate, path) in modules.keys() {
            if *krate != Krate::Lib || path.is_empty() {
                continue;
            }
            nodes.insert(path[0].clone());
            if path.len() >= 2 && SPLIT.contains(&path[0].as_str()) {
                nodes.insert(format!("{}::{}", path[0], path[1]));
            }
        }

        let mut c = Crate {
            modules,
            nodes,
            refs: Vec::new(),
            unread,
        };
        c.refs = c.find_refs();
        c
    }

    /// The node a library path belongs to: the longest node prefix, else the root (`crate::X`
    /// where X is an item re-exported at the root).
    fn node_of_lib(&self, path: &[String]) -> String {
        let Some(top) = path.first() else {
            return "lib".into();
        };
        if !self.nodes.contains(top) {
            return "lib".into();
        }
        if SPLIT.contains(&top.as_str())
            && let Some(sub) = path.get(1)
        {
            let n = format!("{top}::{sub}");
            if self.nodes.contains(&n) {
                return n;
            }
        }
        top.clone()
    }

    fn node_of(&self, key: &ModKey) -> String {
        match key.0 {
            Krate::Bin => "cli".into(),
            Krate::Lib => self.node_of_lib(&key.1),
        }
    }

    /// Resolves a written path in module `key`: the absolute path, and the absolute path of the
    /// `use` binding it went through, if any.
    fn resolve(
        &self,
        key: &ModKey,
        segs: &[String],
        global: bool,
        seen: &mut Seen,
    ) -> Option<(ModKey, Option<ModKey>)> {
        let m = self.modules.get(key)?;
        let first = segs.first()?.as_str();
        let direct = |krate: Krate, mut base: Vec<String>, rest: &[String]| {
            base.extend_from_slice(rest);
            Some(((krate, base), None))
        };
        if global {
            return if key.0 == Krate::Bin && first == LIB_NAME {
                direct(Krate::Lib, Vec::new(), &segs[1..])
            } else {
                None
            };
        }
        match first {
            "crate" | "$crate" => direct(key.0, Vec::new(), &segs[1..]),
            "self" => direct(key.0, key.1.clone(), &segs[1..]),
            "super" => {
                let mut base = key.1.clone();
                let mut k = 0;
                while k < segs.len() && segs[k] == "super" {
                    base.pop()?;
                    k += 1;
                }
                direct(key.0, base, &segs[k..])
            }
            _ if m.child_mods.contains(first) => direct(key.0, key.1.clone(), segs),
            _ => {
                if let Some(b) = self.binding(key, first, seen) {
                    let mut t = b.1.clone();
                    t.extend_from_slice(&segs[1..]);
                    return Some(((b.0, t), Some(b)));
                }
                if key.0 == Krate::Bin && first == LIB_NAME {
                    return direct(Krate::Lib, Vec::new(), &segs[1..]);
                }
                None
            }
        }
    }

    /// What `name` stands for in module `key` through its `use` declarations (globs included).
    fn binding(&self, key: &ModKey, name: &str, seen: &mut Seen) -> Option<ModKey> {
        if !seen.insert((key.clone(), name.to_string())) {
            return None;
        }
        let m = self.modules.get(key)?;
        for u in &m.uses {
            if !u.glob && u.bind.as_deref() == Some(name) {
                return self.resolve(key, &u.segs, u.global, seen).map(|r| r.0);
            }
        }
        for u in m.uses.iter().filter(|u| u.glob) {
            let Some((src, _)) = self.resolve(key, &u.segs, u.global, seen) else {
                continue;
            };
            let Some(sm) = self.modules.get(&src) else {
                continue;
            };
            if sm.child_mods.contains(name) {
                let mut p = src.1.clone();
                p.push(name.to_string());
                return Some((src.0, p));
            }
            if let Some(b) = self.binding(&src, name, seen) {
                return Some(b);
            }
        }
        None
    }

    fn find_refs(&self) -> Vec<Ref> {
        let mut refs = BTreeSet::new();
        for (key, m) in &self.modules {
            let from = self.node_of(key);
            let mut add = |target: ModKey, text: String, line: usize| {
                if target.0 != Krate::Lib {
                    return;
                }
                let to = self.node_of_lib(&target.1);
                if to != from {
                    refs.insert(Ref {
                        file: m.file.clone(),
                        line,
                        from: from.clone(),
                        to,
                        text,
                        target: target.1,
                    });
                }
            };
            for u in &m.uses {
                if let Some((target, _)) = self.resolve(key, &u.segs, u.global, &mut Seen::new()) {
                    let lead = if u.global { "::" } else { "" };
                    let tail = if u.glob { "::*" } else { "" };
                    add(target, format!("{lead}{}{tail}", u.segs.join("::")), u.line);
                }
            }
            for p in &m.paths {
                let Some((target, via)) = self.resolve(key, &p.segs, p.global, &mut Seen::new())
                else {
                    continue;
                };
                // In the library, `Name::x` after `use crate::a::Name` adds nothing the `use`
                // did not already say, unless it reaches a deeper node (`token::pkcs11::..`
                // after `use crate::token`). The CLI keeps every path: its rule is about paths.
                if key.0 == Krate::Lib
                    && let Some(base) = via
                    && base.0 == Krate::Lib
                    && self.node_of_lib(&base.1) == self.node_of_lib(&target.1)
                {
                    continue;
                }
                let lead = if p.global { "::" } else { "" };
                add(target, format!("{lead}{}", p.segs.join("::")), p.line);
            }
        }
        refs.into_iter().collect()
    }

    fn library_refs(&self) -> impl Iterator<Item = &Ref> {
        self.refs.iter().filter(|r| r.from != "cli")
    }
}

fn real() -> &'static Crate {
    static CRATE: OnceLock<Crate> = OnceLock::new();
    CRATE.get_or_init(|| {
        Crate::load(&FsSource {
            root: PathBuf::from(env!("CARGO_MANIFEST_DIR")),
        })
    })
}

// ---------------------------------------------------------------------------------------------
// Checks. Each returns the problems it found, one line each.
// ---------------------------------------------------------------------------------------------

type Allowed<'a> = &'a [(&'a str, &'a [&'a str])];

fn allowed_map<'a>(allowed: Allowed<'a>) -> BTreeMap<&'a str, &'a [&'a str]> {
    allowed.iter().copied().collect()
}

fn may_import(allowed: &BTreeMap<&str, &[&str]>, from: &str, to: &str) -> bool {
    allowed
        .get(from)
        .is_some_and(|tos| tos.contains(&ANY) || tos.contains(&to))
}

/// One line per file:line and edge, with every path written there (a grouped `use` is one line).
fn describe(refs: &[&Ref]) -> Vec<String> {
    let mut lines: BTreeMap<(&str, usize, &str, &str), Vec<&str>> = BTreeMap::new();
    for r in refs {
        lines
            .entry((&r.file, r.line, &r.from, &r.to))
            .or_default()
            .push(&r.text);
    }
    lines
        .into_iter()
        .map(|((file, line, from, to), texts)| {
            format!("{file}:{line}: {from} -> {to}  `{}`", texts.join("`, `"))
        })
        .collect()
}

fn edge_counts<'a>(refs: impl Iterator<Item = &'a Ref>) -> String {
    let mut counts: BTreeMap<(String, String), usize> = BTreeMap::new();
    for r in refs {
        *counts.entry((r.from.clone(), r.to.clone())).or_default() += 1;
    }
    counts
        .iter()
        .map(|((f, t), n)| format!("{f} -> {t} ({n})"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn check_allowed(c: &Crate, allowed: Allowed) -> Vec<String> {
    let map = allowed_map(allowed);
    let bad: Vec<&Ref> = c
        .library_refs()
        .filter(|r| !may_import(&map, &r.from, &r.to))
        .collect();
    let unlisted: BTreeSet<&str> = bad
        .iter()
        .map(|r| r.from.as_str())
        .filter(|from| !map.contains_key(from))
        .collect();
    let mut out: Vec<String> = unlisted
        .iter()
        .map(|n| format!("{n} has no entry in ALLOWED: every import it makes is refused"))
        .collect();
    out.extend(describe(&bad));
    if !bad.is_empty() {
        out.push(format!(
            "forbidden edges (paths written): {}",
            edge_counts(bad.iter().copied())
        ));
    }
    out
}

/// Cycles of a graph given as adjacency sets: for each strongly connected group of more than
/// one node, one shortest cycle through its first node, and the group.
fn find_cycles(g: &BTreeMap<String, BTreeSet<String>>) -> Vec<(Vec<String>, BTreeSet<String>)> {
    let mut all: BTreeSet<String> = g.keys().cloned().collect();
    all.extend(g.values().flatten().cloned());
    let next = |u: &str| g.get(u).into_iter().flatten();
    let reach = |a: &str| {
        let mut seen = BTreeSet::new();
        let mut stack = vec![a.to_string()];
        while let Some(u) = stack.pop() {
            for v in next(&u) {
                if seen.insert(v.clone()) {
                    stack.push(v.clone());
                }
            }
        }
        seen
    };
    let reaches: BTreeMap<String, BTreeSet<String>> =
        all.iter().map(|a| (a.clone(), reach(a))).collect();
    let mut done = BTreeSet::new();
    let mut out = Vec::new();
    for a in &all {
        if done.contains(a) {
            continue;
        }
        let group: BTreeSet<String> = all
            .iter()
            .filter(|b| reaches[a].contains(*b) && reaches[*b].contains(a))
            .cloned()
            .collect();
        if group.len() < 2 {
            continue;
        }
        done.extend(group.iter().cloned());
        // Shortest way from a back to a, inside the group.
        let mut parent: BTreeMap<String, String> = BTreeMap::new();
        let mut queue = VecDeque::from([a.clone()]);
        let mut last = None;
        'bfs: while let Some(u) = queue.pop_front() {
            for v in next(&u) {
                if !group.contains(v) {
                    continue;
                }
                if v == a {
                    last = Some(u.clone());
                    break 'bfs;
                }
                if !parent.contains_key(v) {
                    parent.insert(v.clone(), u.clone());
                    queue.push_back(v.clone());
                }
            }
        }
        let mut back = Vec::new();
        let mut u = last.expect("a strongly connected group has a cycle");
        while &u != a {
            let p = parent[&u].clone();
            back.push(u);
            u = p;
        }
        back.reverse();
        let mut cycle = vec![a.clone()];
        cycle.extend(back);
        cycle.push(a.clone());
        out.push((cycle, group));
    }
    out
}

fn check_cycles(c: &Crate, allowed: Allowed) -> Vec<String> {
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for r in c.library_refs() {
        if !FACADE.contains(&r.from.as_str()) && !FACADE.contains(&r.to.as_str()) {
            g.entry(r.from.clone()).or_default().insert(r.to.clone());
        }
    }
    let mut out = Vec::new();
    for (cycle, group) in find_cycles(&g) {
        out.push(format!("cycle: {}", cycle.join(" -> ")));
        for w in cycle.windows(2) {
            let uses: Vec<&Ref> = c
                .library_refs()
                .filter(|r| r.from == w[0] && r.to == w[1])
                .collect();
            let lines = describe(&uses);
            for l in lines.iter().take(3) {
                out.push(format!("    {l}"));
            }
            if lines.len() > 3 {
                out.push(format!("    ... and {} more", lines.len() - 3));
            }
        }
        if group.len() + 1 > cycle.len() {
            let names: Vec<&str> = group.iter().map(String::as_str).collect();
            out.push(format!("    (tangled together: {})", names.join(", ")));
        }
    }
    // A root re-export hides which layer an item comes from, and goes up through the facade.
    let map = allowed_map(allowed);
    let via_root: Vec<&Ref> = c
        .library_refs()
        .filter(|r| {
            r.to == "lib" && !FACADE.contains(&r.from.as_str()) && !may_import(&map, &r.from, "lib")
        })
        .collect();
    for l in describe(&via_root) {
        out.push(format!(
            "{l}  (goes through the crate root; import the module that owns the item)"
        ));
    }
    out
}

fn check_cli(c: &Crate) -> Vec<String> {
    let mut out = Vec::new();
    for r in c.refs.iter().filter(|r| r.from == "cli") {
        for f in CLI_FORBIDDEN {
            let prefix: Vec<&str> = f.split("::").collect();
            if r.target.len() >= prefix.len() && r.target.iter().zip(&prefix).all(|(a, b)| a == b) {
                out.push(format!(
                    "{}:{}: `{}` = {LIB_NAME}::{} reaches into {LIB_NAME}::{f}",
                    r.file,
                    r.line,
                    r.text,
                    r.target.join("::")
                ));
            }
        }
    }
    out
}

fn allowed_list_problems(allowed: Allowed, leaves: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    for (from, tos) in allowed {
        if !seen.insert(*from) {
            out.push(format!("{from} appears twice in ALLOWED"));
        }
        if leaves.contains(from) {
            for to in *tos {
                if !leaves.contains(to) {
                    out.push(format!("leaf {from} may import {to}, which is not a leaf"));
                }
            }
        }
    }
    let mut g: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, tos) in allowed {
        if FACADE.contains(from) {
            continue;
        }
        for to in *tos {
            if *to != ANY && !FACADE.contains(to) {
                g.entry(from.to_string())
                    .or_default()
                    .insert(to.to_string());
            }
        }
    }
    for (from, tos) in allowed {
        if tos.contains(&ANY) && !FACADE.contains(from) {
            out.push(format!("{from} may import everything but is not a facade"));
        }
    }
    for (cycle, _) in find_cycles(&g) {
        out.push(format!("ALLOWED has a cycle: {}", cycle.join(" -> ")));
    }
    out
}

fn edge_list(c: &Crate) -> String {
    let mut m: BTreeMap<&str, BTreeSet<&str>> = c
        .nodes
        .iter()
        .map(|n| (n.as_str(), BTreeSet::new()))
        .collect();
    m.entry("cli").or_default();
    for r in &c.refs {
        m.entry(r.from.as_str()).or_default().insert(r.to.as_str());
    }
    let mut s = String::new();
    for (from, tos) in &m {
        let tos: Vec<&str> = tos.iter().copied().collect();
        let tos = if tos.is_empty() {
            "(nothing)".to_string()
        } else {
            tos.join(", ")
        };
        s.push_str(&format!("{from} -> {tos}\n"));
    }
    s
}

fn cli_paths(c: &Crate) -> BTreeSet<String> {
    c.refs
        .iter()
        .filter(|r| r.from == "cli")
        .map(|r| format!("{LIB_NAME}::{}", r.target.join("::")))
        .collect()
}

fn report(title: &str, problems: &[String]) -> String {
    format!("{title}\n  {}\n", problems.join("\n  "))
}

// ---------------------------------------------------------------------------------------------
// The checks on this crate.
// ---------------------------------------------------------------------------------------------

#[test]
fn library_edges_are_allowed() {
    let problems = check_allowed(real(), ALLOWED);
    assert!(
        problems.is_empty(),
        "{}",
        report(
            "imports that break the layering (see ALLOWED in tests/layers.rs; fix the import, \
             not the list):",
            &problems
        )
    );
}

/// Every layer the project has, which the reader must find from src/lib.rs: a module hidden
/// from it (declared by a macro, say) would make every other check pass on nothing.
const EXPECTED_NODES: &[&str] = &[
    "ceremony",
    "crypto",
    "error",
    "format",
    "media",
    "prompt",
    "record",
    "secret",
    "shamir",
    "slot",
    "token",
    "token::piv",
    "token::pkcs11",
    "token::registry",
    "token::uri",
];

#[test]
fn every_layer_is_read() {
    let c = real();
    let missing: Vec<&str> = EXPECTED_NODES
        .iter()
        .copied()
        .filter(|n| !c.nodes.iter().any(|m| m == n))
        .collect();
    assert!(
        missing.is_empty(),
        "modules not reached from src/lib.rs: {missing:?}; found: {:?}",
        c.nodes
    );
    // Every layer imports something or is imported: the edges were read too.
    let with_edges: BTreeSet<&str> = c
        .library_refs()
        .flat_map(|r| [r.from.as_str(), r.to.as_str()])
        .collect();
    for n in EXPECTED_NODES {
        assert!(with_edges.contains(n), "no import edge read for {n}");
    }
}

#[test]
fn allowed_list_keeps_leaves_at_the_bottom() {
    let problems = allowed_list_problems(ALLOWED, LEAVES);
    assert!(
        problems.is_empty(),
        "{}",
        report("ALLOWED itself is wrong:", &problems)
    );
}

#[test]
fn library_graph_has_no_cycle() {
    let problems = check_cycles(real(), ALLOWED);
    assert!(
        problems.is_empty(),
        "{}",
        report(
            "the library's modules import each other in a circle, or through the root:",
            &problems
        )
    );
}

#[test]
fn cli_uses_only_the_public_api() {
    let problems = check_cli(real());
    assert!(
        problems.is_empty(),
        "{}",
        report("the CLI reaches past the library's public API:", &problems)
    );
}

#[test]
fn print_edge_list() {
    let c = real();
    println!("edges (from -> to), library and cli:\n{}", edge_list(c));
    println!("library paths the cli uses:");
    for p in cli_paths(c) {
        println!("  {p}");
    }
    if !c.unread.is_empty() {
        println!("files under src/ no `mod` reaches (test-only or not compiled):");
        for f in &c.unread {
            println!("  {f}");
        }
    }
    // Nothing to assert; the edge list must at least have found the crate.
    assert!(c.nodes.len() > 1, "no module found under src/");
}

// ---------------------------------------------------------------------------------------------
// The parser's own tests: the guard above is only worth something if it can fail.
// ---------------------------------------------------------------------------------------------

fn mini(files: &[(&str, &str)]) -> Crate {
    Crate::load(&MemSource::new(files))
}

/// Edges of a mini crate as "from -> to `text`" lines.
fn edges(c: &Crate) -> BTreeSet<String> {
    c.refs
        .iter()
        .map(|r| format!("{} -> {} `{}`", r.from, r.to, r.text))
        .collect()
}

fn set(lines: &[&str]) -> BTreeSet<String> {
    lines.iter().map(|s| s.to_string()).collect()
}

#[test]
fn lexer_tells_code_from_comments_literals_and_lifetimes() {
    let src = r####"
        //! crate::token in an inner doc comment
        /// crate::token in a doc comment
        /* crate::token /* nested crate::token */ still a comment crate::token */
        fn f<'a>(x: &'a str, y: &'static str) -> char {
            let _ = "crate::token \" still a string {";
            let _ = r#"crate::token "} still raw"#;
            let _ = br##"crate::token "# still raw"##;
            let _ = b"crate::token";
            let _ = c"crate::token";
            let _ = ('{', '\'', '\\', '\u{7d}', b'}');
            'outer: loop { break 'outer; }
            '}'
        }
    "####;
    let toks = lex(src);
    assert!(
        !toks
            .iter()
            .any(|t| t.kind != Kind::Lit && t.text.contains("token")),
        "comment or literal text leaked into code tokens: {toks:?}"
    );
    let lifetimes: Vec<&str> = toks
        .iter()
        .filter(|t| t.kind == Kind::Lifetime)
        .map(|t| t.text.as_str())
        .collect();
    assert_eq!(lifetimes, ["'a", "'a", "'static", "'outer", "'outer"]);
    let chars: Vec<&str> = toks
        .iter()
        .filter(|t| t.kind == Kind::Lit && t.text.contains('\''))
        .map(|t| t.text.as_str())
        .collect();
    assert_eq!(chars, ["'{'", r"'\''", r"'\\'", r"'\u{7d}'", "b'}'", "'}'"]);
    let opens = toks.iter().filter(|t| t.text == "{").count();
    let closes = toks.iter().filter(|t| t.text == "}").count();
    assert_eq!(
        (opens, closes),
        (2, 2),
        "braces inside literals were counted"
    );
    let fn_line = toks.iter().find(|t| t.text == "fn").unwrap().line;
    assert_eq!(fn_line, 5, "line numbers drift across comments");
}

#[test]
fn parser_reads_grouped_nested_and_root_uses() {
    let c = mini(&[
        (
            "src/lib.rs",
            "pub mod a;\npub mod b;\npub mod c;\npub mod token;\npub use c::C;\n",
        ),
        ("src/token/mod.rs", "pub mod pkcs11;\n"),
        ("src/token/pkcs11.rs", ""),
        ("src/b.rs", ""),
        ("src/c.rs", ""),
        (
            "src/a.rs",
            "use crate::{b, token::{self, pkcs11::{Session, self as p11}}};\n\
             pub(crate) use crate::c::{self, C as Cee};\n\
             pub use crate::C;\n\
             use crate::b::*;\n\
             use std::fmt;\n\
             mod inner { pub fn x() {} }\n\
             use self::inner::x;\n",
        ),
    ]);
    assert_eq!(
        edges(&c),
        set(&[
            "a -> b `crate::b`",
            "a -> b `crate::b::*`",
            "a -> c `crate::c`",
            "a -> c `crate::c::C`",
            "a -> lib `crate::C`",
            "a -> token `crate::token`",
            "a -> token::pkcs11 `crate::token::pkcs11`",
            "a -> token::pkcs11 `crate::token::pkcs11::Session`",
            "lib -> c `c::C`",
        ])
    );
    let lines: Vec<usize> = c
        .refs
        .iter()
        .filter(|r| r.text == "crate::c::C")
        .map(|r| r.line)
        .collect();
    assert_eq!(lines, [2]);
}

#[test]
fn parser_resolves_super_self_inline_paths_and_nodes() {
    let c = mini(&[
        (
            "src/lib.rs",
            "pub mod token;\npub mod ceremony;\npub mod format;\n",
        ),
        (
            "src/token/mod.rs",
            "pub mod pkcs11;\npub mod piv;\npub mod uri;\nuse self::uri::Uri;\n\
             fn f() { pkcs11::open(); }\n",
        ),
        (
            "src/token/pkcs11/mod.rs",
            "mod session;\npub struct Module;\n",
        ),
        (
            "src/token/pkcs11/session.rs",
            "use super::super::piv::Card;\nuse super::Module;\n\
             fn g() { super::super::uri::parse(); }\n",
        ),
        (
            "src/token/piv.rs",
            "use super::pkcs11::Session;\n\
             fn h() { super::pkcs11::Session::open(); let _ = crate::format::parse(x); }\n",
        ),
        ("src/token/uri.rs", "use super::*;\n"),
        ("src/format/mod.rs", "pub fn parse() {}\n"),
        ("src/ceremony/mod.rs", "mod open;\nuse crate::token;\n"),
        (
            "src/ceremony/open.rs",
            "use super::*;\nfn f() { token::piv::card(); token::Thing::new(); }\n",
        ),
    ]);
    assert_eq!(
        c.nodes,
        set(&[
            "ceremony",
            "format",
            "lib",
            "token",
            "token::piv",
            "token::pkcs11",
            "token::uri"
        ])
    );
    assert_eq!(
        c.node_of(&(
            Krate::Lib,
            vec!["token".into(), "pkcs11".into(), "session".into()]
        )),
        "token::pkcs11"
    );
    assert_eq!(
        edges(&c),
        set(&[
            "ceremony -> token `crate::token`",
            "ceremony -> token::piv `token::piv::card`",
            "token -> token::pkcs11 `pkcs11::open`",
            "token -> token::uri `self::uri::Uri`",
            "token::piv -> format `crate::format::parse`",
            "token::piv -> token::pkcs11 `super::pkcs11::Session`",
            "token::piv -> token::pkcs11 `super::pkcs11::Session::open`",
            "token::pkcs11 -> token::piv `super::super::piv::Card`",
            "token::pkcs11 -> token::uri `super::super::uri::parse`",
            "token::uri -> token `super::*`",
        ])
    );
    let session = c
        .refs
        .iter()
        .find(|r| r.text == "super::super::uri::parse")
        .unwrap();
    assert_eq!(
        (session.file.as_str(), session.line),
        ("src/token/pkcs11/session.rs", 3)
    );
}

#[test]
fn parser_skips_test_code_comments_and_literals() {
    let c = mini(&[
        (
            "src/lib.rs",
            "pub mod a;\npub mod b;\npub mod c;\npub mod d;\npub mod e;\n",
        ),
        ("src/b.rs", ""),
        ("src/c.rs", ""),
        ("src/d.rs", ""),
        ("src/e.rs", ""),
        (
            "src/a.rs",
            r####"//! Mentions crate::c::X in the module docs.
use crate::b::B;

/// See [`crate::c::Doc`] and crate::c::more.
#[doc = "crate::c::attr"]
pub fn f() -> &'static str {
    "crate::c::in_a_string"
}

#[cfg(test)]
mod tests {
    use crate::c::C;
    const S: &str = "}";
    const R: &str = r#"} " }"#;
    // } in a comment
    /* } in a block /* nested } */ comment */
    const CH: char = '}';
    const Q: char = '\'';
    fn life<'a>(x: &'a str) -> &'a str { x }
    fn g() { crate::c::call(); }
}

#[test]
fn lone_test() { crate::c::call(); }

#[cfg(not(test))]
use crate::e::E;

fn after() { crate::d::call(); }

#[cfg(test)]
mod more;
"####,
        ),
        ("src/a/more.rs", "use crate::c::C;\n"),
    ]);
    assert_eq!(
        edges(&c),
        set(&[
            "a -> b `crate::b::B`",
            "a -> d `crate::d::call`",
            "a -> e `crate::e::E`",
        ])
    );
    assert_eq!(c.unread, ["src/a/more.rs"]);
    let d = c.refs.iter().find(|r| r.to == "d").unwrap();
    assert_eq!(
        d.line, 29,
        "line numbers drift across the skipped test module"
    );
}

#[test]
fn parser_reads_the_cli_paths() {
    let c = mini(&[
        (
            "src/lib.rs",
            "pub mod token;\npub mod internals;\npub use token::Thing;\n",
        ),
        ("src/internals.rs", ""),
        (
            "src/token/mod.rs",
            "pub mod pkcs11;\npub mod uri;\npub struct Thing;\n",
        ),
        ("src/token/pkcs11.rs", ""),
        ("src/token/uri.rs", ""),
        ("src/main.rs", "mod cli;\nfn main() { cli::main(); }\n"),
        (
            "src/cli/mod.rs",
            "mod term;\n\
             use custody::token::{self, uri::Uri};\n\
             use custody::Thing;\n\
             use crate::cli::term::X;\n\
             pub fn main() {\n\
                 custody::internals::go();\n\
                 let _ = token::pkcs11::KeyKind::Aes;\n\
                 let _ = ::custody::token::uri::parse();\n\
                 self::term::y();\n\
             }\n",
        ),
        ("src/cli/term.rs", "use custody::token::pkcs11::Session;\n"),
    ]);
    assert_eq!(
        edges(&c),
        set(&[
            "cli -> internals `custody::internals::go`",
            "cli -> lib `custody::Thing`",
            "cli -> token `custody::token`",
            "cli -> token::pkcs11 `custody::token::pkcs11::Session`",
            "cli -> token::pkcs11 `token::pkcs11::KeyKind::Aes`",
            "cli -> token::uri `::custody::token::uri::parse`",
            "cli -> token::uri `custody::token::uri::Uri`",
            "lib -> token `token::Thing`",
        ])
    );
    let problems = check_cli(&c);
    assert_eq!(problems.len(), 3, "{problems:#?}");
    assert!(problems[0].starts_with("src/cli/mod.rs:6: `custody::internals::go`"));
    assert!(
        problems[1]
            .contains("`token::pkcs11::KeyKind::Aes` = custody::token::pkcs11::KeyKind::Aes")
    );
    assert!(problems[2].starts_with("src/cli/term.rs:1:"));
}

#[test]
fn checks_catch_back_edges_cycles_and_root_imports() {
    let good = mini(&[
        (
            "src/lib.rs",
            "pub mod error;\npub mod crypto;\npub mod format;\npub mod token;\npub use error::Error;\n",
        ),
        ("src/error.rs", ""),
        ("src/crypto.rs", "use crate::error::Error;\n"),
        ("src/format.rs", "use crate::crypto::Key;\n"),
        ("src/token/mod.rs", "use crate::format::Descriptor;\n"),
    ]);
    assert_eq!(check_allowed(&good, ALLOWED), Vec::<String>::new());
    assert_eq!(check_cycles(&good, ALLOWED), Vec::<String>::new());

    let bad = mini(&[
        (
            "src/lib.rs",
            "pub mod error;\npub mod crypto;\npub mod format;\npub mod token;\npub use error::Error;\n",
        ),
        ("src/error.rs", ""),
        (
            "src/crypto.rs",
            "use crate::format::KdfParams;\nuse crate::Error;\n",
        ),
        ("src/format.rs", "use crate::token::uri;\n"),
        ("src/token/mod.rs", "use crate::crypto::Key;\n"),
    ]);
    let allowed = check_allowed(&bad, ALLOWED);
    assert_eq!(
        allowed,
        [
            "src/crypto.rs:1: crypto -> format  `crate::format::KdfParams`",
            "src/crypto.rs:2: crypto -> lib  `crate::Error`",
            "src/format.rs:1: format -> token  `crate::token::uri`",
            "forbidden edges (paths written): crypto -> format (1), crypto -> lib (1), format -> token (1)",
        ]
    );
    let cycles = check_cycles(&bad, ALLOWED);
    assert_eq!(cycles[0], "cycle: crypto -> format -> token -> crypto");
    assert!(
        cycles
            .iter()
            .any(|l| l.starts_with("src/crypto.rs:2: crypto -> lib"))
    );
}

#[test]
fn allowed_list_check_refuses_upward_edges() {
    let bad: Allowed = &[
        ("crypto", &["format", "error"]),
        ("format", &["token"]),
        ("token", &["crypto"]),
        ("slot", &[ANY]),
    ];
    let problems = allowed_list_problems(bad, LEAVES);
    assert_eq!(
        problems,
        [
            "leaf format may import token, which is not a leaf",
            "slot may import everything but is not a facade",
            "ALLOWED has a cycle: crypto -> format -> token -> crypto",
        ]
    );
}
