//! Writing a secret (restored or generated) to a new file or to standard output.

use std::io::{IsTerminal, Write};
use std::path::Path;

use zeroize::Zeroizing;

use super::args::OutFormat;
use super::{Failure, Res, exit};

/// Write secret bytes to a new file (0600) or standard output in the chosen encoding.
pub fn emit_secret(out: &Path, fmt: Option<OutFormat>, bytes: &[u8]) -> Res {
    if out == Path::new("-") {
        let fmt = fmt.unwrap_or(OutFormat::Raw);
        let mut stdout = std::io::stdout();
        if fmt == OutFormat::Raw && stdout.is_terminal() {
            return Err(Failure::usage(
                "raw secret bytes are not written to a terminal; add --format hex or --format base64, or redirect standard output",
            ));
        }
        let text: Zeroizing<Vec<u8>> = Zeroizing::new(match fmt {
            OutFormat::Raw => bytes.to_vec(),
            OutFormat::Hex => format!("{}\n", hex::encode(bytes)).into_bytes(),
            OutFormat::Base64 => format!(
                "{}\n",
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, bytes)
            )
            .into_bytes(),
        });
        return match stdout.write_all(&text).and_then(|_| stdout.flush()) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
            Err(e) => Err(Failure::new(
                exit::OTHER,
                format!("writing to standard output: {e}"),
                "",
            )),
        };
    }
    if fmt.is_some_and(|f| f != OutFormat::Raw) {
        return Err(Failure::usage(
            "--format applies to standard output only (--out -); files get raw bytes",
        ));
    }
    custody::write_secret_new(out, bytes).map_err(|e| {
        let code = if matches!(e, custody::MediaError::Exists { .. }) {
            exit::OUTPUT_EXISTS
        } else {
            exit::OTHER
        };
        Failure::new(
            code,
            e.to_string(),
            "choose a new output file; custody never overwrites a secret",
        )
    })?;
    Ok(())
}
