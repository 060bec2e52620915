#!/usr/bin/env bash
# npm run prebuild (and prepack): the N-API addon, prebuilt for every Linux target whose C toolchain is here,
# into prebuilds/<platform>-<arch>/socktool.<libc>.node, where node-gyp-build finds it at run time.
#   linux-x64 glibc    the host compiler (on x64) or x86_64-linux-gnu-gcc    Debian: g++ / gcc-x86-64-linux-gnu
#   linux-arm64 glibc  the host compiler (on arm64) or aarch64-linux-gnu-gcc Debian: gcc-aarch64-linux-gnu
#   linux-x64 musl     musl-gcc (on x64)                                     Debian: musl-tools
# A target without its toolchain is skipped with a line saying which; SOCKTOOL_REQUIRE_ALL=1 makes that fatal,
# so that a release (CI's npm pack) always carries all three.
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(node -p process.arch)
rm -rf prebuilds
built=()
missing=()

# prebuild <arch> <libc> <compiler prefix, or "" for the host's own> <Debian package>
prebuild() {
  local arch=$1 libc=$2 cc=$3 package=$4 strip=strip
  if [ -n "$cc" ]; then
    if ! command -v "$cc" >/dev/null; then
      missing+=("linux-$arch $libc (no $cc; apt-get install -y $package)")
      return
    fi
    case $cc in *-linux-gnu-gcc) strip=${cc%-gcc}-strip ;; esac
  fi
  CC=${cc:-${CC:-cc}} LINK=${cc:-${LINK:-cc}} PREBUILD_LIBC=$libc PREBUILD_STRIP_BIN=$strip \
    npx --no-install prebuildify --napi --strip --tag-libc --arch "$arch" --quiet --cwd src/native --out . --name socktool
  built+=("linux-$arch $libc")
}

case $host in
  x64)
    prebuild x64 glibc "" g++
    prebuild arm64 glibc aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
    prebuild x64 musl musl-gcc musl-tools ;;
  arm64)
    prebuild arm64 glibc "" g++
    prebuild x64 glibc x86_64-linux-gnu-gcc gcc-x86-64-linux-gnu ;;
  *) missing+=("every prebuild: no cross toolchains are set up for a $host host") ;;
esac

# prebuildify's last build (perhaps another architecture's) is not this machine's local build.
rm -rf src/native/build
echo "prebuild: built ${built[*]/%/,}" | sed 's/,$//'
if [ ${#missing[@]} -gt 0 ]; then
  printf 'prebuild: skipped %s\n' "${missing[@]}" >&2
  [ -z "${SOCKTOOL_REQUIRE_ALL:-}" ] || { echo "prebuild: SOCKTOOL_REQUIRE_ALL is set, so every target is required" >&2; exit 1; }
fi
