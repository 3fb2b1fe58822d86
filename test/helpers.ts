import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { WeightFileError, type WeightFileErrorCode } from '../lib/errors.js';

export const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const FORTUNES = path.join(ROOT, 'examples', 'fortunes');
export const F32_BASE = path.join(FORTUNES, 'models', 'base.safetensors');
export const BF16_BASE = path.join(FORTUNES, 'models-bf16', 'base.safetensors');
export const DOMAINS = ['computers', 'politics', 'science', 'songs-poems'] as const;

export function tempDir(prefix = 'evolver-test-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** A real tmpfs of `sizeMiB` (root only: full-disk tests), or undefined where none can be mounted. */
export function mountTmpfs(sizeMiB: number): string | undefined {
  if (process.getuid?.() !== 0) return undefined;
  const dir = tempDir('evolver-fs-');
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${sizeMiB}m`, 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    return undefined;
  }
}

/** Writes `file` until the file system is full, to the last byte (64 KiB blocks, then single bytes). */
export function fillDisk(file: string): void {
  const fd = fs.openSync(file, 'w');
  try {
    for (const block of [Buffer.alloc(64 * 1024, 1), Buffer.alloc(1, 1)]) {
      try {
        for (;;) fs.writeSync(fd, block);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOSPC') throw err;
      }
    }
  } finally {
    fs.closeSync(fd);
  }
}

/** Raw safetensors bytes from a header object (or raw header text) and data bytes. */
export function safetensorsBytes(header: unknown, data: Uint8Array = new Uint8Array(0), pad = true): Uint8Array {
  let text = typeof header === 'string' ? header : JSON.stringify(header);
  const raw = Buffer.from(text, 'utf8');
  const len = pad ? Math.ceil(raw.length / 8) * 8 : raw.length;
  const out = new Uint8Array(8 + len + data.length);
  new DataView(out.buffer).setBigUint64(0, BigInt(len), true);
  out.set(raw, 8);
  out.fill(0x20, 8 + raw.length, 8 + len);
  out.set(data, 8 + len);
  return out;
}

export function writeTemp(dir: string, name: string, bytes: Uint8Array | string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, bytes);
  return file;
}

/** Asserts `fn` throws a WeightFileError with this code, naming `file` (and `tensor`, when given). */
export function assertWeightError(fn: () => unknown, code: WeightFileErrorCode, file: string, tensor?: string): WeightFileError {
  let caught: unknown;
  try {
    fn();
  } catch (err) {
    caught = err;
  }
  assert.ok(caught instanceof WeightFileError, `expected WeightFileError ${code}, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.equal(caught.file, file);
  assert.ok(caught.message.includes(file), `message names the file: ${caught.message}`);
  if (tensor !== undefined) {
    assert.equal(caught.tensor, tensor);
    assert.ok(caught.message.includes(tensor), `message names the tensor: ${caught.message}`);
  }
  return caught;
}

/** float32 -> bf16 bits, round to nearest even, written out plainly (independent of the native code). */
export function bf16RoundNearestEven(f: number): number {
  const u = new Uint32Array(new Float32Array([f]).buffer)[0]!;
  if ((u & 0x7fffffff) > 0x7f800000) return 0x7fc0;
  const lower = u & 0xffff;
  let upper = u >>> 16;
  if (lower > 0x8000 || (lower === 0x8000 && (upper & 1) === 1)) upper += 1;
  return upper & 0xffff;
}

/** Runs the CLI from source (test/run-cli.ts) in the repository root and waits for it. */
export function evolverCli(...args: string[]): { code: number | null; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}
