//! A loaded PKCS#11 module and the tokens it shows.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

use cryptoki::context::{CInitializeArgs, CInitializeFlags, Pkcs11};
use cryptoki::error::{Error as CkError, RvError};
use cryptoki::slot::Slot;

use super::Session;
use super::error::{Pkcs11Error, describe, error_chain, map_err};

/// One loaded and initialised PKCS#11 module.
#[derive(Debug)]
pub struct Module {
    path: PathBuf,
    ctx: Pkcs11,
    /// Sessions of this process open on the module: a rescan ends them all, so it waits for none.
    open: Arc<Mutex<usize>>,
}

/// Counts a session as open on its module until it is dropped (after the session itself, which
/// is declared before it in [`Session`]).
#[derive(Debug)]
pub(super) struct OpenSession(Arc<Mutex<usize>>);

impl Drop for OpenSession {
    fn drop(&mut self) {
        let mut open = self
            .0
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        *open = open.saturating_sub(1);
    }
}

type ModuleCache = Mutex<HashMap<PathBuf, Arc<Module>>>;

fn module_cache() -> &'static ModuleCache {
    static CACHE: OnceLock<ModuleCache> = OnceLock::new();
    CACHE.get_or_init(|| Mutex::new(HashMap::new()))
}

impl Module {
    /// Loads the module at `path` and initialises it (`CKF_OS_LOCKING_OK`).
    ///
    /// Modules are cached per canonicalised path for the life of the process, because a module
    /// cannot be initialised twice in one process: a second call returns the same `Arc`.
    pub fn load(path: &Path) -> Result<Arc<Module>, Pkcs11Error> {
        let load_error = |reason: String| Pkcs11Error::LibraryLoad {
            path: path.to_path_buf(),
            reason,
        };
        let canonical = path.canonicalize().map_err(|e| load_error(e.to_string()))?;
        if !canonical.is_file() {
            return Err(load_error("not a file".to_owned()));
        }

        // The map is only written after a module is fully initialised, so a panic elsewhere
        // while the lock was held cannot have left it inconsistent.
        let mut cache = module_cache()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if let Some(module) = cache.get(&canonical) {
            return Ok(Arc::clone(module));
        }

        let ctx = Pkcs11::new(&canonical).map_err(|e| load_error(error_chain(&e)))?;
        match ctx.initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK)) {
            // Something else in this process (not through this cache) initialised the same
            // library; its state is shared, so it is usable as it is.
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => {}
            Err(e) => return Err(load_error(format!("C_Initialize: {}", describe(&e)))),
        }
        let module = Arc::new(Module {
            path: canonical.clone(),
            ctx,
            open: Arc::new(Mutex::new(0)),
        });
        cache.insert(canonical, Arc::clone(&module));
        Ok(module)
    }

    /// The underlying cryptoki context, for anything this wrapper does not offer (e.g. test
    /// fixtures that initialise tokens in-process, which SoftHSM needs to see them).
    #[cfg(feature = "internals")]
    pub fn cryptoki(&self) -> &Pkcs11 {
        &self.ctx
    }

    /// The canonical path the module was loaded from.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Every slot that has a token present.
    ///
    /// A token whose description cannot be read is left out, so that one broken or busy token
    /// does not hide the others (SoftHSM, for one, fails `C_GetTokenInfo` on a token another
    /// process is writing). Only if no token at all can be read is the error returned.
    pub fn tokens(&self) -> Result<Vec<TokenInfo>, Pkcs11Error> {
        let slots = self
            .ctx
            .get_slots_with_token()
            .map_err(|e| map_err(e, "C_GetSlotList"))?;
        let mut tokens = Vec::with_capacity(slots.len());
        let mut unreadable = None;
        // What RFC 7512's library-* attributes match: the same for every token of the module.
        let library = self.ctx.get_library_info().ok().map(|i| LibraryInfo {
            manufacturer: i.manufacturer_id().trim_end().to_owned(),
            description: i.library_description().trim_end().to_owned(),
            version: (i.library_version().major(), i.library_version().minor()),
        });
        for slot in slots {
            let info = match self.ctx.get_token_info(slot) {
                Ok(info) => info,
                // Removed between listing and asking: it is simply not there any more.
                Err(CkError::Pkcs11(
                    RvError::TokenNotPresent | RvError::DeviceRemoved | RvError::SlotIdInvalid,
                    _,
                )) => continue,
                Err(e) => {
                    unreadable = Some(map_err(e, "C_GetTokenInfo"));
                    continue;
                }
            };
            // Only what a URI's slot-* attributes match; a slot that will not say matches none.
            let slot_info = self.ctx.get_slot_info(slot).ok();
            tokens.push(TokenInfo {
                slot,
                slot_description: slot_info
                    .as_ref()
                    .map(|i| i.slot_description().trim_end().to_owned()),
                slot_manufacturer: slot_info
                    .as_ref()
                    .map(|i| i.manufacturer_id().trim_end().to_owned()),
                library: library.clone(),
                label: info.label().trim_end().to_owned(),
                serial: info.serial_number().trim().to_owned(),
                manufacturer: info.manufacturer_id().trim_end().to_owned(),
                model: info.model().trim_end().to_owned(),
                login_required: info.login_required(),
                protected_auth_path: info.protected_authentication_path(),
                pin_count_low: info.user_pin_count_low(),
                pin_final_try: info.user_pin_final_try(),
                pin_locked: info.user_pin_locked(),
                initialized: info.token_initialized(),
            });
        }
        match unreadable {
            Some(err) if tokens.is_empty() => Err(err),
            _ => Ok(tokens),
        }
    }

    /// Opens a read-write session on `token`, not logged in.
    pub fn open(&self, token: &TokenInfo) -> Result<Session, Pkcs11Error> {
        // Held while opening, so that a rescan cannot end the session being opened.
        let mut open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let inner = self
            .ctx
            .open_rw_session(token.slot)
            .map_err(|e| map_err(e, "C_OpenSession"))?;
        *open += 1;
        Ok(Session {
            inner,
            _open: OpenSession(Arc::clone(&self.open)),
        })
    }

    /// Look for tokens afresh, so that a token plugged in (or, for SoftHSM2, initialised or
    /// copied into its token directory by another process) since the module was loaded is seen.
    ///
    /// SoftHSM2 reads its token directory only in `C_Initialize`, and `C_GetSlotList` goes on
    /// showing the same slots until the module is finalised and initialised again. That ends
    /// every session and login of this process on the module, so it is done only when this
    /// process has none open (`Ok(false)`: nothing was done). Slot ids may differ afterwards:
    /// list the tokens again.
    pub fn rescan(&self) -> Result<bool, Pkcs11Error> {
        let open = self
            .open
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if *open != 0 {
            return Ok(false);
        }
        // A module that refuses C_Finalize is still initialised as it was: nothing lost.
        if self.ctx.clone().finalize().is_err() {
            return Ok(false);
        }
        match self
            .ctx
            .initialize(CInitializeArgs::new(CInitializeFlags::OS_LOCKING_OK))
        {
            Ok(()) | Err(CkError::Pkcs11(RvError::CryptokiAlreadyInitialized, _)) => Ok(true),
            Err(e) => Err(Pkcs11Error::LibraryLoad {
                path: self.path.clone(),
                reason: format!("C_Initialize: {}", describe(&e)),
            }),
        }
    }
}

