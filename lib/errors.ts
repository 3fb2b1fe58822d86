/**
 * Typed errors. Every error a user can cause carries a stable `code`, the file it is
 * about and, where it applies, the tensor — so callers branch on `code`, not on text.
 */

export type WeightFileErrorCode =
  | 'NOT_FOUND'
  | 'IS_DIRECTORY'
  | 'NOT_A_FILE'
  | 'EMPTY_FILE'
  | 'TOO_SHORT'
  | 'NOT_SAFETENSORS'
  | 'HEADER_TOO_LARGE'
  | 'HEADER_OUT_OF_BOUNDS'
  | 'HEADER_NOT_UTF8'
  | 'HEADER_NOT_JSON'
  | 'HEADER_NOT_OBJECT'
  | 'DUPLICATE_TENSOR'
  | 'RESERVED_NAME'
  | 'BAD_ENTRY'
  | 'UNKNOWN_DTYPE'
  | 'BAD_SHAPE'
  | 'SIZE_MISMATCH'
  | 'BAD_OFFSETS'
  | 'OFFSET_OVERLAP'
  | 'OFFSET_GAP'
  | 'TRUNCATED'
  | 'TRAILING_BYTES'
  | 'BAD_METADATA'
  | 'PICKLE'
  | 'INDEX_INVALID'
  | 'MISSING_SHARD'
  | 'SHARD_MISMATCH'
  | 'PATH_ESCAPE'
  | 'NO_WEIGHTS'
  | 'TENSOR_NOT_FOUND'
  | 'TENSOR_TOO_LARGE'
  | 'OUTPUT_EXISTS'
  | 'NO_SPACE'
  /** A mapped file shrank (or could not be read) while in use: what was computed from it is invalid. */
  | 'FILE_CHANGED'
  | 'CLOSED'
  /** GGUF: not a GGUF file, or a version other than 2 and 3. */
  | 'NOT_GGUF'
  | 'UNSUPPORTED_VERSION'
  /** GGUF: a tensor or key count larger than the file could hold. */
  | 'COUNT_TOO_LARGE'
  | 'UNKNOWN_VALUE_TYPE'
  | 'UNKNOWN_TENSOR_TYPE'
  | 'DUPLICATE_KEY'
  /** GGUF: a key/value pair that is malformed (bad UTF-8, bool not 0/1, nesting too deep, a wrongly typed general.alignment). */
  | 'BAD_KV'
  | 'BAD_ALIGNMENT'
  /** A tensor whose element type kernels cannot compute on (GGUF quantized blocks). */
  | 'NOT_EVOLVABLE'
  | 'IO';

export class WeightFileError extends Error {
  override readonly name = 'WeightFileError';
  readonly code: WeightFileErrorCode;
  readonly file: string;
  readonly tensor: string | undefined;
  /** The metadata key the defect is in (GGUF key/value pairs). */
  readonly key: string | undefined;

  constructor(code: WeightFileErrorCode, file: string, defect: string, options: { tensor?: string; key?: string; cause?: unknown } = {}) {
    const where = options.tensor !== undefined ? `${file}: tensor '${options.tensor}'` : options.key !== undefined ? `${file}: key '${options.key}'` : file;
    super(`${where}: ${defect}`, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.file = file;
    this.tensor = options.tensor;
    this.key = options.key;
  }
}

/**
 * The stop signal (Ctrl-C) arrived where the work cannot stop half-way and be resumed, e.g. while
 * a run makes its initial merges (before run.json exists): nothing was kept. The CLI exits 130.
 */
export class StoppedError extends Error {
  override readonly name = 'StoppedError';
  readonly code = 'STOPPED';
}

/** An argument a caller passed is wrong (not a file defect). */
export class EvolverArgumentError extends Error {
  override readonly name: string = 'EvolverArgumentError';
  readonly code: string = 'INVALID_ARGUMENT';
}

/**
 * A defect in an input the user gave (a graph, a data file, an export) rather than in how the
 * command was called: the CLI exits with code 2 for these, like for a bad weight file.
 */
export class BadInputError extends EvolverArgumentError {
  override readonly name: string = 'BadInputError';
}

export type ExportErrorCode =
  | 'UNKNOWN_ARCHITECTURE'
  | 'BAD_CONFIG'
  /** config.json and the tensors disagree (block count, a shape). */
  | 'CONFIG_MISMATCH'
  | 'MISSING_TENSOR'
  | 'UNMAPPED_TENSOR'
  | 'BAD_TOKENIZER'
  | 'TOKENIZER_UNSUPPORTED';

/** A model that cannot be exported (to GGUF) as it is: the message names the file and what is wrong. */
export class ExportError extends BadInputError {
  override readonly name = 'ExportError';
  override readonly code: ExportErrorCode;

  constructor(code: ExportErrorCode, message: string) {
    super(message);
    this.code = code;
  }
}

/** Maps a native or fs error (with an errno-style code) onto a WeightFileError. */
export function fromSystemError(err: unknown, file: string, doing: string): WeightFileError {
  const code = (err as { code?: string }).code;
  const reason = err instanceof Error ? err.message : String(err);
  switch (code) {
    case 'ENOENT':
      return new WeightFileError('NOT_FOUND', file, `no such file (${doing})`, { cause: err });
    case 'EISDIR':
      return new WeightFileError('IS_DIRECTORY', file, `is a directory, expected a file (${doing})`, { cause: err });
    case 'ENOSPC':
    case 'EDQUOT':
    case 'EFBIG':
      return new WeightFileError('NO_SPACE', file, `not enough disk space (${doing}): ${reason}`, { cause: err });
    // A SIGBUS repaired in a mapping (the native layer's typed fault codes): the file is named.
    case 'NO_SPACE':
    case 'FILE_CHANGED': {
      const defect = (err as { defect?: unknown }).defect;
      return new WeightFileError(code, file, `${typeof defect === 'string' ? defect : reason} (${doing})`, { cause: err });
    }
    case 'EROFS':
    case 'EACCES':
    case 'EPERM':
      return new WeightFileError('IO', file, `is not writable (${code === 'EROFS' ? 'read-only file system' : 'permission denied'}) (${doing})`, { cause: err });
    case 'ECLOSED':
    case 'EDETACHED':
      return new WeightFileError('CLOSED', file, `the file is closed (${doing})`, { cause: err });
    default:
      return new WeightFileError('IO', file, `${doing} failed: ${reason}`, { cause: err });
  }
}
