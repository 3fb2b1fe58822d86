/**
 * report.html, rendered in a real headless browser (Debian's chromium driven by playwright-core;
 * nothing is downloaded) at 1280 px: the page must render — a chart of non-zero size whose x-axis
 * starts at 0, tables that fit the width, short column labels with the full path in a tooltip,
 * numbers right-aligned, the best row highlighted, a screenshot that is not blank, no console
 * errors and no network request.
 *
 * The browser: EVOLVER_CHROMIUM, else /usr/bin/chromium (`apt-get install -y chromium`). Without
 * one the browser tests are skipped, unless EVOLVER_REQUIRE_BROWSER=1 (CI sets it), when they fail.
 * EVOLVER_REPORT_SCREENSHOT=/tmp/report.png keeps a copy of the screenshot.
 */
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';

import { EvolutionRun } from '../lib/evolve/engine.js';
import { resolvePaths, validateConfig } from '../lib/evolve/config.js';
import { evaluatorFor } from '../lib/evolve/fitness.js';
import { type RunReport, renderReportHtml, shortLabels, formatNumber, writeReportHtml } from '../lib/evolve/report.js';
import { DOMAINS, FORTUNES, tempDir } from './helpers.js';
import { decodePng, luminanceVariance } from './png.js';

// The page functions below run in the browser; this project compiles without the DOM lib, so
// these names are declared here, for this module only.
/* eslint-disable @typescript-eslint/no-explicit-any */
declare const document: any, window: any, getComputedStyle: (e: any) => any;
type Element = any;

const CHROMIUM = process.env.EVOLVER_CHROMIUM ?? '/usr/bin/chromium';
const WIDTH = 1280;

