import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { WeightFileError } from '../../lib/errors.js';
import { GgufFile } from '../../lib/store/gguf.js';
import { encodeGgufHeader, type GgufTensorHeader } from '../../lib/store/gguf-encode.js';
import type { GgufKV } from '../../lib/store/gguf-header.js';
import { ggmlTypeByName } from '../../lib/store/gguf-types.js';
import { kv } from '../../lib/store/gguf-writer.js';
import { assertWeightError, safetensorsBytes, tempDir } from '../helpers.js';
import { SMALL_PLAN, ggufBytes } from './gguf-fixtures.js';

const F32 = ggmlTypeByName('F32')!;

/** A file from raw tensor infos (offsets as given, however wrong), padded to 32, then `dataBytes` zeros. */
function raw(tensors: GgufTensorHeader[], dataBytes: number, kvs: GgufKV[] = [kv('general.architecture', 'string', 'llama')]): Uint8Array {
  const header = encodeGgufHeader(kvs, tensors, 'raw.gguf');
  const start = Math.ceil(header.length / 32) * 32;
  const out = new Uint8Array(start + dataBytes);
  out.set(header);
  return out;
}

/** The offset just after the key string `key` (where its u32 value type is). */
function afterKey(bytes: Uint8Array, key: string): number {
  const at = Buffer.from(bytes).indexOf(Buffer.from(key, 'utf8'));
  assert.ok(at > 0, key);
  return at + Buffer.byteLength(key);
}

