//! The command line, as clap sees it. Interfaces named in the issues are a contract: extend, don't rename.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Parser, Debug)]
#[command(
    name = "custody",
    version,
    about = "Keep a master secret recoverable without leaving it exposed: two-factor (hardware token + password) backups",
    after_help = "Exit codes: 0 ok, 1 other error, 2 usage, 3 authentication failed, 4 token or key not found, \
                  5 file damaged or invalid, 6 PIN blocked, 7 output exists, 8 not enough shares.\n\
                  Environment: CUSTODY_PASSWORD, CUSTODY_NEW_PASSWORD, CUSTODY_PIN, CUSTODY_PKCS11_MODULE.\n\
                  \n\
                  Examples:\n  \
                  custody token list\n  \
                  custody backup --secret master.key --token 'pkcs11:token=HSM%20A;object=custody' --out /media/usb/master.custody\n  \
                  custody restore /media/usb/master.custody --out master.key\n  \
                  custody backup --help                 # every command has its own help, with examples"
)]
pub struct Cli {
    /// Write one JSON document on standard output instead of the report: an object whose first
    /// member is `schema` ("custody/<command>/1"; docs/JSON.md). Prompts, progress and warnings
    /// stay on standard error; no secret, password, PIN or share is ever in it.
    #[arg(long, global = true)]
    pub json: bool,
    /// Print only errors, warnings, the questions custody must ask and what was asked for:
    /// no information lines, no progress.
    #[arg(long, short, global = true)]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand, Debug)]
pub enum Command {
    /// Generate a new random master secret.
    #[command(after_help = "Examples:\n  \
        custody generate --out /media/admin/master.key        # 32 random bytes, mode 0600, never overwritten\n  \
        custody generate --out /media/admin/master.key --record ceremony.record\n  \
        custody generate --bytes 64 --out - --format hex")]
    Generate(GenerateArgs),
    /// Back up a master secret under a token key and a password.
    #[command(after_help = "Examples:\n  \
        custody backup --secret master.key --token 'pkcs11:token=HSM%20A;object=custody' --out /media/usb/master.custody\n  \
        custody backup --secret /media/admin/master.key \\\n      \
            --token 'pkcs11:token=Vault%20HSM;object=custody-aes' --token 'pkcs11:token=Spare;object=custody-p256' \\\n      \
            --out /media/usb1/master.custody --label \"Vault root key\" --hint \"the blue notebook\"\n  \
        custody backup --secret master.key --threshold 2 \\\n      \
            --out /media/alice/vault.share --out /media/bob/vault.share --out /media/carol/vault.share \\\n      \
            --officer Alice --officer Bob --officer Carol \\\n      \
            --token 'pkcs11:token=Vault%20HSM;object=custody-aes' --token 'pkcs11:token=Spare;object=custody-p256'\n  \
        custody backup --secret master.key --token 'yubikey:serial=12345678;slot=82' --token pubkey:spare.pub \\\n      \
            --out vault.custody --record ceremony.record")]
    Backup(BackupArgs),
    /// Restore the master secret from a backup.
    #[command(after_help = "Examples:\n  \
        custody restore /media/usb1/master.custody --out master.key\n  \
        custody restore /media/usb1/master.custody --out - --format hex\n  \
        custody restore /media/alice/vault.share /media/carol/vault.share --out master.key   # any K shares\n  \
        custody restore /media/usb1/master.custody --out master.key \\\n      \
            --token 'pkcs11:token=Spare;object=custody-p256' --expect-fingerprint 1A2B-3C4D-5E6F-7081-92A3-B4C5-D6E7-F809")]
    Restore(RestoreArgs),
    /// Unlock and check a backup without outputting the secret.
    #[command(after_help = "Examples:\n  \
        custody verify /media/usb1/master.custody\n  \
        custody verify /media/usb1/master.custody --secret master.key   # and it holds exactly this secret\n  \
        custody verify /media/usb1/master.custody --all-slots           # open every slot, not just one\n  \
        custody verify /media/bob/vault.share                           # one officer checks their own share")]
    Verify(VerifyArgs),
    /// Show everything in a backup that is not secret (no token or password needed).
    #[command(after_help = "Examples:\n  \
        custody inspect /media/usb1/master.custody\n  \
        custody inspect --json /media/alice/vault.share /media/bob/vault.share")]
    Inspect(InspectArgs),
    /// Change one file's password and/or tokens, keeping its secret (a share keeps its share).
    #[command(after_help = "Examples:\n  \
        custody rewrap vault.custody --out vault-new.custody --new-password          # a new password\n  \
        custody rewrap vault.custody --out vault-new.custody --new-token 'pkcs11:token=New%20HSM;object=k'\n  \
        custody rewrap vault.custody --out vault-new.custody --drop-token 'pkcs11:token=Lost%20HSM'\n  \
        custody rewrap vault.custody --out vault-new.custody --kdf-memory 2048     # stronger Argon2id")]
    Rewrap(RewrapArgs),
    /// Make a new set of the same secret from K shares of an old one (new set id, K, officers).
    #[command(after_help = "Examples:\n  \
        custody reshare alice.share carol.share --threshold 3 \\\n      \
            --out /media/a/new.share --out /media/b/new.share --out /media/c/new.share --out /media/d/new.share \\\n      \
            --officer Alice --officer Bob --officer Dave --officer Erin \\\n      \
            --token 'pkcs11:token=Vault%20HSM;object=custody-aes' --token 'pkcs11:token=Spare;object=custody-p256'")]
    Reshare(ReshareArgs),
    /// Manage token keys.
    #[command(
        subcommand,
        after_help = "Examples:\n  \
            custody token list\n  \
            custody token keygen --token 'pkcs11:token=Vault%20HSM;object=custody-aes' --type aes\n  \
            custody token pubkey --token 'yubikey:serial=12345678;slot=82' --out alice-yk.pub"
    )]
    Token(TokenCommand),
    /// Check or show a ceremony record (the file --record appends to).
    #[command(
        subcommand,
        after_help = "Examples:\n  \
            custody record verify ceremony.record --head 1A2B-3C4D-5E6F-7081\n  \
            custody record show ceremony.record"
    )]
    Record(RecordCommand),
    /// Print the completion script for a shell on standard output.
    #[command(after_help = "Examples:\n  \
        custody completions bash > ~/.local/share/bash-completion/completions/custody\n  \
        custody completions zsh > ~/.zfunc/_custody       # with fpath+=(~/.zfunc) before compinit in ~/.zshrc\n  \
        custody completions fish > ~/.config/fish/completions/custody.fish")]
    Completions(CompletionsArgs),
    /// Write the man pages, one per command and subcommand (custody.1, custody-backup.1, ...).
    #[command(
        hide = true,
        after_help = "Examples:\n  \
            custody man --out-dir ~/.cargo/share/man/man1    # beside a `cargo install`ed custody: man custody-backup\n  \
            custody man --out-dir /usr/local/share/man/man1  # for every user of the machine (as root)\n  \
            custody man --out-dir target/assets/man          # as tools/deb/build.sh does for the Debian package"
    )]
    Man(ManArgs),
}

