import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';

import { openWeights } from '../lib/store/checkpoint.js';
import { writeCheckpoint } from '../lib/store/write-checkpoint.js';
import { BF16_BASE, ROOT, safetensorsBytes, tempDir, writeTemp } from './helpers.js';

/** Runs the CLI from source (the same code `bin/evolver.js` runs once built). */
function evolver(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, signal: r.signal, stdout: r.stdout, stderr: r.stderr };
}

describe('evolver inspect', () => {
  it('--json describes a single file with the stable fields', () => {
    const r = evolver('inspect', BF16_BASE, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.deepEqual(Object.keys(out).slice(0, 6), ['path', 'format', 'parameters', 'bytes', 'shards', 'tensors']);
    assert.equal(out.format, 'safetensors');
    assert.equal(out.parameters, 842_624);
    assert.equal(out.bytes, 842_624 * 2);
    assert.equal(out.tensors.length, 52);
    const wte = out.tensors.find((t: { name: string }) => t.name === 'transformer.wte.weight');
    assert.deepEqual(wte, { name: 'transformer.wte.weight', dtype: 'BF16', shape: [257, 128], bytes: 257 * 128 * 2, file: 'base.safetensors' });
  });

  it('describes a sharded folder written by the writer, with its shard layout', () => {
    const dir = tempDir();
    using src = openWeights(BF16_BASE);
    writeCheckpoint(src, dir, { maxShardBytes: 500_000 });
    const r = evolver('inspect', dir, '--json');
    assert.equal(r.code, 0, r.stderr);
    const out = JSON.parse(r.stdout);
    assert.equal(out.format, 'sharded');
    assert.equal(out.shards.length, 4);
    assert.equal(out.parameters, 842_624);
    assert.ok(out.tensors.every((t: { file: string }) => /^model-0000[1-4]-of-00004\.safetensors$/.test(t.file)));
    const table = evolver('inspect', dir);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /sharded \(4 shards\)/);
    assert.match(table.stdout, /842,624/);
  });

  it('a bad file: exit code 2 and one line on stderr naming the file, the tensor and the defect', () => {
    const dir = tempDir();
    const file = writeTemp(dir, 'bad.safetensors', safetensorsBytes({ 'layer.0.weight': { dtype: 'F32', shape: [4], data_offsets: [0, 12] } }, new Uint8Array(12)));
    const r = evolver('inspect', file, '--json');
    assert.equal(r.code, 2);
    assert.equal(r.signal, null);
    assert.equal(r.stdout, '');
    const lines = r.stderr.trimEnd().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.ok(lines[0]!.includes(file) && lines[0]!.includes('layer.0.weight') && lines[0]!.includes('SIZE_MISMATCH'), lines[0]);
    assert.ok(!r.stderr.includes('    at '), 'no stack trace');
  });

  it('a missing path and a pickle also exit 2 with one line', () => {
    const missing = evolver('inspect', '/nonexistent/model');
    assert.equal(missing.code, 2);
    assert.equal(missing.stderr.trimEnd().split('\n').length, 1);
    const dir = tempDir();
    const pickle = writeTemp(dir, 'pytorch_model.bin', new Uint8Array([0x80, 2]));
    const r = evolver('inspect', pickle);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /PICKLE.*safetensors/);
  });
});

describe('evolver backends', () => {
  it('lists scalar, avx2, avx512, neon and cuda with availability', () => {
    const r = evolver('backends', '--json');
    assert.equal(r.code, 0, r.stderr);
    const list = JSON.parse(r.stdout) as { name: string; available: boolean; reason?: string }[];
    assert.deepEqual(list.map((b) => b.name), ['scalar', 'avx2', 'avx512', 'neon', 'cuda']);
    assert.equal(list[0]!.available, true);
    for (const b of list) if (!b.available) assert.ok(b.reason && b.reason.length > 0, `${b.name} says why it is unavailable`);
  });
});
