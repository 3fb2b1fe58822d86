/**
 * Times the DE kernel over mapped safetensors files (the hot path: mapped parents -> mapped
 * trial file) and over plain JS-heap typed arrays, and reports the native copy counters.
 *   npx tsx test/reliability/measure-hot-path.ts [MiB per operand, default 256] [dir, default /dev/shm]
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

import * as k from '../../lib/kernels/index.js';
import { native } from '../../lib/native.js';
import { SafetensorsFile } from '../../lib/store/safetensors.js';
import { SafetensorsWriter } from '../../lib/store/writer.js';

const mib = Number(process.argv[2] ?? 256);
const base = process.argv[3] ?? (fs.existsSync('/dev/shm') ? '/dev/shm' : os.tmpdir());
const dir = fs.mkdtempSync(path.join(base, 'evolver-measure-'));
const n = (mib * 1024 * 1024) / 4;
const reps = 5;

async function best(fn: () => Promise<unknown>): Promise<number> {
  await fn();
  let b = Infinity;
  for (let r = 0; r < reps; r++) {
    const t0 = process.hrtime.bigint();
    await fn();
    b = Math.min(b, Number(process.hrtime.bigint() - t0) / 1e6);
  }
  return b;
}

function makeFile(name: string, fill: number): SafetensorsFile {
  const file = path.join(dir, name);
  const w = SafetensorsWriter.create(file, { tensors: [{ name: 'w', dtype: 'F32', shape: [n] }] }, { space: 'sparse' });
  (w.view('w') as Float32Array).fill(fill);
  w.commit();
  return SafetensorsFile.open(file);
}

try {
  const [x, a, b] = [makeFile('x.safetensors', 1), makeFile('a.safetensors', 2), makeFile('b.safetensors', 3)];
  const out = SafetensorsWriter.create(path.join(dir, 'out.safetensors'), { tensors: [{ name: 'w', dtype: 'F32', shape: [n] }] }, { space: 'sparse' });
  const outView = out.view('w');
  const common = { strategy: 'current/1' as const, dtype: 'F32' as const, F: 0.5, CR: 0.9, seed: 1, stream: 0n };
  const stats = () => {
    const s = (native as { nativeStats?: () => { bufferCopies: number; bufferCopyBytes: number } }).nativeStats?.();
    return s === undefined ? null : { copies: s.bufferCopies, bytes: s.bufferCopyBytes };
  };
  const before = stats();
  const mapped = await best(() => k.de({ ...common, target: x.view('w'), a: a.view('w'), b: b.view('w'), out: outView }));
  const afterMapped = stats();
  const hx = new Float32Array(n).fill(1), ha = new Float32Array(n).fill(2), hb = new Float32Array(n).fill(3), ho = new Float32Array(n);
  const heap = await best(() => k.de({ ...common, target: hx, a: ha, b: hb, out: ho }));
  const afterHeap = stats();
  const bytes = 4 * n * 4;
  console.log(JSON.stringify({
    mib_per_operand: mib,
    threads: k.getThreads(),
    mapped_ms: +mapped.toFixed(2), mapped_gbps: +(bytes / mapped / 1e6).toFixed(2),
    heap_ms: +heap.toFixed(2), heap_gbps: +(bytes / heap / 1e6).toFixed(2),
    copies: before === null ? 'no counters in this build' : { mapped: { copies: afterMapped!.copies - before.copies, bytes: afterMapped!.bytes - before.bytes }, heap: { copies: afterHeap!.copies - afterMapped!.copies, bytes: afterHeap!.bytes - afterMapped!.bytes } },
  }));
  out.abort();
  for (const f of [x, a, b]) f.close();
} finally {
  fs.rmSync(dir, { recursive: true, force: true });
}
