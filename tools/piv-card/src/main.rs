//! piv-card: a software PIV card for custody's tests.
//!
//! Runs Nitrokey's piv-authenticator on trussed's `virt` platform and connects it to the vpcd
//! reader driver of a running pcscd (vsmartcard-vpcd), so that PC/SC clients — the `yubikey`
//! crate, yubico-piv-tool, OpenSC — see a card in reader "Virtual PCD 00 00".
//!
//! Prints "piv-card ready" on stdout once pcscd has seen the card. Exits 0 on SIGTERM/SIGINT
//! (after the APDU in progress, if any), 1 when vpcd cannot be reached or drops the connection,
//! 2 on bad arguments.

mod card;
mod metadata;
mod trussed_glue;

use std::{
    fs::{self, File},
    io::{Read as _, Write as _},
    net::{TcpStream, ToSocketAddrs},
    path::PathBuf,
    process::ExitCode,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use trussed::{
    platform::Platform as _,
    store::Store as _,
    virt::{self, StorageConfig, StoreConfig},
};
use trussed_core::types::Location;

use card::{Config, VirtualPiv};
use trussed_glue::{Dispatch, SharedClient, BACKENDS};

const USAGE: &str = "\
usage: piv-card [--serial N] [--version X.Y.Z] [--state DIR] [--vpcd HOST:PORT]
                [--connect-timeout SECS] [--ready-timeout SECS] [--deterministic]
                [--report-imported]

  --serial N            serial number answered to GET SERIAL (default 12345678)
  --version X.Y.Z       firmware version answered to GET VERSION (default 5.4.3; the `yubikey`
                        crate needs major version 5, and below 5.7 for a 3DES management key)
  --state DIR           keep the card's storage in DIR (files internal.lfs, external.lfs);
                        without it the card lives in RAM and starts factory-fresh every time
  --vpcd HOST:PORT      where vpcd listens (default 127.0.0.1:35963, reader \"Virtual PCD 00 00\")
  --connect-timeout S   how long to retry connecting to vpcd (default 10)
  --ready-timeout S     how long to wait for pcscd to power the card up (default 20)
  --deterministic       keep trussed virt's fixed RNG seed: a fresh card then generates the same
                        keys, challenges and salts every run (default: seed a new card's RNG from
                        /dev/urandom, so that keys differ between runs as on real cards)
  --report-imported     key metadata (GET METADATA, firmware 5.3 and later) says every key was
                        imported rather than generated on the card

Logs go to stderr; RUST_LOG=piv_card=debug shows every APDU (including PINs: test use only),
RUST_LOG=piv_authenticator=info what the card does with them.";

struct Args {
    serial: u32,
    version: [u8; 3],
    state: Option<PathBuf>,
    vpcd: String,
    connect_timeout: Duration,
    ready_timeout: Duration,
    deterministic: bool,
    report_imported: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        serial: 12_345_678,
        version: [5, 4, 3],
        state: None,
        vpcd: "127.0.0.1:35963".to_owned(),
        connect_timeout: Duration::from_secs(10),
        ready_timeout: Duration::from_secs(20),
        deterministic: false,
        report_imported: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg.clone(), None),
        };
        if name == "-h" || name == "--help" {
            println!("{USAGE}");
            std::process::exit(0);
        }
        if name == "--deterministic" {
            args.deterministic = true;
            continue;
        }
        if name == "--report-imported" {
            args.report_imported = true;
            continue;
        }
        let mut value = || {
            inline
                .clone()
                .or_else(|| it.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "--serial" => {
                let v = value()?;
                args.serial = v
                    .parse()
                    .map_err(|_| format!("--serial: not a 32-bit unsigned number: {v:?}"))?;
            }
            "--version" => {
                let v = value()?;
                let parts: Vec<u8> = v
                    .split('.')
                    .map(|p| p.parse::<u8>())
                    .collect::<Result<_, _>>()
                    .map_err(|_| format!("--version: expected X.Y.Z, got {v:?}"))?;
                args.version = parts
                    .try_into()
                    .map_err(|_| format!("--version: expected X.Y.Z, got {v:?}"))?;
            }
            "--state" => args.state = Some(PathBuf::from(value()?)),
            "--vpcd" => args.vpcd = value()?,
            "--connect-timeout" => args.connect_timeout = secs(&name, &value()?)?,
            "--ready-timeout" => args.ready_timeout = secs(&name, &value()?)?,
            _ => return Err(format!("unknown argument {arg:?}")),
        }
    }
    Ok(args)
}

