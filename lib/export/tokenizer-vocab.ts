/**
 * The token table of a tokenizer.json laid out over a GGUF's embedding rows: the model's vocabulary
 * (NORMAL), its added tokens (CONTROL when special, else USER_DEFINED), and the rows no token
 * uses (embeddings padded to a round number) as UNUSED `[PADn]`. Shared by the byte-level BPE
 * ("gpt2") and SentencePiece-style ("llama") vocabularies.
 */
import { ExportError } from '../errors.js';

/** llama.cpp's token types (gguf-py TokenType). */
export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

export interface TokenizerJson {
  model?: { type?: unknown; vocab?: unknown; merges?: unknown; byte_fallback?: unknown; unk_token?: unknown };
  added_tokens?: unknown;
  normalizer?: unknown;
  pre_tokenizer?: unknown;
  decoder?: unknown;
}

export interface TokenTable {
  tokens: string[];
  types: number[];
}

export function tokenTable(file: string, json: TokenizerJson, vocabSize: number): TokenTable {
  const vocab = json.model?.vocab;
  if (vocab === null || typeof vocab !== 'object' || Array.isArray(vocab)) throw new ExportError('BAD_TOKENIZER', `${file}: model.vocab is not an object of token -> id`);
  const tokens: (string | undefined)[] = new Array(vocabSize);
  const types: number[] = new Array(vocabSize).fill(TOKEN_TYPE.NORMAL);
  const place = (token: string, id: unknown, type: number) => {
    if (!Number.isSafeInteger(id) || (id as number) < 0) throw new ExportError('BAD_TOKENIZER', `${file}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}`);
    if ((id as number) >= vocabSize) {
      throw new ExportError('CONFIG_MISMATCH', `${file}: token ${JSON.stringify(token)} has id ${String(id)} but the token embedding has ${vocabSize} rows`);
    }
    tokens[id as number] = token;
    types[id as number] = type;
  };
  for (const [token, id] of Object.entries(vocab as Record<string, unknown>)) place(token, id, TOKEN_TYPE.NORMAL);
  for (const a of Array.isArray(json.added_tokens) ? json.added_tokens : []) {
    const { id, content, special } = a as { id?: unknown; content?: unknown; special?: unknown };
    if (typeof content !== 'string') throw new ExportError('BAD_TOKENIZER', `${file}: an added token has no content`);
    place(content, id, special === true ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.USER_DEFINED);
  }
  for (let id = 0; id < vocabSize; id++) {
    if (tokens[id] === undefined) {
      tokens[id] = `[PAD${id}]`;
      types[id] = TOKEN_TYPE.UNUSED;
    }
  }
  return { tokens: tokens as string[], types };
}

/** The merges of a BPE model as "a b" strings (tokenizer.json writes "a b" or ["a", "b"]). */
export function mergeList(file: string, json: TokenizerJson): string[] {
  const raw = Array.isArray(json.model?.merges) ? (json.model.merges as unknown[]) : [];
  return raw.map((m, i) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && m.every((x) => typeof x === 'string')) return `${m[0]} ${m[1]}`;
    throw new ExportError('BAD_TOKENIZER', `${file}: merge ${i} is ${JSON.stringify(m)}, expected "a b" or ["a", "b"]`);
  });
}

/** Whether a tokenizers component (or a Sequence of them) includes `type`. */
export function hasType(component: unknown, type: string): boolean {
  if (component === null || typeof component !== 'object') return false;
  const c = component as { type?: unknown; pretokenizers?: unknown; decoders?: unknown; normalizers?: unknown };
  if (c.type === type) return true;
  const children = Array.isArray(c.pretokenizers) ? c.pretokenizers : Array.isArray(c.decoders) ? c.decoders : Array.isArray(c.normalizers) ? c.normalizers : [];
  return children.some((x) => hasType(x, type));
}
