/**
 * Measurements for `bench/scale.ts`: the bytes a DE strategy must move per trial, a memory
 * sampler that runs on its own thread (so a synchronous hash or write in the engine cannot
 * hide a peak from it), the speed of writing memory new to the process, an O_DIRECT disk read,
 * and the per-trial summary of the journal's `seconds` fields (whatever fields there are: the
 * engine adds phases over time).
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import { Worker } from 'node:worker_threads';

import { STRATEGIES, type Strategy } from '../kernels/strategies.js';
import { native } from '../native.js';

/**
 * What one trial must read and write at the least: the target (crossover keeps its bits where
 * the mutant is not taken), the two members of a difference, the third member (r0 / best /
 * ref), and the offspring written once; carried tensors are read once and written once.
 * interp: 3 models, current/1: 4, rand/1, best/1, current-to-best/1: 5.
 */
export function trialTraffic(strategy: Strategy, evolvedBytes: number, carriedBytes = 0): { reads: number; writes: number; bytes: number } {
  const spec = STRATEGIES[strategy];
  const reads = 1 + (spec.usesDifference ? 2 : 0) + (spec.third === null ? 0 : 1);
  return { reads, writes: 1, bytes: evolvedBytes * (reads + 1) + carriedBytes * 2 };
}

// ---------- memory ----------

/** Fields sampled: kB values from /proc/self/status and /proc/self/smaps_rollup. */
export const STATUS_FIELDS = ['RssAnon', 'RssFile', 'RssShmem', 'VmRSS', 'VmHWM'] as const;
// Pss_Anon + Pss_Shmem: memory beyond the page cache counted once (a trial slot is mapped twice,
// read-write for the kernels and read-only for the evaluator: RssShmem counts its pages twice).
export const ROLLUP_FIELDS = ['Rss', 'Pss', 'Pss_Anon', 'Pss_Shmem', 'Anonymous', 'Private_Dirty', 'Shared_Dirty', 'Private_Clean', 'Shared_Clean'] as const;
const FIELDS = [...STATUS_FIELDS, 'AnonPlusShmem', 'PssAnonPlusShmem', ...ROLLUP_FIELDS.map((f) => `rollup.${f}`)];

export type MemoryPeaks = Record<string, number>;

const SAMPLER = `
const { workerData } = require('node:worker_threads');
const fs = require('node:fs');
const { peaks, control, fields, phases, ms, rollupEvery } = workerData;
let n = 0;
const P = new Float64Array(peaks), C = new Int32Array(control);
const kb = (text, name) => { const m = new RegExp('^' + name + ':\\\\s+(\\\\d+)', 'm').exec(text); return m ? Number(m[1]) : NaN; };
const statusFields = fields.filter((f) => !f.startsWith('rollup.') && f !== 'AnonPlusShmem' && f !== 'PssAnonPlusShmem');
const rollupFields = fields.filter((f) => f.startsWith('rollup.')).map((f) => f.slice(7));
function sample() {
  const phase = Atomics.load(C, 0);
  const v = new Map();
  try {
    const s = fs.readFileSync('/proc/self/status', 'utf8');
    for (const f of statusFields) v.set(f, kb(s, f));
    v.set('AnonPlusShmem', v.get('RssAnon') + v.get('RssShmem'));
  } catch {}
  // smaps_rollup walks every page table of the process (millions of entries for mapped models),
  // which costs the measured run CPU time (and, at 10 per second, seconds of system time per
  // trial at 0.75B): it is read every rollupEvery-th sample only; /proc/self/status is counters.
  if (n++ % rollupEvery === 0) try {
    const r = fs.readFileSync('/proc/self/smaps_rollup', 'utf8');
    for (const f of rollupFields) v.set('rollup.' + f, kb(r, f));
    v.set('PssAnonPlusShmem', kb(r, 'Pss_Anon') + kb(r, 'Pss_Shmem'));
  } catch {}
  fields.forEach((f, i) => {
    const x = v.get(f);
    if (x === undefined || Number.isNaN(x)) return;
    const at = phase * fields.length + i;
    if (!(P[at] >= x)) P[at] = x;
    const all = phases * fields.length + i;  // the last row: the whole sampled time
    if (!(P[all] >= x)) P[all] = x;
  });
  Atomics.add(C, 1, 1);
  if (Atomics.load(C, 2) === 1) process.exit(0);
}
sample();
setInterval(sample, ms);
`;

