#!/usr/bin/python3
"""How much of a merge's quality do per-depth task-arithmetic weights hold? (README: "The quality study")

Fits one task-arithmetic weight per model and tensor group -- `global` (one per model), `block`
(one per model and transformer block, plus one for the tensors outside the blocks) or `tensor`
(one per model and tensor) -- by Adam on the mean dev NLL of the bundled fortunes models (f32),
starting from lambda = 0.2 everywhere, and prints dev and test NLL every 10 steps. The test sets
are only reported. Needs torch and numpy (Debian: python3-torch); the package never runs this.

    /usr/bin/python3 bench/depth_weights_torch.py block 40 0.05
"""
import json, math, os, struct, sys, time

import numpy as np
import torch

torch.set_num_threads(2)
F = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', 'examples', 'fortunes')
DOMAINS = ['computers', 'politics', 'science', 'songs-poems']
HELD_OUT = ['people', 'work']


def load(path):
    raw = open(path, 'rb').read()
    n = struct.unpack('<Q', raw[:8])[0]
    header = json.loads(raw[8:8 + n])
    out = {}
    for k, v in header.items():
        if k == '__metadata__':
            continue
        s, e = v['data_offsets']
        assert v['dtype'] == 'F32', (path, k, v['dtype'])
        out[k] = torch.from_numpy(np.frombuffer(raw[8 + n + s:8 + n + e], dtype=np.float32).copy()).reshape(v['shape'])
    return out


def batch(path):
    seqs = [(list(json.loads(l)['text'].encode('utf-8')) + [256])[:128] for l in open(path) if l.strip()]
    width = max(len(s) for s in seqs)
    ids = torch.zeros(len(seqs), width, dtype=torch.long)
    mask = torch.zeros(len(seqs), width)
    for i, s in enumerate(seqs):
        ids[i, :len(s)] = torch.tensor(s)
        mask[i, :len(s)] = 1
    return ids, mask


def gelu(x):
    return 0.5 * x * (1 + torch.tanh(math.sqrt(2 / math.pi) * (x + 0.044715 * x ** 3)))


def forward(W, ids):
    """The fortunes GPT-2 (examples/fortunes/README.md): 4 blocks, 4 heads, n_embd 128, tied head."""
    B, L = ids.shape
    ln = lambda x, p: torch.nn.functional.layer_norm(x, (128,), W[p + '.weight'], W[p + '.bias'], 1e-5)
    x = W['transformer.wte.weight'][ids] + W['transformer.wpe.weight'][:L]
    causal = torch.triu(torch.ones(L, L, dtype=torch.bool), 1)
    for i in range(4):
        p = f'transformer.h.{i}.'
        q, k, v = (ln(x, p + 'ln_1') @ W[p + 'attn.c_attn.weight'] + W[p + 'attn.c_attn.bias']).split(128, -1)
        heads = lambda t: t.view(B, L, 4, 32).transpose(1, 2)
        a = ((heads(q) @ heads(k).transpose(-1, -2)) / math.sqrt(32)).masked_fill(causal, -1e9).softmax(-1)
        x = x + (a @ heads(v)).transpose(1, 2).reshape(B, L, 128) @ W[p + 'attn.c_proj.weight'] + W[p + 'attn.c_proj.bias']
        h = gelu(ln(x, p + 'ln_2') @ W[p + 'mlp.c_fc.weight'] + W[p + 'mlp.c_fc.bias'])
        x = x + h @ W[p + 'mlp.c_proj.weight'] + W[p + 'mlp.c_proj.bias']
    return ln(x, 'transformer.ln_f') @ W['transformer.wte.weight'].T


def nll(W, data):
    """Token-weighted mean NLL of one set, as the ONNX fitness computes it."""
    ids, mask = data
    logits = forward(W, ids)[:, :-1]
    loss = torch.nn.functional.cross_entropy(logits.reshape(-1, 257), ids[:, 1:].reshape(-1), reduction='none')
    m = mask[:, 1:].reshape(-1)
    return (loss * m).sum() / m.sum()


def main():
    mode, steps, lr = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    base = load(f'{F}/models/base.safetensors')
    taus = [{k: t - base[k] for k, t in load(f'{F}/models/{d}.safetensors').items()} for d in DOMAINS]
    names = list(base)

    def group(name):
        if mode == 'tensor':
            return name
        if mode == 'global':
            return 'all'
        return next((f'block {i}' for i in range(4) if f'.h.{i}.' in name), 'outside blocks')

    groups = sorted({group(n) for n in names})
    c = torch.full((len(DOMAINS), len(groups)), 0.2, requires_grad=True)
    dev = [batch(f'{F}/data/{d}/dev.jsonl') for d in DOMAINS]
    test = {d: batch(f'{F}/data/{d}/test.jsonl') for d in DOMAINS + HELD_OUT}

    def merged():
        return {n: base[n] + sum(c[i, groups.index(group(n))] * taus[i][n] for i in range(len(DOMAINS))) for n in names}

    opt = torch.optim.Adam([c], lr=lr)
    start = time.time()
    for step in range(steps + 1):
        if step % 10 == 0 or step == steps:
            with torch.no_grad():
                W = merged()
                t = {d: nll(W, s).item() for d, s in test.items()}
                print(f'step {step}: dev {sum(nll(W, s).item() for s in dev) / len(dev):.4f}'
                      f'  test in-domain {sum(t[d] for d in DOMAINS) / len(DOMAINS):.4f}'
                      f'  out-of-domain {sum(t[d] for d in HELD_OUT) / len(HELD_OUT):.4f}  ({time.time() - start:.0f} s)', flush=True)
        if step == steps:
            break
        opt.zero_grad()
        loss = sum(nll(merged(), s) for s in dev) / len(dev)
        loss.backward()
        opt.step()
    print('groups:', groups)
    print('weights (rows: ' + ', '.join(DOMAINS) + '):')
    print(np.round(c.detach().numpy(), 3))


if __name__ == '__main__':
    main()
