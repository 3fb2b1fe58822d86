/**
 * Makes one offspring: every evolved tensor by the fused `de` kernel straight from the mapped
 * parents into the output (a trial slot in memory: see trial-slot.ts; the carried tensors are
 * already there). Tensors over 4 GiB are processed in pieces with the kernel's offset.
 */
import * as k from '../kernels/index.js';
import type { Granularity, Strategy } from '../kernels/strategies.js';
import { streamFor } from '../kernels/strategies.js';
import type { WeightSet } from '../store/checkpoint.js';
import type { KernelDType } from '../native.js';
import type { TrialMembers } from './members.js';
import type { TensorPlanEntry } from './population.js';

export interface OffspringSpec {
  plan: readonly TensorPlanEntry[];
  /** Current members (index = population index). */
  members: readonly WeightSet[];
  target: number;
  used: TrialMembers;
  strategy: Strategy;
  granularity: Granularity;
  F: number;
  CR: number;
  seed: number | bigint;
  k: number;
  threads?: number;
}

/** Where an offspring is written: writable views of each evolved tensor (a TrialSlot). */
export interface OffspringTarget {
  chunks(name: string): Uint8Array[];
}

export async function makeOffspring(s: OffspringSpec, out: OffspringTarget): Promise<void> {
  const third = s.used.r0 ?? s.used.best ?? s.used.ref;
  const parents = [s.target, s.used.a, s.used.b, third].filter((i): i is number => i !== undefined);
  const evolved = s.plan.filter((e) => e.evolved);
  // Ask the kernel to read the next tensor of every parent while this one is computed: when the
  // population does not fit in RAM its pages come from disk, and page faults alone read it in
  // small pieces on the critical path (madvise WILLNEED starts the reads ahead, asynchronously).
  const prefetch = (i: number) => {
    const next = evolved[i];
    if (next !== undefined) for (const p of parents) s.members[p]!.advise(next.name, 'willneed');
  };
  prefetch(0);
  for (const [i, entry] of evolved.entries()) {
    prefetch(i + 1);
    const outs = out.chunks(entry.name);
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
}
