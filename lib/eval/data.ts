/**
 * Dev / test data as JSONL: one JSON object per line. A line gives token ids directly
 * (`input_ids`) or text, which becomes its UTF-8 bytes followed by the end token (the byte-level
 * protocol of the bundled models). Sequences are truncated to the model's context.
 *
 * The file is read as a stream of lines (never whole), every line must be valid UTF-8 (a
 * malformed byte is an error naming the file, the line and the byte, never replaced silently),
 * and only the first `maxLength` tokens of a line are ever materialized, as an Int32Array: a
 * 50 MB line costs a small multiple of 50 MB (its bytes, its text, the parsed value), not
 * gigabytes of number arrays.
 */
import fs from 'node:fs';

import { BadInputError } from '../errors.js';
import type { TextTokenizer } from './tokenizer.js';

export class EvalDataError extends BadInputError {
  override readonly name = 'EvalDataError';
  readonly file: string;
  /** 1-based line the defect is on, when it is about one line. */
  readonly line: number | undefined;
  constructor(file: string, message: string, line?: number) {
    super(`${file}: ${message}`);
    this.file = file;
    this.line = line;
  }
}

export interface Example {
  /** Token ids, at most `maxLength` of them. */
  ids: Int32Array;
  label?: number;
}

export interface DataOptions {
  textField?: string;
  idsField?: string;
  labelField?: string;
  needLabel?: boolean;
  /** Truncation length (tokens, end token included). */
  maxLength: number;
  /** Appended after the bytes (or the tokenizer's ids) of a text; undefined: nothing is. */
  endToken: number | undefined;
  /**
   * The model's tokenizer: texts become its ids, and `input_ids` are checked against its
   * vocabulary (without one, any id below 2^31 passes here; the evaluators check the logits).
   */
  tokenizer?: TextTokenizer;
}

const CHUNK_BYTES = 1 << 20;
const MAX_TOKEN_ID = 0x7fffffff;  // ids travel as int32 (and are widened to int64 for graphs that want it)
const EMPTY = new Uint8Array(0);
const utf8Encoder = new TextEncoder();
const utf8Decoder = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true });

