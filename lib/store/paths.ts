/** Paths named inside a checkpoint (shard names in an index) must stay inside its folder. */
import fs from 'node:fs';
import path from 'node:path';

import { WeightFileError } from '../errors.js';

/** Resolves `name` inside `dir`, refusing absolute paths, `..` and symlinks that lead outside. */
export function resolveInside(dir: string, name: string, referencedFrom: string): string {
  if (typeof name !== 'string' || name.length === 0 || name.includes('\0')) {
    throw new WeightFileError('PATH_ESCAPE', referencedFrom, `shard path ${JSON.stringify(name)} is not a file name`);
  }
  if (path.isAbsolute(name) || /^[a-zA-Z]:[\\/]/.test(name)) {
    throw new WeightFileError('PATH_ESCAPE', referencedFrom, `shard path '${name}' is absolute; shards must be inside the checkpoint folder`);
  }
  if (name.split(/[\\/]/).includes('..')) {
    throw new WeightFileError('PATH_ESCAPE', referencedFrom, `shard path '${name}' leaves the checkpoint folder ('..')`);
  }
  const full = path.resolve(dir, name);
  let real: string;
  try {
    real = fs.realpathSync(full);
  } catch {
    return full;  // missing: reported by the caller as MISSING_SHARD
  }
  const realDir = fs.realpathSync(dir);
  if (real !== realDir && !real.startsWith(realDir + path.sep)) {
    throw new WeightFileError('PATH_ESCAPE', referencedFrom, `shard path '${name}' resolves to ${real}, outside the checkpoint folder (symlink?)`);
  }
  return full;
}
