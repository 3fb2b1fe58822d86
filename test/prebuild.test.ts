/**
 * The prebuilt addon (prebuilds/, committed; `npm run prebuildify` makes it) is what an install
 * without a compiler loads, so it must match the C++ sources and must load and dispatch here.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { prebuiltFiles, readManifest, staleness } from '../scripts/prebuild-manifest.js';
import { ROOT } from './helpers.js';

describe('prebuilt addon', () => {
  it('matches binding.gyp, cpp/ and node-addon-api (else: npm run prebuildify, and commit prebuilds/)', () => {
    assert.deepEqual(staleness(), [], 'the committed prebuild is stale: run `npm run prebuildify` (needs g++, make, python3) and commit prebuilds/');
    assert.ok(Object.keys(readManifest()!.files).includes('linux-x64/evolver.glibc.node'), JSON.stringify(prebuiltFiles()));
  });

  it('is shipped: package.json lists prebuilds/ and installs with node-gyp-build (prebuild first, compile otherwise)', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { files: string[]; scripts: Record<string, string> };
    assert.ok(pkg.files.includes('prebuilds'));
    assert.equal(pkg.scripts.install, 'node-gyp-build');
    assert.ok(pkg.scripts.prebuildify);
  });

  it('loads without build/ (PREBUILDS_ONLY) and dispatches scalar / AVX2 / AVX-512 at run time, bit-identically', function () {
    if (process.platform !== 'linux' || process.arch !== 'x64') this.skip();
    const script = `
      const load = require('node-gyp-build');
      const file = load.resolve(${JSON.stringify(ROOT)});
      const addon = load(${JSON.stringify(ROOT)});
      const backends = addon.backends();
      const x = new Float32Array(4099).map((_, i) => Math.sin(i) * 1e3);
      const outs = [];
      const run = async () => {
        for (const b of backends.filter((b) => ['scalar', 'avx2', 'avx512'].includes(b.name) && b.available)) {
          const out = new Uint16Array(x.length);
          await addon.kernels.convert({ inDtype: 'F32', outDtype: 'BF16', n: x.length, src: x, out, backend: b.name });
          outs.push([b.name, Buffer.from(out.buffer).toString('base64')]);
        }
        console.log(JSON.stringify({ file, backends, best: addon.kernels.tableName(), outs }));
      };
      run().catch((e) => { console.error(e); process.exit(1); });`;
    const r = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8', env: { ...process.env, PREBUILDS_ONLY: '1' } });
    assert.equal(r.status, 0, r.stderr);
    const out = JSON.parse(r.stdout) as { file: string; backends: { name: string; available: boolean }[]; best: string; outs: [string, string][] };
    assert.equal(out.file, path.join(ROOT, 'prebuilds', 'linux-x64', 'evolver.glibc.node'));
    assert.deepEqual(out.backends.map((b) => b.name).slice(0, 3), ['scalar', 'avx2', 'avx512']);
    assert.ok(out.outs.length >= 1 && out.outs[0]![0] === 'scalar');
    for (const [name, bits] of out.outs) assert.equal(bits, out.outs[0]![1], `${name} gives the scalar bits`);
    console.log(`      loaded ${path.relative(ROOT, out.file)}; kernels: ${out.outs.map(([n]) => n).join(', ')} (best ${out.best})`);
  });
});
