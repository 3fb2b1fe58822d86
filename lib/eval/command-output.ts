/**
 * Reads an external evaluator's answer: the last non-empty stdout line, a JSON object
 * `{"score": number, "metrics": {name: number}}` (metrics optional). Anything else is a failure
 * with a reason, never a throw: one bad trial must not end a run.
 */
import type { Fitness } from '../evolve/evaluator.js';

export type Parsed = { ok: true; fitness: Fitness } | { ok: false; reason: string };

const show = (s: string) => (s.length > 200 ? `${s.slice(0, 200)}...` : s);

/** Stands for a bare NaN / Infinity in a parsed line (JSON strings cannot hold a raw control character, so no \u0000). */
const MARK = '__evolver_non_finite__:';

/**
 * Python's json.dumps writes NaN / Infinity / -Infinity as bare words, which JSON.parse refuses;
 * they are read as markers so the reason can say "NaN" rather than "not JSON".
 */
function parseLenient(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    const marked = line.replace(/([:[,]\s*)(-?Infinity|NaN)(?=\s*[,}\]])/g, `$1"${MARK}$2"`);
    return JSON.parse(marked);
  }
}

const nonFinite = (v: unknown) => (typeof v === 'string' && v.startsWith(MARK) ? v.slice(MARK.length) : undefined);

export function parseCommandOutput(stdout: string): Parsed {
  const lines = stdout.split(/\r?\n/).map((l) => l.trim()).filter((l) => l !== '');
  const last = lines.at(-1);
  if (last === undefined) return { ok: false, reason: 'printed nothing on stdout (expected a last line {"score": number, "metrics": {...}})' };
  let value: unknown;
  try {
    value = parseLenient(last);
  } catch {
    return { ok: false, reason: `the last stdout line is not JSON: ${show(last)}` };
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) return { ok: false, reason: `the last stdout line is not a JSON object: ${show(last)}` };
  const { score, metrics } = value as { score?: unknown; metrics?: unknown };
  const bad = nonFinite(score);
  if (bad !== undefined) return { ok: false, reason: `score is ${bad}` };
  if (typeof score !== 'number') return { ok: false, reason: `"score" is not a number: ${show(JSON.stringify(score) ?? 'missing')}` };
  const out: Record<string, number> = {};
  if (metrics !== undefined) {
    if (metrics === null || typeof metrics !== 'object' || Array.isArray(metrics)) return { ok: false, reason: `"metrics" is not an object: ${show(JSON.stringify(metrics))}` };
    for (const [k, v] of Object.entries(metrics)) {
      const word = nonFinite(v);
      if (word !== undefined) out[k] = Number(word);  // a NaN metric is reported, not a failure: the score decides
      else if (typeof v === 'number') out[k] = v;
      else return { ok: false, reason: `metric "${k}" is not a number: ${show(JSON.stringify(v))}` };
    }
  }
  return { ok: true, fitness: { score, metrics: out } };
}
