//! Writing a secret (restored or generated) to a new file or to standard output.

use std::io::IsTerminal;
use std::path::Path;

use base64::Engine;
use zeroize::Zeroizing;

use super::args::OutFormat;
use super::output::Out;
use super::{Failure, Res, exit};

/// Write secret bytes to a new file (0600) or standard output in the chosen encoding.
pub fn emit_secret(stdout: &mut Out, out: &Path, fmt: Option<OutFormat>, bytes: &[u8]) -> Res {
    if out == Path::new("-") {
        let fmt = fmt.unwrap_or(OutFormat::Raw);
        if fmt == OutFormat::Raw && std::io::stdout().is_terminal() {
            return Err(Failure::usage(
                "raw secret bytes are not written to a terminal; add --format hex or --format base64, or redirect standard output",
            ));
        }
        let text = encode(fmt, bytes);
        // Unlike a report, a secret cut short is a failure: whoever reads it must not take
        // the part for the whole.
        let (written, result) = stdout.write_unbuffered(&text);
        return result.map_err(|e| {
            let how = if e.kind() == std::io::ErrorKind::BrokenPipe {
                format!(
                    "standard output was closed after {written} of {} bytes",
                    text.len()
                )
            } else {
                format!(
                    "writing to standard output failed after {written} of {} bytes: {e}",
                    text.len()
                )
            };
            Failure::new(
                exit::OTHER,
                format!("the secret was not delivered in full: {how}"),
                "run it again with the reader ready for the whole output, or write to a file with --out FILE",
            )
        });
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
        // A full disk is not an existing secret: the advice follows the cause.
        let cause = super::advice::write_cause(&e, super::advice::Cause::SecretExists);
        Failure::new(code, e.to_string(), cause.advice())
    })?;
    Ok(())
}

/// The secret as written to standard output, encoded into one buffer of its final size, so
/// that no intermediate copy is left unwiped.
fn encode(fmt: OutFormat, bytes: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut text = Zeroizing::new(Vec::new());
    match fmt {
        OutFormat::Raw => text.extend_from_slice(bytes),
        OutFormat::Hex => {
            text.resize(bytes.len() * 2 + 1, b'\n');
            hex::encode_to_slice(bytes, &mut text[..bytes.len() * 2])
                .expect("the buffer is twice the length");
        }
        OutFormat::Base64 => {
            let len = base64::encoded_len(bytes.len(), true).expect("a secret is small");
            text.resize(len + 1, b'\n');
            let n = base64::engine::general_purpose::STANDARD
                .encode_slice(bytes, &mut text[..len])
                .expect("the buffer has the encoded length");
            debug_assert_eq!(n, len);
        }
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_end_in_one_newline_except_raw() {
        let b = [0u8, 0xff, 0x10, 0x7f];
        assert_eq!(&encode(OutFormat::Raw, &b)[..], &b[..]);
        assert_eq!(&encode(OutFormat::Hex, &b)[..], b"00ff107f\n");
        for len in 0..6 {
            let b: Vec<u8> = (0..len).collect();
            let want = format!("{}\n", base64::engine::general_purpose::STANDARD.encode(&b));
            assert_eq!(&encode(OutFormat::Base64, &b)[..], want.as_bytes());
        }
    }
}
