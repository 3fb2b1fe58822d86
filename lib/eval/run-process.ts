/**
 * Runs an external evaluator program once: no shell (argv as given), a wall-clock limit and an
 * AbortSignal that both end it with SIGTERM and, if it is still there after a grace period,
 * SIGKILL. The program runs in a process group of its own so that what it starts (a wrapper
 * script's python, a launcher's workers) is signalled with it, and so that a Ctrl-C meant for
 * Evolver (which lets the evaluation in flight finish) does not reach it.
 */
import { spawn } from 'node:child_process';

export interface RunProcessOptions {
  cwd?: string;
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  signal?: AbortSignal;
  /** Between SIGTERM and SIGKILL (default 5 s). */
  graceMs?: number;
}

export interface ProcessOutcome {
  /** The exit code, or null when a signal ended it. */
  code: number | null;
  signal: NodeJS.Signals | null;
  /** The end of stdout (at most STDOUT_KEEP bytes: only the last line is read). */
  stdout: string;
  /** The last STDERR_KEEP characters of stderr. */
  stderr: string;
  timedOut: boolean;
  aborted: boolean;
  /** spawn() failed (EACCES, ENOENT, ...). */
  spawnError?: Error;
}

const STDOUT_KEEP = 1 << 20;
const STDERR_KEEP = 500;

/** Process groups still running, killed if Evolver exits first (they would outlive it otherwise). */
const live = new Set<number>();
let exitHook = false;

function killGroup(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(-pid, sig);
  } catch {
    // Already gone.
  }
}

export function runProcess(argv: readonly string[], o: RunProcessOptions): Promise<ProcessOutcome> {
  if (!exitHook) {
    exitHook = true;
    process.on('exit', () => { for (const pid of live) killGroup(pid, 'SIGKILL'); });
  }
  return new Promise((resolve) => {
    const out: Buffer[] = [];
    let outBytes = 0;
    let err = '';
    let timedOut = false;
    let aborted = false;
    let killTimer: NodeJS.Timeout | undefined;
    const child = spawn(argv[0]!, argv.slice(1), { cwd: o.cwd, env: o.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const pid = child.pid;
    if (pid !== undefined) live.add(pid);
    const stop = () => {
      if (pid === undefined || killTimer !== undefined) return;
      killGroup(pid, 'SIGTERM');
      killTimer = setTimeout(() => killGroup(pid, 'SIGKILL'), o.graceMs ?? 5000);
    };
    const timer = setTimeout(() => { timedOut = true; stop(); }, o.timeoutMs);
    const onAbort = () => { aborted = true; stop(); };
    if (o.signal?.aborted) onAbort();
    else o.signal?.addEventListener('abort', onAbort);
    child.stdout.on('data', (b: Buffer) => {
      out.push(b);
      outBytes += b.length;
      while (outBytes - out[0]!.length >= STDOUT_KEEP) outBytes -= out.shift()!.length;
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (s: string) => { err = (err + s).slice(-STDERR_KEEP); });
    let spawnError: Error | undefined;
    child.on('error', (e) => { spawnError = e; });
    // 'close' comes after the streams ended (and after 'error' when spawn failed).
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      o.signal?.removeEventListener('abort', onAbort);
      if (pid !== undefined) {
        live.delete(pid);
        // The leader is gone; anything it left in its group goes too (grandchildren holding no pipe).
        if (killTimer !== undefined) { clearTimeout(killTimer); killGroup(pid, 'SIGKILL'); }
      }
      resolve({ code, signal, stdout: Buffer.concat(out).toString('utf8'), stderr: err, timedOut, aborted, ...(spawnError ? { spawnError } : {}) });
    });
  });
}
