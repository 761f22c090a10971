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
    /// The terminal's own end, kept open so that its settings can be read after the child
    /// exits ([`Pty::spawn_keeping_terminal`]).
    kept: Option<OwnedFd>,
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

    /// The same as [`Pty::spawn`], keeping the terminal open after the child exits, so that
    /// [`Pty::echo_on`] can read the settings it left.
    pub fn spawn_keeping_terminal(cmd: Command) -> Pty {
        Self::spawn_full(cmd, None, true)
    }

    /// Whether the terminal echoes what is typed (its settings now, e.g. after custody ended).
    pub fn echo_on(&self) -> bool {
        let fd = self
            .kept
            .as_ref()
            .expect("spawned with spawn_keeping_terminal")
            .as_raw_fd();
        let mut t: libc::termios = unsafe { std::mem::zeroed() };
        assert_eq!(unsafe { libc::tcgetattr(fd, &mut t) }, 0, "tcgetattr");
        t.c_lflag & libc::ECHO != 0
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Send a signal to the child.
    pub fn signal(&self, sig: libc::c_int) {
        assert_eq!(
            unsafe { libc::kill(self.child.id() as libc::pid_t, sig) },
            0
        );
    }

    fn spawn_with(cmd: Command, stdin: Option<File>) -> Pty {
        Self::spawn_full(cmd, stdin, false)
    }

    fn spawn_full(mut cmd: Command, stdin: Option<File>, keep: bool) -> Pty {
        // custody colours its messages on a terminal: the screens the tests read are plain
        // unless a test sets or removes NO_COLOR itself (the colour test does).
        if !cmd.get_envs().any(|(k, _)| k == "NO_COLOR") {
            cmd.env("NO_COLOR", "1");
        }
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
        let kept = keep.then_some(slave_fd);
        Pty {
            child,
            master,
            seen: String::new(),
            pos: 0,
            kept,
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

    /// Bytes as typed, without Enter (`\x03` is Ctrl-C: the terminal sends SIGINT).
    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.master.write_all(bytes).unwrap();
        self.master.flush().unwrap();
    }

    pub fn send(&mut self, line: &str) {
        self.master.write_all(line.as_bytes()).unwrap();
        self.master.write_all(b"\r").unwrap();
        self.master.flush().unwrap();
    }

    /// Wait for the exit code, collecting the rest of the screen.
    pub fn finish(mut self) -> (i32, String) {
        self.wait_end()
    }

    /// The same, keeping the `Pty` (to read the terminal's settings after).
    pub fn wait_end(&mut self) -> (i32, String) {
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
        (status.code().unwrap_or(-1), self.seen.clone())
    }
}

impl Drop for Pty {
    /// A test that failed half-way leaves no custody behind, waiting at a prompt for ever.
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