describe('report.html', function () {
  this.timeout(180_000);

  describe('labels and numbers', () => {
    it('shortens paths to base names, adding parent folders only where two would be equal', () => {
      assert.deepEqual(shortLabels(['/a/models/computers.safetensors', '/a/models/politics.safetensors']), ['computers', 'politics']);
      assert.deepEqual(shortLabels(['/x/data/computers/dev.jsonl', '/x/data/politics/dev.jsonl', '/x/data/people/test.jsonl']), ['computers/dev', 'politics/dev', 'test']);
      assert.deepEqual(shortLabels(['/p/a/m.safetensors', '/q/a/m.safetensors']), ['p/a/m', 'q/a/m']);
      assert.deepEqual(shortLabels(['neg_mean_nll', '/same/x.bin', '/same/x.bin']), ['neg_mean_nll', 'x', 'x']);
    });

    it('formats ordinary values with six decimals and tiny ones in scientific notation', () => {
      assert.equal(formatNumber(-1.7515), '-1.751500');
      assert.equal(formatNumber(-1.981e-5), '-1.9810e-5');
      assert.equal(formatNumber(0), '0.000000');
      assert.equal(formatNumber(-Infinity), '−∞');
    });
  });

  describe('a real run, rendered by chromium at 1280 px', () => {
    let report: RunReport;
    let runDir: string;
    let htmlFile: string;

    before(async function () {
      if (!fs.existsSync(CHROMIUM)) {
        if (process.env.EVOLVER_REQUIRE_BROWSER === '1') throw new Error(`no browser at ${CHROMIUM}: apt-get install -y chromium (or set EVOLVER_CHROMIUM)`);
        console.warn(`    (skipped: no browser at ${CHROMIUM}; apt-get install -y chromium, or set EVOLVER_CHROMIUM)`);
        this.skip();
      }
      // The bundled example, small: the four bf16 domain models, dev NLL through ONNX Runtime
      // (metric names are absolute paths of the dev sets), one generation, a short held-out table.
      const config = resolvePaths(validateConfig({
        models: DOMAINS.map((d) => `models-bf16/${d}.safetensors`),
        output: path.join(tempDir('evolver-report-'), 'run'),
        seed: 20240601,
        generations: 1,
        copy_files_from: '.',
        fitness: { type: 'onnx', graph: 'lm.onnx', metric: 'nll', batch_size: 32, data: DOMAINS.map((d) => `data/${d}/dev.jsonl`) },
        final_table: {
          sets: { computers: 'data/computers/test.jsonl', people: 'data/people/test.jsonl' },
          in_domain: ['computers'],
          out_of_domain: ['people'],
          merges: { average: true, task_arithmetic: [] },
        },
      }, 'report-html.test.ts'), FORTUNES);
      const evaluator = await evaluatorFor(config, path.join(FORTUNES, 'evolve.yaml'));
      try {
        report = await new EvolutionRun({ config, evaluator }).run();
      } finally {
        await (evaluator as { close?: () => Promise<void> }).close?.();
      }
      runDir = config.output;
      htmlFile = path.join(runDir, 'report.html');
    });

    it('is written atomically: no temp file is left beside it', async () => {
      assert.ok(fs.existsSync(htmlFile));
      await writeReportHtml(report, htmlFile);
      assert.deepEqual(fs.readdirSync(runDir).filter((f) => f.startsWith('report.html')), ['report.html']);
      assert.equal(fs.readFileSync(htmlFile, 'utf8'), await renderReportHtml(report));
    });

    it('renders: chart, tables within 1280 px, labels, alignment, highlight, a non-blank screenshot, no errors', async () => {
      const { chromium } = await import('playwright-core');
      const profile = tempDir('evolver-chromium-');
      const context = await chromium.launchPersistentContext(profile, {
        executablePath: CHROMIUM,
        headless: true,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
        viewport: { width: WIDTH, height: 900 },
        // Under `npm run test:asan` node runs with the ASan runtime preloaded; chromium must not.
        env: Object.fromEntries(Object.entries(process.env).filter(([k, v]) => k !== 'LD_PRELOAD' && k !== 'ASAN_OPTIONS' && v !== undefined)) as Record<string, string>,
      });
      try {
        // tsx compiles the page functions below with esbuild's keepNames, which calls a __name helper.
        await context.addInitScript({ content: 'globalThis.__name = (f) => f;' });
        const page = context.pages()[0] ?? (await context.newPage());
        const problems: string[] = [];
        const requests: string[] = [];
        page.on('console', (m) => { if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`); });
        page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
        page.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
        await page.route('**/*', (route) => {
          const url = route.request().url();
          requests.push(url);
          return url.startsWith('file:') ? route.continue() : route.abort();
        });
        await page.goto(pathToFileURL(htmlFile).href, { waitUntil: 'load' });

        const facts = await page.evaluate(() => {
          const box = (e: Element | null) => (e ? e.getBoundingClientRect() : null);
          const chart = document.querySelector('.chart svg, .chart canvas');
          const axisLabels = [...document.querySelectorAll('.chart svg .role-axis-label')].map((g) => [...g.querySelectorAll('text')].map((t) => t.textContent ?? ''));
          const cells = [...document.querySelectorAll('td')];
          const numeric = cells.filter((td) => /^[-−+]?(\d[\d.,]*(e[-+]?\d+)?|∞|NaN)$/.test((td.textContent ?? '').trim()));
          const scrollers = [...document.querySelectorAll('.scroll')].map((s) => ({ scroll: s.scrollWidth, client: s.clientWidth }));
          const rows = [...document.querySelectorAll('#population tbody tr')];
          const best = document.querySelectorAll('#population tr.best');
          const bg = (e: Element) => getComputedStyle(e.querySelector('td')!).backgroundColor;
          return {
            docScrollWidth: document.documentElement.scrollWidth,
            bodyScrollWidth: document.body.scrollWidth,
            chart: chart ? { tag: chart.tagName.toLowerCase(), ...JSON.parse(JSON.stringify(box(chart))) } : null,
            axisLabels,
            tables: [...document.querySelectorAll('table')].map((t) => ({ id: t.id, width: t.getBoundingClientRect().width, right: t.getBoundingClientRect().right })),
            scrollers,
            headers: [...document.querySelectorAll('th')].map((th) => ({ text: (th.innerText ?? '').replace(/\s+/g, ' ').trim(), title: th.getAttribute('title'), align: getComputedStyle(th).textAlign, width: th.getBoundingClientRect().width })),
            numericCells: numeric.length,
            misaligned: numeric.filter((td) => getComputedStyle(td).textAlign !== 'right').map((td) => td.textContent),
            labelCells: [...document.querySelectorAll('td.label')].map((td) => ({ text: td.textContent ?? '', title: td.getAttribute('title'), align: getComputedStyle(td).textAlign })),
            bestRows: best.length,
            bestBg: best[0] ? bg(best[0]) : null,
            otherBg: rows.filter((r) => !r.classList.contains('best')).map(bg),
            evolvedRows: document.querySelectorAll('#held-out tr.evolved').length,
            legend: [...document.querySelectorAll('dl.legend dt')].map((dt) => [dt.textContent, dt.nextElementSibling?.textContent]),
            pageHeight: document.documentElement.scrollHeight,
          };
        });

        // The chart: an SVG of real size, its x-axis from 0 (the initial population), never negative.
        assert.ok(facts.chart, 'the chart exists');
        assert.ok(facts.chart.width > 300 && facts.chart.height > 150, `chart size ${facts.chart.width} x ${facts.chart.height}`);
        assert.ok(facts.chart.right <= WIDTH, `the chart fits: right edge ${facts.chart.right}`);
        const xLabels = facts.axisLabels[0]!.map((t) => Number(t.replace('−', '-')));
        assert.ok(xLabels.length >= 2 && xLabels.every(Number.isFinite), `x-axis labels ${JSON.stringify(facts.axisLabels)}`);
        assert.equal(Math.min(...xLabels), 0, `the x-axis starts at 0: ${xLabels}`);
        assert.ok(Math.max(...xLabels) <= report.trials, `the x-axis ends at the last trial: ${xLabels}`);

        // Nothing wider than the window: not the page, not a table (inside its scroller).
        assert.ok(facts.docScrollWidth <= WIDTH, `document scrollWidth ${facts.docScrollWidth} > ${WIDTH}`);
        for (const s of facts.scrollers) assert.ok(s.scroll <= s.client, `a table overflows its box: ${s.scroll} > ${s.client}`);
        for (const t of facts.tables) assert.ok(t.right <= WIDTH, `table ${t.id} ends at ${t.right}`);

        // Short labels, the full path as a tooltip and in the legend.
        for (const h of facts.headers) {
          assert.ok(!h.text.includes(FORTUNES) && h.text.length <= 32, `header '${h.text}' is short`);
          assert.ok(h.width < 300, `header '${h.text}' is ${h.width} px wide`);
        }
        const devHeaders = facts.headers.filter((h) => h.title?.endsWith('dev.jsonl'));
        assert.equal(devHeaders.length, DOMAINS.length, 'one column per dev set, with the path as its title');
        for (const d of DOMAINS) {
          const h = devHeaders.find((x) => x.title === `nll on ${path.join(FORTUNES, 'data', d, 'dev.jsonl')}`);
          assert.ok(h, `a column for ${d}`);
          assert.equal(h.text, `nll ${d}/dev`);
        }
        const models = facts.labelCells.filter((c) => c.title !== null);
        assert.deepEqual(models.map((c) => c.text.replace(' ★ best', '')), [...DOMAINS]);
        for (const c of models) assert.ok(c.title!.startsWith(FORTUNES), c.title!);
        assert.ok(facts.legend.some(([k, v]) => k === 'nll computers/dev' && v?.endsWith(path.join('computers', 'dev.jsonl'))), JSON.stringify(facts.legend));
        assert.ok(facts.legend.some(([k, v]) => k === 'computers' && v?.endsWith('computers.safetensors')), JSON.stringify(facts.legend));

        // Numbers right-aligned everywhere, labels left-aligned.
        assert.ok(facts.numericCells >= 4 * (4 + DOMAINS.length), `numeric cells: ${facts.numericCells}`);
        assert.deepEqual(facts.misaligned, [], 'every number is right-aligned');
        for (const c of facts.labelCells) assert.equal(c.align, 'left', c.text);
        for (const h of facts.headers) assert.ok(h.align === 'right' || h.align === 'left', `${h.text}: ${h.align}`);

        // The best member and the evolved row stand out.
        assert.equal(facts.bestRows, 1);
        for (const other of facts.otherBg) assert.notEqual(facts.bestBg, other, 'the best row has its own background');
        assert.equal(facts.evolvedRows, 1);

        // A screenshot that is not blank, as a whole and where the chart is.
        const png = await page.screenshot({ fullPage: true, type: 'png' });
        const shot = path.join(runDir, 'report-1280.png');
        fs.writeFileSync(shot, png);
        if (process.env.EVOLVER_REPORT_SCREENSHOT) fs.copyFileSync(shot, process.env.EVOLVER_REPORT_SCREENSHOT);
        const img = decodePng(png);
        assert.equal(img.width, WIDTH);
        assert.ok(luminanceVariance(img) > 100, `the screenshot is not blank (variance ${luminanceVariance(img).toFixed(1)}; ${shot})`);
        const c = facts.chart;
        const chartVariance = luminanceVariance(img, { x: Math.round(c.x), y: Math.round(c.y + (await page.evaluate(() => window.scrollY))), width: Math.round(c.width), height: Math.round(c.height) });
        assert.ok(chartVariance > 100, `the chart area is not blank (variance ${chartVariance.toFixed(1)})`);

        assert.deepEqual(problems, [], 'no console errors or warnings, no failed request');
        assert.deepEqual(requests.filter((u) => !u.startsWith('file:')), [], 'no network request: the page is self-contained');
      } finally {
        await context.close();
        fs.rmSync(profile, { recursive: true, force: true });
      }
    });
  });
});
