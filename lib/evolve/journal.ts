/** journal.jsonl: one fsync'd JSON line per trial, the run's source of truth for resuming. */
import fs from 'node:fs';

import { fromSystemError } from '../errors.js';
import type { TrialMembers } from './members.js';

export interface JournalEntry {
  k: number;
  generation: number;
  target: number;
  members: TrialMembers;
  strategy: string;
  F: number;
  CR: number;
  granularity: string;
  seed: number;
  /** The offspring's fitness (higher is better). */
  fitness: number;
  /** Per dev set / component values. */
  metrics: Record<string, number>;
  /** The target's fitness it was compared with. */
  parentFitness: number;
  accepted: boolean;
  /** sha256 of the offspring's evolved tensors (the accepted member's checksum when accepted). */
  checksum: string;
  /** Why the trial was rejected beyond "not better" (e.g. NaN fitness), when it applies. */
  reason?: string;
  /** Whether the fitness came from the checksum cache (identical weights evaluated before). */
  cached?: boolean;
  /** With a merger: sha256 of the merged population this trial was scored as (fitness is its score). */
  mergedChecksum?: string;
  seconds: { offspring: number; evaluation: number };
}

export function readJournal(file: string): { entries: JournalEntry[]; validBytes: number } {
  if (!fs.existsSync(file)) return { entries: [], validBytes: 0 };
  const text = fs.readFileSync(file, 'utf8');
  const entries: JournalEntry[] = [];
  let validBytes = 0;
  let at = 0;
  while (at < text.length) {
    const nl = text.indexOf('\n', at);
    if (nl < 0) break;  // a torn last line (crash mid-write): dropped
    const line = text.slice(at, nl);
    try {
      entries.push(fromJson(JSON.parse(line) as JournalEntry));
    } catch {
      break;
    }
    at = nl + 1;
    validBytes = Buffer.byteLength(text.slice(0, at));
  }
  return { entries, validBytes };
}

/** JSON has no -Infinity: a fitness written as null (a failed or NaN evaluation) reads back as -Infinity. */
function fromJson(e: JournalEntry): JournalEntry {
  if (e.fitness === null) e.fitness = -Infinity;
  if (e.parentFitness === null) e.parentFitness = -Infinity;
  return e;
}

export class Journal {
  private readonly fd: number;
  readonly file: string;

  constructor(file: string, keepBytes: number) {
    this.file = file;
    try {
      this.fd = fs.openSync(file, fs.existsSync(file) ? 'r+' : 'w+');
      fs.ftruncateSync(this.fd, keepBytes);
    } catch (err) {
      throw fromSystemError(err, file, 'opening the journal');
    }
  }

  append(entries: readonly JournalEntry[]): void {
    if (entries.length === 0) return;
    const text = entries.map((e) => JSON.stringify(e)).join('\n') + '\n';  // -Infinity is written as null
    try {
      const size = fs.fstatSync(this.fd).size;
      fs.writeSync(this.fd, text, size);
      fs.fsyncSync(this.fd);
    } catch (err) {
      throw fromSystemError(err, this.file, 'appending to the journal');
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
