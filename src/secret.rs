//! Secrets held in memory, one type per role, so that passing one where another is expected
//! does not compile: the master secret, the data key D, a share of D, the file's own secret s
//! (D or a share, as a slot wraps it), the token secret z, the password key A and a typed
//! password.
//!
//! Every type here: is not `Copy`; prints `[redacted]` in `Debug`; lives in a buffer of fixed
//! size that never reallocates (so no unwiped copy is left behind by a growing `Vec`); is wiped
//! on drop; and shows its bytes only through an explicit `expose`. Every buffer comes from
//! [`alloc`], the one place where a later change can put secrets in locked memory.
//!
//! A data key is not a share:
//!
//! ```
//! fn needs_share(_: &custody::ShareValue) {}
//! fn give(s: &custody::ShareValue) {
//!     needs_share(s)
//! }
//! ```
//!
//! ```compile_fail
//! fn needs_share(_: &custody::ShareValue) {}
//! fn give(d: &custody::DataKey) {
//!     needs_share(d)
//! }
//! ```
//!
//! A password key is not a token secret:
//!
//! ```
//! fn needs_z(_: &custody::TokenSecret) {}
//! fn give(z: &custody::TokenSecret) {
//!     needs_z(z)
//! }
//! ```
//!
//! ```compile_fail
//! fn needs_z(_: &custody::TokenSecret) {}
//! fn give(a: &custody::PasswordKey) {
//!     needs_z(a)
//! }
//! ```

mod locked;
mod process;
pub(crate) use locked::{Argon2Memory, Locked};
pub use locked::{MemoryNotLocked, lock_secret_memory, secret_memory, take_argon2_notice};
pub use process::{Hardening, harden_process, take_env_secret};
use std::fmt;

use unicode_normalization::UnicodeNormalization;
use zeroize::Zeroize;

/// The most bytes a master secret may have (the format's bound, docs/FORMAT.md).
pub const MAX_SECRET_BYTES: usize = 4096;
/// The most bytes a password may have once normalized (NFC, UTF-8).
pub const MAX_PASSWORD_BYTES: usize = 4096;

/// The one allocation of every secret buffer: zeroed, in locked memory (see [`locked`]), of a
/// size fixed at compile time, so it is never moved by a reallocation. Wiped when dropped.
fn alloc<const N: usize>() -> Locked<N> {
    Locked::new()
}

macro_rules! key32 {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        pub struct $name(Locked<32>);

        impl $name {
            /// A copy of these 32 bytes (the caller's copy is theirs to wipe).
            pub fn from_bytes(bytes: &[u8; 32]) -> Self {
                let mut b = alloc::<32>();
                b.copy_from_slice(bytes);
                $name(b)
            }

            /// The secret bytes. Every use is a place where they can leak: keep it short.
            pub fn expose(&self) -> &[u8; 32] {
                &self.0
            }

            // Not every type uses every helper below.
            #[allow(dead_code)]
            /// An explicit copy into fresh storage (the types are not `Clone`, so every copy
            /// of a secret is visible in the code).
            pub(crate) fn duplicate(&self) -> Self {
                $name::from_bytes(&self.0)
            }

            #[allow(dead_code)]
            /// Zeroed storage to be filled in place (by a KDF or a token), never reallocated.
            pub(crate) fn zeroed() -> Self {
                $name(alloc::<32>())
            }

            #[allow(dead_code)]
            /// The storage, to fill in place.
            pub(crate) fn expose_mut(&mut self) -> &mut [u8; 32] {
                &mut self.0
            }

            #[allow(dead_code)]
            /// Whether every byte is zero (a token that returns this has failed).
            pub(crate) fn is_all_zero(&self) -> bool {
                self.0.iter().all(|&b| b == 0)
            }
        }

        impl fmt::Debug for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                write!(f, concat!(stringify!($name), "([redacted])"))
            }
        }
    };
}

key32!(
    /// The data key D: the random key a backup set is built around. The secret is encrypted
    /// under a key derived from D; D is wrapped whole (1-of-1) or split into shares.
    DataKey
);
key32!(
    /// One share of D (the y-values of the Shamir polynomials at this share's index).
    ShareValue
);
key32!(
    /// What one file's slots wrap: D itself for a single backup, or this file's share of D.
    FileSecret
);
key32!(
    /// The token secret z of one slot: AES-GCM-encrypted by a token key, or ECDH with one.
    TokenSecret
);
key32!(
    /// The password key A = Argon2id(password) of one file.
    PasswordKey
);

