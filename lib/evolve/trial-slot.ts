/**
 * A trial slot: one offspring's worth of memory (a memfd, never on disk) holding a complete
 * safetensors image, reused trial after trial. Kernels write the evolved tensors into it in
 * place, the evaluator reads it through an ordinary read-only WeightSet (zero-copy views of the
 * same pages), and only an accepted offspring is written to disk — by `persist()`: write() of
 * the header and the bytes into a temporary file (page cache, at memory speed; best over a file
 * whose pages are cached already, see spare-files.ts) and an fsync that the caller may overlap
 * with the next trial.
 *
 * The carried tensors (not evolved: the same in every offspring) are copied in once, when the
 * slot is made. The slot's own header has no per-trial metadata, so it never changes; a
 * persisted file gets the trial's metadata in its header (same tensor layout, so the data
 * bytes are copied as one run).
 *
 * The evaluator's WeightSet has the path /proc/self/fd/<n> (valid inside this process only):
 * an evaluator that hands weights to another process must write them to a file of its own.
 */
import fs from 'node:fs';
import path from 'node:path';

import { fromSystemError } from '../errors.js';
import { type NativeMappedFile, native } from '../native.js';
import { type WeightSet, openWeights } from '../store/checkpoint.js';
import { MAX_VIEW_BYTES, viewChunks } from '../store/safetensors.js';
import type { WeightSource } from '../store/source.js';
import { type Layout, copyPieces, fsyncDir, layoutPlan } from '../store/writer.js';
import type { TensorPlanEntry } from './population.js';

/** write() at most this much per call (Buffer views of a mapping region). */
const WRITE_STEP = 256 * 2 ** 20;

export class TrialSlot {
  /** What the evaluator reads (read-only views of the slot's memory). */
  readonly weights: WeightSet;
  readonly bytes: number;
  private readonly mapping: NativeMappedFile;
  private readonly layout: Layout;
  private readonly plan: readonly TensorPlanEntry[];
  private readonly offsets: Map<string, { offset: number; length: number; unit: number }>;
  /**
   * Views handed out, made once: V8 counts every new ArrayBuffer's bytes as external memory, and
   * a gigabyte of fresh views per trial set off a major GC every few kernel calls, whose marking
   * threads took the CPUs from the kernels (half their speed on 2 cores; README, "The engine at
   * model scale").
   */
  private readonly views = new Map<string, Uint8Array[]>();
  private dataViews: Uint8Array[] | undefined;

  private constructor(mapping: NativeMappedFile, layout: Layout, plan: readonly TensorPlanEntry[]) {
    this.mapping = mapping;
    this.layout = layout;
    this.plan = plan;
    this.bytes = layout.totalSize;
    this.offsets = new Map(layout.tensors.map((t) => [t.name, { offset: t.fileOffset, length: t.byteLength, unit: t.byteLength / Math.max(1, t.elements) || 1 }]));
    this.weights = openWeights(mapping.path);
  }

  /** Makes a slot for offspring laid out as `plan`, with the carried tensors copied from `carriedFrom`. */
  static create(plan: readonly TensorPlanEntry[], carriedFrom: WeightSource, label: string): TrialSlot {
    const layout = layoutPlan({ tensors: plan.map((p) => ({ name: p.name, dtype: p.meta.dtype, shape: p.meta.shape })), metadata: { format: 'pt' } }, label);
    let mapping: NativeMappedFile;
    try {
      mapping = native.MappedFile.createMemory(layout.totalSize, label);
    } catch (err) {
      throw fromSystemError(err, label, `making a trial slot of ${layout.totalSize} bytes in memory`);
    }
    try {
      reserve(label, () => mapping.advise('populate'));
      new Uint8Array(mapping.region(0, layout.header.length)).set(layout.header);
      const slot = new TrialSlot(mapping, layout, plan);
      try {
        reserve(label, () => {
          for (const p of plan) slot.weights.advise(p.name, 'populate');
        });
        for (const p of plan) if (!p.evolved) copyPieces(carriedFrom.chunks(p.name), slot.chunks(p.name));
      } catch (err) {
        slot.weights.close();
        throw err;
      }
      return slot;
    } catch (err) {
      mapping.close();
      throw err;
    }
  }

  /** Writable views of the tensor's bytes in the slot (at most 4 GiB each, like WeightSet.chunks). */
  chunks(name: string): Uint8Array[] {
    let views = this.views.get(name);
    if (views === undefined) {
      const t = this.offsets.get(name)!;
      views = viewChunks(this.mapping, this.mapping.path, t.offset, t.length, MAX_VIEW_BYTES, t.unit);
      this.views.set(name, views);
    }
    return [...views];
  }

