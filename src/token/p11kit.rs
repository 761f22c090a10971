//! The PKCS#11 modules an administrator registered with p11-kit, read the way p11-kit reads
//! them (p11-kit 0.24–0.26, `p11-kit/conf.c` and `modules.c`), so that `custody token list` and a
//! restore see the same modules as `p11-kit list-modules`, and `module-name=` in a token URI
//! means what it means to every other p11-kit user.
//!
//! - Global settings: `/etc/pkcs11/pkcs11.conf`, then the user's `~/.config/pkcs11/pkcs11.conf`
//!   as its `user-config` (`none`, `merge`, `only`/`override`) allows. User configuration is
//!   skipped, as p11-kit skips it, when running as root or setuid, or with
//!   `P11_KIT_NO_USER_CONFIG` set.
//! - Modules: one file per module, named `NAME.module`, in the user's `~/.config/pkcs11/modules`
//!   (when allowed), then `/etc/pkcs11/modules`, then the packaged `/usr/share/p11-kit/modules`;
//!   a name seen earlier keeps its settings and only takes missing ones from a later file.
//! - `module:` is the library; a relative one is in p11-kit's module directory. `enable-in:` and
//!   `disable-in:` are honoured for the program name `custody`. `remote:` modules are not
//!   loaded.
//!
//! Unlike p11-kit, a file that does not parse is named in a warning and skipped (p11-kit fails
//! as a whole), and a file or folder that anyone but its owner (the effective user or root) can
//! write is never used: whoever can write it could make custody load their library.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

/// One line of a configuration file that is not `name: value`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConfError {
    /// 1-based line number.
    pub line: usize,
    /// What is wrong with it.
    pub reason: &'static str,
}

impl fmt::Display for ConfError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

impl std::error::Error for ConfError {}

/// The `name: value` fields of a p11-kit configuration file, as p11-kit's lexer reads them:
/// whitespace around lines, names and values is dropped; empty lines and lines starting with
/// `#` are skipped; a later field of the same name replaces an earlier one. A section header
/// (`[...]`), a PEM block or a line without a colon makes the whole file invalid.
pub fn parse_conf(text: &str) -> Result<BTreeMap<String, String>, ConfError> {
    let mut out = BTreeMap::new();
    for (i, raw) in text.split('\n').enumerate() {
        let line = raw.trim_matches(is_c_space);
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let err = |reason| ConfError {
            line: i + 1,
            reason,
        };
        if line.starts_with("-----BEGIN ") {
            return Err(err("a PEM block, which a module configuration cannot hold"));
        }
        if line.starts_with('[') {
            return Err(err(
                "a section header, which a module configuration cannot hold",
            ));
        }
        let (name, value) = line
            .split_once(':')
            .ok_or_else(|| err("no colon: each line must be `name: value`"))?;
        out.insert(
            name.trim_end_matches(is_c_space).to_owned(),
            value.trim_start_matches(is_c_space).to_owned(),
        );
    }
    Ok(out)
}

/// C's `isspace` in the "C" locale, which p11-kit's lexer uses.
fn is_c_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\x0b' | '\x0c' | '\r')
}

/// Whether `word` is in a p11-kit list (separated by commas and spaces).
fn in_list(list: &str, word: &str) -> bool {
    list.split(|c: char| c == ',' || is_c_space(c))
        .any(|w| w == word)
}

/// The module name p11-kit gives a file: its name without `.module`, when it is
/// `[alnum][alnum_.-]*.module`; other names are used whole (p11-kit warns that it will ignore
/// them one day).
pub fn module_name(file_name: &str) -> String {
    let valid = file_name
        .chars()
        .next()
        .is_some_and(|c| c.is_ascii_alphanumeric())
        && file_name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    match file_name.strip_suffix(".module") {
        Some(stem) if valid && !stem.is_empty() => stem.to_owned(),
        _ => file_name.to_owned(),
    }
}

/// Where p11-kit's configuration lives.
#[derive(Clone, Debug)]
pub struct Dirs {
    /// The system settings file (`/etc/pkcs11/pkcs11.conf`).
    pub system_conf: PathBuf,
    /// The user's settings file, `None` when user configuration does not apply.
    pub user_conf: Option<PathBuf>,
    /// The user's module folder, `None` when user configuration does not apply.
    pub user_modules: Option<PathBuf>,
    /// The administrator's module folder (`/etc/pkcs11/modules`).
    pub system_modules: PathBuf,
    /// The packages' module folder (`/usr/share/p11-kit/modules`).
    pub package_modules: PathBuf,
    /// Where a relative `module:` is (p11-kit's `P11_MODULE_PATH`).
    pub module_dir: PathBuf,
}