impl FileSecret {
    /// The file secret of a single (1-of-1) backup: D itself.
    pub(crate) fn of_data_key(d: &DataKey) -> Self {
        FileSecret::from_bytes(d.expose())
    }
    /// The file secret of a share file.
    pub(crate) fn of_share(v: &ShareValue) -> Self {
        FileSecret::from_bytes(v.expose())
    }
    /// Read as D (a single backup's file secret is D).
    pub(crate) fn to_data_key(&self) -> DataKey {
        DataKey::from_bytes(self.expose())
    }
    /// Read as a share value (a share file's file secret is its share).
    pub(crate) fn to_share(&self) -> ShareValue {
        ShareValue::from_bytes(self.expose())
    }
}

/// How many bytes an [`EntryBuffer`] holds.
pub const ENTRY_BYTES: usize = 1024;

/// A fixed buffer for a secret while it is typed or read (a password or PIN at a prompt): in
/// locked memory, never reallocated, wiped when dropped.
pub struct EntryBuffer(Locked<ENTRY_BYTES>);

impl EntryBuffer {
    /// A zeroed buffer.
    pub fn new() -> Self {
        EntryBuffer(alloc())
    }

    /// The bytes, to fill in place.
    pub fn bytes_mut(&mut self) -> &mut [u8; ENTRY_BYTES] {
        &mut self.0
    }

    /// The bytes.
    pub fn bytes(&self) -> &[u8; ENTRY_BYTES] {
        &self.0
    }
}

impl Default for EntryBuffer {
    fn default() -> Self {
        EntryBuffer::new()
    }
}

impl fmt::Debug for EntryBuffer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EntryBuffer([redacted])")
    }
}

/// Why bytes were refused as a secret or password.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SecretError {
    /// More bytes than the type holds.
    TooLong {
        /// The most bytes allowed.
        max: usize,
    },
    /// An empty password.
    EmptyPassword,
}

impl fmt::Display for SecretError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SecretError::TooLong { max } => write!(f, "longer than {max} bytes"),
            SecretError::EmptyPassword => write!(f, "the password is empty"),
        }
    }
}

impl std::error::Error for SecretError {}

impl SecretError {
    /// What kind of failure this is: bytes that cannot be the secret or password asked for.
    pub fn kind(&self) -> crate::error::ErrorKind {
        crate::error::ErrorKind::InvalidRequest
    }
}

/// The master secret: the bytes a backup protects (at most [`MAX_SECRET_BYTES`](crate::MAX_SECRET_BYTES)).
pub struct MasterSecret {
    buf: Locked<MAX_SECRET_BYTES>,
    len: usize,
}

impl MasterSecret {
    /// A copy of `bytes`.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, SecretError> {
        let mut s = MasterSecret::empty();
        s.buf
            .get_mut(..bytes.len())
            .ok_or(SecretError::TooLong {
                max: MAX_SECRET_BYTES,
            })?
            .copy_from_slice(bytes);
        s.len = bytes.len();
        Ok(s)
    }

    /// Read a whole secret from `r`, straight into the secret's own storage. One byte more than
    /// the most allowed is [`SecretError::TooLong`] (as an `InvalidData` I/O error).
    pub fn read_from(r: &mut impl std::io::Read) -> std::io::Result<Self> {
        let mut s = MasterSecret::empty();
        let mut probe = Zeroizing1::default();
        while let Some(rest) = s.buf.get_mut(s.len..) {
            if rest.is_empty() {
                // Full: anything more is too long.
                if r.read(&mut probe.0)? != 0 {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidData,
                        SecretError::TooLong {
                            max: MAX_SECRET_BYTES,
                        },
                    ));
                }
                break;
            }
            match r.read(rest) {
                Ok(0) => break,
                Ok(n) => s.len += n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(s)
    }

    /// `len` random bytes from the operating system's generator.
    pub fn random(len: usize) -> Result<Self, SecretError> {
        let mut s = MasterSecret::empty();
        let buf = s.buf.get_mut(..len).ok_or(SecretError::TooLong {
            max: MAX_SECRET_BYTES,
        })?;
        // As crypto::fill_random (which this module, below crypto, does not call): no safe way
        // on without the operating system's generator, so abort rather than return weak bytes.
        if rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, buf).is_err() {
            std::process::abort();
        }
        s.len = len;
        Ok(s)
    }

    fn empty() -> Self {
        MasterSecret {
            buf: alloc::<MAX_SECRET_BYTES>(),
            len: 0,
        }
    }

    /// The secret bytes.
    pub fn expose(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }

    /// How many bytes the secret has.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the secret has no bytes (never true of a secret custody accepts).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }
}

