//! Locked memory: one region, mapped and `mlock`ed once, that every typed secret is carved
//! from, so that none of them can be written to swap (nor into a core dump: the region is
//! marked `MADV_DONTDUMP` too).
//!
//! Not `mlockall(MCL_FUTURE)`: that locks every later allocation of the process too, which then
//! fails once `RLIMIT_MEMLOCK` is reached. The region is small and fixed; when it is full, or
//! when it could not be mapped, a secret falls back to the ordinary heap (still wiped on drop),
//! and [`secret_memory`] says why nothing is locked.
//!
//! Argon2id's memory (up to GiBs) is mapped per run and locked when the limit allows
//! ([`Argon2Memory`]); the first run that cannot lock it leaves a notice
//! ([`take_argon2_notice`]).

use std::ptr::NonNull;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock};

/// Block sizes of the region and how many of each: 32 bytes for keys and shares, 1 KiB for a
/// line typed at a prompt, 4 KiB for a master secret or a password.
const CLASSES: [(usize, usize); 3] = [(32, 512), (1024, 16), (4096, 48)];

fn region_len() -> usize {
    CLASSES.iter().map(|(size, count)| size * count).sum()
}

/// Why secret memory is not locked (or not all of it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemoryNotLocked {
    /// What failed and the limit that made it fail, for people.
    pub why: String,
}

impl std::fmt::Display for MemoryNotLocked {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.why)
    }
}

impl std::error::Error for MemoryNotLocked {}

struct Region {
    base: usize,
    /// Free flags per class, in the order of [`CLASSES`].
    free: Mutex<Vec<Vec<bool>>>,
    locked: Result<usize, MemoryNotLocked>,
}

static REGION: OnceLock<Result<Region, MemoryNotLocked>> = OnceLock::new();

/// Why `mlock` of `len` bytes failed, with the limit that applies.
fn lock_failure(what: &str, len: usize, err: std::io::Error) -> MemoryNotLocked {
    let limit = rustix::process::getrlimit(rustix::process::Resource::Memlock)
        .current
        .map_or("unlimited".to_owned(), |n| format!("{} KiB", n / 1024));
    MemoryNotLocked {
        why: format!(
            "mlock of {what} ({} KiB) failed: {err} (RLIMIT_MEMLOCK is {limit}, and without \
             CAP_IPC_LOCK a process may lock no more)",
            len.div_ceil(1024)
        ),
    }
}

