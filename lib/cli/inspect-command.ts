/** `evolver inspect PATH [--json]`: tensors, dtypes, shapes, parameter count, bytes, shards. */
import type { Command } from 'commander';

import { inspect, type InspectResult } from '../store/inspect.js';

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('describe a safetensors file, a checkpoint folder (sharded or not) or a GGUF file')
    .argument('<path>', 'a .safetensors file, a model folder, a model.safetensors.index.json, or a .gguf file')
    .option('--json', 'print one JSON object instead of a table')
    .action((target: string, options: { json?: boolean }) => {
      const result = inspect(target);
      process.stdout.write(options.json ? JSON.stringify(result) + '\n' : formatInspect(result));
    });
}

export function formatInspect(r: InspectResult): string {
  const lines: string[] = [];
  const mb = (b: number) => `${(b / 1e6).toFixed(2)} MB`;
  lines.push(`${r.path}`);
  lines.push(`  format      ${r.format}${r.format === 'sharded' ? ` (${r.shards.length} shards)` : ''}${r.gguf ? ` v${r.gguf.version}, alignment ${r.gguf.alignment}` : ''}`);
  if (r.gguf) {
    lines.push(`  arch        ${r.gguf.architecture ?? '(no general.architecture)'}`);
    lines.push(`  kv pairs    ${r.gguf.kvCount}`);
  }
  lines.push(`  tensors     ${r.tensors.length}`);
  lines.push(`  parameters  ${r.parameters.toLocaleString('en-US')}`);
  lines.push(`  data        ${mb(r.bytes)} (${r.bytes} bytes)`);
  const dtypes = new Map<string, number>();
  for (const t of r.tensors) dtypes.set(t.dtype, (dtypes.get(t.dtype) ?? 0) + 1);
  lines.push(`  dtypes      ${[...dtypes].map(([d, n]) => `${d} x${n}`).join(', ')}`);
  if (r.format === 'sharded') for (const s of r.shards) lines.push(`  shard       ${s.file}  ${mb(s.bytes)}  ${s.tensors} tensors`);
  lines.push('');
  const width = r.tensors.reduce((w, t) => Math.max(w, t.name.length), 4);  // no spread: 100k+ tensors overflow the stack
  const dw = r.tensors.reduce((w, t) => Math.max(w, t.dtype.length), 5);
  lines.push(`  ${'name'.padEnd(width)}  ${'dtype'.padEnd(dw)}  ${'shape'.padEnd(16)}  bytes${r.format === 'sharded' ? '  file' : ''}`);
  for (const t of r.tensors) {
    const shape = `[${t.shape.join(', ')}]`;
    lines.push(`  ${t.name.padEnd(width)}  ${t.dtype.padEnd(dw)}  ${shape.padEnd(16)}  ${t.bytes}${r.format === 'sharded' ? `  ${t.file}` : ''}`);
  }
  return lines.join('\n') + '\n';
}