#[derive(Args, Debug)]
pub struct CompletionsArgs {
    /// The shell to write a completion script for.
    #[arg(value_enum, value_name = "SHELL")]
    pub shell: clap_complete::Shell,
}

#[derive(Args, Debug)]
pub struct ManArgs {
    /// The folder to write the pages into (made if missing; pages of the same names are
    /// replaced, nothing else is touched).
    #[arg(long, value_name = "DIR")]
    pub out_dir: PathBuf,
}

/// `--record FILE` and `--allow-record-on-medium`, on every operation that records.
#[derive(Args, Debug, Default)]
pub struct RecordArgs {
    /// Append a line about this operation to the ceremony record FILE (docs/RECORD.md).
    #[arg(long, value_name = "FILE")]
    pub record: Option<PathBuf>,
    /// Accept a --record FILE on the filesystem of a backup or share file (rehearsals only).
    #[arg(long, requires = "record")]
    pub allow_record_on_medium: bool,
}

/// `--expect-fingerprint HEX`, on every operation that opens a backup or share files.
#[derive(Args, Debug, Default)]
pub struct ExpectArgs {
    /// Refuse the file unless its fingerprint is this one, as the ceremony record has it (32
    /// hex digits, or 16 for one recorded before; case, spaces and dashes ignored). Checked
    /// before any token, PIN or password.
    #[arg(long, value_name = "HEX")]
    pub expect_fingerprint: Option<String>,
}

