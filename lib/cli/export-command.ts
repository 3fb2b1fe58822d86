/** `evolver export gguf MODEL OUT.gguf [--dtype f32|f16|bf16]`: a Hugging Face checkpoint as one GGUF file for llama.cpp. */
import type { Command } from 'commander';

import { EvolverArgumentError } from '../errors.js';
import { type ExportDType, exportGguf } from '../export/gguf-export.js';
import { knownArchitectures } from '../export/architectures.js';

export function registerExport(program: Command): void {
  const exportCmd = program.command('export').description('write a checkpoint in another format');
  exportCmd
    .command('gguf')
    .description(`write a Hugging Face checkpoint as a GGUF file for llama.cpp (architectures: ${knownArchitectures()})`)
    .argument('<model>', 'a .safetensors file or a model folder (sharded or not) with config.json')
    .argument('<out>', 'the .gguf file to write')
    .option('--dtype <dtype>', 'dtype of the matrices: f32, f16 or bf16 (default: the token embedding\'s; 1-D tensors are always f32)')
    .option('--config <file>', "config.json to use (default: the one in the model's folder)")
    .option('--force', 'replace OUT if it exists')
    .action(async (model: string, out: string, options: { dtype?: string; config?: string; force?: boolean }) => {
      if (options.dtype !== undefined && !['f32', 'f16', 'bf16'].includes(options.dtype)) {
        throw new EvolverArgumentError(`--dtype must be f32, f16 or bf16, got '${options.dtype}'`);
      }
      const r = await exportGguf(model, out, {
        ...(options.dtype === undefined ? {} : { dtype: options.dtype as ExportDType }),
        ...(options.config === undefined ? {} : { config: options.config }),
        overwrite: options.force === true,
      });
      process.stdout.write(`${r.file}: ${r.architecture}, ${r.tensors} tensors, matrices ${r.dtype}, ${r.tokenizer} vocabulary, ${r.bytes} bytes\n`);
    });
}
