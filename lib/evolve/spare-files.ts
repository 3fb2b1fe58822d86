/**
 * Spare member files: the file of a member that an accepted offspring replaces, kept in trial/
 * so that the next accepted offspring is written over it instead of into a new file.
 *
 * Why: writing a new 1.5 GB file makes the kernel find 1.5 GB of memory new to the page cache
 * (reclaimed, compacted, or on a VM whose host takes free memory back, supplied again by the
 * host): measured here, 0.4 – 1.7 GB/s (README, "The engine at model scale"). Writing over a
 * file whose pages are still cached only copies and dirties them: 8 – 10 GB/s, then the same
 * fsync.
 *
 * Crash safety is unchanged: a spare is only ever a second name (hard link) of a member file
 * taken just before that member is replaced by a rename over it, so the member is never missing;
 * a spare is overwritten under its trial/k-<k> name, which no journal line names until it is
 * durable; a resume clears trial/, spares included. Only the sequential and generational
 * schedules keep spares (the asynchronous one keeps replaced members for older versions); a
 * spare that still has another name is never written over all the same, nor one that is not a
 * plain file (a member restored as a symbolic link must not get its target written). The caller
 * makes the rename over the member durable (its folder fsync'd) before a spare can be written
 * over, so that no crash can leave the member's name on rewritten bytes.
 */
import fs from 'node:fs';
import path from 'node:path';

export class SpareFiles {
  private readonly dir: string;
  private readonly limit: number;
  private readonly files: string[] = [];
  private counter = 0;

  /** `limit`: at most this many spares (each holds one model's worth of disk). */
  constructor(dir: string, limit = 1) {
    this.dir = dir;
    this.limit = limit;
  }

  get count(): number {
    return this.files.length;
  }

  /**
   * Keeps `member` (a run-owned member file about to be replaced by a rename over it) as a spare
   * when there is room and it is a plain file; returns whether it did. Best effort: a file that
   * cannot be linked is simply not kept.
   */
  keep(member: string): boolean {
    if (this.files.length >= this.limit || !isPlainFile(member)) return false;
    const spare = path.join(this.dir, `spare-${this.counter++}.safetensors`);
    try {
      fs.linkSync(member, spare);
      this.files.push(spare);
      return true;
    } catch {
      return false;  // e.g. a file system without hard links: the replaced file goes, as without spares
    }
  }

  /**
   * Renames a spare to `dest` (which must not exist) and returns true, or returns false when
   * there is none. A spare with another name left is dropped, never handed out.
   */
  take(dest: string): boolean {
    while (this.files.length > 0) {
      const spare = this.files.shift()!;
      try {
        const st = fs.lstatSync(spare);
        if (st.isFile() && st.nlink === 1) {
          fs.renameSync(spare, dest);
          return true;
        }
      } catch {
        // gone (a cleared trial/): nothing to drop
      }
      fs.rmSync(spare, { force: true });
    }
    return false;
  }

  /** Removes every spare (end of the trials, or trial/ about to be cleared). */
  clear(): void {
    for (const f of this.files.splice(0)) fs.rmSync(f, { force: true });
  }
}

/** A regular file under this very name (not a symbolic link, not missing). */
function isPlainFile(file: string): boolean {
  try {
    return fs.lstatSync(file).isFile();
  } catch {
    return false;
  }
}