#[derive(Subcommand, Debug)]
pub enum RecordCommand {
    /// Check every line and the chain of a ceremony record (exit 5 names the first broken line).
    #[command(after_help = "Examples:\n  \
        custody record verify ceremony.record\n  \
        custody record verify ceremony.record --head 1A2B-3C4D-5E6F-7081    # the last head in the paper log")]
    Verify {
        #[arg(value_name = "FILE")]
        file: PathBuf,
        /// Also check that a line with this head is present (16 or more hex digits; case and
        /// dashes ignored), as copied into the paper log.
        #[arg(long, value_name = "HEX")]
        head: Option<String>,
    },
    /// Show a ceremony record as a table.
    #[command(after_help = "Examples:\n  \
        custody record show ceremony.record\n  \
        custody record show /media/admin/ceremony.record | less -S")]
    Show {
        #[arg(value_name = "FILE")]
        file: PathBuf,
    },
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum OutFormat {
    Raw,
    Hex,
    Base64,
}

#[derive(Args, Debug)]
pub struct GenerateArgs {
    /// Number of random bytes (16 to 4096).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u16).range(16..=4096))]
    pub bytes: u16,
    /// Output file (created new, mode 0600, raw bytes), or - for standard output.
    #[arg(long, value_name = "FILE|-")]
    pub out: PathBuf,
    /// Encoding on standard output (raw bytes are refused on a terminal).
    #[arg(long, value_enum)]
    pub format: Option<OutFormat>,
    #[command(flatten)]
    pub record: RecordArgs,
}

#[derive(Args, Debug)]
pub struct BackupArgs {
    /// The secret: a file of 16 to 4096 raw bytes, or - for standard input.
    #[arg(long, value_name = "FILE|-")]
    pub secret: PathBuf,
    /// A token key: pkcs11:token=...;object=...?module-path=..., yubikey:serial=...;slot=..., or
    /// pubkey:FILE. Repeat for spares. Needed unless every share has a --share-token.
    #[arg(long = "token", value_name = "URI")]
    pub tokens: Vec<String>,
    /// The backup file to write (never overwritten unless --force).
    #[arg(long, value_name = "FILE", required = true)]
    pub out: Vec<PathBuf>,
    /// Password hint, stored in clear and shown at restore (one per share, or one for all).
    #[arg(long)]
    pub hint: Vec<String>,
    /// A label for the backup, stored in clear.
    #[arg(long, default_value = "")]
    pub label: String,
    /// Argon2id memory in MiB (default 1024).
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub kdf_memory: u32,
    /// Argon2id iterations (default 3).
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub kdf_iterations: u32,
    /// Argon2id lanes (default 4).
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub kdf_parallelism: u32,
    /// Accept Argon2id parameters below m=64 MiB, t=3 (down to 8 MiB, t=1, p=1); marks the file weak.
    #[arg(long)]
    pub allow_weak_kdf: bool,
    /// Read the password from the first line of this file (one per share, or one for all).
    #[arg(long, value_name = "FILE")]
    pub password_file: Vec<PathBuf>,
    /// Accept that the backup depends on a single token.
    #[arg(long)]
    pub single_token: bool,
    /// Replace an existing output file (atomically).
    #[arg(long)]
    pub force: bool,
    /// Split into shares: any K of the N --out files restore the secret (2 ≤ K ≤ N ≤ 255).
    #[arg(long, value_name = "K")]
    pub threshold: Option<u8>,
    /// The officer holding each share, stored in clear (one per share, in --out order).
    #[arg(long, value_name = "NAME")]
    pub officer: Vec<String>,
    /// Lock share I with this token instead of the --token ones (repeatable, e.g. 2=yubikey:...).
    #[arg(long, value_name = "I=URI")]
    pub share_token: Vec<String>,
    /// Allow two shares on the same filesystem (a rehearsal; never for real custody).
    #[arg(long)]
    pub allow_same_device: bool,
    /// Accept a key that is not bound to its token (imported, or one the token could let out);
    /// it is warned about at every use. Without it such a key is refused.
    #[arg(long)]
    pub allow_exportable_key: bool,
    #[command(flatten)]
    pub record: RecordArgs,
}

#[derive(Args, Debug)]
pub struct RestoreArgs {
    /// The backup file, or K or more share files of a split set (any order).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Where to write the secret (created new, mode 0600), or - for standard output.
    #[arg(long, value_name = "FILE|-")]
    pub out: PathBuf,
    /// Encoding on standard output.
    #[arg(long, value_enum)]
    pub format: Option<OutFormat>,
    /// Use this token instead of finding one from the file.
    #[arg(long = "token", value_name = "URI")]
    pub tokens: Vec<String>,
    /// Read the password from the first line of this file (one per FILE in order, or one for all).
    #[arg(long, value_name = "FILE")]
    pub password_file: Vec<PathBuf>,
    #[command(flatten)]
    pub record: RecordArgs,
    #[command(flatten)]
    pub expect: ExpectArgs,
    /// Go on without files of another set among FILE (named), without asking.
    #[arg(long)]
    pub ignore_foreign: bool,
    /// Argon2id cost a file may ask for without a confirmation.
    #[command(flatten)]
    pub kdf_limits: KdfLimitArgs,
}

#[derive(Args, Debug)]
pub struct VerifyArgs {
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Also confirm the backup holds exactly this secret.
    #[arg(long, value_name = "FILE")]
    pub secret: Option<PathBuf>,
    #[arg(long = "token", value_name = "URI")]
    pub tokens: Vec<String>,
    /// One per FILE in order, or one for all.
    #[arg(long, value_name = "FILE")]
    pub password_file: Vec<PathBuf>,
    #[command(flatten)]
    pub record: RecordArgs,
    #[command(flatten)]
    pub expect: ExpectArgs,
    /// Go on without files of another set among FILE (named), without asking.
    #[arg(long)]
    pub ignore_foreign: bool,
    /// Argon2id cost a file may ask for without a confirmation.
    #[command(flatten)]
    pub kdf_limits: KdfLimitArgs,
    /// Open every slot of one file, not just the first that opens (one line per slot).
    #[arg(long)]
    pub all_slots: bool,
}

#[derive(Args, Debug)]
pub struct InspectArgs {
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
}

#[derive(Args, Debug)]
pub struct RewrapArgs {
    /// The backup or share file to change.
    #[arg(value_name = "FILE")]
    pub file: PathBuf,
    /// The new file (never overwritten unless --force; may be FILE itself with --force).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// The current password, from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub password_file: Option<PathBuf>,
    /// Change the password: the new one from the first line of this file.
    #[arg(long, value_name = "FILE")]
    pub new_password_file: Option<PathBuf>,
    /// Change the password: ask for the new one (twice).
    #[arg(long)]
    pub new_password: bool,
    /// A new password hint.
    #[arg(long)]
    pub hint: Option<String>,
    /// Add a token that opens the file (with the password).
    #[arg(long, value_name = "URI")]
    pub new_token: Vec<String>,
    /// Accept a key that is not bound to its token (imported, or one the token could let out);
    /// it is warned about at every use. Without it such a key is refused.
    #[arg(long)]
    pub allow_exportable_key: bool,
    /// Remove the slot(s) of this token or key (pkcs11:token=...;object=..., pubkey:FILE).
    #[arg(long, value_name = "URI")]
    pub drop_token: Vec<String>,
    /// Open the file with this token instead of finding one from the file.
    #[arg(long = "token", value_name = "URI")]
    pub tokens: Vec<String>,
    /// New Argon2id memory in MiB (keeps the file's parameters unless one of these is given).
    #[arg(long, value_name = "MIB")]
    pub kdf_memory: Option<u32>,
    #[arg(long, value_name = "N")]
    pub kdf_iterations: Option<u32>,
    #[arg(long, value_name = "N")]
    pub kdf_parallelism: Option<u32>,
    #[arg(long)]
    pub allow_weak_kdf: bool,
    /// Replace an existing --out (atomically).
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub record: RecordArgs,
    #[command(flatten)]
    pub expect: ExpectArgs,
    /// Argon2id cost a file may ask for without a confirmation.
    #[command(flatten)]
    pub kdf_limits: KdfLimitArgs,
}

#[derive(Args, Debug)]
pub struct ReshareArgs {
    /// K share files of the old set (or a single backup).
    #[arg(value_name = "FILE", required = true)]
    pub files: Vec<PathBuf>,
    /// Old shares' passwords: one per FILE in order, or one for all.
    #[arg(long, value_name = "FILE")]
    pub password_file: Vec<PathBuf>,
    /// Open the old files with this token instead of finding one from each file.
    #[arg(long = "open-token", value_name = "URI")]
    pub open_tokens: Vec<String>,
    /// Shares of the new set needed to restore.
    #[arg(long, value_name = "K")]
    pub threshold: u8,
    /// The new set's files, one per share.
    #[arg(long, value_name = "FILE", required = true)]
    pub out: Vec<PathBuf>,
    #[arg(long, value_name = "NAME")]
    pub officer: Vec<String>,
    #[arg(long)]
    pub hint: Vec<String>,
    /// New shares' passwords: one per --out in order, or one for all.
    #[arg(long, value_name = "FILE")]
    pub new_password_file: Vec<PathBuf>,
    /// Tokens locking every new share.
    #[arg(long = "token", value_name = "URI")]
    pub tokens: Vec<String>,
    #[arg(long, value_name = "I=URI")]
    pub share_token: Vec<String>,
    /// The new set's label (default: the old one).
    #[arg(long)]
    pub label: Option<String>,
    #[arg(long, value_name = "MIB", default_value_t = 1024)]
    pub kdf_memory: u32,
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub kdf_iterations: u32,
    #[arg(long, value_name = "N", default_value_t = 4)]
    pub kdf_parallelism: u32,
    #[arg(long)]
    pub allow_weak_kdf: bool,
    #[arg(long)]
    pub single_token: bool,
    #[arg(long)]
    pub allow_same_device: bool,
    /// Accept a new key that is not bound to its token (see `backup --help`).
    #[arg(long)]
    pub allow_exportable_key: bool,
    #[arg(long)]
    pub force: bool,
    #[command(flatten)]
    pub record: RecordArgs,
    #[command(flatten)]
    pub expect: ExpectArgs,
    /// Go on without files of another set among FILE (named), without asking.
    #[arg(long)]
    pub ignore_foreign: bool,
    /// Argon2id cost a file may ask for without a confirmation.
    #[command(flatten)]
    pub kdf_limits: KdfLimitArgs,
}

/// How much Argon2id an existing file may ask for before custody asks (or, with nobody to ask,
/// refuses): at most custody's defaults, unless these accept more.
#[derive(Args, Debug, Clone, Copy)]
pub struct KdfLimitArgs {
    /// Accept files asking for up to this much Argon2id memory without a confirmation
    /// (default: custody's 1024 MiB).
    #[arg(long, value_name = "MIB")]
    pub max_kdf_memory: Option<u32>,
    /// Accept files asking for up to this many Argon2id passes without a confirmation
    /// (default: custody's 3).
    #[arg(long, value_name = "N")]
    pub max_kdf_iterations: Option<u32>,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum KeyType {
    Aes,
    P256,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum PinPolicyArg {
    Once,
    Always,
    Never,
}

#[derive(Clone, Copy, Debug, ValueEnum, PartialEq, Eq)]
pub enum TouchPolicyArg {
    Always,
    Cached,
    Never,
}

#[derive(Subcommand, Debug)]
pub enum TokenCommand {
    /// Generate a key on a token (sensitive, non-extractable).
    #[command(after_help = "Examples:\n  \
        custody token keygen --token 'pkcs11:token=Vault%20HSM;object=custody-aes' --type aes\n  \
        custody token keygen --token 'pkcs11:token=Spare;object=custody-p256' --type p256   # prints the key hash\n  \
        custody token keygen --token 'yubikey:serial=12345678;slot=82' --type p256 --touch-policy cached \\\n      \
            --record ceremony.record")]
    Keygen {
        /// pkcs11:token=<label>;object=<key label>[;id=%xx]?module-path=..., or
        /// yubikey:serial=<n>[;slot=<hex>] (a retired slot, 82..95; default 82).
        #[arg(long, value_name = "URI")]
        token: String,
        #[arg(long = "type", value_enum)]
        key_type: KeyType,
        /// YubiKey: when the PIN is needed for the key (default once).
        #[arg(long, value_enum)]
        pin_policy: Option<PinPolicyArg>,
        /// YubiKey: when a touch is needed (default always).
        #[arg(long, value_enum)]
        touch_policy: Option<TouchPolicyArg>,
        /// YubiKey: the management key, in hex (3DES or AES), if not the default.
        #[arg(long, value_name = "FILE")]
        mgm_key_file: Option<PathBuf>,
        /// YubiKey: the management key is stored on the card, protected by the PIN.
        #[arg(long)]
        mgm_key_protected: bool,
        /// YubiKey: replace a key already in the slot (it is lost, with every backup made with it).
        #[arg(long)]
        force: bool,
        #[command(flatten)]
        record: RecordArgs,
    },
    /// List tokens and the custody keys on them.
    #[command(after_help = "Examples:\n  \
        custody token list                                   # tokens, with --token URIs ready to paste\n  \
        custody token list --module /usr/lib/x86_64-linux-gnu/opensc-pkcs11.so\n  \
        custody token list --json")]
    List {
        /// PKCS#11 module (default: CUSTODY_PKCS11_MODULE and every module registered with
        /// p11-kit; SoftHSM2's when there is neither).
        #[arg(long, value_name = "PATH")]
        module: Option<PathBuf>,
        /// List tokens without logging in to them: their keys are not shown (AES and private
        /// keys are visible only after a login).
        #[arg(long)]
        no_login: bool,
    },
    /// Write a P-256 token key's public key, for backups made without the token present.
    #[command(after_help = "Examples:\n  \
        custody token pubkey --token 'pkcs11:token=Spare;object=custody-p256' --out spare.pub   # then --token pubkey:spare.pub\n  \
        custody token pubkey --token 'yubikey:serial=12345678;slot=82' --out alice-yk.pub")]
    Pubkey {
        #[arg(long, value_name = "URI")]
        token: String,
        #[arg(long, value_name = "FILE")]
        out: PathBuf,
    },
}
