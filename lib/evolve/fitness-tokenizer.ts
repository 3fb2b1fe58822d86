/**
 * Which tokenizer an onnx or llama.cpp fitness turns `{"text"}` lines into ids with: the
 * config's `tokenizer` file, `false` for the byte-level protocol, and by default the
 * tokenizer.json of the folder the run takes config.json / tokenizer files from
 * (`copy_files_from`, else the first model that has a config.json: the folder the llama.cpp
 * export and best/ use too), when it has one; a model without one keeps the byte-level protocol.
 */
import fs from 'node:fs';
import path from 'node:path';

import { loadTokenizer, type TextTokenizer } from '../eval/tokenizer.js';
import { carriedFilesFolder } from '../store/carried-files.js';
import type { EvolveConfig } from './config.js';

/** The tokenizer.json a fitness uses, or undefined for the byte-level protocol. */
export function fitnessTokenizerFile(setting: string | false | undefined, config: Pick<EvolveConfig, 'models' | 'copy_files_from'>): string | undefined {
  if (setting === false) return undefined;
  if (setting !== undefined) return setting;  // a missing file is loadTokenizer's error, naming it
  const folder = config.copy_files_from ?? config.models.map(carriedFilesFolder).find((d) => d !== undefined);
  const file = folder === undefined ? undefined : path.join(folder, 'tokenizer.json');
  return file !== undefined && fs.existsSync(file) ? file : undefined;
}

/** The loaded tokenizer (a TokenizerError naming the file when it does not load), or undefined. */
export function fitnessTokenizer(setting: string | false | undefined, config: Pick<EvolveConfig, 'models' | 'copy_files_from'>): TextTokenizer | undefined {
  const file = fitnessTokenizerFile(setting, config);
  return file === undefined ? undefined : loadTokenizer(file);
}
