//! The YubiKey (PIV) backend against a software PIV card (tools/piv-card) on a virtual PC/SC
//! reader. Built only with `--features piv-tests`, which `tools/piv-card/run-with-card.sh` sets
//! after it has started pcscd and the card: a run without the card fails, it never skips.
//! One card: run these one at a time (`--test-threads=1`); each test uses its own PIV slot.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::cli::{self, Env, exit, fix_checksum, replace_line, uri};
use common::pty::Pty;

/// The card's serial (the harness's `--serial`, default 12345678).
fn serial() -> u32 {
    std::env::var("PIV_CARD_SERIAL")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(12345678)
}

fn yk(slot: u8) -> String {
    format!("yubikey:serial={};slot={slot:02x}", serial())
}

/// `yubico-piv-tool -r <the card's reader> <args>`, which must succeed.
fn piv_tool(env: &Env, args: &[&str]) -> cli::Out {
    let reader = std::env::var("PIV_CARD_READER").unwrap_or("Virtual PCD 00 00".into());
    let mut full = vec!["-r", reader.as_str()];
    full.extend_from_slice(args);
    env.tool("yubico-piv-tool", "yubico-piv-tool", &full)
}

/// A new custody key (no touch needed) where `locator` says, replacing what was there.
fn piv_keygen(env: &Env, locator: &str) -> cli::Out {
    let out = env.run([
        "token",
        "keygen",
        "--token",
        locator,
        "--type",
        "p256",
        "--force",
        "--touch-policy",
        "never",
    ]);
    out.ok();
    out
}

/// A fresh environment whose YubiKey slot `slot` holds a new custody key; returns its key hash.
fn with_key(name: &str, slot: u8) -> (Env, String) {
    let env = Env::new(name);
    let out = piv_keygen(&env, &yk(slot));
    // The virtual card keeps its factory management key: keygen says so, with what to do.
    out.stderr_has(&[
        "still has the factory management key",
        "change-management-key",
    ]);
    let hash = out.field("key hash:");
    assert_eq!(hash.len(), 64, "{}", out.dump());
    (env, hash)
}

#[test]
fn card_is_present() {
    let env = Env::new("piv-present");
    let out = env.run(["token", "list", "--json"]);
    out.ok();
    let v: serde_json::Value = serde_json::from_str(&out.stdout).expect("json");
    let cards: Vec<&serde_json::Value> = v["yubikeys"].as_array().unwrap().iter().collect();
    assert_eq!(v["pcscd"]["reachable"], true, "{v:#}");
    assert_eq!(
        cards.len(),
        1,
        "the virtual card is not visible: is tools/piv-card running? {}",
        out.dump()
    );
    assert_eq!(cards[0]["serial"], serial());
    // Where a new key would go, ready to paste.
    assert!(
        cards[0]["keygen_uri"]
            .as_str()
            .is_some_and(|u| u.starts_with(&format!("yubikey:serial={};slot=", serial()))),
        "{v:#}"
    );
}

#[test]
fn keygen_lists_the_key_and_refuses_an_occupied_slot() {
    let (env, hash) = with_key("piv-keygen", 0x82);
    let out = env.run(["token", "list"]);
    out.ok().stdout_has(&[
        &format!("YubiKey {}", serial()),
        "slot 82: custody P-256 key",
        &hash,
        &format!("--token 'yubikey:serial={};slot=82'", serial()),
    ]);
    // Without --force, an occupied slot is refused and keeps its key.
    env.run(["token", "keygen", "--token", &yk(0x82), "--type", "p256"])
        .code(exit::OUTPUT_EXISTS)
        .error_has(&["already holds a key", "--force"]);
    env.run(["token", "list"]).ok().stdout_has(&[&hash]);
    // AES keys do not live on a YubiKey.
    env.run(["token", "keygen", "--token", &yk(0x82), "--type", "aes"])
        .code(exit::USAGE);
}