impl Dirs {
    /// p11-kit's places on this system (Debian's layout), with user configuration only where
    /// p11-kit reads it: not as root, not setuid, not with `P11_KIT_NO_USER_CONFIG`.
    pub fn system() -> Dirs {
        let root_or_setuid = rustix::process::getuid().is_root()
            || rustix::process::getuid() != rustix::process::geteuid();
        let user = (!root_or_setuid && std::env::var_os("P11_KIT_NO_USER_CONFIG").is_none())
            .then(|| std::env::var_os("HOME").map(PathBuf::from))
            .flatten()
            .map(|home| home.join(".config/pkcs11"));
        Dirs {
            system_conf: "/etc/pkcs11/pkcs11.conf".into(),
            user_conf: user.as_ref().map(|u| u.join("pkcs11.conf")),
            user_modules: user.map(|u| u.join("modules")),
            system_modules: "/etc/pkcs11/modules".into(),
            package_modules: "/usr/share/p11-kit/modules".into(),
            module_dir: std::env::var_os("P11_MODULE_PATH")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(DEFAULT_MODULE_DIR)),
        }
    }
}

/// Debian's p11-kit module directory for this architecture.
#[cfg(target_arch = "x86_64")]
const DEFAULT_MODULE_DIR: &str = "/usr/lib/x86_64-linux-gnu/pkcs11";
#[cfg(target_arch = "aarch64")]
const DEFAULT_MODULE_DIR: &str = "/usr/lib/aarch64-linux-gnu/pkcs11";
#[cfg(not(any(target_arch = "x86_64", target_arch = "aarch64")))]
const DEFAULT_MODULE_DIR: &str = "/usr/lib/pkcs11";

/// A library registered with p11-kit, under every name that resolves to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredModule {
    /// Its names (file names without `.module`), sorted.
    pub names: Vec<String>,
    /// The library, as its configuration gives it (a relative one made absolute).
    pub path: PathBuf,
}

/// The modules registered with p11-kit, and what was skipped and why.
#[derive(Clone, Debug, Default)]
pub struct Registry {
    /// Enabled modules for custody, one per library file (by canonical path).
    pub modules: Vec<RegisteredModule>,
    /// Configuration files or folders that were not used, each with the reason, for people.
    pub warnings: Vec<String>,
}

#[cfg(test)]
impl Registry {
    /// The library registered under `name`.
    fn find(&self, name: &str) -> Option<&RegisteredModule> {
        self.modules
            .iter()
            .find(|m| m.names.iter().any(|n| n == name))
    }
}

/// How user configuration combines with the system's.
#[derive(Clone, Copy, PartialEq, Eq)]
enum UserMode {
    None,
    Merge,
    Only,
}

fn user_mode(conf: &BTreeMap<String, String>, default: UserMode) -> UserMode {
    match conf.get("user-config").map(String::as_str) {
        None => default,
        Some("none") => UserMode::None,
        Some("merge") => UserMode::Merge,
        Some("only" | "override") => UserMode::Only,
        // p11-kit refuses the whole configuration here; custody keeps to the system's.
        Some(_) => UserMode::None,
    }
}

/// Read p11-kit's registry from `dirs`, for the program `progname` (`enable-in`, `disable-in`).
pub fn load(dirs: &Dirs, progname: &str) -> Registry {
    let mut warnings = Vec::new();
    let system = read_conf(&dirs.system_conf, &mut warnings).unwrap_or_default();
    let mut mode = user_mode(&system, UserMode::Merge);
    if mode != UserMode::None {
        if let Some(user) = dirs
            .user_conf
            .as_ref()
            .and_then(|p| read_conf(p, &mut warnings))
        {
            mode = user_mode(&user, mode);
        }
        if dirs.user_conf.is_none() {
            mode = UserMode::None;
        }
    }
    // Name -> (settings, file it came from), earlier folders first.
    let mut configs: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
    let mut folders: Vec<&Path> = Vec::new();
    if mode != UserMode::None {
        folders.extend(dirs.user_modules.as_deref());
    }
    if mode != UserMode::Only {
        folders.push(&dirs.system_modules);
        folders.push(&dirs.package_modules);
    }
    for folder in folders {
        read_folder(folder, &mut configs, &mut warnings);
    }

    let mut modules: Vec<(PathBuf, RegisteredModule)> = Vec::new();
    for (name, conf) in configs {
        if let (Some(_), Some(_)) = (conf.get("enable-in"), conf.get("disable-in")) {
            warnings.push(format!(
                "p11-kit module {name:?} has both enable-in and disable-in (enable-in is used)"
            ));
        }
        let enabled = match (conf.get("enable-in"), conf.get("disable-in")) {
            (Some(list), _) => in_list(list, progname),
            (None, Some(list)) => !in_list(list, progname),
            (None, None) => true,
        };
        if !enabled {
            continue;
        }
        let Some(library) = conf.get("module") else {
            if conf.contains_key("remote") {
                warnings.push(format!(
                    "p11-kit module {name:?} is a remote module, which custody does not load"
                ));
            }
            continue;
        };
        let path = if Path::new(library).is_absolute() {
            PathBuf::from(library)
        } else {
            dirs.module_dir.join(library)
        };
        // One library loaded once, shown once, with all its names.
        let key = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
        match modules.iter_mut().find(|(k, _)| *k == key) {
            Some((_, m)) => m.names.push(name),
            None => modules.push((
                key,
                RegisteredModule {
                    names: vec![name],
                    path,
                },
            )),
        }
    }
    let mut modules: Vec<RegisteredModule> = modules.into_iter().map(|(_, m)| m).collect();
    for m in &mut modules {
        m.names.sort();
    }
    modules.sort_by(|a, b| a.names.cmp(&b.names));
    Registry { modules, warnings }
}

