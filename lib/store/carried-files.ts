/**
 * Where a model's config.json and tokenizer files are, for outputs made from it (merges, the
 * final table's merges). Hugging Face folders hold them beside the weights; a bare
 * `.safetensors` file (like the bundled example's `models-bf16/*.safetensors`) often keeps
 * them one level up, shared by the sibling models.
 */
import fs from 'node:fs';
import path from 'node:path';

import { ConfigError } from '../evolve/config.js';
import { CARRIED_FILES, copyCarriedFiles } from './write-checkpoint.js';

/**
 * The folder to carry config.json / tokenizer files from for `model` (a .safetensors file, an
 * index file or a model folder): the model's own folder when it holds config.json; for a single
 * file whose folder has none, the folder above it when that one holds config.json; else
 * undefined. Nothing further up is searched (a config two levels up belongs to something else).
 */
export function carriedFilesFolder(model: string): string | undefined {
  const abs = path.resolve(model);
  let isDir = false;
  try {
    isDir = fs.statSync(abs).isDirectory();
  } catch {
    return undefined;
  }
  const own = isDir ? abs : path.dirname(abs);
  if (fs.existsSync(path.join(own, 'config.json'))) return own;
  if (isDir || !abs.endsWith('.safetensors')) return undefined;
  const parent = path.dirname(own);
  return parent !== own && fs.existsSync(path.join(parent, 'config.json')) ? parent : undefined;
}

/**
 * Copies the carried files of the first of `models` that has a config.json (see
 * carriedFilesFolder) into `outDir`, unless `outDir` already has a config.json. Returns the
 * files `outDir` now holds of CARRIED_FILES.
 */
export function carryModelFiles(models: readonly (string | undefined)[], outDir: string): string[] {
  if (!fs.existsSync(path.join(outDir, 'config.json'))) {
    for (const m of models) {
      const from = m === undefined ? undefined : carriedFilesFolder(m);
      if (from !== undefined) {
        copyCarriedFiles(from, outDir);
        break;
      }
    }
  }
  return CARRIED_FILES.filter((f) => fs.existsSync(path.join(outDir, f)));
}

/** The tokenizer's files among CARRIED_FILES (mergekit's tokenizer_source carries these). */
export const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'added_tokens.json', 'vocab.json', 'vocab.txt', 'merges.txt', 'tokenizer.model', 'chat_template.jinja'];

/**
 * Replaces `outDir`'s tokenizer files by `model`'s (a config's tokenizer_source). A model
 * without any is an error naming it: the user asked for its tokenizer.
 */
export function carryTokenizer(model: string, outDir: string, configFile: string): void {
  const from = carriedFilesFolder(model);
  const files = from === undefined ? [] : TOKENIZER_FILES.filter((f) => fs.existsSync(path.join(from, f)));
  if (files.length === 0) throw new ConfigError(configFile, 'tokenizer_source', `${model} has no tokenizer files (${TOKENIZER_FILES.join(', ')}) beside it`);
  for (const f of TOKENIZER_FILES) fs.rmSync(path.join(outDir, f), { force: true });
  for (const f of files) fs.copyFileSync(path.join(from!, f), path.join(outDir, f));
}
