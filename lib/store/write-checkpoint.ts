/**
 * Writes a set of tensors as a Hugging Face checkpoint folder: model.safetensors, or
 * shards of at most `maxShardBytes` plus model.safetensors.index.json, with the config and
 * tokenizer files carried over from a source folder.
 *
 * An output folder appears complete or not at all: the checkpoint is written into a temporary
 * sibling `<name>.tmp-<pid>-<n>` (same parent, so same file system) and swapped in with one
 * atomic exchange (renameat2 RENAME_EXCHANGE); the previous folder is then removed. A failure
 * at any point (full disk, error, crash) leaves the previous folder exactly as it was.
 */
import fs from 'node:fs';
import path from 'node:path';

import { EvolverArgumentError, WeightFileError, fromSystemError } from '../errors.js';
import { exchangePaths } from '../native.js';
import { INDEX_NAME, SINGLE_NAME } from './checkpoint.js';
import type { WeightSource } from './source.js';
import { SafetensorsWriter, fsyncDir } from './writer.js';

/** Files of a model folder that describe the model and travel with its weights. */
export const CARRIED_FILES = [
  'config.json',
  'generation_config.json',
  'tokenizer.json',
  'tokenizer_config.json',
  'special_tokens_map.json',
  'added_tokens.json',
  'vocab.json',
  'vocab.txt',
  'merges.txt',
  'tokenizer.model',
  'chat_template.jinja',
];

export interface WriteCheckpointOptions {
  /** Largest shard, in bytes of tensor data (default 5 GB, as transformers). */
  maxShardBytes?: number;
  /** Folder whose config and tokenizer files are copied next to the weights. */
  copyFilesFrom?: string;
  /** Replace weights already in the folder (default: refuse). */
  overwrite?: boolean;
  metadata?: Record<string, string>;
  space?: 'check' | 'reserve' | 'sparse';
}

export interface WrittenCheckpoint {
  folder: string;
  shards: string[];
  totalSize: number;
}

export function shardName(i: number, n: number): string {
  const pad = (x: number) => String(x).padStart(5, '0');
  return `model-${pad(i + 1)}-of-${pad(n)}.safetensors`;
}

/** Groups tensors (in name order) into shards of at most maxShardBytes; a larger tensor gets a shard of its own. */
export function planShards(source: WeightSource, maxShardBytes: number): string[][] {
  const shards: string[][] = [];
  let current: string[] = [];
  let bytes = 0;
  for (const name of source.names()) {
    const n = source.meta(name).byteLength;
    if (current.length > 0 && bytes + n > maxShardBytes) {
      shards.push(current);
      current = [];
      bytes = 0;
    }
    current.push(name);
    bytes += n;
  }
  if (current.length > 0 || shards.length === 0) shards.push(current);
  return shards;
}

export function writeCheckpoint(source: WeightSource, folder: string, options: WriteCheckpointOptions = {}): WrittenCheckpoint {
  const maxShardBytes = options.maxShardBytes ?? 5_000_000_000;
  if (!Number.isSafeInteger(maxShardBytes) || maxShardBytes <= 0) throw new EvolverArgumentError(`maxShardBytes must be a positive integer, got ${maxShardBytes}`);
  const out = openOutputFolder(folder, { overwrite: options.overwrite === true, existsHint: 'pass overwrite to replace them' });
  try {
    const groups = planShards(source, maxShardBytes);
    const names = groups.length === 1 ? [SINGLE_NAME] : groups.map((_, i) => shardName(i, groups.length));
    const metadata = { format: 'pt', ...source.metadata, ...options.metadata };
    const weightMap: Record<string, string> = {};
    let totalSize = 0;
    groups.forEach((group, i) => {
      const file = path.join(out.dir, names[i]!);
      const writer = SafetensorsWriter.create(
        file,
        { tensors: group.map((name) => source.meta(name)), metadata },
        options.space === undefined ? {} : { space: options.space },
      );
      try {
        for (const name of group) {
          writer.write(name, source.chunks(name));
          weightMap[name] = names[i]!;
          totalSize += source.meta(name).byteLength;
        }
        writer.commit();
      } catch (err) {
        writer.abort();
        throw err;
      }
    });
    if (groups.length > 1) {
      const index = { metadata: { total_size: totalSize }, weight_map: Object.fromEntries(Object.entries(weightMap).sort()) };
      writeFileAtomic(path.join(out.dir, INDEX_NAME), JSON.stringify(index, null, 2) + '\n');
    }
    if (options.copyFilesFrom !== undefined) copyCarriedFiles(options.copyFilesFrom, out.dir);
    out.commit();
    return { folder, shards: names, totalSize };
  } catch (err) {
    out.abort();
    throw out.retarget(err);
  }
}

