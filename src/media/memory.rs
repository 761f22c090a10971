//! How much memory this process can still take, read from the kernel before Argon2id runs: a
//! run that cannot get its memory should be refused with the numbers before anyone types a
//! password, not fail (or be killed) after.
//!
//! The figure is the smallest of four: `MemAvailable` (`/proc/meminfo`), the memory cgroup's
//! limit less its usage (v1 `memory.limit_in_bytes` − `memory.usage_in_bytes`, v2 `memory.max`
//! − `memory.current`, for the process's cgroup and each of its ancestors), and the soft
//! `RLIMIT_AS` and `RLIMIT_DATA`, each less what the process already maps (`VmSize`, `VmData`
//! in `/proc/self/status`). A source that cannot be read counts as no limit.
//!
//! The reading is here, in the I/O layer; the parsing is pure functions of the files' text,
//! tested on sample contents.

use std::fmt;
use std::path::{Path, PathBuf};

/// Which limit gave the smallest figure.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum MemoryLimit {
    /// The kernel's estimate of the memory available without swapping (`MemAvailable`).
    MemAvailable,
    /// The memory cgroup's limit less its usage.
    Cgroup,
    /// The address-space limit (`RLIMIT_AS`) less the address space the process maps.
    AddressSpace,
    /// The data limit (`RLIMIT_DATA`) less the data the process maps.
    Data,
}

impl fmt::Display for MemoryLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            MemoryLimit::MemAvailable => "MemAvailable in /proc/meminfo",
            MemoryLimit::Cgroup => "the memory cgroup's limit less its usage",
            MemoryLimit::AddressSpace => {
                "the address-space limit (RLIMIT_AS) less what the process already maps"
            }
            MemoryLimit::Data => "the data limit (RLIMIT_DATA) less what the process already maps",
        })
    }
}

/// The memory this process can still take, and which limit says so.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct MemoryAvailable {
    /// Bytes.
    pub bytes: u64,
    /// The limit that gave the figure (the smallest).
    pub limit: MemoryLimit,
}

/// What the kernel said, as read: each field `None` when its source could not be read.
#[derive(Clone, Debug, Default)]
pub struct Readings {
    /// `/proc/meminfo`.
    pub meminfo: Option<String>,
    /// `(limit file, usage file)` of the process's memory cgroup and of each ancestor.
    pub cgroups: Vec<(String, String)>,
    /// The soft `RLIMIT_AS` (`None`: unlimited).
    pub rlimit_as: Option<u64>,
    /// The soft `RLIMIT_DATA` (`None`: unlimited).
    pub rlimit_data: Option<u64>,
    /// `/proc/self/status`.
    pub status: Option<String>,
}

/// The memory this process can still take, read now; `None` when no source could be read.
pub fn memory_available() -> Option<MemoryAvailable> {
    smallest(&read_all())
}

/// Read every source.
fn read_all() -> Readings {
    let read = |p: &Path| std::fs::read_to_string(p).ok();
    let (rlimit_as, rlimit_data) = super::sys::memory_rlimits();
    let mut cgroups = Vec::new();
    if let (Some(own), Some(mounts)) = (
        read(Path::new("/proc/self/cgroup")),
        read(Path::new("/proc/self/mountinfo")),
    ) {
        for dir in cgroup_dirs(&own, &mounts) {
            let (limit, usage) = if dir.v2 {
                ("memory.max", "memory.current")
            } else {
                ("memory.limit_in_bytes", "memory.usage_in_bytes")
            };
            if let (Some(l), Some(u)) = (read(&dir.path.join(limit)), read(&dir.path.join(usage))) {
                cgroups.push((l, u));
            }
        }
    }
    Readings {
        meminfo: read(Path::new("/proc/meminfo")),
        cgroups,
        rlimit_as,
        rlimit_data,
        status: read(Path::new("/proc/self/status")),
    }
}

