/**
 * Writes a set of tensors as a Hugging Face checkpoint folder: model.safetensors, or
 * shards of at most `maxShardBytes` plus model.safetensors.index.json, with the config and
 * tokenizer files carried over from a source folder.
 */
import fs from 'node:fs';
import path from 'node:path';

import { EvolverArgumentError, WeightFileError, fromSystemError } from '../errors.js';
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
  try {
    fs.mkdirSync(folder, { recursive: true });
  } catch (err) {
    throw fromSystemError(err, folder, 'creating the output folder');
  }
  const existing = fs.readdirSync(folder).filter((f) => f.endsWith('.safetensors') || f === INDEX_NAME);
  if (existing.length > 0 && options.overwrite !== true) {
    throw new WeightFileError('OUTPUT_EXISTS', folder, `already holds weights (${existing.slice(0, 3).join(', ')}${existing.length > 3 ? ', ...' : ''}); pass overwrite to replace them`);
  }

  const groups = planShards(source, maxShardBytes);
  const names = groups.length === 1 ? [SINGLE_NAME] : groups.map((_, i) => shardName(i, groups.length));
  const metadata = { format: 'pt', ...source.metadata, ...options.metadata };
  const weightMap: Record<string, string> = {};
  let totalSize = 0;
  groups.forEach((group, i) => {
    const file = path.join(folder, names[i]!);
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

  const indexPath = path.join(folder, INDEX_NAME);
  if (groups.length > 1) {
    // Written last, through a rename: a reader that finds the index finds every shard.
    const index = { metadata: { total_size: totalSize }, weight_map: Object.fromEntries(Object.entries(weightMap).sort()) };
    writeFileAtomic(indexPath, JSON.stringify(index, null, 2) + '\n');
  } else {
    fs.rmSync(indexPath, { force: true });
  }
  // Weights from an earlier write that this one did not replace would be picked up later.
  for (const stale of existing) if (!names.includes(stale) && stale !== INDEX_NAME) fs.rmSync(path.join(folder, stale), { force: true });
  if (options.copyFilesFrom !== undefined) copyCarriedFiles(options.copyFilesFrom, folder);
  fsyncDir(folder);
  return { folder, shards: names, totalSize };
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

export function writeFileAtomic(file: string, content: string): void {
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
