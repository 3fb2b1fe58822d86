/** Opening a weight file: refused when pickled, a folder or not a regular file; then mapped read-only. */
import fs from 'node:fs';

import { WeightFileError, fromSystemError } from '../errors.js';
import { type NativeMappedFile, native } from '../native.js';
import { refusePickle } from './refuse.js';

/** `expected` names the format in errors (e.g. 'a .safetensors file'). */
export function mapWeightFile(file: string, expected: string): NativeMappedFile {
  refusePickle(file);
  let stat: fs.Stats;
  try {
    stat = fs.statSync(file);
  } catch (err) {
    throw fromSystemError(err, file, 'opening');
  }
  if (stat.isDirectory()) throw new WeightFileError('IS_DIRECTORY', file, `is a directory, expected ${expected}`);
  if (!stat.isFile()) throw new WeightFileError('NOT_A_FILE', file, 'is not a regular file');
  try {
    return native.MappedFile.openReadOnly(file);
  } catch (err) {
    throw fromSystemError(err, file, 'mapping');
  }
}
