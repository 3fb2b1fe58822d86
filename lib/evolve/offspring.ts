/**
 * Makes one offspring: every evolved tensor by the fused `de` kernel straight from the mapped
 * parents into the mapped trial file, carried tensors copied from the first model; then the
 * file is flushed. Tensors over 4 GiB are processed in pieces with the kernel's offset.
 */
import crypto from 'node:crypto';

import * as k from '../kernels/index.js';
import type { Granularity, Strategy } from '../kernels/strategies.js';
import { streamFor } from '../kernels/strategies.js';
import { WeightSet } from '../store/checkpoint.js';
import type { KernelDType } from '../native.js';
import { SafetensorsWriter } from '../store/writer.js';
import type { WeightSource } from '../store/source.js';
import type { TrialMembers } from './members.js';
import type { TensorPlanEntry } from './population.js';

export interface OffspringSpec {
  plan: readonly TensorPlanEntry[];
  /** Current members (index = population index). */
  members: readonly WeightSet[];
  carriedFrom: WeightSource;
  target: number;
  used: TrialMembers;
  strategy: Strategy;
  granularity: Granularity;
  F: number;
  CR: number;
  seed: number | bigint;
  k: number;
  file: string;
  metadata?: Record<string, string>;
  threads?: number;
}

export async function makeOffspring(s: OffspringSpec): Promise<void> {
  const writer = SafetensorsWriter.create(s.file, { tensors: s.plan.map((p) => p.meta), metadata: { format: 'pt', ...s.metadata } });
  try {
    const third = s.used.r0 ?? s.used.best ?? s.used.ref;
    for (const entry of s.plan) {
      if (!entry.evolved) {
        writer.write(entry.name, s.carriedFrom.chunks(entry.name));
        continue;
      }
      const outs = writer.chunks(entry.name);
      const pieces = (i: number | undefined) => (i === undefined ? undefined : s.members[i]!.chunks(entry.name));
      const x = pieces(s.target)!, a = pieces(s.used.a), b = pieces(s.used.b), c = pieces(third);
      const rowLength = entry.meta.shape.slice(1).reduce((p, d) => p * d, 1);
      const bytesPer = entry.meta.byteLength / Math.max(1, entry.meta.elements);
      let offset = 0;
      for (let piece = 0; piece < outs.length; piece++) {
        const thirdView = c?.[piece];
        await k.de({
          strategy: s.strategy,
          granularity: s.granularity,
          dtype: entry.meta.dtype as KernelDType,
          target: x[piece]!,
          out: outs[piece]!,
          ...(a ? { a: a[piece]!, b: b![piece]! } : {}),
          ...(thirdView ? { r0: thirdView, best: thirdView, ref: thirdView } : {}),
          F: s.F,
          CR: s.CR,
          seed: s.seed,
          stream: streamFor(s.k, entry.j),
          rowLength: Math.max(1, rowLength),
          offset,
          backend: 'cpu',
          ...(s.threads ? { threads: s.threads } : {}),
        });
        offset += outs[piece]!.byteLength / bytesPer;
      }
    }
    await writer.commitAsync();
  } catch (err) {
    writer.abort();
    throw err;
  }
}

/** sha256 over the evolved tensors' bytes, in sorted name order: identical weights, same checksum. */
export function checksum(weights: WeightSource, evolved: readonly string[]): string {
  const h = crypto.createHash('sha256');
  for (const name of evolved) for (const chunk of weights.chunks(name)) h.update(chunk);
  // A file that shrank under its mapping reads as zeros (the SIGBUS guard): never a valid checksum.
  if (weights instanceof WeightSet) weights.checkIntact();
  return h.digest('hex');
}