/// The smallest figure of all the readings.
pub fn smallest(r: &Readings) -> Option<MemoryAvailable> {
    let (vm_size, vm_data) = r.status.as_deref().map(vm_usage).unwrap_or((None, None));
    let mut figures: Vec<(u64, MemoryLimit)> = Vec::new();
    if let Some(b) = r.meminfo.as_deref().and_then(mem_available) {
        figures.push((b, MemoryLimit::MemAvailable));
    }
    for (limit, usage) in &r.cgroups {
        if let Some(b) = limit_less_usage(limit, usage) {
            figures.push((b, MemoryLimit::Cgroup));
        }
    }
    if let Some(l) = r.rlimit_as {
        figures.push((
            l.saturating_sub(vm_size.unwrap_or(0)),
            MemoryLimit::AddressSpace,
        ));
    }
    if let Some(l) = r.rlimit_data {
        figures.push((l.saturating_sub(vm_data.unwrap_or(0)), MemoryLimit::Data));
    }
    figures
        .into_iter()
        .min_by_key(|(b, _)| *b)
        .map(|(bytes, limit)| MemoryAvailable { bytes, limit })
}

/// The value of a `Key:   N kB` line of `/proc/meminfo` or `/proc/self/status`, in bytes.
fn kb_field(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let rest = l.strip_prefix(key)?.strip_prefix(':')?;
        let mut words = rest.split_whitespace();
        let n: u64 = words.next()?.parse().ok()?;
        match words.next() {
            Some("kB") => n.checked_mul(1024),
            None => Some(n),
            Some(_) => None,
        }
    })
}

/// `MemAvailable` of `/proc/meminfo`, in bytes.
pub fn mem_available(meminfo: &str) -> Option<u64> {
    kb_field(meminfo, "MemAvailable")
}

/// `(VmSize, VmData)` of `/proc/self/status`, in bytes: what counts against `RLIMIT_AS` and
/// `RLIMIT_DATA`.
pub fn vm_usage(status: &str) -> (Option<u64>, Option<u64>) {
    (kb_field(status, "VmSize"), kb_field(status, "VmData"))
}

/// A cgroup's limit less its usage, in bytes; `None` when it has no limit (`max`) or a file
/// does not read as a number. (cgroup v1's "no limit" is a huge number, which never wins.)
pub fn limit_less_usage(limit: &str, usage: &str) -> Option<u64> {
    let limit: u64 = limit.trim().parse().ok()?;
    let usage: u64 = usage.trim().parse().ok()?;
    Some(limit.saturating_sub(usage))
}

/// A directory of the process's memory cgroup (or an ancestor's) and whether it is cgroup v2.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CgroupDir {
    /// The directory.
    pub path: PathBuf,
    /// cgroup v2 (`memory.max`) rather than v1 (`memory.limit_in_bytes`).
    pub v2: bool,
}

/// The directories whose memory limits apply to this process: its own memory cgroup and each
/// ancestor up to the mount's root, for v1's memory controller and for v2, from the texts of
/// `/proc/self/cgroup` and `/proc/self/mountinfo`. A directory that does not exist (v2 without
/// the memory controller) is skipped by the reader, which finds no files there.
pub fn cgroup_dirs(proc_cgroup: &str, mountinfo: &str) -> Vec<CgroupDir> {
    let mut out = Vec::new();
    for line in proc_cgroup.lines() {
        // hierarchy-id:controllers:path
        let mut parts = line.splitn(3, ':');
        let (Some(id), Some(controllers), Some(path)) = (parts.next(), parts.next(), parts.next())
        else {
            continue;
        };
        let v2 = id == "0" && controllers.is_empty();
        if !v2 && !controllers.split(',').any(|c| c == "memory") {
            continue;
        }
        let Some((root, point)) = cgroup_mount(mountinfo, v2) else {
            continue;
        };
        // Inside a container the mount's root is often the container's own cgroup: the path
        // is then relative to it. A path outside the mount's root leaves only the mount itself.
        let rel = match path.strip_prefix(root.as_str()) {
            Some(r) if root == "/" || r.is_empty() || r.starts_with('/') => r,
            _ => "",
        };
        let rel = rel.trim_start_matches('/');
        let mut dir = point.clone();
        let mut dirs = vec![point.clone()];
        for part in rel.split('/').filter(|p| !p.is_empty() && *p != "..") {
            dir = dir.join(part);
            dirs.push(dir.clone());
        }
        // The process's own cgroup first, then its ancestors.
        out.extend(dirs.into_iter().rev().map(|path| CgroupDir { path, v2 }));
    }
    out
}

