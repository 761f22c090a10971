//! Properties over generated inputs (proptest, stable; issue 9, item 6):
//! - a backup made of any secret, label and hint is read back byte for byte (its own canonical
//!   encoding) and opens to that secret;
//! - for N ≤ 6, every K-subset of the shares combines to D and opens the payload;
//! - every (K−1)-subset, combined without the count check (as if K−1 were the threshold), gives
//!   a value that does not open the payload.
//!
//! The CLI's refusal of K−1 shares before any password (exit 8) is in tests/cli_split.rs
//! (`three_of_five_every_triple_restores_and_every_pair_names_the_missing_officers`).

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Nonce};
use custody::internals::{crypto, format, shamir};
use custody::*;
use proptest::prelude::*;

/// An AES key in memory, doing what a token's AES key does with z.
struct SoftwareAes([u8; 32]);

impl AesKey for SoftwareAes {
    fn encrypt_z(
        &self,
        iv: &mut [u8; 12],
        aad: &[u8],
        z: &TokenSecret,
    ) -> Result<[u8; 48], TokenError> {
        let failed = |detail: &str| TokenError::Failed {
            token: "software".into(),
            detail: detail.into(),
        };
        let ct = Aes256Gcm::new((&self.0).into())
            .encrypt(
                &Nonce::from(*iv),
                Payload {
                    msg: z.expose(),
                    aad,
                },
            )
            .map_err(|_| failed("seal"))?;
        ct.try_into().map_err(|_| failed("length"))
    }
    fn decrypt_z(
        &self,
        iv: &[u8; 12],
        aad: &[u8],
        ct: &[u8; 48],
    ) -> Result<TokenSecret, TokenError> {
        let wrong = || TokenError::WrongKey {
            key: "software key".into(),
        };
        let z = Aes256Gcm::new((&self.0).into())
            .decrypt(&Nonce::from(*iv), Payload { msg: ct, aad })
            .map_err(|_| wrong())?;
        let z: [u8; 32] = z.try_into().map_err(|_| wrong())?;
        Ok(TokenSecret::from_bytes(&z))
    }
}

fn software_key(bytes: [u8; 32]) -> TokenKey<'static> {
    TokenKey {
        descriptor: Descriptor::Pkcs11 {
            kind: SlotKind::Pkcs11Aes,
            token_label: "software".into(),
            token_serial: String::new(),
            key_label: "property".into(),
            key_id: Vec::new(),
            key_hash: None,
        },
        name: "the property's software key".into(),
        ops: KeyOps::Aes(Box::new(SoftwareAes(bytes))),
        hardware_bound: false,
    }
}

const PASSWORD: &str = "correct horse battery staple";

struct Scripted;

impl Prompter for Scripted {
    fn info(&mut self, _: &str) {}
    fn warn(&mut self, _: &str, _: &str) {}
    fn new_password(&mut self, _: &str, _: bool) -> Result<NewPassword, PromptError> {
        let password = Password::new(PASSWORD).map_err(|e| PromptError::Refused {
            reason: e.to_string(),
        })?;
        Ok(NewPassword {
            password,
            hint: None,
        })
    }
    fn password(&mut self, _: &str) -> Result<Password, PromptError> {
        Password::new(PASSWORD).map_err(|e| PromptError::Refused {
            reason: e.to_string(),
        })
    }
    fn pin(&mut self, req: &PinRequest<'_>) -> Result<secrecy::SecretString, PromptError> {
        Err(PromptError::NotInteractive {
            what: format!("the PIN of {}", req.token),
        })
    }
}

/// Free text a person could type: letters (some beyond ASCII), digits, inner spaces.
fn free_text() -> impl Strategy<Value = String> {
    "[a-zA-Z0-9äöüßéλж ]{0,40}".prop_map(|s| s.trim().to_owned())
}

/// Every subset of `0..n` with `k` members, as index lists.
fn subsets(n: usize, k: usize) -> Vec<Vec<usize>> {
    (0u32..(1 << n))
        .filter(|m| m.count_ones() as usize == k)
        .map(|m| (0..n).filter(|i| m & (1 << i) != 0).collect())
        .collect()
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, ..ProptestConfig::default() })]

    #[test]
    fn a_backup_reads_back_canonically_and_opens_to_its_secret(
        secret in proptest::collection::vec(any::<u8>(), 16..=300),
        label in free_text(),
        hint in free_text(),
        key in any::<[u8; 32]>(),
    ) {
        let kdf = KdfParams { memory_kib: 8 * 1024, iterations: 1, parallelism: 1 };
        let options = BackupOptions {
            allow_weak_kdf: true,
            allow_exportable_key: true,
            ..BackupOptions::default()
        };
        let request = SetRequest::single(
            Output::Memory { name: "p.custody".into() },
            vec![KeySpec::Key(software_key(key))],
            Some(hint.clone()),
            &label,
            kdf,
            options,
        ).unwrap();
        let env = TokenEnv::default();
        let master = MasterSecret::from_slice(&secret).unwrap();
        let report = backup(request, master, env.clone(), &mut Scripted).unwrap();
        let bytes = report.files[0].bytes.clone().unwrap();

        let (file, enc) = format::parse(&bytes).unwrap();
        prop_assert_eq!(&enc.bytes, &bytes);
        prop_assert_eq!(file.encode().unwrap().bytes, bytes.clone());
        prop_assert_eq!(&file.common.label, &label);
        prop_assert_eq!(&file.own.hint, &hint);

        let input = Input::Bytes { name: "p.custody".into(), bytes };
        let opened = open_backup(&input, &[KeySpec::Key(software_key(key))], env, &mut Scripted)
            .unwrap();
        prop_assert_eq!(opened.secret.expose(), secret.as_slice());
    }

    #[test]
    fn every_k_subset_combines_and_no_smaller_one_opens_the_payload(
        n in 2u8..=6,
        k_pick in 0u8..=255,
        payload in proptest::collection::vec(any::<u8>(), 1..64),
        set_id in any::<[u8; 16]>(),
        nonce in any::<[u8; 12]>(),
    ) {
        let k = 2 + k_pick % (n - 1); // 2..=n
        let d = crypto::random_data_key();
        let sealed = crypto::aead_seal(&crypto::payload_key(&d, &set_id), &nonce, b"hc", &payload)
            .unwrap();
        let shares = shamir::split(&d, k, n).unwrap();
        for subset in subsets(n.into(), k.into()) {
            let picked: Vec<&shamir::Share> = subset.iter().map(|&i| &shares[i]).collect();
            let got = shamir::combine(&picked, k).unwrap();
            prop_assert_eq!(got.expose(), d.expose());
            let opened = crypto::aead_open(&crypto::payload_key(&got, &set_id), &nonce, b"hc", &sealed)
                .map(|p| p.to_vec());
            prop_assert_eq!(opened, Some(payload.clone()));
        }
        for subset in subsets(n.into(), usize::from(k) - 1) {
            let picked: Vec<&shamir::Share> = subset.iter().map(|&i| &shares[i]).collect();
            // Combined as if the threshold were K−1 (the count check passes): another value.
            // One point interpolates to itself: a single share "combines" to its own value.
            let got = if k == 2 {
                DataKey::from_bytes(picked[0].value.expose())
            } else {
                shamir::combine(&picked, k - 1).unwrap()
            };
            prop_assert_ne!(got.expose(), d.expose());
            let opened =
                crypto::aead_open(&crypto::payload_key(&got, &set_id), &nonce, b"hc", &sealed);
            prop_assert!(opened.is_none());
        }
    }
}
