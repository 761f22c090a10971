//! Shared by tools/make-vectors (which writes the vectors) and `tests/vectors.rs` (which checks
//! them): the frozen test keys, loading them into a SoftHSM2 token with C_CreateObject, a
//! scripted prompter, and the `.expect` files; [`sets`] has the same for the split-set cases.
//!
//! The tool includes this file with `#[path = ...] mod vectors;` next to `../softhsm.rs` (which
//! makes the token directory and the token), so it must not reach other parts of `common`.

pub mod sets;

use std::path::Path;

use cryptoki::object::{Attribute, KeyType, ObjectClass};
use custody::internals::prompt::{NewPassword, PromptError, Prompter};
use custody::internals::secret::Password;
use custody::internals::token::pkcs11::{P256_EC_PARAMS, Session};
use secrecy::SecretString;

/// The token the vectors name, and its user PIN.
pub const TOKEN_LABEL: &str = "custody-vectors";
pub const USER_PIN: &str = "123456";
pub const AES_LABEL: &str = "vector-aes";
pub const AES_ID: [u8; 1] = [0x01];
pub const P256_LABEL: &str = "vector-p256";
pub const P256_ID: [u8; 1] = [0x02];

/// Files under `tests/vectors/keys/`: one line of lowercase hex each.
pub const AES_KEY_FILE: &str = "aes256.hex";
pub const P256_KEY_FILE: &str = "p256-private.hex";

/// The test key material.
pub struct Keys {
    pub aes: [u8; 32],
    /// The P-256 private scalar, big-endian.
    pub p256: [u8; 32],
}

impl Keys {
    pub fn read(keys_dir: &Path) -> Result<Keys, String> {
        let one = |name: &str| -> Result<[u8; 32], String> {
            let path = keys_dir.join(name);
            let text = std::fs::read_to_string(&path)
                .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            let mut out = [0u8; 32];
            hex::decode_to_slice(text.trim_end_matches('\n'), &mut out)
                .map_err(|e| format!("{}: not 64 hex digits: {e}", path.display()))?;
            Ok(out)
        };
        Ok(Keys {
            aes: one(AES_KEY_FILE)?,
            p256: one(P256_KEY_FILE)?,
        })
    }

    /// The P-256 public point, uncompressed (04 ‖ X ‖ Y).
    pub fn p256_point(&self) -> [u8; 65] {
        let sk = p256::SecretKey::from_bytes(&self.p256.into()).expect("valid P-256 scalar");
        custody::internals::crypto::p256_uncompressed(&sk.public_key())
    }

