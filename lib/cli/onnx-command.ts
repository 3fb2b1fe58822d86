/** `evolver onnx prepare MODEL.onnx OUT_DIR`: weights out of the graph, into graph inputs + safetensors. */
import fs from 'node:fs';
import path from 'node:path';

import type { Command } from 'commander';

import { WeightFileError } from '../errors.js';
import { prepareOnnx } from '../onnx/prepare.js';

export function registerOnnx(program: Command): void {
  const onnxCmd = program.command('onnx').description('ONNX graph tools');
  onnxCmd
    .command('prepare')
    .description('turn an export with weights as initializers into a graph taking them as inputs, plus model.safetensors')
    .argument('<model>', 'the exported .onnx file')
    .argument('<out_dir>', 'where model.onnx and model.safetensors go (must not hold them yet)')
    .action((model: string, outDir: string) => {
      // Like merge and evolve: never overwrite an earlier result.
      const existing = ['model.onnx', 'model.safetensors'].filter((f) => fs.existsSync(path.join(outDir, f)));
      if (existing.length > 0) throw new WeightFileError('OUTPUT_EXISTS', outDir, `already holds ${existing.join(' and ')}; choose another folder or remove them`);
      const r = prepareOnnx(model, outDir);
      process.stdout.write(`${r.moved} weights are now graph inputs (${r.kept} constants stay in the graph)\n  graph:   ${r.graph}\n  weights: ${r.weights}\n`);
    });
}