/// Map `len` bytes, private and anonymous, kept out of core dumps.
#[allow(unsafe_code)]
fn map(len: usize) -> std::io::Result<NonNull<u8>> {
    // SAFETY: a fresh anonymous mapping; nothing else refers to it.
    let ptr = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if ptr == libc::MAP_FAILED {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the mapping just made. Failure only means it may be dumped (and dumps are off).
    unsafe { libc::madvise(ptr, len, libc::MADV_DONTDUMP) };
    NonNull::new(ptr.cast()).ok_or_else(|| std::io::Error::other("mmap returned null"))
}

#[allow(unsafe_code)]
fn lock(ptr: NonNull<u8>, len: usize) -> std::io::Result<()> {
    // SAFETY: locking pages of a mapping this module owns changes no memory.
    if unsafe { libc::mlock(ptr.as_ptr().cast(), len) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

fn region() -> Result<&'static Region, &'static MemoryNotLocked> {
    REGION
        .get_or_init(|| {
            let len = region_len();
            let base = map(len).map_err(|e| MemoryNotLocked {
                why: format!("cannot map {} KiB for secrets: {e}", len / 1024),
            })?;
            let locked = lock(base, len)
                .map(|()| len)
                .map_err(|e| lock_failure("the secrets' memory", len, e));
            Ok(Region {
                base: base.as_ptr() as usize,
                free: Mutex::new(CLASSES.iter().map(|&(_, n)| vec![true; n]).collect()),
                locked,
            })
        })
        .as_ref()
}

/// Map and lock the memory secrets live in, now rather than at the first secret, so that it is
/// locked before anything is typed. The custody binary calls this first thing; a library
/// secret made before it does the same. `Ok`: how many bytes are locked.
pub fn lock_secret_memory() -> Result<usize, MemoryNotLocked> {
    match region() {
        Ok(r) => r.locked.clone(),
        Err(e) => Err(e.clone()),
    }
}

/// Whether the memory secrets live in is locked: [`lock_secret_memory`] without the side
/// effect of being first.
pub fn secret_memory() -> Result<usize, MemoryNotLocked> {
    lock_secret_memory()
}

/// `N` zeroed bytes for a secret: in the locked region when a block is free, else on the heap.
/// Wiped when dropped.
pub(crate) struct Locked<const N: usize> {
    ptr: NonNull<[u8; N]>,
    /// (class, index) in the region; `None`: on the heap.
    home: Option<(usize, usize)>,
}

// SAFETY: a `Locked` owns its block exclusively, as a `Box` owns its allocation.
#[allow(unsafe_code)]
unsafe impl<const N: usize> Send for Locked<N> {}
#[allow(unsafe_code)]
unsafe impl<const N: usize> Sync for Locked<N> {}

impl<const N: usize> Locked<N> {
    #[allow(unsafe_code)]
    pub(crate) fn new() -> Self {
        if let Some((class, index, offset)) = take_block(N) {
            let r = region().ok().map(|r| r.base);
            if let Some(base) = r {
                let ptr = (base + offset) as *mut [u8; N];
                // SAFETY: a free block of at least N bytes inside the region, zeroed when it
                // was freed (and by mmap before first use); nothing else refers to it.
                if let Some(ptr) = NonNull::new(ptr) {
                    return Locked {
                        ptr,
                        home: Some((class, index)),
                    };
                }
            }
        }
        let boxed: Box<[u8; N]> = Box::new([0u8; N]);
        Locked {
            ptr: NonNull::from(Box::leak(boxed)),
            home: None,
        }
    }

    /// Whether this block is in the locked region (not on the heap).
    #[allow(dead_code)]
    pub(crate) fn in_region(&self) -> bool {
        self.home.is_some()
    }
}

/// A free block of at least `n` bytes: (class, index, offset in the region).
fn take_block(n: usize) -> Option<(usize, usize, usize)> {
    let r = region().ok()?;
    let mut free = r.free.lock().unwrap_or_else(|e| e.into_inner());
    let mut offset = 0;
    for (class, &(size, count)) in CLASSES.iter().enumerate() {
        if size >= n
            && let Some(index) = free[class].iter().position(|&f| f)
        {
            free[class][index] = false;
            return Some((class, index, offset + index * size));
        }
        offset += size * count;
    }
    None
}

impl<const N: usize> std::ops::Deref for Locked<N> {
    type Target = [u8; N];
    #[allow(unsafe_code)]
    fn deref(&self) -> &[u8; N] {
        // SAFETY: the block is valid for the life of `self` and only reached through it.
        unsafe { self.ptr.as_ref() }
    }
}

impl<const N: usize> std::ops::DerefMut for Locked<N> {
    #[allow(unsafe_code)]
    fn deref_mut(&mut self) -> &mut [u8; N] {
        // SAFETY: as in `deref`, and `&mut self` makes the access exclusive.
        unsafe { self.ptr.as_mut() }
    }
}

impl<const N: usize> Drop for Locked<N> {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        zeroize::Zeroize::zeroize(&mut **self);
        match self.home {
            Some((class, index)) => {
                if let Ok(r) = region() {
                    let mut free = r.free.lock().unwrap_or_else(|e| e.into_inner());
                    free[class][index] = true;
                }
            }
            // SAFETY: made by `Box::leak` in `new`, and given back once.
            None => drop(unsafe { Box::from_raw(self.ptr.as_ptr()) }),
        }
    }
}

/// Argon2id's memory for one run: mapped for it, locked when the limit allows, wiped and
/// unmapped when dropped.
pub(crate) struct Argon2Memory {
    ptr: NonNull<argon2::Block>,
    blocks: usize,
}

static ARGON2_NOTICE: Mutex<Option<String>> = Mutex::new(None);
static ARGON2_NOTICE_GIVEN: AtomicBool = AtomicBool::new(false);

impl Argon2Memory {
    pub(crate) fn new(blocks: usize) -> std::io::Result<Self> {
        let len = blocks
            .checked_mul(argon2::Block::SIZE)
            .ok_or_else(|| std::io::Error::from(std::io::ErrorKind::OutOfMemory))?;
        let ptr = map(len)?;
        if let Err(e) = lock(ptr, len) {
            // Said once per process, and not when the secrets' own memory is not locked
            // either (that notice already covers Argon2id's).
            if secret_memory().is_ok() && !ARGON2_NOTICE_GIVEN.swap(true, Ordering::SeqCst) {
                let why = lock_failure("Argon2id's memory", len, e);
                *ARGON2_NOTICE.lock().unwrap_or_else(|e| e.into_inner()) = Some(format!(
                    "Argon2id's memory is not locked, so it can reach swap: {why} (the secrets \
                     themselves are locked)"
                ));
            }
        }
        Ok(Argon2Memory {
            ptr: ptr.cast(),
            blocks,
        })
    }
}

impl AsMut<[argon2::Block]> for Argon2Memory {
    #[allow(unsafe_code)]
    fn as_mut(&mut self) -> &mut [argon2::Block] {
        // SAFETY: a page-aligned (so 64-byte aligned) mapping of `blocks` blocks, zeroed by
        // mmap; all-zero bytes are a valid Block (an array of u64).
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.blocks) }
    }
}

