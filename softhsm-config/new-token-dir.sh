#!/usr/bin/env bash
# Makes a throwaway SoftHSM2 configuration in DIR (no global state is touched) and prints the
# line to export. Usage: new-token-dir.sh DIR
set -euo pipefail
dir=${1:?usage: new-token-dir.sh DIR}
mkdir -p "$dir/tokens"
dir=$(cd "$dir" && pwd)
cat > "$dir/softhsm2.conf" <<CONF
directories.tokendir = $dir/tokens
objectstore.backend = file
log.level = ERROR
slots.removable = false
CONF
echo "export SOFTHSM2_CONF=$dir/softhsm2.conf"