#[test]
fn backup_and_restore_round_trip() {
    let (env, hash) = with_key("piv-roundtrip", 0x83);
    let secret = env.secret("secret.bin", 32);
    // The card's key metadata says the key was made on it: nothing to warn about.
    env.backup("secret.bin", &[&yk(0x83)], "b.custody", &["--single-token"])
        .ok()
        .stderr_lacks(&["does not say where the key comes from", "imported"]);
    let v = cli::inspect_json(&env, "b.custody");
    assert_eq!(v["slots"][0]["kind"], "piv-p256");
    assert_eq!(v["slots"][0]["card_serial"], serial());
    assert_eq!(v["slots"][0]["piv_slot"], "83");
    assert_eq!(v["slots"][0]["key_hash"], hash);
    assert_eq!(v["slots"][0]["verified"], true);
    // Found by the serial in the file. The key was made with touch policy "never", which the
    // card's metadata says: nobody is asked to touch it.
    env.restore("b.custody", "r1.bin", &[])
        .ok()
        .stderr_lacks(&["touch"]);
    assert_eq!(env.read("r1.bin"), secret);
    // Named with --token.
    env.restore("b.custody", "r2.bin", &["--token", &yk(0x83)])
        .ok()
        .stderr_lacks(&["does not say where the key comes from"]);
    assert_eq!(env.read("r2.bin"), secret);
}

#[test]
fn wrong_pin_reports_tries_left_and_is_not_retried() {
    let (env, _) = with_key("piv-wrongpin", 0x84);
    env.secret("secret.bin", 32);
    env.backup("secret.bin", &[&yk(0x84)], "b.custody", &["--single-token"])
        .ok();
    let out = env.restore_env(
        "b.custody",
        "r.bin",
        &[],
        &[("CUSTODY_PIN", Some("999999"))],
    );
    out.code(exit::AUTH)
        .error_has(&[&format!("YubiKey {}", serial()), "tries left"]);
    env.assert_absent("r.bin");
    // The right PIN works again (and resets the counter for the other tests).
    env.restore("b.custody", "r.bin", &[]).ok();
}

/// A public-key file for slot `from`, edited to claim another card or slot (checksum fixed).
fn edited_pubkey(env: &Env, from: u8, field: &str, value: &str) -> String {
    env.run([
        "token",
        "pubkey",
        "--token",
        &yk(from),
        "--out",
        &env.p("orig.pub"),
    ])
    .ok();
    let edited = fix_checksum(&replace_line(
        &env.read("orig.pub"),
        &format!("{field}:"),
        &format!("{field}: {value}"),
    ));
    env.write("edited.pub", &edited);
    std::fs::remove_file(env.path("orig.pub")).unwrap();
    format!("pubkey:{}", env.p("edited.pub"))
}

#[test]
fn another_card_is_named() {
    let (env, _) = with_key("piv-othercard", 0x85);
    env.secret("secret.bin", 32);
    let tok = edited_pubkey(&env, 0x85, "card-serial", "999");
    env.backup("secret.bin", &[&tok], "b.custody", &["--single-token"])
        .ok();
    env.restore("b.custody", "r.bin", &[])
        .code(exit::NOT_FOUND)
        .error_has(&["YubiKey 999 is needed", &format!("YubiKey {}", serial())]);
    env.assert_absent("r.bin");
}

#[test]
fn a_token_naming_another_card_says_which_card_the_file_needs() {
    let (env, _) = with_key("piv-wrongserial", 0x8b);
    env.secret("secret.bin", 32);
    env.backup("secret.bin", &[&yk(0x8b)], "b.custody", &["--single-token"])
        .ok();
    // The file's own card is present; --token names one that is not.
    env.restore(
        "b.custody",
        "r.bin",
        &["--token", "yubikey:serial=999;slot=8b"],
    )
    .code(exit::NOT_FOUND)
    .error_has(&[
        "--token names YubiKey 999, which is not present",
        &format!("this file needs YubiKey {}, which is", serial()),
        "leave out --token",
    ]);
    // A file for card 999 and a --token naming card 998: the file's need first, then what is
    // present, then what --token said.
    let tok = edited_pubkey(&env, 0x8b, "card-serial", "999");
    env.backup("secret.bin", &[&tok], "c.custody", &["--single-token"])
        .ok();
    env.restore(
        "c.custody",
        "r.bin",
        &["--token", "yubikey:serial=998;slot=8b"],
    )
    .code(exit::NOT_FOUND)
    .error_has(&[&format!(
        "this file needs YubiKey 999; present: YubiKey {} (--token names YubiKey 998)",
        serial()
    )]);
    env.assert_absent("r.bin");
}

