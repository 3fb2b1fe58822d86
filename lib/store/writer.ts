/**
 * Writes a safetensors file the crash-safe way: size a temporary file, map it, let the
 * caller (or kernels) fill the tensors in place, then flush (msync + fsync) and rename it
 * into place. A reader never sees a half-written file under the final name.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

import { EvolverArgumentError, WeightFileError, fromSystemError } from '../errors.js';
import { type AdviceHint, type NativeMappedFile, native } from '../native.js';
import { type DType, type TensorArray, dtypeBytes, isDType, typedView } from './dtypes.js';
import { MAX_VIEW_BYTES, viewChunks } from './safetensors.js';

export interface TensorPlan {
  name: string;
  dtype: DType;
  shape: readonly number[];
}

export interface WritePlan {
  tensors: readonly TensorPlan[];
  metadata?: Readonly<Record<string, string>>;
}

export interface WriterOptions {
  /**
   * How the file makes sure the disk can hold it (writing through a mapping onto a full disk
   * would be a SIGBUS). 'check' (default): compare with the free space first, a NO_SPACE error
   * here if it is short. 'reserve': allocate the blocks (posix_fallocate) — also covers a disk
   * filled by another process meanwhile, but first writes into reserved blocks are slow on
   * ext4 (about 2 s per GiB on the development machine). 'sparse': neither (huge sparse tests).
   */
  space?: 'check' | 'reserve' | 'sparse';
}

export interface PlannedTensor extends TensorPlan {
  elements: number;
  byteLength: number;
  fileOffset: number;
}

export interface Layout {
  header: Uint8Array;
  tensors: PlannedTensor[];
  totalSize: number;
}

/** Checks a plan and lays it out: tensors ordered by element size (largest first) then name,
 * so every tensor starts aligned to its element size; header padded with spaces to 8 bytes. */
export function layoutPlan(plan: WritePlan, file: string): Layout {
  const seen = new Set<string>();
  const tensors: PlannedTensor[] = [];
  for (const t of plan.tensors) {
    if (typeof t.name !== 'string' || t.name.length === 0) throw new EvolverArgumentError(`${file}: a tensor name must be a non-empty string`);
    if (t.name === '__metadata__') throw new WeightFileError('RESERVED_NAME', file, "'__metadata__' is reserved by the format and cannot name a tensor", { tensor: t.name });
    if (seen.has(t.name)) throw new WeightFileError('DUPLICATE_TENSOR', file, 'the name appears twice in the plan', { tensor: t.name });
    seen.add(t.name);
    if (!isDType(t.dtype)) throw new WeightFileError('UNKNOWN_DTYPE', file, `unknown dtype '${String(t.dtype)}'`, { tensor: t.name });
    let elements = 1;
    for (const d of t.shape) {
      if (!Number.isSafeInteger(d) || d < 0) throw new WeightFileError('BAD_SHAPE', file, `shape ${JSON.stringify(t.shape)} must hold non-negative integers`, { tensor: t.name });
      elements *= d;
    }
    if (!Number.isSafeInteger(elements * dtypeBytes(t.dtype))) throw new WeightFileError('BAD_SHAPE', file, `shape ${JSON.stringify(t.shape)} is too large`, { tensor: t.name });
    tensors.push({ name: t.name, dtype: t.dtype, shape: [...t.shape], elements, byteLength: elements * dtypeBytes(t.dtype), fileOffset: 0 });
  }
  for (const [k, v] of Object.entries(plan.metadata ?? {})) {
    if (typeof v !== 'string') throw new WeightFileError('BAD_METADATA', file, `metadata '${k}' must be a string`);
  }
  tensors.sort((a, b) => dtypeBytes(b.dtype) - dtypeBytes(a.dtype) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));

  const json: Record<string, unknown> = {};
  if (plan.metadata !== undefined && Object.keys(plan.metadata).length > 0) json.__metadata__ = plan.metadata;
  let at = 0;
  for (const t of tensors) {
    json[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [at, at + t.byteLength] };
    t.fileOffset = at;  // relative for now
    at += t.byteLength;
  }
  let text = JSON.stringify(json);
  const raw = new TextEncoder().encode(text);
  const padded = Math.ceil(raw.length / 8) * 8;
  text += ' '.repeat(padded - raw.length);
  const header = new Uint8Array(8 + padded);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(raw, 8);
  header.fill(0x20, 8 + raw.length);
  for (const t of tensors) t.fileOffset += header.length;
  return { header, tensors, totalSize: header.length + at };
}

export class SafetensorsWriter {
  readonly path: string;
  readonly tempPath: string;
  readonly size: number;
  private readonly mapping: NativeMappedFile;
  private readonly byName: Map<string, PlannedTensor>;
  private state: 'open' | 'committed' | 'aborted' = 'open';

  private constructor(file: string, tempPath: string, mapping: NativeMappedFile, layout: Layout) {
    this.path = file;
    this.tempPath = tempPath;
    this.mapping = mapping;
    this.size = layout.totalSize;
    this.byName = new Map(layout.tensors.map((t) => [t.name, t]));
  }

  /** Sizes and maps a temporary file next to `file` and writes the header into it. */
  static create(file: string, plan: WritePlan, options: WriterOptions = {}): SafetensorsWriter {
    return SafetensorsWriter.fromLayout(file, layoutPlan(plan, file), options);
  }

