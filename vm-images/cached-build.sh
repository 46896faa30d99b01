#!/bin/sh
# Builds the lab's guest image into the cache directory exactly where `spofless lab up` looks for
# it, so CI can build it in the background while the workspace compiles (debootstrap is mostly
# waiting on the mirror) and the lab's end-to-end test then finds it cached.
#
# The cache key is provision::lab::image::recipe_hash: SHA-256 over build.sh's bytes, a NUL,
# "layers:" and the layer list joined by spaces; the image lives in CACHE/images/<first 16 hex>/.
# A unit test (provision::lab::image) runs `--print-path` and compares it with the library's
# path, so the two cannot drift apart. Like the library, the build goes to a temporary directory
# renamed into place only when complete.
#
# Usage: cached-build.sh [--print-path] CACHE_DIR [LAYER...]
#   LAYERs beyond base; default "ha ceph" (provision::lab::image::layers(true), `lab up`'s default).
# Env:   SPOFLESS_IMAGE_BUILD_TIMEOUT seconds (default 1800, the library's IMAGE_BUILD_TIMEOUT).
set -eu

print_only=no
if [ "${1:-}" = "--print-path" ]; then
    print_only=yes
    shift
fi
CACHE=${1:?usage: cached-build.sh [--print-path] CACHE_DIR [LAYER...]}
shift
if [ $# -eq 0 ]; then
    set -- ha ceph
fi
HERE=$(cd "$(dirname "$0")" && pwd)
RECIPE=$HERE/build.sh

hash=$( (cat "$RECIPE"; printf '\0layers:%s' "$*") | sha256sum | cut -c1-16)
DIR=$CACHE/images/$hash
if [ "$print_only" = yes ]; then
    echo "$DIR"
    exit 0
fi
if [ -f "$DIR/manifest.env" ]; then
    echo "cached-build.sh: cached image $DIR (layers: $*)"
    exit 0
fi

mkdir -p "$CACHE/images"
TMP=$CACHE/images/.build-$hash-$$
rm -rf "$TMP"
mkdir -p "$TMP"
trap 'rm -rf "$TMP"' EXIT
cp "$RECIPE" "$TMP/build.sh"
timeout "${SPOFLESS_IMAGE_BUILD_TIMEOUT:-1800}" sh "$TMP/build.sh" "$TMP" "$@" >/dev/null
rm -f "$TMP/build.sh"
# Another build of the same recipe may have finished first: keep theirs.
if mv -T "$TMP" "$DIR" 2>/dev/null; then
    trap - EXIT
else
    [ -f "$DIR/manifest.env" ] || { echo "cached-build.sh: cannot install $DIR" >&2; exit 1; }
fi
echo "cached-build.sh: built $DIR"
cat "$DIR/manifest.env"
