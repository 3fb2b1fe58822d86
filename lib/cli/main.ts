/** The `evolver` command line: one file per command; this file only wires them up. */
import fs from 'node:fs';

import { Command, CommanderError } from 'commander';

import { registerInspect } from './inspect-command.js';
import { registerBackends } from './backends-command.js';
import { registerBench } from './bench-command.js';
import { registerEvolve } from './evolve-command.js';
import { registerEval } from './eval-command.js';
import { registerOnnx } from './onnx-command.js';
import { registerMerge } from './merge-command.js';
import { registerRecipe } from './recipe-command.js';
import { registerWorker } from './worker-command.js';
import { registerExport } from './export-command.js';
import { registerStats } from './stats-command.js';
import { ExitCode, reportError } from './exit.js';

/** The package version, from package.json (two levels up from lib/cli and from dist/cli). */
export function packageVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

export async function main(argv: string[]): Promise<number> {
  const program = new Command('evolver')
    .description('Fuse fine-tuned language models by evolving their weights.')
    .version(packageVersion(), '-V, --version', 'print the version')
    .exitOverride()
    .configureOutput({ writeErr: (s) => process.stderr.write(s) });
  registerInspect(program);
  registerBackends(program);
  registerBench(program);
  registerEvolve(program);
  registerEval(program);
  registerOnnx(program);
  registerMerge(program);
  registerRecipe(program);
  registerWorker(program);
  registerExport(program);
  registerStats(program);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.Ok;
  } catch (err) {
    if (err instanceof CommanderError) return err.exitCode === 0 ? ExitCode.Ok : ExitCode.Usage;
    return reportError(err);
  }
}
