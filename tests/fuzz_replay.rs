//! Every committed fuzz input, replayed on stable through the targets' bodies (src/fuzz.rs):
//! the seed corpora in fuzz/corpus/TARGET/ and every crash a fuzzer ever found, kept in
//! fuzz/crashes/TARGET/ once fixed (libFuzzer writes new ones to fuzz/artifacts/, not tracked). Each must run without a panic. The fuzzing itself needs
//! nightly (`cargo +nightly fuzz run TARGET`; .ci/run does a short run of each).

use std::path::Path;

use custody::internals::fuzz;

/// A target's body: any bytes in, a panic for a finding.
type Body = fn(&[u8]);

const TARGETS: [(&str, Body); 6] = [
    ("backup_file", fuzz::backup_file),
    ("pubkey_file", fuzz::pubkey_file),
    ("token_locator", fuzz::token_locator),
    ("p11kit_conf", fuzz::p11kit_conf),
    ("share_combine", fuzz::share_combine),
    ("record_file", fuzz::record_file),
];

fn replay(dir: &Path, run: Body) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries {
        let path = e.expect("a directory entry").path();
        let data = std::fs::read(&path).expect("a committed input");
        run(&data);
        n += 1;
    }
    n
}

#[test]
fn every_committed_input_runs_through_its_target() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz");
    for (target, run) in TARGETS {
        let seeds = replay(&root.join("corpus").join(target), run);
        // A target without seeds would replay nothing and pass on nothing.
        assert!(seeds > 0, "fuzz/corpus/{target} has no seed");
        replay(&root.join("crashes").join(target), run);
    }
}

#[test]
fn the_targets_hold_their_properties_on_inputs_they_accept() {
    // The committed vectors: every valid backup file is its own canonical encoding.
    let vectors = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/vectors");
    let mut accepted = 0;
    for e in std::fs::read_dir(vectors).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "custody") {
            let data = std::fs::read(&p).unwrap();
            if custody::internals::format::parse(&data).is_ok() {
                accepted += 1;
            }
            fuzz::backup_file(&data);
        }
    }
    assert!(
        accepted >= 10,
        "only {accepted} vectors parse: the property was barely checked"
    );
}
