#!/usr/bin/env bash
# Proves that the package installs and runs its main command without a compiler:
#   1. `npm pack` (runs `prepare`: TypeScript -> dist/) with the prebuilt addon in prebuilds/;
#   2. installs the tarball into a fresh temporary project with a PATH that holds only node,
#      npm, npx and a few coreutils (no g++, gcc, cc, c++, make, python: node-gyp cannot run);
#   3. checks that no build/ was made and that the loaded addon is the prebuilt one;
#   4. runs `npx evolver evolve` on a short copy of the bundled example (2 generations, a small
#      held-out table), the README's main command;
#   5. the same from a fresh clone: the repository's files (git ls-files: tracked, plus untracked
#      ones that are not ignored, so an uncommitted prebuild counts) copied without build/ or
#      node_modules/, then `npm ci` and a short `evolver evolve` there (CLONE=0 skips this).
#
#   bash scripts/check-no-compiler.sh          (KEEP=1 keeps the temporary folders)
#
# The npm registry must be reachable (or the npm cache warm) for the tarball's dependencies.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
work="$(mktemp -d "${TMPDIR:-/tmp}/evolver-no-compiler-XXXXXX")"
[ "${KEEP:-0}" = 1 ] || trap 'rm -rf "$work"' EXIT
say() { printf '\n== %s\n' "$*"; }

say "the prebuilt addon matches the C++ sources"
(cd "$root" && node --import tsx scripts/prebuild-manifest.ts check) || { echo "FAIL: run \`npm run prebuildify\` first"; exit 1; }

say "npm pack (prepare compiles TypeScript; prebuilds/ ships the addon)"
tarball="$(cd "$root" && npm pack --silent --pack-destination "$work" 2>/dev/null | tail -n 1)"
tarball="$work/$tarball"
ls -l "$tarball"
tar -tzf "$tarball" | grep -E '^package/(prebuilds/|dist/cli/main.js|binding.gyp)' | sort

if [ "${CLONE:-1}" = 1 ]; then
  clone="$work/clone"
  mkdir -p "$clone"
  (cd "$root" && git ls-files -z -co --exclude-standard | tar --null -T - --ignore-failed-read -cf - 2>/dev/null) | tar -xf - -C "$clone"
fi

say "a PATH without a compiler"
bin="$work/bin"
mkdir -p "$bin"
for tool in node npm npx; do ln -s "$(readlink -f "$(command -v "$tool")")" "$bin/$tool"; done
for tool in sh bash env cat ls mkdir rm cp mv ln chmod dirname basename readlink uname head tail grep sed sort tr wc date sleep true false tee find; do
  p="$(command -v "$tool" || true)"
  [ -n "$p" ] && ln -s "$p" "$bin/$tool"
done
export PATH="$bin"
unset PYTHON npm_config_python CC CXX npm_config_nodedir || true
for tool in g++ gcc cc c++ clang make cmake python3 python; do
  if command -v "$tool" >/dev/null 2>&1; then echo "FAIL: $tool is still on PATH ($(command -v "$tool"))"; exit 1; fi
done
echo "PATH=$PATH: $(ls "$bin" | tr '\n' ' ')"
echo "not found: g++ gcc cc c++ clang make cmake python3 python"

say "npm install the tarball into a fresh project"
proj="$work/project"
mkdir -p "$proj"
cd "$proj"
printf '{ "name": "evolver-no-compiler-check", "version": "1.0.0", "private": true, "type": "module" }\n' > package.json
# onnxruntime-node's install step would fetch optional GPU binaries; skip it (as the repository's .npmrc does).
printf 'onnxruntime-node-install=skip\n' > .npmrc
npm install --no-audit --no-fund --foreground-scripts "$tarball" > "$work/install.log" 2>&1 || { cat "$work/install.log"; echo "FAIL: npm install"; exit 1; }
grep -E 'evolver@|node-gyp-build|gyp|added [0-9]+ packages' "$work/install.log" | grep -v 'Unknown project config' || true
pkg="$proj/node_modules/evolver"
if [ -e "$pkg/build" ]; then echo "FAIL: $pkg/build exists: the addon was compiled"; exit 1; fi
echo "no build/ folder in node_modules/evolver: nothing was compiled"
node -e "const l = require(require.resolve('node-gyp-build', { paths: ['$pkg'] })); console.log('addon:', require('path').relative(process.cwd(), l.resolve('$pkg')))"
npx evolver backends

say "npx evolver evolve (the bundled example, 2 generations, a small held-out table)"
cp -R "$root/examples/fortunes" "$proj/fortunes"
cat > "$proj/fortunes/evolve-check.yaml" <<'YAML'
models:
  - models-bf16/computers.safetensors
  - models-bf16/politics.safetensors
  - models-bf16/science.safetensors
  - models-bf16/songs-poems.safetensors
output: ../runs/no-compiler
seed: 20240601
generations: 2
copy_files_from: .
fitness:
  type: onnx
  graph: lm.onnx
  metric: nll
  batch_size: 32
  data: [data/computers/dev.jsonl, data/politics/dev.jsonl, data/science/dev.jsonl, data/songs-poems/dev.jsonl]
final_table:
  sets: {computers: data/computers/test.jsonl, people: data/people/test.jsonl}
  in_domain: [computers]
  out_of_domain: [people]
  baselines: {base: models-bf16/base.safetensors}
  merges: {base: models-bf16/base.safetensors, average: true, task_arithmetic: [0.2]}
YAML
npx evolver evolve fortunes/evolve-check.yaml
ls "$proj/runs/no-compiler"
say "OK: installed from the npm pack tarball and ran \`evolver evolve\` with no compiler on PATH"

if [ "${CLONE:-1}" = 1 ]; then
  say "a fresh clone: npm ci (no compiler on PATH)"
  cd "$clone"
  ls prebuilds/linux-x64
  npm ci --no-audit --no-fund --foreground-scripts > "$work/clone-install.log" 2>&1 || { cat "$work/clone-install.log"; echo "FAIL: npm ci in the clone"; exit 1; }
  grep -E '^> |added [0-9]+ packages' "$work/clone-install.log" || true
  if [ -e build ]; then echo "FAIL: the clone has a build/ folder: the addon was compiled"; exit 1; fi
  echo "no build/ folder: nothing was compiled"
  node -e "console.log('addon:', require('path').relative(process.cwd(), require('node-gyp-build').resolve('.')))"
  sed -e 's/^generations: .*/generations: 2/' -e 's#^output: .*#output: ../../runs/clone-check#' examples/fortunes/evolve-distance.yaml > examples/fortunes/evolve-clone-check.yaml
  npx evolver evolve examples/fortunes/evolve-clone-check.yaml | tail -n 4
  say "OK: a fresh clone installed with npm ci and ran \`evolver evolve\` with no compiler on PATH"
fi
