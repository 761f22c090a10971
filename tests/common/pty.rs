//! A child process whose controlling terminal is a pseudo-terminal, answered the way a person
//! would at the prompts.

use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A child whose controlling terminal is a fresh pseudo-terminal.
pub struct Pty {
    child: Child,
    master: File,
    seen: String,
    /// Where the next `expect` starts looking: each prompt is matched once, in order.
    pos: usize,
}

impl Pty {
    pub fn spawn(cmd: Command) -> Pty {
        Self::spawn_with(cmd, None)
    }

    /// The same, with standard input from `stdin` (a file) instead of the terminal: the pty is
    /// still the controlling terminal, so /dev/tty opens.
    pub fn spawn_with_stdin(cmd: Command, stdin: File) -> Pty {
        Self::spawn_with(cmd, Some(stdin))
    }

    fn spawn_with(mut cmd: Command, stdin: Option<File>) -> Pty {
        let mut master: libc::c_int = 0;
        let mut slave: libc::c_int = 0;
        let r = unsafe {
            libc::openpty(
                &mut master,
                &mut slave,
                std::ptr::null_mut(),
                std::ptr::null(),
                std::ptr::null(),
            )
        };
        assert_eq!(r, 0, "openpty failed");
        let slave_fd = unsafe { OwnedFd::from_raw_fd(slave) };
        let master = unsafe { File::from_raw_fd(master) };
        let s = slave_fd.as_raw_fd();
        match stdin {
            Some(f) => cmd.stdin(Stdio::from(f)),
            None => cmd.stdin(Stdio::from(slave_fd.try_clone().unwrap())),
        };
        cmd.stdout(Stdio::from(slave_fd.try_clone().unwrap()))
            .stderr(Stdio::from(slave_fd.try_clone().unwrap()));
        unsafe {
            cmd.pre_exec(move || {
                if libc::setsid() < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                if libc::ioctl(s, libc::TIOCSCTTY as _, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().expect("spawn custody on a pty");
        drop(slave_fd);
        Pty {
            child,
            master,
            seen: String::new(),
            pos: 0,
        }
    }

    /// Read until `text` has appeared (after what was already matched), or fail after 30 s.
    pub fn expect(&mut self, text: &str) -> usize {
        let start = Instant::now();
        loop {
            if let Some(i) = self.seen[self.pos..].find(text) {
                let at = self.pos + i;
                self.pos = at + text.len();
                return at;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {text:?}; the screen so far:\n{}",
                self.seen
            );
            let mut pfd = libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let n = unsafe { libc::poll(&mut pfd, 1, 200) };
            if n > 0 {
                let mut buf = [0u8; 4096];
                match self.master.read(&mut buf) {
                    Ok(0) | Err(_) => {
                        // The child closed the terminal: whatever it printed is all there is.
                        assert!(
                            self.seen[self.pos..].contains(text),
                            "custody ended without printing {text:?}; the screen:\n{}",
                            self.seen
                        );
                    }
                    Ok(k) => self.seen.push_str(&String::from_utf8_lossy(&buf[..k])),
                }
            }
        }
    }

    pub fn send(&mut self, line: &str) {
        self.master.write_all(line.as_bytes()).unwrap();
        self.master.write_all(b"\r").unwrap();
        self.master.flush().unwrap();
    }

    /// Wait for the exit code, collecting the rest of the screen.
    pub fn finish(mut self) -> (i32, String) {
        let start = Instant::now();
        loop {
            let mut pfd = libc::pollfd {
                fd: self.master.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            let n = unsafe { libc::poll(&mut pfd, 1, 100) };
            if n > 0 {
                let mut buf = [0u8; 4096];
                match self.master.read(&mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(k) => self.seen.push_str(&String::from_utf8_lossy(&buf[..k])),
                }
            } else if let Some(_s) = self.child.try_wait().unwrap() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "custody did not end:\n{}",
                self.seen
            );
        }
        let status = self.child.wait().unwrap();
        (status.code().unwrap_or(-1), self.seen)
    }
}
