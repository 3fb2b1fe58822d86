/**
 * Builds a `type: command` evaluator from the config, checking up front what would otherwise
 * fail every trial the same way (a program that is not there, a GGUF export that cannot be
 * made): those are config errors, not rejected trials.
 */
import fs from 'node:fs';
import path from 'node:path';

import { createCommandEvaluator } from '../eval/command.js';
import { findArchitecture, knownArchitectures } from '../export/architectures.js';
import { carriedFilesFolder } from '../store/carried-files.js';
import type { EvolveConfig } from './config.js';
import { ConfigError } from './config.js';
import type { Evaluator } from './evaluator.js';

type CommandFitness = Extract<EvolveConfig['fitness'], { type: 'command' }>;

const executable = (file: string) => {
  try {
    fs.accessSync(file, fs.constants.X_OK);
    return fs.statSync(file).isFile();
  } catch {
    return false;
  }
};

/** The program as spawn() will find it, or undefined (a name without a slash is looked up on PATH). */
export function findProgram(program: string, pathVar: string | undefined, cwd: string): string | undefined {
  if (program.includes('/')) return executable(path.resolve(cwd, program)) ? path.resolve(cwd, program) : undefined;
  for (const dir of (pathVar ?? '').split(path.delimiter)) {
    if (dir !== '' && executable(path.join(dir, program))) return path.join(dir, program);
  }
  return undefined;
}

export function commandEvaluatorFor(f: CommandFitness, config: EvolveConfig, configFile: string, log?: (line: string) => void): Evaluator {
  const cwd = f.cwd ?? path.dirname(path.resolve(configFile));
  const program = f.run[0]!;
  if (findProgram(program, f.env.PATH ?? process.env.PATH, cwd) === undefined) {
    throw new ConfigError(configFile, 'fitness.run[0]', program.includes('/') ? `${program} is not an executable file` : `${program} is not found on PATH`);
  }
  // config.json / tokenizer files: copy_files_from, else the first model that has them.
  const carryFrom = config.copy_files_from ?? config.models.map(carriedFilesFolder).find((d) => d !== undefined);
  if (f.format === 'gguf') checkGgufExportable(carryFrom, configFile);
  return createCommandEvaluator({
    run: f.run, timeoutS: f.timeout_s, format: f.format, env: f.env, cwd,
    ...(carryFrom === undefined ? {} : { carryFrom }),
    ...(log === undefined ? {} : { log }),
  });
}

/** The GGUF export of an offspring needs config.json of a known architecture; `key` names the config key blamed. */
export function checkGgufExportable(carryFrom: string | undefined, configFile: string, key = 'fitness.format'): asserts carryFrom is string {
  if (carryFrom === undefined) throw new ConfigError(configFile, key, 'gguf needs the models\' config.json (none beside the first model; set copy_files_from)');
  const file = path.join(carryFrom, 'config.json');
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(fs.readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (err) {
    throw new ConfigError(configFile, key, `gguf: cannot read ${file} (${(err as Error).message})`);
  }
  if (findArchitecture(config) === undefined) {
    const said = JSON.stringify((config.architectures as unknown[] | undefined)?.[0] ?? config.model_type ?? null);
    throw new ConfigError(configFile, key, `gguf: architecture ${said} (${file}) cannot be exported to GGUF; known: ${knownArchitectures()}${key === 'fitness.format' ? '; use format: safetensors' : ''}`);
  }
}