/// A settings file, `None` when it does not exist (nothing to say) or cannot be used (said in
/// `warnings`).
fn read_conf(path: &Path, warnings: &mut Vec<String>) -> Option<BTreeMap<String, String>> {
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
        Err(e) => {
            warnings.push(format!("{}: not read: {e}", path.display()));
            return None;
        }
    };
    if let Some(why) = unsafe_to_trust(path) {
        warnings.push(format!("{}: not used: {why}", path.display()));
        return None;
    }
    match parse_conf(&text) {
        Ok(c) => Some(c),
        Err(e) => {
            warnings.push(format!("{}: not used: {e}", path.display()));
            None
        }
    }
}

fn read_folder(
    folder: &Path,
    configs: &mut BTreeMap<String, BTreeMap<String, String>>,
    warnings: &mut Vec<String>,
) {
    let entries = match std::fs::read_dir(folder) {
        Ok(e) => e,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound
                    | std::io::ErrorKind::NotADirectory
                    | std::io::ErrorKind::PermissionDenied
            ) =>
        {
            return;
        }
        Err(e) => {
            warnings.push(format!("{}: not read: {e}", folder.display()));
            return;
        }
    };
    if let Some(why) = unsafe_to_trust(folder) {
        warnings.push(format!(
            "{}: no module registered there is used: {why}",
            folder.display()
        ));
        return;
    }
    let mut files: Vec<PathBuf> = entries
        .flatten()
        .map(|e| e.path())
        .filter(|p| !p.is_dir())
        .collect();
    // readdir order is the file system's; sorted, a run is the same on every machine.
    files.sort();
    for path in files {
        let Some(file_name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(conf) = read_conf(&path, warnings) else {
            continue;
        };
        let entry = configs.entry(module_name(file_name)).or_default();
        for (k, v) in conf {
            entry.entry(k).or_insert(v);
        }
    }
}