/// The root and mount point of the cgroup v1 memory hierarchy, or of cgroup v2, from
/// `/proc/self/mountinfo`.
fn cgroup_mount(mountinfo: &str, v2: bool) -> Option<(String, PathBuf)> {
    mountinfo.lines().find_map(|line| {
        // id parent major:minor root mount-point options [optional fields] - fstype source super-options
        let (left, right) = line.split_once(" - ")?;
        let fields: Vec<&str> = left.split(' ').collect();
        let mut after = right.split(' ');
        let fstype = after.next()?;
        let _source = after.next();
        let super_opts = after.next().unwrap_or("");
        let wanted = if v2 {
            fstype == "cgroup2"
        } else {
            fstype == "cgroup" && super_opts.split(',').any(|o| o == "memory")
        };
        if !wanted {
            return None;
        }
        Some((
            unescape(fields.get(3)?),
            PathBuf::from(unescape(fields.get(4)?)),
        ))
    })
}

/// mountinfo writes a space, tab, newline and backslash in a path as `\ooo` (octal).
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = b[i + 1..i + 4]
                .iter()
                .fold(0u32, |v, c| v * 8 + u32::from(c - b'0'));
            if let Ok(v) = u8::try_from(v) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const MEMINFO: &str = "MemTotal:       32768000 kB\nMemFree:         1000000 kB\n\
                           MemAvailable:    2097152 kB\nBuffers:          100000 kB\n";

    const STATUS: &str = "Name:\tcustody\nVmPeak:\t  30000 kB\nVmSize:\t   20480 kB\n\
                          VmLck:\t       0 kB\nVmData:\t    4096 kB\nVmStk:\t     132 kB\n";

    /// This machine's kind: cgroup v1 with the memory controller, plus an empty v2 hierarchy.
    const CGROUP_V1: &str = "9:name=systemd:/\n8:pids:/\n4:memory:/process_api/abc\n\
                             3:cpuset:/\n0::/\n";
    const MOUNTINFO_V1: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const CGROUP_V2: &str = "0::/user.slice/user-1000.slice/session-2.scope\n";
    const MOUNTINFO_V2: &str =
        "30 23 0:26 / /sys/fs/cgroup rw,nosuid shared:4 - cgroup2 cgroup2 rw,nsdelegate\n";

    #[test]
    fn meminfo_and_status_fields() {
        assert_eq!(mem_available(MEMINFO), Some(2097152 * 1024));
        assert_eq!(mem_available("MemTotal: 5 kB\n"), None);
        assert_eq!(mem_available("MemAvailable: lots kB\n"), None);
        assert_eq!(vm_usage(STATUS), (Some(20480 * 1024), Some(4096 * 1024)));
        assert_eq!(vm_usage(""), (None, None));
    }

    #[test]
    fn cgroup_limit_less_usage() {
        assert_eq!(
            limit_less_usage("1073741824\n", "268435456\n"),
            Some(805306368)
        );
        // v2 without a limit.
        assert_eq!(limit_less_usage("max\n", "12345\n"), None);
        // Usage above the limit (it happens briefly): nothing left, not an underflow.
        assert_eq!(limit_less_usage("100\n", "200\n"), Some(0));
        assert_eq!(limit_less_usage("", "1"), None);
    }

    #[test]
    fn cgroup_v1_memory_dirs_own_first_then_ancestors() {
        let dirs = cgroup_dirs(CGROUP_V1, MOUNTINFO_V1);
        let m = |p: &str, v2| CgroupDir {
            path: PathBuf::from(p),
            v2,
        };
        assert_eq!(
            dirs,
            vec![
                m("/sys/fs/cgroup/memory/process_api/abc", false),
                m("/sys/fs/cgroup/memory/process_api", false),
                m("/sys/fs/cgroup/memory", false),
                m("/sys/fs/cgroup/unified", true),
            ]
        );
    }

    #[test]
    fn cgroup_v2_dirs() {
        let dirs: Vec<PathBuf> = cgroup_dirs(CGROUP_V2, MOUNTINFO_V2)
            .into_iter()
            .map(|d| {
                assert!(d.v2);
                d.path
            })
            .collect();
        assert_eq!(
            dirs,
            [
                "/sys/fs/cgroup/user.slice/user-1000.slice/session-2.scope",
                "/sys/fs/cgroup/user.slice/user-1000.slice",
                "/sys/fs/cgroup/user.slice",
                "/sys/fs/cgroup",
            ]
            .map(PathBuf::from)
        );
    }

    #[test]
    fn cgroup_mounted_at_the_containers_own_cgroup() {
        // A container without a cgroup namespace: /proc/self/cgroup names the host's path, the
        // mount's root is that same path, so the limits are at the mount point itself.
        let own = "4:memory:/docker/abc\n";
        let mounts = "35 31 0:32 /docker/abc /sys/fs/cgroup/memory ro - cgroup cgroup rw,memory\n";
        assert_eq!(
            cgroup_dirs(own, mounts),
            vec![CgroupDir {
                path: PathBuf::from("/sys/fs/cgroup/memory"),
                v2: false
            }]
        );
        // A path outside the mount's root: only the mount itself.
        let own = "4:memory:/elsewhere\n";
        assert_eq!(cgroup_dirs(own, mounts).len(), 1);
        // No memory hierarchy mounted: nothing.
        assert!(cgroup_dirs(own, "").is_empty());
    }

    #[test]
    fn mount_paths_are_unescaped() {
        let mounts = "35 31 0:32 / /mnt/c\\040g rw - cgroup cgroup rw,memory\n";
        assert_eq!(
            cgroup_dirs("4:memory:/\n", mounts)[0].path,
            PathBuf::from("/mnt/c g")
        );
    }

    #[test]
    fn the_smallest_figure_wins_and_names_its_limit() {
        let gib = 1024 * 1024 * 1024u64;
        let mut r = Readings {
            meminfo: Some(MEMINFO.into()), // 2 GiB
            cgroups: vec![
                ("9223372036854771712\n".into(), "14917632\n".into()),
                ((3 * gib).to_string(), gib.to_string()), // 2 GiB left
            ],
            rlimit_as: None,
            rlimit_data: None,
            status: Some(STATUS.into()), // 20 MiB mapped, 4 MiB data
        };
        let got = smallest(&r).unwrap();
        assert_eq!(got.bytes, 2 * gib);
        r.cgroups.push(("1073741824".into(), "536870912".into()));
        assert_eq!(
            smallest(&r).unwrap(),
            MemoryAvailable {
                bytes: gib / 2,
                limit: MemoryLimit::Cgroup
            }
        );
        // `prlimit --as=512MiB`: 512 MiB less the 20 MiB already mapped.
        r.rlimit_as = Some(512 * 1024 * 1024);
        assert_eq!(
            smallest(&r).unwrap(),
            MemoryAvailable {
                bytes: (512 - 20) * 1024 * 1024,
                limit: MemoryLimit::AddressSpace
            }
        );
        r.rlimit_data = Some(100 * 1024 * 1024);
        assert_eq!(
            smallest(&r).unwrap(),
            MemoryAvailable {
                bytes: 96 * 1024 * 1024,
                limit: MemoryLimit::Data
            }
        );
        // A limit below what is already mapped leaves nothing.
        r.rlimit_data = Some(1024);
        assert_eq!(smallest(&r).unwrap().bytes, 0);
        // Nothing readable: no figure, no refusal.
        assert_eq!(smallest(&Readings::default()), None);
    }

    /// On the machine the tests run on, some figure is found, and it is not zero.
    #[cfg(target_os = "linux")]
    #[test]
    fn this_machine_has_a_figure() {
        let got = memory_available().expect("a Linux machine has /proc/meminfo");
        assert!(got.bytes > 0, "{got:?}");
    }
}
