/**
 * A model's own tokenizer (a Hugging Face tokenizer.json, read by the pure-JS
 * `@huggingface/tokenizers`) for the dev data's `{"text"}` lines: the text's ids, with a BOS in
 * front when the tokenizer files say so and the end token after it, as the byte-level protocol
 * appends its end token (data.ts).
 *
 * BOS, decided once per tokenizer, in this order:
 * 1. `add_bos_token` in tokenizer_config.json beside tokenizer.json, when it is a boolean
 *    (Llama / Mistral style configs say it);
 * 2. else the special token that tokenizer.json's post-processor (TemplateProcessing, also
 *    inside a Sequence) puts before the text (Llama 3 style: no add_bos_token, the template adds it);
 * 3. else none (GPT-2 style).
 * The BOS id is the id of tokenizer_config.json's `bos_token`, else config.json's `bos_token_id`.
 * The text itself is encoded without the post-processor, so nothing is added twice; an
 * `add_eos_token` is not needed: the end token is always appended (the caller's, else
 * config.json's `eos_token_id`, else the id of tokenizer_config.json's `eos_token`, else none).
 */
import fs from 'node:fs';
import path from 'node:path';

import { Tokenizer } from '@huggingface/tokenizers';

import { BadInputError } from '../errors.js';

export class TokenizerError extends BadInputError {
  override readonly name = 'TokenizerError';
  readonly file: string;
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.file = file;
  }
}

export interface TextTokenizer {
  readonly file: string;
  /** 1 + the largest id of the vocabulary and added tokens: `input_ids` must lie in [0, vocabSize). */
  readonly vocabSize: number;
  /** Prepended to every text, when the tokenizer files ask for it. */
  readonly bos: number | undefined;
  /** The end token the tokenizer files name (config.json eos_token_id, else tokenizer_config eos_token). */
  readonly eos: number | undefined;
  /** [bos?, ...ids(text), end?], truncated to maxLength. */
  encode(text: string, maxLength: number, end: number | undefined): Int32Array;
}

/** Characters per token assumed nowhere near: a text longer than maxLength times this is cut first. */
const CHARS_PER_TOKEN_BOUND = 64;

