// Every README code snippet runs as written on Node 20.
//
// - ```js / ```mjs / ```javascript blocks: written to a temporary folder as .mjs files, checked by
//   plain `node --check` (no TypeScript syntax, no `using`: Node 20 rejects both), then run with
//   `import ... from 'evolver'` resolving to this checkout (node_modules/evolver in the temporary
//   folder re-exports lib/index.ts, loaded through tsx, so no build is needed).
//   ```ts / ```typescript blocks run through tsx only (they are TypeScript by their tag).
// - ```sh / ```bash blocks run only when marked `<!-- readme-test: run -->` on the line before the
//   fence: the block becomes a bash script (`set -euo pipefail`) where `npx evolver` runs the CLI
//   from source. Lines that are not commands (a command starts with npx, npm, node, cd, ls, cat,
//   test, rm or mkdir, or continues a line ending in `\`) are the expected output: a JSON line
//   must equal a line of stdout as JSON (numbers within 1e-9 relative), other lines must appear in
//   stdout. Unmarked shell blocks (installs, builds, long benchmarks, placeholders) are not run;
//   the main `evolve` command is covered by test/eval/example.test.ts.
// - `<!-- readme-test: skip REASON -->` before any block skips it (the reason is the test's title).
// - `<!-- readme-test: replace "A" "B" -->` (repeatable, with `run`) replaces text before running,
//   to shorten a long snippet; the README shows the full version.
// Every snippet runs in one temporary folder (in README order) holding a link to examples/, so
// the README's relative paths work and nothing is written into the checkout.
// README_SNIPPETS_FILE=path runs another Markdown file's snippets.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { ROOT, tempDir } from './helpers.js';

interface Snippet {
  lang: string;
  line: number;
  code: string;
  directives: string[];
}

const JS_LANGS = new Set(['js', 'mjs', 'javascript']);
const TS_LANGS = new Set(['ts', 'typescript', 'mts']);
const SH_LANGS = new Set(['sh', 'bash', 'shell']);
const COMMAND = /^(npx|npm|node|cd|ls|cat|test|rm|mkdir)\b/;

function readmeSnippets(markdown: string): Snippet[] {
  const lines = markdown.split('\n');
  const out: Snippet[] = [];
  for (let i = 0; i < lines.length; i++) {
    const open = /^```\s*([A-Za-z]*)\s*$/.exec(lines[i]!);
    if (!open) continue;
    let end = i + 1;
    while (end < lines.length && !/^```\s*$/.test(lines[end]!)) end++;
    const directives: string[] = [];
    for (let j = i - 1; j >= 0; j--) {
      const m = /^<!--\s*readme-test:\s*(.*?)\s*-->\s*$/.exec(lines[j]!);
      if (!m) break;
      directives.unshift(m[1]!);
    }
    out.push({ lang: open[1]!.toLowerCase(), line: i + 1, code: lines.slice(i + 1, end).join('\n') + '\n', directives });
    i = end;
  }
  return out;
}

