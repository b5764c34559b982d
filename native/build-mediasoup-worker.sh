#!/usr/bin/env bash
# Builds mediasoup's C++ worker from node_modules/mediasoup/worker against Debian's packages, once
# per machine and mediasoup version, into a cache that veza (and MEDIASOUP_WORKER_BIN) points at.
#
#   native/build-mediasoup-worker.sh [--install-deps] [--force]   build unless cached; prints the path
#   native/build-mediasoup-worker.sh --print-path                 where the binary is (or will be)
#   native/build-mediasoup-worker.sh --print-deps                 the Debian build dependencies
#
# The binary lands in $VEZA_MEDIA_CACHE_DIR/mediasoup-worker-<version>/mediasoup-worker, the cache
# directory defaulting to ${XDG_CACHE_HOME:-$HOME/.cache}/veza. Progress goes to stderr, the path
# to stdout. Nothing is installed unless --install-deps is given (apt-get, as root or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

# Debian 12 (bookworm) packages; see ../shared/ARCHITECTURE.md, "Media: what was shown to work here".
DEPS=(meson ninja-build pkg-config g++ libssl-dev libuv1-dev libsrtp2-dev libusrsctp-dev libabsl-dev nlohmann-json3-dev)
PKG_CONFIG_MODULES=(openssl nlohmann_json libuv libsrtp2 usrsctp absl_flat_hash_map absl_flat_hash_set absl_btree
  absl_inlined_vector absl_strings absl_optional absl_variant absl_span)

step() { printf '==> %s\n' "$*" >&2; }
die() { printf 'build-mediasoup-worker: %s\n' "$*" >&2; exit 1; }

install_deps=0 force=0
for arg in "$@"; do
  case "$arg" in
    --install-deps) install_deps=1 ;;
    --force) force=1 ;;
    --print-deps) echo "${DEPS[*]}"; exit 0 ;;
    --print-path) ;;
    -h | --help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
    *) die "unknown argument: $arg (see --help)" ;;
  esac
done

[ -f node_modules/mediasoup/package.json ] || die "node_modules/mediasoup is missing: run npm install first"
version="$(node -p 'require("./node_modules/mediasoup/package.json").version')"
cache_dir="${VEZA_MEDIA_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/veza}"
dest_dir="$cache_dir/mediasoup-worker-$version"
bin="$dest_dir/mediasoup-worker"

if [[ " $* " == *" --print-path "* ]]; then echo "$bin"; exit 0; fi

# The worker has no --version; started without MEDIASOUP_VERSION (as only mediasoup sets it) it
# exits with its own code 41. That proves it is a mediasoup worker whose shared libraries load.
worker_runs() {
  [ -x "$1" ] || return 1
  local status=0
  env -u MEDIASOUP_VERSION "$1" </dev/null >/dev/null 2>&1 || status=$?
  [ "$status" = 41 ]
}

if [ "$force" = 0 ] && worker_runs "$bin"; then
  step "mediasoup $version worker already built"
  echo "$bin"
  exit 0
fi

if [ "$install_deps" = 1 ]; then
  step "installing the Debian build dependencies: ${DEPS[*]}"
  sudo=()
  [ "$(id -u)" = 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${DEPS[@]}" >&2
fi

missing=()
for tool in meson ninja pkg-config c++; do command -v "$tool" >/dev/null 2>&1 || missing+=("$tool"); done
if [ "${#missing[@]}" = 0 ]; then
  for module in "${PKG_CONFIG_MODULES[@]}"; do pkg-config --exists "$module" || missing+=("$module (pkg-config)"); done
fi
if [ "${#missing[@]}" -gt 0 ]; then
  die "missing ${missing[*]}. Install the build dependencies with: npm run build:media -- --install-deps
  (or: apt-get install ${DEPS[*]})"
fi

mkdir -p "$cache_dir"
# One build at a time per cache; a second caller waits, then finds the binary built.
exec 9>"$cache_dir/.mediasoup-worker.lock"
flock 9
if [ "$force" = 0 ] && worker_runs "$bin"; then
  step "mediasoup $version worker built meanwhile by another process"
  echo "$bin"
  exit 0
fi

started=$SECONDS
work="$(mktemp -d "${TMPDIR:-/tmp}/veza-mediasoup-worker.XXXXXX")"
trap 'rm -rf "$work"' EXIT

step "copying node_modules/mediasoup/worker ($version) to $work/worker"
cp -R node_modules/mediasoup/worker "$work/worker"
rm -rf "$work/worker/out" "$work/worker/subprojects/packagecache"

step "patching meson.build files to use Debian's packages"
node native/patch-mediasoup-worker.mjs "$work/worker" "$version"

step "meson setup (release, no downloads)"
# The user's compiler flags stay out, and the temporary path stays out of the binary, so that the
# same sources and packages give the same worker.
(cd "$work/worker" && CFLAGS="-ffile-prefix-map=$work=." CXXFLAGS="-ffile-prefix-map=$work=." LDFLAGS='' \
  meson setup --buildtype=release -Db_ndebug=true --wrap-mode=nodownload "$work/build" >&2)

step "ninja mediasoup-worker ($(nproc) jobs; a few minutes)"
ninja -C "$work/build" mediasoup-worker >&2
worker_runs "$work/build/mediasoup-worker" || die "the freshly built worker does not run (expected exit code 41 without MEDIASOUP_VERSION)"

step "installing to $bin"
mkdir -p "$dest_dir"
# Written beside its final name, then renamed over it: a reader sees the old file or the whole new one.
cp "$work/build/mediasoup-worker" "$dest_dir/.mediasoup-worker.$$"
chmod 755 "$dest_dir/.mediasoup-worker.$$"
{
  echo "mediasoup $version worker, built $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release && echo "$PRETTY_NAME")"
  echo "sha256 $(sha256sum "$dest_dir/.mediasoup-worker.$$" | cut -d' ' -f1)"
  echo "meson $(meson --version), ninja $(ninja --version), $(c++ --version | head -n1)"
  for module in "${PKG_CONFIG_MODULES[@]}"; do echo "$module $(pkg-config --modversion "$module")"; done
} >"$dest_dir/.BUILD-INFO.$$"
mv -f "$dest_dir/.BUILD-INFO.$$" "$dest_dir/BUILD-INFO"
mv -f "$dest_dir/.mediasoup-worker.$$" "$bin"

step "built in $((SECONDS - started))s: $bin ($(du -h "$bin" | cut -f1))"
echo "$bin"
