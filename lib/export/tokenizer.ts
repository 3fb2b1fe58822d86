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
 * - a SentencePiece-style BPE tokenizer.json (Llama 2, Mistral: byte fallback, `▁` for spaces):
 *   llama.cpp's "llama" vocabulary with scores from the merge ranks (tokenizer-spm.ts).
 * - a bare SentencePiece tokenizer.model (no tokenizer.json) is refused: reading it needs sentencepiece.
 */
import fs from 'node:fs';
import path from 'node:path';

import { ExportError } from '../errors.js';
import type { GgufKV } from '../store/gguf-header.js';
import { kv } from '../store/gguf-writer.js';
import { isSentencePieceStyle, sentencePieceKV } from './tokenizer-spm.js';
import { hasType, mergeList, TOKEN_TYPE, tokenTable, type TokenizerJson } from './tokenizer-vocab.js';

export { TOKEN_TYPE } from './tokenizer-vocab.js';

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

function fromTokenizerJson(file: string, t: TokenizerInput): GgufKV[] {
  let json: TokenizerJson;
  try {
    json = JSON.parse(fs.readFileSync(file, 'utf8')) as TokenizerJson;
  } catch (err) {
    throw new ExportError('BAD_TOKENIZER', `${file}: not readable JSON (${(err as Error).message})`);
  }
  const model = json?.model;
  if (model?.type !== 'BPE') {
    throw new ExportError('TOKENIZER_UNSUPPORTED', `${file}: a ${String(model?.type ?? 'model-less')} tokenizer cannot be exported to GGUF by evolver (byte-level and SentencePiece-style BPE can); convert with llama.cpp's convert_hf_to_gguf.py`);
  }
  if (!hasType(json.pre_tokenizer, 'ByteLevel') && !hasType(json.decoder, 'ByteLevel')) {
    if (isSentencePieceStyle(json)) return sentencePieceKV(file, json, t);
    throw new ExportError('TOKENIZER_UNSUPPORTED', `${file}: a BPE tokenizer that is neither byte-level (a ByteLevel pre-tokenizer) nor SentencePiece-style (byte fallback and ▁ for spaces) cannot be exported to GGUF by evolver; convert with llama.cpp's convert_hf_to_gguf.py`);
  }
  const { tokens, types } = tokenTable(file, json, t.vocabSize);
  const merges = mergeList(file, json);
  const inVocab = (id: number | undefined) => (id !== undefined && id < t.vocabSize ? id : undefined);
  return vocabularyKV(t.bpePre, tokens, types, merges, inVocab(t.bosId), inVocab(t.eosId));
}