/**
 * Samples /proc/self/status every `ms` and /proc/self/smaps_rollup every `rollupMs` on a worker
 * thread and keeps the peak of each field per phase (the caller says which phase is running) and
 * overall.
 */
export class MemorySampler {
  private readonly peaks: Float64Array;
  private readonly control: Int32Array;
  private readonly worker: Worker;
  private readonly exited: Promise<number>;

  constructor(private readonly phases: readonly string[], ms = 100, rollupMs = 2000) {
    const peaksBuffer = new SharedArrayBuffer(8 * FIELDS.length * (phases.length + 1));
    const controlBuffer = new SharedArrayBuffer(4 * 3);
    this.peaks = new Float64Array(peaksBuffer).fill(NaN);
    this.control = new Int32Array(controlBuffer);
    this.worker = new Worker(SAMPLER, { eval: true, workerData: { peaks: peaksBuffer, control: controlBuffer, fields: FIELDS, phases: phases.length, ms, rollupEvery: Math.max(1, Math.round(rollupMs / ms)) } });
    this.worker.unref();
    this.exited = new Promise((resolve) => this.worker.once('exit', resolve));
  }

  /** Waits for the first sample (the worker has started). */
  async ready(): Promise<void> {
    while (Atomics.load(this.control, 1) === 0) await new Promise((r) => setTimeout(r, 5));
  }

  phase(name: string): void {
    const i = this.phases.indexOf(name);
    if (i < 0) throw new RangeError(`MemorySampler: unknown phase ${name}`);
    Atomics.store(this.control, 0, i);
  }

  get samples(): number {
    return Atomics.load(this.control, 1);
  }

  async stop(): Promise<void> {
    Atomics.store(this.control, 2, 1);
    await Promise.race([this.exited, new Promise((r) => setTimeout(r, 1000))]);
    await this.worker.terminate();
  }

  /** Peak kB per field, for one phase or (no argument) the whole sampled time; NaN where never sampled. */
  peak(phase?: string): MemoryPeaks {
    const row = phase === undefined ? this.phases.length : this.phases.indexOf(phase);
    return Object.fromEntries(FIELDS.map((f, i) => [f, this.peaks[row * FIELDS.length + i]!]));
  }
}

/** One reading of /proc/self/status (kB). */
export function memoryNow(): MemoryPeaks {
  const s = fs.readFileSync('/proc/self/status', 'utf8');
  const out: MemoryPeaks = {};
  for (const f of STATUS_FIELDS) {
    const m = new RegExp(`^${f}:\\s+(\\d+)`, 'm').exec(s);
    out[f] = m ? Number(m[1]) : NaN;
  }
  out.AnonPlusShmem = out.RssAnon! + out.RssShmem!;
  return out;
}

// ---------- memory new to the process ----------

export interface FreshMemory {
  /** Writing memory for the first time (the kernel, and in a VM maybe the host, must supply each page). */
  firstGbps: number;
  /** Writing the same memory again. */
  againGbps: number;
  bytes: number;
}

/**
 * How fast this machine writes memory it has just allocated, against the same memory written
 * again. Writing a new file writes its pages into memory the page cache has just taken, so
 * `bytes / firstGbps` is the floor of writing an accepted offspring into a new member file. In
 * a VM whose host takes free memory back (free page reporting, balloons) the first write waits
 * for the host to give each page back: many times slower than the second.
 */
export function freshMemory(bytes = 2 ** 30): FreshMemory {
  const m = native.MappedFile.createMemory(bytes, 'bench: memory new to the process');
  try {
    const v = new Uint8Array(m.region(0, bytes));
    const t0 = performance.now();
    v.fill(1);
    const t1 = performance.now();
    v.fill(2);
    const t2 = performance.now();
    return { firstGbps: bytes / ((t1 - t0) / 1000) / 1e9, againGbps: bytes / ((t2 - t1) / 1000) / 1e9, bytes };
  } finally {
    m.close();
  }
}

