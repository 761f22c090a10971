#!/usr/bin/env bash
# Runs a command with a software PIV card (tools/piv-card) in PC/SC reader "Virtual PCD 00 00".
#
#   tools/piv-card/run-with-card.sh cargo test --test piv -- --test-threads=1
#
# Steps: install missing Debian packages; build piv-card (release); take a machine-wide lock;
# start its own pcscd; start the card; wait until `yubico-piv-tool -a status` sees it; run the
# command; stop the card and pcscd; exit with the command's exit code.
# It fails (exit 97, with a message naming the log files) when the card cannot be started: it
# never runs the command without a card.
#
# pcscd is one per machine (fixed socket /run/pcscd/pcscd.comm, and vpcd's fixed port 35963), so:
# - if a pcscd that this script did not start is running, the script fails and says how to stop
#   it — unless PIV_CARD_USE_RUNNING_PCSCD=1, in which case it uses that pcscd (which must have the
#   vpcd driver and no card in "Virtual PCD 00 00") and leaves it running afterwards;
# - two runs of this script at once take turns on a lock (/run/lock/custody-piv-card.lock).
#
# The command gets PIV_CARD_READER ("Virtual PCD 00 00"), PIV_CARD_SERIAL and PIV_CARD_BIN (the
# piv-card binary, so a test can plug a second card into "Virtual PCD 00 01", vpcd port 35964).
#
# Settings (environment):
#   PIV_CARD_SERIAL=N            serial the card reports (default 12345678)
#   PIV_CARD_STATE=DIR           keep the card's state in DIR across runs (default: RAM, a
#                                factory-fresh card every run)
#   PIV_CARD_ARGS="..."          more piv-card arguments, e.g. "--deterministic --version 5.4.3"
#   PIV_CARD_USE_RUNNING_PCSCD=1 use an already running pcscd instead of failing
#   PIV_CARD_LOCK_WAIT=SECS      how long to wait for another run to finish (default 1800)
#   PIV_CARD_DEBUG=1             pcscd --debug --apdu and piv-card APDU logging
#   PIV_CARD_KEEP_LOGS=1         keep the log directory even when everything worked
set -uo pipefail

readonly READER="Virtual PCD 00 00"
readonly FAIL=97
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

if [ $# -eq 0 ] || [ "$1" = "-h" ] || [ "$1" = "--help" ]; then
  sed -n '2,/^set -uo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//'
  [ $# -eq 0 ] && exit 2 || exit 0
fi
[ "$1" = "--" ] && shift

say() { echo "run-with-card: $*" >&2; }

logdir="$(mktemp -d /tmp/piv-card-run.XXXXXX)"
card_pid=""
pcscd_pid=""
failed=0

die() {
  say "ERROR: $*"
  failed=1
  say "logs: $logdir"
  exit "$FAIL"
}

stop_pid() { # pid name
  local pid="$1" name="$2" i
  [ -n "$pid" ] || return 0
  kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null; return 0; }
  kill -TERM "$pid" 2>/dev/null
  for i in $(seq 50); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  if kill -0 "$pid" 2>/dev/null; then
    say "$name (pid $pid) did not stop on SIGTERM; killing it"
    kill -KILL "$pid" 2>/dev/null
  fi
  wait "$pid" 2>/dev/null
}

cleanup() {
  stop_pid "$card_pid" piv-card
  card_pid=""
  stop_pid "$pcscd_pid" pcscd
  pcscd_pid=""
  if [ "$failed" -eq 0 ] && [ "${PIV_CARD_KEEP_LOGS:-0}" != 1 ]; then
    rm -rf "$logdir"
  fi
}
trap cleanup EXIT
trap 'say "interrupted"; failed=1; exit 130' INT TERM

# pcscd processes that are alive (a zombie still shows in pgrep).
live_pcscd_pids() {
  local pid
  for pid in $(pgrep -x pcscd); do
    case "$(ps -o stat= -p "$pid" 2>/dev/null)" in
      Z* | "") ;;
      *) echo "$pid" ;;
    esac
  done
}

# --- 1. packages --------------------------------------------------------------------------------
# pcscd + vsmartcard-vpcd: the PC/SC daemon and the virtual reader driver the card plugs into;
# libpcsclite-dev + pkg-config: build the `yubikey`/`pcsc` crates; libclang-dev + gcc: build
# littlefs2-sys (bindgen + C) for trussed; yubico-piv-tool: the readiness check; opensc: pkcs11.
packages=(pcscd vsmartcard-vpcd libpcsclite-dev pkg-config libclang-dev gcc libc6-dev yubico-piv-tool opensc)
missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  say "installing missing packages: ${missing[*]}"
  if [ "$(id -u)" -eq 0 ]; then
    sudo=()
  elif command -v sudo >/dev/null 2>&1; then
    sudo=(sudo)
  else
    die "packages ${missing[*]} are missing and this user cannot install them (no root, no sudo);
  what to do: ask an administrator to run: apt-get install ${missing[*]}"
  fi
  export DEBIAN_FRONTEND=noninteractive
  "${sudo[@]}" apt-get update -qq >"$logdir/apt.log" 2>&1 || die "apt-get update failed (see $logdir/apt.log)"
  "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >>"$logdir/apt.log" 2>&1 ||
    die "apt-get install ${missing[*]} failed (see $logdir/apt.log)"
fi
[ -f /etc/reader.conf.d/vpcd ] || die "/etc/reader.conf.d/vpcd is missing: is vsmartcard-vpcd installed correctly?"

# --- 2. build -------------------------------------------------------------------------------------
t0=$(date +%s)
say "building piv-card (cargo build --release --manifest-path $here/Cargo.toml)"
cargo build --release --manifest-path "$here/Cargo.toml" --target-dir "$here/target" >&2 || die "cargo build of tools/piv-card failed"
say "build took $(($(date +%s) - t0)) s"
card_bin="$here/target/release/piv-card"
[ -x "$card_bin" ] || die "$card_bin was not built"

