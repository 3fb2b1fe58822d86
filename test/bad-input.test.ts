import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { openWeights } from '../lib/store/checkpoint.js';
import { SafetensorsFile } from '../lib/store/safetensors.js';
import { writeCheckpoint } from '../lib/store/write-checkpoint.js';
import { F32_BASE, assertWeightError, safetensorsBytes, tempDir, writeTemp } from './helpers.js';

const f32 = (n: number) => new Uint8Array(new Float32Array(n).fill(1.5).buffer);

describe('bad safetensors files: a typed error naming file and tensor, never a crash', () => {
  const dir = tempDir('evolver-bad-');
  const put = (name: string, bytes: Uint8Array | string) => writeTemp(dir, name, bytes);
  const open = (file: string) => () => SafetensorsFile.open(file);

  it('an empty file', () => {
    const file = put('empty.safetensors', new Uint8Array(0));
    assertWeightError(open(file), 'EMPTY_FILE', file);
  });

  it('a file shorter than the 8-byte length', () => {
    const file = put('short.safetensors', new Uint8Array([1, 2, 3]));
    assertWeightError(open(file), 'TOO_SHORT', file);
  });

  it('a header length beyond the file', () => {
    const bytes = safetensorsBytes({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(1));
    new DataView(bytes.buffer).setBigUint64(0, 4096n, true);
    const file = put('beyond.safetensors', bytes);
    assertWeightError(open(file), 'HEADER_OUT_OF_BOUNDS', file);
  });

  it('a header length above the 100 MB cap', () => {
    const bytes = new Uint8Array(64);
    new DataView(bytes.buffer).setBigUint64(0, 100_000_001n, true);
    const file = put('cap.safetensors', bytes);
    assertWeightError(open(file), 'HEADER_TOO_LARGE', file);
    new DataView(bytes.buffer).setBigUint64(0, 0xffffffffffffffffn, true);
    const file2 = put('cap2.safetensors', bytes);
    assertWeightError(open(file2), 'HEADER_TOO_LARGE', file2);
  });

  it('a header that is not UTF-8', () => {
    const bytes = safetensorsBytes('{"a":1}');
    bytes[9] = 0xff;
    const file = put('utf8.safetensors', bytes);
    assertWeightError(open(file), 'HEADER_NOT_UTF8', file);
  });

  it('JSON that is not an object, and text that is not JSON', () => {
    const arr = put('array.safetensors', safetensorsBytes('[1,2,3]'));
    assertWeightError(open(arr), 'HEADER_NOT_OBJECT', arr);
    const str = put('string.safetensors', safetensorsBytes('"weights"'));
    assertWeightError(open(str), 'HEADER_NOT_OBJECT', str);
    const junk = put('junk.safetensors', safetensorsBytes('{"a": '));
    assertWeightError(open(junk), 'HEADER_NOT_JSON', junk);
  });

  it('an unknown dtype', () => {
    const file = put('dtype.safetensors', safetensorsBytes({ w: { dtype: 'F12', shape: [1], data_offsets: [0, 4] } }, f32(1)));
    assertWeightError(open(file), 'UNKNOWN_DTYPE', file, 'w');
  });

  it('an entry missing a field or with a field of the wrong type', () => {
    const noShape = put('noshape.safetensors', safetensorsBytes({ w: { dtype: 'F32', data_offsets: [0, 4] } }, f32(1)));
    assertWeightError(open(noShape), 'BAD_ENTRY', noShape, 'w');
    const badShape = put('badshape.safetensors', safetensorsBytes({ w: { dtype: 'F32', shape: [-1], data_offsets: [0, 4] } }, f32(1)));
    assertWeightError(open(badShape), 'BAD_SHAPE', badShape, 'w');
    const floatShape = put('floatshape.safetensors', safetensorsBytes({ w: { dtype: 'F32', shape: [1.5], data_offsets: [0, 4] } }, f32(1)));
    assertWeightError(open(floatShape), 'BAD_SHAPE', floatShape, 'w');
    const badOffsets = put('badoffsets.safetensors', safetensorsBytes({ w: { dtype: 'F32', shape: [1], data_offsets: [0] } }, f32(1)));
    assertWeightError(open(badOffsets), 'BAD_OFFSETS', badOffsets, 'w');
    const reversed = put('reversed.safetensors', safetensorsBytes({ w: { dtype: 'F32', shape: [0], data_offsets: [4, 0] } }, f32(1)));
    assertWeightError(open(reversed), 'BAD_OFFSETS', reversed, 'w');
    const notObject = put('notobject.safetensors', safetensorsBytes({ w: 7 }));
    assertWeightError(open(notObject), 'BAD_ENTRY', notObject, 'w');
  });

  it('a byte size that does not match dtype x shape (also when the product overflows)', () => {
    const file = put('size.safetensors', safetensorsBytes({ w: { dtype: 'F32', shape: [3], data_offsets: [0, 8] } }, f32(2)));
    assertWeightError(open(file), 'SIZE_MISMATCH', file, 'w');
    const huge = put('huge.safetensors', safetensorsBytes({ w: { dtype: 'F32', shape: [2 ** 40, 2 ** 40], data_offsets: [0, 8] } }, f32(2)));
    assertWeightError(open(huge), 'SIZE_MISMATCH', huge, 'w');
  });

  it('offsets out of range (truncated data)', () => {
    const bytes = safetensorsBytes({ a: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }, f32(4));
    const file = put('truncated.safetensors', bytes.subarray(0, bytes.length - 3));
    assertWeightError(open(file), 'TRUNCATED', file, 'a');
  });

  it('overlapping offsets', () => {
    const file = put('overlap.safetensors', safetensorsBytes({
      a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] },
    }, f32(3)));
    assertWeightError(open(file), 'OFFSET_OVERLAP', file, 'b');
  });

  it('a gap between tensors, or data not starting at 0', () => {
    const gap = put('gap.safetensors', safetensorsBytes({
      a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      b: { dtype: 'F32', shape: [1], data_offsets: [8, 12] },
    }, f32(3)));
    assertWeightError(open(gap), 'OFFSET_GAP', gap, 'b');
    const late = put('late.safetensors', safetensorsBytes({ a: { dtype: 'F32', shape: [1], data_offsets: [4, 8] } }, f32(2)));
    assertWeightError(open(late), 'OFFSET_GAP', late, 'a');
  });

  it('trailing bytes after the last tensor (polyglot files)', () => {
    const file = put('trailing.safetensors', safetensorsBytes({ a: { dtype: 'F32', shape: [1], data_offsets: [0, 4] } }, f32(2)));
    assertWeightError(open(file), 'TRAILING_BYTES', file);
  });

  it('duplicate names (which JSON.parse would silently collapse)', () => {
    const header = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    const file = put('dup.safetensors', safetensorsBytes(header, f32(1)));
    assertWeightError(open(file), 'DUPLICATE_TENSOR', file, 'a');
    // An escaped spelling of the same name is the same name.
    const escaped = '{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"\\u0061":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    const file2 = put('dup2.safetensors', safetensorsBytes(escaped, f32(1)));
    assertWeightError(open(file2), 'DUPLICATE_TENSOR', file2, 'a');
  });

  it('__metadata__ with a value that is not a string', () => {
    const file = put('meta.safetensors', safetensorsBytes({ __metadata__: { epoch: 3 } }));
    assertWeightError(open(file), 'BAD_METADATA', file);
  });

  it('a directory where a file is expected, and a missing file', () => {
    const sub = path.join(dir, 'folder.safetensors');
    fs.mkdirSync(sub, { recursive: true });
    assertWeightError(open(sub), 'IS_DIRECTORY', sub);
    const missing = path.join(dir, 'missing.safetensors');
    assertWeightError(open(missing), 'NOT_FOUND', missing);
  });

  it('pickled checkpoints are refused with a conversion hint, without being read', () => {
    for (const ext of ['.bin', '.pt', '.pth', '.ckpt']) {
      const file = put(`pytorch_model${ext}`, new Uint8Array([0x80, 0x02, 0x7d]));
      const err = assertWeightError(() => openWeights(file), 'PICKLE', file);
      assert.match(err.message, /safetensors/);
      assert.match(err.message, /save_file/);
    }
    const folder = path.join(dir, 'pickled-model');
    fs.mkdirSync(folder);
    writeTemp(folder, 'pytorch_model.bin', new Uint8Array([0x80, 0x02]));
    assertWeightError(() => openWeights(folder), 'PICKLE', folder);
    // A torch.save zip renamed to .safetensors: the error says what it looks like.
    const zip = put('renamed.safetensors', new Uint8Array([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0, 1, 2, 3]));
    const err = assertWeightError(open(zip), 'HEADER_OUT_OF_BOUNDS', zip);
    assert.match(err.message, /torch\.save zip/);
  });

  it('a closed file refuses access with CLOSED', () => {
    const file = SafetensorsFile.open(F32_BASE);
    file.close();
    assertWeightError(() => file.view('transformer.wte.weight'), 'CLOSED', F32_BASE, 'transformer.wte.weight');
  });
});

