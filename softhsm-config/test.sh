#!/usr/bin/env bash
# The whole test suite: everything against real SoftHSM2 tokens (each test makes its own token
# directory) and, in tests/pkcs11_kryoptic.rs, against kryoptic tokens (a second PKCS#11
# implementation, built once per machine by tools/kryoptic/build.sh); then the YubiKey (PIV)
# tests against a software PIV card that tools/piv-card/run-with-card.sh starts (with its own
# pcscd) and stops. Tests fail, never skip, when SoftHSM2, kryoptic, the card or a tool they need
# is missing. The tests that make a write fail need the fault-injection feature; a custody built
# without it refuses CUSTODY_FAULT_INJECT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
"$here/install-deps.sh"
command -v cargo >/dev/null || { echo "error: cargo is missing: install Rust (rustup) first" >&2; exit 1; }
cd "$root"
log=$(mktemp "${TMPDIR:-/tmp}/custody-tests.XXXXXX")
trap 'rm -f "$log"' EXIT
status=0
# kryoptic's module, unless the caller names one: a failed build fails the suite, and the kryoptic
# tests fail (never skip) without the module.
if [ -z "${CUSTODY_KRYOPTIC_MODULE:-}" ]; then
  if CUSTODY_KRYOPTIC_MODULE=$(tools/kryoptic/build.sh); then
    export CUSTODY_KRYOPTIC_MODULE
  else
    echo "error: tools/kryoptic/build.sh failed: the kryoptic tests will fail" >&2
    unset CUSTODY_KRYOPTIC_MODULE
    status=1
  fi
fi
cargo test --locked --features fault-injection,internals --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
# The documentation's examples, as an embedder sees the crate (no features), including the ones
# that must not compile.
cargo test --locked --doc 2>&1 | tee -a "$log" || status=$?
# One card: the PIV tests run one at a time.
tools/piv-card/run-with-card.sh cargo test --locked --features piv-tests,fault-injection,internals --test piv -- --test-threads=1 2>&1 \
  | tee -a "$log" || status=$?
# The card harness's own unit tests (the key metadata it answers with).
cargo test --locked --release --manifest-path tools/piv-card/Cargo.toml --bins 2>&1 | tee -a "$log" || status=$?
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "custody tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