# --- 3. one run at a time -------------------------------------------------------------------------
lockfile=/run/lock/custody-piv-card.lock
[ -d /run/lock ] && [ -w /run/lock ] || lockfile="${TMPDIR:-/tmp}/custody-piv-card.lock"
exec 9>"$lockfile" || die "cannot open lock file $lockfile"
if ! flock -n 9; then
  say "another run-with-card.sh is running; waiting for it (lock $lockfile, up to ${PIV_CARD_LOCK_WAIT:-1800} s)"
  flock -w "${PIV_CARD_LOCK_WAIT:-1800}" 9 || die "gave up waiting for the lock $lockfile"
fi

# --- 4. pcscd -------------------------------------------------------------------------------------
running="$(live_pcscd_pids | tr '\n' ' ')"
running="${running% }"
if [ -n "$running" ]; then
  if [ "${PIV_CARD_USE_RUNNING_PCSCD:-0}" = 1 ]; then
    say "using the pcscd already running (pid $running); it will be left running"
  else
    die "a pcscd this script did not start is running (pid $running).
  This script starts and stops its own pcscd, and there can be only one per machine.
  What to do: stop it (kill $running), or set PIV_CARD_USE_RUNNING_PCSCD=1 to use it
  (it must have loaded the vpcd driver, and no other virtual card may be connected)."
  fi
else
  # A pcscd killed hard leaves its socket and pid file behind; pcscd refuses to start over them.
  rm -f /run/pcscd/pcscd.comm /run/pcscd/pcscd.pid 2>/dev/null
  pcscd_args=(--foreground --info)
  [ "${PIV_CARD_DEBUG:-0}" = 1 ] && pcscd_args=(--foreground --debug --apdu)
  : >"$logdir/pcscd.log"
  pcscd "${pcscd_args[@]}" >"$logdir/pcscd.log" 2>&1 9>&- &
  pcscd_pid=$!
  for i in $(seq 150); do
    grep -q "daemon ready" "$logdir/pcscd.log" && break
    kill -0 "$pcscd_pid" 2>/dev/null || {
      tail -20 "$logdir/pcscd.log" >&2
      pcscd_pid=""
      die "pcscd exited during startup"
    }
    sleep 0.1
  done
  grep -q "daemon ready" "$logdir/pcscd.log" || {
    tail -20 "$logdir/pcscd.log" >&2
    die "pcscd did not report 'daemon ready' within 15 s"
  }
  grep -q "Waiting for virtual ICC on port" "$logdir/pcscd.log" ||
    die "pcscd started without the vpcd reader (no 'Waiting for virtual ICC' in $logdir/pcscd.log); check /etc/reader.conf.d/vpcd"
fi

# --- 5. the card ----------------------------------------------------------------------------------
serial="${PIV_CARD_SERIAL:-12345678}"
card_args=(--serial "$serial")
[ -n "${PIV_CARD_STATE:-}" ] && card_args+=(--state "$PIV_CARD_STATE")
# shellcheck disable=SC2206 # word splitting wanted
[ -n "${PIV_CARD_ARGS:-}" ] && card_args+=($PIV_CARD_ARGS)
card_log_filter="${RUST_LOG:-warn,piv_authenticator=off}"
[ "${PIV_CARD_DEBUG:-0}" = 1 ] && card_log_filter="piv_card=debug,piv_authenticator=info"
: >"$logdir/piv-card.out"
t0=$(date +%s%N)
RUST_LOG="$card_log_filter" "$card_bin" "${card_args[@]}" >"$logdir/piv-card.out" 2>"$logdir/piv-card.err" 9>&- &
card_pid=$!
for i in $(seq 300); do
  grep -q "piv-card ready" "$logdir/piv-card.out" && break
  kill -0 "$card_pid" 2>/dev/null || {
    cat "$logdir/piv-card.err" >&2
    card_pid=""
    die "piv-card exited before it was ready"
  }
  sleep 0.1
done
grep -q "piv-card ready" "$logdir/piv-card.out" || {
  cat "$logdir/piv-card.err" >&2
  die "piv-card did not print 'piv-card ready' within 30 s"
}
t_ready=$(date +%s%N)

# The card is ready for pcscd; check that a PC/SC client sees it, as the tests will.
ok=0
for i in $(seq 75); do
  if yubico-piv-tool -r "$READER" -a status >"$logdir/status.txt" 2>&1 &&
    grep -q "Serial Number:[[:space:]]*$serial\$" "$logdir/status.txt"; then
    ok=1
    break
  fi
  kill -0 "$card_pid" 2>/dev/null || break
  sleep 0.2
done
if [ "$ok" -ne 1 ]; then
  cat "$logdir/status.txt" "$logdir/piv-card.err" >&2
  die "yubico-piv-tool -r '$READER' -a status does not see the card (serial $serial)"
fi
say "card ready in reader '$READER' (serial $serial, state ${PIV_CARD_STATE:-RAM}): started in $(((t_ready - t0) / 1000000)) ms, status check took $((($(date +%s%N) - t_ready) / 1000000)) ms"

# --- 6. the command -------------------------------------------------------------------------------
export PIV_CARD_READER="$READER" PIV_CARD_SERIAL="$serial" PIV_CARD_BIN="$card_bin"
"$@" 9>&-
rc=$?
if ! kill -0 "$card_pid" 2>/dev/null; then
  say "WARNING: piv-card died while the command ran:"
  cat "$logdir/piv-card.err" >&2
  failed=1
  say "logs: $logdir"
fi
exit "$rc"
