//! Split sets.
//!
//! A set case is a directory `sets/<case>/` holding the share files it gives (copies: every
//! case stands alone) and `case.expect` (see `vectors::sets::SetExpect`). The sets themselves
//! are dealt once; the files of each live in the directory of its *home* case, which gives all N
//! of them as `1.custody` .. `N.custody` in index order, so a later run reads the set back from
//! there.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use custody::internals::ceremony;
use custody::internals::crypto;
use custody::internals::format::{self, BackupFile, KdfParams};
use custody::internals::secret::{FileSecret, MasterSecret, Password, ShareValue};
use custody::internals::token::registry::TokenEnv;
use custody::internals::token::uri::TokenLocator;

use crate::cli_exit;
use crate::edit::{edit, flip_byte, flip_hex, restruct, set};
use crate::observe::{category, write_new};
use crate::positives::{AES_URI, P256_URI};
use crate::vectors::{self, Expect, Scripted};

const SET_LABEL: &str = "custody set vectors";

/// A set dealt once: by `ceremony::backup_set`, or (`forge`) by hand with a share that is not on
/// the polynomial of the others, as a dishonest dealer would make it.
struct BaseSet {
    name: &'static str,
    home: &'static str,
    threshold: u8,
    shares: Vec<BaseShare>,
    /// Dealt by hand: this share's value is random (and committed in the header), not a point
    /// of the polynomial the other shares lie on.
    forge: Option<u8>,
}

struct BaseShare {
    officer: &'static str,
    password: &'static str,
    hint: Option<&'static str>,
    tokens: &'static [&'static str],
}

fn bs(
    officer: &'static str,
    password: &'static str,
    hint: Option<&'static str>,
    tokens: &'static [&'static str],
) -> BaseShare {
    BaseShare {
        officer,
        password,
        hint,
        tokens,
    }
}

fn base_sets() -> Vec<BaseSet> {
    vec![
        BaseSet {
            name: "aes-2of3",
            home: "aes-2of3-all",
            threshold: 2,
            shares: vec![
                bs("Alice", "alice password", Some("Alice's usual"), &[AES_URI]),
                bs("Bob", "bob password", Some("Bob's usual"), &[AES_URI]),
                bs("Carol", "carol password", Some("Carol's usual"), &[AES_URI]),
            ],
            forge: None,
        },
        BaseSet {
            name: "p256-3of5",
            home: "p256-3of5-all",
            threshold: 3,
            shares: vec![
                bs("", "share one password", None, &[P256_URI]),
                bs("", "share two password", None, &[P256_URI]),
                bs("", "share three password", None, &[P256_URI]),
                bs("", "share four password", None, &[P256_URI]),
                bs("", "share five password", None, &[P256_URI]),
            ],
            forge: None,
        },
        BaseSet {
            name: "unicode-2of2",
            home: "unicode-2of2-both",
            threshold: 2,
            shares: vec![
                bs(
                    "Zoë Ångström",
                    "Zoë’s pässwörd 金庫",
                    Some("Großvaters Geburtstag"),
                    &[AES_URI],
                ),
                bs(
                    "Ōta Sōichirō 太田",
                    "太田の合言葉 — ōta",
                    Some("誕生日"),
                    &[P256_URI],
                ),
            ],
            forge: None,
        },
        BaseSet {
            name: "forged-2of3",
            home: "forged-2of3-all",
            threshold: 2,
            shares: vec![
                bs("Dana", "dana password", Some("Dana's usual"), &[AES_URI]),
                bs("Erin", "erin password", Some("Erin's usual"), &[AES_URI]),
                bs(
                    "Mallory",
                    "mallory password",
                    Some("Mallory's usual"),
                    &[AES_URI],
                ),
            ],
            forge: Some(3),
        },
    ]
}

/// A dealt set: its files in index order, and its secret when known.
struct Dealt {
    files: Vec<Vec<u8>>,
    secret: Option<Vec<u8>>,
}

const SET_KDF: KdfParams = KdfParams {
    memory_kib: 8 * 1024,
    iterations: 1,
    parallelism: 1,
};

fn share_file(i: usize) -> String {
    format!("{}.custody", i + 1)
}

