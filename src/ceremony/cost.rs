//! What Argon2id will cost, checked before any token, PIN or password: a file may ask for up
//! to 4 GiB × 16 passes before anything in it is authenticated, so a file that asks for more
//! than expected is named with its cost and goes on only when the person confirms it (or
//! accepted it beforehand), and a run the machine has no memory for is refused with the
//! numbers instead of failing after the passwords were typed.

use std::time::Duration;

#[allow(unused_imports)]
use super::*;
use crate::media::{MemoryAvailable, memory_available};

/// What Argon2id cost files may ask for without a confirmation. The default compares every
/// file with custody's defaults ([`KdfParams::DEFAULT`]).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KdfLimits {
    /// Accept files asking for up to this much memory (KiB) without a confirmation, even
    /// above the baseline (`--max-kdf-memory`).
    pub max_memory_kib: Option<u32>,
    /// Accept files asking for up to this many passes without a confirmation, even above the
    /// baseline (`--max-kdf-iterations`).
    pub max_iterations: Option<u32>,
    /// The parameters expected for each set id (those a ceremony record holds for it): a file
    /// of a set listed here is compared with its set's parameters instead of custody's
    /// defaults. A set may be listed more than once (a file rewrapped with other parameters).
    pub expected: Vec<([u8; 16], KdfParams)>,
}

impl KdfLimits {
    /// What a file of `set_id` is compared with, and whether that came from `expected`.
    fn baselines(&self, set_id: &[u8; 16]) -> (Vec<KdfParams>, bool) {
        let listed: Vec<KdfParams> = self
            .expected
            .iter()
            .filter(|(s, _)| s == set_id)
            .map(|(_, k)| *k)
            .collect();
        if listed.is_empty() {
            (vec![KdfParams::DEFAULT], false)
        } else {
            (listed, true)
        }
    }

    /// Whether a file of `set_id` asking for `kdf` goes on without a confirmation. With M the
    /// larger of its baseline's memory and the accepted maximum, and T the same for passes, it
    /// may ask for at most M of memory and at most M × T of work (memory × passes, which the
    /// time follows): more passes over less memory cost no more than the baseline does.
    pub fn allows(&self, set_id: &[u8; 16], kdf: &KdfParams) -> bool {
        self.baselines(set_id).0.iter().any(|b| {
            let m = b.memory_kib.max(self.max_memory_kib.unwrap_or(0));
            let t = b.iterations.max(self.max_iterations.unwrap_or(0));
            kdf.memory_kib <= m && work(kdf) <= u64::from(m) * u64::from(t)
        })
    }
}

/// Argon2id's work: memory × passes (KiB × passes).
fn work(kdf: &KdfParams) -> u64 {
    u64::from(kdf.memory_kib) * u64::from(kdf.iterations)
}

/// A file that asks for more Argon2id than its baseline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CostlyFile {
    /// The file.
    pub file: PathBuf,
    /// What it asks for.
    pub kdf: KdfParams,
    /// About how long one run at its parameters takes here (`None`: not measured).
    pub estimate: Option<Duration>,
    /// What it was compared with (the largest, when its set has several).
    pub baseline: KdfParams,
    /// The baseline is its set's expected parameters, not custody's defaults.
    pub expected: bool,
}

/// Memory for people: MiB when whole, else KiB.
fn amount(kib: u32) -> String {
    if kib.is_multiple_of(1024) {
        format!("{} MiB", kib / 1024)
    } else {
        format!("{kib} KiB")
    }
}

/// Argon2id's memory and passes for people: `4096 MiB × 16 passes`.
fn cost(kdf: &KdfParams) -> String {
    format!(
        "{} × {} pass{}",
        amount(kdf.memory_kib),
        kdf.iterations,
        if kdf.iterations == 1 { "" } else { "es" }
    )
}