// ---------- disk ----------

export interface DiskRead {
  gbps: number | null;
  bytes: number;
  seconds: number;
  files: number;
  method: string;
  note?: string;
}

/**
 * Reads `files` with O_DIRECT (`dd iflag=direct`): straight from the disk, past the page cache,
 * whatever it holds. GB/s over the files together; null with a note where dd or O_DIRECT fails.
 */
export function directRead(files: readonly string[]): DiskRead {
  let bytes = 0, seconds = 0;
  for (const file of files) {
    const size = fs.statSync(file).size;
    const t0 = performance.now();
    const r = spawnSync('dd', [`if=${file}`, 'of=/dev/null', 'bs=16M', 'iflag=direct'], { encoding: 'utf8' });
    const wall = (performance.now() - t0) / 1000;
    if (r.error !== undefined || r.status !== 0) {
      return { gbps: null, bytes, seconds, files: files.length, method: 'dd iflag=direct', note: `dd failed on ${file}: ${(r.error?.message ?? r.stderr ?? '').trim().split('\n').pop()}` };
    }
    // dd's own timing ("..., 1.23 s, ...") excludes starting the process.
    const m = /copied,\s*([\d.,]+)\s*s/.exec(r.stderr);
    seconds += m ? Number(m[1]!.replace(',', '.')) : wall;
    bytes += size;
  }
  return { gbps: bytes / seconds / 1e9, bytes, seconds, files: files.length, method: 'dd bs=16M iflag=direct' };
}

// ---------- per-trial summary ----------

export interface TrialTiming {
  k: number;
  accepted: boolean;
  cached: boolean;
  /** Wall time from the previous trial's event (the first: from the end of the initial scoring) to this one's. */
  wall: number;
  /** The journal entry's `seconds` object: every numeric field. */
  seconds: Record<string, number>;
  /** Accepted, and written into a new member file rather than over a spare (TrialEvent.writtenOverSpare). */
  newFile?: boolean;
}

export interface Stat {
  mean: number;
  min: number;
  max: number;
}

export interface TrialSummary {
  trials: number;
  accepted: number;
  /** The journal's seconds fields other than evaluation, in first-seen order. */
  fields: string[];
  wall: Stat;
  /** wall - evaluation. */
  engine: Stat;
  evaluation: Stat;
  /** Per engine field of the journal. */
  phases: Record<string, Stat>;
  /** engine - the sum of the fields (what the journal does not split out). */
  other: Stat;
}

function stat(xs: readonly number[]): Stat {
  if (xs.length === 0) return { mean: NaN, min: NaN, max: NaN };
  return { mean: xs.reduce((a, b) => a + b, 0) / xs.length, min: Math.min(...xs), max: Math.max(...xs) };
}

/** The numeric fields of a journal entry's `seconds` (unknown fields included). */
export function numericSeconds(seconds: unknown): Record<string, number> {
  const out: Record<string, number> = {};
  if (seconds !== null && typeof seconds === 'object') {
    for (const [k, v] of Object.entries(seconds as Record<string, unknown>)) if (typeof v === 'number' && Number.isFinite(v)) out[k] = v;
  }
  return out;
}

export function summarizeTrials(trials: readonly TrialTiming[]): TrialSummary {
  const fields: string[] = [];
  for (const t of trials) for (const f of Object.keys(t.seconds)) if (f !== 'evaluation' && !fields.includes(f)) fields.push(f);
  const evaluation = trials.map((t) => t.seconds.evaluation ?? 0);
  const engine = trials.map((t, i) => t.wall - evaluation[i]!);
  return {
    trials: trials.length,
    accepted: trials.filter((t) => t.accepted).length,
    fields,
    wall: stat(trials.map((t) => t.wall)),
    engine: stat(engine),
    evaluation: stat(evaluation),
    phases: Object.fromEntries(fields.map((f) => [f, stat(trials.map((t) => t.seconds[f] ?? 0))])),
    other: stat(trials.map((t, i) => engine[i]! - fields.reduce((n, f) => n + (t.seconds[f] ?? 0), 0))),
  };
}