function readJson(file: string, what: string): Record<string, unknown> {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new TokenizerError(file, `cannot read the ${what} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new TokenizerError(file, `the ${what} is not JSON (${(err as Error).message})`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new TokenizerError(file, `the ${what} is not a JSON object`);
  return value as Record<string, unknown>;
}

/** config.json is the model's, read by the evaluators leniently too: a bad one only loses its ids here. */
function readLenient(file: string): Record<string, unknown> {
  try {
    const v = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
    return v !== null && typeof v === 'object' && !Array.isArray(v) ? (v as Record<string, unknown>) : {};
  } catch {
    return {};
  }
}

/** A token id from config.json (eos_token_id may be a list, as in Llama 3.1: the first one). */
export function configTokenId(v: unknown): number | undefined {
  const id = Array.isArray(v) ? v[0] : v;
  return Number.isInteger(id) && (id as number) >= 0 ? (id as number) : undefined;
}

/** tokenizer_config.json names special tokens as a string or as {content: ...}. */
function tokenContent(v: unknown): string | undefined {
  if (typeof v === 'string') return v;
  if (v !== null && typeof v === 'object' && typeof (v as { content?: unknown }).content === 'string') return (v as { content: string }).content;
  return undefined;
}

/** The ids a TemplateProcessing post-processor puts before the text ($A), or undefined when there is none. */
function templateBos(processor: unknown): number[] | undefined {
  if (processor === null || typeof processor !== 'object') return undefined;
  const p = processor as { type?: unknown; processors?: unknown; single?: unknown; special_tokens?: Record<string, { ids?: unknown }> };
  if (p.type === 'Sequence' && Array.isArray(p.processors)) {
    for (const inner of p.processors) {
      const found = templateBos(inner);
      if (found !== undefined) return found;
    }
    return undefined;
  }
  if (p.type !== 'TemplateProcessing' || !Array.isArray(p.single)) return undefined;
  const first = p.single[0] as { SpecialToken?: { id?: unknown } } | undefined;
  const name = first?.SpecialToken?.id;
  if (typeof name !== 'string') return undefined;
  const ids = p.special_tokens?.[name]?.ids;
  return Array.isArray(ids) && ids.length > 0 && ids.every((i) => Number.isInteger(i) && i >= 0) ? (ids as number[]) : undefined;
}

/**
 * Loads `file` (a tokenizer.json) with tokenizer_config.json and config.json from its folder
 * (either may be missing). Anything that does not load is a TokenizerError naming the file.
 */
export function loadTokenizer(file: string): TextTokenizer {
  const json = readJson(file, 'tokenizer.json');
  if (json.model === null || typeof json.model !== 'object') throw new TokenizerError(file, "not a tokenizer.json: it has no 'model' object");
  const dir = path.dirname(file);
  const configFile = path.join(dir, 'tokenizer_config.json');
  const tokenizerConfig = fs.existsSync(configFile) ? readJson(configFile, 'tokenizer config') : {};
  const modelConfig = readLenient(path.join(dir, 'config.json'));
  let tokenizer: Tokenizer;
  try {
    tokenizer = new Tokenizer(json, tokenizerConfig);
  } catch (err) {
    throw new TokenizerError(file, `@huggingface/tokenizers cannot load it (${(err as Error).message.split('\n')[0]})`);
  }
  let vocabSize = 0;
  for (const id of tokenizer.get_vocab(true).values()) if (id + 1 > vocabSize) vocabSize = id + 1;
  if (vocabSize === 0) throw new TokenizerError(file, 'its vocabulary is empty');
  const idOf = (v: unknown): number | undefined => {
    const content = tokenContent(v);
    return content === undefined ? undefined : tokenizer.token_to_id(content);
  };

  let bos: number[] = [];
  const addBos = tokenizerConfig.add_bos_token;
  if (addBos === true) {
    const id = idOf(tokenizerConfig.bos_token) ?? configTokenId(modelConfig.bos_token_id);
    if (id === undefined) throw new TokenizerError(configFile, 'add_bos_token is true but neither its bos_token nor config.json\'s bos_token_id names a token of the vocabulary');
    bos = [id];
  } else if (addBos === undefined) {
    bos = templateBos(json.post_processor) ?? [];
  }
  const eos = configTokenId(modelConfig.eos_token_id) ?? idOf(tokenizerConfig.eos_token);

  const textIds = (text: string): number[] => {
    try {
      // Without the post-processor: BOS and the end token are added here, once.
      return tokenizer.encode(text, { add_special_tokens: false }).ids;
    } catch (err) {
      throw new TokenizerError(file, `cannot encode a text (${(err as Error).message.split('\n')[0]})`);
    }
  };

  return {
    file,
    vocabSize,
    bos: bos[0],
    eos,
    encode(text, maxLength, end) {
      const room = Math.max(0, maxLength - bos.length);
      let ids: number[] | undefined;
      // A long line is tokenized only up to a space well past what fits: the ids of the prefix
      // are the ids of the whole text as far as they go when the cut is at a lone space between
      // two non-spaces (every pre-tokenizer in use starts a piece there: GPT-2's ` ?\p{L}+`,
      // Metaspace's `▁`), and a prefix that still gives more than `room` ids means the end token
      // would be cut off anyway. This keeps a 50 MB line from becoming millions of token strings.
      if (text.length > room * CHARS_PER_TOKEN_BOUND + 1) {
        const cut = loneSpaceFrom(text, room * CHARS_PER_TOKEN_BOUND);
        if (cut > 0) {
          const prefix = textIds(text.slice(0, cut));
          if (prefix.length > room) ids = prefix;
        }
      }
      ids ??= textIds(text);
      const all = end === undefined ? [...bos, ...ids] : [...bos, ...ids, end];
      return Int32Array.from(all.length > maxLength ? all.slice(0, maxLength) : all);
    },
  };
}

/** The first index >= from of a ' ' between two characters that are not whitespace; -1 if none. */
function loneSpaceFrom(text: string, from: number): number {
  for (let i = text.indexOf(' ', Math.max(1, from)); i > 0 && i < text.length - 1; i = text.indexOf(' ', i + 1)) {
    if (!/\s/.test(text[i - 1]!) && !/\s/.test(text[i + 1]!)) return i;
  }
  return -1;
}