#[test]
fn the_right_card_without_the_key_is_named() {
    let (env, _) = with_key("piv-nokey", 0x86);
    env.secret("secret.bin", 32);
    // Slot 94 never holds a key in these tests.
    let tok = edited_pubkey(&env, 0x86, "piv-slot", "94");
    env.backup("secret.bin", &[&tok], "b.custody", &["--single-token"])
        .ok();
    env.restore("b.custody", "r.bin", &[])
        .code(exit::NOT_FOUND)
        .error_has(&["slot 94 holds no key", "right card without the key"]);
    env.assert_absent("r.bin");
}

#[test]
fn backup_from_the_public_key_alone() {
    let (env, hash) = with_key("piv-pubkey", 0x87);
    let secret = env.secret("secret.bin", 32);
    env.run([
        "token",
        "pubkey",
        "--token",
        &yk(0x87),
        "--out",
        &env.p("card.pub"),
    ])
    .ok()
    .stdout_has(&[&hash]);
    let pk = format!("pubkey:{}", env.p("card.pub"));
    env.backup("secret.bin", &[&pk], "b.custody", &["--single-token"])
        .ok()
        .stdout_has(&["UNVERIFIED"])
        .stderr_has(&[&hash]);
    env.run(["inspect", &env.p("b.custody")])
        .ok()
        .stdout_has(&["UNVERIFIED"]);
    env.restore("b.custody", "r.bin", &[]).ok();
    assert_eq!(env.read("r.bin"), secret);
}

#[test]
fn yubikey_and_softhsm_slots_in_one_backup() {
    let (env, _) = with_key("piv-mixed", 0x88);
    env.init_token("hsm");
    env.keygen("hsm", "aes", "aes");
    let secret = env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&yk(0x88), &uri("hsm", "aes")],
        "b.custody",
        &[],
    )
    .ok();
    env.restore("b.custody", "r1.bin", &["--token", &yk(0x88)])
        .ok();
    assert_eq!(env.read("r1.bin"), secret);
    env.restore("b.custody", "r2.bin", &["--token", &uri("hsm", "aes")])
        .ok();
    assert_eq!(env.read("r2.bin"), secret);
}

/// Issue 10, item 1: with OpenSC's module registered with p11-kit (its package does it, and
/// OpenSC sees the virtual card as a PKCS#11 token too), a YubiKey restore that names no token
/// and no module searches every registered module and still opens the file with the card.
#[test]
fn a_yubikey_restore_works_with_opensc_registered() {
    let (env, _) = with_key("piv-opensc", 0x91);
    let listed = env.tool("p11-kit", "p11-kit", &["list-modules"]);
    assert!(
        listed
            .stdout
            .lines()
            .any(|l| l.starts_with("opensc-pkcs11:")),
        "OpenSC's module is not registered with p11-kit (package opensc-pkcs11): this test \
         needs it and never skips\n{}",
        listed.dump()
    );
    // Nothing points custody at a module: only p11-kit's registry does.
    let no_module = [("CUSTODY_PKCS11_MODULE", None)];
    let list = env.run_env(["token", "list", "--json", "--no-login"], &no_module);
    list.ok();
    let v: serde_json::Value = serde_json::from_str(&list.stdout).expect("json");
    let opensc = v["modules"]
        .as_array()
        .expect("modules")
        .iter()
        .find(|m| {
            m["names"]
                .as_array()
                .is_some_and(|n| n.iter().any(|n| n == "opensc-pkcs11"))
        })
        .unwrap_or_else(|| panic!("token list does not show OpenSC's module\n{v:#}"));
    assert!(opensc["error"].is_null(), "{opensc:#}");

    let secret = env.secret("secret.bin", 32);
    env.backup("secret.bin", &[&yk(0x91)], "b.custody", &["--single-token"])
        .ok();
    let restored = env.restore_env("b.custody", "r.bin", &[], &no_module);
    restored
        .ok()
        .stderr_has(&[&format!("YubiKey {}", serial())]);
    assert_eq!(env.read("r.bin"), secret);
}

