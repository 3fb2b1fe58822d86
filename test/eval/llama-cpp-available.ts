// Suites that need node-llama-cpp (an optional peer) skip, saying why, where it cannot be imported.
import { importNodeLlamaCpp } from '../../lib/eval/llama-cpp-runtime.js';

export async function skipWithoutLlamaCpp(this: Mocha.Context): Promise<void> {
  try {
    await importNodeLlamaCpp();
  } catch (err) {
    console.log(`    skipped: node-llama-cpp cannot be imported (${(err as Error).message})`);
    this.skip();
  }
}