impl Drop for Argon2Memory {
    #[allow(unsafe_code)]
    fn drop(&mut self) {
        let len = self.blocks * argon2::Block::SIZE;
        // SAFETY: the mapping is ours and `len` bytes long; written volatile so the wipe is
        // not dropped as a dead store before munmap.
        unsafe {
            let bytes = std::slice::from_raw_parts_mut(self.ptr.as_ptr().cast::<u8>(), len);
            zeroize::Zeroize::zeroize(bytes);
            libc::munmap(self.ptr.as_ptr().cast(), len);
        }
    }
}

/// The notice of the first Argon2id run whose memory could not be locked, given once (`None`
/// before such a run, and after the notice was taken).
pub fn take_argon2_notice() -> Option<String> {
    ARGON2_NOTICE.lock().ok()?.take()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `Locked:` figure (kB) of the /proc/self/smaps mapping that holds `addr`.
    fn locked_kb(addr: usize) -> Option<u64> {
        let smaps = std::fs::read_to_string("/proc/self/smaps").ok()?;
        let mut inside = false;
        for line in smaps.lines() {
            let range = line
                .split_once(' ')
                .and_then(|(range, _)| range.split_once('-'))
                .and_then(|(lo, hi)| {
                    Some(usize::from_str_radix(lo, 16).ok()?..usize::from_str_radix(hi, 16).ok()?)
                });
            if let Some(range) = range {
                inside = range.contains(&addr);
            } else if inside && let Some(v) = line.strip_prefix("Locked:") {
                return v.trim().trim_end_matches("kB").trim().parse().ok();
            }
        }
        None
    }

    /// The first byte of a block of the region (still mapped: the region is never unmapped).
    #[allow(unsafe_code)]
    fn unsafe_peek(addr: usize) -> u8 {
        // SAFETY: `addr` is inside the region, which stays mapped for the whole process.
        unsafe { std::ptr::read_volatile(addr as *const u8) }
    }

    #[test]
    fn a_new_master_secret_lives_in_locked_memory() {
        lock_secret_memory().expect("the secrets' memory is locked (the test runs as root in CI)");
        let s = crate::MasterSecret::random(32).unwrap();
        let addr = s.expose().as_ptr() as usize;
        let kb = locked_kb(addr).expect("the secret's mapping is in /proc/self/smaps");
        assert!(kb > 0, "Locked: {kb} kB for the master secret's mapping");
        let d = crate::DataKey::from_bytes(&[1; 32]);
        assert!(locked_kb(d.expose().as_ptr() as usize).is_some_and(|kb| kb > 0));
    }

    #[test]
    fn blocks_are_wiped_and_reused_and_the_heap_takes_over_when_full() {
        // Other tests take blocks at the same time: only what holds whatever they do is checked.
        let mut many: Vec<Locked<4096>> = (0..CLASSES[2].1 + 3).map(|_| Locked::new()).collect();
        assert!(many.iter().filter(|b| !b.in_region()).count() >= 3);
        let first = many
            .iter()
            .position(|b| b.in_region())
            .expect("a block in the region");
        many[first][0] = 0xAA;
        let addr = many[first].as_ptr() as usize;
        many.remove(first);
        let wiped = unsafe_peek(addr);
        assert_eq!(wiped, 0, "a freed block is wiped");
    }
}
