import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { WeightFileError } from '../../lib/errors.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { GgufFile } from '../../lib/store/gguf.js';
import { parseGgufHeader } from '../../lib/store/gguf-header.js';
import { copyGguf, kv, layoutGguf, withKV, writeGguf } from '../../lib/store/gguf-writer.js';
import { assertWeightError, tempDir } from '../helpers.js';
import { ALL_KV, SMALL_PLAN, ggufBytes, pattern } from './gguf-fixtures.js';

/** A GGUF file written byte by byte from the spec, independently of the library's encoder. */
function handMade(version: number, padEnd = true): Uint8Array {
  const parts: number[] = [];
  const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32LE(v); parts.push(...b); };
  const u64 = (v: number) => { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(v)); parts.push(...b); };
  const str = (s: string) => { const b = Buffer.from(s, 'utf8'); u64(b.length); parts.push(...b); };
  parts.push(0x47, 0x47, 0x55, 0x46);  // "GGUF"
  u32(version);
  u64(2);  // tensors
  u64(2);  // kv
  str('general.alignment'); u32(4); u32(64);
  str('general.architecture'); u32(8); str('gpt2');
  // w: ggml ne = [3, 2] (3 contiguous), F32 -> shape [2, 3]; then b: F16 ne = [5], 10 bytes.
  str('w'); u32(2); u64(3); u64(2); u32(0); u64(0);
  str('b'); u32(1); u64(5); u32(1); u64(64);
  while (parts.length % 64 !== 0) parts.push(0);
  const data = new Float32Array([1, 2, 3, 4, 5, 6]);
  parts.push(...new Uint8Array(data.buffer));
  while (parts.length % 64 !== 0) parts.push(0);
  parts.push(...new Uint8Array(new Uint16Array([0x3c00, 0x4000, 0x4200, 0x4400, 0x4500]).buffer));
  // gguf-py and llama.cpp pad the last tensor too; a file that stops right after it is read as well.
  while (padEnd && parts.length % 64 !== 0) parts.push(0);
  return Uint8Array.from(parts);
}