impl fmt::Display for CostlyFile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: asks for {}", self.file.display(), cost(&self.kdf))?;
        if let Some(d) = self.estimate {
            write!(f, ", about {} s here", d.as_secs_f64().round().max(1.0))?;
        }
        write!(
            f,
            ", more than {} ({})",
            if self.expected {
                "the parameters expected for its set"
            } else {
                "custody's default"
            },
            cost(&self.baseline)
        )
    }
}

/// Why Argon2id was not run.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KdfCostError {
    /// Files ask for more Argon2id than allowed, and it was not confirmed.
    TooCostly {
        /// Each file that asks for more, with its cost.
        files: Vec<CostlyFile>,
        /// The person was asked and said no (otherwise there was nobody to ask).
        declined: bool,
    },
    /// Argon2id needs more memory than this process can take.
    Memory {
        /// What it is for (a file, a backup), for people.
        what: String,
        /// Bytes Argon2id's memory blocks need.
        needed: u64,
        /// Bytes more the process needs while it runs (its threads' stacks, their heaps).
        overhead: u64,
        /// What is available, and which limit says so.
        available: MemoryAvailable,
    },
    /// Argon2id started and could not allocate its memory (the check before it passed, and
    /// the memory went, or a limit the check does not see refused it).
    OutOfMemory {
        /// What it is for (a file, a backup), for people.
        what: String,
        /// Bytes Argon2id's memory blocks need.
        needed: u64,
    },
}

impl KdfCostError {
    /// Argon2id at `kdf` for `what` could not allocate its memory.
    pub(crate) fn out_of_memory(what: &Path, kdf: &KdfParams) -> KdfCostError {
        KdfCostError::OutOfMemory {
            what: display_path(what),
            needed: u64::from(kdf.memory_kib) * 1024,
        }
    }
}

impl fmt::Display for KdfCostError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KdfCostError::TooCostly { files, declined } => {
                let list: Vec<String> = files.iter().map(ToString::to_string).collect();
                write!(
                    f,
                    "{}; {}, nothing was done",
                    list.join("; "),
                    if *declined {
                        "not confirmed"
                    } else {
                        "not confirmed (nobody to ask)"
                    }
                )
            }
            KdfCostError::Memory {
                what,
                needed,
                overhead,
                available,
            } => write!(
                f,
                "{what}: Argon2id needs {} MiB of memory and {} MiB more for its threads, but \
                 {} MiB is available here ({}); nothing was done",
                needed.div_ceil(MIB),
                overhead.div_ceil(MIB),
                available.bytes / MIB,
                available.limit
            ),
            KdfCostError::OutOfMemory { what, needed } => write!(
                f,
                "{what}: Argon2id ran out of memory: it could not allocate its {} MiB; the \
                 password was not tried",
                needed.div_ceil(MIB)
            ),
        }
    }
}

impl std::error::Error for KdfCostError {}

impl KdfCostError {
    /// What kind of failure this is: a cost not accepted is a request to change; missing
    /// memory is the machine's.
    pub fn kind(&self) -> ErrorKind {
        match self {
            KdfCostError::TooCostly { .. } => ErrorKind::InvalidRequest,
            KdfCostError::Memory { .. } | KdfCostError::OutOfMemory { .. } => ErrorKind::Memory,
        }
    }
}