  /**
   * The same for any file that is a header followed by tensors at planned offsets (GGUF's writer
   * uses it): the file is created zero-filled, so bytes between tensors (padding) read as zeros.
   */
  static fromLayout(file: string, layout: Layout, options: WriterOptions = {}): SafetensorsWriter {
    const dir = path.dirname(path.resolve(file));
    const tempPath = path.join(dir, `.${path.basename(file)}.tmp-${process.pid}-${crypto.randomBytes(4).toString('hex')}`);
    let mapping: NativeMappedFile;
    try {
      mapping = native.MappedFile.create(tempPath, layout.totalSize, options.space ?? 'check', file);
    } catch (err) {
      throw fromSystemError(err, file, 'creating');
    }
    new Uint8Array(mapping.region(0, layout.header.length)).set(layout.header);
    return new SafetensorsWriter(file, tempPath, mapping, layout);
  }

  names(): string[] {
    return [...this.byName.keys()];
  }

  private planned(name: string): PlannedTensor {
    if (this.state !== 'open') throw new WeightFileError('CLOSED', this.path, `the writer is already ${this.state}`, { tensor: name });
    if (this.mapping.faulted()) this.checkIntact();  // the disk filled up under an earlier write
    const t = this.byName.get(name);
    if (t === undefined) throw new WeightFileError('TENSOR_NOT_FOUND', this.path, 'not in the write plan', { tensor: name });
    return t;
  }

  /** A writable zero-copy typed array over the tensor's bytes in the mapped file. */
  view(name: string): TensorArray {
    const t = this.planned(name);
    if (t.byteLength > MAX_VIEW_BYTES) throw new WeightFileError('TENSOR_TOO_LARGE', this.path, 'over 4 GiB; use chunks()', { tensor: name });
    return typedView(t.dtype, this.mapping.region(t.fileOffset, t.byteLength), 0, t.elements);
  }

  /** Writable byte views of the tensor, at most `maxBytes` each. */
  chunks(name: string, maxBytes = MAX_VIEW_BYTES): Uint8Array[] {
    const t = this.planned(name);
    return viewChunks(this.mapping, this.path, t.fileOffset, t.byteLength, maxBytes, dtypeBytes(t.dtype));
  }

  /** Copies `source` (exactly the tensor's byte length, possibly in pieces) into the tensor. */
  write(name: string, source: Uint8Array | readonly Uint8Array[]): void {
    const t = this.planned(name);
    const pieces = source instanceof Uint8Array ? [source] : source;
    const total = pieces.reduce((n, p) => n + p.byteLength, 0);
    if (total !== t.byteLength) throw new WeightFileError('SIZE_MISMATCH', this.path, `got ${total} bytes, the plan needs ${t.byteLength}`, { tensor: name });
    copyPieces(pieces, this.chunks(name));
    this.checkIntact();
  }

  /**
   * Throws WeightFileError NO_SPACE naming the file when a page of the output could not be
   * written (the disk filled up after the free-space check: the SIGBUS was repaired with a zero
   * page). commit() checks it too, so such a file never gets its final name.
   */
  checkIntact(): void {
    try {
      this.mapping.checkIntact();
    } catch (err) {
      throw fromSystemError(err, this.path, 'writing');
    }
  }

  /** Advice on how the tensor's pages will be used ('populate': map them now, in one call). */
  advise(name: string, hint: AdviceHint): void {
    const t = this.planned(name);
    if (t.byteLength > 0) this.mapping.advise(hint, t.fileOffset, t.byteLength);
  }

  /** Native address of the tensor's first byte (for kernels that take pointers). */
  address(name: string): bigint {
    return this.mapping.address(this.planned(name).fileOffset);
  }

  /** Flushes (msync + fsync), closes and atomically renames the file into place. */
  commit(): void {
    this.requireOpenToCommit();
    try {
      this.mapping.flush();
      this.publish();
    } catch (err) {
      throw this.failedCommit(err);
    }
  }

  /** commit() with the flush on a worker thread, so flushing gigabytes never blocks the event loop. */
  async commitAsync(): Promise<void> {
    this.requireOpenToCommit();
    try {
      await this.mapping.flushAsync();
      this.publish();
    } catch (err) {
      throw this.failedCommit(err);
    }
  }

  private requireOpenToCommit(): void {
    if (this.state !== 'open') throw new WeightFileError('CLOSED', this.path, `the writer is already ${this.state}`);
  }

  /** After the flush: unmap, rename into place, make the rename durable. */
  private publish(): void {
    // A page that never reached the file (full disk, SIGBUS repaired) must not be published.
    this.mapping.checkIntact();
    if (this.mapping.close()) this.mapping.checkIntact();
    fs.renameSync(this.tempPath, this.path);
    fsyncDir(path.dirname(path.resolve(this.path)));
    this.state = 'committed';
  }

  private failedCommit(err: unknown): WeightFileError {
    this.abort();
    return err instanceof WeightFileError ? err : fromSystemError(err, this.path, 'committing');
  }

  /** Drops the temporary file. Safe to call at any time; a no-op after commit. */
  abort(): void {
    if (this.state === 'committed') return;
    this.state = 'aborted';
    this.mapping.close();
    fs.rmSync(this.tempPath, { force: true });
  }

  [Symbol.dispose](): void {
    this.abort();
  }
}

/** Copies `pieces` into `dsts` end to end (both split into views of any sizes; same total length). */
export function copyPieces(pieces: readonly Uint8Array[], dsts: readonly Uint8Array[]): void {
  // Two cursors: through the source pieces and through the destination views.
  let di = 0;
  let doff = 0;
  for (const p of pieces) {
    let poff = 0;
    while (poff < p.byteLength) {
      const dst = dsts[di]!;
      const n = Math.min(dst.byteLength - doff, p.byteLength - poff);
      dst.set(p.subarray(poff, poff + n), doff);
      poff += n;
      doff += n;
      if (doff === dst.byteLength) {
        di++;
        doff = 0;
      }
    }
  }
}

/** fsync a directory so a rename in it survives a crash (or a file, opened read-only). */
export function fsyncDir(dir: string): void {
  const fd = fs.openSync(dir, 'r');
  try {
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
