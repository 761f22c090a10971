#!/usr/bin/env bash
# Builds custody's Debian package: target/debian/custody_<version>-1_<arch>.deb, with the binary
# (/usr/bin/custody), its man pages (/usr/share/man/man1/custody*.1.gz) and its bash, zsh and
# fish completions. The pages and completions are made by the release binary itself from its
# command-line definition (`custody man`, `custody completions`) into target/assets/, then
# `cargo deb --no-build` packages what Cargo.toml's [package.metadata.deb] lists.
#
# Needs cargo-deb (`cargo install --locked cargo-deb@3.8.0`; .ci/run installs it when missing)
# and what any build of custody needs (softhsm-config/install-deps.sh: libpcsclite-dev,
# pkg-config). Install the result with `apt-get install ./target/debian/custody_*.deb`.
set -euo pipefail
cd "$(dirname "$0")/../.."

if ! cargo deb --version >/dev/null 2>&1; then
  echo "error: cargo-deb is not installed" >&2
  echo "  what to do: cargo install --locked cargo-deb@3.8.0" >&2
  exit 1
fi

target_dir=${CARGO_TARGET_DIR:-target}
cargo build --locked --release --bin custody
bin="$target_dir/release/custody"

# Made anew each time, so that a page of a command that no longer exists is not shipped.
# cargo-deb reads the assets from ./target/assets whatever the target directory is.
assets=target/assets
rm -rf "$assets"
mkdir -p "$assets/completions"
"$bin" man --out-dir "$assets/man" >/dev/null
"$bin" completions bash >"$assets/completions/custody"
"$bin" completions zsh >"$assets/completions/_custody"
"$bin" completions fish >"$assets/completions/custody.fish"
bash -n "$assets/completions/custody"

rm -f "$target_dir"/debian/custody_*.deb
cargo deb --no-build
deb=$(ls "$target_dir"/debian/custody_*.deb)

# Depends comes from dpkg-shlibdeps ($auto): make sure it found the PC/SC library.
depends=$(dpkg-deb -f "$deb" Depends)
recommends=$(dpkg-deb -f "$deb" Recommends)
if ! grep -qw libpcsclite1 <<<"$depends" || [ "$recommends" != pcscd ]; then
  echo "error: $deb has Depends: $depends; Recommends: $recommends" >&2
  echo "  what to do: it must depend on libpcsclite1 and recommend pcscd ([package.metadata.deb] in Cargo.toml; dpkg-shlibdeps is in dpkg-dev)" >&2
  exit 1
fi
echo "$deb (Depends: $depends; Recommends: $recommends)"
