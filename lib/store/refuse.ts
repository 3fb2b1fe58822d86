/** Pickled checkpoints can run arbitrary code when loaded: they are refused, never opened. */
import path from 'node:path';

import { WeightFileError } from '../errors.js';

const PICKLE_EXTENSIONS = new Set(['.bin', '.pt', '.pth', '.ckpt', '.pkl', '.pickle']);

export const CONVERT_HINT =
  'convert it to safetensors first, in Python: `from safetensors.torch import save_file; ' +
  "save_file(torch.load(PATH, map_location='cpu', weights_only=True), 'model.safetensors')` " +
  '(or `model.save_pretrained(DIR, safe_serialization=True)` for a transformers model)';

export function isPickleName(file: string): boolean {
  return PICKLE_EXTENSIONS.has(path.extname(file).toLowerCase());
}

export function refusePickle(file: string): void {
  if (isPickleName(file)) {
    throw new WeightFileError('PICKLE', file, `pickled checkpoints are never loaded (they can execute code); ${CONVERT_HINT}`);
  }
}

/** Explains a file whose first bytes look like a zip (torch.save) or a raw pickle. */
export function pickleMagicHint(first: Uint8Array): string {
  if (first[0] === 0x50 && first[1] === 0x4b && first[2] === 0x03 && first[3] === 0x04) return ' (it looks like a torch.save zip archive: ' + CONVERT_HINT + ')';
  if (first[0] === 0x80 && first[1] !== undefined && first[1] >= 2 && first[1] <= 5) return ' (it looks like a Python pickle: ' + CONVERT_HINT + ')';
  return '';
}
