#!/usr/bin/env bash
# Builds the prebuilt CPU addon that `npm install` uses instead of compiling (npm run prebuildify):
#
#   prebuilds/linux-x64/node.napi.glibc.node   Node-API 8 (any Node >= 20), x86-64, glibc; the
#                                              scalar, AVX2 and AVX-512 kernels are all inside,
#                                              chosen at run time from the CPU (binding.gyp)
#   prebuilds/MANIFEST.json                    sha256 of the sources it was built from and of the
#                                              binary; test/prebuild.test.ts fails when stale
#
# It compiles with prebuildify (node-gyp, binding.gyp's flags, then strip) in a temporary copy of
# binding.gyp and cpp/, so the build/ folder that tests load is left alone and no path of this
# checkout ends up in the binary: the same sources and compiler give the same bytes (the script
# builds twice and compares when PREBUILD_VERIFY=1). Needs g++, make and python3; nothing is
# downloaded when Node's headers are installed beside node (they are with distribution packages).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
case "$(node -p 'process.platform + "-" + process.arch')" in
  linux-x64) ;;
  *) echo "prebuild: only linux-x64 prebuilds are made by this script (this is $(node -p 'process.platform + "-" + process.arch'))" >&2; exit 1 ;;
esac

# node-gyp: npm's own when this runs under npm (it is on PATH then), else the one npm bundles.
if ! command -v node-gyp >/dev/null 2>&1 && [ -z "${PREBUILD_NODE_GYP:-}" ]; then
  npm_root="$(cd "$(dirname "$(readlink -f "$(command -v npm)")")/.." && pwd)"
  export PREBUILD_NODE_GYP="$npm_root/node_modules/node-gyp/bin/node-gyp.js"
fi
# Node's headers: the ones installed with node when present (no download from nodejs.org).
if [ -z "${npm_config_nodedir:-}" ]; then
  prefix="$(node -p 'require("path").resolve(process.execPath, "..", "..")')"
  if [ -f "$prefix/include/node/node_api.h" ]; then export npm_config_nodedir="$prefix"; fi
fi

build() {  # build OUT_DIR: prebuilds/ of a fresh copy of the sources, moved to OUT_DIR
  local work
  work="$(mktemp -d "${TMPDIR:-/tmp}/evolver-prebuild-XXXXXX")"
  # A fixed path inside the copy: nothing of $work or of this checkout reaches the binary.
  mkdir -p "$work/evolver"
  cp -R "$root/binding.gyp" "$root/package.json" "$root/cpp" "$work/evolver/"
  ln -s "$root/node_modules" "$work/evolver/node_modules"
  (cd "$work/evolver" && "$root/node_modules/.bin/prebuildify" --napi --strip --tag-libc --target "node@$(node -p process.versions.node)" --quiet)
  rm -rf "$1" && mkdir -p "$1" && cp -R "$work/evolver/prebuilds/." "$1/"
  rm -rf "$work"
}

out="$(mktemp -d "${TMPDIR:-/tmp}/evolver-prebuilds-XXXXXX")"
trap 'rm -rf "$out"' EXIT
echo "prebuild: compiling binding.gyp + cpp/ with $(c++ --version | head -n 1)"
build "$out/a"
if [ "${PREBUILD_VERIFY:-0}" = 1 ]; then
  build "$out/b"
  if ! diff -r "$out/a" "$out/b" >/dev/null; then echo "prebuild: two builds of the same sources differ (not reproducible)" >&2; exit 1; fi
  echo "prebuild: a second build gave the same bytes"
fi
rm -rf "$root/prebuilds/linux-x64"
mkdir -p "$root/prebuilds"
cp -R "$out/a/linux-x64" "$root/prebuilds/"
PREBUILD_COMPILER="$(c++ --version | head -n 1)" node --import tsx "$root/scripts/prebuild-manifest.ts" write
ls -l "$root"/prebuilds/linux-x64/
sha256sum "$root"/prebuilds/linux-x64/*.node
