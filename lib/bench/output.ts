/**
 * Where a benchmark writes its JSON. A plain run never touches committed results: it writes a
 * new file under `bench/results/local/` (ignored by git), named with the host, the date and the
 * process id so that two runs cannot collide. Committed results change only when asked:
 * `--save NAME` writes `bench/results/NAME.json`, `--out FILE` writes exactly FILE.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { EvolverArgumentError } from '../errors.js';
import { writeFileAtomic } from '../store/write-checkpoint.js';

/** The package root (two levels up from lib/bench and from dist/bench). */
export const PACKAGE_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface ResultTarget {
  /** Write exactly this file (relative to the working directory). */
  out?: string;
  /** Write bench/results/NAME.json: the committed results. */
  save?: string;
}

/** The results folder: bench/results of this checkout; for an installed package (no bench/), ./evolver-bench in the working directory. */
export function resultsDir(root = PACKAGE_ROOT): string {
  return fs.existsSync(path.join(root, 'bench')) ? path.join(root, 'bench', 'results') : path.resolve('evolver-bench');
}

/** 20261126-143005: local time, sortable, no characters a file system dislikes. */
function stamp(d: Date): string {
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}${p(d.getMonth() + 1)}${p(d.getDate())}-${p(d.getHours())}${p(d.getMinutes())}${p(d.getSeconds())}`;
}

const safe = (s: string) => s.replace(/[^A-Za-z0-9._-]/g, '_');

/** The file a benchmark called `kind` (kernels, e2e, merge, strategies, ...) writes to. */
export function resultFile(kind: string, target: ResultTarget = {}, o: { root?: string; date?: Date; host?: string; pid?: number } = {}): string {
  if (target.out !== undefined && target.save !== undefined) throw new EvolverArgumentError('give --out FILE or --save NAME, not both');
  if (target.out !== undefined) {
    if (target.out.trim() === '') throw new EvolverArgumentError('--out: expected a file name');
    return path.resolve(target.out);
  }
  const dir = resultsDir(o.root);
  if (target.save !== undefined) {
    const name = target.save.replace(/\.json$/, '');
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) throw new EvolverArgumentError(`--save: expected a name like ${kind}-myhost (letters, digits, '.', '_', '-'), got '${target.save}'`);
    return path.join(dir, `${name}.json`);
  }
  return path.join(dir, 'local', `${kind}-${safe(o.host ?? os.hostname())}-${stamp(o.date ?? new Date())}-${o.pid ?? process.pid}.json`);
}

/** Writes the JSON (atomically: a reader never sees half a file) and returns the path. */
export function writeResult(file: string, value: unknown): string {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n');
  return file;
}

/** `--out FILE` / `--save NAME` from a bench script's argv (bench/*.ts). */
export function targetFromArgv(argv: string[] = process.argv.slice(2)): ResultTarget {
  const value = (flag: string) => {
    const i = argv.findIndex((a) => a === flag || a.startsWith(`${flag}=`));
    if (i < 0) return undefined;
    const a = argv[i]!;
    const v = a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[i + 1];
    if (v === undefined || v.startsWith('--')) throw new EvolverArgumentError(`${flag}: expected a value`);
    return v;
  };
  const out = value('--out');
  const save = value('--save');
  return { ...(out !== undefined ? { out } : {}), ...(save !== undefined ? { save } : {}) };
}

/** The line a benchmark prints last, saying where its results went and whether they are committed ones. */
export function wroteLine(file: string, target: ResultTarget): string {
  const rel = path.relative(process.cwd(), file) || file;
  const shown = rel.startsWith('..') ? file : rel;
  if (target.save !== undefined) return `wrote ${shown} (saved: committed results; review the diff before committing)`;
  if (target.out !== undefined) return `wrote ${shown}`;
  return `wrote ${shown} (local, not committed; --save NAME writes bench/results/NAME.json)`;
}