/// Why a configuration file or folder must not be trusted to name a library to load: someone
/// other than its owner can write it, or its owner is neither the effective user nor root.
fn unsafe_to_trust(path: &Path) -> Option<String> {
    use std::os::unix::fs::MetadataExt;
    let meta = std::fs::metadata(path).ok()?;
    let euid = rustix::process::geteuid().as_raw();
    if meta.uid() != 0 && meta.uid() != euid {
        return Some(format!(
            "it belongs to user {}, neither root nor this user, who could make custody load any \
             library",
            meta.uid()
        ));
    }
    if meta.mode() & 0o022 != 0 {
        return Some(format!(
            "others than its owner can write it (mode {:o}), and could make custody load any \
             library",
            meta.mode() & 0o7777
        ));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_read_as_p11_kit_reads_them() {
        let c = parse_conf(
            "# comment\n\n  module:  /usr/lib/a.so  \r\nenable-in: custody, seahorse\nmodule: b.so\n",
        )
        .unwrap();
        assert_eq!(c.get("module").map(String::as_str), Some("b.so"));
        assert_eq!(
            c.get("enable-in").map(String::as_str),
            Some("custody, seahorse")
        );
        assert_eq!(
            parse_conf("module /a.so").unwrap_err(),
            ConfError {
                line: 1,
                reason: "no colon: each line must be `name: value`"
            }
        );
        assert_eq!(parse_conf("\n[section]\n").unwrap_err().line, 2);
        assert!(parse_conf("-----BEGIN X-----\n").is_err());
        assert_eq!(
            parse_conf("a:").unwrap().get("a").map(String::as_str),
            Some("")
        );
    }

    #[test]
    fn names_and_lists() {
        assert_eq!(module_name("softhsm2.module"), "softhsm2");
        assert_eq!(module_name("opensc-pkcs11.module"), "opensc-pkcs11");
        assert_eq!(module_name("odd name.module"), "odd name.module");
        assert_eq!(module_name("legacy.conf"), "legacy.conf");
        assert!(in_list("custody, seahorse", "custody"));
        assert!(in_list("seahorse,custody", "custody"));
        assert!(!in_list("custody-x", "custody"));
    }

    /// A scratch p11-kit layout under the temp dir, owned by this user with mode 755/644.
    struct Layout(PathBuf);

    impl Layout {
        fn new(tag: &str) -> Layout {
            let d =
                std::env::temp_dir().join(format!("custody-p11kit-{tag}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&d);
            for sub in ["etc/modules", "share/modules", "user/modules", "lib"] {
                std::fs::create_dir_all(d.join(sub)).unwrap();
            }
            Layout(d)
        }
        fn dirs(&self, user: bool) -> Dirs {
            Dirs {
                system_conf: self.0.join("etc/pkcs11.conf"),
                user_conf: user.then(|| self.0.join("user/pkcs11.conf")),
                user_modules: user.then(|| self.0.join("user/modules")),
                system_modules: self.0.join("etc/modules"),
                package_modules: self.0.join("share/modules"),
                module_dir: self.0.join("lib"),
            }
        }
        fn write(&self, rel: &str, text: &str) -> PathBuf {
            let p = self.0.join(rel);
            std::fs::write(&p, text).unwrap();
            p
        }
    }

    impl Drop for Layout {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn modules_are_found_merged_and_filtered_like_p11_kit() {
        let l = Layout::new("load");
        let lib = l.write("lib/liba.so", "");
        l.write("share/modules/a.module", "module: liba.so\n");
        // Same library, another name: shown once with both names.
        l.write(
            "etc/modules/alias.module",
            &format!("module: {}\n", lib.display()),
        );
        // The administrator's file wins over the package's for the same name.
        l.write("etc/modules/b.module", "module: /nowhere/libb-etc.so\n");
        l.write(
            "share/modules/b.module",
            "module: /nowhere/libb-share.so\ncritical: yes\n",
        );
        l.write(
            "etc/modules/off.module",
            "module: /x.so\ndisable-in: custody\n",
        );
        l.write(
            "etc/modules/only.module",
            "module: /y.so\nenable-in: p11-kit\n",
        );
        l.write("etc/modules/broken.module", "module /z.so\n");
        l.write(
            "etc/modules/remote.module",
            "remote: |ssh host p11-kit remote\n",
        );
        l.write("user/modules/u.module", "module: /u.so\n");
        let r = load(&l.dirs(false), "custody");
        let got: Vec<(Vec<&str>, String)> = r
            .modules
            .iter()
            .map(|m| {
                (
                    m.names.iter().map(String::as_str).collect(),
                    m.path.display().to_string(),
                )
            })
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    vec!["a", "alias"],
                    l.0.join("lib/liba.so").display().to_string()
                ),
                (vec!["b"], "/nowhere/libb-etc.so".to_string()),
            ],
            "{:?}",
            r.warnings
        );
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("broken.module") && w.contains("line 1"))
        );
        assert!(r.warnings.iter().any(|w| w.contains("remote module")));
        assert_eq!(r.find("alias").unwrap().names, vec!["a", "alias"]);
        assert!(r.find("off").is_none() && r.find("u").is_none());

        // User configuration, where it applies and the system allows it.
        let r = load(&l.dirs(true), "custody");
        assert!(r.find("u").is_some());
        l.write("etc/pkcs11.conf", "user-config: none\n");
        assert!(load(&l.dirs(true), "custody").find("u").is_none());
        l.write("etc/pkcs11.conf", "user-config: merge\n");
        l.write("user/pkcs11.conf", "user-config: only\n");
        let r = load(&l.dirs(true), "custody");
        assert!(r.find("u").is_some() && r.find("a").is_none());
    }

    #[test]
    fn a_configuration_others_can_write_is_never_used() {
        use std::os::unix::fs::PermissionsExt;
        let l = Layout::new("unsafe");
        let f = l.write("etc/modules/evil.module", "module: /evil.so\n");
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o666)).unwrap();
        l.write("share/modules/ok.module", "module: /ok.so\n");
        let r = load(&l.dirs(false), "custody");
        assert!(r.find("evil").is_none());
        assert!(r.find("ok").is_some());
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("evil.module") && w.contains("666"))
        );
        // A folder others can write: nothing in it is used.
        std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o644)).unwrap();
        std::fs::set_permissions(
            l.0.join("etc/modules"),
            std::fs::Permissions::from_mode(0o777),
        )
        .unwrap();
        let r = load(&l.dirs(false), "custody");
        assert!(r.find("evil").is_none());
        assert!(
            r.warnings
                .iter()
                .any(|w| w.contains("no module registered there is used"))
        );
    }
}
