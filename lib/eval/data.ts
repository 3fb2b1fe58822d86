/**
 * Dev / test data as JSONL: one JSON object per line. A line gives token ids directly
 * (`input_ids`) or text, which becomes its UTF-8 bytes followed by the end token (the byte-level
 * protocol of the bundled models). Sequences are truncated to the model's context.
 */
import fs from 'node:fs';

import { BadInputError } from '../errors.js';

export class EvalDataError extends BadInputError {
  override readonly name = 'EvalDataError';
  readonly file: string;
  constructor(file: string, message: string) {
    super(`${file}: ${message}`);
    this.file = file;
  }
}

export interface Example {
  ids: number[];
  label?: number;
}

export interface DataOptions {
  textField?: string;
  idsField?: string;
  labelField?: string;
  needLabel?: boolean;
  /** Truncation length (tokens, end token included). */
  maxLength: number;
  /** Appended after the bytes of a text. */
  endToken: number;
}

const utf8 = new TextEncoder();

export function readExamples(file: string, o: DataOptions): Example[] {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new EvalDataError(file, `cannot read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
  const textField = o.textField ?? 'text', idsField = o.idsField ?? 'input_ids', labelField = o.labelField ?? 'label';
  const out: Example[] = [];
  text.split('\n').forEach((line, i) => {
    if (line.trim() === '') return;
    let row: unknown;
    try {
      row = JSON.parse(line);
    } catch {
      throw new EvalDataError(file, `line ${i + 1} is not JSON (expected JSONL: one JSON object per line)`);
    }
    if (row === null || typeof row !== 'object' || Array.isArray(row)) throw new EvalDataError(file, `line ${i + 1} is not a JSON object`);
    const r = row as Record<string, unknown>;
    let ids: number[];
    if (Array.isArray(r[idsField])) {
      ids = r[idsField] as number[];
      if (!ids.every((t) => Number.isInteger(t) && t >= 0)) throw new EvalDataError(file, `line ${i + 1}: '${idsField}' must hold non-negative integers`);
    } else if (typeof r[textField] === 'string') {
      ids = [...utf8.encode(r[textField] as string), o.endToken];
    } else {
      throw new EvalDataError(file, `line ${i + 1} has no '${textField}' string (or '${idsField}' list)`);
    }
    const example: Example = { ids: ids.slice(0, o.maxLength) };
    if (o.needLabel) {
      const label = r[labelField];
      if (!Number.isInteger(label) || (label as number) < 0) throw new EvalDataError(file, `line ${i + 1}: '${labelField}' must be a non-negative integer class index`);
      example.label = label as number;
    }
    out.push(example);
  });
  if (out.length === 0) throw new EvalDataError(file, 'is empty: a dev set needs at least one example');
  return out;
}
