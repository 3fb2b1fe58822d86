import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import fc from 'fast-check';

import { WeightFileError } from '../../lib/errors.js';
import { GgufFile } from '../../lib/store/gguf.js';
import { parseGgufHeader } from '../../lib/store/gguf-header.js';
import { tempDir } from '../helpers.js';
import { SMALL_PLAN, ggufBytes } from './gguf-fixtures.js';

// Mutations aimed at what a GGUF header is made of: bytes, lengths and counts (u64), types (u32).
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('u64' as const), at: fc.nat(), big: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
  fc.record({ kind: fc.constant('u32' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 64 }) }),
);
type Mutation = { kind: string; at?: number; value?: number; big?: bigint };

function mutate(base: Uint8Array, ms: Mutation[]): Uint8Array {
  let bytes = Uint8Array.from(base);
  for (const m of ms) {
    const at = bytes.length === 0 ? 0 : (m.at ?? 0) % bytes.length;
    const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    if (m.kind === 'flip') bytes[at] = m.value!;
    else if (m.kind === 'truncate') bytes = bytes.subarray(0, at);
    else if (m.kind === 'insert') bytes = Uint8Array.from([...bytes.subarray(0, at), m.value!, ...bytes.subarray(at)]);
    else if (m.kind === 'u64' && at + 8 <= bytes.length) view.setBigUint64(at, m.big!, true);
    else if (m.kind === 'u32' && at + 4 <= bytes.length) view.setUint32(at, m.value!, true);
  }
  return bytes;
}

const seed = Number(process.env.EVOLVER_FUZZ_SEED ?? Date.now() % 2 ** 31);

describe('fuzzing the GGUF parser: a valid result or a typed error, never a crash', () => {
  const base = ggufBytes(SMALL_PLAN);

  it('the unmutated file is valid', () => {
    parseGgufHeader(base, base.length, 'fuzz.gguf');
  });

  it('5000 mutated files parse or throw WeightFileError naming the file', () => {
    let valid = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
        const bytes = mutate(base, ms);
        try {
          const parsed = parseGgufHeader(bytes, bytes.length, 'fuzz.gguf');
          // A valid parse is a consistent one: every tensor inside the file.
          for (const t of parsed.tensors) assert.ok(parsed.dataStart + t.offset + t.byteLength <= bytes.length, t.name);
          valid++;
        } catch (err) {
          if (!(err instanceof WeightFileError)) throw err;
          assert.ok(err.message.startsWith('fuzz.gguf'), err.message);
        }
      }),
      { numRuns: 5000, seed },
    );
    assert.ok(valid > 0, 'some mutations (e.g. in tensor data) stay valid');
  });

  it('500 mutated files on disk open through the native mapping or throw WeightFileError', () => {
    const dir = tempDir('evolver-gguf-fuzz-');
    let n = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        const file = path.join(dir, `f${n++ % 8}.gguf`);
        fs.writeFileSync(file, mutate(base, ms));
        try {
          const g = GgufFile.open(file);
          for (const name of g.names()) g.bytes(name);
          g.close();
        } catch (err) {
          if (!(err instanceof WeightFileError)) throw err;
          assert.equal(err.file, file);
        }
      }),
      { numRuns: 500, seed },
    );
  });
});
