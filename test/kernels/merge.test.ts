import assert from 'node:assert/strict';

import { arceeFusion, breadcrumbs, convert, dare, della, dot, fisher as kfisher, linear, nearswap, ram, sce, slerp, stats, taskArithmetic, ties } from '../../lib/kernels/index.js';
import { ISAS } from './de.test.js';
import { RUN_SEED, bitsOf, firstDifference, randomBits, rng, toBuffer } from './inputs.js';
import { type DType, arceeFusionRef, convertRef, dotRef, fisherRef, floatBits, floatToBf16, loadAs as loadAsRef, mergeRef, mix2Ref, nearswapRef, ramRef, sceRef, statsRef, storedBits as storedBitsOf } from './reference.js';

const DTYPES: DType[] = ['F32', 'F16', 'BF16'];

describe(`merge kernels against the TypeScript reference, bit for bit (seed ${RUN_SEED})`, () => {
  const random = rng(RUN_SEED ^ 0x5bd1e995);
  const run = () => ({ threads: [1, 2, 3, 7][Math.floor(random() * 4)]!, chunk: [7, 100, 1000, 65536][Math.floor(random() * 4)]! });

  for (const inDtype of DTYPES) {
    for (const outDtype of DTYPES) {
      it(`linear, task arithmetic, TIES and DARE: ${inDtype} -> ${outDtype}`, async () => {
        const n = 900 + Math.floor(random() * 300);
        const models = 2 + Math.floor(random() * 3);
        // Fewer specials here: TIES selection ties are exercised on purpose below.
        const inputs = Array.from({ length: models }, () => randomBits(n, inDtype, random));
        const base = randomBits(n, inDtype, random);
        const weights = inputs.map(() => Math.fround(random() * 1.5 - 0.25));
        const lambda = Math.fround(0.5 + random());
        const density = Math.fround(0.2 + random() * 0.7);
        const seed = BigInt(Math.floor(random() * 2 ** 50));
        const tensorIndex = Math.floor(random() * 100);
        const cases = [
          { kind: 'linear', sparsify: 'none', rescale: false, call: linear },
          { kind: 'task_arithmetic', sparsify: 'none', rescale: false, call: taskArithmetic },
          { kind: 'ties', sparsify: 'magnitude', rescale: false, call: ties },
          { kind: 'task_arithmetic', sparsify: 'random', rescale: true, call: (o: any) => dare({ ...o, combine: 'linear' }) },
          { kind: 'ties', sparsify: 'random', rescale: true, normalize: false, call: (o: any) => dare({ ...o, combine: 'ties' }) },
          { kind: 'task_arithmetic', sparsify: 'magnitude_band', rescale: false, gamma: 0.1, call: (o: any) => breadcrumbs({ ...o, gamma: 0.1 }) },
          { kind: 'ties', sparsify: 'magnitude_band', rescale: false, gamma: 0.05, normalize: false, call: (o: any) => breadcrumbs({ ...o, gamma: 0.05, combine: 'ties', normalize: false }) },
          { kind: 'ties', sparsify: 'magnitude', rescale: false, normalize: false, call: (o: any) => ties({ ...o, normalize: false }) },
        ] as const;
        for (const c of cases) {
          const extra = c as { gamma?: number; normalize?: boolean };
          const want = mergeRef({ kind: c.kind, sparsify: c.sparsify, inDtype, outDtype, inputs, weights, base, lambda, density, rescale: c.rescale, seed, tensorIndex, ...(extra.gamma !== undefined ? { gamma: extra.gamma } : {}), ...(extra.normalize !== undefined ? { normalize: extra.normalize } : {}) });
          for (const isa of ISAS) {
            const out = toBuffer(new Uint32Array(n), outDtype, 1);
            await c.call({
              inputs: inputs.map((x, i) => toBuffer(x, inDtype, i % 3)), weights, base: toBuffer(base, inDtype, 2),
              inDtype, outDtype, out, lambda, density, seed, tensorIndex, isa, ...run(),
            } as never);
            const diff = firstDifference(bitsOf(out), want);
            assert.equal(diff, undefined, `${c.kind}/${c.sparsify} on ${isa}: ${diff}`);
          }
        }
      });
    }
  }

  it('Fisher merging (f32 Fisher, bf16 models) against the reference, bit for bit', async () => {
    const n = 5000 + Math.floor(random() * 100);
    const inputs = [0, 1, 2].map(() => randomBits(n, 'BF16', random));
    // Fisher values are non-negative: absolute values of random floats, with zeros.
    const fisher = [0, 1, 2].map(() => Uint32Array.from(randomBits(n, 'F32', random), (b) => (b & 0x7f800000) === 0x7f800000 ? 0 : b & 0x7fffffff));
    const want = fisherRef(inputs, fisher, [1, 0.5, 2], 'BF16', 'F32', 'F32', 1e-8);
    for (const isa of ISAS) {
      const out = new Float32Array(n);
      await kfisher({ inputs: inputs.map((x) => toBuffer(x, 'BF16')), fisher: fisher.map((f) => toBuffer(f, 'F32')), fisherDtype: 'F32', weights: [1, 0.5, 2], inDtype: 'BF16', outDtype: 'F32', out, isa, ...run() });
      assert.equal(firstDifference(bitsOf(out), want), undefined, isa);
    }
  });

  it('TIES on a large bf16 tensor with many equal magnitudes matches the reference', async () => {
    const n = 300_007;
    // bf16 values from a few hundred distinct magnitudes: thresholds fall among many ties.
    const quantized = () => Uint32Array.from({ length: n }, () => floatToBf16(Math.round((random() - 0.5) * 400) / 64));
    const inputs = [quantized(), quantized(), quantized()];
    const base = quantized();
    for (const density of [0.01, 0.3, 0.9]) {
      const want = mergeRef({ kind: 'ties', sparsify: 'magnitude', inDtype: 'BF16', outDtype: 'BF16', inputs, weights: [1, 0.5, 2], base, lambda: 1, density, rescale: false, seed: 0n, tensorIndex: 0 });
      for (const isa of ISAS) {
        const out = new Uint16Array(n);
        await ties({ inputs: inputs.map((x) => toBuffer(x, 'BF16')), weights: [1, 0.5, 2], base: toBuffer(base, 'BF16'), density, inDtype: 'BF16', out, isa, ...run() });
        assert.equal(firstDifference(bitsOf(out), want), undefined, `density ${density} ${isa}`);
      }
    }
  });

  it('TIES keeps exactly the top density fraction, ties at the threshold by lower index', async () => {
    // Task vectors with many equal magnitudes: 10 elements, density 0.35 -> keep 3.
    const base = new Float32Array(10);
    const x = new Float32Array([1, -2, 2, 1, -2, 0.5, 2, 0, -1, 3]);
    const out = new Float32Array(10);
    for (const isa of ISAS) {
      await ties({ inputs: [x], weights: [1], base, inDtype: 'F32', out, density: 0.35, isa });
      // |3| first, then the first two of the |2|s (indices 1 and 2); index 4 and 6 are dropped.
      assert.deepEqual([...out], [0, -2, 2, 0, 0, 0, 0, 0, 0, 3], isa);
    }
  });

  it('hand-computed cases: weighted mean, task arithmetic, TIES sign election', async () => {
    const a = new Float32Array([1, 2, -3, 4]);
    const b = new Float32Array([3, -2, -1, 0]);
    const base = new Float32Array([1, 0, -1, 1]);
    const out = new Float32Array(4);
    await linear({ inputs: [a, b], weights: [0.5, 0.5], inDtype: 'F32', out });
    assert.deepEqual([...out], [2, 0, -2, 2]);
    await taskArithmetic({ inputs: [a, b], weights: [1, 1], base, lambda: 0.5, inDtype: 'F32', out });
    // tau_a = [0, 2, -2, 3], tau_b = [2, -2, 0, -1]; base + 0.5 * sum
    assert.deepEqual([...out], [2, 0, -2, 2]);
    await ties({ inputs: [a, b], weights: [1, 1], base, density: 1, inDtype: 'F32', out });
    // elected signs: [+, + (0 -> +), -, +]; agreeing mean: [2, 2, -2, 3]
    assert.deepEqual([...out], [3, 2, -3, 4]);
  });

  it('rescale l1 (mergekit) and per-model density / gamma: every ISA and chunking matches the reference', async () => {
    const n = 9000 + Math.floor(random() * 500);  // several 4096-element blocks of the L1 sums
    const finite = (d: DType) => Uint32Array.from(randomBits(n, d, random), (b) => (d === 'F32' ? ((b & 0x7f800000) === 0x7f800000 ? 0 : b) : d === 'BF16' ? ((b & 0x7f80) === 0x7f80 ? 0 : b) : ((b & 0x7c00) === 0x7c00 ? 0 : b)));
    for (const inDtype of DTYPES) {
      const inputs = [0, 1, 2].map(() => finite(inDtype));
      const base = finite(inDtype);
      const weights = [0.7, -0.4, 1.1];
      const density = [0.3, 0.55, 0.8];
      const gamma = [0.01, 0.05, 0.02];
      const seed = BigInt(Math.floor(random() * 2 ** 40));
      const cases = [
        { ref: { kind: 'ties', sparsify: 'magnitude', rescale: 'l1' }, call: (o: any) => ties({ ...o, rescale: 'l1' }) },
        { ref: { kind: 'task_arithmetic', sparsify: 'random', rescale: 'l1' }, call: (o: any) => dare({ ...o, rescale: 'l1' }) },
        { ref: { kind: 'ties', sparsify: 'random', rescale: 'l1', normalize: false }, call: (o: any) => dare({ ...o, rescale: 'l1', combine: 'ties', normalize: false }) },
        { ref: { kind: 'task_arithmetic', sparsify: 'random', rescale: 'density' }, call: (o: any) => dare({ ...o, rescale: 'density' }) },
        { ref: { kind: 'task_arithmetic', sparsify: 'magnitude_band', rescale: 'l1', gamma }, call: (o: any) => breadcrumbs({ ...o, gamma, rescale: 'l1' }) },
        { ref: { kind: 'ties', sparsify: 'magnitude_band', rescale: 'none', gamma, normalize: false }, call: (o: any) => breadcrumbs({ ...o, gamma, combine: 'ties' }) },
      ] as const;
      for (const c of cases) {
        const want = mergeRef({ ...c.ref, inDtype, outDtype: 'F32', inputs, weights, base, lambda: 0.9, density, seed, tensorIndex: 5 } as never);
        for (const isa of ISAS) {
          const out = new Float32Array(n);
          await c.call({ inputs: inputs.map((x) => toBuffer(x, inDtype)), weights, base: toBuffer(base, inDtype), inDtype, outDtype: 'F32', out, lambda: 0.9, density, seed, tensorIndex: 5, isa, ...run() });
          assert.equal(firstDifference(bitsOf(out), want), undefined, `${JSON.stringify(c.ref)} ${inDtype} ${isa}`);
        }
      }
    }
  });

  it('rescale l1 keeps each task vector\'s L1 norm; bad rescale and per-model lists are refused by name', async () => {
    const base = new Float32Array(8);
    const x = new Float32Array([1, -2, 3, -4, 0.5, 0, 6, -7]);
    const out = new Float32Array(8);
    await ties({ inputs: [x], weights: [1], base, density: 0.5, rescale: 'l1', normalize: false, inDtype: 'F32', out });
    // kept: -7, 6, -4, 3 (L1 20) of L1 23.5: each scaled by 23.5 / 20
    const s = Math.fround(23.5 / 20);
    assert.deepEqual([...out], [0, 0, Math.fround(3 * s), Math.fround(-4 * s), 0, 0, Math.fround(6 * s), Math.fround(-7 * s)]);
    assert.ok(Math.abs(out.reduce((a, v) => a + Math.abs(v), 0) - 23.5) < 1e-5);
    const common = { inputs: [x, x], weights: [1, 1], base, inDtype: 'F32', out, seed: 1, tensorIndex: 0 } as const;
    await assert.rejects(dare({ ...common, density: [0.5] }), /one density per input \(2\)/);
    await assert.rejects(dare({ ...common, density: [0.5, 1.5] }), /density\[1\]/);
    await assert.rejects(dare({ ...common, density: [0.5, 0], rescale: 'density' }), /density\[1\]\) with rescale 'density'/);
    await assert.rejects(ties({ ...common, density: 0.5, rescale: 'density' as never }), /rescale/);
    await assert.rejects(breadcrumbs({ ...common, density: 0.5, gamma: [0.1, -1] }), /gamma\[1\]/);
  });

  for (const inDtype of DTYPES) {
    it(`nearswap ${inDtype} (specials included): every ISA and chunking matches the reference`, async () => {
      const n = 3000 + Math.floor(random() * 500);
      const x = randomBits(n, inDtype, random), base = randomBits(n, inDtype, random);
      // Near entries too: base plus a few ulps, so that 0 < w < 1 happens often.
      for (let e = 0; e < n; e += 3) x[e] = base[e]! + (e % 7);
      for (const t of [0, 1e-4, 0.5, 1]) {
        for (const outDtype of DTYPES) {
          const want = nearswapRef(x, base, t, inDtype, outDtype);
          for (const isa of ISAS) {
            const out = toBuffer(new Uint32Array(n), outDtype);
            await nearswap({ x: toBuffer(x, inDtype, 1), base: toBuffer(base, inDtype), t, inDtype, outDtype, out, isa, ...run() });
            assert.equal(firstDifference(bitsOf(out), want), undefined, `t ${t} ${inDtype}->${outDtype} ${isa}`);
          }
        }
      }
    });
  }

  it('nearswap by hand: near entries take the model, far ones keep the base', async () => {
    const base = new Float32Array([1, 1, 1, 1]);
    const x = new Float32Array([1.05, 1.2, 3, 1]);
    const out = new Float32Array(4);
    for (const isa of ISAS) {
      await nearswap({ x, base, t: 0.1, inDtype: 'F32', out, isa });
      // |diff| 0.05 -> w 1 (x); 0.2 -> w 0.5; 2 -> w 0.05; 0 -> w 1 (t / 1e-6 clamped)
      const w2 = Math.fround(0.1 / Math.fround(Math.fround(3) - 1));
      assert.deepEqual([...out], [Math.fround(1.05), Math.fround(Math.fround(0.5 * 1.2) + 0.5), Math.fround(w2 * 3 + Math.fround(1 - w2)), 1], isa);
    }
    await assert.rejects(nearswap({ x, base, t: Number.NaN, inDtype: 'F32', out }), /t/);
  });

  it('DELLA (rank-based keep probabilities per row, Philox draws): every ISA and chunking matches the reference', async () => {
    for (const inDtype of DTYPES) {
      const rows = 7 + Math.floor(random() * 5), rowLength = 300 + Math.floor(random() * 200);
      const n = rows * rowLength;
      const inputs = [0, 1, 2].map(() => randomBits(n, inDtype, random));
      const base = randomBits(n, inDtype, random);
      // quantized magnitudes in input 0: many equal keys, so the tie order is exercised
      for (let e = 0; e < n; e += 2) inputs[0]![e] = base[e]!;
      const weights = [0.8, -0.3, 0.6], density = [0.5, 0.3, 0.7], epsilon = [0.2, 0.1, 0.25];
      const seed = BigInt(Math.floor(random() * 2 ** 40));
      for (const [combine, rescale, normalize] of [['linear', 'none', false], ['ties', 'l1', true], ['linear', 'l1', false]] as const) {
        const want = mergeRef({ kind: combine === 'ties' ? 'ties' : 'task_arithmetic', sparsify: 'della', inDtype, outDtype: 'F32', inputs, weights, base, lambda: 1.1, density, epsilon, rowLength, rescale, normalize, seed, tensorIndex: 9 });
        for (const isa of ISAS) {
          const out = new Float32Array(n);
          await della({ inputs: inputs.map((x) => toBuffer(x, inDtype)), weights, base: toBuffer(base, inDtype), inDtype, outDtype: 'F32', out, lambda: 1.1, density, epsilon, rowLength, combine, rescale, normalize, seed, tensorIndex: 9, isa, ...run() });
          assert.equal(firstDifference(bitsOf(out), want), undefined, `${combine} ${rescale} ${inDtype} ${isa}`);
        }
      }
    }
    const x = new Float32Array(12), out = new Float32Array(12);
    const common = { inputs: [x], weights: [1], base: x, inDtype: 'F32', out, seed: 1, tensorIndex: 0 } as const;
    await assert.rejects(della({ ...common, density: 0.5, epsilon: 0.5, rowLength: 4 }), /density ± epsilon must stay inside \(0, 1\) for input 0/);
    await assert.rejects(della({ ...common, density: 0.5, epsilon: 0.1, rowLength: 5 }), /rowLength to divide the element count 12/);
  });

  it('DELLA keeps large entries more often than small ones', async () => {
    const n = 20_000, base = new Float32Array(n), x = Float32Array.from({ length: n }, (_, e) => e + 1), out = new Float32Array(n);
    await della({ inputs: [x], weights: [1], base, inDtype: 'F32', out, density: 0.5, epsilon: 0.4, rowLength: n, rescale: 'none', seed: 5, tensorIndex: 0 });
    const keptIn = (a: number, b: number) => out.slice(a, b).filter((v) => v !== 0).length / (b - a);
    assert.ok(keptIn(0, 2000) < 0.2 && keptIn(18_000, 20_000) > 0.8, `${keptIn(0, 2000)} ${keptIn(18_000, 20_000)}`);
  });

  for (const inDtype of DTYPES) {
    it(`RAM and RAM+ ${inDtype} (unique and shared entries, specials): every ISA and chunking matches the reference`, async () => {
      const n = 5000 + Math.floor(random() * 500);
      const base = randomBits(n, inDtype, random);
      // Each model leaves about half of the entries at the base, so entries are unique, shared or untouched.
      const inputs = [0, 1, 2].map(() => Uint32Array.from(randomBits(n, inDtype, random), (b, e) => (random() < 0.5 ? base[e]! : b)));
      for (const [plus, eps] of [[false, 1e-5], [true, 1e-5], [true, 0.5]] as const) {
        const want = ramRef(inputs, base, inDtype, 'F32', eps, plus, 0.3, 0.5);
        for (const isa of ISAS) {
          const out = new Float32Array(n);
          await ram({ inputs: inputs.map((x) => toBuffer(x, inDtype)), weights: [1, 1, 1], base: toBuffer(base, inDtype), inDtype, outDtype: 'F32', out, epsilon: eps, plus, r: 0.3, alpha: 0.5, isa, ...run() });
          assert.equal(firstDifference(bitsOf(out), want), undefined, `plus ${plus} eps ${eps} ${isa}`);
        }
      }
    });
  }

  it('RAM by hand: unique entries whole, shared ones averaged; RAM+ scales the unique ones', async () => {
    const base = new Float32Array([0, 0, 0, 0]);
    const a = new Float32Array([1, 2, 0, 4]), b = new Float32Array([0, 4, 0, 0]);
    const out = new Float32Array(4);
    for (const isa of ISAS) {
      await ram({ inputs: [a, b], weights: [1, 1], base, inDtype: 'F32', out, isa });
      assert.deepEqual([...out], [1, 3, 0, 4], isa);
      // a: 1 shared, 2 unique -> rho 0.5 -> lambda 1 + 0.1 * min(0.5, 0.2) = 1.02; b: only shared -> rho huge -> 1.02
      await ram({ inputs: [a, b], weights: [1, 1], base, inDtype: 'F32', out, plus: true, isa });
      assert.deepEqual([...out], [Math.fround(1.02), 3, 0, Math.fround(4 * Math.fround(1.02))], isa);
    }
  });

  for (const inDtype of DTYPES) {
    it(`SCE ${inDtype} (variance selection, computed weights, sign election): every ISA and chunking matches the reference`, async () => {
      const n = 6000 + Math.floor(random() * 500);
      const finite = () => Uint32Array.from(randomBits(n, inDtype, random), (b) => (inDtype === 'F32' ? ((b & 0x7f800000) === 0x7f800000 ? 0 : b) : inDtype === 'BF16' ? ((b & 0x7f80) === 0x7f80 ? 0 : b) : ((b & 0x7c00) === 0x7c00 ? 0 : b)));
      const base = finite();
      // Some entries equal to the base in every model: zero variance, not counted by select_topk.
      const inputs = [0, 1, 2, 3].map(() => Uint32Array.from(finite(), (b, e) => (e % 5 === 0 ? base[e]! : b)));
      for (const [selectTopk, specials] of [[0.3, false], [1, false], [0, false], [0.5, true]] as const) {
        const xs = specials ? inputs.map((x, i) => (i === 0 ? randomBits(n, inDtype, random) : x)) : inputs;
        const want = sceRef(xs, base, inDtype, 'F32', selectTopk);
        for (const isa of ISAS) {
          const out = new Float32Array(n);
          await sce({ inputs: xs.map((x) => toBuffer(x, inDtype)), weights: [1, 1, 1, 1], base: toBuffer(base, inDtype), inDtype, outDtype: 'F32', out, selectTopk, isa, ...run() });
          assert.equal(firstDifference(bitsOf(out), want), undefined, `select_topk ${selectTopk} ${inDtype} ${isa}`);
        }
      }
    });
  }

  for (const inDtype of DTYPES) {
    it(`Arcee Fusion ${inDtype}: every ISA and chunking matches the reference`, async () => {
      const rows = 5 + Math.floor(random() * 4), rowLength = 400 + Math.floor(random() * 100);
      const n = rows * rowLength;
      // finite weights of moderate size (softmax of raw random exponents would be one-hot)
      const small = () => Uint32Array.from({ length: n }, () => storedBitsOf(Math.fround((random() - 0.5) * 4), inDtype));
      const base = small(), x = Uint32Array.from(small(), (b, e) => (e % 3 === 0 ? base[e]! : b));
      const want = arceeFusionRef(x, base, rowLength, inDtype, 'F32');
      assert.ok(want.some((w, e) => w !== floatBits(loadAsRef(base[e]!, inDtype))), 'some entries take the model');
      for (const isa of ISAS) {
        const out = new Float32Array(n);
        await arceeFusion({ x: toBuffer(x, inDtype), base: toBuffer(base, inDtype), rowLength, inDtype, outDtype: 'F32', out, isa, ...run() });
        assert.equal(firstDifference(bitsOf(out), want), undefined, `${inDtype} ${isa}`);
      }
    });
  }

  it('TIES with a negative weight: agreement is the sign of w_i * tau_i (mergekit get_mask)', async () => {
    const base = new Float32Array([0, 0, 0]);
    const a = new Float32Array([2, 2, -4]);
    const b = new Float32Array([-1, 1, 2]);
    const out = new Float32Array(3);
    for (const isa of ISAS) {
      await ties({ inputs: [a, b], weights: [1, -0.5], base, density: 1, normalize: false, inDtype: 'F32', out, isa });
      // weighted entries [2, 0.5], [2, -0.5], [-4, -1]: elected +, +, -; b agrees in elements 0 and 2
      // (its task vector opposes a's but its weight is negative) and disagrees in element 1.
      assert.deepEqual([...out], [2.5, 2, -5], isa);
      await ties({ inputs: [a, b], weights: [1, -0.5], base, density: 1, inDtype: 'F32', out, isa });
      assert.deepEqual([...out], [5, 2, -10], `${isa} normalized: num / (1 - 0.5)`);
    }
  });

  for (const inDtype of DTYPES) {
    it(`convert from ${inDtype} to every dtype, stats and dot, SLERP`, async () => {
      const n = 10_000 + Math.floor(random() * 5000);
      const bits = randomBits(n, inDtype, random);
      const other = randomBits(n, inDtype, random);
      for (const isa of ISAS) {
        for (const outDtype of DTYPES) {
          const out = toBuffer(new Uint32Array(n), outDtype, 1);
          await convert({ src: toBuffer(bits, inDtype, 3), inDtype, out, outDtype, isa, ...run() });
          assert.equal(firstDifference(bitsOf(out), convertRef(bits, inDtype, outDtype)), undefined, `${isa} ${inDtype}->${outDtype}`);
        }
        const s = await stats(toBuffer(bits, inDtype, 1), inDtype, { isa, ...run() });
        const r = statsRef(bits, inDtype);
        assert.deepEqual({ ...s, min: s.min === null ? null : floatBits(s.min), max: s.max === null ? null : floatBits(s.max) },
          { ...r, min: r.min === null ? null : floatBits(r.min), max: r.max === null ? null : floatBits(r.max) }, isa);
        // Finite-only inputs for dot and SLERP (a NaN anywhere makes them NaN, which is tested by stats).
        const finite = Uint32Array.from(bits, (b) => (inDtype === 'F32' ? ((b & 0x7f800000) === 0x7f800000 ? 0 : b) : inDtype === 'BF16' ? ((b & 0x7f80) === 0x7f80 ? 0 : b) : ((b & 0x7c00) === 0x7c00 ? 0 : b)));
        const finite2 = Uint32Array.from(other, (b, i) => finite[(i * 7) % n]!);
        const d = await dot(toBuffer(finite, inDtype), toBuffer(finite2, inDtype), inDtype, { isa, ...run() });
        assert.equal(d, dotRef(finite, finite2, inDtype), isa);
        for (const [y, t] of [[finite2, 0.3], [finite, 0.7]] as const) {
          const out = toBuffer(new Uint32Array(n), inDtype);
          const plan = await slerp({ x: toBuffer(finite, inDtype), y: toBuffer(y, inDtype), t, inDtype, out, isa, ...run() });
          if (y === finite) assert.equal(plan.lerp, true, 'identical vectors interpolate linearly');
          else assert.equal(plan.lerp, Math.abs(plan.cosine) > 0.9995);
          if (!plan.lerp) {
            const theta = Math.acos(plan.cosine);
            assert.ok(Math.abs(plan.c0 - Math.sin((1 - t) * theta) / Math.sin(theta)) < 1e-6);
            assert.ok(Math.abs(plan.c1 - Math.sin(t * theta) / Math.sin(theta)) < 1e-6);
          }
          assert.equal(firstDifference(bitsOf(out), mix2Ref(finite, y, inDtype, inDtype, plan.lerp, t, plan.c0, plan.c1)), undefined, `slerp ${isa}`);
        }
      }
    });
  }
});
