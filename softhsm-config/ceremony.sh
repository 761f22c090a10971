#!/usr/bin/env bash
# The main job: a complete custody ceremony against fresh local SoftHSM2 tokens, no hand steps.
# Token key generation (an AES-256 key and a spare P-256 key on a second token), secret
# generation, a two-token backup, inspect, verify, restore, and a byte-for-byte comparison.
# Needs root or sudo only to install missing packages. Safe to re-run: everything lives in a
# fresh temporary directory that is removed at the end.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(dirname "$here")

"$here/install-deps.sh"
command -v cargo >/dev/null || { echo "error: cargo is missing: install Rust (rustup) first" >&2; exit 1; }
cargo build --release --quiet --manifest-path "$root/Cargo.toml"
custody="$root/target/release/custody"

work=$(mktemp -d "${TMPDIR:-/tmp}/custody-ceremony.XXXXXX")
cleanup() { rm -rf "$work"; }
trap cleanup EXIT

eval "$("$here/new-token-dir.sh" "$work/softhsm")"
export SOFTHSM2_CONF
so_pin=$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
umask 077
od -An -N4 -tu4 /dev/urandom | tr -d " \n" > "$work/pin"
printf 'ceremony-%s\n' "$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')" > "$work/password"
pin=$(cat "$work/pin")

step() { printf '\n== %s\n' "$*"; }

step "Checking that this build refuses fault injection"
# The release build has no fault injection: it must refuse the variable, not ignore it.
status=0
CUSTODY_FAULT_INJECT=write "$custody" generate --out "$work/fault.key" 2>"$work/fault.err" || status=$?
if [ "$status" -ne 2 ] || [ -e "$work/fault.key" ] || ! grep -q 'built without fault injection' "$work/fault.err"; then
  echo "FAILED: with CUSTODY_FAULT_INJECT set, the release custody exited $status (expected 2, no file written):" >&2
  cat "$work/fault.err" >&2
  exit 1
fi
echo "OK: refused (exit 2), nothing written"

step "Initialising two SoftHSM2 tokens (main and spare)"
softhsm2-util --init-token --free --label custody-main --so-pin "$so_pin" --pin "$pin" >/dev/null
softhsm2-util --init-token --free --label custody-spare --so-pin "$so_pin" --pin "$pin" >/dev/null
"$custody" token list

main="pkcs11:token=custody-main;object=custody-aes?pin-source=file:$work/pin"
spare="pkcs11:token=custody-spare;object=custody-p256?pin-source=file:$work/pin"

step "Generating token keys"
"$custody" token keygen --token "$main" --type aes
"$custody" token keygen --token "$spare" --type p256

step "Generating the master secret"
"$custody" generate --out "$work/master.key"

step "Backing up under both tokens and a password (Argon2id 1 GiB, t=3, p=4)"
"$custody" backup --secret "$work/master.key" --token "$main" --token "$spare" \
  --out "$work/master.custody" --password-file "$work/password" \
  --hint "ceremony password file" --label "custody ceremony $(date -u +%Y-%m-%d)"

step "Inspecting the backup (no token, no password)"
"$custody" inspect "$work/master.custody"

step "Verifying the backup against the secret"
CUSTODY_PIN=$pin "$custody" verify "$work/master.custody" --secret "$work/master.key" --password-file "$work/password"

step "Restoring with the spare token alone"
"$custody" restore "$work/master.custody" --token "$spare" --password-file "$work/password" --out "$work/restored.key"

step "Comparing"
if cmp -s "$work/master.key" "$work/restored.key"; then
  fp=$("$custody" inspect --json "$work/master.custody" | sed -n 's/.*"fingerprint": "\([0-9A-F-]*\)".*/\1/p')
  echo "OK: the restored secret is byte-for-byte the original. Fingerprint: $fp"
else
  echo "FAILED: the restored secret differs from the original" >&2
  exit 1
fi
