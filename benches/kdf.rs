//! Time and memory of the password step (Argon2id), which dominates every backup and restore,
//! and of the rest of the file cryptography around it (no token).
//!
//! Run with `cargo bench --bench kdf` (release build). Each line gives the parameters, the median
//! of the runs and the peak resident memory of the process so far.

use std::time::{Duration, Instant};

use custody::internals::crypto;
use custody::internals::format::KdfParams;
use custody::internals::secret::{FileSecret, Password, PasswordKey, TokenSecret};

fn peak_rss_mib() -> f64 {
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut ru) };
    ru.ru_maxrss as f64 / 1024.0
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn bench_kdf(name: &str, kdf: KdfParams, runs: usize) {
    let pw = Password::new("correct horse battery staple").expect("password");
    let salt = [7u8; 32];
    let times: Vec<Duration> = (0..runs)
        .map(|_| {
            let t = Instant::now();
            let a = crypto::argon2id(&pw, &salt, &kdf).expect("argon2id");
            std::hint::black_box(&a);
            t.elapsed()
        })
        .collect();
    println!(
        "argon2id {name:<22} m={:>5} MiB t={} p={}: median {:>8.1} ms over {runs} runs, peak RSS {:.0} MiB",
        kdf.memory_kib / 1024,
        kdf.iterations,
        kdf.parallelism,
        median(times).as_secs_f64() * 1000.0,
        peak_rss_mib()
    );
}

fn main() {
    // Smallest first, so the peak RSS column shows what each size adds.
    bench_kdf(
        "weak (tests)",
        KdfParams {
            memory_kib: 8 * 1024,
            iterations: 1,
            parallelism: 1,
        },
        20,
    );
    bench_kdf(
        "minimum strong",
        KdfParams {
            memory_kib: 64 * 1024,
            iterations: 3,
            parallelism: 4,
        },
        5,
    );
    bench_kdf("default", KdfParams::DEFAULT, 3);

    // Everything around the KDF for one slot: HKDF, commitment, two AEADs, MAC, fingerprint.
    let d = crypto::random_data_key();
    let s = FileSecret::from_bytes(d.expose());
    let z = TokenSecret::from_bytes(&[1; 32]);
    let a = PasswordKey::from_bytes(&[2; 32]);
    let secret = [9u8; 4096];
    let runs = 2000;
    let t = Instant::now();
    for _ in 0..runs {
        let aad = crypto::slot_aad(&[1; 32], &[2; 200], &[3; 400]);
        let (kek, c) = crypto::slot_keys(&z, &a, &[4; 32], &aad);
        let w = crypto::wrap_file_secret(&kek, &[5; 12], &aad, &s).expect("wrap");
        let pk = crypto::payload_key(&d, &[6; 16]);
        let p = crypto::aead_seal(&pk, &[7; 12], &[8; 32], &secret).expect("seal");
        let mk = crypto::file_mac_key(&s, &[6; 16], 1);
        let m = crypto::file_mac(&mk, &p);
        std::hint::black_box((c, w, m, crypto::fingerprint(&secret)));
    }
    println!(
        "file crypto for a 4096-byte secret, one slot: {:.1} µs per file",
        t.elapsed().as_secs_f64() * 1e6 / runs as f64
    );
}