#[test]
fn split_where_each_officer_has_another_token() {
    let (env, _) = with_key("piv-split", 0x89);
    env.init_token("alice-hsm");
    env.keygen("alice-hsm", "k", "aes");
    env.init_token("carol-hsm");
    env.keygen("carol-hsm", "k", "p256");
    let secret = env.secret("secret.bin", 32);
    let mut args: Vec<String> = [
        "backup",
        "--secret",
        &env.p("secret.bin"),
        "--threshold",
        "2",
        "--out",
        &env.p("alice.share"),
        "--out",
        &env.p("bob.share"),
        "--out",
        &env.p("carol.share"),
        "--officer",
        "Alice",
        "--officer",
        "Bob",
        "--officer",
        "Carol",
        "--share-token",
        &format!("1={}", uri("alice-hsm", "k")),
        "--share-token",
        &format!("2={}", yk(0x89)),
        "--share-token",
        &format!("3={}", uri("carol-hsm", "k")),
        "--password-file",
        &env.password_file(),
        "--allow-same-device",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.extend(cli::WEAK_KDF.iter().map(|s| s.to_string()));
    env.run(&args).ok();
    for (i, pair) in [["alice", "bob"], ["bob", "carol"], ["carol", "alice"]]
        .iter()
        .enumerate()
    {
        let out = format!("r{i}.bin");
        env.run([
            "restore",
            &env.p(&format!("{}.share", pair[0])),
            &env.p(&format!("{}.share", pair[1])),
            "--out",
            &env.p(&out),
            "--password-file",
            &env.password_file(),
        ])
        .ok();
        assert_eq!(env.read(&out), secret, "{pair:?}");
    }

    // A reshare to a new 2-of-2 set whose first officer holds the YubiKey: opened with Alice's
    // and Carol's shares, made for the card and Alice's token, restored with the new shares.
    let mut args: Vec<String> = [
        "reshare",
        &env.p("alice.share"),
        &env.p("carol.share"),
        "--threshold",
        "2",
        "--out",
        &env.p("dave.share"),
        "--out",
        &env.p("erin.share"),
        "--officer",
        "Dave",
        "--officer",
        "Erin",
        "--share-token",
        &format!("1={}", yk(0x89)),
        "--share-token",
        &format!("2={}", uri("alice-hsm", "k")),
        "--password-file",
        &env.password_file(),
        "--new-password-file",
        &env.password_file(),
        "--allow-same-device",
        "--expect-fingerprint",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let fp = cli::inspect_json(&env, "alice.share")["fingerprint"]
        .as_str()
        .expect("fingerprint")
        .to_owned();
    args.push(fp);
    args.extend(cli::WEAK_KDF.iter().map(|s| s.to_string()));
    env.run(&args).ok();
    let v = cli::inspect_json(&env, "dave.share");
    assert!(v.to_string().contains("piv-p256"), "{v}");
    env.run([
        "restore",
        &env.p("dave.share"),
        &env.p("erin.share"),
        "--out",
        &env.p("r-new.bin"),
        "--password-file",
        &env.password_file(),
    ])
    .ok();
    assert_eq!(env.read("r-new.bin"), secret);
}

#[test]
fn a_key_made_by_yubico_piv_tool_is_used() {
    let env = Env::new("piv-ykpivtool");
    let tool = |args: &[&str]| piv_tool(&env, args);
    tool(&[
        "-a",
        "generate",
        "-s",
        "8a",
        "-A",
        "ECCP256",
        "-o",
        &env.p("pub.pem"),
    ])
    .ok();
    // yubico-piv-tool's own selfsign fails on this card before any command reaches it, so the
    // certificate that records the card's public key is made by openssl (custody reads only the
    // public key from it).
    let openssl = |args: &[&str]| env.tool("openssl", "openssl", args);
    openssl(&[
        "ecparam",
        "-name",
        "prime256v1",
        "-genkey",
        "-noout",
        "-out",
        &env.p("signer.pem"),
    ]);
    openssl(&[
        "x509",
        "-new",
        "-subj",
        "/CN=made-by-yubico-piv-tool/",
        "-key",
        &env.p("signer.pem"),
        "-force_pubkey",
        &env.p("pub.pem"),
        "-days",
        "3650",
        "-out",
        &env.p("cert.pem"),
    ]);
    tool(&[
        "-a",
        "import-certificate",
        "-s",
        "8a",
        "-i",
        &env.p("cert.pem"),
    ])
    .ok();
    let secret = env.secret("secret.bin", 32);
    env.backup("secret.bin", &[&yk(0x8a)], "b.custody", &["--single-token"])
        .ok();
    env.restore("b.custody", "r.bin", &[]).ok();
    assert_eq!(env.read("r.bin"), secret);
}

#[test]
fn a_regenerated_slot_is_named_before_any_pin_is_used() {
    let (env, _) = with_key("piv-regen", 0x8c);
    env.secret("secret.bin", 32);
    env.backup("secret.bin", &[&yk(0x8c)], "b.custody", &["--single-token"])
        .ok();
    with_key_in(&env, 0x8c);
    // A wrong PIN would give exit 3 if the PIN were tried first: the key check comes before.
    env.run_env(
        [
            "restore",
            &env.p("b.custody"),
            "--out",
            &env.p("r.bin"),
            "--password-file",
            &env.password_file(),
        ],
        &[("CUSTODY_PIN", Some("999999"))],
    )
    .code(exit::NOT_FOUND)
    .error_has(&["another key than the one this file was made with"]);
    env.assert_absent("r.bin");
    let list = env.run(["token", "list", "--json"]);
    let v: serde_json::Value = serde_json::from_str(&list.stdout).unwrap();
    let card = v["yubikeys"][0].clone();
    assert_eq!(card["pin_tries_left"], 3, "a PIN try was used: {card}");
}

fn with_key_in(env: &Env, slot: u8) {
    piv_keygen(env, &yk(slot));
}

/// Runs last (by name): blocks the PIN, then unblocks it with the PUK for later runs.
#[test]
fn zz_a_blocked_pin_is_reported_as_blocked() {
    let (env, _) = with_key("piv-blocked", 0x8d);
    env.secret("secret.bin", 32);
    env.backup("secret.bin", &[&yk(0x8d)], "b.custody", &["--single-token"])
        .ok();
    let restore_with = |pin: &str| {
        env.run_env(
            [
                "restore",
                &env.p("b.custody"),
                "--out",
                &env.p("r.bin"),
                "--password-file",
                &env.password_file(),
            ],
            &[("CUSTODY_PIN", Some(pin))],
        )
    };
    restore_with("999999")
        .code(exit::AUTH)
        .error_has(&["2 tries left"]);
    restore_with("999999")
        .code(exit::AUTH)
        .error_has(&["1 try left"]);
    restore_with("999999")
        .code(exit::PIN_LOCKED)
        .error_has(&["blocked", "PUK"]);
    // Even the right PIN cannot help now; the message says why and what to do.
    restore_with(cli::USER_PIN)
        .code(exit::PIN_LOCKED)
        .error_has(&["blocked", "unblock"]);
    env.assert_absent("r.bin");
    piv_tool(
        &env,
        &["-a", "unblock-pin", "-P", "12345678", "-N", cli::USER_PIN],
    );
    restore_with(cli::USER_PIN).ok();
}

#[test]
fn a_new_password_over_a_yubikey_slot_round_trips() {
    let (env, hash) = with_key("piv-rewrap", 0x8e);
    let secret = env.secret("secret.bin", 32);
    env.backup("secret.bin", &[&yk(0x8e)], "b.custody", &["--single-token"])
        .ok();
    env.write("new-pw", b"a brand new password\n");
    env.run([
        "rewrap",
        &env.p("b.custody"),
        "--out",
        &env.p("n.custody"),
        "--password-file",
        &env.password_file(),
        "--new-password-file",
        &env.p("new-pw"),
        "--hint",
        "the new one",
    ])
    .ok();
    let v = cli::inspect_json(&env, "n.custody");
    assert!(v.to_string().contains(&hash), "{v}");
    // The new file opens with the new password only; the old one still with the old.
    env.run([
        "restore",
        &env.p("n.custody"),
        "--out",
        &env.p("r.bin"),
        "--password-file",
        &env.p("new-pw"),
    ])
    .ok();
    assert_eq!(env.read("r.bin"), secret);
    env.restore("n.custody", "r2.bin", &[]).code(exit::AUTH);
    env.assert_absent("r2.bin");
    env.restore("b.custody", "r3.bin", &[]).ok();
}

/// A second virtual card, plugged in by starting it in reader "Virtual PCD 00 01" (vpcd's
/// second port) and pulled out when dropped. Its state lives in `state`, so it keeps its keys
/// from one plugging in to the next.
struct SecondCard(Child);

/// The second card's serial: another YubiKey than the harness's.
const SECOND_SERIAL: u32 = 87654321;

impl SecondCard {
    fn plug_in(state: &Path) -> SecondCard {
        SecondCard::plug_in_with(state, &[])
    }

    /// With more piv-card arguments (`--version`, `--report-imported`).
    fn plug_in_with(state: &Path, args: &[&str]) -> SecondCard {
        let bin = std::env::var("PIV_CARD_BIN")
            .expect("PIV_CARD_BIN is set by tools/piv-card/run-with-card.sh");
        let mut child = Command::new(bin)
            .args(["--serial", &SECOND_SERIAL.to_string()])
            .args(["--vpcd", "127.0.0.1:35964"])
            .arg("--state")
            .arg(state)
            .args(args)
            .env("RUST_LOG", "warn,piv_authenticator=off")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the second piv-card");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if line.contains("piv-card ready") {
                    let _ = tx.send(());
                }
            }
        });
        let card = SecondCard(child);
        rx.recv_timeout(Duration::from_secs(40))
            .expect("the second card printed 'piv-card ready'");
        card
    }
}

