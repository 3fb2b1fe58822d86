#!/usr/bin/env bash
# npm run test:asan [-- mocha files or globs]
#
# Builds the addon with AddressSanitizer + UndefinedBehaviorSanitizer into build/asan/ (the
# normal build/Release/evolver.node is never touched), then runs mocha with the ASan runtime
# preloaded into node (Node itself is not instrumented: detect_leaks=0) and the sanitized
# addon selected by EVOLVER_NATIVE_ADDON. Every process (mocha and the children the tests
# spawn) writes its reports under build/asan/reports/; the script fails if mocha fails or if
# any report was written.
#
# Default test set: the native-heavy suites (mapped files, store, writer, bad input, fuzz,
# leaks, Arrow, kernels, merges, reliability). ASAN_ALL=1 runs the whole suite instead.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
out="$root/build/asan"
src="$out/src"
reports="$out/reports"
cd "$root"

asan_lib=$(gcc -print-file-name=libasan.so)
if [[ ! -e "$asan_lib" || "$asan_lib" != /* ]]; then
  echo "test:asan: gcc has no libasan.so (install the gcc sanitizer runtime, e.g. libasan8)" >&2
  exit 2
fi

# node-gyp: the one npm runs scripts with (on PATH under `npm run`), else npm's bundled copy.
if command -v node-gyp >/dev/null 2>&1; then
  gyp=(node-gyp)
else
  gyp=(node "$(dirname "$(dirname "$(readlink -f "$(command -v npm)")")")/node_modules/node-gyp/bin/node-gyp.js")
fi
nodedir=${npm_config_nodedir:-$(npm config get nodedir 2>/dev/null || true)}
gyp_args=()
if [[ -n "$nodedir" && "$nodedir" != "undefined" && "$nodedir" != "null" ]]; then gyp_args+=("--nodedir=$nodedir"); fi

# A private build tree: binding.gyp copied, the sources and node_modules linked.
mkdir -p "$src"
cp "$root/binding.gyp" "$src/binding.gyp"
ln -sfn "$root/cpp" "$src/cpp"
ln -sfn "$root/node_modules" "$src/node_modules"
san="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
echo "test:asan: building the sanitized addon in $src/build" >&2
if ! (cd "$src" && export CFLAGS="$san" CXXFLAGS="$san" LDFLAGS="-fsanitize=address,undefined" &&
      "${gyp[@]}" configure "${gyp_args[@]}" && "${gyp[@]}" build -j "${JOBS:-2}") >"$out/build.log" 2>&1; then
  tail -50 "$out/build.log" >&2
  echo "test:asan: the sanitized build failed (log: $out/build.log)" >&2
  exit 2
fi
addon="$src/build/Release/evolver.node"
[[ -f "$addon" ]] || { echo "test:asan: build produced no $addon" >&2; exit 2; }

if [[ $# -gt 0 ]]; then
  tests=("$@")
elif [[ "${ASAN_ALL:-0}" == 1 ]]; then
  tests=('test/**/*.test.ts')
else
  tests=(test/native-mapped-file.test.ts test/safetensors-reader.test.ts test/writer.test.ts test/bad-input.test.ts
         test/fuzz.test.ts test/leak.test.ts test/arrow.test.ts test/checkpoint.test.ts test/backends.test.ts
         'test/kernels/**/*.test.ts' 'test/merge/**/*.test.ts' 'test/reliability/**/*.test.ts')
fi

rm -rf "$reports"
mkdir -p "$reports"
status=0
echo "test:asan: mocha ${tests[*]}" >&2
LD_PRELOAD="$asan_lib${LD_PRELOAD:+:$LD_PRELOAD}" \
ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:handle_sigbus=1:detect_odr_violation=0:log_path=$reports/asan${ASAN_OPTIONS:+:$ASAN_OPTIONS}" \
UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:log_path=$reports/ubsan${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}" \
EVOLVER_NATIVE_ADDON="$addon" \
  "$root/node_modules/.bin/mocha" "${tests[@]}" || status=$?

shopt -s nullglob
found=("$reports"/*)
if [[ ${#found[@]} -gt 0 ]]; then
  for f in "${found[@]}"; do
    echo "===== sanitizer report: $f" >&2
    cat "$f" >&2
  done
  echo "test:asan: FAILED: ${#found[@]} sanitizer report(s)" >&2
  exit 1
fi
if [[ $status -ne 0 ]]; then
  echo "test:asan: FAILED: mocha exited with $status (no sanitizer report)" >&2
  exit "$status"
fi
echo "test:asan: clean (no sanitizer report; mocha passed)" >&2
