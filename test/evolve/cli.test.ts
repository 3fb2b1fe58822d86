import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { stringify } from 'yaml';

import { ROOT, tempDir } from '../helpers.js';
import { testConfig } from './helpers.js';

function evolver(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), ...args], { encoding: 'utf8', cwd: ROOT });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('evolver evolve (CLI)', function () {
  this.timeout(120_000);

  it('runs a YAML config end to end; --json prints one event per line; the run can be resumed', () => {
    const dir = tempDir();
    const config = testConfig({ generations: 2 });
    const file = path.join(dir, 'evolve.yaml');
    fs.writeFileSync(file, stringify(config));
    const r = evolver('evolve', file, '--json');
    assert.equal(r.code, 0, r.stderr);
    const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
    const types = events.map((e) => e.type);
    assert.equal(types.filter((t) => t === 'initial').length, 5);
    assert.equal(types.filter((t) => t === 'trial').length, 10);
    assert.equal(types.filter((t) => t === 'generation').length, 2);
    assert.equal(types.at(-1), 'done');
    const done = events.at(-1);
    assert.ok(done.finalBest >= done.initialBest);
    assert.ok(fs.existsSync(path.join(config.output, 'report.html')));
    // Resuming a finished run says so and shows its summary; nothing is computed again.
    const again = evolver('evolve', '--resume', config.output);
    assert.equal(again.code, 0, again.stderr);
    assert.match(again.stdout, /10 trials/);
    assert.match(again.stderr, /is a finished run/, 'plain log lines when stderr is not a TTY');
  });

  it('Ctrl-C stops after the trial in flight and leaves a resumable run', async () => {
    const dir = tempDir();
    const config = testConfig({ generations: 6 });
    (config.fitness as { options: Record<string, unknown> }).options = { delay_ms: 40 };
    const file = path.join(dir, 'evolve.yaml');
    fs.writeFileSync(file, stringify(config));
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), 'evolve', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '', stdout = '';
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => (stdout += d));
    // Interrupt once trials are running.
    await new Promise<void>((resolve) => child.stderr.on('data', () => /trial 3 /.test(stderr) && resolve()));
    child.kill('SIGINT');
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 130, stderr);
    assert.match(stderr, /stopping after the trial in flight/);
    assert.ok(!fs.existsSync(path.join(config.output, 'run.lock')));
    const report = JSON.parse(fs.readFileSync(path.join(config.output, 'report.json'), 'utf8'));
    assert.equal(report.stop, 'aborted');
    assert.ok(report.trials < 30);
    assert.equal(report.trials, fs.readFileSync(path.join(config.output, 'journal.jsonl'), 'utf8').trim().split('\n').length, 'the trial in flight was finished and journaled');
    assert.deepEqual(fs.readdirSync(path.join(config.output, 'trial')), [], 'no trial file is left behind');
    assert.match(stdout, /resume with: npx evolver evolve --resume /);
    const resumed = evolver('evolve', '--resume', config.output);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /30 trials/);
  });

  it('a second Ctrl-C quits at once (130) and the folder still resumes to the full run', async () => {
    const dir = tempDir();
    const config = testConfig({ generations: 2 });
    (config.fitness as { options: Record<string, unknown> }).options = { delay_ms: 250 };
    const file = path.join(dir, 'evolve.yaml');
    fs.writeFileSync(file, stringify(config));
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), 'evolve', file], { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    await new Promise<void>((resolve) => child.stderr.on('data', () => /trial 1 /.test(stderr) && resolve()));
    child.kill('SIGINT');
    await new Promise<void>((resolve) => child.stderr.on('data', () => /stopping after the trial in flight/.test(stderr) && resolve()));
    child.kill('SIGINT');
    const code = await new Promise((resolve) => child.on('exit', resolve));
    assert.equal(code, 130, stderr);
    assert.match(stderr, /quit; resume with: npx evolver evolve --resume /);
    const resumed = evolver('evolve', '--resume', config.output);
    assert.equal(resumed.code, 0, resumed.stderr);
    assert.match(resumed.stdout, /10 trials/);
  });

  it('ETA text: whole seconds first, never 2m60s; the bars show our text, not cli-progress\'s raw {eta}', async () => {
    const { formatDuration } = await import('../../lib/cli/evolve-command.js');
    assert.equal(formatDuration(179.6), '3m00s');
    assert.equal(formatDuration(59.5), '1m00s');
    assert.equal(formatDuration(7), '7s');
    assert.equal(formatDuration(3600 + 59.7), '1h01m00s');
    assert.equal(formatDuration(Infinity), '-');
    const source = fs.readFileSync(path.join(ROOT, 'lib', 'cli', 'evolve-command.ts'), 'utf8');
    assert.doesNotMatch(source, /\{eta\}|\{eta_formatted\}/, 'cli-progress fills {eta} / {eta_formatted} itself');
  });

  it('a config error exits with one line naming the key path', () => {
    const dir = tempDir();
    const file = path.join(dir, 'bad.yaml');
    fs.writeFileSync(file, 'models: [a.safetensors, b.safetensors]\noutput: out\nseed: -3\nfitness: {type: module, path: f.mjs}\n');
    const r = evolver('evolve', file);
    assert.equal(r.code, 64);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /bad\.yaml: seed: .*>=0/);
    const missing = evolver('evolve', '--resume', dir);
    assert.equal(missing.code, 64);
    assert.match(missing.stderr, /no run to resume/);
  });

  it('a model file that is not safetensors exits 2 naming the file', () => {
    const dir = tempDir();
    const broken = path.join(dir, 'broken.safetensors');
    fs.writeFileSync(broken, 'not a model');
    const config = testConfig({ models: [broken, ...testConfig().models.slice(1)] });
    const file = path.join(dir, 'evolve.yaml');
    fs.writeFileSync(file, stringify(config));
    const r = evolver('evolve', file);
    assert.equal(r.code, 2);
    assert.ok(r.stderr.includes(broken), r.stderr);
  });
});
