/**
 * journal.jsonl: one fsync'd JSON line per trial, the run's source of truth for resuming.
 *
 * Guarantees (each has a test in test/evolve/journal.test.ts):
 * - an append returns only when every byte of its lines is written and fsync'd; a short or
 *   failed write (a full disk) is cut back to the journal's previous length and throws, so a
 *   caller never acts (renames a trial into the population) on a line that is not durable;
 * - non-finite numbers (+Infinity, -Infinity, NaN fitness) round-trip exactly: JSON has no
 *   literal for them, so they are written as the strings "Infinity", "-Infinity", "NaN";
 * - reading never changes the file. A torn last line (no newline: a crash mid-append) is
 *   reported as `tornBytes` for the caller to drop; a damaged complete line anywhere is
 *   reported as `damaged` (line number and reason) and nothing after it is trusted.
 */
import fs from 'node:fs';
import path from 'node:path';

import { WeightFileError, fromSystemError } from '../errors.js';
import { fsyncDir } from '../store/writer.js';
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
  /** Asynchronous schedule: the population version (decided trials) the offspring was made from. */
  version?: number;
  /** With a merger: sha256 of the merged population this trial was scored as (fitness is its score). */
  mergedChecksum?: string;
  /**
   * Where the trial's time went: making the offspring, hashing it, evaluating it, and (accepted
   * trials) writing it to disk and opening it (the fsync after that overlaps the next trial).
   */
  seconds: { offspring: number; hash?: number; evaluation: number; persist?: number };
}

export interface JournalRead {
  entries: JournalEntry[];
  /** Bytes of the whole, valid lines (entries) from the start of the file. */
  validBytes: number;
  /** Bytes after the last newline: a line a crash cut short. Dropping them loses no trial. */
  tornBytes: number;
  /** The first complete line that is not a journal entry; nothing from it on is used. */
  damaged?: { line: number; reason: string };
}

/** Encodes a number JSON cannot hold as a string that `decodeNumber` reads back exactly. */
export function encodeNumber(x: number): number | string {
  return Number.isFinite(x) ? x : String(x);  // 'Infinity' | '-Infinity' | 'NaN'
}

/**
 * Reads a number written by `encodeNumber`. `null` is what versions before the lossless
 * encoding wrote for any non-finite fitness (all of which were -Infinity or NaN, both rejected).
 */
export function decodeNumber(x: unknown, what: string): number {
  if (typeof x === 'number') return x;
  if (x === null) return -Infinity;
  if (x === 'Infinity') return Infinity;
  if (x === '-Infinity') return -Infinity;
  if (x === 'NaN') return NaN;
  throw new Error(`${what}: expected a number, got ${JSON.stringify(x)}`);
}

/** JSON.stringify replacer: every non-finite number becomes its string form. */
export function nonFiniteReplacer(_key: string, value: unknown): unknown {
  return typeof value === 'number' && !Number.isFinite(value) ? String(value) : value;
}

function encodeEntry(e: JournalEntry): string {
  return JSON.stringify(e, nonFiniteReplacer);
}

function decodeMetrics(m: unknown, what: string): Record<string, number> {
  if (m === undefined) return {};
  if (m === null || typeof m !== 'object' || Array.isArray(m)) throw new Error(`${what}: expected an object`);
  return Object.fromEntries(Object.entries(m).map(([k, v]) => [k, decodeNumber(v, `${what}.${k}`)]));
}

const INTEGER_FIELDS = ['k', 'generation', 'target'] as const;

/** Checks the shape of one parsed line; throws with the field that is wrong. */
function decodeEntry(raw: unknown): JournalEntry {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new Error('not a JSON object');
  const e = raw as Record<string, unknown>;
  for (const f of INTEGER_FIELDS) if (!Number.isInteger(e[f]) || (e[f] as number) < 0) throw new Error(`${f}: expected a non-negative integer`);
  if (typeof e.accepted !== 'boolean') throw new Error('accepted: expected true or false');
  if (typeof e.checksum !== 'string') throw new Error('checksum: expected a string');
  if (e.members === null || typeof e.members !== 'object') throw new Error('members: expected an object');
  if (typeof e.strategy !== 'string' || typeof e.granularity !== 'string') throw new Error('strategy/granularity: expected strings');
  return {
    ...(e as unknown as JournalEntry),
    F: decodeNumber(e.F, 'F'),
    CR: decodeNumber(e.CR, 'CR'),
    fitness: decodeNumber(e.fitness, 'fitness'),
    parentFitness: decodeNumber(e.parentFitness, 'parentFitness'),
    metrics: decodeMetrics(e.metrics, 'metrics'),
  };
}

