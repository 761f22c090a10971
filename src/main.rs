// Terminal control goes through rustix's safe calls; the one exception is installing the signal
// handler (src/cli/signals.rs, which allows it for itself).
#![deny(unsafe_code)]

mod cli;

fn main() {
    std::process::exit(cli::main());
}