/// Deal a set with `ceremony::backup_set` into `scratch`.
fn deal(b: &BaseSet, secret: &[u8], scratch: &Path, env: &TokenEnv) -> Vec<Vec<u8>> {
    let shares = b
        .shares
        .iter()
        .enumerate()
        .map(|(i, s)| ceremony::ShareSpec {
            out: ceremony::Output::Path(scratch.join(share_file(i))),
            officer: s.officer.into(),
            hint: s.hint.map(String::from),
            keys: s
                .tokens
                .iter()
                .map(|t| ceremony::KeySpec::Locator(TokenLocator::from_str(t).expect("locator")))
                .collect(),
        })
        .collect();
    let req = ceremony::SetRequest::new(
        Some(b.threshold),
        shares,
        Some(SET_LABEL),
        SET_KDF,
        ceremony::BackupOptions {
            allow_weak_kdf: true,
            single_token: true,
            force: false,
            allow_same_device: true,
            // The vector keys are imported (tests/vectors/keys), never bound to a token.
            allow_exportable_key: true,
        },
    )
    .expect("a valid set request");
    let secret = MasterSecret::from_slice(secret).expect("a vector secret");
    let pw: Vec<Option<String>> = b.shares.iter().map(|s| Some(s.password.into())).collect();
    let mut prompter = vectors::sets::PerFile::new(&pw, vectors::USER_PIN);
    ceremony::backup_set(req, secret, env.clone(), &mut prompter)
        .unwrap_or_else(|e| panic!("backup_set {}: {e}", b.name));
    (0..b.shares.len())
        .map(|i| std::fs::read(scratch.join(share_file(i))).expect("read a dealt share"))
        .collect()
}

/// Deal a set by hand, as `backup_set` does (§4.14, §4.15), except that share `forged` is a
/// random value: committed in the header, wrapped in its file, MAC'd, but not on the polynomial.
fn deal_forged(b: &BaseSet, forged: u8, secret: &[u8], env: &TokenEnv) -> Vec<Vec<u8>> {
    let n = b.shares.len() as u8;
    let d = crypto::random_data_key();
    let set_id: [u8; 16] = crypto::random_array();
    let mut values: Vec<custody::internals::shamir::Share> =
        custody::internals::shamir::split(&d, b.threshold, n).expect("split");
    values[forged as usize - 1].value = ShareValue::from_bytes(&crypto::random_array());
    let values: Vec<(u8, FileSecret)> = values
        .iter()
        .map(|v| (v.index, FileSecret::from_bytes(v.value.expose())))
        .collect();
    let common = format::CommonHeader {
        set_id,
        created: "2025-01-01T00:00:00Z".into(),
        label: SET_LABEL.into(),
        threshold: b.threshold,
        count: n,
        officers: b.shares.iter().map(|s| s.officer.to_owned()).collect(),
        commitments: values
            .iter()
            .map(|(index, value)| crypto::share_commitment(&set_id, *index, value))
            .collect(),
        fingerprint: crypto::fingerprint(secret),
        payload_nonce: crypto::random_array(),
    };
    let hc = crypto::common_header_hash(&format::encode_common(&common));
    let payload = crypto::aead_seal(
        &crypto::payload_key(&d, &set_id),
        &common.payload_nonce,
        &hc,
        secret,
    )
    .expect("seal the payload");
    let mut prompter = Scripted::new("");
    let mut tokens = custody::internals::token::registry::Tokens::new(env.clone(), &mut prompter);
    let mut out = Vec::new();
    for (i, sh) in b.shares.iter().enumerate() {
        let own = format::FileFields {
            index: values[i].0,
            hint: sh.hint.unwrap_or("").into(),
            kdf: SET_KDF,
            kdf_salt: crypto::random_array(),
        };
        let a = crypto::argon2id(
            &Password::new(sh.password).expect("password"),
            &own.kdf_salt,
            &own.kdf,
        )
        .expect("argon2id");
        let ff = format::encode_file_fields(&own);
        let slots = sh
            .tokens
            .iter()
            .map(|t| {
                let key = tokens
                    .resolve(&TokenLocator::from_str(t).expect("locator"))
                    .expect("a token locator")
                    .expect("resolve a vector key");
                custody::internals::slot::make_slot(&hc, &ff, &key, &a, &values[i].1)
                    .expect("make slot")
            })
            .collect();
        let mut file = BackupFile {
            common: common.clone(),
            own,
            slots,
            payload: payload.clone(),
            mac: [0; 32],
        };
        let enc = file.encode().expect("encode");
        file.mac = custody::internals::slot::compute_mac(&file, &enc, &values[i].1);
        let bytes = file.encode().expect("encode").bytes;
        format::parse(&bytes).expect("a forged share is still a valid file");
        out.push(bytes);
    }
    out
}

/// Changes a share file's bytes.
type ShareEdit = dyn Fn(&[u8]) -> Vec<u8>;

