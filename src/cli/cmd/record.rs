//! `custody record`: check a ceremony record, or show it as a table.

use std::io::{self, Write};

use custody::{RecordEntry, RecordFile, RecordRole, RecordToken, display_escaped};

use crate::cli::args::RecordCommand;
use crate::cli::output::{self, Out};
use crate::cli::{Failure, Res};

pub fn run(c: RecordCommand, stdout: &mut Out) -> Res {
    match c {
        RecordCommand::Verify { file, head } => {
            let s = custody::verify_record(&file, head.as_deref()).map_err(|e| Failure::of(&e))?;
            output::document(
                "record",
                serde_json::json!({
                    "path": std::path::absolute(&file).unwrap_or(file.clone()).display().to_string(),
                    "lines": s.lines,
                    "last_head": s.last_head.as_ref().map(|h| h.to_string()),
                    "head_line": s.head_line,
                }),
            );
            match &s.last_head {
                None => writeln!(stdout, "{}: no line yet.", custody::display_path(&file))?,
                Some(last) => {
                    writeln!(
                        stdout,
                        "{}: {} line(s); every line and the chain verify.",
                        custody::display_path(&file),
                        s.lines
                    )?;
                    writeln!(stdout, "  last head:   {last}")?;
                }
            }
            if let (Some(n), Some(h)) = (s.head_line, &head) {
                writeln!(stdout, "  head {} is line {n}.", display_escaped(h.trim()))?;
            }
            Ok(())
        }
        RecordCommand::Show { file } => {
            let checked = custody::read_record(&file).map_err(|e| Failure::of(&e))?;
            // The lines as they are (one JSON object each, docs/RECORD.md), with their heads.
            output::document(
                "entries",
                serde_json::Value::Array(
                    checked
                        .entries
                        .iter()
                        .filter_map(|e| serde_json::from_str(&e.line.encode()).ok())
                        .collect(),
                ),
            );
            output::document(
                "heads",
                serde_json::Value::Array(
                    checked
                        .entries
                        .iter()
                        .map(|e| custody::RecordHead(e.hash).to_string().into())
                        .collect(),
                ),
            );
            writeln!(
                stdout,
                "{:<5} {:<20}  {:<12}  {:<11}  {:>4}  host",
                "line", "time (UTC)", "operation", "outcome", "exit"
            )?;
            for e in &checked.entries {
                show_entry(stdout, e)?;
            }
            match checked.broken {
                Some(broken) => Err(Failure::of(&custody::RecordError::Broken {
                    path: file,
                    broken,
                })),
                None => {
                    writeln!(
                        stdout,
                        "{} line(s); every line and the chain verify.",
                        checked.entries.len()
                    )?;
                    Ok(())
                }
            }
        }
    }
}

fn show_entry(out: &mut Out, e: &RecordEntry) -> io::Result<()> {
    let l = &e.line;
    writeln!(
        out,
        "{:<5} {:<20}  {:<12}  {:<11}  {:>4}  {}",
        e.number,
        display_escaped(&l.time),
        l.op.name(),
        l.outcome.name(),
        l.exit,
        display_escaped(&l.host)
    )?;
    let row = |out: &mut Out, k: &str, v: &str| writeln!(out, "      {k:<12} {v}");
    row(out, "head", &custody::RecordHead(e.hash).to_string())?;
    if let Some(fp) = &l.fingerprint {
        row(out, "fingerprint", &custody::record_fingerprint_display(fp))?;
    }
    if let Some(k) = &l.kdf {
        row(
            out,
            "kdf",
            &format!(
                "Argon2id {} MiB, t={}, p={}",
                k.memory_kib / 1024,
                k.iterations,
                k.parallelism
            ),
        )?;
    }
    for f in &l.files {
        row(
            out,
            match f.role {
                RecordRole::Read => "read",
                RecordRole::Written => "written",
            },
            &file_text(f),
        )?;
    }
    for t in &l.tokens {
        row(out, "token", &token_text(t))?;
    }
    if let (Some(ids), Some(check)) = (&l.inputs, &l.input_check) {
        row(
            out,
            "input sets",
            &format!(
                "{} ({})",
                if ids.is_empty() {
                    "none read".to_string()
                } else {
                    ids.iter().map(hex::encode).collect::<Vec<_>>().join(", ")
                },
                match check {
                    custody::RecordInputCheck::Unchecked => "unchecked",
                    custody::RecordInputCheck::Record => "checked against the record",
                    custody::RecordInputCheck::Expected => "checked against --expect-fingerprint",
                    _ => "checked",
                }
            ),
        )?;
    }
    row(out, "custody", &display_escaped(&l.custody))
}

fn file_text(f: &RecordFile) -> String {
    let mut s = display_escaped(&f.path);
    match (&f.set, f.index) {
        (Some(set), Some(i)) => s.push_str(&format!(", set {}, share {i}", hex::encode(set))),
        _ => s.push_str(", not a readable custody file"),
    }
    if let Some(o) = f.officer.as_deref().filter(|o| !o.is_empty()) {
        s.push_str(&format!(", officer \"{}\"", display_escaped(o)));
    }
    match &f.sha256 {
        Some(h) => s.push_str(&format!(", sha256 {}", hex::encode(h))),
        None => s.push_str(", not read"),
    }
    s
}

fn token_text(t: &RecordToken) -> String {
    let mut s = format!(
        "{} serial \"{}\"",
        display_escaped(&t.kind),
        display_escaped(&t.serial)
    );
    if let Some(l) = &t.label {
        s.push_str(&format!(", token \"{}\"", display_escaped(l)));
    }
    if let Some(l) = &t.key_label {
        s.push_str(&format!(", key \"{}\"", display_escaped(l)));
    }
    if let Some(id) = t.key_id.as_ref().filter(|id| !id.is_empty()) {
        s.push_str(&format!(
            ", {} {}",
            if t.label.is_none() { "slot" } else { "id" },
            hex::encode(id)
        ));
    }
    if let Some(h) = &t.key_hash {
        s.push_str(&format!(", key hash {}", hex::encode(h)));
    }
    s
}
