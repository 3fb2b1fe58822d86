// The offspring checksum (lib/evolve/content-hash.ts): XXH64 per 1 MiB chunk on the kernel
// thread pool, combined by sha256. Checked against an independent XXH64 (xxhash-wasm), for
// independence from the thread count, and for telling weights apart.
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import path from 'node:path';

import xxhash from 'xxhash-wasm';

import { contentHash } from '../../lib/evolve/content-hash.js';
import { native } from '../../lib/native.js';
import { openWeights } from '../../lib/store/checkpoint.js';
import { FORTUNES } from '../helpers.js';

describe('content hash (XXH64 per 1 MiB chunk, sha256 over the digests)', () => {
  it('the native XXH64 agrees with xxhash-wasm on every length around the stripe and tail boundaries', async () => {
    const { h64Raw } = await xxhash();
    const bytes = crypto.randomBytes(4096 + 77);
    for (const n of [0, 1, 3, 4, 7, 8, 15, 31, 32, 33, 63, 64, 100, 255, 1000, 4096 + 77]) {
      assert.equal(native.xxh64(bytes.subarray(0, n)), h64Raw(new Uint8Array(bytes.subarray(0, n))), `length ${n}`);
    }
    assert.equal(native.xxh64(new Uint8Array(0)), 0xef46db3751d8e999n);  // the published empty-input value
  });

  it('hashChunks: one digest per chunk, the same for 1 and 2 threads, equal to XXH64 of each chunk', async () => {
    const { h64Raw } = await xxhash();
    const chunk = 2 ** 20;
    const data = new Uint8Array(native.allocate(5 * chunk + 12345));
    data.set(crypto.randomBytes(data.byteLength));
    const one = await native.hashChunks(data, chunk, 1);
    const two = await native.hashChunks(data, chunk, 2);
    assert.equal(one.length, 6);
    assert.deepEqual([...one], [...two]);
    for (let i = 0; i < one.length; i++) assert.equal(one[i], h64Raw(data.subarray(i * chunk, Math.min(data.byteLength, (i + 1) * chunk))), `chunk ${i}`);
  });

  it('hashChunks over several buffers: each chunked from its own start, digests in buffer order', async () => {
    const chunk = 4096;
    const buffers = [5 * chunk + 7, 0, 3, 2 * chunk].map((n) => {
      const b = new Uint8Array(native.allocate(n));
      b.set(crypto.randomBytes(n));
      return b;
    });
    const together = await native.hashChunks(buffers, chunk, 2);
    const apart = (await Promise.all(buffers.map((b) => native.hashChunks(b, chunk, 1)))).flatMap((d) => [...d]);
    assert.equal(together.length, 6 + 0 + 1 + 2);
    assert.deepEqual([...together], apart);
    assert.throws(() => native.hashChunks([buffers[0]!, 'x' as never], chunk, 1), /buffers\[1\]/);
  });

  it('a weight set: the checksum is sha256 over the name, byte length and 1 MiB XXH64 digests of each tensor (runs journaled before keep their checksums)', async () => {
    using a = openWeights(path.join(FORTUNES, 'models-bf16', 'base.safetensors'));
    const names = a.names();
    const h = crypto.createHash('sha256');
    for (const name of names) {
      const views = a.chunks(name);
      h.update(`${name}\0${views.reduce((n, v) => n + v.byteLength, 0)}\0`);
      for (const v of views) h.update(new Uint8Array((await native.hashChunks(v, 2 ** 20, 1)).buffer));
    }
    assert.equal(await contentHash(a, names, 'xxh64-1MiB', 2), h.digest('hex'));
    // Tensors in several views (as over 4 GiB: a first view of whole MiBs, then the rest), an
    // empty one, and one under a MiB: the digests still go to the right tensor.
    const MiB = 2 ** 20;
    const filled = (n: number) => {
      const v = new Uint8Array(native.allocate(n));
      v.set(crypto.randomBytes(n));
      return v;
    };
    const tensors = new Map<string, Uint8Array[]>([['a', [filled(3 * MiB), filled(5)]], ['b', []], ['c', [filled(MiB - 1)]], ['d', [filled(2 * MiB), filled(MiB + 7)]]]);
    const fake = { chunks: (n: string) => tensors.get(n)! } as unknown as Parameters<typeof contentHash>[0];
    const byView = crypto.createHash('sha256');
    for (const [name, views] of tensors) {
      byView.update(`${name}\0${views.reduce((n, v) => n + v.byteLength, 0)}\0`);
      for (const v of views) byView.update(new Uint8Array((await native.hashChunks(v, MiB, 1)).buffer));
    }
    assert.equal(await contentHash(fake, [...tensors.keys()], 'xxh64-1MiB', 2), byView.digest('hex'));
  });

  it('a weight set: independent of the thread count; another model or one changed byte gives another checksum', async () => {
    const a = openWeights(path.join(FORTUNES, 'models-bf16', 'base.safetensors'));
    const b = openWeights(path.join(FORTUNES, 'models-bf16', 'science.safetensors'));
    try {
      const names = a.names();
      const h1 = await contentHash(a, names, 'xxh64-1MiB', 1);
      assert.equal(await contentHash(a, names, 'xxh64-1MiB', 2), h1);
      assert.match(h1, /^[0-9a-f]{64}$/);
      assert.notEqual(await contentHash(b, names, 'xxh64-1MiB', 2), h1);
      const copy = new Uint8Array(a.chunks(names[0]!)[0]!);  // a JS copy of the first tensor
      const changed = { ...a, names: () => names, meta: (n: string) => a.meta(n), metadata: a.metadata, chunks: (n: string) => (n === names[0] ? [copy] : a.chunks(n)) };
      assert.equal(await contentHash(changed, names, 'xxh64-1MiB', 2), h1, 'same bytes, same checksum');
      copy[copy.length - 1]! ^= 1;
      assert.notEqual(await contentHash(changed, names, 'xxh64-1MiB', 2), h1);
    } finally {
      a.close();
      b.close();
    }
  });
});
