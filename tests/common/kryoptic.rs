//! kryoptic, a second PKCS#11 implementation beside SoftHSM2, so that custody is not written to
//! one module's quirks: its module, its configuration, and an in-process fixture like
//! [`super::softhsm`].
//!
//! The module is built by tools/kryoptic/build.sh, which prints its path; the tests read that
//! path from `CUSTODY_KRYOPTIC_MODULE` (softhsm-config/test.sh sets it) and fail, never skip,
//! without it.
//!
//! kryoptic reads `KRYOPTIC_CONF` at `C_Initialize` (without it, it looks in the user's home and
//! fails): a TOML file listing slots, each a token in its own sqlite database. Tokens start
//! uninitialised, and a slot keeps its configured id when its token is initialised.

use std::path::{Path, PathBuf};

/// The SO PIN and user PIN the fixtures set: the same as SoftHSM's.
pub use super::cli::{SO_PIN, USER_PIN};
/// The id of the first configured slot.
pub const FIRST_SLOT: u64 = 42;

/// The kryoptic module: `CUSTODY_KRYOPTIC_MODULE`. Panics if it is not set or not a file, so
/// that a machine without kryoptic fails the tests instead of skipping them.
pub fn module() -> PathBuf {
    let how = "build it with tools/kryoptic/build.sh and set CUSTODY_KRYOPTIC_MODULE to the path \
               it prints (softhsm-config/test.sh does both). These tests need it and never skip.";
    let path = std::env::var_os("CUSTODY_KRYOPTIC_MODULE")
        .map(PathBuf::from)
        .unwrap_or_else(|| panic!("CUSTODY_KRYOPTIC_MODULE is not set: {how}"));
    assert!(
        path.is_file(),
        "kryoptic's PKCS#11 module not found at {} (CUSTODY_KRYOPTIC_MODULE): {how}",
        path.display()
    );
    path
}

/// Writes `dir/kryoptic.conf` with `slots` slots, numbered from [`FIRST_SLOT`], each a token in
/// its own sqlite database in `dir`. Returns the file's path.
pub fn write_conf(dir: &Path, slots: u64) -> PathBuf {
    let mut conf = String::new();
    for slot in FIRST_SLOT..FIRST_SLOT + slots {
        let db = dir.join(format!("token-{slot}.sqlite"));
        let db = db.to_str().expect("UTF-8 temp path");
        // A TOML basic string: escape what could end it.
        let db = db.replace('\\', "\\\\").replace('"', "\\\"");
        conf.push_str(&format!(
            "[[slots]]\nslot = {slot}\ndbtype = \"sqlite\"\ndbargs = \"{db}\"\n\n"
        ));
    }
    let path = dir.join("kryoptic.conf");
    std::fs::write(&path, conf).unwrap_or_else(|e| panic!("cannot write {}: {e}", path.display()));
    path
}

/// Initialises the token of a [`super::cli::Env::kryoptic`] world (its one slot) with
/// `pkcs11-tool`, labelled `label`, with [`SO_PIN`] and [`USER_PIN`].
pub fn init_with_pkcs11_tool(env: &super::cli::Env, label: &str) {
    let module = env.module.to_str().expect("UTF-8 module path");
    let slot = FIRST_SLOT.to_string();
    let base = ["--module", module, "--slot", &slot];
    let init = ["--init-token", "--label", label, "--so-pin", SO_PIN];
    env.tool("pkcs11-tool", "opensc", &[&base[..], &init].concat());
    let pin = [
        "--login",
        "--login-type",
        "so",
        "--so-pin",
        SO_PIN,
        "--init-pin",
        "--new-pin",
        USER_PIN,
    ];
    env.tool("pkcs11-tool", "opensc", &[&base[..], &pin].concat());
}

#[cfg(feature = "internals")]
pub use in_process::*;

/// kryoptic loaded in the test process itself, like [`super::softhsm`]: one configuration a
/// process, with enough slots for every test of a test binary to make its own token.
#[cfg(feature = "internals")]
mod in_process {
    use std::path::Path;
    use std::sync::{Arc, Mutex, OnceLock};
    use std::time::{SystemTime, UNIX_EPOCH};

    use custody::internals::token::pkcs11::{Module, TokenInfo};

    use super::{SO_PIN, USER_PIN};
    use crate::common::softhsm;

    /// Slots in the process's configuration: at least the tokens one test binary makes.
    const PROCESS_SLOTS: u64 = 32;
    const DIR_PREFIX: &str = "custody-kryoptic-";

    /// This process's kryoptic folder (configuration and databases), made once, with
    /// `KRYOPTIC_CONF` set to its configuration before anything can load the module.
    pub fn process_dir() -> &'static Path {
        static DIR: OnceLock<std::path::PathBuf> = OnceLock::new();
        DIR.get_or_init(|| {
            softhsm::remove_dead_dirs(DIR_PREFIX);
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos())
                .unwrap_or(0);
            let dir =
                std::env::temp_dir().join(format!("{DIR_PREFIX}{}-{nanos}", std::process::id()));
            std::fs::create_dir_all(&dir)
                .unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
            let conf = super::write_conf(&dir, PROCESS_SLOTS);
            // SAFETY: set inside the OnceLock initialiser, before any test of this process can
            // have loaded kryoptic (which reads it at C_Initialize) or read it from another
            // thread; the tests only read it through this fixture.
            unsafe { std::env::set_var("KRYOPTIC_CONF", &conf) };
            dir
        })
    }

    /// The kryoptic module, loaded with this process's configuration.
    pub fn kryoptic() -> Arc<Module> {
        process_dir();
        Module::load(&super::module()).expect("load kryoptic")
    }

    /// The one token labelled `label`. Panics if there is none or more than one.
    pub fn find_token(label: &str) -> TokenInfo {
        softhsm::token_labelled(&kryoptic(), label)
    }

    /// Initialises the next uninitialised slot's token, labelled `label`, with SO PIN
    /// [`SO_PIN`] and user PIN [`USER_PIN`] (`C_InitToken`, then `C_InitPIN` as the SO, as
    /// [`softhsm::init_token`] does). Returns (SO PIN, user PIN).
    pub fn init_token(label: &str) -> (String, String) {
        // One at a time, so that two tests do not pick the same free slot.
        static INIT: Mutex<()> = Mutex::new(());
        let module = kryoptic();
        let _serial = INIT.lock().unwrap_or_else(|p| p.into_inner());
        let ctx = module.cryptoki();
        let slot = softhsm::init_free_slot(ctx, label)
            .expect("kryoptic has no uninitialised slot left: raise PROCESS_SLOTS");
        // kryoptic's slot keeps its id.
        softhsm::set_user_pin(ctx, slot);
        (SO_PIN.to_owned(), USER_PIN.to_owned())
    }
}