/// How a case's file is made from a dealt set.
enum Src {
    /// Share `i` (1-based) of a set, as dealt.
    Share(&'static str, usize),
    /// Share `i` of a set, changed.
    Edit(&'static str, usize, Box<ShareEdit>),
}

/// The password given for a file.
enum Pw {
    /// The password the share was made with.
    Own,
    /// None: the officer is absent (an empty entry at the prompt).
    Skip,
    Is(&'static str),
}

struct SetCase {
    name: &'static str,
    /// The set being restored: its secret is what "ok" must give.
    base: &'static str,
    files: Vec<(String, Src, Pw)>,
    partial_ok: bool,
    expect: &'static str,
    names: Vec<&'static str>,
    comment: &'static str,
    pending: Option<&'static str>,
}

fn case(
    name: &'static str,
    base: &'static str,
    expect: &'static str,
    comment: &'static str,
) -> SetCase {
    SetCase {
        name,
        base,
        files: Vec::new(),
        partial_ok: false,
        expect,
        names: Vec::new(),
        comment,
        pending: None,
    }
}

impl SetCase {
    /// Share `i` of the case's set, as `i.custody`, with its own password.
    fn share(self, i: usize) -> Self {
        let base = self.base;
        self.file(&format!("{i}.custody"), Src::Share(base, i), Pw::Own)
    }
    fn shares(self, idx: &[usize]) -> Self {
        idx.iter().fold(self, |c, &i| c.share(i))
    }
    fn share_pw(self, i: usize, pw: Pw) -> Self {
        let base = self.base;
        self.file(&format!("{i}.custody"), Src::Share(base, i), pw)
    }
    fn file(mut self, name: &str, src: Src, pw: Pw) -> Self {
        self.files.push((name.to_owned(), src, pw));
        self
    }
    fn edited(self, name: &str, i: usize, f: impl Fn(&[u8]) -> Vec<u8> + 'static) -> Self {
        let base = self.base;
        self.file(name, Src::Edit(base, i, Box::new(f)), Pw::Own)
    }
    fn names(mut self, n: &[&'static str]) -> Self {
        self.names.extend_from_slice(n);
        self
    }
    fn partial(mut self) -> Self {
        self.partial_ok = true;
        self
    }
    fn pending(mut self, why: &'static str) -> Self {
        self.pending = Some(why);
        self
    }
}

/// The home case of a set: it gives all N files, `1.custody` .. `N.custody`.
fn home(base: &'static str, expect: &'static str, comment: &'static str) -> SetCase {
    let b = base_sets()
        .into_iter()
        .find(|b| b.name == base)
        .expect("a known base set");
    case(b.home, base, expect, comment).shares(&(1..=b.shares.len()).collect::<Vec<_>>())
}

/// §5.4 step 2 takes the first group on a tie: with one genuine and one changed file, the changed
/// one given first is taken as the set, and the genuine one is named "altered, or from another
/// backup with a forged set id"; the changed file itself is named nowhere.
const TIE_PENDING: &str =
    "on a tie the first group is the set: the genuine file is blamed, the changed one is not named";

/// §5.4 step 3 keeps the first file for an index and drops the others unopened: a changed file
/// claiming index 3 given before the genuine share 3 fails, and the genuine one is never tried.
const FIRST_OF_INDEX_PENDING: &str = "a second file for an index is never tried when the first \
     fails: a bad file given first knocks out the genuine share";

fn tamper_commitment(b: &[u8]) -> Vec<u8> {
    edit(b, |l| flip_hex(l, "commitment.2", 0, 7))
}

fn set_cases() -> Vec<SetCase> {
    const A: &str = "aes-2of3";
    const B: &str = "p256-3of5";
    const C: &str = "unicode-2of2";
    const D: &str = "forged-2of3";
    vec![
        // ── 2-of-3, AES: any two shares, in any order; a third is cross-checked ──
        home(A, "ok", "all three shares of a 2-of-3 set (AES token): the third is cross-checked against the first two"),
        case("aes-2of3-from-1-2", A, "ok", "shares 1 and 2 of a 2-of-3 set").shares(&[1, 2]),
        case("aes-2of3-from-2-3", A, "ok", "shares 2 and 3 of a 2-of-3 set").shares(&[2, 3]),
        case("aes-2of3-from-1-3", A, "ok", "shares 1 and 3 of a 2-of-3 set").shares(&[1, 3]),
        case(
            "aes-2of3-from-3-1",
            A,
            "ok",
            "shares 3 and 1 of a 2-of-3 set, given in that order: each officer's password goes by the file's position",
        )
        .shares(&[3, 1]),
        case(
            "aes-2of3-only-2",
            A,
            "not-enough",
            "one share of a 2-of-3 set: refused before any password is asked, naming the officers who hold the others",
        )
        .share(2)
        .names(&["officer Alice (share 1)", "officer Carol (share 3)"]),
        case(
            "aes-2of3-verify-2",
            A,
            "shares-ok",
            "one share of a 2-of-3 set verified alone (partial_ok): it opens and matches its commitment",
        )
        .share(2)
        .partial()
        .names(&["officer Bob (share 2)"]),
        case(
            "aes-2of3-same-share-twice",
            A,
            "not-enough",
            "share 1 and a byte-identical copy of it: counted once, so one share short",
        )
        .share(1)
        .file("1-copy.custody", Src::Share(A, 1), Pw::Own)
        .names(&["1-copy.custody:", "given twice", "officer Bob (share 2)"]),
        case(
            "aes-2of3-same-path-twice",
            A,
            "not-enough",
            "the same file given twice (one path, twice): counted once, so one share short",
        )
        .shares(&[1, 1])
        .names(&["given twice", "officer Bob (share 2)"]),
        case(
            "aes-2of3-same-share-twice-and-3",
            A,
            "ok",
            "share 1, a byte-identical copy of it, and share 3: the copy is named and left out",
        )
        .share(1)
        .file("1-copy.custody", Src::Share(A, 1), Pw::Own)
        .share(3)
        .names(&["1-copy.custody:", "given twice"]),
        case(
            "aes-2of3-wrong-password-with-extra",
            A,
            "ok",
            "share 1 with a wrong password, shares 2 and 3 right: restored, share 1 named",
        )
        .share_pw(1, Pw::Is("not alice password"))
        .shares(&[2, 3])
        .names(&["1.custody: the password is wrong"]),
        case(
            "aes-2of3-wrong-password-no-extra",
            A,
            "not-enough",
            "share 1 with a wrong password, share 2 right, no third: one short, share 1 named",
        )
        .share_pw(1, Pw::Is("not alice password"))
        .share(2)
        .names(&["1.custody: the password is wrong", "officer Alice (share 1)"]),
        case(
            "aes-2of3-skipped-with-extra",
            A,
            "ok",
            "officer 1 absent (empty password entry), shares 2 and 3: restored, the skip named",
        )
        .share_pw(1, Pw::Skip)
        .shares(&[2, 3])
        .names(&["1.custody: skipped"]),
        case(
            "aes-2of3-skipped-no-extra",
            A,
            "not-enough",
            "share 1, officer 2 absent (empty password entry): one short, officer 2 named",
        )
        .share(1)
        .share_pw(2, Pw::Skip)
        .names(&["2.custody: skipped", "officer Bob (share 2)"]),
        case(
            "aes-2of3-foreign-share",
            A,
            "ok",
            "shares 1 and 3 with share 1 of another set (the 2-of-2 set) between them: restored, the foreign file named",
        )
        .share(1)
        .file("foreign.custody", Src::Share(C, 1), Pw::Own)
        .share(3)
        .names(&["foreign.custody:", "another set"]),
        case(
            "aes-2of3-tampered-commitment",
            A,
            "ok",
            "share 2 with one bit of its own commitment.2 flipped (checksum recomputed), between shares 1 and 3: its header differs, it is named and left out",
        )
        .share(1)
        .edited("2-tampered.custody", 2, tamper_commitment)
        .share(3)
        .names(&["2-tampered.custody:"]),
        case(
            "aes-2of3-tampered-commitment-no-extra",
            A,
            "not-enough",
            "share 1, then share 2 with commitment.2 changed (checksum recomputed): one short, the changed file named",
        )
        .share(1)
        .edited("2-tampered.custody", 2, tamper_commitment)
        .names(&["2-tampered.custody:", "officer Bob (share 2)"]),
        case(
            "aes-2of3-tampered-first-tie",
            A,
            "not-enough",
            "share 2 with commitment.2 changed (checksum recomputed) given first, then share 1: two groups of one; the changed file must be the one named",
        )
        .edited("2-tampered.custody", 2, tamper_commitment)
        .share(1)
        .names(&["2-tampered.custody:"])
        .pending(TIE_PENDING),
        case(
            "aes-2of3-tampered-officer",
            A,
            "ok",
            "share 2 with officer.2 renamed \"Mallory\" (checksum recomputed), between shares 1 and 3: named and left out",
        )
        .share(1)
        .edited("2-tampered.custody", 2, |b| edit(b, |l| set(l, "officer.2", "Mallory")))
        .share(3)
        .names(&["2-tampered.custody:"]),
        case(
            "aes-2of3-tampered-threshold",
            A,
            "ok",
            "share 2 with threshold 3 instead of 2 (checksum recomputed), given first, then shares 1 and 3: the two agreeing files are the set, the changed one is named",
        )
        .edited("2-tampered.custody", 2, |b| edit(b, |l| set(l, "threshold", "3")))
        .shares(&[1, 3])
        .names(&["2-tampered.custody:"]),
        case(
            "aes-2of3-tampered-payload",
            A,
            "ok",
            "share 2 with one bit of its payload flipped (checksum recomputed), between shares 1 and 3: named and left out",
        )
        .share(1)
        .edited("2-tampered.custody", 2, |b| restruct(b, |f| f.payload[3] ^= 0x01))
        .share(3)
        .names(&["2-tampered.custody:"]),
        case(
            "aes-2of3-tampered-mac",
            A,
            "ok",
            "share 2 with one bit of its mac flipped (checksum recomputed), between shares 1 and 3: its slot opens, its MAC does not match, it is named as altered",
        )
        .share(1)
        .edited("2-tampered.custody", 2, |b| restruct(b, |f| f.mac[0] ^= 0x01))
        .share(3)
        .names(&["2-tampered.custody:", "altered"]),
        case(
            "aes-2of3-tampered-mac-no-extra",
            A,
            "not-enough",
            "share 1, then share 2 with its mac changed (checksum recomputed): one short, share 2 named as altered",
        )
        .share(1)
        .edited("2-tampered.custody", 2, |b| restruct(b, |f| f.mac[0] ^= 0x01))
        .names(&["2-tampered.custody:", "altered"]),
        case(
            "aes-2of3-index-changed-after",
            A,
            "ok",
            "shares 1 and 3, then share 2 claiming index 3 (checksum recomputed): another file for share 3, named and not used",
        )
        .shares(&[1, 3])
        .edited("2-as-3.custody", 2, |b| edit(b, |l| set(l, "index", "3")))
        .names(&["2-as-3.custody:"]),
        case(
            "aes-2of3-index-changed-first",
            A,
            "ok",
            "share 2 claiming index 3 (checksum recomputed) given first, then the genuine shares 3 and 1: the two genuine shares must still restore",
        )
        .edited("2-as-3.custody", 2, |b| edit(b, |l| set(l, "index", "3")))
        .shares(&[3, 1])
        .names(&["2-as-3.custody:"])
        .pending(FIRST_OF_INDEX_PENDING),
        case(
            "aes-2of3-damaged-share",
            A,
            "ok",
            "share 2 with one bit flipped (checksum not recomputed), between shares 1 and 3: named as damaged",
        )
        .share(1)
        .edited("2-damaged.custody", 2, |b| flip_byte(b, b.len() / 2))
        .share(3)
        .names(&["2-damaged.custody:", "damaged"]),
        case(
            "aes-2of3-only-damaged",
            A,
            "unreadable",
            "a damaged share alone: no file given is readable",
        )
        .edited("2-damaged.custody", 2, |b| flip_byte(b, b.len() / 2))
        .names(&["2-damaged.custody:", "damaged"]),
        // ── 3-of-5, P-256, officers without names ──
        home(B, "ok", "all five shares of a 3-of-5 set (P-256 token, no officer names): two extra shares cross-checked"),
        case(
            "p256-3of5-from-5-1-3",
            B,
            "ok",
            "shares 5, 1 and 3 of a 3-of-5 set, in that order",
        )
        .shares(&[5, 1, 3]),
        case(
            "p256-3of5-from-1-2",
            B,
            "not-enough",
            "two shares of a 3-of-5 set: refused before any password is asked, naming shares 3, 4 and 5",
        )
        .shares(&[1, 2])
        .names(&["share 3", "share 4", "share 5"]),
        // ── 2-of-2, officers with non-ASCII names and passwords, one AES and one P-256 share ──
        home(C, "ok", "both shares of a 2-of-2 set whose officers have non-ASCII names and passwords (share 1 AES, share 2 P-256)"),
        case(
            "unicode-2of2-reversed",
            C,
            "ok",
            "both shares of the non-ASCII 2-of-2 set, share 2 first",
        )
        .shares(&[2, 1]),
        case(
            "unicode-2of2-only-2",
            C,
            "not-enough",
            "share 2 of the non-ASCII 2-of-2 set alone: the missing officer is named as written",
        )
        .share(2)
        .names(&["officer Zoë Ångström (share 1)"]),
        // ── a dishonest dealer: share 3 committed but not on the polynomial ──
        home(D, "inconsistent", "a hand-dealt 2-of-3 set whose share 3 is genuine-looking (committed, MAC'd) but not on the polynomial of shares 1 and 2: the extra share is at odds, nothing is output")
        .names(&["3.custody is at odds"]),
        case(
            "forged-2of3-from-1-3",
            D,
            "inconsistent",
            "shares 1 and 3 of the hand-dealt set (share 3 off the polynomial): they combine to a wrong data key, the payload does not open, nothing is output",
        )
        .shares(&[1, 3])
        .names(&["does not decrypt"]),
        case(
            "forged-2of3-from-1-2",
            D,
            "ok",
            "shares 1 and 2 of the hand-dealt set (both on the polynomial): restored",
        )
        .shares(&[1, 2]),
    ]
}

/// A share file in the flat directory: a backup file too, given alone to `open_backup`.
struct FlatShare {
    name: &'static str,
    base: &'static str,
    index: usize,
    comment: &'static str,
}

fn flat_shares() -> Vec<FlatShare> {
    vec![
        FlatShare {
            name: "share-alone-aes-2of3-2",
            base: "aes-2of3",
            index: 2,
            comment: "share 2 of a 2-of-3 set (AES) opened alone as a single backup (open_backup): refused before any token is used, naming it share 2 of a 2-of-3 set; recorded as observed (invalid, exit 5)",
        },
        FlatShare {
            name: "share-alone-p256-3of5-5",
            base: "p256-3of5",
            index: 5,
            comment: "share 5 of a 3-of-5 set (P-256) opened alone as a single backup (open_backup): refused before any token is used, naming it share 5 of a 3-of-5 set; recorded as observed (invalid, exit 5)",
        },
        FlatShare {
            name: "share-alone-unicode-2of2-1",
            base: "unicode-2of2",
            index: 1,
            comment: "share 1 of a 2-of-2 set (non-ASCII officers) opened alone as a single backup (open_backup): refused before any token is used, naming it share 1 of a 2-of-2 set; recorded as observed (invalid, exit 5)",
        },
    ]
}

fn share_password(bases: &[BaseSet], base: &str, i: usize) -> &'static str {
    bases
        .iter()
        .find(|b| b.name == base)
        .unwrap_or_else(|| panic!("no base set {base}"))
        .shares[i - 1]
        .password
}

struct SetObserved {
    category: String,
    exit: i32,
    /// The error, or what opened.
    text: String,
    warn: Vec<String>,
    secret: Option<Vec<u8>>,
    asked: Vec<usize>,
}

fn observe_set(
    paths: &[PathBuf],
    passwords: &[Option<String>],
    env: &TokenEnv,
    partial_ok: bool,
) -> SetObserved {
    let mut p = vectors::sets::PerFile::new(passwords, vectors::USER_PIN);
    let inputs: Vec<ceremony::Input> = paths.iter().cloned().map(ceremony::Input::Path).collect();
    let r = ceremony::open_set(&inputs, &[], env.clone(), &mut p, partial_ok);
    let (category, exit, text, secret) = match r {
        Ok(ceremony::SetCheck::Whole(o)) => (
            "ok",
            cli_exit::OK,
            format!("opened with {}", o.opened_with),
            Some(o.secret.expose().to_vec()),
        ),
        Ok(ceremony::SetCheck::Shares { opened, .. }) => (
            "shares-ok",
            cli_exit::OK,
            opened
                .iter()
                .map(|(f, who)| format!("{}: {who}", f.display()))
                .collect::<Vec<_>>()
                .join("; "),
            None,
        ),
        Err(e) => (
            match &e {
                ceremony::SetError::NotEnough { .. } => "not-enough",
                ceremony::SetError::Inconsistent { .. } => "inconsistent",
                ceremony::SetError::NothingReadable { .. } => "unreadable",
                ceremony::SetError::Fatal(_) => "fatal",
                _ => "other",
            },
            cli_exit::code(e.kind()),
            e.to_string(),
            None,
        ),
    };
    SetObserved {
        category: category.into(),
        exit,
        text,
        warn: p.warn,
        secret,
        asked: p.asked,
    }
}

fn set_want_exit(category: &str) -> i32 {
    match category {
        "ok" | "shares-ok" => cli_exit::OK,
        "not-enough" => cli_exit::NOT_ENOUGH_SHARES,
        _ => cli_exit::DAMAGED,
    }
}

fn fresh_dir(p: &Path) {
    if p.exists() {
        std::fs::remove_dir_all(p).unwrap_or_else(|e| panic!("remove {}: {e}", p.display()));
    }
    std::fs::create_dir_all(p).unwrap_or_else(|e| panic!("create {}: {e}", p.display()));
}

/// Deal (or read back) the sets, then make every set case and flat share vector that is missing.
pub fn make_sets(
    dir: &Path,
    work: &Path,
    env: &TokenEnv,
    failures: &mut Vec<String>,
    pending: &mut Vec<String>,
) {
    let sets_dir = dir.join(vectors::sets::SETS_DIR);
    std::fs::create_dir_all(&sets_dir).expect("create the sets directory");
    let bases = base_sets();
    let cases = set_cases();
    for (i, c) in cases.iter().enumerate() {
        assert!(
            !cases[..i].iter().any(|o| o.name == c.name),
            "set case {} twice",
            c.name
        );
    }

    let mut dealt: BTreeMap<&str, Dealt> = BTreeMap::new();
    for b in &bases {
        let home = cases
            .iter()
            .find(|c| c.name == b.home)
            .unwrap_or_else(|| panic!("set {} has no home case {}", b.name, b.home));
        assert!(
            home.base == b.name
                && home.files.len() == b.shares.len()
                && home.files.iter().enumerate().all(|(i, (f, src, _))| {
                    *f == share_file(i)
                        && matches!(src, Src::Share(s, j) if *s == b.name && *j == i + 1)
                }),
            "the home case {} must give all shares of {} as 1.custody .. N.custody",
            b.home,
            b.name
        );
        let home_dir = sets_dir.join(b.home);
        let d = if home_dir.exists() {
            let files = (0..b.shares.len())
                .map(|i| {
                    std::fs::read(home_dir.join(share_file(i)))
                        .unwrap_or_else(|e| panic!("set {}: {e}", b.name))
                })
                .collect();
            // The secret, from a case of this set that opens.
            let secret = cases
                .iter()
                .filter(|c| c.base == b.name)
                .filter_map(|c| {
                    let t = std::fs::read_to_string(
                        sets_dir.join(c.name).join(vectors::sets::SET_EXPECT_FILE),
                    )
                    .ok()?;
                    vectors::sets::SetExpect::parse(&t).ok()?.secret
                })
                .next();
            println!("kept     set {} (from {})", b.name, b.home);
            Dealt { files, secret }
        } else {
            for c in cases.iter().filter(|c| c.base == b.name) {
                assert!(
                    !sets_dir.join(c.name).exists(),
                    "{} exists but the home case {} of its set does not: cases are frozen, restore {}",
                    c.name,
                    b.home,
                    b.home
                );
            }
            let mut secret = vec![0u8; 32];
            crypto::fill_random(&mut secret);
            let scratch = work.join("deal").join(b.name);
            fresh_dir(&scratch);
            let files = match b.forge {
                None => deal(b, &secret, &scratch, env),
                Some(f) => deal_forged(b, f, &secret, env),
            };
            println!(
                "dealt    set {} ({} of {})",
                b.name,
                b.threshold,
                b.shares.len()
            );
            Dealt {
                files,
                secret: Some(secret),
            }
        };
        dealt.insert(b.name, d);
    }

    for c in &cases {
        let case_dir = sets_dir.join(c.name);
        if case_dir.exists() {
            assert!(
                case_dir.join(vectors::sets::SET_EXPECT_FILE).exists(),
                "{} has no {}",
                case_dir.display(),
                vectors::sets::SET_EXPECT_FILE
            );
            println!("kept     sets/{}", c.name);
            continue;
        }
        let scratch = work.join("sets").join(c.name);
        fresh_dir(&scratch);
        let mut written: Vec<(String, Vec<u8>)> = Vec::new();
        let mut passwords: Vec<Option<String>> = Vec::new();
        for (name, src, pw) in &c.files {
            let (b, i, bytes) = match src {
                Src::Share(b, i) => (*b, *i, dealt[b].files[i - 1].clone()),
                Src::Edit(b, i, f) => {
                    let base = &dealt[b].files[i - 1];
                    let bytes = f(base);
                    assert!(bytes != *base, "{}: {name} changes nothing", c.name);
                    (*b, *i, bytes)
                }
            };
            match written.iter().find(|(n, _)| n == name) {
                Some((_, w)) => assert!(
                    *w == bytes,
                    "{}: {name} given twice with other bytes",
                    c.name
                ),
                None => {
                    std::fs::write(scratch.join(name), &bytes).expect("write scratch");
                    written.push((name.clone(), bytes));
                }
            }
            passwords.push(match pw {
                Pw::Own => Some(share_password(&bases, b, i).to_owned()),
                Pw::Skip => None,
                Pw::Is(p) => Some((*p).to_owned()),
            });
        }
        let paths: Vec<PathBuf> = c.files.iter().map(|(n, _, _)| scratch.join(n)).collect();
        let o = observe_set(&paths, &passwords, env, c.partial_ok);
        let seen = format!("{}\n{}", o.text, o.warn.join("\n"));

        let mut problems = Vec::new();
        let want_secret = dealt[c.base].secret.clone();
        if let Some(s) = &o.secret
            && Some(s) != want_secret.as_ref()
        {
            problems.push("opened to a WRONG secret (or the set's secret is unknown)".into());
        }
        if o.category != c.expect {
            problems.push(format!("came out as {}, declared {}", o.category, c.expect));
        }
        if o.exit != set_want_exit(c.expect) {
            problems.push(format!(
                "exit {} (want {})",
                o.exit,
                set_want_exit(c.expect)
            ));
        }
        for n in &c.names {
            if !seen.contains(n) {
                problems.push(format!("{n:?} is named nowhere"));
            }
        }
        let status = match (problems.is_empty(), c.pending) {
            (true, _) => "made    ",
            (false, None) => "REFUSED ",
            (false, Some(_)) => "PENDING ",
        };
        println!(
            "{status} sets/{:<36} {:<12} exit {}  asked {:?}",
            c.name, o.category, o.exit, o.asked
        );
        if !problems.is_empty() || std::env::var_os("VECTORS_VERBOSE").is_some() {
            println!("           {}", seen.replace('\n', "\n           "));
        }
        if !problems.is_empty() {
            let p = format!("sets/{}: {}", c.name, problems.join("; "));
            match c.pending {
                Some(why) => pending.push(format!("{p} ({why})")),
                None => failures.push(p),
            }
            continue;
        }
        let expect = vectors::sets::SetExpect {
            files: c.files.iter().map(|(n, _, _)| n.clone()).collect(),
            passwords,
            partial_ok: c.partial_ok,
            expect: o.category,
            exit: o.exit,
            secret: o.secret,
            asked: Some(o.asked.iter().map(|&p| c.files[p].0.clone()).collect()),
            names: c.names.iter().map(|n| (*n).to_owned()).collect(),
            comment: c.comment.into(),
        };
        expect
            .check()
            .unwrap_or_else(|e| panic!("sets/{}: {e}", c.name));
        let text = expect.encode();
        assert_eq!(
            vectors::sets::SetExpect::parse(&text).as_ref(),
            Ok(&expect),
            "sets/{}: case.expect does not read back",
            c.name
        );
        std::fs::create_dir(&case_dir)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", case_dir.display()));
        for (name, bytes) in &written {
            write_new(&case_dir.join(name), bytes);
        }
        write_new(
            &case_dir.join(vectors::sets::SET_EXPECT_FILE),
            text.as_bytes(),
        );
    }

    for f in flat_shares() {
        let path = dir.join(format!("{}.custody", f.name));
        let expect_path = dir.join(format!("{}.expect", f.name));
        if path.exists() {
            assert!(expect_path.exists(), "{} has no .expect", path.display());
            println!("kept     {}", f.name);
            continue;
        }
        assert!(
            !expect_path.exists(),
            "{} exists alone",
            expect_path.display()
        );
        let bytes = dealt[f.base].files[f.index - 1].clone();
        let (file, _) = format::parse(&bytes).expect("a share parses");
        let password = share_password(&bases, f.base, f.index);
        let scratch = work.join(format!("{}.custody", f.name));
        std::fs::write(&scratch, &bytes).expect("write scratch");
        let mut p = Scripted::new(password);
        let r = ceremony::open_backup(
            &ceremony::Input::Path(scratch.clone()),
            &[],
            env.clone(),
            &mut p,
        );
        let says = format!(
            "share {} of a {}-of-{}",
            file.own.index, file.common.threshold, file.common.count
        );
        let mut problems = Vec::new();
        let (cat, exit, msg) = match &r {
            Ok(o) => {
                problems.push(format!("it opened (with {})", o.opened_with));
                ("ok", 0, String::new())
            }
            Err(e) => (category(e), cli_exit::code(e.kind()), e.to_string()),
        };
        if r.is_err() && !msg.contains(&says) {
            problems.push(format!("the error does not say {says:?}"));
        }
        // Recorded as observed, in a category the single-file checks know.
        if r.is_err() && !vectors::CATEGORIES.contains(&cat) {
            problems.push(format!("refused as {cat}, not a category of .expect files"));
        }
        if p.pin_asked != 0 {
            problems.push(format!("a PIN was asked {} time(s)", p.pin_asked));
        }
        println!(
            "{} {:<28} {cat:<12} exit {exit}  pin asked {}  {msg}",
            if problems.is_empty() {
                "made    "
            } else {
                "REFUSED "
            },
            f.name,
            p.pin_asked
        );
        if !problems.is_empty() {
            failures.push(format!("{}: {}", f.name, problems.join("; ")));
            continue;
        }
        write_new(&path, &bytes);
        let expect = Expect {
            expect: cat.into(),
            exit,
            password: password.into(),
            secret: None,
            token_used: Some(false),
            comment: f.comment.into(),
        };
        write_new(&expect_path, expect.encode().as_bytes());
    }
}