describe('bad GGUF files: a typed error naming file and tensor or key, never a crash', () => {
  const dir = tempDir('evolver-gguf-bad-');
  let n = 0;
  const put = (bytes: Uint8Array) => {
    const file = path.join(dir, `bad-${n++}.gguf`);
    fs.writeFileSync(file, bytes);
    return file;
  };
  const open = (file: string) => () => GgufFile.open(file);
  const good = ggufBytes(SMALL_PLAN);

  it('an empty file, a foreign file, an obsolete or big-endian version', () => {
    const empty = put(new Uint8Array(0));
    assertWeightError(open(empty), 'EMPTY_FILE', empty);
    const st = put(safetensorsBytes({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, new Uint8Array(4)));
    assertWeightError(open(st), 'NOT_GGUF', st);
    for (const version of [1, 4, 0x03000000]) {
      const bytes = Uint8Array.from(good);
      new DataView(bytes.buffer).setUint32(4, version, true);
      const file = put(bytes);
      const e = assertWeightError(open(file), 'UNSUPPORTED_VERSION', file);
      if (version === 0x03000000) assert.match(e.message, /big-endian/);
    }
  });

  it('truncated anywhere: every prefix of a valid file is refused with a typed error', () => {
    for (let cut = 0; cut < good.length; cut += cut < 600 ? 1 : 17) {
      try {
        const file = path.join(dir, 'prefix.gguf');
        fs.writeFileSync(file, good.subarray(0, cut));
        GgufFile.open(file).close();
        // Only the last tensor's zero padding may be missing.
        assert.ok(cut >= good.length - 31, `a ${cut}-byte prefix of ${good.length} was accepted`);
      } catch (err) {
        if (!(err instanceof WeightFileError)) throw err;
      }
    }
    const lastData = put(good.subarray(0, good.length - 30));
    assertWeightError(open(lastData), 'TRUNCATED', lastData, 'scalar');
  });

  it('overlapping tensors, a gap between them, an unaligned offset, trailing bytes', () => {
    const a = { name: 'a', type: F32, dims: [16] };
    const overlap = put(raw([{ ...a, offset: 0 }, { name: 'b', type: F32, dims: [4], offset: 32 }, { name: 'c', type: F32, dims: [8], offset: 0 }], 64));
    assertWeightError(open(overlap), 'OFFSET_OVERLAP', overlap, 'a');
    const gap = put(raw([{ ...a, offset: 0 }, { name: 'b', type: F32, dims: [4], offset: 128 }], 144));
    assertWeightError(open(gap), 'OFFSET_GAP', gap, 'b');
    const unaligned = put(raw([{ ...a, offset: 4 }], 68));
    assertWeightError(open(unaligned), 'BAD_ALIGNMENT', unaligned, 'a');
    const trailing = put(raw([{ ...a, offset: 0 }], 64 + 32));
    assertWeightError(open(trailing), 'TRAILING_BYTES', trailing);
    const past = put(raw([{ ...a, offset: 0 }], 60));
    assertWeightError(open(past), 'TRUNCATED', past, 'a');
  });

  it('a string length past the end of the file', () => {
    const bytes = Uint8Array.from(good);
    new DataView(bytes.buffer).setBigUint64(afterKey(bytes, 'general.name') + 4, 1n << 50n, true);
    const file = put(bytes);
    const e = assertWeightError(open(file), 'TRUNCATED', file);
    assert.equal(e.key, 'general.name');
    assert.match(e.message, /key 'general.name'/);
  });

  it('an array length past the end, arrays nested too deep', () => {
    const bytes = Uint8Array.from(good);
    new DataView(bytes.buffer).setBigUint64(afterKey(bytes, 't.floats') + 8, 1n << 40n, true);
    const file = put(bytes);
    assert.equal(assertWeightError(open(file), 'TRUNCATED', file).key, 't.floats');
    let deep: GgufKV['value'] = { itemType: 'int32', items: new Int32Array([1]) };
    for (let i = 0; i < 12; i++) deep = { itemType: 'array', items: [deep] };
    const nested = put(raw([], 0, [kv('deep', 'array', deep)]));
    assert.equal(assertWeightError(open(nested), 'BAD_KV', nested).key, 'deep');
  });

  it('an unknown value type, a bool that is not 0 or 1, a key that is not UTF-8, a duplicate key', () => {
    const bytes = Uint8Array.from(good);
    new DataView(bytes.buffer).setUint32(afterKey(bytes, 't.u8'), 13, true);
    const file = put(bytes);
    const e = assertWeightError(open(file), 'UNKNOWN_VALUE_TYPE', file);
    assert.equal(e.key, 't.u8');
    const b = Uint8Array.from(good);
    b[afterKey(b, 't.bool') + 4] = 2;
    const bool = put(b);
    assert.equal(assertWeightError(open(bool), 'BAD_KV', bool).key, 't.bool');
    const u = Uint8Array.from(good);
    u[afterKey(u, 't.i16') - 1] = 0xff;
    const utf = put(u);
    assertWeightError(open(utf), 'BAD_KV', utf);
    const dupKeys = put(raw([], 0, [kv('same', 'uint8', 1)]));
    const twice = fs.readFileSync(dupKeys);
    // Same pair twice: bump kv_count and append the pair's bytes again.
    const pair = twice.subarray(24, twice.length);
    const withTwo = Buffer.concat([twice.subarray(0, 24), pair.subarray(0, 8 + 4 + 4 + 1), pair.subarray(0, 8 + 4 + 4 + 1)]);
    withTwo.writeBigUInt64LE(2n, 16);
    const dupFile = put(withTwo);
    assert.equal(assertWeightError(open(dupFile), 'DUPLICATE_KEY', dupFile).key, 'same');
  });

  it('an unknown ggml tensor type, a quantized row that is not whole blocks, too many dims, a duplicate name', () => {
    const unknown = put(raw([{ name: 'w', type: { ...F32, id: 4 }, dims: [4], offset: 0 }], 32));
    const e = assertWeightError(open(unknown), 'UNKNOWN_TENSOR_TYPE', unknown, 'w');
    assert.match(e.message, /type 4/);
    const q = put(raw([{ name: 'q', type: ggmlTypeByName('Q4_0')!, dims: [40, 2], offset: 0 }], 64));
    assertWeightError(open(q), 'BAD_SHAPE', q, 'q');
    const bytes = raw([{ name: 'w', type: F32, dims: [1, 1, 1, 1], offset: 0 }], 32);
    new DataView(bytes.buffer).setUint32(afterKey(bytes, 'w'), 5, true);
    const dims = put(bytes);
    assertWeightError(open(dims), 'BAD_SHAPE', dims, 'w');
    const dup = put(raw([{ name: 'w', type: F32, dims: [8], offset: 0 }, { name: 'w', type: F32, dims: [8], offset: 32 }], 64));
    assertWeightError(open(dup), 'DUPLICATE_TENSOR', dup, 'w');
    const huge = put(raw([{ name: 'w', type: F32, dims: [2 ** 40, 2 ** 12], offset: 0 }], 32));
    assertWeightError(open(huge), 'TRUNCATED', huge, 'w');
  });

  it('a tensor count or key count of 2^40 is refused before anything is allocated', () => {
    for (const at of [8, 16]) {
      const bytes = Uint8Array.from(good);
      new DataView(bytes.buffer).setBigUint64(at, 1n << 40n, true);
      const file = put(bytes);
      const err = assertWeightError(open(file), 'COUNT_TOO_LARGE', file);
      assert.match(err.message, /1099511627776/);
    }
  });

  it('a general.alignment that is not a uint32 power of two', () => {
    for (const entry of [kv('general.alignment', 'uint32', 0), kv('general.alignment', 'uint32', 24), kv('general.alignment', 'uint64', 32n)]) {
      const file = put(raw([], 0, [entry]));
      assert.equal(assertWeightError(open(file), 'BAD_ALIGNMENT', file).key, 'general.alignment');
    }
  });
});
