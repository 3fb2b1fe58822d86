import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { QueueUrlError, parseQueueUrl } from '../../lib/distributed/queue-url.js';
import { ROOT } from '../helpers.js';

describe('--queue URLs', () => {
  it('reads host, port, database, password and queue name; hides the password in messages', () => {
    const q = parseQueueUrl('redis://:s3cret@gpu-box:6380/2?queue=llama-run');
    assert.deepEqual(q.connection, { host: 'gpu-box', port: 6380, db: 2, password: 's3cret' });
    assert.equal(q.queueName, 'llama-run');
    assert.equal(q.display, 'redis://gpu-box:6380/2?queue=llama-run');
    assert.deepEqual(parseQueueUrl('redis://localhost').connection, { host: 'localhost', port: 6379, db: 0 });
  });

  it('refuses what is not a redis URL, a bad database or queue name', () => {
    for (const [url, why] of [['localhost:6379', /expected redis:\/\/HOST/], ['http://x:1', /only redis:\/\//], ['redis://x/abc', /database must be a number/], ['redis://x/99', /database must be a number/], ['redis://x?queue=a%20b', /queue name/]] as const) {
      assert.throws(() => parseQueueUrl(url), (err: unknown) => err instanceof QueueUrlError && why.test(err.message), url);
    }
  });

  it('the CLI says what is wrong with --queue (exit 64)', () => {
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), 'worker', '--queue', 'http://x'], { encoding: 'utf8', cwd: ROOT });
    assert.equal(r.status, 64);
    assert.match(r.stderr, /only redis:\/\/ URLs are supported/);
  });
});

describe('evolve --queue refusals', () => {
  it('the sequential schedule stays local: refused before a run folder is made', () => {
    const out = path.join(ROOT, 'node_modules', '.cache', `never-${process.pid}`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'run-cli.ts'), 'evolve', path.join(ROOT, 'examples', 'fortunes', 'evolve-distance.yaml'), '--output', out, '--queue', 'redis://127.0.0.1:1'], { encoding: 'utf8', cwd: ROOT });
    assert.equal(r.status, 64, r.stderr);
    assert.match(r.stderr, /needs schedule: generational or asynchronous/);
    assert.equal(fs.existsSync(out), false);
  });
});