describe('bad sharded checkpoints', () => {
  function shardedCopy(): string {
    const dir = tempDir('evolver-shards-');
    using set = openWeights(F32_BASE);
    writeCheckpoint(set, dir, { maxShardBytes: 1_000_000 });
    return dir;
  }
  const indexOf = (dir: string) => JSON.parse(fs.readFileSync(path.join(dir, 'model.safetensors.index.json'), 'utf8'));
  const saveIndex = (dir: string, index: unknown) => fs.writeFileSync(path.join(dir, 'model.safetensors.index.json'), JSON.stringify(index));

  it('a missing shard is reported when the folder is opened', () => {
    const dir = shardedCopy();
    fs.rmSync(path.join(dir, 'model-00002-of-00004.safetensors'));
    assertWeightError(() => openWeights(dir), 'MISSING_SHARD', path.join(dir, 'model-00002-of-00004.safetensors'));
  });

  it('a tensor the index puts in one shard but which sits in another', () => {
    const dir = shardedCopy();
    const index = indexOf(dir);
    const [name, shard] = Object.entries(index.weight_map as Record<string, string>).find(([, s]) => s.includes('00001'))!;
    index.weight_map[name] = 'model-00002-of-00004.safetensors';
    saveIndex(dir, index);
    const err = assertWeightError(() => openWeights(dir), 'SHARD_MISMATCH', path.join(dir, shard), name);
    assert.match(err.message, /assigned to model-00002/);
  });

  it('a tensor present in two shards', () => {
    const dir = shardedCopy();
    // Replace shard 2 by a file that also holds a tensor of shard 1.
    const index = indexOf(dir);
    const first = Object.entries(index.weight_map as Record<string, string>).find(([, s]) => s.includes('00001'))![0];
    const bytes = safetensorsBytes({
      extra: { dtype: 'F32', shape: [1], data_offsets: [0, 4] },
      [first]: { dtype: 'F32', shape: [1], data_offsets: [4, 8] },
    }, f32(2));
    fs.writeFileSync(path.join(dir, 'model-00002-of-00004.safetensors'), bytes);
    for (const [n, s] of Object.entries(index.weight_map as Record<string, string>)) if (s.includes('00002')) delete index.weight_map[n];
    index.weight_map.extra = 'model-00002-of-00004.safetensors';
    saveIndex(dir, index);
    assertWeightError(() => openWeights(dir), 'SHARD_MISMATCH', path.join(dir, 'model-00002-of-00004.safetensors'), first);
  });

  it('shard paths leaving the folder: "..", absolute (a symlink on disk is followed: see test/reliability/hub-cache-symlinks.test.ts)', () => {
    const dir = shardedCopy();
    const indexPath = path.join(dir, 'model.safetensors.index.json');
    const index = indexOf(dir);
    const name = Object.keys(index.weight_map)[0]!;
    for (const bad of ['../outside.safetensors', 'sub/../../x.safetensors', '/etc/passwd']) {
      saveIndex(dir, { ...index, weight_map: { ...index.weight_map, [name]: bad } });
      const err = assertWeightError(() => openWeights(dir), 'PATH_ESCAPE', indexPath);
      assert.ok(err.message.includes(bad));
    }
    const outside = tempDir('evolver-outside-');
    fs.copyFileSync(path.join(dir, 'model-00001-of-00004.safetensors'), path.join(outside, 'shard.safetensors'));
    fs.rmSync(path.join(dir, 'model-00001-of-00004.safetensors'));
    fs.symlinkSync(path.join(outside, 'shard.safetensors'), path.join(dir, 'model-00001-of-00004.safetensors'));
    saveIndex(dir, index);
    // The user's own link (as in a hub cache) is followed; the index alone cannot point outside.
    openWeights(dir).close();
  });

  it('an index that is not JSON or has no weight_map', () => {
    const dir = shardedCopy();
    const indexPath = path.join(dir, 'model.safetensors.index.json');
    fs.writeFileSync(indexPath, '{not json');
    assertWeightError(() => openWeights(dir), 'INDEX_INVALID', indexPath);
    fs.writeFileSync(indexPath, '{"metadata": {}}');
    assertWeightError(() => openWeights(dir), 'INDEX_INVALID', indexPath);
  });

  it('a folder without weights', () => {
    const dir = tempDir('evolver-noweights-');
    assertWeightError(() => openWeights(dir), 'NO_WEIGHTS', dir);
  });
});
