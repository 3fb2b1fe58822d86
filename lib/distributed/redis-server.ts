/**
 * A private redis-server (Debian: apt-get install redis-server) on a free port, in its own
 * folder, without persistence: what the queue tests and bench/distributed.ts run against, and
 * how to try `--queue` on one machine. Also starts `evolver worker` processes.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

import { Redis } from 'ioredis';

export function redisAvailable(): boolean {
  const found = spawnSync('redis-server', ['--version']).status === 0;
  if (!found && process.env.EVOLVER_REQUIRE_REDIS) throw new Error('redis-server is not installed (apt-get install redis-server), and EVOLVER_REQUIRE_REDIS is set');
  return found;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
    server.on('error', reject);
  });
}

export class RedisServer {
  private child: ChildProcess | undefined;
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'evolver-redis-'));
  constructor(readonly port: number) {}
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }
  static async start(): Promise<RedisServer> {
    const server = new RedisServer(await freePort());
    await server.up();
    return server;
  }
  async up(): Promise<void> {
    this.child = spawn('redis-server', ['--port', String(this.port), '--bind', '127.0.0.1', '--dir', this.dir, '--save', '', '--appendonly', 'no'], { stdio: 'ignore' });
    for (let i = 0; ; i++) {
      const client = new Redis({ host: '127.0.0.1', port: this.port, lazyConnect: true, retryStrategy: () => null, maxRetriesPerRequest: 0 });
      client.on('error', () => {});
      try {
        await client.connect();
        await client.ping();
        return;
      } catch (err) {
        if (i > 100) throw err;
        await new Promise((r) => setTimeout(r, 50));
      } finally {
        client.disconnect();
      }
    }
  }
  async down(): Promise<void> {
    const child = this.child;
    if (child === undefined || child.exitCode !== null) return;
    await new Promise((resolve) => {
      child.on('exit', resolve);
      child.kill('SIGKILL');
    });
  }

  /** Stops the server and removes its folder. */
  async stop(): Promise<void> {
    await this.down();
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

export interface WorkerProcess {
  child: ChildProcess;
  exited: Promise<number | null>;
  /** Resolves once the worker is connected and taking jobs. */
  ready: Promise<void>;
  stderr: () => string;
}

/** Starts `evolver worker` as a child process; `command` = how to run the CLI (node + args). */
export function startWorker(command: string[], url: string, extra: string[] = []): WorkerProcess {
  const child = spawn(command[0]!, [...command.slice(1), 'worker', '--queue', url, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let err = '';
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  const ready = new Promise<void>((resolve, reject) => {
    child.stderr!.on('data', () => /\bready on\b/.test(err) && resolve());
    void exited.then((code) => reject(new Error(`the worker exited (${code}) before it was ready: ${err.slice(-500)}`)));
  });
  ready.catch(() => {});
  return { child, exited, ready, stderr: () => err };
}