impl Drop for SecondCard {
    fn drop(&mut self) {
        // SIGTERM: the card finishes the APDU in progress and saves its state.
        unsafe { libc::kill(self.0.id() as i32, libc::SIGTERM) };
        let _ = self.0.wait();
    }
}

#[test]
fn a_yubikey_plugged_in_while_custody_waits_is_taken() {
    let env = Env::new("piv-plug");
    let state = env.path("second-card");
    std::fs::create_dir_all(&state).unwrap();
    let second = |slot: &str| format!("yubikey:serial={SECOND_SERIAL};slot={slot}");
    let waiting = format!("Insert YubiKey {SECOND_SERIAL} — waiting; Ctrl-C to stop");

    // Key generation waits for the card it names.
    let mut c = env.command();
    c.args([
        "token",
        "keygen",
        "--token",
        &second("90"),
        "--type",
        "p256",
    ])
    .args(["--force", "--touch-policy", "never"]);
    let mut pty = Pty::spawn(c);
    pty.expect(&waiting);
    std::thread::sleep(Duration::from_millis(600));
    let card = SecondCard::plug_in(&state);
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");

    let secret = env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&second("90")],
        "b.custody",
        &["--single-token"],
    )
    .ok();
    drop(card);

    // A restore of a file for the absent card waits for it (only the harness's card is here).
    let mut c = env.command();
    c.args(["restore", &env.p("b.custody"), "--out", &env.p("r.bin")])
        .args(["--password-file", &env.password_file()]);
    let mut pty = Pty::spawn(c);
    pty.expect("as written in your ceremony record (or \"skip\")? ");
    pty.send("skip");
    pty.expect(&waiting);
    std::thread::sleep(Duration::from_millis(600));
    let _card = SecondCard::plug_in(&state);
    let (code, screen) = pty.finish();
    assert_eq!(code, 0, "{screen}");
    assert_eq!(env.read("r.bin"), secret);
}

