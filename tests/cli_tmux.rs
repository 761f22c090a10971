//! Officers in turn, seen as the next officer sees them (issue 8, item 9): a split restore in a
//! real terminal emulator (tmux, with its scroll-back), where `capture-pane` after the second
//! officer's handover shows nothing of the first officer's turn — not on the screen and not in
//! the scroll-back. tests/cli_prompts.rs checks the bytes custody sends; this checks what a
//! terminal keeps of them.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::cli::{Env, WEAK_KDF, require_tool, uri};

/// A tmux server of the test's own (its own socket), killed when dropped.
struct Tmux {
    bin: PathBuf,
    socket: PathBuf,
}

impl Tmux {
    fn run(&self, args: &[&str]) -> Output {
        let out = Command::new(&self.bin)
            .arg("-S")
            .arg(&self.socket)
            .args(args)
            .output()
            .expect("run tmux");
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        out
    }

    /// The pane as a person could see it: the screen and the whole scroll-back.
    fn everything(&self) -> String {
        let out = self.run(&["capture-pane", "-p", "-S", "-", "-E", "-"]);
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// Wait until the pane (screen or scroll-back) shows `text` (tmux drops the spaces that end
    /// a line); the capture.
    fn wait_for(&self, text: &str) -> String {
        let start = Instant::now();
        loop {
            let seen = self.everything();
            if seen.contains(text) {
                return seen;
            }
            assert!(
                start.elapsed() < Duration::from_secs(30),
                "timed out waiting for {text:?}; the pane:\n{seen}"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// Type `text` and press Enter.
    fn type_line(&self, text: &str) {
        if !text.is_empty() {
            self.run(&["send-keys", "-l", text]);
        }
        self.run(&["send-keys", "Enter"]);
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = Command::new(&self.bin)
            .arg("-S")
            .arg(&self.socket)
            .arg("kill-server")
            .output();
    }
}

const OFFICERS: [(&str, &str, &str); 2] = [
    (
        "Alice",
        "alpha password",
        "alice keeps it under the blue mug",
    ),
    ("Bob", "bravo password", "bob wrote it in the red notebook"),
];

#[test]
fn under_tmux_the_next_officer_sees_nothing_of_the_last_turn() {
    let bin = require_tool("tmux", "tmux");
    let env = Env::new("tmux-officers");
    env.init_token("tmux-tok");
    env.keygen("tmux-tok", "k", "aes");
    env.secret("secret.bin", 32);
    let secret = env.read("secret.bin");
    let mut a: Vec<String> = ["backup", "--secret", "secret.bin", "--threshold", "2"]
        .map(String::from)
        .to_vec();
    for (i, (name, pw, hint)) in OFFICERS.iter().enumerate() {
        let pw_file = format!("pw{i}");
        env.write(&pw_file, format!("{pw}\n").as_bytes());
        a.extend(
            [
                "--out",
                &format!("s{i}.share"),
                "--officer",
                name,
                "--hint",
                hint,
                "--password-file",
                &pw_file,
            ]
            .map(String::from),
        );
    }
    a.extend(["--token", &uri("tmux-tok", "k")].map(String::from));
    a.extend(["--single-token", "--allow-same-device"].map(String::from));
    a.extend(WEAK_KDF.map(String::from));
    env.run(&a).ok();

    // custody's environment, as the pane's command line: tmux starts it, not this process.
    let c = env.command();
    let mut cmd: Vec<String> = vec!["env".into()];
    for (k, v) in c.get_envs() {
        match v {
            Some(v) => cmd.push(format!("{}={}", k.to_string_lossy(), v.to_string_lossy())),
            None => cmd.extend(["-u".into(), k.to_string_lossy().into_owned()]),
        }
    }
    cmd.extend(
        [
            env!("CARGO_BIN_EXE_custody"),
            "restore",
            "s0.share",
            "s1.share",
            "--out",
            "restored.bin",
        ]
        .map(String::from),
    );
    let tmux = Tmux {
        bin,
        socket: env.path("tmux.sock"),
    };
    let dir: &Path = &env.path("");
    let mut new_session = vec![
        "-f",
        "/dev/null",
        "new-session",
        "-d",
        "-x",
        "120",
        "-y",
        "40",
        "-c",
        dir.to_str().expect("UTF-8"),
        "--",
    ];
    new_session.extend(cmd.iter().map(String::as_str));
    tmux.run(&new_session);
    // A pane that ends stays, so that the end can be read.
    tmux.run(&["set-option", "-g", "remain-on-exit", "on"]);

    tmux.wait_for("(or \"skip\")?");
    tmux.type_line("skip");
    tmux.wait_for("Officer 1 of 2, Alice: take the keyboard and press Enter");
    tmux.type_line("");
    let first_turn = tmux.wait_for("(Enter alone to skip this share):");
    // The control: the first officer's hint was there to be seen during their turn.
    assert!(first_turn.contains(OFFICERS[0].2), "{first_turn}");
    tmux.type_line(OFFICERS[0].1);

    let handover = tmux.wait_for("Officer 2 of 2, Bob: take the keyboard and press Enter");
    assert!(
        !handover.contains(OFFICERS[0].2),
        "Alice's hint is still in the pane (screen or scroll-back) at Bob's turn:\n{handover}"
    );
    assert!(!handover.contains("Share of officer Alice"), "{handover}");
    tmux.type_line("");
    tmux.wait_for(OFFICERS[1].2);
    tmux.type_line(OFFICERS[1].1);
    tmux.wait_for("Restored 32 bytes");
    assert_eq!(env.read("restored.bin"), secret);
}