describe('GGUF reader', () => {
  const dir = tempDir('evolver-gguf-');

  it('reads a file built byte by byte from the spec (v3 and v2): shapes outermost first, values, alignment', () => {
    for (const version of [2, 3]) {
      const file = path.join(dir, `hand-v${version}.gguf`);
      fs.writeFileSync(file, handMade(version, version === 3));
      using g = GgufFile.open(file);
      assert.equal(g.version, version);
      assert.equal(g.alignment, 64);
      assert.equal(g.architecture, 'gpt2');
      assert.equal(g.dataStart % 64, 0);
      assert.deepEqual(g.headerNames(), ['w', 'b']);
      assert.deepEqual(g.names(), ['b', 'w']);
      const w = g.info('w');
      assert.deepEqual(w.dims, [3, 2]);
      assert.deepEqual(w.shape, [2, 3]);
      assert.equal(w.ggmlType, 'F32');
      assert.deepEqual([...(g.view('w') as Float32Array)], [1, 2, 3, 4, 5, 6]);
      assert.equal(g.meta('b').dtype, 'F16');
      assert.deepEqual([...(g.view('b') as Uint16Array)], [0x3c00, 0x4000, 0x4200, 0x4400, 0x4500]);
      assert.equal(g.info('b').fileOffset, g.dataStart + 64);
      assert.deepEqual(g.metadata, { 'general.alignment': '64', 'general.architecture': 'gpt2' });
    }
  });

  it('keeps every metadata value type, typed (64-bit integers as bigint, arrays as typed arrays)', () => {
    const bytes = ggufBytes(SMALL_PLAN);
    const parsed = parseGgufHeader(bytes, bytes.length, 'x.gguf');
    assert.equal(parsed.kv.length, ALL_KV.length);
    for (const [i, e] of ALL_KV.entries()) {
      const got = parsed.kv[i]!;
      assert.equal(got.key, e.key);
      assert.equal(got.type, e.type);
      if (e.type === 'float32') assert.equal(got.value, Math.fround(e.value as number));
      else assert.deepEqual(got.value, e.value, e.key);
    }
    assert.equal(typeof parsed.kv.find((e) => e.key === 't.u64')!.value, 'bigint');
  });

  it('derives byte sizes from type and shape, aligns every tensor, and exposes quantized ones as carried bytes', () => {
    const file = path.join(dir, 'small.gguf');
    fs.writeFileSync(file, ggufBytes(SMALL_PLAN));
    using g = GgufFile.open(file);
    const sizes = Object.fromEntries(g.tensors().map((t) => [t.name, t.byteLength]));
    // Q8_0: blocks of 32 elements in 34 bytes; [2, 64] = 4 blocks.
    assert.deepEqual(sizes, { 'token_embd.weight': 60, 'blk.0.attn_norm.weight': 6, 'blk.0.ffn_up.weight': 12, 'blk.0.ffn_down.weight': 136, empty: 0, scalar: 4 });
    for (const t of g.tensors()) assert.equal(t.offset % 32, 0, t.name);
    assert.deepEqual(g.info('blk.0.ffn_up.weight').dims, [1, 3, 2]);
    const q = g.meta('blk.0.ffn_down.weight');
    assert.deepEqual(q, { name: 'blk.0.ffn_down.weight', dtype: 'U8', shape: [136], elements: 136, byteLength: 136, storage: 'Q8_0' });
    assert.equal(g.info('blk.0.ffn_down.weight').evolvable, false);
    assertWeightError(() => g.requireEvolvable('blk.0.ffn_down.weight'), 'NOT_EVOLVABLE', file, 'blk.0.ffn_down.weight');
    assert.match((() => { try { g.requireEvolvable('blk.0.ffn_down.weight'); } catch (e) { return (e as Error).message; } return ''; })(), /Q8_0 .*carried unchanged/);
    g.requireEvolvable('token_embd.weight');
    g.requireEvolvable('blk.0.attn_norm.weight');
    assert.deepEqual(g.bytes('blk.0.ffn_down.weight'), pattern('blk.0.ffn_down.weight', 136));
    assert.equal(g.meta('scalar').elements, 1);
    assert.deepEqual(g.meta('scalar').shape, []);
    assert.equal(g.metadata['t.u64'], String(2n ** 63n + 5n));
    assert.equal(g.metadata['t.bool'], 'true');
    assert.equal(g.metadata['t.strings'], undefined, 'arrays are not string metadata');
  });

  it('hands out zero-copy views of the mapping, detached when the file closes', () => {
    const file = path.join(dir, 'views.gguf');
    fs.writeFileSync(file, ggufBytes(SMALL_PLAN));
    const g = GgufFile.open(file);
    const v = g.view('token_embd.weight');
    assert.ok(g.bytes('token_embd.weight').buffer === v.buffer, 'one ArrayBuffer per tensor');
    const raw = fs.readFileSync(file);
    const t = g.info('token_embd.weight');
    assert.deepEqual(new Uint8Array(v.buffer), new Uint8Array(raw.subarray(t.fileOffset, t.fileOffset + t.byteLength)));
    g.close();
    assert.equal(v.buffer.byteLength, 0);
    assertWeightError(() => g.view('token_embd.weight'), 'CLOSED', file, 'token_embd.weight');
  });
});

