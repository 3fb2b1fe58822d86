/** `evolver merge CONFIG.yml OUT_DIR [--seed N] [--max-shard-size 5GB]`: a one-shot merge from a mergekit-style config. */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';

import { EvolverArgumentError } from '../errors.js';
import { loadMergeConfig } from '../merge/config.js';
import { MERGE_METHOD_NAMES } from '../merge/methods.js';
import { runMerge } from '../merge/run.js';
import { carryModelFiles } from '../store/carried-files.js';

const UNITS: Record<string, number> = {
  '': 1, b: 1,
  k: 1e3, kb: 1e3, m: 1e6, mb: 1e6, g: 1e9, gb: 1e9, t: 1e12, tb: 1e12,
  kib: 2 ** 10, mib: 2 ** 20, gib: 2 ** 30, tib: 2 ** 40,
};

/**
 * A byte size as people write it: `5GB`, `500MB`, `1.5GiB`, `2e9`, `600 KB` (decimal units as
 * transformers' `max_shard_size`, binary ones with `i`). Zero, negative and unparsable sizes are
 * an error naming `flag`.
 */
export function parseByteSize(text: string, flag: string): number {
  const m = /^\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:e[+-]?\d+)?)\s*([a-z]*)\s*$/i.exec(text);
  const unit = m?.[2]?.toLowerCase();
  const scale = unit === undefined ? undefined : UNITS[unit];
  if (!m || scale === undefined) throw new EvolverArgumentError(`${flag}: expected a size like 5GB, 500MB or 1.5GiB, got '${text}'`);
  const bytes = Math.floor(Number(m[1]) * scale);
  if (!(bytes >= 1) || !Number.isSafeInteger(bytes)) throw new EvolverArgumentError(`${flag}: expected a positive size like 5GB, 500MB or 1.5GiB, got '${text}'`);
  if ((unit === 'b' || unit === '') && bytes < 1024) {
    throw new EvolverArgumentError(`${flag}: '${text}' is ${bytes} byte${bytes === 1 ? '' : 's'}, which puts every tensor in its own shard; write the unit (mergekit's '5B' means 5 billion bytes: 5GB here)`);
  }
  return bytes;
}

export function registerMerge(program: Command): void {
  program
    .command('merge')
    .description(`merge models from a mergekit YAML config (${MERGE_METHOD_NAMES.join(', ')})`)
    .argument('<config>', 'mergekit-style YAML')
    .argument('<out_dir>', 'output checkpoint folder (must hold no weights yet)')
    .option('--seed <n>', "seed of DARE's random masks", '0')
    .option('--max-shard-size <size>', 'largest output shard (e.g. 5GB, 500MB, 1.5GiB)', '5GB')
    .option('--json', 'print the result as JSON')
    .action(async (configFile: string, outDir: string, o: { seed: string; maxShardSize: string; json?: boolean }) => {
      const seed = Number(o.seed);
      if (!Number.isSafeInteger(seed) || seed < 0) throw new EvolverArgumentError(`--seed: expected a non-negative integer, got '${o.seed}'`);
      const maxShardBytes = parseByteSize(o.maxShardSize, '--max-shard-size');
      const config = loadMergeConfig(configFile);
      const bar = process.stderr.isTTY && !o.json
        ? new cliProgress.SingleBar({ format: 'merge {bar} {value}/{total} tensors | {rate} MB/s | {name}', hideCursor: true }, cliProgress.Presets.shades_classic)
        : undefined;
      const t0 = performance.now();
      let bytes = 0;
      const result = await runMerge(config, outDir, {
        seed,
        maxShardBytes,
        onTensor: (e) => {
          bytes += e.bytes;
          if (!bar) return;
          if (e.index === 0) bar.start(e.total, 0, { rate: '0', name: '' });
          bar.update(e.index + 1, { rate: (bytes / ((performance.now() - t0) / 1000) / 1e6).toFixed(0), name: e.name });
        },
      });
      bar?.stop();
      // config.json / tokenizer files: from the base (or first) model's folder, or for a single
      // .safetensors file the folder above it (README: "Config and tokenizer files").
      const carried = carryModelFiles([config.baseModel, config.models[0]?.model], outDir);
      if (o.json) {
        process.stdout.write(JSON.stringify({ ...result, carried }) + '\n');
        return;
      }
      process.stdout.write(`${config.method.name}: ${result.computed} of ${result.tensors} tensors merged into ${result.folder} (${result.shards.join(', ')}) in ${result.seconds.toFixed(2)} s, ${((result.bytesRead + result.bytesWritten) / result.seconds / 1e9).toFixed(2)} GB/s read + written\n`);
      process.stdout.write(carried.length > 0 ? `carried: ${carried.join(', ')}\n` : 'carried: no config.json found beside the base or first model (nor one folder up); add one before loading the output with transformers\n');
    });
}