/// A token in a slot, as `C_GetTokenInfo` describes it.
#[derive(Clone, Debug)]
pub struct TokenInfo {
    /// The slot holding the token. Slot ids may change between runs: find tokens by label or
    /// serial.
    pub slot: Slot,
    /// Token label, trailing padding removed.
    pub label: String,
    /// Token serial number, padding removed.
    pub serial: String,
    /// Manufacturer id.
    pub manufacturer: String,
    /// Token model.
    pub model: String,
    /// `CKF_LOGIN_REQUIRED`.
    pub login_required: bool,
    /// `CKF_PROTECTED_AUTHENTICATION_PATH`: the PIN is entered on a PIN pad, not given by us.
    pub protected_auth_path: bool,
    /// `CKF_USER_PIN_COUNT_LOW`: a wrong user PIN was given since the last good one.
    pub pin_count_low: bool,
    /// `CKF_USER_PIN_FINAL_TRY`: one more wrong user PIN locks it.
    pub pin_final_try: bool,
    /// `CKF_USER_PIN_LOCKED`.
    pub pin_locked: bool,
    /// `CKF_TOKEN_INITIALIZED`: an empty slot of SoftHSM2 shows an uninitialised token.
    pub initialized: bool,
    /// The slot's description (`C_GetSlotInfo`), padding removed; `None` if it would not say.
    pub slot_description: Option<String>,
    /// The slot's manufacturer id, padding removed; `None` if it would not say.
    pub slot_manufacturer: Option<String>,
    /// The module's `C_GetInfo`; `None` if it would not say.
    pub library: Option<LibraryInfo>,
}

/// A module as `C_GetInfo` describes it (what RFC 7512's `library-*` attributes match).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LibraryInfo {
    /// `manufacturerID`, padding removed.
    pub manufacturer: String,
    /// `libraryDescription`, padding removed.
    pub description: String,
    /// `libraryVersion`: major, minor.
    pub version: (u8, u8),
}
