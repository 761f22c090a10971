//! PKCS#11 backend: loading a module, finding tokens and keys, and the few operations custody
//! needs from them (AES-GCM with a token AES key, ECDH with a token P-256 key, key generation).
//!
//! `module` and `session` talk to the device; `adapter` presents its keys through the token
//! traits; `resolve` finds the token and key a locator or a slot names, with one login per token;
//! `error` names what the device said. Nothing here knows custody's file formats.

mod adapter;
mod error;
mod keygen;
mod module;
mod resolve;
mod session;

pub use error::Pkcs11Error;
pub use module::{Module, TokenInfo};
pub use resolve::{
    Listed, Pkcs11Tokens, SOFTHSM_DEFAULT_MODULE, token_name, uri_matches, wanted_name,
};
// For the tests, which check what the token says of a key against every module.
#[cfg(feature = "internals")]
pub use resolve::binding_problems;
pub use session::{KeyInfo, KeyKind, Session};

/// DER encoding of the named-curve OID prime256v1 (1.2.840.10045.3.1.7), as `CKA_EC_PARAMS`.
pub const P256_EC_PARAMS: [u8; 10] = [0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
