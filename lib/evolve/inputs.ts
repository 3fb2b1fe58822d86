/**
 * What identifies the input models of a run, so that a resume (or a run in progress) notices
 * an input that was replaced or overwritten.
 *
 * The identity of each file is its size plus a sha256 over its safetensors header and 64 blocks
 * of 4 KiB spread evenly over the file (first and last included): a fingerprint, not a content
 * hash. Why: a full hash of a 7B model costs seconds to minutes per member at every resume,
 * while a replaced model (another fine-tune, another dtype, a truncated or re-sharded copy)
 * differs in its size, its header or nearly every block, and is caught by 64 reads. What it
 * does not catch: an edit of a few bytes between the sampled blocks. The full content hash of
 * the evolved tensors of every input is also in run.json (initial[i].checksum), checked when a
 * repair replays the journal.
 *
 * During a run every input file is stat()ed before each journal line (microseconds); only a
 * file whose size, inode, mtime or ctime moved is fingerprinted again.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';

import { type WeightSet, openWeights } from '../store/checkpoint.js';
import type { EvolveConfig } from './config.js';
import { RunFolderError } from './run-folder.js';

const BLOCKS = 64;
const BLOCK_BYTES = 4096;

export interface InputFileIdentity {
  file: string;
  size: number;
  /** sha256 of the header and the sampled blocks (see above). */
  fingerprint: string;
}

export interface InputIdentity {
  model: string;
  files: InputFileIdentity[];
}

export class InputChangedError extends RunFolderError {
  override readonly name = 'InputChangedError';
  readonly file: string;
  constructor(file: string, what: string) {
    super(`${file}: this input changed since the run started (${what}); a run (or its resume) only continues on the inputs it began with — restore the original file or start a new run`);
    this.file = file;
  }
}

/** Fingerprint of one file read through the file system (not a mapping: a shrunken file must not fault). */
export function fingerprintFile(file: string): InputFileIdentity {
  const fd = fs.openSync(file, 'r');
  try {
    const size = fs.fstatSync(fd).size;
    const h = crypto.createHash('sha256');
    h.update(`size ${size}\n`);
    const head = Buffer.alloc(8);
    if (fs.readSync(fd, head, 0, 8, 0) === 8) {
      const headerBytes = Math.min(Number(head.readBigUInt64LE(0)), size - 8, 100_000_000);
      h.update(readAt(fd, 0, 8 + Math.max(0, headerBytes)));
    }
    const block = Buffer.alloc(BLOCK_BYTES);
    const span = Math.max(0, size - BLOCK_BYTES);
    for (let i = 0; i < BLOCKS; i++) {
      const at = Math.floor((span * i) / (BLOCKS - 1));
      const n = fs.readSync(fd, block, 0, BLOCK_BYTES, at);
      h.update(block.subarray(0, n));
    }
    return { file, size, fingerprint: h.digest('hex') };
  } finally {
    fs.closeSync(fd);
  }
}

function readAt(fd: number, at: number, length: number): Buffer {
  const b = Buffer.alloc(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, b, done, length - done, at + done);
    if (n === 0) break;
    done += n;
  }
  return b.subarray(0, done);
}

export function identify(model: WeightSet): InputIdentity {
  return { model: model.path, files: model.files.map((f) => fingerprintFile(f.path)) };
}

/** Throws InputChangedError naming the first input file that differs from what was recorded. */
export function verifyInputs(recorded: readonly InputIdentity[], models: readonly WeightSet[]): void {
  models.forEach((m, i) => {
    const r = recorded[i];
    if (r === undefined) throw new InputChangedError(m.path, 'the run recorded fewer models');
    const now = m.files.map((f) => f.path);
    const then = r.files.map((f) => f.file);
    if (now.join('\n') !== then.join('\n')) throw new InputChangedError(m.path, `its files are now ${now.join(', ')}, were ${then.join(', ')}`);
    verifyFiles(r.files);
  });
}

/** Throws InputChangedError naming the first file whose size or fingerprint differs from what was recorded. */
export function verifyFiles(recorded: readonly InputFileIdentity[]): void {
  for (const f of recorded) {
    let current: InputFileIdentity;
    try {
      current = fingerprintFile(f.file);
    } catch (err) {
      throw new InputChangedError(f.file, `cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    if (current.size !== f.size) throw new InputChangedError(f.file, `size ${current.size} bytes, was ${f.size}`);
    if (current.fingerprint !== f.fingerprint) throw new InputChangedError(f.file, 'its header or sampled contents differ');
  }
}

/** The files a merger reads besides the population: its statistics files and its base model's files. */
export function mergerFiles(c: EvolveConfig): string[] {
  const m = c.merger;
  if (m === undefined) return [];
  let base: string[] = [];
  if (m.base !== undefined) {
    using w = openWeights(m.base);
    base = w.files.map((f) => f.path);
  }
  return [...(m.stats ?? []), ...base];
}

/** Cheap per-trial check: stat every input file; fingerprint again only those whose stat moved. */
export class InputWatch {
  private readonly stats = new Map<string, string>();

  constructor(private readonly recorded: readonly InputIdentity[]) {
    for (const r of recorded) for (const f of r.files) this.stats.set(f.file, statKey(f.file));
  }

  check(): void {
    for (const r of this.recorded) {
      for (const f of r.files) {
        const key = statKey(f.file);
        if (key === this.stats.get(f.file)) continue;
        let current: InputFileIdentity;
        try {
          current = fingerprintFile(f.file);
        } catch (err) {
          throw new InputChangedError(f.file, `cannot read it: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
        }
        if (current.size !== f.size || current.fingerprint !== f.fingerprint) throw new InputChangedError(f.file, current.size !== f.size ? `size ${current.size} bytes, was ${f.size}` : 'its header or sampled contents differ');
        this.stats.set(f.file, key);  // touched, or copied back identically
      }
    }
  }
}

function statKey(file: string): string {
  try {
    const s = fs.statSync(file, { bigint: true });
    return `${s.size} ${s.ino} ${s.mtimeNs} ${s.ctimeNs}`;
  } catch (err) {
    return `missing ${(err as NodeJS.ErrnoException).code}`;
  }
}