#[test]
fn an_empty_yubikey_slot_is_named_before_any_pin() {
    let env = Env::new("piv-before-pin");
    env.init_token("piv-bp");
    env.keygen("piv-bp", "k", "aes");
    env.secret("secret.bin", 32);
    // Slot 94 never holds a key in these tests: found without a PIN, before the token's PIN.
    let out = env.run_setsid(
        [
            "backup",
            "--secret",
            &env.p("secret.bin"),
            "--token",
            &uri("piv-bp", "k"),
            "--token",
            &yk(0x94),
            "--out",
            &env.p("b.custody"),
        ],
        &[("CUSTODY_PIN", None), ("CUSTODY_PASSWORD", None)],
    );
    out.code(exit::NOT_FOUND)
        .error_has(&["has no key in PIV slot 94"])
        .stderr_lacks(&["logging in", "PIN for"]);
    env.assert_absent("b.custody");
}

#[test]
fn a_new_password_over_an_absent_yubikey_wraps_its_slot_from_its_public_key() {
    let env = Env::new("piv-rewrap-absent");
    env.init_token("rw-tok");
    env.keygen("rw-tok", "k", "aes");
    let state = env.path("second-card");
    std::fs::create_dir_all(&state).unwrap();
    let second = format!("yubikey:serial={SECOND_SERIAL};slot=91");
    let card = SecondCard::plug_in(&state);
    piv_keygen(&env, &second);
    env.run([
        "token",
        "pubkey",
        "--token",
        &second,
        "--out",
        &env.p("second.pub"),
    ])
    .ok();
    let secret = env.secret("secret.bin", 32);
    env.backup(
        "secret.bin",
        &[&uri("rw-tok", "k"), &second],
        "b.custody",
        &[],
    )
    .ok();
    drop(card);

    env.write("new-pw", b"a brand new password\n");
    let rewrap = |out: &str, extra: &[&str]| {
        let mut a = vec![
            "rewrap".to_string(),
            env.p("b.custody"),
            "--out".into(),
            env.p(out),
            "--password-file".into(),
            env.password_file(),
            "--new-password-file".into(),
            env.p("new-pw"),
        ];
        a.extend(extra.iter().map(|s| s.to_string()));
        env.run(&a)
    };
    // The card is absent and no public key is given: stopped before any PIN, naming the slot.
    rewrap("m.custody", &[])
        .code(exit::USAGE)
        .error_has(&["PIV slot 91", "must be present to wrap its slot again"]);
    env.assert_absent("m.custody");
    // With its public key: the slot is made again for the same key, not verified.
    let pubkey = format!("pubkey:{}", env.p("second.pub"));
    rewrap("n.custody", &["--token", &pubkey])
        .ok()
        .stderr_has(&["is absent: its slot is wrapped again from the public key given"]);
    let v = cli::inspect_json(&env, "n.custody");
    let slots = v["slots"].as_array().expect("slots");
    let verified = |kind: &str| {
        slots
            .iter()
            .find(|s| s["kind"] == kind)
            .map(|s| s["verified"].clone())
    };
    assert_eq!(verified("pkcs11-aes"), Some(serde_json::json!(true)), "{v}");
    assert_eq!(verified("piv-p256"), Some(serde_json::json!(false)), "{v}");

    // Made again from its public key, an unverified slot stays unverified.
    env.run([
        "rewrap",
        &env.p("n.custody"),
        "--out",
        &env.p("o.custody"),
        "--password-file",
        &env.p("new-pw"),
        "--new-password-file",
        &env.password_file(),
        "--token",
        &pubkey,
    ])
    .ok();
    let v = cli::inspect_json(&env, "o.custody");
    let piv: Vec<&serde_json::Value> = v["slots"]
        .as_array()
        .expect("slots")
        .iter()
        .filter(|s| s["kind"] == "piv-p256")
        .collect();
    assert_eq!(piv.len(), 1, "{v}");
    assert_eq!(piv[0]["verified"], false, "{v}");

    // The card back: the re-made slot opens with the new password.
    let _card = SecondCard::plug_in(&state);
    env.run([
        "restore",
        &env.p("n.custody"),
        "--out",
        &env.p("r.bin"),
        "--password-file",
        &env.p("new-pw"),
        "--token",
        &second,
    ])
    .ok();
    assert_eq!(env.read("r.bin"), secret);
}