describe('GGUF writer', () => {
  const dir = tempDir('evolver-gguf-w-');

  it('read -> write -> read is byte-identical, data and key/value pairs (also for a file it did not write)', () => {
    const hand = path.join(dir, 'hand.gguf');
    fs.writeFileSync(hand, handMade(3));
    const small = path.join(dir, 'small.gguf');
    writeGguf(small, SMALL_PLAN, (name) => pattern(name, layoutGguf(SMALL_PLAN, small).tensors.find((t) => t.name === name)!.byteLength));
    for (const src of [hand, small]) {
      const copy = `${src}.copy.gguf`;
      {
        using g = GgufFile.open(src);
        copyGguf(g, copy);
      }
      assert.deepEqual(fs.readFileSync(copy), fs.readFileSync(src), `${path.basename(src)} round trip`);
      using a = GgufFile.open(src);
      using b = GgufFile.open(copy);
      assert.deepEqual(b.kv, a.kv);
      for (const name of a.names()) assert.deepEqual(b.bytes(name), a.bytes(name));
    }
    assert.equal(fs.readdirSync(dir).filter((f) => f.includes('.tmp-')).length, 0, 'no temporary file left');
  });

  it('pads to the alignment of the template (general.alignment), with zero bytes', () => {
    const plan = { kv: withKV(ALL_KV, [kv('general.alignment', 'uint32', 128)]), tensors: [{ name: 'a', type: 'F32', shape: [3] }, { name: 'b', type: 'BF16', shape: [7] }] };
    const file = path.join(dir, 'aligned.gguf');
    writeGguf(file, plan, (name) => new Uint8Array(name === 'a' ? 12 : 14).fill(0xab));
    const raw = fs.readFileSync(file);
    assert.equal(raw.length % 128, 0);
    using g = GgufFile.open(file);
    assert.equal(g.alignment, 128);
    assert.equal(g.dataStart % 128, 0);
    assert.equal(g.info('b').offset, 128);
    const a = g.info('a');
    assert.ok(raw.subarray(a.fileOffset + 12, g.info('b').fileOffset).every((x) => x === 0), 'padding is zeros');
  });

  it('withKV replaces in place, appends new keys and removes', () => {
    const out = withKV([kv('a', 'uint32', 1), kv('b', 'string', 'x'), kv('c', 'bool', false)], [kv('b', 'string', 'y'), kv('d', 'int32', -1), { key: 'a', remove: true }]);
    assert.deepEqual(out.map((e) => `${e.key}=${String(e.value)}`), ['b=y', 'c=false', 'd=-1']);
  });

  it('refuses plans llama.cpp could not load, with typed errors naming the tensor or key', () => {
    const file = path.join(dir, 'refused.gguf');
    const write = (tensors: { name: string; type: string; shape: number[] }[], kvs = ALL_KV) => () => writeGguf(file, { kv: kvs, tensors }, () => new Uint8Array(0));
    assertWeightError(write([{ name: 'q', type: 'Q4_K', shape: [2, 100] }]), 'BAD_SHAPE', file, 'q');
    assertWeightError(write([{ name: 'x', type: 'F12', shape: [1] }]), 'UNKNOWN_TENSOR_TYPE', file, 'x');
    assertWeightError(write([{ name: 'x', type: 'F32', shape: [1] }, { name: 'x', type: 'F32', shape: [1] }]), 'DUPLICATE_TENSOR', file, 'x');
    assertWeightError(write([{ name: 'x', type: 'F32', shape: [1, 1, 1, 1, 1] }]), 'BAD_SHAPE', file, 'x');
    assertWeightError(write([{ name: 'n'.repeat(64), type: 'F32', shape: [1] }]), 'BAD_ENTRY', file, 'n'.repeat(64));
    const e = assertWeightError(write([], [kv('general.alignment', 'uint32', 48)]), 'BAD_ALIGNMENT', file);
    assert.equal(e.key, 'general.alignment');
    assertWeightError(write([], [kv('k', 'uint32', 1), kv('k', 'uint32', 2)]), 'DUPLICATE_KEY', file);
    assertWeightError(write([{ name: 'x', type: 'F32', shape: [2] }]), 'SIZE_MISMATCH', file, 'x');
    assert.ok(!fs.existsSync(file));
    assert.ok(new WeightFileError('BAD_KV', 'f', 'd', { key: 'k' }).message.startsWith("f: key 'k': "));
  });
});

describe('openWeights on a GGUF file', () => {
  it('is a weight set over the GGUF: names, metadata and zero-copy views as GgufFile gives them', () => {
    const dir = tempDir();
    const file = path.join(dir, 'small.gguf');
    fs.writeFileSync(file, ggufBytes(SMALL_PLAN));
    const noSuffix = path.join(dir, 'small.weights');
    fs.copyFileSync(file, noSuffix);
    for (const f of [file, noSuffix]) {  // found by its magic too, whatever its name
      using set = openWeights(f);
      const g = GgufFile.open(f);
      try {
        assert.equal(set.format, 'gguf');
        assert.deepEqual(set.names(), g.names());
        assert.equal(set.metadata['general.architecture'], 'llama');
        for (const n of g.names()) {
          assert.deepEqual(set.meta(n), g.meta(n));
          assert.ok(Buffer.from(set.bytes(n)).equals(Buffer.from(g.bytes(n))), n);
        }
        assert.equal(set.meta('blk.0.ffn_down.weight').storage, 'Q8_0');  // quantized: raw bytes, carried
        assert.equal(set.fileOf('token_embd.weight').path, f);
      } finally {
        g.close();
      }
    }
  });

  it('a damaged GGUF is the GGUF reader\'s typed error', () => {
    const dir = tempDir();
    const file = path.join(dir, 'cut.gguf');
    fs.writeFileSync(file, ggufBytes(SMALL_PLAN).subarray(0, 40));
    assert.throws(() => openWeights(file), (e: unknown) => e instanceof WeightFileError && e.file === file);
  });
});
