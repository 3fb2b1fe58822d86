/**
 * The tokenizer.ggml.* keys of an exported GGUF. llama.cpp needs a vocabulary to load any model,
 * and aborts the whole process on tokenizer.ggml.model = "none", so one is always written:
 *
 * - tokenizer.json with a byte-level BPE model (GPT-2, Llama 3, Qwen2): model "gpt2", its
 *   vocabulary, added tokens (special ones as CONTROL) and merges.
 * - no tokenizer at all (the byte-level models of examples/fortunes): a minimal "gpt2"
 *   vocabulary of one token per byte in GPT-2's byte-to-unicode form, the end token at
 *   eos_token_id, and an empty but present merges array (llama.cpp requires the key), so
 *   llama.cpp tokenizes text into exactly its UTF-8 bytes, as evolver's byte-level data does.
 * - SentencePiece-style tokenizers (Llama 2, Mistral: tokenizer.model, or a tokenizer.json with
 *   Metaspace / byte fallback) are refused: their scores and byte tokens need sentencepiece.
 */
import fs from 'node:fs';
import path from 'node:path';

import { ExportError } from '../errors.js';
import type { GgufKV } from '../store/gguf-header.js';
import { kv } from '../store/gguf-writer.js';

/** llama.cpp's token types (gguf-py TokenType). */
export const TOKEN_TYPE = { NORMAL: 1, UNKNOWN: 2, CONTROL: 3, USER_DEFINED: 4, UNUSED: 5, BYTE: 6 } as const;

/** GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others map to U+0100 on. */
export function byteToUnicode(): string[] {
  const printable = (b: number) => (b >= 0x21 && b <= 0x7e) || (b >= 0xa1 && b <= 0xac) || (b >= 0xae && b <= 0xff);
  const out: string[] = [];
  let next = 0;
  for (let b = 0; b < 256; b++) out.push(String.fromCodePoint(printable(b) ? b : 256 + next++));
  return out;
}

export interface TokenizerInput {
  /** The model folder (tokenizer files are looked for there), or undefined for a lone file. */
  folder: string | undefined;
  /** Rows of the token embedding: the vocabulary size llama.cpp will check against. */
  vocabSize: number;
  bosId: number | undefined;
  eosId: number | undefined;
  /** tokenizer.ggml.pre for a byte-level BPE tokenizer of this architecture. */
  bpePre: string;
}

export interface TokenizerKV {
  kv: GgufKV[];
  /** Where the vocabulary came from. */
  source: 'tokenizer.json' | 'byte-level';
}

export function tokenizerKV(t: TokenizerInput): TokenizerKV {
  const json = t.folder === undefined ? undefined : path.join(t.folder, 'tokenizer.json');
  if (json !== undefined && fs.existsSync(json)) return { kv: fromTokenizerJson(json, t), source: 'tokenizer.json' };
  if (t.folder !== undefined) {
    for (const [file, why] of [['tokenizer.model', 'a SentencePiece model'], ['vocab.json', 'a vocab.json without tokenizer.json']] as const) {
      if (fs.existsSync(path.join(t.folder, file))) {
        throw new ExportError('TOKENIZER_UNSUPPORTED', `${path.join(t.folder, file)}: ${why} cannot be exported to GGUF by evolver; save the tokenizer as tokenizer.json (a byte-level BPE), or convert with llama.cpp's convert_hf_to_gguf.py`);
      }
    }
  }
  return { kv: byteLevel(t), source: 'byte-level' };
}

/** One token per byte (GPT-2's unicode form), the end token at eos_token_id, empty merges. */
function byteLevel(t: TokenizerInput): GgufKV[] {
  const eos = t.eosId !== undefined && t.eosId >= 256 ? t.eosId : 256;
  if (t.vocabSize <= eos) {
    throw new ExportError('TOKENIZER_UNSUPPORTED', `the model has no tokenizer.json and ${t.vocabSize} token embeddings: a byte-level vocabulary needs 256 byte tokens plus the end token (id ${eos})`);
  }
  const tokens = byteToUnicode();
  const types: number[] = new Array(256).fill(TOKEN_TYPE.NORMAL);
  for (let id = 256; id < t.vocabSize; id++) {
    tokens.push(id === eos ? '<|endoftext|>' : `[PAD${id}]`);
    types.push(id === eos ? TOKEN_TYPE.CONTROL : TOKEN_TYPE.UNUSED);
  }
  return vocabularyKV('gpt-2', tokens, types, [], t.bosId !== undefined && t.bosId < t.vocabSize ? t.bosId : eos, eos);
}

