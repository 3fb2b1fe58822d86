/** A description of a checkpoint for people and machines (`evolver inspect`). */
import path from 'node:path';

import { openWeights } from './checkpoint.js';
import { GgufFile, isGgufPath } from './gguf.js';

export interface InspectResult {
  path: string;
  format: 'safetensors' | 'sharded' | 'gguf';
  parameters: number;
  bytes: number;
  shards: { file: string; bytes: number; tensors: number }[];
  /** `dtype` is the ggml type for GGUF ('F32', 'Q4_K', ...); shapes are outermost first in both formats. */
  tensors: { name: string; dtype: string; shape: number[]; bytes: number; file: string }[];
  metadata: Record<string, string>;
  /** GGUF only: the header's version, alignment, general.architecture and number of key/value pairs. */
  gguf?: { version: number; alignment: number; architecture: string | null; kvCount: number };
}

export function inspect(target: string): InspectResult {
  if (isGgufPath(target)) return inspectGguf(target);
  const set = openWeights(target);
  try {
    const rel = (file: string) => (set.format === 'sharded' ? path.relative(set.folder, file) : path.basename(file));
    return {
      path: target,
      format: set.format,
      parameters: set.parameters,
      bytes: set.dataBytes,
      shards: set.files.map((f) => ({ file: rel(f.path), bytes: f.size, tensors: f.names().length })),
      tensors: set.names().map((name) => {
        const m = set.meta(name);
        return { name, dtype: m.dtype, shape: [...m.shape], bytes: m.byteLength, file: rel(set.fileOf(name).path) };
      }),
      metadata: { ...set.metadata },
    };
  } finally {
    set.close();
  }
}

function inspectGguf(target: string): InspectResult {
  using g = GgufFile.open(target);
  const file = path.basename(target);
  const tensors = g.tensors();
  return {
    path: target,
    format: 'gguf',
    parameters: tensors.reduce((n, t) => n + t.elements, 0),
    bytes: tensors.reduce((n, t) => n + t.byteLength, 0),
    shards: [{ file, bytes: g.size, tensors: tensors.length }],
    tensors: g.names().map((name) => {
      const t = g.info(name);
      return { name, dtype: t.ggmlType, shape: [...t.shape], bytes: t.byteLength, file };
    }),
    metadata: { ...g.metadata },
    gguf: { version: g.version, alignment: g.alignment, architecture: g.architecture ?? null, kvCount: g.kv.length },
  };
}
