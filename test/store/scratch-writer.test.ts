import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';

import { WeightFileError } from '../../lib/errors.js';
import { layoutGguf, writeGguf } from '../../lib/store/gguf-writer.js';
import { ScratchFileWriter } from '../../lib/store/scratch-writer.js';
import { tempDir } from '../helpers.js';
import { SMALL_PLAN, pattern } from './gguf-fixtures.js';

describe('ScratchFileWriter (offspring GGUFs rewritten in place with pwrite)', () => {
  const sizes = (file: string) => layoutGguf(SMALL_PLAN, file).tensors;

  it('writes the same bytes as the crash-safe writer, also over an older, larger file full of other bytes', () => {
    const dir = tempDir();
    const reference = path.join(dir, 'reference.gguf'), scratch = path.join(dir, 'scratch.gguf');
    const data = (name: string) => pattern(name, sizes(reference).find((t) => t.name === name)!.byteLength);
    writeGguf(reference, SMALL_PLAN, data);
    fs.writeFileSync(scratch, Buffer.alloc(fs.statSync(reference).size + 4096, 0xee));  // padding must not keep these
    writeGguf(scratch, SMALL_PLAN, data, { scratch: true });
    assert.ok(fs.readFileSync(scratch).equals(fs.readFileSync(reference)));
    writeGguf(scratch, SMALL_PLAN, data, { scratch: true });  // and again, in place
    assert.ok(fs.readFileSync(scratch).equals(fs.readFileSync(reference)));
  });

  it('chunks(): buffers filled by the caller land at the tensor\'s place at the next call, in windows', () => {
    const dir = tempDir();
    const reference = path.join(dir, 'reference.gguf'), scratch = path.join(dir, 'scratch.gguf');
    const data = (name: string) => pattern(name, sizes(reference).find((t) => t.name === name)!.byteLength);
    writeGguf(reference, SMALL_PLAN, data);
    const w = ScratchFileWriter.fromLayout(scratch, layoutGguf(SMALL_PLAN, scratch));
    for (const t of SMALL_PLAN.tensors) {
      const bytes = data(t.name);
      let at = 0;
      for (const c of w.chunks(t.name, 4)) {  // tiny windows: several per tensor
        c.set(bytes.subarray(at, at + c.byteLength));
        at += c.byteLength;
      }
      assert.equal(at, bytes.byteLength);
    }
    w.commit();
    assert.ok(fs.readFileSync(scratch).equals(fs.readFileSync(reference)));
  });

  it('refuses a wrong size naming the tensor; abort() removes the file; a closed writer says so', () => {
    const dir = tempDir();
    const file = path.join(dir, 'scratch.gguf');
    const w = ScratchFileWriter.fromLayout(file, layoutGguf(SMALL_PLAN, file));
    assert.throws(() => w.write('token_embd.weight', new Uint8Array(3)), (e: unknown) => e instanceof WeightFileError && e.code === 'SIZE_MISMATCH' && e.tensor === 'token_embd.weight' && e.file === file);
    assert.throws(() => w.chunks('nope'), (e: unknown) => e instanceof WeightFileError && e.code === 'TENSOR_NOT_FOUND');
    w.abort();
    assert.equal(fs.existsSync(file), false);
    assert.throws(() => w.write('token_embd.weight', new Uint8Array(60)), (e: unknown) => e instanceof WeightFileError && e.code === 'CLOSED');
  });
});
