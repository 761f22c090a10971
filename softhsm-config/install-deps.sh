#!/usr/bin/env bash
# Installs the Debian packages custody's ceremony and tests need, only when one is missing,
# so that a re-run needs neither root nor the network. With arguments: those packages instead
# (tools/kryoptic/build.sh names what kryoptic's build needs).
set -euo pipefail

# tmux: tests/cli_tmux.rs reads what a terminal keeps of an officer's turn. p11-kit: tests/cli_p11kit.rs
# compares custody with `p11-kit list-modules`. gnutls-bin: tests/cli_roundtrip.rs pastes the URIs
# `p11tool --list-all` prints. fusefat, fuse, dosfstools: tests/cli_fuse.rs writes to a FAT
# image mounted through FUSE.
packages=(softhsm2 opensc openssl util-linux libpcsclite-dev pkg-config tmux p11-kit gnutls-bin
  fusefat fuse dosfstools)
if [ $# -gt 0 ]; then
  packages=("$@")
fi

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

echo "installing missing packages: ${missing[*]}" >&2
if [ "$(id -u)" -eq 0 ]; then
  sudo=()
elif command -v sudo >/dev/null 2>&1; then
  sudo=(sudo)
else
  echo "error: packages ${missing[*]} are missing and this user cannot install them (no root, no sudo)." >&2
  echo "  what to do: ask an administrator to run: apt-get install ${missing[*]}" >&2
  exit 1
fi
export DEBIAN_FRONTEND=noninteractive
"${sudo[@]}" apt-get update -qq
"${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
