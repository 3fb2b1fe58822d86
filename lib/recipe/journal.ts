/**
 * The recipe run's journal: one JSON line per trial (initial members included), appended whole
 * and fsynced before the next trial starts, so a killed run loses at most the trial in flight.
 * A torn last line (killed mid-write) is dropped on resume; any other bad line is an error.
 */
import fs from 'node:fs';

import { fromSystemError } from '../errors.js';
import { decodeNumber, nonFiniteReplacer } from '../evolve/journal.js';
import { RunFolderError } from '../evolve/run-folder.js';

export interface RecipeTrial {
  /** Draw index: < population for the initial members, then population + g * population + i. */
  k: number;
  generation: number;  // -1 for the initial population
  member: number;
  /** The genome in [0, 1]^D (what DE works on). */
  genome: number[];
  /** The parameter values it decodes to, per gene (param, model, group, value). */
  values: { param: string; model?: number; group: number; value: number }[];
  score: number;
  metrics: Record<string, number>;
  accepted: boolean;
  seconds: number;
}

export function appendTrial(file: string, t: RecipeTrial): void {
  try {
    const fd = fs.openSync(file, 'a');
    try {
      fs.writeSync(fd, JSON.stringify(t, nonFiniteReplacer) + '\n');
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
  } catch (err) {
    throw fromSystemError(err, file, 'appending to the journal');
  }
}

export function readTrials(file: string): RecipeTrial[] {
  if (!fs.existsSync(file)) return [];
  const text = fs.readFileSync(file, 'utf8');
  const lines = text.split('\n');
  const torn = lines.pop() ?? '';  // after the last '\n': empty, or a line cut short by a kill
  if (torn !== '') fs.truncateSync(file, Buffer.byteLength(text) - Buffer.byteLength(torn));
  return lines.map((line, i) => {
    try {
      const t = JSON.parse(line) as RecipeTrial;
      if (!Array.isArray(t.genome) || typeof t.k !== 'number') throw new Error('not a trial line');
      return { ...t, score: decodeNumber(t.score, 'score') };
    } catch (err) {
      throw new RunFolderError(`${file}: line ${i + 1} is not a trial (${(err as Error).message}); the journal is damaged`);
    }
  });
}
