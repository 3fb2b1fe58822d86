/**
 * The checksum of a weight set's evolved tensors: what the journal records for every trial,
 * what the fitness cache is keyed by (identical weights are never evaluated twice) and what a
 * resume checks member files against.
 *
 * `xxh64-1MiB` (runs made by this version): every evolved tensor, in sorted name order, is cut
 * into 1 MiB chunks counted from its first byte; each chunk gets an XXH64 digest (seed 0) on
 * the kernel thread pool, at memory speed (all tensors in one pass); a sha256 over (name, byte
 * length, the chunk digests in order) of every tensor gives the checksum. The chunking does not depend on the thread
 * count, so neither does the checksum. XXH64 is not a cryptographic hash: it tells weights
 * apart (a 64-bit digest per MiB, then sha256), it does not resist someone forging a collision
 * on purpose — nothing here needs that.
 *
 * `sha256` (runs made before it; run.json has no `checksum` field): sha256 over the bytes of the
 * evolved tensors in sorted name order. Resuming such a run keeps using it.
 */
import crypto from 'node:crypto';

import { native } from '../native.js';
import type { WeightSource } from '../store/source.js';

export type ChecksumAlgorithm = 'xxh64-1MiB' | 'sha256';
export const DEFAULT_CHECKSUM: ChecksumAlgorithm = 'xxh64-1MiB';
const CHUNK = 2 ** 20;

export async function contentHash(weights: WeightSource, evolved: readonly string[], algorithm: ChecksumAlgorithm, threads = 0): Promise<string> {
  const h = crypto.createHash('sha256');
  if (algorithm === 'sha256') {
    for (const name of evolved) for (const chunk of weights.chunks(name)) h.update(chunk);
    return h.digest('hex');
  }
  const pool = threads > 0 ? threads : native.kernels.getThreads();
  // Every view of every tensor in one native call (one pool pass per checksum, not one per
  // tensor), then the digests are taken back tensor by tensor. Views are at most 4 GiB, a
  // multiple of 1 MiB except a tensor's last: chunks stay aligned to the tensor.
  const perTensor = evolved.map((name) => weights.chunks(name));
  const views = perTensor.flat();
  let digests: BigUint64Array;
  try {
    digests = await native.hashChunks(views, CHUNK, pool);
  } catch (err) {
    // The native error names buffers[i] of the flat list: name the tensor instead.
    const i = Number(/buffers\[(\d+)\]/.exec((err as Error).message)?.[1] ?? NaN);
    if (Number.isInteger(i)) {
      let seen = 0;
      const t = perTensor.findIndex((v) => (seen += v.length) > i);
      if (t >= 0) (err as Error).message += ` (tensor ${evolved[t]})`;
    }
    throw err;
  }
  let at = 0;
  evolved.forEach((name, i) => {
    const views = perTensor[i]!;
    h.update(`${name}\0${views.reduce((n, v) => n + v.byteLength, 0)}\0`);
    const count = views.reduce((n, v) => n + Math.ceil(v.byteLength / CHUNK), 0);
    if (count > 0) h.update(new Uint8Array(digests.buffer, digests.byteOffset + at * 8, count * 8));
    at += count;
  });
  if (at !== digests.length) throw new Error(`internal: ${digests.length} chunk digests for ${at} chunks`);
  return h.digest('hex');
}
