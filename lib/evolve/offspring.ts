/**
 * Makes one offspring: every evolved tensor by the fused `de` kernel straight from the mapped
 * parents into the output (a trial slot in memory: see trial-slot.ts; the carried tensors are
 * already there). Tensors over 4 GiB are processed in pieces with the kernel's offset.
 */
import os from 'node:os';

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

/**
 * Tensors are made in batches of about this much output: one kernel call per batch (one pool
 * pass over all its tensors) instead of one per tensor. At 0.75 B (129 tensors, most of 2 – 23
 * MB) that made an offspring about 10 % faster (12 – 17 ms of 140, same process, alternating);
 * 64 MiB batches gained about 5 ms. The next batch's pages are asked for while one is made.
 */
const BATCH_BYTES = 256 * 2 ** 20;

export async function makeOffspring(s: OffspringSpec, out: OffspringTarget): Promise<void> {
  const third = s.used.r0 ?? s.used.best ?? s.used.ref;
  const parents = [s.target, s.used.a, s.used.b, third].filter((i): i is number => i !== undefined);
  const evolved = s.plan.filter((e) => e.evolved);
  const batches: TensorPlanEntry[][] = [];
  let bytes = Infinity;
  for (const entry of evolved) {
    if (bytes + entry.meta.byteLength > BATCH_BYTES) {
      batches.push([]);
      bytes = 0;
    }
    batches.at(-1)!.push(entry);
    bytes += entry.meta.byteLength;
  }
  // Ask the kernel to read the next batch of every parent while this one is computed: when the
  // population does not fit in RAM its pages come from disk, and page faults alone read it in
  // small pieces on the critical path (madvise WILLNEED starts the reads ahead, asynchronously).
  // Where the population and the offspring fit in half of RAM their pages stay cached, and the
  // madvise calls (two per tensor and parent) only cost time: about 20 ms a trial at 0.75 B.
  // RAM: the machine's, or a container's limit where there is one (a pod's worker, say).
  const constrained = process.constrainedMemory?.() ?? 0;
  const ram = constrained > 0 ? Math.min(os.totalmem(), constrained) : os.totalmem();
  const evolvedBytes = evolved.reduce((n, e) => n + e.meta.byteLength, 0);
  const readAhead = (s.members.length + 1) * evolvedBytes > ram / 2;
  const prefetch = (i: number) => {
    if (readAhead) for (const next of batches[i] ?? []) for (const p of parents) s.members[p]!.advise(next.name, 'willneed');
  };
  prefetch(0);
  for (const [i, batch] of batches.entries()) {
    const done = k.deBatch(batch.flatMap((entry) => calls(s, entry, out, third)));
    try {
      prefetch(i + 1);  // while the pool computes this batch
    } catch {
      // advice only: whatever made it fail (a closed member) fails the next kernel call, by name
    }
    await done;
  }
}

/** The kernel calls that make one tensor: one per view (tensors over 4 GiB are several views). */
function calls(s: OffspringSpec, entry: TensorPlanEntry, out: OffspringTarget, third: number | undefined): k.DeOptions[] {
  const outs = out.chunks(entry.name);
  const pieces = (i: number | undefined) => (i === undefined ? undefined : s.members[i]!.chunks(entry.name));
  const x = pieces(s.target)!, a = pieces(s.used.a), b = pieces(s.used.b), c = pieces(third);
  const rowLength = entry.meta.shape.slice(1).reduce((p, d) => p * d, 1);
  const bytesPer = entry.meta.byteLength / Math.max(1, entry.meta.elements);
  let offset = 0;
  return outs.map((view, piece) => {
    const thirdView = c?.[piece];
    const call: k.DeOptions = {
      strategy: s.strategy,
      granularity: s.granularity,
      dtype: entry.meta.dtype as KernelDType,
      target: x[piece]!,
      out: view,
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
    };
    offset += view.byteLength / bytesPer;
    return call;
  });
}
