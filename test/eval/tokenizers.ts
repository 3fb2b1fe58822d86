// Tokenizer files for tests, made from the fixtures in test/fixtures/tokenizers/.
import fs from 'node:fs';
import path from 'node:path';

import { ROOT, writeTemp } from '../helpers.js';

export const TOKENIZER_FIXTURES = path.join(ROOT, 'test', 'fixtures', 'tokenizers');
export const GPT2_TOKENIZER = path.join(TOKENIZER_FIXTURES, 'gpt2-bpe', 'tokenizer.json');
export const SP_TOKENIZER = path.join(TOKENIZER_FIXTURES, 'sp-bpe', 'tokenizer.json');

/**
 * The GPT-2 fixture without merges and its end token at 256: the bundled models' byte-level
 * vocabulary, so scores through it must equal the byte-level protocol's exactly.
 */
export function byteTokenizer(dir: string): string {
  const json = JSON.parse(fs.readFileSync(GPT2_TOKENIZER, 'utf8'));
  json.model.vocab = Object.fromEntries(Object.entries(json.model.vocab as Record<string, number>).filter(([, id]) => id < 256));
  json.model.merges = [];
  json.added_tokens[0].id = 256;
  return writeTemp(dir, 'tokenizer.json', JSON.stringify(json));
}