/// A second card, a key in `slot` on it made with this touch policy, and a secret to back up.
fn second_card_with_key(env: &Env, slot: &str, touch: &str, args: &[&str]) -> (SecondCard, String) {
    let state = env.path("second-card");
    std::fs::create_dir_all(&state).unwrap();
    let card = SecondCard::plug_in_with(&state, args);
    let locator = format!("yubikey:serial={SECOND_SERIAL};slot={slot}");
    env.run([
        "token",
        "keygen",
        "--token",
        &locator,
        "--type",
        "p256",
        "--touch-policy",
        touch,
    ])
    .ok();
    env.secret("secret.bin", 32);
    (card, locator)
}

#[test]
fn a_key_the_card_says_was_imported_is_refused_at_backup_and_warned_about_at_restore() {
    let env = Env::new("piv-imported");
    let (_card, locator) = second_card_with_key(&env, "92", "always", &["--report-imported"]);
    env.backup("secret.bin", &[&locator], "b.custody", &["--single-token"])
        .code(exit::NOT_FOUND)
        .error_has(&[
            &format!("YubiKey {SECOND_SERIAL}, PIV slot 92"),
            "the card says its key was imported: its value exists off the card",
            "--allow-exportable-key",
        ]);
    env.assert_absent("b.custody");
    env.backup(
        "secret.bin",
        &[&locator],
        "b.custody",
        &["--single-token", "--allow-exportable-key"],
    )
    .ok()
    .stderr_has(&["PIV slot 92: the card says its key was imported"]);
    // The key's metadata says a touch is needed.
    env.restore("b.custody", "r.bin", &[]).ok().stderr_has(&[
        "PIV slot 92: the card says its key was imported",
        &format!("Touch your YubiKey {SECOND_SERIAL} when it blinks"),
    ]);
    assert_eq!(env.read("r.bin"), env.read("secret.bin"));
}

