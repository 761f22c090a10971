//! Standard output. Every write is checked and its error passed up (see `Failure`'s
//! `From<io::Error>`): the reader of a report going away ends custody quietly, another write
//! error is reported. `println!` would panic on either instead.

use std::fs::File;
use std::io::{self, StdoutLock, Write};
use std::os::fd::AsFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

/// `--json`: the human report is not written to standard output; the run's one JSON document is.
static JSON: AtomicBool = AtomicBool::new(false);
/// The members of the run's document, after `schema`, as the command sets them.
static DOCUMENT: Mutex<Vec<(String, serde_json::Value)>> = Mutex::new(Vec::new());

pub fn set_json(on: bool) {
    JSON.store(on, Ordering::SeqCst);
}

pub fn json_mode() -> bool {
    JSON.load(Ordering::SeqCst)
}

/// Adds (or replaces) a member of the run's JSON document.
pub fn document(name: &str, value: serde_json::Value) {
    if !json_mode() {
        return;
    }
    let mut d = DOCUMENT.lock().unwrap_or_else(|e| e.into_inner());
    match d.iter_mut().find(|(n, _)| n == name) {
        Some((_, v)) => *v = value,
        None => d.push((name.to_owned(), value)),
    }
}

/// `--json` with the secret on standard output (`--out -`) is refused: the two would share it.
pub fn refuse_secret_on_stdout(out: &std::path::Path) -> Result<(), super::Failure> {
    if json_mode() && out == std::path::Path::new("-") {
        return Err(super::Failure::usage(
            "--json with --out -: the secret and the JSON document would share standard output; \
             give --out FILE",
        ));
    }
    Ok(())
}

/// The document's member `name`: the absolute path of `path`.
pub fn document_path(name: &str, path: &std::path::Path) {
    let abs = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    document(name, abs.display().to_string().into());
}

/// Adds every member of `object` to the run's JSON document.
pub fn document_members(object: serde_json::Value) {
    if let serde_json::Value::Object(m) = object {
        for (k, v) in m {
            document(&k, v);
        }
    }
}

/// The run's document: `schema` first, then what the command set, then `extra` (a failure's
/// `error`).
pub fn take_document(schema: &str, extra: Option<(&str, serde_json::Value)>) -> serde_json::Value {
    let mut m = serde_json::Map::new();
    m.insert(
        "schema".into(),
        serde_json::Value::String(schema.to_owned()),
    );
    let members = std::mem::take(&mut *DOCUMENT.lock().unwrap_or_else(|e| e.into_inner()));
    m.extend(members);
    if let Some((name, v)) = extra {
        m.insert(name.to_owned(), v);
    }
    serde_json::Value::Object(m)
}

/// Standard output, locked for the whole run so that nothing else interleaves with it.
pub struct Out {
    stdout: StdoutLock<'static>,
}

impl Out {
    pub fn stdout() -> Out {
        Out {
            stdout: io::stdout().lock(),
        }
    }

    /// Writes `bytes` straight to the descriptor of standard output, past std's line buffer:
    /// no copy of them stays behind in a buffer this program does not wipe, and the count
    /// returned is what the reader was handed, also when the write fails part-way.
    pub fn write_unbuffered(&mut self, bytes: &[u8]) -> (usize, io::Result<()>) {
        let mut written = 0;
        let result = self.stdout.flush().and_then(|()| {
            let mut fd = File::from(self.stdout.as_fd().try_clone_to_owned()?);
            while written < bytes.len() {
                match fd.write(&bytes[written..]) {
                    Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
                    Ok(n) => written += n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                    Err(e) => return Err(e),
                }
            }
            Ok(())
        });
        (written, result)
    }
}

impl Out {
    /// The run's JSON document, on standard output (the one thing written there with `--json`).
    pub fn write_document(&mut self, doc: &serde_json::Value) -> io::Result<()> {
        let text = serde_json::to_string_pretty(doc).unwrap_or_else(|_| "{}".into());
        writeln!(self.stdout, "{text}")?;
        self.stdout.flush()
    }
}

impl Write for Out {
    // With --json the human report goes nowhere: standard output holds the document only.
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if json_mode() {
            return Ok(buf.len());
        }
        self.stdout.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        if json_mode() {
            return Ok(());
        }
        self.stdout.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stdout.flush()
    }
}
