/**
 * What every memory-mapped weight file (safetensors, GGUF) does with its mapping: zero-copy
 * tensor regions cached by name, the SIGBUS-repaired "faulted" state, and closing.
 */
import { WeightFileError, fromSystemError } from '../errors.js';
import type { NativeMappedFile } from '../native.js';

export abstract class MappedWeightFile {
  readonly path: string;
  readonly size: number;
  /** @internal */
  readonly mapping: NativeMappedFile;
  /** Regions handed out, by tensor name (each tensor is mapped once). */
  protected readonly views = new Map<string, ArrayBuffer>();

  protected constructor(file: string, mapping: NativeMappedFile) {
    this.path = file;
    this.mapping = mapping;
    this.size = mapping.size;
  }

  /** The region of a tensor (`fileOffset`, `byteLength`), mapped on first use. */
  protected tensorRegion(name: string, fileOffset: number, byteLength: number): ArrayBuffer {
    this.requireOpen(name);
    let ab = this.views.get(name);
    if (ab === undefined || ab.byteLength !== byteLength) {
      ab = this.mapping.region(fileOffset, byteLength);
      this.views.set(name, ab);
    }
    return ab;
  }

  /** Whether the file shrank (or a page could not be read) while mapped; see checkIntact(). */
  get faulted(): boolean {
    return this.mapping.faulted();
  }

  /**
   * Throws WeightFileError FILE_CHANGED naming the file when it shrank (or a page could not be
   * read) while mapped. Such a page reads as zeros instead of killing the process (SIGBUS), so
   * whatever was computed from the file since (an evaluation, a checksum) is invalid: call this
   * after such a pass. Kernels that read the file reject with the same error by themselves.
   */
  checkIntact(): void {
    try {
      this.mapping.checkIntact();
    } catch (err) {
      throw fromSystemError(err, this.path, 'reading');
    }
  }

  protected requireOpen(tensor?: string): void {
    if (this.mapping.closed) throw new WeightFileError('CLOSED', this.path, 'the file is closed', tensor === undefined ? {} : { tensor });
    if (this.mapping.faulted()) this.checkIntact();  // no view of a file that changed under its mapping
  }

  /** Unmaps the file; every view handed out becomes empty (detached). Idempotent. */
  close(): void {
    this.views.clear();
    this.mapping.close();
  }

  [Symbol.dispose](): void {
    this.close();
  }
}
