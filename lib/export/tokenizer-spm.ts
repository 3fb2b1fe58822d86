/**
 * A SentencePiece-style BPE tokenizer.json (Llama 2, Mistral: a BPE model with byte fallback,
 * `▁` for spaces, no ByteLevel pre-tokenizer) as llama.cpp's "llama" (SPM) vocabulary.
 *
 * llama.cpp's SPM tokenizer merges, again and again, the adjacent pair whose concatenation is a
 * token with the highest score; Hugging Face's BPE merges the adjacent pair with the lowest merge
 * rank. So a token's score is minus the rank of the first merge that makes it (a SentencePiece
 * model's own scores order its pieces the same way: HF's converter wrote the merges in that
 * order). Tokens no merge makes (single characters, bytes, added tokens) are never the result of
 * a merge in HF: they get a score below every merged token's. `<0xNN>` tokens are BYTE (llama.cpp's
 * byte fallback looks them up), the unknown token UNKNOWN. A space prefix is added (llama.cpp's
 * `add_space_prefix`) when the normalizer prepends `▁` or the Metaspace pre-tokenizer does.
 */
import { ExportError } from '../errors.js';
import type { GgufKV } from '../store/gguf-header.js';
import { kv } from '../store/gguf-writer.js';
import { hasType, mergeList, TOKEN_TYPE, tokenTable, type TokenizerJson } from './tokenizer-vocab.js';

const SPACE = '\u2581';

/** Whether the tokenizer is SentencePiece-style: byte fallback and `▁` from a Metaspace or a normalizer. */
export function isSentencePieceStyle(json: TokenizerJson): boolean {
  if (json.model?.byte_fallback !== true) return false;
  return hasType(json.pre_tokenizer, 'Metaspace') || JSON.stringify(json.normalizer ?? null).includes(SPACE);
}

/** Whether text gets a leading `▁` (HF: a Prepend normalizer, or Metaspace with a prepend scheme other than never). */
function addsSpacePrefix(json: TokenizerJson): boolean {
  const find = (c: unknown, pred: (x: Record<string, unknown>) => boolean): boolean => {
    if (c === null || typeof c !== 'object') return false;
    const o = c as Record<string, unknown>;
    if (pred(o)) return true;
    return [o.normalizers, o.pretokenizers].some((list) => Array.isArray(list) && list.some((x) => find(x, pred)));
  };
  if (find(json.normalizer, (o) => o.type === 'Prepend' && o.prepend === SPACE)) return true;
  return find(json.pre_tokenizer, (o) => o.type === 'Metaspace' && (o.prepend_scheme === undefined ? o.add_prefix_space !== false : o.prepend_scheme !== 'never'));
}

export interface SpmInput {
  vocabSize: number;
  bosId: number | undefined;
  eosId: number | undefined;
}

export function sentencePieceKV(file: string, json: TokenizerJson, t: SpmInput): GgufKV[] {
  const { tokens, types } = tokenTable(file, json, t.vocabSize);
  const merges = mergeList(file, json);
  const idOf = new Map<string, number>();
  tokens.forEach((token, id) => {
    if (types[id] !== TOKEN_TYPE.UNUSED && !idOf.has(token)) idOf.set(token, id);
  });
  const unmerged = -(merges.length + 1);
  const scores = new Float32Array(t.vocabSize).fill(unmerged);
  const scored = new Uint8Array(t.vocabSize);
  merges.forEach((m, rank) => {
    const space = m.indexOf(' ', 1);  // a piece never starts with ' ' (spaces are ▁), so the first one past 0 splits
    if (space < 0) throw new ExportError('BAD_TOKENIZER', `${file}: merge ${rank} is ${JSON.stringify(m)}, expected "a b"`);
    const id = idOf.get(m.slice(0, space) + m.slice(space + 1));
    if (id === undefined) throw new ExportError('BAD_TOKENIZER', `${file}: merge ${rank} (${JSON.stringify(m)}) makes a token that is not in the vocabulary`);
    if (scored[id] === 0) {
      scores[id] = 0 - rank;  // +0 for the first merge, not -0
      scored[id] = 1;
    }
  });
  for (let id = 0; id < t.vocabSize; id++) {
    if (types[id] === TOKEN_TYPE.NORMAL && /^<0x[0-9A-F]{2}>$/.test(tokens[id]!)) types[id] = TOKEN_TYPE.BYTE;
  }
  const unk = typeof json.model?.unk_token === 'string' ? idOf.get(json.model.unk_token) : undefined;
  if (unk !== undefined) types[unk] = TOKEN_TYPE.UNKNOWN;
  const inVocab = (id: number | undefined) => (id !== undefined && id < t.vocabSize ? id : undefined);
  const out = [
    kv('tokenizer.ggml.model', 'string', 'llama'),
    kv('tokenizer.ggml.pre', 'string', 'default'),
    kv('tokenizer.ggml.tokens', 'array', { itemType: 'string', items: tokens }),
    kv('tokenizer.ggml.scores', 'array', { itemType: 'float32', items: scores }),
    kv('tokenizer.ggml.token_type', 'array', { itemType: 'int32', items: Int32Array.from(types) }),
    kv('tokenizer.ggml.add_space_prefix', 'bool', addsSpacePrefix(json)),
  ];
  for (const [key, id] of [['bos', inVocab(t.bosId)], ['eos', inVocab(t.eosId)], ['unknown', unk]] as const) {
    if (id !== undefined) out.push(kv(`tokenizer.ggml.${key}_token_id`, 'uint32', id));
  }
  return out;
}