export function readExamples(file: string, o: DataOptions): Example[] {
  const textField = o.textField ?? 'text', idsField = o.idsField ?? 'input_ids', labelField = o.labelField ?? 'label';
  const maxLength = Math.max(0, Math.floor(o.maxLength));
  const scratch = new Uint8Array(maxLength + 3);  // encodeInto writes whole characters only: room for one more
  const out: Example[] = [];

  const parseLine = (bytes: Uint8Array, n: number, fileOffset: number): void => {
    if (n === 1 && bytes[0] === 0xef && bytes[1] === 0xbb && bytes[2] === 0xbf) {
      bytes = bytes.subarray(3);  // a UTF-8 byte-order mark at the start of the file
      fileOffset += 3;
    }
    if (isBlank(bytes)) return;
    let text: string;
    try {
      text = utf8Decoder.decode(bytes);
    } catch {
      const at = firstInvalidUtf8(bytes);
      const what = at < 0 ? '' : ` (byte 0x${bytes[at]!.toString(16).padStart(2, '0')} at byte ${at + 1} of the line, file offset ${fileOffset + at})`;
      throw new EvalDataError(file, `line ${n} is not valid UTF-8${what}; data files must be UTF-8 text`, n);
    }
    bytes = EMPTY;  // a long line's buffer can go before the text is parsed
    // Lines with an ids list: the ids are read from the text straight into an Int32Array (no JS
    // array of millions of numbers); anything the scanner does not follow goes to JSON.parse.
    const scanned = text.includes(`"${idsField}"`) ? scanObject(text, idsField, maxLength) : undefined;
    let get: (key: string) => unknown;
    if (scanned !== undefined) {
      get = (key) => scanned.get(key);
    } else {
      let row: unknown;
      try {
        row = JSON.parse(text);
      } catch {
        throw new EvalDataError(file, `line ${n} is not JSON (expected JSONL: one JSON object per line)`, n);
      }
      if (row === null || typeof row !== 'object' || Array.isArray(row)) throw new EvalDataError(file, `line ${n} is not a JSON object`, n);
      const r = row as Record<string, unknown>;
      get = (key) => (Object.hasOwn(r, key) ? r[key] : undefined);
    }
    text = '';  // the line's text is garbage from here on; only the parsed values are kept
    let ids: Int32Array;
    const given = get(idsField);
    const value = get(textField);
    if (given instanceof ScannedIds) {
      ids = given.ids;
    } else if (Array.isArray(given)) {
      for (const t of given as unknown[]) {
        if (!Number.isInteger(t) || (t as number) < 0 || (t as number) > MAX_TOKEN_ID) {
          throw new EvalDataError(file, `line ${n}: '${idsField}' must hold non-negative integers below 2^31, found ${JSON.stringify(t)}`, n);
        }
      }
      ids = new Int32Array(Math.min(given.length, maxLength));
      for (let i = 0; i < ids.length; i++) ids[i] = given[i] as number;
    } else if (typeof value === 'string' && o.tokenizer !== undefined) {
      ids = o.tokenizer.encode(value, maxLength, o.endToken);
    } else if (typeof value === 'string') {
      // [...utf8(text), endToken].slice(0, maxLength), without encoding more than maxLength bytes.
      const { read, written } = utf8Encoder.encodeInto(value, scratch);
      const end = o.endToken === undefined ? 0 : 1;
      const length = read === value.length ? Math.min(written + end, maxLength) : maxLength;
      ids = new Int32Array(length);
      for (let i = 0; i < length; i++) ids[i] = i < written ? scratch[i]! : o.endToken!;
    } else {
      throw new EvalDataError(file, `line ${n} has no '${textField}' string (or '${idsField}' list)`, n);
    }
    // Ids given as they are must name tokens of the model's vocabulary (its own ids always do).
    if (o.tokenizer !== undefined && (given instanceof ScannedIds || Array.isArray(given))) checkVocabulary(ids, o.tokenizer, file, idsField, n);
    const example: Example = { ids };
    if (o.needLabel) {
      const label = get(labelField);
      if (!Number.isInteger(label) || (label as number) < 0) throw new EvalDataError(file, `line ${n}: '${labelField}' must be a non-negative integer class index`, n);
      example.label = label as number;
    }
    out.push(example);
  };

  let fd: number;
  try {
    fd = fs.openSync(file, 'r');
  } catch (err) {
    throw new EvalDataError(file, `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  try {
    forEachLine(fd, file, parseLine);
  } finally {
    fs.closeSync(fd);
  }
  if (out.length === 0) throw new EvalDataError(file, 'is empty: a dev set needs at least one example');
  return out;
}

/** Given ids (the ones kept after truncation) must be tokens of the model's vocabulary. */
function checkVocabulary(ids: Int32Array, tokenizer: TextTokenizer, file: string, idsField: string, n: number): void {
  for (const id of ids) {
    if (id >= tokenizer.vocabSize) throw new EvalDataError(file, `line ${n}: '${idsField}' holds ${id}, outside the vocabulary of ${tokenizer.file} (ids 0..${tokenizer.vocabSize - 1})`, n);
  }
}

/**
 * Calls `each(bytes, lineNumber, fileOffset)` for every '\n'-separated line of the file (the
 * last one also without a final newline). A line inside one read chunk is a view of the chunk; a
 * longer line is read once more, by position, into a buffer of exactly its length, so memory
 * stays at the chunk plus the longest line.
 */
function forEachLine(fd: number, file: string, each: (bytes: Uint8Array, n: number, fileOffset: number) => void): void {
  const chunk = Buffer.allocUnsafe(CHUNK_BYTES);
  let chunkStart = 0;  // file offset of chunk[0]
  let lineStart = 0;  // file offset of the current line's first byte
  let n = 1;
  const read = (into: Uint8Array, at: number): number => {
    try {
      return fs.readSync(fd, into, 0, into.length, at);
    } catch (err) {
      throw new EvalDataError(file, `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
  };
  const longLine = (end: number): Uint8Array => {
    const bytes = Buffer.allocUnsafe(end - lineStart);
    for (let got = 0; got < bytes.length;) {
      const k = read(bytes.subarray(got), lineStart + got);
      if (k === 0) throw new EvalDataError(file, 'changed while it was being read', n);
      got += k;
    }
    return bytes;
  };
  for (;;) {
    const size = read(chunk, chunkStart);
    if (size === 0) break;
    let from = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, from);
      if (nl < 0 || nl >= size) break;
      const end = chunkStart + nl;
      each(lineStart >= chunkStart ? chunk.subarray(lineStart - chunkStart, nl) : longLine(end), n, lineStart);
      n++;
      lineStart = end + 1;
      from = nl + 1;
    }
    chunkStart += size;
  }
  if (lineStart < chunkStart) each(longLine(chunkStart), n, lineStart);
}

/** The first `maxLength` ids of a list of integers, read by {@link scanObject}. */
class ScannedIds {
  constructor(readonly ids: Int32Array) {}
}

const isSpace = (c: number) => c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a;

