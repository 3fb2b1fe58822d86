/**
 * Paths named inside a checkpoint (shard names in an index, external-data locations in an ONNX
 * graph) must stay inside its folder.
 *
 * The rule: a name that comes from file content is checked lexically — not empty, no NUL, not
 * absolute, no `..` component, and inside the folder after normalization. A symlink that exists
 * on disk inside the folder is followed wherever it points: symlinks are made by the user's own
 * tools (the Hugging Face hub cache links `snapshots/<rev>/*` to `../../blobs/<sha>`), not by
 * the content being validated, so an index can never make us read outside the folder by itself.
 */
import fs from 'node:fs';
import path from 'node:path';

import { WeightFileError, type WeightFileErrorCode, fromSystemError } from '../errors.js';

/**
 * Resolves `name` (read from `referencedFrom`) inside `dir`. Refuses, with PATH_ESCAPE, names that
 * are empty, hold a NUL, are absolute (POSIX, drive letter or UNC), have a `..` component (with
 * `/` or `\` as separator) or name the folder itself. Returns the absolute path. Does not touch
 * the disk: whether the file exists, and where a symlink leads, is for {@link statFollowing}.
 */
export function resolveInside(dir: string, name: string, referencedFrom: string, what = 'shard path'): string {
  if (typeof name !== 'string' || name.length === 0 || name.includes('\0')) {
    throw new WeightFileError('PATH_ESCAPE', referencedFrom, `${what} ${JSON.stringify(name)} is not a file name`);
  }
  if (path.isAbsolute(name) || name.startsWith('\\') || /^[a-zA-Z]:/.test(name)) {
    throw new WeightFileError('PATH_ESCAPE', referencedFrom, `${what} '${name}' is absolute; it must be a name inside the checkpoint folder`);
  }
  const parts = name.split(/[\\/]/);
  if (parts.includes('..')) {
    throw new WeightFileError('PATH_ESCAPE', referencedFrom, `${what} '${name}' leaves the checkpoint folder ('..')`);
  }
  if (parts.every((p) => p === '' || p === '.') || parts[parts.length - 1] === '' || parts[parts.length - 1] === '.') {
    throw new WeightFileError('PATH_ESCAPE', referencedFrom, `${what} '${name}' names a folder, not a file`);
  }
  const root = path.resolve(dir);
  const full = path.resolve(root, name);
  const rel = path.relative(root, full);
  if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) {
    throw new WeightFileError('PATH_ESCAPE', referencedFrom, `${what} '${name}' is not inside the checkpoint folder`);
  }
  return full;
}

/**
 * stat() that follows symlinks, with errors that say what went wrong with a link: a dangling
 * symlink names what it points at, a loop (ELOOP) says so. `missing` is the code for a path
 * that cannot be reached (NOT_FOUND for a path the user gave, MISSING_SHARD for a shard);
 * `listedIn` adds where the path was named.
 */
export function statFollowing(file: string, missing: WeightFileErrorCode = 'NOT_FOUND', listedIn?: string): fs.Stats {
  const where = listedIn === undefined ? '' : ` (listed in ${listedIn})`;
  try {
    return fs.statSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') {
      throw new WeightFileError(missing, file, `cannot be resolved: it is a symlink loop (too many levels of symbolic links)${where}`, { cause: err });
    }
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      let link: string | undefined;
      try {
        if (fs.lstatSync(file).isSymbolicLink()) link = fs.readlinkSync(file);
      } catch {
        // the path itself is absent (or a parent is): a plain missing file
      }
      if (link !== undefined) {
        throw new WeightFileError(missing, file, `is a dangling symlink: it points at '${link}', which does not exist${where}`, { cause: err });
      }
      throw new WeightFileError(missing, file, listedIn === undefined ? 'no such file or folder' : `is listed in ${listedIn} but does not exist`, { cause: err });
    }
    throw fromSystemError(err, file, 'looking it up');
  }
}

/** Whether a directory entry exists at all (a dangling or looping symlink counts: it is there). */
export function entryExists(file: string): boolean {
  try {
    fs.lstatSync(file);
    return true;
  } catch {
    return false;
  }
}