function applyReplacements(s: Snippet): string {
  let code = s.code;
  for (const d of s.directives) {
    const m = /^replace\s+"((?:[^"\\]|\\.)*)"\s+"((?:[^"\\]|\\.)*)"$/.exec(d);
    if (!m) continue;
    const [from, to] = [JSON.parse(`"${m[1]}"`) as string, JSON.parse(`"${m[2]}"`) as string];
    assert.ok(code.includes(from), `README line ${s.line}: replace "${from}": not in the snippet`);
    code = code.split(from).join(to);
  }
  return code;
}

const relClose = (a: number, b: number) => a === b || Math.abs(a - b) <= 1e-9 * Math.max(Math.abs(a), Math.abs(b));
function jsonClose(a: unknown, b: unknown): boolean {
  if (typeof a === 'number' && typeof b === 'number') return relClose(a, b);
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => jsonClose(x, b[i]));
  if (a && b && typeof a === 'object' && typeof b === 'object') {
    const ka = Object.keys(a).sort(), kb = Object.keys(b).sort();
    return ka.length === kb.length && ka.every((k, i) => k === kb[i] && jsonClose((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
  }
  return a === b;
}

/** A shell block's commands (with their continuation lines) and its expected output lines. */
function splitShell(code: string): { commands: string[]; expected: string[] } {
  const commands: string[] = [];
  const expected: string[] = [];
  let continued = false;
  for (const line of code.split('\n')) {
    if (line.trim() === '' || line.trim().startsWith('#')) {
      continued = false;
      continue;
    }
    if (continued || COMMAND.test(line.trim())) commands.push(line);
    else expected.push(line.trim());
    continued = line.trimEnd().endsWith('\\');
  }
  return { commands, expected };
}

const file = process.env.README_SNIPPETS_FILE ? path.resolve(process.env.README_SNIPPETS_FILE) : path.join(ROOT, 'README.md');
const snippets = readmeSnippets(fs.readFileSync(file, 'utf8'));
const tsxLoader = import.meta.resolve('tsx');

describe(`README snippets (${path.relative(ROOT, file) || file})`, function () {
  this.timeout(120_000);
  let work = '';

  before(() => {
    work = tempDir('evolver-readme-');
    fs.symlinkSync(path.join(ROOT, 'examples'), path.join(work, 'examples'));
    // `import ... from 'evolver'` -> this checkout's sources (tsx compiles them on the fly).
    const pkg = path.join(work, 'node_modules', 'evolver');
    fs.mkdirSync(pkg, { recursive: true });
    fs.writeFileSync(path.join(pkg, 'package.json'), JSON.stringify({ name: 'evolver', type: 'module', exports: './index.mjs' }));
    fs.writeFileSync(path.join(pkg, 'index.mjs'), `export * from ${JSON.stringify(pathToFileURL(path.join(ROOT, 'lib', 'index.ts')).href)};\n`);
  });

  after(() => {
    if (work && !process.env.EVOLVER_KEEP_README_RUN) fs.rmSync(work, { recursive: true, force: true });
  });

  it('the README has JavaScript snippets to run', () => {
    assert.ok(snippets.some((s) => JS_LANGS.has(s.lang) || TS_LANGS.has(s.lang)));
  });

  for (const s of snippets) {
    const skip = s.directives.find((d) => d.startsWith('skip'));
    const title = `line ${s.line} (${s.lang})`;
    const isJs = JS_LANGS.has(s.lang), isTs = TS_LANGS.has(s.lang);
    const isSh = SH_LANGS.has(s.lang) && s.directives.includes('run');
    if (!isJs && !isTs && !isSh) continue;
    if (skip) {
      it.skip(`${title}: ${skip}`);
      continue;
    }
    it(`${title}: ${s.code.split('\n').find((l) => l.trim() && !l.startsWith('//') && !l.startsWith('import'))?.trim().slice(0, 70) ?? ''}`, () => {
      const code = applyReplacements(s);
      const run = (args: string[]) => spawnSync(process.execPath, args, { cwd: work, encoding: 'utf8', timeout: 90_000, env: { ...process.env, NO_COLOR: '1' } });
      if (isJs || isTs) {
        const f = path.join(work, `snippet-line${s.line}.${isJs ? 'mjs' : 'mts'}`);
        fs.writeFileSync(f, code);
        if (isJs) {
          const check = run(['--check', f]);
          assert.equal(check.status, 0, `plain Node ${process.version} rejects README line ${s.line}:\n${check.stderr}`);
        }
        const r = run(['--import', tsxLoader, f]);
        assert.equal(r.status, 0, `README line ${s.line} failed (${r.signal ?? `exit ${r.status}`}):\n${r.stderr}\n${r.stdout}`);
        return;
      }
      const { commands, expected } = splitShell(code);
      const script = path.join(work, `snippet-line${s.line}.sh`);
      fs.writeFileSync(script, [
        'set -euo pipefail',
        `npx() { if [ "$1" = evolver ]; then shift; ${JSON.stringify(process.execPath)} --import ${JSON.stringify(tsxLoader)} ${JSON.stringify(path.join(ROOT, 'test', 'run-cli.ts'))} "$@"; else command npx "$@"; fi; }`,
        ...commands,
      ].join('\n') + '\n');
      const r = spawnSync('bash', [script], { cwd: work, encoding: 'utf8', timeout: 90_000 });
      assert.equal(r.status, 0, `README line ${s.line} failed (${r.signal ?? `exit ${r.status}`}):\n${r.stderr}\n${r.stdout}`);
      const stdoutLines = r.stdout.split('\n').map((l) => l.trim());
      for (const want of expected) {
        let json: unknown;
        try {
          json = JSON.parse(want);
        } catch {
          json = undefined;
        }
        const found = json === undefined
          ? r.stdout.includes(want)
          : stdoutLines.some((l) => {
            try {
              return jsonClose(JSON.parse(l), json);
            } catch {
              return false;
            }
          });
        if (!found) assert.fail(`README line ${s.line} should print ${want}, printed:\n${r.stdout}`);
      }
    });
  }
});
