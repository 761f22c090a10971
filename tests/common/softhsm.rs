//! In-process SoftHSM2 fixture, for tests that load the module themselves (and for
//! tools/make-vectors, which includes this file by path).
//!
//! SoftHSM reads `SOFTHSM2_CONF` once, at `C_Initialize`, so every test in one test binary
//! shares one token directory: give each test its own token label.
//!
//! SoftHSM is not safe against one process reading a token's files while another process
//! writes them: the reader gets `CKR_GENERAL_ERROR`, and if that happens while it indexes the
//! token, it never sees that token's objects again. So in this process, go through
//! [`softhsm`], [`find_token`] and [`init_token`] (which touch every token) rather than
//! calling `Module::load` or `Module::tokens` directly, and start other processes that use
//! SoftHSM only while holding [`exclusive`] (as [`pkcs11_tool`] does).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex, OnceLock, RwLock, RwLockReadGuard, RwLockWriteGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use cryptoki::context::Pkcs11;
use cryptoki::session::UserType;
use cryptoki::slot::Slot;
use custody::internals::token::pkcs11::{Module, TokenInfo};
use secrecy::SecretString;

/// The SO PIN `init_token` sets.
pub const SO_PIN: &str = "12345678";
/// The user PIN `init_token` sets.
pub const USER_PIN: &str = "123456";

/// The SoftHSM2 module: `CUSTODY_PKCS11_MODULE`, else Debian's path. Panics if it is missing,
/// so that a machine without SoftHSM fails the tests instead of skipping them.
pub fn softhsm_module() -> PathBuf {
    let path = std::env::var_os("CUSTODY_PKCS11_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/lib/softhsm/libsofthsm2.so"));
    assert!(
        path.is_file(),
        "SoftHSM2 PKCS#11 module not found at {} (install the `softhsm2` package or set \
         CUSTODY_PKCS11_MODULE)",
        path.display()
    );
    path
}

/// This test process's SoftHSM token directory (its parent holds `softhsm2.conf`).
///
/// Made once per process, and `SOFTHSM2_CONF` is set to it before anything can load the module.
/// Every test must call this (directly or through the other helpers) before loading SoftHSM.
pub fn process_token_dir() -> &'static Path {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        remove_dead_dirs("custody-softhsm-");
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let base =
            std::env::temp_dir().join(format!("custody-softhsm-{}-{nanos}", std::process::id()));
        let tokens = base.join("tokens");
        std::fs::create_dir_all(&tokens)
            .unwrap_or_else(|e| panic!("cannot create {}: {e}", tokens.display()));
        let conf = base.join("softhsm2.conf");
        std::fs::write(
            &conf,
            format!(
                "directories.tokendir = {}\nobjectstore.backend = file\nlog.level = ERROR\n",
                tokens.display()
            ),
        )
        .unwrap_or_else(|e| panic!("cannot write {}: {e}", conf.display()));
        // SAFETY: set inside the OnceLock initialiser, before any test of this process can
        // have loaded SoftHSM (which reads it) or read it from another thread; the tests only
        // read it through this fixture.
        unsafe { std::env::set_var("SOFTHSM2_CONF", &conf) };
        tokens
    })
}

/// Statics are never dropped, so a test process cannot clean up its own directory: remove
/// those left behind by test processes that have exited instead (named `<prefix><pid>-...` in
/// the temp dir; the kryoptic fixture's too).
pub fn remove_dead_dirs(prefix: &str) {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .and_then(|n| n.strip_prefix(prefix))
            .and_then(|rest| rest.split_once('-'))
            .and_then(|(pid, _)| pid.parse::<u32>().ok())
        else {
            continue;
        };
        if pid != std::process::id() && !Path::new(&format!("/proc/{pid}")).exists() {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The `softhsm2.conf` of this process's token directory.
pub fn softhsm_conf() -> PathBuf {
    process_token_dir()
        .parent()
        .expect("token dir has a parent")
        .join("softhsm2.conf")
}

static SOFTHSM_FILES: RwLock<()> = RwLock::new(());

/// Held while this process reads every token (loading the module, listing tokens). Do not
/// hold it while calling the other helpers: they take it themselves.
pub fn shared() -> RwLockReadGuard<'static, ()> {
    SOFTHSM_FILES.read().unwrap_or_else(|p| p.into_inner())
}

/// Held while another process (pkcs11-tool, the custody binary) uses this process's SoftHSM
/// tokens, so that this process does not read a token while that process writes it.
pub fn exclusive() -> RwLockWriteGuard<'static, ()> {
    SOFTHSM_FILES.write().unwrap_or_else(|p| p.into_inner())
}

/// The SoftHSM module, loaded with this process's token directory.
pub fn softhsm() -> Arc<Module> {
    process_token_dir();
    let _shared = shared();
    Module::load(&softhsm_module()).expect("load SoftHSM")
}

