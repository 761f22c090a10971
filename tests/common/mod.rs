//! What the integration tests share, one submodule by job. Each test file says `mod common;`
//! and uses the parts it needs.
//!
//! - [`cli`]: the `custody` binary run as a subprocess, each test in its own SoftHSM world.
//! - [`pty`]: a child process whose controlling terminal is a pseudo-terminal.
//! - [`softhsm`]: SoftHSM2 loaded in the test process itself (one token directory a process).
//! - [`vectors`]: the frozen test vectors' keys, prompters and `.expect` files (shared by path
//!   with tools/make-vectors, which writes them).

// Cargo compiles this module once into every test binary, and no binary uses all of it: each
// would warn about the parts it leaves unused.
#![allow(dead_code)]

pub mod cli;
pub mod pty;
// These two reach the library's internals, which only the `internals` feature makes public;
// without it the CLI tests still build.
#[cfg(feature = "internals")]
pub mod softhsm;
#[cfg(feature = "internals")]
pub mod vectors;
