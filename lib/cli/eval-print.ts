/** What `evolver eval` prints, the same for every runtime. */
export interface EvalOptions {
  model: string; runtime: string; graph?: string; data?: string[]; run?: string; timeout: string; format: string;
  metric: string; batchSize: string; threads?: string; gpuLayers: string; context?: string; config?: string; json?: boolean;
  /** A tokenizer.json; false (--no-tokenizer): the byte-level protocol; absent: the model folder's, if any. */
  tokenizer?: string | false;
}

/** {"score", "metrics": {"<data file>": value}}; for nll the score is minus the mean NLL. */
export function printMetrics(metrics: Record<string, number>, o: { metric: string; json?: boolean }): void {
  const values = Object.values(metrics);
  const mean = values.reduce((a, b) => a + b, 0) / values.length;
  const score = o.metric === 'nll' ? -mean : mean;
  if (o.json) {
    process.stdout.write(JSON.stringify({ score, metrics }) + '\n');
  } else {
    for (const [file, value] of Object.entries(metrics)) process.stdout.write(`${o.metric} ${value.toFixed(6)}  ${file}\n`);
    process.stdout.write(`score ${score.toFixed(6)}${o.metric === 'nll' ? ' (minus the mean NLL: higher is better)' : ''}\n`);
  }
}