/** Weights of a checkpoint folder: what an output replaces (every other file is kept). */
const isWeightFile = (name: string) => name.endsWith('.safetensors') || name === INDEX_NAME || name.endsWith('.gguf');

/** Test seam: the exchange primitive (a test makes it fail with EINVAL to exercise the fallback). */
export const outputFolderHooks = { exchange: exchangePaths };

/** Temp folders of writes in flight in this process: never cleaned as leftovers. */
const inFlight = new Set<string>();
let sequence = 0;

export interface OutputFolder {
  /** The folder the caller asked for (symlinks resolved). */
  readonly target: string;
  /** Where to write: a fresh temporary sibling of the target. */
  readonly dir: string;
  /**
   * Puts the finished folder in place: files of the previous folder that the new one does not
   * have (README, notes; never weights) are carried over, then one atomic exchange swaps the
   * folders and the previous one is removed; a plain rename when there was none.
   */
  commit(): void;
  /** Removes the temporary folder; the target is untouched. Safe to call after commit. */
  abort(): void;
  /** An error about a file in the temp folder, re-aimed at the same file in the target. */
  retarget(err: unknown): unknown;
}

/**
 * Starts writing an output folder (see the module comment). Cleans leftovers of crashed writes
 * to the same output (`<name>.tmp-<pid>-<n>`, `<name>.old-<pid>-<n>` of processes that are gone),
 * and refuses, with OUTPUT_EXISTS and before anything is written, a folder that holds weights
 * unless `overwrite`.
 */
