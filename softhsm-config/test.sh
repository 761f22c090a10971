#!/usr/bin/env bash
# The whole test suite: everything against real SoftHSM2 tokens (each test makes its own token
# directory), then the YubiKey (PIV) tests against a software PIV card that
# tools/piv-card/run-with-card.sh starts (with its own pcscd) and stops. Tests fail, never skip,
# when SoftHSM2, the card or a tool they need is missing. The tests that make a write fail need
# the fault-injection feature; a custody built without it refuses CUSTODY_FAULT_INJECT.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
"$here/install-deps.sh"
command -v cargo >/dev/null || { echo "error: cargo is missing: install Rust (rustup) first" >&2; exit 1; }
cd "$root"
log=$(mktemp "${TMPDIR:-/tmp}/custody-tests.XXXXXX")
trap 'rm -f "$log"' EXIT
status=0
cargo test --locked --features fault-injection,internals --lib --bins --tests "$@" 2>&1 | tee "$log" || status=$?
# The documentation's examples, as an embedder sees the crate (no features), including the ones
# that must not compile.
cargo test --locked --doc 2>&1 | tee -a "$log" || status=$?
# One card: the PIV tests run one at a time.
tools/piv-card/run-with-card.sh cargo test --locked --features piv-tests,fault-injection,internals --test piv -- --test-threads=1 2>&1 \
  | tee -a "$log" || status=$?
# One closing line for the whole suite, summed over every test binary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i+1) ~ /^passed/) p += $i; if ($(i+1) ~ /^failed/) f += $i } }
     END { printf "custody tests: %d passed, %d failed\n", p, f }' "$log"
exit "$status"