/**
 * Reads a JSON object whose `idsField` member is a list of integers in [0, 2^31): that list
 * becomes a ScannedIds (its first maxLength ids), every other member is JSON.parse'd on its own.
 * Returns undefined for anything else (not an object, malformed, ids that are not plain
 * non-negative integers...): the caller then parses the line with JSON.parse, which gives the
 * usual errors. Duplicate keys: the last one wins, as with JSON.parse.
 */
function scanObject(text: string, idsField: string, maxLength: number): Map<string, unknown> | undefined {
  const n = text.length;
  let i = 0;
  const ws = () => {
    while (i < n && isSpace(text.charCodeAt(i))) i++;
  };
  /** From an opening quote at i to just after the closing one; -1 when unterminated. */
  const stringEnd = (from: number): number => {
    for (let q = text.indexOf('"', from + 1); q >= 0; q = text.indexOf('"', q + 1)) {
      let slashes = 0;
      while (text.charCodeAt(q - 1 - slashes) === 0x5c) slashes++;
      if (slashes % 2 === 0) return q + 1;
    }
    return -1;
  };
  /** Just after the value starting at i (a string, an object, a list or a literal); -1 when malformed. */
  const valueEnd = (from: number): number => {
    const c = text.charCodeAt(from);
    if (c === 0x22) return stringEnd(from);
    if (c === 0x7b || c === 0x5b) {
      let depth = 0;
      for (let j = from; j < n; j++) {
        const d = text.charCodeAt(j);
        if (d === 0x22) {
          j = stringEnd(j);
          if (j < 0) return -1;
          j--;
        } else if (d === 0x7b || d === 0x5b) depth++;
        else if (d === 0x7d || d === 0x5d) {
          depth--;
          if (depth === 0) return j + 1;
        }
      }
      return -1;
    }
    let j = from;
    while (j < n && !isSpace(text.charCodeAt(j)) && text[j] !== ',' && text[j] !== '}') j++;
    return j === from ? -1 : j;
  };
  /** A list of plain non-negative integers at i; undefined for anything else. */
  const idList = (): ScannedIds | undefined => {
    const ids = new Int32Array(maxLength);
    let count = 0;
    i++;  // [
    ws();
    if (text[i] === ']') {
      i++;
      return new ScannedIds(ids.subarray(0, 0));
    }
    for (;;) {
      ws();
      const start = i;
      let v = 0;
      while (i < n) {
        const d = text.charCodeAt(i) - 0x30;
        if (d < 0 || d > 9) break;
        v = v * 10 + d;
        i++;
      }
      if (i === start || (text[start] === '0' && i - start > 1) || v > MAX_TOKEN_ID) return undefined;
      if (count < maxLength) ids[count] = v;
      count++;
      ws();
      if (text[i] === ',') {
        i++;
        continue;
      }
      if (text[i] !== ']') return undefined;
      i++;
      return new ScannedIds(ids.subarray(0, Math.min(count, maxLength)));
    }
  };
  const fields = new Map<string, unknown>();
  ws();
  if (text[i] !== '{') return undefined;
  i++;
  ws();
  if (text[i] === '}') return undefined;  // no members, so no ids: the general path
  for (;;) {
    ws();
    if (text[i] !== '"') return undefined;
    const keyEnd = stringEnd(i);
    if (keyEnd < 0) return undefined;
    let key: string;
    try {
      key = JSON.parse(text.slice(i, keyEnd)) as string;
    } catch {
      return undefined;
    }
    i = keyEnd;
    ws();
    if (text[i] !== ':') return undefined;
    i++;
    ws();
    if (key === idsField && text[i] === '[') {
      const ids = idList();
      if (ids === undefined) return undefined;
      fields.set(key, ids);
    } else {
      const end = valueEnd(i);
      if (end < 0) return undefined;
      try {
        fields.set(key, JSON.parse(text.slice(i, end)));
      } catch {
        return undefined;
      }
      i = end;
    }
    ws();
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] !== '}') return undefined;
    i++;
    ws();
    return i === n ? fields : undefined;
  }
}

/** True for a line of spaces, tabs and carriage returns only (JSON's whitespace, minus '\n'). */
function isBlank(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i];
    if (b !== 0x20 && b !== 0x09 && b !== 0x0d) return false;
  }
  return true;
}

/** Offset of the first byte that does not start a well-formed UTF-8 sequence, or -1 (RFC 3629). */
export function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length;) {
    const c = b[i]!;
    if (c < 0x80) {
      i++;
      continue;
    }
    const need = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (need === 0 || i + need >= b.length) return i;
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    if (b[i + 1]! < lo || b[i + 1]! > hi) return i;
    for (let k = 2; k <= need; k++) if (b[i + k]! < 0x80 || b[i + k]! > 0xbf) return i;
    i += need + 1;
  }
  return -1;
}
