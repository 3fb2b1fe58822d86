/**
 * The run folder (docs/design.md): run.json, journal.jsonl, population/, trial/, best/,
 * report.json (+ report.html), and run.lock while a process uses it.
 */
import fs from 'node:fs';
import path from 'node:path';

import { EvolverArgumentError, fromSystemError } from '../errors.js';
import { writeFileAtomic } from '../store/write-checkpoint.js';
import { nonFiniteReplacer } from './journal.js';

export class RunFolderError extends EvolverArgumentError {
  override readonly name: string = 'RunFolderError';
}

/** The output folder already holds a run, or other files: a new run never starts there (exit 73). */
export class RunFolderExistsError extends RunFolderError {
  override readonly name: string = 'RunFolderError';
  override readonly code: string = 'OUTPUT_EXISTS';
}

export class RunFolder {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }
  get runJson() { return path.join(this.dir, 'run.json'); }
  get journal() { return path.join(this.dir, 'journal.jsonl'); }
  get population() { return path.join(this.dir, 'population'); }
  get trial() { return path.join(this.dir, 'trial'); }
  get best() { return path.join(this.dir, 'best'); }
  get reportJson() { return path.join(this.dir, 'report.json'); }
  get reportHtml() { return path.join(this.dir, 'report.html'); }
  get lock() { return path.join(this.dir, 'run.lock'); }
  member(i: number) { return path.join(this.population, `member-${i}.safetensors`); }
  trialFile(k: number) { return path.join(this.trial, `k-${k}.safetensors`); }
  /** Asynchronous schedule: earlier versions of members that trials in flight were made from. */
  get superseded() { return path.join(this.population, 'superseded'); }
  supersededFile(k: number) { return path.join(this.superseded, `k-${k}.safetensors`); }

  exists(): boolean {
    return fs.existsSync(this.runJson);
  }

  /**
   * What is in the folder although it holds no run.json: a folder that is not a complete run
   * (a leftover journal, population files) is never adopted by a fresh run.
   */
  strayContents(): string[] {
    if (!fs.existsSync(this.dir)) return [];
    try {
      return fs.readdirSync(this.dir).filter((f) => f !== 'run.lock');
    } catch (err) {
      throw fromSystemError(err, this.dir, 'reading the run folder');
    }
  }

  create(): void {
    try {
      if (!fs.existsSync(this.dir)) fs.mkdirSync(this.dir, { recursive: true });
      // Not recursive: on a read-only file system this says EROFS rather than ENOENT.
      for (const d of [this.population, this.trial]) if (!fs.existsSync(d)) fs.mkdirSync(d);
    } catch (err) {
      throw fromSystemError(err, this.dir, 'creating the run folder');
    }
  }

  /** Takes the lock (a stale lock of a dead process is taken over). Returns the release function. */
  acquireLock(): () => void {
    for (let attempt = 0; attempt < 2; attempt++) {
      try {
        const fd = fs.openSync(this.lock, 'wx');
        fs.writeSync(fd, `${process.pid}\n`);
        fs.closeSync(fd);
        let released = false;
        return () => {
          if (!released) fs.rmSync(this.lock, { force: true });
          released = true;
        };
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw fromSystemError(err, this.lock, 'locking the run folder');
        const pid = Number(fs.readFileSync(this.lock, 'utf8').trim());
        if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && isAlive(pid)) {
          throw new RunFolderError(`${this.dir} is in use by process ${pid} (${this.lock}); two processes cannot share a run folder`);
        }
        fs.rmSync(this.lock, { force: true });  // stale: its process is gone
      }
    }
    throw new RunFolderError(`cannot lock ${this.dir}`);
  }

  /** Reads a JSON file of the folder; a missing, unreadable or corrupt one is a RunFolderError naming it. */
  readJson<T>(file: string): T {
    let text: string;
    try {
      text = fs.readFileSync(file, 'utf8');
    } catch (err) {
      throw new RunFolderError(`${file}: cannot read it (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
    }
    try {
      const value = JSON.parse(text) as unknown;
      if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new Error('not a JSON object');
      return value as T;
    } catch (err) {
      throw new RunFolderError(`${file} is damaged (${(err as Error).message}); it is written atomically by evolver, so it was changed by something else — restore it from a copy or start a new run`);
    }
  }

  /** Writes atomically (temp file, fsync, rename); non-finite numbers are kept as strings ('Infinity', 'NaN'). */
  writeJson(file: string, value: unknown): void {
    writeFileAtomic(file, JSON.stringify(value, nonFiniteReplacer, 2) + '\n');
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
