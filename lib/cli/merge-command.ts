/** `evolver merge CONFIG.yml OUT_DIR [--seed N]`: a one-shot merge from a mergekit-style config. */
import cliProgress from 'cli-progress';
import type { Command } from 'commander';

import { EvolverArgumentError } from '../errors.js';
import { loadMergeConfig } from '../merge/config.js';
import { runMerge } from '../merge/run.js';
import { parseSize } from './bench-command.js';

export function registerMerge(program: Command): void {
  program
    .command('merge')
    .description('merge models from a mergekit YAML config (linear, task_arithmetic, ties, dare_linear, dare_ties, breadcrumbs, breadcrumbs_ties, slerp, model_stock, fisher)')
    .argument('<config>', 'mergekit-style YAML')
    .argument('<out_dir>', 'output checkpoint folder (must hold no weights yet)')
    .option('--seed <n>', "seed of DARE's random masks", '0')
    .option('--max-shard-size <size>', 'largest output shard (e.g. 2GB, 5GiB)', '5GB')
    .option('--json', 'print the result as JSON')
    .action(async (configFile: string, outDir: string, o: { seed: string; maxShardSize: string; json?: boolean }) => {
      const seed = Number(o.seed);
      if (!Number.isSafeInteger(seed) || seed < 0) throw new EvolverArgumentError(`--seed: expected a non-negative integer, got '${o.seed}'`);
      const config = loadMergeConfig(configFile);
      const bar = process.stderr.isTTY && !o.json
        ? new cliProgress.SingleBar({ format: 'merge {bar} {value}/{total} tensors | {rate} MB/s | {name}', hideCursor: true }, cliProgress.Presets.shades_classic)
        : undefined;
      const t0 = performance.now();
      let bytes = 0;
      const result = await runMerge(config, outDir, {
        seed,
        maxShardBytes: parseSize(o.maxShardSize),
        onTensor: (e) => {
          bytes += e.bytes;
          if (!bar) return;
          if (e.index === 0) bar.start(e.total, 0, { rate: '0', name: '' });
          bar.update(e.index + 1, { rate: (bytes / ((performance.now() - t0) / 1000) / 1e6).toFixed(0), name: e.name });
        },
      });
      bar?.stop();
      if (o.json) {
        process.stdout.write(JSON.stringify(result) + '\n');
        return;
      }
      process.stdout.write(`${config.method.name}: ${result.computed} of ${result.tensors} tensors merged into ${result.folder} (${result.shards.join(', ')}) in ${result.seconds.toFixed(2)} s, ${((result.bytesRead + result.bytesWritten) / result.seconds / 1e9).toFixed(2)} GB/s read + written\n`);
    });
}
