//! Standard output. Every write is checked and its error passed up (see `Failure`'s
//! `From<io::Error>`): the reader of a report going away ends custody quietly, another write
//! error is reported. `println!` would panic on either instead.

use std::fs::File;
use std::io::{self, StdoutLock, Write};
use std::os::fd::AsFd;

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

impl Write for Out {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stdout.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.stdout.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.stdout.flush()
    }
}