    /// Create the AES key and the P-256 pair on a logged-in (user) session.
    pub fn load(&self, session: &Session) -> Result<(), String> {
        let s = session.cryptoki();
        let create = |what: &str, template: &[Attribute]| {
            s.create_object(template)
                .map(|_| ())
                .map_err(|e| format!("C_CreateObject ({what}): {e}"))
        };
        create(
            "AES key",
            &[
                Attribute::Class(ObjectClass::SECRET_KEY),
                Attribute::KeyType(KeyType::AES),
                Attribute::Value(self.aes.to_vec()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Encrypt(true),
                Attribute::Decrypt(true),
                Attribute::Label(AES_LABEL.as_bytes().to_vec()),
                Attribute::Id(AES_ID.to_vec()),
            ],
        )?;
        create(
            "EC private key",
            &[
                Attribute::Class(ObjectClass::PRIVATE_KEY),
                Attribute::KeyType(KeyType::EC),
                Attribute::EcParams(P256_EC_PARAMS.to_vec()),
                Attribute::Value(self.p256.to_vec()),
                Attribute::Token(true),
                Attribute::Private(true),
                Attribute::Sensitive(true),
                Attribute::Extractable(false),
                Attribute::Derive(true),
                Attribute::Label(P256_LABEL.as_bytes().to_vec()),
                Attribute::Id(P256_ID.to_vec()),
            ],
        )?;
        // CKA_EC_POINT is a DER OCTET STRING around the point.
        let mut ec_point = vec![0x04, 0x41];
        ec_point.extend_from_slice(&self.p256_point());
        create(
            "EC public key",
            &[
                Attribute::Class(ObjectClass::PUBLIC_KEY),
                Attribute::KeyType(KeyType::EC),
                Attribute::EcParams(P256_EC_PARAMS.to_vec()),
                Attribute::EcPoint(ec_point),
                Attribute::Token(true),
                Attribute::Private(false),
                Attribute::Label(P256_LABEL.as_bytes().to_vec()),
                Attribute::Id(P256_ID.to_vec()),
            ],
        )
    }
}

/// Answers every prompt from fixed values and records what the library said.
pub struct Scripted {
    pub password: String,
    pub pin: String,
    pub info: Vec<String>,
    pub warn: Vec<String>,
    /// How many times a PIN was asked for (a token was about to be logged in to).
    pub pin_asked: usize,
}

impl Scripted {
    pub fn new(password: &str) -> Self {
        Scripted {
            password: password.to_owned(),
            pin: USER_PIN.to_owned(),
            info: Vec::new(),
            warn: Vec::new(),
            pin_asked: 0,
        }
    }
}

/// A scripted password, typed as the terminal prompter types it.
pub fn scripted_password(p: &str) -> Result<Password, PromptError> {
    Password::new(p).map_err(|e| PromptError::Refused {
        reason: e.to_string(),
    })
}

impl Prompter for Scripted {
    fn info(&mut self, msg: &str) {
        self.info.push(msg.to_owned());
    }
    fn warn(&mut self, what: &str, todo: &str) {
        self.warn.push(format!("{what} {todo}"));
    }
    fn new_password(&mut self, _who: &str, _ask_hint: bool) -> Result<NewPassword, PromptError> {
        Ok(NewPassword {
            password: scripted_password(&self.password)?,
            hint: None,
        })
    }
    fn password(&mut self, _who: &str) -> Result<Password, PromptError> {
        scripted_password(&self.password)
    }
    fn pin(
        &mut self,
        _request: &custody::internals::prompt::PinRequest<'_>,
    ) -> Result<SecretString, PromptError> {
        self.pin_asked += 1;
        Ok(SecretString::from(self.pin.clone()))
    }
}

/// The outcome categories of `.expect` files.
pub const CATEGORIES: [&str; 8] = [
    "ok",
    "damaged",
    "invalid",
    "unsupported",
    "not-a-backup",
    "auth",
    "altered",
    "not-found",
];

/// One `NAME.expect` file: `key: value` lines, in this order.
///
/// ```text
/// expect: ok|damaged|invalid|unsupported|not-a-backup|auth|altered|not-found
/// exit: <code>
/// password: <password, the rest of the line as is>
/// secret: <hex>                (exactly for "ok")
/// token-used: no               (optional: no PIN may be asked, no token logged in to)
/// comment: <one line>
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Expect {
    pub expect: String,
    pub exit: i32,
    pub password: String,
    pub secret: Option<Vec<u8>>,
    /// `Some(false)`: the file must be refused before any token is logged in to.
    pub token_used: Option<bool>,
    pub comment: String,
}

impl Expect {
    pub fn encode(&self) -> String {
        let mut out = format!(
            "expect: {}\nexit: {}\npassword: {}\n",
            self.expect, self.exit, self.password
        );
        if let Some(s) = &self.secret {
            out.push_str(&format!("secret: {}\n", hex::encode(s)));
        }
        if let Some(u) = self.token_used {
            out.push_str(&format!("token-used: {}\n", if u { "yes" } else { "no" }));
        }
        out.push_str(&format!("comment: {}\n", self.comment));
        out
    }

    pub fn parse(text: &str) -> Result<Expect, String> {
        let body = text.strip_suffix('\n').ok_or("no final newline")?;
        let mut lines = body.split('\n').peekable();
        let mut field = |key: &str, optional: bool| -> Result<Option<String>, String> {
            match lines.peek() {
                Some(l) if l.starts_with(&format!("{key}: ")) => {
                    let v = lines.next().expect("peeked")[key.len() + 2..].to_owned();
                    Ok(Some(v))
                }
                _ if optional => Ok(None),
                other => Err(format!("expected \"{key}: \", found {other:?}")),
            }
        };
        let expect = field("expect", false)?.expect("required");
        if !CATEGORIES.contains(&expect.as_str()) {
            return Err(format!("unknown category {expect:?}"));
        }
        let exit = field("exit", false)?
            .expect("required")
            .parse::<i32>()
            .map_err(|e| format!("exit: {e}"))?;
        let password = field("password", false)?.expect("required");
        let secret = field("secret", expect != "ok")?
            .map(|h| hex::decode(h).map_err(|e| format!("secret: {e}")))
            .transpose()?;
        if secret.is_some() != (expect == "ok") {
            return Err("\"secret:\" is given exactly for \"expect: ok\"".into());
        }
        let token_used = match field("token-used", true)?.as_deref() {
            None => None,
            Some("yes") => Some(true),
            Some("no") => Some(false),
            Some(v) => return Err(format!("token-used: {v:?} is not yes or no")),
        };
        let comment = field("comment", false)?.expect("required");
        if comment.trim().is_empty() {
            return Err("empty comment".into());
        }
        if let Some(extra) = lines.next() {
            return Err(format!("unexpected line {extra:?}"));
        }
        Ok(Expect {
            expect,
            exit,
            password,
            secret,
            token_used,
            comment,
        })
    }
}