function vocabularyKV(pre: string, tokens: string[], types: number[], merges: string[], bos: number | undefined, eos: number | undefined): GgufKV[] {
  const out = [
    kv('tokenizer.ggml.model', 'string', 'gpt2'),
    kv('tokenizer.ggml.pre', 'string', pre),
    kv('tokenizer.ggml.tokens', 'array', { itemType: 'string', items: tokens }),
    kv('tokenizer.ggml.token_type', 'array', { itemType: 'int32', items: Int32Array.from(types) }),
    kv('tokenizer.ggml.merges', 'array', { itemType: 'string', items: merges }),
  ];
  if (bos !== undefined) out.push(kv('tokenizer.ggml.bos_token_id', 'uint32', bos));
  if (eos !== undefined) out.push(kv('tokenizer.ggml.eos_token_id', 'uint32', eos));
  return out;
}

interface TokenizerJson {
  model?: { type?: unknown; vocab?: unknown; merges?: unknown; byte_fallback?: unknown };
  added_tokens?: unknown;
  pre_tokenizer?: unknown;
  decoder?: unknown;
}

/** Whether a tokenizers component (or a Sequence of them) includes `type`. */
function hasType(component: unknown, type: string): boolean {
  if (component === null || typeof component !== 'object') return false;
  const c = component as { type?: unknown; pretokenizers?: unknown; decoders?: unknown };
  if (c.type === type) return true;
  const children = Array.isArray(c.pretokenizers) ? c.pretokenizers : Array.isArray(c.decoders) ? c.decoders : [];
  return children.some((x) => hasType(x, type));
}

function fromTokenizerJson(file: string, t: TokenizerInput): GgufKV[] {
  let json: TokenizerJson;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as TokenizerJson;
  } catch (err) {
    throw new ExportError('BAD_TOKENIZER', `${file}: not readable JSON (${(err as Error).message})`);
  }
  const model = json?.model;
  if (model?.type !== 'BPE') {
    throw new ExportError('TOKENIZER_UNSUPPORTED', `${file}: a ${String(model?.type ?? 'model-less')} tokenizer cannot be exported to GGUF by evolver (byte-level BPE can); convert with llama.cpp's convert_hf_to_gguf.py`);
  }
  if (!hasType(json.pre_tokenizer, 'ByteLevel') && !hasType(json.decoder, 'ByteLevel')) {
    throw new ExportError('TOKENIZER_UNSUPPORTED', `${file}: a SentencePiece-style BPE tokenizer (no ByteLevel pre-tokenizer${model.byte_fallback === true ? ', byte fallback' : ''}) needs llama.cpp's "llama" vocabulary with scores, which evolver does not write; convert with llama.cpp's convert_hf_to_gguf.py`);
  }
  const vocab = model.vocab;
  if (vocab === null || typeof vocab !== 'object' || Array.isArray(vocab)) throw new ExportError('BAD_TOKENIZER', `${file}: model.vocab is not an object of token -> id`);
  const tokens: (string | undefined)[] = new Array(t.vocabSize);
  const types: number[] = new Array(t.vocabSize).fill(TOKEN_TYPE.NORMAL);
  const place = (token: string, id: unknown, type: number) => {
    if (!Number.isSafeInteger(id) || (id as number) < 0) throw new ExportError('BAD_TOKENIZER', `${file}: token ${JSON.stringify(token)} has id ${JSON.stringify(id)}`);
    if ((id as number) >= t.vocabSize) {
      throw new ExportError('CONFIG_MISMATCH', `${file}: token ${JSON.stringify(token)} has id ${String(id)} but the token embedding has ${t.vocabSize} rows`);
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
  // Ids the tokenizer does not use (embedding rows padded to a round number): unused tokens.
  for (let id = 0; id < t.vocabSize; id++) {
    if (tokens[id] === undefined) {
      tokens[id] = `[PAD${id}]`;
      types[id] = TOKEN_TYPE.UNUSED;
    }
  }
  const rawMerges = Array.isArray(model.merges) ? model.merges : [];
  const merges = rawMerges.map((m, i) => {
    if (typeof m === 'string') return m;
    if (Array.isArray(m) && m.length === 2 && m.every((x) => typeof x === 'string')) return `${m[0]} ${m[1]}`;
    throw new ExportError('BAD_TOKENIZER', `${file}: merge ${i} is ${JSON.stringify(m)}, expected "a b" or ["a", "b"]`);
  });
  const inVocab = (id: number | undefined) => (id !== undefined && id < t.vocabSize ? id : undefined);
  return vocabularyKV(t.bpePre, tokens as string[], types, merges, inVocab(t.bosId), inVocab(t.eosId));
}