/** Reads the journal without changing it. */
export function readJournal(file: string): JournalRead {
  if (!fs.existsSync(file)) return { entries: [], validBytes: 0, tornBytes: 0 };
  const bytes = fs.readFileSync(file);
  const entries: JournalEntry[] = [];
  let at = 0;
  let line = 0;
  while (at < bytes.length) {
    const nl = bytes.indexOf(0x0a, at);
    if (nl < 0) break;  // the torn tail
    line++;
    let reason: string | undefined;
    try {
      const text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(at, nl));
      entries.push(decodeEntry(JSON.parse(text)));
    } catch (err) {
      reason = (err as Error).message;
    }
    if (reason !== undefined) return { entries, validBytes: at, tornBytes: 0, damaged: { line, reason } };
    at = nl + 1;
  }
  return { entries, validBytes: at, tornBytes: bytes.length - at };
}

/** Bytes of the first `lines` lines of `file`. */
export function byteLengthOfLines(file: string, lines: number): number {
  const bytes = fs.readFileSync(file);
  let at = 0;
  for (let i = 0; i < lines; i++) at = bytes.indexOf(0x0a, at) + 1;
  return at;
}

export class Journal {
  private readonly fd: number;
  readonly file: string;
  private size: number;
  /** A failed append could not be cut back: the file's end is unknown, nothing more is appended. */
  private uncertain = false;

  /** Opens the journal keeping its first `keepBytes` bytes (the caller decided what to drop). */
  constructor(file: string, keepBytes: number) {
    this.file = file;
    let fd: number | undefined;
    try {
      const created = !fs.existsSync(file);
      fd = fs.openSync(file, created ? 'w+' : 'r+');
      if (created) fsyncDir(path.dirname(path.resolve(file)));
      if (fs.fstatSync(fd).size !== keepBytes) {
        fs.ftruncateSync(fd, keepBytes);
        fs.fsyncSync(fd);
      }
    } catch (err) {
      if (fd !== undefined) fs.closeSync(fd);
      throw fromSystemError(err, file, 'opening the journal');
    }
    this.fd = fd;
    this.size = keepBytes;
  }

  /** Appends whole lines durably, or throws and leaves the journal as it was. */
  append(entries: readonly JournalEntry[]): void {
    if (entries.length === 0) return;
    if (this.uncertain) throw new WeightFileError('IO', this.file, 'an earlier append could not be cut back after it failed: the journal may end with a line that was never acknowledged; stop and `evolver evolve --resume` the run (it refuses, naming the line, if --repair is needed)');
    const bytes = Buffer.from(entries.map(encodeEntry).join('\n') + '\n');
    let written = 0;
    try {
      while (written < bytes.length) {
        const n = fs.writeSync(this.fd, bytes, written, bytes.length - written, this.size + written);
        if (n <= 0) throw Object.assign(new Error(`short write: ${written} of ${bytes.length} bytes`), { code: 'ENOSPC' });
        written += n;
      }
      fs.fsyncSync(this.fd);
    } catch (err) {
      this.cutBack();
      throw fromSystemError(err, this.file, `appending trial ${entries[0]!.k} to the journal`);
    }
    this.size += bytes.length;
  }

  /** Best effort after a failed append: the partial line goes, so the file ends on a whole line. */
  private cutBack(): void {
    try {
      fs.ftruncateSync(this.fd, this.size);
      fs.fsyncSync(this.fd);
    } catch {
      // The file may now end with whole lines the caller was told failed: no further appends.
      // A resume reads what is there (a torn tail is dropped; whole lines are checked against
      // the population, and a mismatch is refused, naming it).
      this.uncertain = true;
    }
  }

  close(): void {
    fs.closeSync(this.fd);
  }
}
