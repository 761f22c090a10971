#!/usr/bin/env bash
# Builds kryoptic's PKCS#11 module (a second, independent PKCS#11 implementation the tests run
# against besides SoftHSM2) at a pinned version, once per machine, and prints the module's path.
#
# `cargo install` cannot do it: the kryoptic package has no binary, only a cdylib (the module), and
# `cargo install` refuses such a package before building anything. So this does what
# `cargo install --locked kryoptic@VERSION` would: cargo fetches that exact package from the
# registry, and cargo builds it with the Cargo.lock the package was published with (--locked).
#
# Features: `minimal` (AES, EC P-256 ECDH/ECDSA, RSA, hashes, the sqlite store) linked against the
# system OpenSSL (`kryoptic-lib/dynamic`); the default set needs OpenSSL 3.2, newer than Debian 12's.
#
# Where: $CUSTODY_KRYOPTIC_ROOT, by default ~/.cache/custody/kryoptic (per user, no root needed),
# in a folder named after the version and features. Not the repository's target/: CI runs in a
# fresh clone each time and would spend minutes rebuilding it. A re-run with that build already
# there is a quick no-op that needs no network. Concurrent runs wait for each other (flock).
set -euo pipefail

version=1.5.4
features=minimal,kryoptic-lib/dynamic

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
root=${CUSTODY_KRYOPTIC_ROOT:-${XDG_CACHE_HOME:-${HOME:?set HOME or CUSTODY_KRYOPTIC_ROOT}/.cache}/custody/kryoptic}
dest="$root/$version-minimal"
module="$dest/libkryoptic_pkcs11.so"
stamp="$dest/built-with"
want="kryoptic $version --no-default-features --features $features"

built() { [ -f "$module" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; }

if built; then
  echo "$module"
  exit 0
fi

mkdir -p "$root"
exec 9>"$root/.lock"
flock 9
if built; then # another run built it while this one waited
  echo "$module"
  exit 0
fi

# Build dependencies: bindgen needs libclang; the module links OpenSSL and SQLite.
"$repo/softhsm-config/install-deps.sh" libclang-dev libssl-dev libsqlite3-dev pkg-config
command -v cargo >/dev/null || { echo "error: cargo is missing: install Rust (rustup) first" >&2; exit 1; }

work=$(mktemp -d "$root/build.XXXXXX")
trap 'rm -rf "$work"' EXIT
# Away from any project, so that no project's cargo configuration or toolchain file applies.
cd "$work"
echo "building kryoptic $version (a minute or two, once per machine) in $work" >&2

# A throwaway package that depends on exactly that version: its metadata brings the published
# package (with its Cargo.lock) into cargo's registry cache and says where it is.
mkdir -p "$work/fetch"
cat >"$work/fetch/Cargo.toml" <<TOML
[package]
name = "kryoptic-fetch"
version = "0.0.0"
edition = "2021"
publish = false

[lib]
path = "lib.rs"

[dependencies]
kryoptic = { version = "=$version", default-features = false }
TOML
: >"$work/fetch/lib.rs"
manifest=$(cargo metadata --quiet --format-version 1 --manifest-path "$work/fetch/Cargo.toml" \
  | grep -o "\"manifest_path\":\"[^\"]*/kryoptic-$version/Cargo.toml\"" | head -n1 | cut -d'"' -f4)
if [ -z "$manifest" ] || [ ! -f "$(dirname "$manifest")/Cargo.lock" ]; then
  echo "error: cargo did not bring kryoptic $version with its Cargo.lock (manifest: '${manifest:-none}')" >&2
  exit 1
fi
# Build a copy, so nothing is written into cargo's registry cache.
cp -R "$(dirname "$manifest")" "$work/src"
cargo build --release --locked --no-default-features --features "$features" \
  --manifest-path "$work/src/Cargo.toml" --target-dir "$work/target" >&2

mkdir -p "$dest"
cp "$work/target/release/libkryoptic_pkcs11.so" "$module.new"
mv -f "$module.new" "$module"
echo "$want" >"$stamp"
echo "$module"
