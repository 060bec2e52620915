#!/usr/bin/env bash
# npm run build:prebuilds (and prepack): the N-API addon, prebuilt for every Linux target whose C toolchain is here,
# into prebuilds/<platform>-<arch>/socktool.<libc>.node, where node-gyp-build finds it at run time.
#   linux-x64 glibc    the host compiler (on x64) or x86_64-linux-gnu-gcc    Debian: g++ / gcc-x86-64-linux-gnu
#   linux-arm64 glibc  the host compiler (on arm64) or aarch64-linux-gnu-gcc Debian: gcc-aarch64-linux-gnu
#   linux-x64 musl     musl-gcc (on x64)                                     Debian: musl-tools
# (SOCKTOOL_CC_X64, SOCKTOOL_CC_ARM64 and SOCKTOOL_CC_MUSL name other cross compilers.) A target without its
# toolchain is skipped with a line saying which; with SOCKTOOL_REQUIRE_ALL=1 (npm run release, CI) a missing one
# fails the run before anything is built, so that a release always carries all three.
set -euo pipefail
cd "$(dirname "$0")/.."

host=$(node -p process.arch)
# arch libc compiler ("" for the host's own) Debian package
targets=()
case $host in
  x64)
    targets+=("x64 glibc - g++")
    targets+=("arm64 glibc ${SOCKTOOL_CC_ARM64:-aarch64-linux-gnu-gcc} gcc-aarch64-linux-gnu")
    targets+=("x64 musl ${SOCKTOOL_CC_MUSL:-musl-gcc} musl-tools") ;;
  arm64)
    targets+=("arm64 glibc - g++")
    targets+=("x64 glibc ${SOCKTOOL_CC_X64:-x86_64-linux-gnu-gcc} gcc-x86-64-linux-gnu") ;;
esac

ready=()
missing=()
[ ${#targets[@]} -gt 0 ] || missing+=("every prebuild: no cross toolchains are set up for a $host host")
for t in "${targets[@]}"; do
  read -r arch libc cc package <<<"$t"
  if [ "$cc" != - ] && ! command -v "$cc" >/dev/null; then
    missing+=("linux-$arch $libc (no $cc; apt-get install -y $package)")
  else
    ready+=("$t")
  fi
done
if [ ${#missing[@]} -gt 0 ]; then
  printf 'prebuild: skipped %s\n' "${missing[@]}" >&2
  [ -z "${SOCKTOOL_REQUIRE_ALL:-}" ] || { echo "prebuild: SOCKTOOL_REQUIRE_ALL is set, so every target is required: nothing built" >&2; exit 1; }
fi

rm -rf prebuilds
built=()
for t in "${ready[@]}"; do
  read -r arch libc cc package <<<"$t"
  strip=strip
  case $cc in *-linux-gnu-gcc) strip=${cc%-gcc}-strip ;; -) cc= ;; esac
  CC=${cc:-${CC:-cc}} LINK=${cc:-${LINK:-cc}} PREBUILD_LIBC=$libc PREBUILD_STRIP_BIN=$strip \
    npx --no-install prebuildify --napi --strip --tag-libc --arch "$arch" --quiet --cwd src/native --out . --name socktool
  built+=("linux-$arch $libc")
done
# prebuildify's last build (perhaps another architecture's) is not this machine's local build.
rm -rf src/native/build
echo "prebuild: built ${built[*]/%/,}" | sed 's/,$//'