export function openOutputFolder(folder: string, o: { overwrite: boolean; existsHint: string }): OutputFolder {
  let target = path.resolve(folder);
  try {
    if (fs.lstatSync(target).isSymbolicLink()) target = fs.realpathSync(target);  // write where the link points
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw fromSystemError(err, folder, 'resolving the output folder');
  }
  const parent = path.dirname(target);
  const base = path.basename(target);
  try {
    fs.mkdirSync(parent, { recursive: true });
  } catch (err) {
    throw fromSystemError(err, folder, 'creating the output folder');
  }
  cleanLeftovers(parent, base);
  let stat: fs.Stats | undefined;
  try {
    stat = fs.statSync(target);
  } catch {
    stat = undefined;
  }
  if (stat !== undefined && !stat.isDirectory()) throw new WeightFileError('NOT_A_FILE', folder, 'exists and is not a folder; an output checkpoint is a folder');
  if (stat !== undefined) {
    const existing = fs.readdirSync(target).filter(isWeightFile);
    if (existing.length > 0 && !o.overwrite) {
      throw new WeightFileError('OUTPUT_EXISTS', folder, `already holds weights (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', ...' : ''}); ${o.existsHint}`);
    }
  }
  const dir = path.join(parent, `${base}.tmp-${process.pid}-${sequence++}`);
  try {
    fs.mkdirSync(dir);
  } catch (err) {
    throw fromSystemError(err, folder, 'creating the output folder');
  }
  inFlight.add(dir);
  let done = false;
  const abort = () => {
    inFlight.delete(dir);
    if (done) return;
    done = true;
    fs.rmSync(dir, { recursive: true, force: true });
  };
  const commit = () => {
    if (done) throw new EvolverArgumentError(`${folder}: the output folder was already committed or aborted`);
    try {
      const previous = fs.existsSync(target) ? fs.readdirSync(target) : undefined;
      if (previous !== undefined) {
        const have = new Set(fs.readdirSync(dir));
        for (const name of previous) {
          if (isWeightFile(name) || have.has(name) || /\.tmp-\d+/.test(name)) continue;
          carryOver(path.join(target, name), path.join(dir, name));
        }
      }
      fsyncDir(dir);
      if (previous === undefined) {
        fs.renameSync(dir, target);
      } else {
        swapIn(dir, target, parent, base);
      }
    } catch (err) {
      throw fromSystemError(err, folder, 'putting the new checkpoint in place');
    }
    // In place. `dir` now holds the previous folder (after an exchange) or nothing: remove it
    // (a failure here leaves a leftover that the next write to this output cleans).
    done = true;
    inFlight.delete(dir);
    try {
      fsyncDir(parent);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const retarget = (err: unknown): unknown => {
    if (!(err instanceof WeightFileError) || !(err.file === dir || err.file.startsWith(dir + path.sep))) return err;
    const file = path.join(folder, path.relative(dir, err.file));
    const again = new WeightFileError(err.code, file, '', { ...(err.tensor === undefined ? {} : { tensor: err.tensor }), cause: err });
    again.message = `${err.message.split(dir).join(folder)} (while writing the new checkpoint; the previous contents of ${folder} are unchanged)`;
    return again;
  };
  return { target, dir, commit, abort, retarget };
}

/** A file of the previous folder into the new one: a hard link (instant, no space), else a copy. */
function carryOver(from: string, to: string): void {
  const stat = fs.lstatSync(from);
  if (stat.isFile()) {
    try {
      fs.linkSync(from, to);
      return;
    } catch {
      fs.copyFileSync(from, to);
      return;
    }
  }
  fs.cpSync(from, to, { recursive: true, preserveTimestamps: true });
}

/**
 * Exchanges the new folder with the existing target in one step. Where that is unsupported
 * (EINVAL, ENOSYS, EOPNOTSUPP), two renames: target -> `<name>.old-<pid>-<n>`, new ->
 * target, then the old one is removed. Between the two renames there is a short window in which
 * the target does not exist (a crash there leaves the previous checkpoint complete under the
 * .old name and the new one under .tmp; the next write cleans both).
 */
function swapIn(dir: string, target: string, parent: string, base: string): void {
  try {
    outputFolderHooks.exchange(dir, target);
    return;
  } catch (err) {
    // Unsupported here: the file system (EINVAL), the kernel (ENOSYS), or an addon built before
    // exchangePaths existed (TypeError: not a function).
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== 'EINVAL' && code !== 'ENOSYS' && code !== 'EOPNOTSUPP' && code !== 'ENOTSUP' && !(err instanceof TypeError)) throw err;
  }
  const old = path.join(parent, `${base}.old-${process.pid}-${sequence++}`);
  fs.renameSync(target, old);
  try {
    fs.renameSync(dir, target);
  } catch (err) {
    fs.renameSync(old, target);  // put the previous one back
    throw err;
  }
  fs.rmSync(old, { recursive: true, force: true });  // a failure here leaves a leftover the next write cleans
}

/** Removes `<base>.tmp-<pid>-<n>` / `<base>.old-<pid>-<n>` siblings whose process is gone (or is this one, not in flight). */
function cleanLeftovers(parent: string, base: string): void {
  let entries: string[];
  try {
    entries = fs.readdirSync(parent);
  } catch {
    return;
  }
  const prefix = `${base}.`;
  for (const name of entries) {
    if (!name.startsWith(prefix)) continue;
    const m = /^(?:tmp|old)-(\d+)-\d+$/.exec(name.slice(prefix.length));
    if (m === null) continue;
    const full = path.join(parent, name);
    const pid = Number(m[1]);
    if (inFlight.has(full) || (pid !== process.pid && processAlive(pid))) continue;
    fs.rmSync(full, { recursive: true, force: true });
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Copies config.json, generation_config.json and tokenizer files, when present, unchanged. */
export function copyCarriedFiles(from: string, to: string): string[] {
  const copied: string[] = [];
  if (path.resolve(from) === path.resolve(to)) return copied;
  for (const name of CARRIED_FILES) {
    const src = path.join(from, name);
    if (!fs.existsSync(src)) continue;
    fs.copyFileSync(src, path.join(to, name));
    copied.push(name);
  }
  return copied;
}

export function writeFileAtomic(file: string, content: string | Uint8Array): void {
  const temp = `${file}.tmp-${process.pid}`;
  try {
    const fd = fs.openSync(temp, 'w');
    try {
      fs.writeFileSync(fd, content);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    fs.renameSync(temp, file);
  } catch (err) {
    fs.rmSync(temp, { force: true });
    throw fromSystemError(err, file, 'writing');
  }
}
