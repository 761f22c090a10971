//! What the integration tests share, one submodule by job. Each test file says `mod common;`
//! and uses the parts it needs.
//!
//! - [`cli`]: the `custody` binary run as a subprocess, each test in its own SoftHSM world
//!   (or kryoptic world).
//! - [`kryoptic`]: kryoptic, a second PKCS#11 implementation: its module and configuration, and
//!   (with `internals`) an in-process fixture like [`softhsm`].
//! - [`pkcs11_cases`]: the PKCS#11 library tests that hold for any module, run by
//!   tests/pkcs11_softhsm.rs and tests/pkcs11_kryoptic.rs against their fixture.
//! - [`pty`]: a child process whose controlling terminal is a pseudo-terminal.
//! - [`softhsm`]: SoftHSM2 loaded in the test process itself (one token directory a process).
//! - [`vectors`]: the frozen test vectors' keys, prompters and `.expect` files (shared by path
//!   with tools/make-vectors, which writes them).

// Cargo compiles this module once into every test binary, and no binary uses all of it: each
// would warn about the parts it leaves unused.
#![allow(dead_code)]

pub mod cli;
pub mod kryoptic;
pub mod pty;
// These reach the library's internals, which only the `internals` feature makes public;
// without it the CLI tests still build (kryoptic's in-process part is gated the same way).
#[cfg(feature = "internals")]
pub mod pkcs11_cases;
#[cfg(feature = "internals")]
pub mod softhsm;
#[cfg(feature = "internals")]
pub mod vectors;