impl fmt::Debug for MasterSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MasterSecret([redacted], {} bytes)", self.len)
    }
}

/// One byte that is wiped on drop (reading past the end of a secret).
#[derive(Default)]
struct Zeroizing1([u8; 1]);

impl Drop for Zeroizing1 {
    fn drop(&mut self) {
        self.0.zeroize();
    }
}

/// A password as typed, normalized once to Unicode NFC when it is made (docs/FORMAT.md §2.3):
/// the same password typed on any system derives the same key.
pub struct Password {
    buf: Locked<MAX_PASSWORD_BYTES>,
    len: usize,
}

impl Password {
    /// Normalize `typed` (NFC) straight into the password's own storage. An empty password is
    /// refused; so is one longer than [`MAX_PASSWORD_BYTES`] once normalized.
    pub fn new(typed: &str) -> Result<Self, SecretError> {
        let mut p = Password {
            buf: alloc::<MAX_PASSWORD_BYTES>(),
            len: 0,
        };
        let mut utf8 = [0u8; 4];
        for c in typed.nfc() {
            let bytes = c.encode_utf8(&mut utf8).as_bytes();
            let end = p.len + bytes.len();
            p.buf
                .get_mut(p.len..end)
                .ok_or(SecretError::TooLong {
                    max: MAX_PASSWORD_BYTES,
                })?
                .copy_from_slice(bytes);
            p.len = end;
        }
        utf8.zeroize();
        if p.len == 0 {
            return Err(SecretError::EmptyPassword);
        }
        Ok(p)
    }

    /// The normalized password, UTF-8.
    pub fn expose(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or_default()
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password([redacted])")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_bytes() {
        let d = DataKey::from_bytes(&[0xab; 32]);
        assert_eq!(format!("{d:?}"), "DataKey([redacted])");
        let s = MasterSecret::from_slice(b"0123456789abcdef").unwrap();
        assert!(!format!("{s:?}").contains("0123"));
        let p = Password::new("hunter2").unwrap();
        assert!(!format!("{p:?}").contains("hunter2"));
    }

    #[test]
    fn password_is_normalized_once() {
        let a = Password::new("caf\u{e9}").unwrap();
        let b = Password::new("cafe\u{301}").unwrap();
        assert_eq!(a.expose(), b.expose());
        assert_eq!(Password::new("").unwrap_err(), SecretError::EmptyPassword);
        assert!(Password::new(&"x".repeat(MAX_PASSWORD_BYTES)).is_ok());
        assert_eq!(
            Password::new(&"x".repeat(MAX_PASSWORD_BYTES + 1)).unwrap_err(),
            SecretError::TooLong {
                max: MAX_PASSWORD_BYTES
            }
        );
    }

    #[test]
    fn master_secret_bounds_and_reading() {
        assert!(MasterSecret::from_slice(&[1; MAX_SECRET_BYTES]).is_ok());
        assert!(MasterSecret::from_slice(&[1; MAX_SECRET_BYTES + 1]).is_err());
        let s = MasterSecret::read_from(&mut &[7u8; 100][..]).unwrap();
        assert_eq!(s.expose(), &[7u8; 100][..]);
        let full = MasterSecret::read_from(&mut &[7u8; MAX_SECRET_BYTES][..]).unwrap();
        assert_eq!(full.len(), MAX_SECRET_BYTES);
        let e = MasterSecret::read_from(&mut &[7u8; MAX_SECRET_BYTES + 1][..]).unwrap_err();
        assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
        let r = MasterSecret::random(32).unwrap();
        assert_eq!(r.len(), 32);
        assert!(MasterSecret::random(MAX_SECRET_BYTES + 1).is_err());
    }

    #[test]
    fn file_secret_round_trips() {
        let d = DataKey::from_bytes(&[3; 32]);
        let s = FileSecret::of_data_key(&d);
        assert_eq!(s.to_data_key().expose(), d.expose());
        let v = ShareValue::from_bytes(&[4; 32]);
        assert_eq!(FileSecret::of_share(&v).to_share().expose(), v.expose());
    }
}
