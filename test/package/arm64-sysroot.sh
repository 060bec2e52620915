#!/usr/bin/env bash
# test/package/arm64-sysroot.sh DIR: Debian's arm64 Node.js and the libraries it loads, unpacked into DIR (nothing
# is installed), so that qemu-aarch64-static -L DIR DIR/usr/bin/node runs the linux-arm64 prebuild for real.
# Adds arm64 to dpkg's architectures (for apt-get download) if it is not there.
set -euo pipefail
dir=$1
[ -x "$dir/usr/bin/node" ] && exit 0
dpkg --print-foreign-architectures | grep -qx arm64 || { dpkg --add-architecture arm64 && apt-get update -qq; }
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
chmod 777 "$work" # apt-get download runs as _apt where it can
apt-get download -qq nodejs:arm64 libnode108:arm64 libbrotli1:arm64 libc-ares2:arm64 libc6:arm64 libicu72:arm64 \
  libnghttp2-14:arm64 libssl3:arm64 libstdc++6:arm64 libuv1:arm64 zlib1g:arm64 libgcc-s1:arm64 \
  node-cjs-module-lexer node-acorn node-undici
mkdir -p "$dir"
for deb in *.deb; do dpkg-deb -x "$deb" "$dir"; done
