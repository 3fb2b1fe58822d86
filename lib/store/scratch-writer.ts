/**
 * A laid-out file (header, tensors at planned offsets, zero padding) written with pwrite() into a
 * file that is kept and rewritten in place: for scratch outputs that are read once and thrown
 * away, like the GGUF a llama.cpp evaluation loads. It offers what the exporters use of
 * SafetensorsWriter (chunks, write, commit, commitAsync, abort).
 *
 * Why not the mapped writer: filling a new /dev/shm file through a mapping makes the kernel
 * allocate and zero every 4 KiB page on a fault (1 GB took 0.73 - 1.03 s on the development
 * machine), while pwrite() into an existing file of the same size reuses its pages (0.13 - 0.18
 * s). Nothing here is crash-safe on purpose: no fsync, no rename; a crash leaves a scratch file
 * that the next use overwrites.
 */
import fs from 'node:fs';

import { WeightFileError, fromSystemError } from '../errors.js';
import { native } from '../native.js';
import { dtypeBytes } from './dtypes.js';
import { MAX_VIEW_BYTES } from './safetensors.js';
import type { Layout, PlannedTensor } from './writer.js';

export class ScratchFileWriter {
  private fd: number | undefined;
  private readonly byName: Map<string, PlannedTensor>;
  /** Buffers handed out by chunks(), written at the next call (the caller has filled them by then). */
  private pending: { offset: number; buffers: Uint8Array[] } | undefined;
  /** Reused window buffers (native memory: no JS-heap churn for model-sized data). */
  private readonly pool: Uint8Array[] = [];

  private constructor(readonly path: string, private readonly layout: Layout) {
    this.byName = new Map(layout.tensors.map((t) => [t.name, t]));
    try {
      this.fd = fs.openSync(path, fs.existsSync(path) ? 'r+' : 'w+');
      fs.ftruncateSync(this.fd, layout.totalSize);
      this.put(layout.header, 0);
    } catch (err) {
      this.closeFd();
      throw fromSystemError(err, path, 'opening the scratch file');
    }
  }

  /** Opens (or creates) `file` for `layout`, sized to it, with the header written. */
  static fromLayout(file: string, layout: Layout): ScratchFileWriter {
    return new ScratchFileWriter(file, layout);
  }

  /** Buffers for the tensor's bytes, in windows of at most `maxBytes`, to fill before the next call. */
  chunks(name: string, maxBytes = MAX_VIEW_BYTES): Uint8Array[] {
    this.flush();
    const t = this.planned(name);
    const element = dtypeBytes(t.dtype);
    const window = Math.max(element, Math.floor(Math.min(maxBytes, MAX_VIEW_BYTES) / element) * element);
    const buffers: Uint8Array[] = [];
    for (let at = 0, i = 0; at < t.byteLength; at += window, i++) buffers.push(this.buffer(i, window).subarray(0, Math.min(window, t.byteLength - at)));
    this.pending = { offset: t.fileOffset, buffers };
    return buffers;
  }

  /** Writes `source` (exactly the tensor's byte length, possibly in pieces) at the tensor's place. */
  write(name: string, source: Uint8Array | readonly Uint8Array[]): void {
    this.flush();
    const t = this.planned(name);
    const pieces = source instanceof Uint8Array ? [source] : source;
    const total = pieces.reduce((n, p) => n + p.byteLength, 0);
    if (total !== t.byteLength) throw new WeightFileError('SIZE_MISMATCH', this.path, `got ${total} bytes, the plan needs ${t.byteLength}`, { tensor: name });
    let offset = t.fileOffset;
    for (const p of pieces) {
      this.put(p, offset);
      offset += p.byteLength;
    }
  }

  /** Writes what is pending and the zero padding between tensors (the file may hold an older model), then closes. */
  commit(): void {
    this.flush();
    const byOffset = [...this.layout.tensors].sort((a, b) => a.fileOffset - b.fileOffset);
    let end = this.layout.header.byteLength;
    for (const t of byOffset) {
      if (t.fileOffset > end) this.put(new Uint8Array(t.fileOffset - end), end);
      end = Math.max(end, t.fileOffset + t.byteLength);
    }
    if (this.layout.totalSize > end) this.put(new Uint8Array(this.layout.totalSize - end), end);
    this.closeFd();
  }

  async commitAsync(): Promise<void> {
    this.commit();
  }

  /** Closes and removes the file (a half-written scratch file is not left to be loaded). */
  abort(): void {
    this.pending = undefined;
    this.closeFd();
    fs.rmSync(this.path, { force: true });
  }

  private flush(): void {
    const p = this.pending;
    this.pending = undefined;
    if (p === undefined) return;
    let offset = p.offset;
    for (const b of p.buffers) {
      this.put(b, offset);
      offset += b.byteLength;
    }
  }

  private put(bytes: Uint8Array, offset: number): void {
    if (this.fd === undefined) throw new WeightFileError('CLOSED', this.path, 'the scratch writer is closed');
    let done = 0;
    try {
      while (done < bytes.byteLength) done += fs.writeSync(this.fd, bytes, done, bytes.byteLength - done, offset + done);
    } catch (err) {
      throw fromSystemError(err, this.path, 'writing the scratch file');
    }
  }

  private buffer(i: number, bytes: number): Uint8Array {
    const have = this.pool[i];
    if (have !== undefined && have.byteLength >= bytes) return have;
    const b = new Uint8Array(native.allocate(bytes));
    this.pool[i] = b;
    return b;
  }

  private planned(name: string): PlannedTensor {
    const t = this.byName.get(name);
    if (t === undefined) throw new WeightFileError('TENSOR_NOT_FOUND', this.path, 'is not in the plan', { tensor: name });
    return t;
  }

  private closeFd(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}
