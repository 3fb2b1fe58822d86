// JSONL data files: malformed UTF-8 is refused with the file, line and byte; a huge line costs a
// small multiple of its size in memory, not gigabytes.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

import { EvalDataError, readExamples } from '../../lib/eval/data.js';
import { FORTUNES, ROOT, tempDir } from '../helpers.js';

const opts = { maxLength: 128, endToken: 256 };

/** The reading rule, written out plainly: [...utf8(text), end].slice(0, maxLength) or input_ids.slice(0, maxLength). */
function reference(file: string, maxLength: number, end: number): number[][] {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.trim() !== '').map((l) => {
    const r = JSON.parse(l);
    return (Array.isArray(r.input_ids) ? r.input_ids : [...Buffer.from(r.text, 'utf8'), end]).slice(0, maxLength);
  });
}

const UNDER_ASAN = /libasan/.test(process.env.LD_PRELOAD ?? '');

describe('JSONL data files', () => {
  it('reads the example dev sets exactly as the rule says (text, ids, truncation, CRLF, BOM)', () => {
    const dir = tempDir('evolver-data-');
    const dev = path.join(FORTUNES, 'data', 'computers', 'dev.jsonl');
    for (const maxLength of [1, 7, 128, 100_000]) {
      const got = readExamples(dev, { maxLength, endToken: 256 });
      assert.deepEqual(got.map((e) => Array.from(e.ids)), reference(dev, maxLength, 256));
      assert.ok(got.every((e) => e.ids instanceof Int32Array));
    }
    const mixed = path.join(dir, 'mixed.jsonl');
    const lines = [{ text: 'héllo wörld ✓ 𝄞' }, { input_ids: [5, 6, 7] }, { text: '' }, { text: 'x'.repeat(200) }, { text: 'ab\ud800c' }];
    fs.writeFileSync(mixed, '\ufeff' + lines.map((l) => JSON.stringify(l)).join('\r\n') + '\r\n\r\n   \n');
    for (const maxLength of [1, 5, 6, 7, 8, 128]) {
      const got = readExamples(mixed, { maxLength, endToken: 999 }).map((e) => Array.from(e.ids));
      const want = lines.map((l) => ('input_ids' in l ? l.input_ids! : [...Buffer.from(l.text!, 'utf8'), 999]).slice(0, maxLength));
      assert.deepEqual(got, want, `maxLength ${maxLength}`);
    }
    // Lines with an ids list (read without JSON.parse when they are plain) and other members.
    const idLines = [
      '{"input_ids": [1, 2, 3], "label": 2}',
      '{ "label" : 1 , "input_ids" :[ 0,10 ,\t2147483647 ] }',
      '{"text": "has \\"input_ids\\" inside, and \\\\", "input_ids": [4], "label": 0}',
      '{"input_ids": [9, 9], "input_ids": [8], "label": 3}',
      '{"input_ids": [], "label": 0}',
      '{"input_ids": [1.0, 2e0, 3], "label": 1}',
      '{"meta": {"a": [1, {"b": "]}"}]}, "input_ids": [' + Array.from({ length: 300 }, (_, i) => i * 7).join(',') + '], "label": 5}',
      '{"inp\\u0075t_ids": [6, 5], "label": 4}',
      '{"input_ids": "not a list", "text": "but text", "label": 0}',
    ];
    const withIds = path.join(dir, 'ids.jsonl');
    fs.writeFileSync(withIds, idLines.join('\n') + '\n');
    for (const maxLength of [1, 2, 3, 128]) {
      const got = readExamples(withIds, { maxLength, endToken: 256, needLabel: true });
      assert.deepEqual(got.map((e) => Array.from(e.ids)), reference(withIds, maxLength, 256), `maxLength ${maxLength}`);
      assert.deepEqual(got.map((e) => e.label), idLines.map((l) => JSON.parse(l).label));
    }
    for (const bad of ['{"input_ids": [1, -2]}', '{"input_ids": [1, 2.5]}', '{"input_ids": [1, "2"]}', '{"input_ids": [01]}', '{"input_ids": [1,]}', '{"input_ids": [1, 2]', '{"input_ids": [1, 2]} x']) {
      fs.writeFileSync(withIds, '{"text": "fine"}\n' + bad + '\n');
      assert.throws(() => readExamples(withIds, opts), (e: unknown) => e instanceof EvalDataError && e.line === 2 && /line 2/.test(e.message), bad);
    }
    // A line longer than the read chunk, with no final newline.
    const long = path.join(dir, 'long.jsonl');
    fs.writeFileSync(long, JSON.stringify({ text: 'short' }) + '\n' + JSON.stringify({ text: 'é'.repeat(1_500_000) + 'end' }));
    const got = readExamples(long, opts);
    assert.equal(got.length, 2);
    assert.deepEqual(Array.from(got[1]!.ids.subarray(0, 4)), [0xc3, 0xa9, 0xc3, 0xa9]);
    assert.throws(() => readExamples(path.join(dir, 'big-ids.jsonl'), opts), (e: unknown) => e instanceof EvalDataError && /cannot read/.test(e.message));
    fs.writeFileSync(path.join(dir, 'big-ids.jsonl'), '{"input_ids": [1, 2147483648]}\n');
    assert.throws(() => readExamples(path.join(dir, 'big-ids.jsonl'), opts), (e: unknown) => e instanceof EvalDataError && e.line === 1 && /2\^31/.test(e.message));
  });

  it('malformed UTF-8 is an error naming the file, the line and the byte', () => {
    const dir = tempDir('evolver-data-');
    const cases: [string, Buffer, number, RegExp][] = [
      ['lone-ff.jsonl', Buffer.concat([Buffer.from('{"text": "ok"}\n{"text": "a'), Buffer.from([0xff]), Buffer.from('b"}\n')]), 2, /byte 0xff at byte 12 of the line, file offset 26/],
      ['overlong.jsonl', Buffer.concat([Buffer.from('{"text": "'), Buffer.from([0xc0, 0xaf]), Buffer.from('"}\n')]), 1, /byte 0xc0/],
      ['surrogate.jsonl', Buffer.concat([Buffer.from('\n\n{"text": "'), Buffer.from([0xed, 0xa0, 0x80]), Buffer.from('"}\n')]), 3, /byte 0xed/],
      ['truncated-at-eof.jsonl', Buffer.concat([Buffer.from('{"text": "x"}\n{"text": "'), Buffer.from([0xe2, 0x9c])]), 2, /byte 0xe2/],
      ['latin1.jsonl', Buffer.from('{"text": "caf\xe9"}\n', 'latin1'), 1, /byte 0xe9/],
      ['in-blank-line.jsonl', Buffer.concat([Buffer.from('{"text": "x"}\n  '), Buffer.from([0xa0]), Buffer.from('\n')]), 2, /byte 0xa0/],
    ];
    for (const [name, bytes, line, byte] of cases) {
      const file = path.join(dir, name);
      fs.writeFileSync(file, bytes);
      assert.throws(() => readExamples(file, opts), (e: unknown) => {
        assert.ok(e instanceof EvalDataError, String(e));
        assert.equal(e.file, file);
        assert.equal(e.line, line);
        assert.ok(e.message.includes(file), e.message);
        assert.match(e.message, new RegExp(`line ${line} is not valid UTF-8`));
        assert.match(e.message, byte);
        return true;
      }, name);
    }
  });

  describe('a 50 MB line', function () {
    this.timeout(180_000);
    let dir: string;
    before(() => (dir = tempDir('evolver-data-big-')));
    after(() => fs.rmSync(dir, { recursive: true, force: true }));

    /** Writes `head`, `count` repetitions of `unit`, then `tail`, without building the line in memory. */
    function bigLine(name: string, head: string, unit: string, count: number, tail: string): string {
      const file = path.join(dir, name);
      const fd = fs.openSync(file, 'w');
      fs.writeSync(fd, head);
      const block = unit.repeat(Math.floor(1_000_000 / unit.length));
      const per = Math.floor(1_000_000 / unit.length);
      for (let done = 0; done < count; done += per) fs.writeSync(fd, done + per <= count ? block : unit.repeat(count - done));
      fs.writeSync(fd, tail);
      fs.closeSync(fd);
      return file;
    }
    function readInChild(file: string): { examples: number; first: number[]; lengths: number[]; ms: number; maxRssMB: number } {
      const out = execFileSync(process.execPath, ['--import', 'tsx', path.join(ROOT, 'test', 'reliability', 'data-memory-child.ts'), file], { cwd: ROOT, encoding: 'utf8' });
      return JSON.parse(out.trim().split('\n').pop()!);
    }

    it('of text costs well under 600 MB (it cost 2.1 GB when every byte became a number)', () => {
      const file = bigLine('text.jsonl', '{"text": "', 'abcdefghij', 5_000_000, '"}\n{"text": "ok"}\n');
      assert.ok(fs.statSync(file).size > 50_000_000);
      const r = readInChild(file);
      console.log(`      50 MB text line: peak RSS ${r.maxRssMB} MB, ${r.ms} ms`);
      assert.equal(r.examples, 2);
      assert.deepEqual(r.first, [97, 98, 99, 100]);
      assert.deepEqual(r.lengths, [128, 3]);
      // Under `npm run test:asan` the sanitizer's allocator and shadow memory inflate RSS: no bound there.
      if (!UNDER_ASAN) assert.ok(r.maxRssMB < 600, `peak RSS ${r.maxRssMB} MB`);
    });

    it('of token ids costs well under 600 MB', () => {
      const file = bigLine('ids.jsonl', '{"input_ids": [7', ', 12345', 7_200_000, ']}\n');
      assert.ok(fs.statSync(file).size > 50_000_000);
      const r = readInChild(file);
      console.log(`      50 MB input_ids line: peak RSS ${r.maxRssMB} MB, ${r.ms} ms`);
      assert.deepEqual(r.first, [7, 12345, 12345, 12345]);
      assert.deepEqual(r.lengths, [128]);
      if (!UNDER_ASAN) assert.ok(r.maxRssMB < 600, `peak RSS ${r.maxRssMB} MB`);
    });
  });
});