/// Compare each file's Argon2id memory and passes with what `limits` allows; name every file
/// that asks for more with its cost here, and go on only if the person confirms it. Measures
/// this machine (a few milliseconds of Argon2id) only when a file asks for more.
pub(crate) fn check_cost(
    files: &[&LoadedFile],
    limits: &KdfLimits,
    prompter: &mut dyn Prompter,
) -> Result<(), KdfCostError> {
    let over: Vec<&LoadedFile> = files
        .iter()
        .copied()
        .filter(|lf| !limits.allows(&lf.file.common.set_id, &lf.file.own.kdf))
        .collect();
    if over.is_empty() {
        return Ok(());
    }
    // One measurement per number of lanes, however many files ask for more.
    let mut samples: Vec<(u32, Option<Duration>)> = Vec::new();
    let costly: Vec<CostlyFile> = over
        .into_iter()
        .map(|lf| {
            let kdf = lf.file.own.kdf;
            let (bases, expected) = limits.baselines(&lf.file.common.set_id);
            let baseline = bases
                .into_iter()
                .max_by_key(work)
                .unwrap_or(KdfParams::DEFAULT);
            CostlyFile {
                file: lf.path.clone(),
                kdf,
                estimate: sample(&mut samples, kdf.parallelism)
                    .map(|s| crypto::argon2id_estimate(&kdf, s)),
                baseline,
                expected,
            }
        })
        .collect();
    let mut question: Vec<String> = costly.iter().map(ToString::to_string).collect();
    question.push(
        "Argon2id runs before anything in the file is authenticated. Run it at this cost?".into(),
    );
    match prompter.confirm(&question.join("\n")) {
        Ok(true) => Ok(()),
        Ok(false) => Err(KdfCostError::TooCostly {
            files: costly,
            declined: true,
        }),
        Err(_) => Err(KdfCostError::TooCostly {
            files: costly,
            declined: false,
        }),
    }
}

const MIB: u64 = 1024 * 1024;

/// What a process running Argon2id needs besides its blocks, with `cores` threads in its pool:
/// each thread's stack (2 MiB, mapped when the pool starts, counted by `RLIMIT_AS`) and room
/// for the heap. Measured under `prlimit --as`: below about this margin the thread pool cannot
/// start and the process aborts instead of reporting.
fn overhead(cores: usize) -> u64 {
    16 * MIB + 4 * MIB * cores as u64
}

/// The sample time with `lanes` lanes, measured once.
fn sample(samples: &mut Vec<(u32, Option<Duration>)>, lanes: u32) -> Option<Duration> {
    if let Some((_, d)) = samples.iter().find(|(l, _)| *l == lanes) {
        return *d;
    }
    let d = crypto::argon2id_sample(lanes);
    samples.push((lanes, d));
    d
}