#[test]
fn a_card_without_key_metadata_is_read_from_its_certificate_with_a_warning() {
    let env = Env::new("piv-no-metadata");
    // Firmware 5.2 has no GET METADATA.
    let (_card, locator) = second_card_with_key(&env, "93", "never", &["--version", "5.2.7"]);
    env.backup("secret.bin", &[&locator], "b.custody", &["--single-token"])
        .ok()
        .stderr_has(&["PIV slot 93: the card does not say where the key comes from"]);
    // A restore never judges a key's origin. Without metadata the touch policy is unknown too.
    env.restore("b.custody", "r.bin", &[])
        .ok()
        .stderr_lacks(&["does not say where the key comes from"])
        .stderr_has(&[&format!("If your YubiKey {SECOND_SERIAL} blinks, touch it")]);
    assert_eq!(env.read("r.bin"), env.read("secret.bin"));
}

#[test]
fn a_certificate_that_disagrees_with_the_key_metadata_is_refused() {
    let (env, _hash) = with_key("piv-cert-swap", 0x8f);
    env.secret("secret.bin", 32);
    env.backup("secret.bin", &[&yk(0x8f)], "b.custody", &["--single-token"])
        .ok();
    // Someone with the management key puts a certificate for another key in the slot.
    let openssl = |args: &[&str]| env.tool("openssl", "openssl", args);
    openssl(&[
        "req",
        "-x509",
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
        "-keyout",
        &env.p("other.key"),
        "-subj",
        "/CN=custody/",
        "-days",
        "30",
        "-out",
        &env.p("other.pem"),
    ]);
    piv_tool(
        &env,
        &[
            "-a",
            "import-certificate",
            "-s",
            "8f",
            "-i",
            &env.p("other.pem"),
        ],
    )
    .ok();
    let refused = [
        "PIV slot 8f",
        "its certificate holds another public key than the key the card keeps in the slot",
    ];
    env.backup(
        "secret.bin",
        &[&yk(0x8f)],
        "b2.custody",
        &["--single-token"],
    )
    .code(exit::NOT_FOUND)
    .error_has(&refused)
    .stderr_lacks(&["PIN for"]);
    env.assert_absent("b2.custody");
    env.restore("b.custody", "r.bin", &[])
        .code(exit::NOT_FOUND)
        .error_has(&refused);
    env.assert_absent("r.bin");
}