  /**
   * Writes the offspring to `file` with `metadata` in its header: resolves once every byte is in
   * the file (the page cache) and the slot may be reused; `durable` resolves after the fsync. A
   * failure removes the file it was writing. `file` is created (it must not exist), or with
   * `overwrite` it is an existing file of the run's (a spare member file: spare-files.ts),
   * written over and cut to size.
   */
  async persist(file: string, metadata: Record<string, string>, overwrite = false): Promise<{ durable: Promise<void> }> {
    const header = layoutPlan({ tensors: this.plan.map((p) => ({ name: p.name, dtype: p.meta.dtype, shape: p.meta.shape })), metadata: { format: 'pt', ...metadata } }, file).header;
    const dataStart = this.layout.header.length;
    const dataBytes = this.bytes - dataStart;
    const total = header.length + dataBytes;
    let handle: fs.promises.FileHandle | undefined;
    try {
      // Checked first so a full disk fails here, not after gigabytes were copied.
      const has = overwrite ? (await fs.promises.stat(file)).size : 0;
      const free = await fs.promises.statfs(path.dirname(path.resolve(file)));
      if (free.bavail * free.bsize < total - has) throw Object.assign(new Error(`${total - has} bytes needed, ${free.bavail * free.bsize} free`), { code: 'ENOSPC' });
      // A spare is written through this very name, never through a symbolic link.
      handle = await fs.promises.open(file, overwrite ? fs.constants.O_RDWR | fs.constants.O_NOFOLLOW : 'wx');
      await writeAll(handle, header, 0);
      this.dataViews ??= viewChunks(this.mapping, this.mapping.path, dataStart, dataBytes, WRITE_STEP, 1);
      let at = header.length;
      for (const view of this.dataViews) {
        await writeAll(handle, view, at);
        at += view.byteLength;
      }
      if (overwrite && has !== total) await handle.truncate(total);
    } catch (err) {
      await handle?.close().catch(() => {});
      // A half-written file goes; a file that was there before and never opened here stays.
      if (handle !== undefined || overwrite) fs.rmSync(file, { force: true });
      throw fromSystemError(err, file, 'writing an accepted offspring');
    }
    const h = handle;
    const durable = (async () => {
      try {
        await h.sync();
        fsyncDir(path.dirname(path.resolve(file)));  // the new name is durable too, before any journal line names it
      } catch (err) {
        fs.rmSync(file, { force: true });
        throw fromSystemError(err, file, 'flushing an accepted offspring to disk');
      } finally {
        await h.close().catch(() => {});
      }
    })();
    durable.catch(() => {});  // observed by the caller; never an unhandled rejection
    return { durable };
  }

  /** Throws FILE_CHANGED if the slot's memory faulted (it cannot, short of a kernel bug: a memfd does not shrink by itself). */
  checkIntact(): void {
    this.weights.checkIntact();
    this.mapping.checkIntact();
  }

  close(): void {
    this.views.clear();
    this.dataViews = undefined;
    this.weights.close();
    this.mapping.close();
  }
}

/**
 * Takes the slot's memory now, all of it, and maps it (MADV_POPULATE_WRITE; for the evaluator's
 * read-only view of the same memory, MADV_POPULATE_READ), one call per mapping or tensor: the
 * first trial runs at the speed of the others instead of faulting the slot in a page at a time
 * (1.0 s of 1.5 GB here, README "The engine at model scale"), and where the kernel reports it
 * (e.g. a memory cgroup's limit) memory that is short fails here, naming the slot, rather than
 * as a SIGBUS in the middle of a trial. Kernels before 5.14 have no populate: there the slot is
 * faulted in as it is first written, as before.
 */
function reserve(label: string, populate: () => void): void {
  try {
    populate();
  } catch (err) {
    throw fromSystemError(err, label, 'taking and mapping the trial slot\'s memory');
  }
}

/** write() until every byte is written; a short write with no error is reported as ENOSPC. */
async function writeAll(handle: fs.promises.FileHandle, bytes: Uint8Array, position: number): Promise<void> {
  let done = 0;
  while (done < bytes.byteLength) {
    const { bytesWritten } = await handle.write(bytes, done, bytes.byteLength - done, position + done);
    if (bytesWritten <= 0) throw Object.assign(new Error(`short write: ${done} of ${bytes.byteLength} bytes`), { code: 'ENOSPC' });
    done += bytesWritten;
  }
}
