//! No file of the project names a folder of the machine it was written on: a path like that
//! works for one developer and misleads everyone else, so files are named from the
//! repository root.

use std::path::Path;
use std::process::Command;

/// Home and work folders of development machines. Built from pieces so this file does not
/// name them itself.
fn machine_prefixes() -> Vec<String> {
    ["work", "home", "Users", "root"]
        .iter()
        .map(|dir| format!("/{dir}/"))
        .collect()
}

/// Whether `line` holds `prefix` as the start of an absolute path, not inside a relative
/// one (`softhsm-config/work/` is the project's own folder).
fn names_absolute(line: &str, prefix: &str) -> bool {
    line.match_indices(prefix).any(|(at, _)| {
        line[..at]
            .chars()
            .next_back()
            .is_none_or(|c| !(c.is_alphanumeric() || "-_./~$}".contains(c)))
    })
}

#[test]
fn prefixes_are_found_only_at_the_start_of_a_path() {
    let prefix = &machine_prefixes()[0];
    assert!(names_absolute(&format!("# see {prefix}x/y"), prefix));
    assert!(names_absolute(&format!("path = \"{prefix}x\""), prefix));
    assert!(names_absolute(&format!("{prefix}x"), prefix));
    assert!(!names_absolute(&format!("/softhsm-config{prefix}"), prefix));
    assert!(!names_absolute(&format!("$HOME{prefix}"), prefix));
}

#[test]
fn no_tracked_file_names_a_development_machine_folder() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    // Tracked files only: a developer's untracked notes are not the project.
    let listing = Command::new("git")
        // The clone CI tests may belong to another user than the one running the tests.
        .args(["-c", "safe.directory=*", "ls-files", "-z"])
        .current_dir(root)
        .output()
        .expect("git runs (the test lists the project's tracked files with it)");
    assert!(
        listing.status.success(),
        "git ls-files failed: {}",
        String::from_utf8_lossy(&listing.stderr)
    );
    let prefixes = machine_prefixes();
    let mut found = Vec::new();
    let mut checked = 0usize;
    for name in listing.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name).into_owned();
        let Ok(text) = std::fs::read(root.join(&name)) else {
            continue; // listed but deleted in the working tree
        };
        if text.contains(&0) {
            continue; // binary
        }
        checked += 1;
        let text = String::from_utf8_lossy(&text);
        for (number, line) in text.lines().enumerate() {
            if prefixes.iter().any(|p| names_absolute(line, p)) {
                found.push(format!("{name}:{}: {}", number + 1, line.trim()));
            }
        }
    }
    assert!(checked > 50, "only {checked} text files were read");
    assert!(
        found.is_empty(),
        "files name a development machine's folder (name files from the repository root):\n{}",
        found.join("\n")
    );
}
