/**
 * node-llama-cpp is an optional peer dependency: Evolver installs and runs without it, and only
 * `fitness: {type: llama.cpp}` / `evolver eval --runtime llama.cpp` import it, at first use.
 */
import { EvolverArgumentError } from '../errors.js';

export const NODE_LLAMA_CPP_VERSION = '3.21.1';

export class LlamaCppMissingError extends EvolverArgumentError {
  override readonly name = 'LlamaCppMissingError';
  override readonly code = 'LLAMA_CPP_MISSING';
}

export type NodeLlamaCpp = typeof import('node-llama-cpp');
export type Llama = Awaited<ReturnType<NodeLlamaCpp['getLlama']>>;

/** Test seam: the module specifier imported (a missing one exercises the error). */
export const runtimeHooks = { specifier: 'node-llama-cpp' };

export async function importNodeLlamaCpp(): Promise<NodeLlamaCpp> {
  try {
    return (await import(runtimeHooks.specifier)) as NodeLlamaCpp;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const why = e.code === 'ERR_MODULE_NOT_FOUND' ? 'it is not installed' : `it cannot be loaded (${e.message.split('\n')[0]})`;
    throw new LlamaCppMissingError(`the llama.cpp runtime needs the node-llama-cpp package, and ${why}: npm install node-llama-cpp@${NODE_LLAMA_CPP_VERSION}`);
  }
}

/**
 * A llama.cpp instance from the prebuilt binaries only (never a source build or a download in the
 * middle of a run). `gpu: false` forces the CPU; 'auto' takes CUDA, Vulkan or Metal when a
 * prebuilt binary for it works on this machine. `threads` caps llama.cpp's thread pool: its
 * default takes every core, which oversubscribes a machine where Evolver's kernels run too.
 */
export async function startLlama(o: { gpu: 'auto' | false; threads?: number }): Promise<Llama> {
  const { getLlama, LlamaLogLevel } = await importNodeLlamaCpp();
  return getLlama({
    gpu: o.gpu,
    build: 'never',
    progressLogs: false,
    logLevel: LlamaLogLevel.error,
    ...(o.threads === undefined ? {} : { maxThreads: o.threads }),
  });
}
