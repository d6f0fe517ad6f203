#!/usr/bin/env bash
# Receives, on the GPU machine, one pack that scripts/gpu-bundle.sh made (.gpu/<pack>: an
# xz-compressed tar split into parts small enough for one call each, and PACK, which names the
# number of parts and the SHA-256 of the whole compressed tar). Each call carries some parts
# and PACK and runs this: the parts are kept in DEST/incoming/<pack> (/tmp stays while the
# machine is warm); once all are there they are joined, checked against PACK's SHA-256 and
# unpacked into DEST, and the parts are removed.
# Usage: scripts/gpu-stage.sh [--require] PACK_DIR DEST
#   --require  exit 3 unless the pack is complete after this call (the call that goes on to
#              use it: a machine given back between calls loses the parts it had; then every
#              part must be sent again)
# Exit: 0 kept or unpacked, 2 bad arguments or no PACK, 3 parts missing with --require,
#       4 checksum or unpacking failed.
set -euo pipefail

require=0
if [[ "${1:-}" == --require ]]; then
    require=1
    shift
fi
if [[ $# -ne 2 ]]; then
    echo "usage: $0 [--require] PACK_DIR DEST" >&2
    exit 2
fi
pack="$1"
dest="$2"
name="$(basename "$pack")"
log() { printf 'gpu-stage: %s: %s\n' "$name" "$*" >&2; }

meta="$pack/PACK"
[[ -f "$meta" ]] || { log "no $meta (carry it with every part)"; exit 2; }
parts="$(awk '$1 == "parts" { print $2 }' "$meta")"
sum="$(awk '$1 == "sha256" { print $2 }' "$meta")"
[[ "$parts" =~ ^[1-9][0-9]?$ && "$sum" =~ ^[0-9a-f]{64}$ ]] \
    || { log "$meta has no 'parts N' and 'sha256 HEX' lines"; exit 2; }

inbox="$dest/incoming/$name"
mkdir -p "$inbox"
for p in "$pack"/part-*; do
    [[ -e "$p" ]] || continue
    cp "$p" "$inbox/"
    log "kept $(basename "$p") ($(stat -c %s "$p") bytes)"
done

missing=()
for ((i = 0; i < parts; i++)); do
    part="$(printf 'part-%02d' "$i")"
    [[ -f "$inbox/$part" ]] || missing+=("$part")
done
if [[ ${#missing[@]} -gt 0 ]]; then
    log "$((parts - ${#missing[@]})) of $parts parts here; missing: ${missing[*]}"
    if [[ $require -eq 1 ]]; then
        log "incomplete: send the missing parts again (a machine given back between calls keeps none)"
        exit 3
    fi
    exit 0
fi

whole="$inbox/pack.tar.xz"
for ((i = 0; i < parts; i++)); do
    cat "$inbox/$(printf 'part-%02d' "$i")"
done >"$whole"
if ! printf '%s  %s\n' "$sum" "$whole" | sha256sum -c --quiet >/dev/null 2>&1; then
    log "the joined parts are not the pack that was made (SHA-256 differs): send them again"
    rm -rf "$inbox"
    exit 4
fi
# tar with xz where the machine has xz; else Python's lzma (the GPU image's python3 has it).
if command -v xz >/dev/null && tar -xJf "$whole" -C "$dest"; then
    :
elif python3 -c 'import sys, tarfile; tarfile.open(sys.argv[1], "r:xz").extractall(sys.argv[2])' \
    "$whole" "$dest"; then
    :
else
    log "unpacking $whole failed"
    exit 4
fi
rm -rf "$inbox"
log "complete ($parts parts, SHA-256 checked): unpacked into $dest"
