/** `evolver worker --queue redis://HOST:PORT[/DB] [--concurrency N] [--models-root DIR]`. */
import type { Command } from 'commander';

import { TrialWorker } from '../distributed/worker.js';
import { positiveInteger } from './options.js';

/** The exit code of a worker that refused a run (its inputs or its build make other weights). */
export const WORKER_REFUSED = 3;

export function registerWorker(program: Command): void {
  program
    .command('worker')
    .description('evaluate trials of queued runs (`evolver evolve --queue`): rebuilds each offspring from the inputs, never receives weights')
    .requiredOption('--queue <url>', 'redis://HOST:PORT[/DB][?queue=NAME] (the coordinator\'s)')
    .option('--concurrency <n>', 'jobs evaluated at once (default 1)')
    .option('--models-root <dir>', 'where the run\'s models (and fitness files) are on this machine: replaces the folder they share on the coordinator')
    .option('--cache <dir>', 'where rebuilt members are kept (default: the temp folder)')
    .option('--threads <n>', 'kernel threads (default: all cores)')
    .option('--lock-seconds <s>', 'a job of a worker that died is retried after this long (default 30)')
    .action(async (o: { queue: string; concurrency?: string; modelsRoot?: string; cache?: string; threads?: string; lockSeconds?: string }) => {
      const concurrency = positiveInteger('--concurrency', o.concurrency);
      const threads = positiveInteger('--threads', o.threads);
      const lockSeconds = positiveInteger('--lock-seconds', o.lockSeconds);
      const worker = new TrialWorker(o.queue, {
        ...(concurrency ? { concurrency } : {}),
        ...(o.modelsRoot ? { modelsRoot: o.modelsRoot } : {}),
        ...(o.cache ? { cacheDir: o.cache } : {}),
        ...(threads ? { threads } : {}),
        ...(lockSeconds ? { lockSeconds } : {}),
        log: (l) => process.stderr.write(l + '\n'),
      });
      await worker.start();
      // SIGINT/SIGTERM: finish the jobs in flight, then exit; a second signal exits at once.
      const stopped = new Promise<'signal'>((resolve) => {
        let signals = 0;
        const onSignal = () => {
          if (++signals > 1) process.exit(130);
          process.stderr.write('evolver worker: finishing the jobs in flight (again to quit now)\n');
          resolve('signal');
        };
        process.on('SIGINT', onSignal);
        process.on('SIGTERM', onSignal);
      });
      const why = await Promise.race([stopped, worker.refusal]);
      await worker.close(why !== 'signal');
      if (why !== 'signal') {
        process.stderr.write(`evolver worker: error: refused to serve: ${why.message}\n`);
        process.exitCode = WORKER_REFUSED;
      }
    });
}