/// The one token labelled `label`. Panics if there is none or more than one.
pub fn find_token(label: &str) -> TokenInfo {
    let module = softhsm();
    let _shared = shared();
    token_labelled(&module, label)
}

/// The one initialised token of `module` (any module) labelled `label`. Panics if there is
/// none or more than one.
pub fn token_labelled(module: &Module, label: &str) -> TokenInfo {
    let mut matching: Vec<_> = module
        .tokens()
        .expect("list tokens")
        .into_iter()
        .filter(|t| t.initialized && t.label == label)
        .collect();
    assert_eq!(
        matching.len(),
        1,
        "want exactly one token labelled {label:?}"
    );
    matching.remove(0)
}

/// Initialises a fresh SoftHSM token labelled `label` in the free slot, with SO PIN
/// [`SO_PIN`] and user PIN [`USER_PIN`]. Returns (SO PIN, user PIN).
///
/// This is done in-process through the cached module rather than with
/// `softhsm2-util --init-token`: SoftHSM scans its token directory only at `C_Initialize`, so a
/// token made by another process after this process loaded the module would stay invisible to
/// it. Other processes (the CLI, `pkcs11-tool`) do see tokens made this way.
pub fn init_token(label: &str) -> (String, String) {
    // SoftHSM has one free slot at a time.
    static INIT: Mutex<()> = Mutex::new(());
    let module = softhsm();
    let _serial = INIT.lock().unwrap_or_else(|p| p.into_inner());
    let _shared = shared();
    let ctx = module.cryptoki();
    init_free_slot(ctx, label).expect("SoftHSM has no free slot");
    // The slot id changes once the token is initialised: find it again by label.
    let token = module
        .tokens()
        .expect("list tokens")
        .into_iter()
        .find(|t| t.label == label)
        .unwrap_or_else(|| panic!("token {label:?} not found after C_InitToken"));
    set_user_pin(ctx, token.slot);
    (SO_PIN.to_owned(), USER_PIN.to_owned())
}

/// Initialises the token in the first slot of `ctx` (any module) whose token is not
/// initialised, labelled `label`, with SO PIN [`SO_PIN`]. Returns that slot as it was then
/// (SoftHSM gives the token another slot id afterwards), or `None` if every token is
/// initialised. The caller keeps other threads from picking the same slot meanwhile.
pub fn init_free_slot(ctx: &Pkcs11, label: &str) -> Option<Slot> {
    let free = ctx
        .get_slots_with_token()
        .expect("C_GetSlotList")
        .into_iter()
        .find(|slot| {
            ctx.get_token_info(*slot)
                .is_ok_and(|info| !info.token_initialized())
        })?;
    ctx.init_token(free, &SecretString::from(SO_PIN), label)
        .unwrap_or_else(|e| panic!("C_InitToken {label:?}: {e}"));
    Some(free)
}

/// Sets the user PIN of the token in `slot` (any module) to [`USER_PIN`], logged in as the SO
/// with [`SO_PIN`] (`C_InitPIN`).
pub fn set_user_pin(ctx: &Pkcs11, slot: Slot) {
    let session = ctx.open_rw_session(slot).expect("C_OpenSession");
    session
        .login(UserType::So, Some(&SecretString::from(SO_PIN)))
        .expect("SO login");
    session
        .init_pin(&SecretString::from(USER_PIN))
        .expect("C_InitPIN");
    session.logout().expect("C_Logout");
}

/// Runs `pkcs11-tool --module <softhsm> --slot <id> --login --pin <user pin> <args>` on the
/// token labelled `token` in this process's token directory, holding [`exclusive`]. Panics
/// with its output on failure.
///
/// The token is picked by slot id, not with `--token-label`, because pkcs11-tool matches labels
/// by prefix ("tool-ec" would also select a token named "tool-ec-sign"). SoftHSM gives a token
/// a different slot id in a process that initialised it itself, so the id is computed the way
/// SoftHSM does when it finds the token at start-up: the serial's last 8 hex digits, top bit
/// cleared.
pub fn pkcs11_tool(token: &str, args: &[&str]) -> String {
    let serial = find_token(token).serial;
    let slot = serial
        .get(serial.len().saturating_sub(8)..)
        .and_then(|hex| u32::from_str_radix(hex, 16).ok())
        .map(|id| (id & 0x7fff_ffff).to_string())
        .unwrap_or_else(|| panic!("token serial {serial:?} is not SoftHSM's hex form"));
    let _exclusive = exclusive();
    let output = Command::new("pkcs11-tool")
        .env("SOFTHSM2_CONF", softhsm_conf())
        .arg("--module")
        .arg(softhsm_module())
        .args(["--slot", &slot, "--login", "--pin", USER_PIN])
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run pkcs11-tool (is opensc installed?): {e}"));
    assert!(
        output.status.success(),
        "pkcs11-tool {args:?} on token {token:?} (slot {slot}) failed ({}):\n{}{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}
