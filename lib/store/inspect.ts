/** A description of a checkpoint for people and machines (`evolver inspect`). */
import path from 'node:path';

import { openWeights } from './checkpoint.js';

export interface InspectResult {
  path: string;
  format: 'safetensors' | 'sharded';
  parameters: number;
  bytes: number;
  shards: { file: string; bytes: number; tensors: number }[];
  tensors: { name: string; dtype: string; shape: number[]; bytes: number; file: string }[];
  metadata: Record<string, string>;
}

export function inspect(target: string): InspectResult {
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
