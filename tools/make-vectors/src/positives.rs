//! The positive vectors: backups made by the real code, which must open.

pub const PASSWORD: &str = "vector password";
pub const AES_URI: &str = "pkcs11:token=custody-vectors;object=vector-aes";
pub const P256_URI: &str = "pkcs11:token=custody-vectors;object=vector-p256";

/// A positive vector: made by `custody::internals::ceremony::backup`.
pub struct Positive {
    pub name: &'static str,
    /// `--token` arguments; `pubkey` stands for a public-key file of `vector-p256`.
    pub tokens: &'static [&'static str],
    pub secret_len: usize,
    pub label: &'static str,
    pub hint: Option<&'static str>,
    /// The password the backup is made with.
    pub password: &'static str,
    /// The password written to `.expect` (defaults to `password`).
    pub expect_password: Option<&'static str>,
    pub comment: &'static str,
}

pub fn positives() -> Vec<Positive> {
    let p = |name, tokens, secret_len, comment| Positive {
        name,
        tokens,
        secret_len,
        label: "custody test vectors",
        hint: Some("the vector password"),
        password: PASSWORD,
        expect_password: None,
        comment,
    };
    vec![
        p(
            "aes-single",
            &[AES_URI],
            32,
            "one pkcs11-aes slot, 32-byte secret: the basic AES-GCM-on-token path",
        ),
        p(
            "p256-single",
            &[P256_URI],
            32,
            "one pkcs11-p256 slot, 32-byte secret: the basic ECDH-on-token path",
        ),
        p(
            "two-slots",
            &[AES_URI, P256_URI],
            32,
            "two slots (pkcs11-aes then pkcs11-p256) wrapping the same data key; either opens it",
        ),
        p(
            "pubkey-only-p256",
            &["pubkey"],
            32,
            "a pkcs11-p256 slot made from a custody-pubkey file alone (verified: no) opens with the token",
        ),
        Positive {
            hint: None,
            ..p(
                "secret-16",
                &[AES_URI],
                16,
                "the smallest secret (16 bytes) and an empty hint (\"hint:\" with no value)",
            )
        },
        p(
            "secret-4096",
            &[P256_URI],
            4096,
            "the largest secret (4096 bytes): a payload line of about 5.5 KiB",
        ),
        Positive {
            label: "Zoë's vault — 金庫",
            hint: Some("Großvaters Geburtstag — 誕生日"),
            password: "Zoë’s pässwörd 金庫",
            ..p(
                "unicode-label-hint",
                &[AES_URI],
                32,
                "non-ASCII (NFC) label, hint and password",
            )
        },
        Positive {
            password: "crème brûlée",
            expect_password: Some("cre\u{300}me bru\u{302}le\u{301}e"),
            ..p(
                "nfd-password",
                &[P256_URI],
                32,
                "made with an NFC password, opened with the same password typed in NFD: passwords are NFC-normalised",
            )
        },
    ]
}
