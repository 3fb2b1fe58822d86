import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import fc from 'fast-check';

import { WeightFileError } from '../lib/errors.js';
import { parseHeader, readHeaderLength } from '../lib/store/header.js';
import { SafetensorsFile } from '../lib/store/safetensors.js';
import { safetensorsBytes, tempDir } from './helpers.js';

/** A small valid file: a few tensors of assorted dtypes, packed back to back. */
function validFile(): Uint8Array {
  const header = {
    __metadata__: { format: 'pt' },
    a: { dtype: 'F32', shape: [2, 3], data_offsets: [0, 24] },
    b: { dtype: 'BF16', shape: [5], data_offsets: [24, 34] },
    c: { dtype: 'I64', shape: [], data_offsets: [34, 42] },
    d: { dtype: 'U8', shape: [0, 4], data_offsets: [42, 42] },
  };
  const data = new Uint8Array(42).map((_, i) => i * 7);
  return safetensorsBytes(header, data);
}

/** Parses bytes as a whole file: the pure path used by SafetensorsFile.open. */
function parseBytes(bytes: Uint8Array, file = 'fuzz.safetensors'): void {
  const n = readHeaderLength(bytes.subarray(0, 8), bytes.length, file);
  parseHeader(bytes.subarray(8, 8 + n), bytes.length, file);
}

const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('length' as const), value: fc.bigInt({ min: 0n, max: (1n << 64n) - 1n }) }),
  fc.record({ kind: fc.constant('digit' as const), at: fc.nat() }),
);

type Mutation = { kind: string; at?: number; value?: number | bigint };

function mutate(base: Uint8Array, ms: Mutation[]): Uint8Array {
  let bytes = Uint8Array.from(base);
  for (const m of ms) {
    const at = bytes.length === 0 ? 0 : (m.at ?? 0) % bytes.length;
    if (m.kind === 'flip') bytes[at] = Number(m.value);
    else if (m.kind === 'truncate') bytes = bytes.subarray(0, at);
    else if (m.kind === 'insert') bytes = Uint8Array.from([...bytes.subarray(0, at), Number(m.value), ...bytes.subarray(at)]);
    else if (m.kind === 'length' && bytes.length >= 8) new DataView(bytes.buffer, bytes.byteOffset).setBigUint64(0, BigInt(m.value ?? 0), true);
    else if (m.kind === 'digit') {
      // Nudge a digit of the header JSON: shapes and offsets go slightly wrong.
      const digits = [...bytes.keys()].filter((i) => i >= 8 && bytes[i]! >= 0x30 && bytes[i]! <= 0x39);
      if (digits.length > 0) {
        const i = digits[at % digits.length]!;
        bytes[i] = 0x30 + ((bytes[i]! - 0x30 + 1) % 10);
      }
    }
  }
  return bytes;
}

describe('fuzzing the safetensors parser: a valid result or a typed error, never a crash', () => {
  it('the unmutated file is valid', () => {
    parseBytes(validFile());
  });

  it('5000 mutated headers parse or throw WeightFileError', () => {
    const base = validFile();
    let valid = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (ms) => {
        const bytes = mutate(base, ms);
        try {
          parseBytes(bytes);
          valid++;
        } catch (err) {
          if (!(err instanceof WeightFileError)) throw err;
          assert.ok(err.message.startsWith('fuzz.safetensors'));
        }
      }),
      { numRuns: 5000, seed: Number(process.env.EVOLVER_FUZZ_SEED ?? Date.now() % 2 ** 31) },
    );
    assert.ok(valid > 0, 'some mutations (e.g. in the data region) stay valid');
  });

  it('500 mutated files on disk open through the native mapping or throw WeightFileError', () => {
    const dir = tempDir('evolver-fuzz-');
    const base = validFile();
    let n = 0;
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 3 }), (ms) => {
        const file = path.join(dir, `f${n++ % 8}.safetensors`);
        fs.writeFileSync(file, mutate(base, ms));
        try {
          const f = SafetensorsFile.open(file);
          for (const name of f.names()) f.bytes(name);
          f.close();
        } catch (err) {
          if (!(err instanceof WeightFileError)) throw err;
          assert.equal(err.file, file);
        }
      }),
      { numRuns: 500 },
    );
  });
});
