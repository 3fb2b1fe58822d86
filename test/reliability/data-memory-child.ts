// Child of data-files.test.ts: reads one JSONL file and prints what it got and its peak memory.
import { readExamples } from '../../lib/eval/data.js';

const file = process.argv[2]!;
const t0 = performance.now();
const examples = readExamples(file, { maxLength: 128, endToken: 256 });
process.stdout.write(JSON.stringify({
  examples: examples.length,
  first: Array.from(examples[0]!.ids.subarray(0, 4)),
  lengths: examples.map((e) => e.ids.length),
  ms: Math.round(performance.now() - t0),
  maxRssMB: Math.round(process.resourceUsage().maxRSS / 1024),
}) + '\n');
