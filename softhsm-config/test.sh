#!/usr/bin/env bash
# The whole test suite, against real SoftHSM2 tokens (each test makes its own token directory).
# Tests fail, never skip, when SoftHSM2 or a tool they need is missing.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")
"$here/install-deps.sh"
command -v cargo >/dev/null || { echo "error: cargo is missing: install Rust (rustup) first" >&2; exit 1; }
cd "$root"
cargo test --locked "$@"