fn secs(name: &str, v: &str) -> Result<Duration, String> {
    v.parse::<f64>()
        .ok()
        .filter(|s| s.is_finite() && *s >= 0.0)
        .map(Duration::from_secs_f64)
        .ok_or_else(|| format!("{name}: not a number of seconds: {v:?}"))
}

fn main() -> ExitCode {
    // piv-authenticator logs every GET DATA at error level ("Getting ..."): off unless asked for.
    env_logger::Builder::from_env(
        env_logger::Env::default().default_filter_or("warn,piv_authenticator=off"),
    )
    .format_timestamp_millis()
    .init();
    let args = match parse_args() {
        Ok(args) => args,
        Err(msg) => {
            eprintln!("piv-card: {msg}\n\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    if args.version[0] != 5 || args.version[1] >= 7 {
        log::warn!(
            "version {}.{}.{}: the yubikey crate refuses major versions other than 5, and from 5.7 \
             on expects an AES management key, which this card does not have by default",
            args.version[0],
            args.version[1],
            args.version[2]
        );
    }

    // Stop on SIGTERM/SIGINT/SIGHUP, but never in the middle of an APDU: the card holds
    // `card::BUSY` while it works, and may be writing its storage files.
    match signal_hook::iterator::Signals::new([SIGTERM, SIGINT, SIGHUP]) {
        Ok(mut signals) => {
            thread::spawn(move || {
                if let Some(signal) = signals.forever().next() {
                    let _busy = card::BUSY.lock().unwrap_or_else(|e| e.into_inner());
                    eprintln!("piv-card: stopping (signal {signal})");
                    let _ = std::io::stdout().flush();
                    std::process::exit(0);
                }
            });
        }
        Err(e) => {
            eprintln!("piv-card: cannot install signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    }

    let (store, _lock) = match store_config(args.state.as_ref()) {
        Ok(store) => store,
        Err(msg) => {
            eprintln!("piv-card: {msg}");
            return ExitCode::FAILURE;
        }
    };

    let metadata = match metadata::Metadata::load(args.state.as_deref(), args.report_imported) {
        Ok(m) => m,
        Err(msg) => {
            eprintln!("piv-card: {msg}");
            return ExitCode::FAILURE;
        }
    };

    let stream = match connect(&args.vpcd, args.connect_timeout) {
        Ok(stream) => stream,
        Err(msg) => {
            eprintln!("piv-card: {msg}");
            return ExitCode::FAILURE;
        }
    };

    virt::with_platform(store, |platform| {
        if !args.deterministic {
            if let Err(msg) = seed_rng(&platform) {
                eprintln!("piv-card: {msg}");
                return ExitCode::FAILURE;
            }
        }
        platform.run_client_with_backends("piv", Dispatch::new(), BACKENDS, |client| {
            serve(SharedClient::new(client), stream, &args, metadata)
        })
    })
}

/// RAM (fresh every start) or files in DIR. `volatile` is always RAM, as on a real card.
/// Returns a lock on DIR so that two cards cannot share one state directory.
fn store_config(state: Option<&PathBuf>) -> Result<(StoreConfig<'static>, Option<File>), String> {
    let Some(dir) = state else {
        log::info!("state: RAM (factory-fresh card)");
        return Ok((StoreConfig::ram(), None));
    };
    fs::create_dir_all(dir)
        .map_err(|e| format!("cannot create state dir {}: {e}", dir.display()))?;
    let lock_path = dir.join("lock");
    let lock = File::create(&lock_path)
        .map_err(|e| format!("cannot create {}: {e}", lock_path.display()))?;
    lock.try_lock().map_err(|e| {
        format!(
            "state dir {} is in use by another piv-card ({e})",
            dir.display()
        )
    })?;
    for name in ["internal.lfs", "external.lfs"] {
        let path = dir.join(name);
        if let Ok(meta) = fs::metadata(&path) {
            if meta.len() != STORAGE_FILE_LEN {
                return Err(format!(
                    "{} has {} bytes, expected {STORAGE_FILE_LEN}: not a piv-card state file",
                    path.display(),
                    meta.len()
                ));
            }
        }
    }
    log::info!("state: {}", dir.display());
    let store = StoreConfig {
        internal: StorageConfig::filesystem(dir.join("internal.lfs")),
        external: StorageConfig::filesystem(dir.join("external.lfs")),
        volatile: StorageConfig::ram(),
    };
    Ok((store, Some(lock)))
}

/// trussed virt seeds its platform RNG with a constant, and trussed mixes that with the seed file
/// `trussed/dat/rng-state.bin` (meant for "externally injected entropy on first run"). Put 32
/// random bytes there when the card has none yet (always in RAM mode, the first time with --state).
fn seed_rng(platform: &virt::Platform<'_>) -> Result<(), String> {
    let store = platform.store();
    let path = littlefs2_core::path!("trussed/dat/rng-state.bin");
    if store.fs(Location::Internal).exists(path) {
        return Ok(());
    }
    let mut seed = [0u8; 32];
    File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut seed))
        .map_err(|e| format!("cannot read /dev/urandom: {e}"))?;
    trussed::store::store(&store, Location::Internal, path, &seed)
        .map_err(|e| format!("cannot write the RNG seed into the card's storage: {e:?}"))?;
    log::info!("RNG seeded from /dev/urandom");
    Ok(())
}

/// trussed 0.2.1 virt: 128 blocks of 512 bytes per storage.
const STORAGE_FILE_LEN: u64 = 512 * 128;

fn connect(addr: &str, timeout: Duration) -> Result<TcpStream, String> {
    let deadline = Instant::now() + timeout;
    let mut last_error;
    loop {
        let attempt = addr
            .to_socket_addrs()
            .map_err(|e| format!("bad --vpcd address {addr:?}: {e}"))?
            .next()
            .ok_or_else(|| format!("bad --vpcd address {addr:?}"))
            .and_then(|sa| {
                TcpStream::connect_timeout(&sa, Duration::from_secs(2)).map_err(|e| e.to_string())
            });
        match attempt {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last_error = e,
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "cannot connect to vpcd at {addr}: {last_error}\n  \
                 is pcscd running with the vsmartcard-vpcd driver (/etc/reader.conf.d/vpcd)? \
                 Start it with: pcscd --foreground &"
            ));
        }
        thread::sleep(Duration::from_millis(200));
    }
}

fn serve(
    client: SharedClient<'_>,
    stream: TcpStream,
    args: &Args,
    metadata: metadata::Metadata,
) -> ExitCode {
    let mut card = VirtualPiv::new(
        client,
        Config {
            serial: args.serial,
            version: args.version,
            metadata,
        },
    );
    let mut connection = vpicc::Connection::from(stream);

    let ready = Arc::new(AtomicBool::new(false));
    {
        let ready = Arc::clone(&ready);
        let timeout = args.ready_timeout;
        thread::spawn(move || {
            thread::sleep(timeout);
            if !ready.load(Ordering::SeqCst) {
                eprintln!(
                    "piv-card: connected to vpcd, but pcscd did not power the card up within {:?}",
                    timeout
                );
                std::process::exit(1);
            }
        });
    }

    loop {
        if let Err(e) = connection.poll(&mut card) {
            eprintln!("piv-card: connection to vpcd lost ({e}); was pcscd stopped?");
            return ExitCode::FAILURE;
        }
        if !ready.load(Ordering::SeqCst) && card.seen_by_pcscd() {
            ready.store(true, Ordering::SeqCst);
            // pcscd marks the card inserted right after it gets this ATR; give it a moment.
            thread::sleep(Duration::from_millis(100));
            println!("piv-card ready");
            let _ = std::io::stdout().flush();
            log::info!(
                "serial {}, version {}.{}.{}",
                args.serial,
                args.version[0],
                args.version[1],
                args.version[2]
            );
        }
    }
}
