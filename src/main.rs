// Terminal control goes through rustix's safe calls, so the binary needs no unsafe code of its own.
#![deny(unsafe_code)]

mod cli;

fn main() {
    std::process::exit(cli::main());
}