/// Refuse Argon2id runs that would be going at once (`runs`) when this process cannot take
/// their memory. `what` names what they are for. Called before any prompt, and again just
/// before each run.
pub(crate) fn check_memory(what: &Path, runs: &[KdfParams]) -> Result<(), KdfCostError> {
    let needed: u64 = runs.iter().map(|k| u64::from(k.memory_kib) * 1024).sum();
    let overhead = overhead(std::thread::available_parallelism().map_or(1, |n| n.get()));
    match memory_available() {
        Some(available) if available.bytes < needed.saturating_add(overhead) => {
            Err(KdfCostError::Memory {
                what: what.display().to_string(),
                needed,
                overhead,
                available,
            })
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SET: [u8; 16] = [1; 16];
    const OTHER: [u8; 16] = [2; 16];

    fn k(mib: u32, t: u32) -> KdfParams {
        KdfParams {
            memory_kib: mib * 1024,
            iterations: t,
            parallelism: 4,
        }
    }

    #[test]
    fn defaults_are_the_baseline() {
        let l = KdfLimits::default();
        assert!(l.allows(&SET, &KdfParams::DEFAULT));
        assert!(l.allows(&SET, &k(64, 3)));
        assert!(!l.allows(&SET, &k(1025, 3)));
        assert!(!l.allows(&SET, &k(1024, 4)));
        assert!(!l.allows(&SET, &k(4096, 16)));
        // More passes over less memory: no more work than the default.
        assert!(l.allows(&SET, &k(8, 5)));
        assert!(l.allows(&SET, &k(256, 12)));
        assert!(!l.allows(&SET, &k(256, 13)));
        assert!(!l.allows(&SET, &k(512, 16)));
    }

    #[test]
    fn the_flags_accept_up_to_their_values_each() {
        let l = KdfLimits {
            max_memory_kib: Some(4096 * 1024),
            ..KdfLimits::default()
        };
        assert!(l.allows(&SET, &k(4096, 3)));
        assert!(!l.allows(&SET, &k(4096, 16)), "passes still at the default");
        let l = KdfLimits {
            max_iterations: Some(16),
            ..KdfLimits::default()
        };
        assert!(l.allows(&SET, &k(512, 16)));
        assert!(!l.allows(&SET, &k(4096, 16)), "memory still at the default");
        let l = KdfLimits {
            max_memory_kib: Some(4096 * 1024),
            max_iterations: Some(16),
            ..KdfLimits::default()
        };
        assert!(l.allows(&SET, &k(4096, 16)));
        assert!(!l.allows(
            &SET,
            &KdfParams {
                memory_kib: 4096 * 1024 + 1,
                ..k(1, 1)
            }
        ));
        // A maximum below the default does not refuse a file within the default.
        let l = KdfLimits {
            max_memory_kib: Some(64 * 1024),
            max_iterations: Some(1),
            ..KdfLimits::default()
        };
        assert!(l.allows(&SET, &KdfParams::DEFAULT));
    }

    #[test]
    fn expected_parameters_replace_the_defaults_for_their_set() {
        let l = KdfLimits {
            expected: vec![(SET, k(64, 3)), (SET, k(2048, 2))],
            ..KdfLimits::default()
        };
        // Within one of the set's expected parameters.
        assert!(l.allows(&SET, &k(64, 3)));
        assert!(l.allows(&SET, &k(2048, 2)));
        let only = KdfLimits {
            expected: vec![(SET, k(64, 3))],
            ..KdfLimits::default()
        };
        assert!(!only.allows(&SET, &k(64, 4)));
        // Within the defaults, but more than this set was made with.
        assert!(!only.allows(&SET, &KdfParams::DEFAULT));
        assert!(!l.allows(&SET, &k(1024, 5)));
        // Another set: custody's defaults.
        assert!(l.allows(&OTHER, &KdfParams::DEFAULT));
        assert!(!l.allows(&OTHER, &k(2048, 2)));
    }

    #[test]
    fn a_costly_file_is_named_with_its_cost() {
        let c = CostlyFile {
            file: "x.cb".into(),
            kdf: k(4096, 16),
            estimate: Some(Duration::from_millis(94_600)),
            baseline: KdfParams::DEFAULT,
            expected: false,
        };
        assert_eq!(
            c.to_string(),
            "x.cb: asks for 4096 MiB × 16 passes, about 95 s here, more than custody's default \
             (1024 MiB × 3 passes)"
        );
        let e = KdfCostError::TooCostly {
            files: vec![c],
            declined: false,
        };
        assert_eq!(e.kind(), ErrorKind::InvalidRequest);
        assert!(e.to_string().ends_with("nothing was done"), "{e}");
    }

    #[test]
    fn a_memory_shortfall_names_both_figures() {
        let e = KdfCostError::Memory {
            what: "b.cb".into(),
            needed: 1024 * 1024 * 1024,
            overhead: overhead(2),
            available: MemoryAvailable {
                bytes: 490 * 1024 * 1024 + 5,
                limit: crate::media::MemoryLimit::AddressSpace,
            },
        };
        assert_eq!(e.kind(), ErrorKind::Memory);
        let s = e.to_string();
        assert!(
            s.starts_with(
                "b.cb: Argon2id needs 1024 MiB of memory and 24 MiB more for its threads, but \
                 490 MiB is available"
            ),
            "{s}"
        );
        assert!(s.contains("RLIMIT_AS"), "{s}");
        // Far more than any machine has: refused; nothing at all: accepted.
        assert!(check_memory(Path::new("f"), &[k(4096, 1); 4096]).is_err());
        assert!(check_memory(Path::new("f"), &[]).is_ok());
    }
}
