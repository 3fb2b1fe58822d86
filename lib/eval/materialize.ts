/**
 * Puts a weight set where another process can read it: the evaluator's weights live in a memfd
 * (/proc/self/fd/N, valid only inside Evolver), so an external evaluator gets a Hugging Face
 * folder of its own — model.safetensors plus the population's config.json / tokenizer files —
 * or a GGUF file exported from that folder. It goes to RAM (/dev/shm) when there is room, since
 * it is written and read once per trial and then removed.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import { exportGguf } from '../export/gguf-export.js';
import type { WeightSet } from '../store/checkpoint.js';
import { writeCheckpoint } from '../store/write-checkpoint.js';

export interface Materialized {
  /** What `{model}` becomes: the folder, or the .gguf file inside it. */
  path: string;
  /** Where it was written: '/dev/shm' or the temporary directory. */
  scratch: string;
  /** Removes everything written; safe to call twice. */
  remove(): void;
}

/** Headroom over the weights' size: the header, carried files, a GGUF copy's alignment. */
const HEADROOM = 1.1;

/** /dev/shm when it exists with more than `bytes` × 1.1 free, else os.tmpdir(). */
export function scratchFor(bytes: number, shm = '/dev/shm'): string {
  try {
    const s = fs.statfsSync(shm);
    if (s.bavail * s.bsize > bytes * HEADROOM) return shm;
  } catch {
    // No /dev/shm (macOS, some containers).
  }
  return os.tmpdir();
}

export async function materialize(weights: WeightSet, o: { carryFrom?: string; format: 'safetensors' | 'gguf'; shm?: string }): Promise<Materialized> {
  // A GGUF export holds a second copy next to the folder until the folder is gone.
  const bytes = weights.dataBytes * (o.format === 'gguf' ? 2 : 1);
  const scratch = scratchFor(bytes, o.shm);
  const dir = fs.mkdtempSync(path.join(scratch, 'evolver-eval-'));
  const remove = () => fs.rmSync(dir, { recursive: true, force: true });
  try {
    const folder = path.join(dir, 'model');
    writeCheckpoint(weights, folder, o.carryFrom === undefined ? {} : { copyFilesFrom: o.carryFrom });
    if (o.format === 'safetensors') return { path: folder, scratch, remove };
    const file = path.join(dir, 'model.gguf');
    await exportGguf(folder, file);
    fs.rmSync(folder, { recursive: true, force: true });  // the program gets the .gguf only; free the RAM now
    return { path: file, scratch, remove };
  } catch (err) {
    remove();
    throw err;
  }
}
