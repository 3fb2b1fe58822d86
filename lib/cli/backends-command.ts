/** `evolver backends [--json]`: the kernel backends of this build and whether they run here. */
import type { Command } from 'commander';

import { backends } from '../backends.js';

export function registerBackends(program: Command): void {
  program
    .command('backends')
    .description('list kernel backends (scalar, avx2, avx512, neon, cuda) and their availability')
    .option('--json', 'print JSON')
    .action((options: { json?: boolean }) => {
      const list = backends();
      if (options.json) {
        process.stdout.write(JSON.stringify(list) + '\n');
        return;
      }
      for (const b of list) process.stdout.write(`${b.name.padEnd(7)} ${b.available ? 'available' : `unavailable: ${b.reason}`}${b.device ? ` (${b.device})` : ''}\n`);
    });
}
