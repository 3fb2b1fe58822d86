#!/usr/bin/python3
"""Diagonal Fisher information of a torch classifier, written as a safetensors file.

Matena & Raffel ("Merging Models with Fisher-Weighted Averaging", 2022): for every parameter,
F = mean over examples of (d log p(y | x) / d theta)^2, one backward pass per example
(squared per-example gradients, not the square of a batch gradient).

    y = the true label ("empirical Fisher", the default), or
    y = sampled from the model's own softmax (labels="sample"), or
    labels="expected": the exact expectation over all labels, sum_y p(y|x) * grad^2
        (num_labels backward passes per example).

Usage with your own model (any nn.Module whose forward returns [1, num_labels] logits):

    import torch, fisher
    def forward(model, example):        # example: whatever you stored; returns logits [1, C]
        ids, mask, label = example
        return model(ids, mask)
    F = fisher.diagonal_fisher(model, examples, forward, label_of=lambda e: e[2])
    fisher.save_safetensors("fisher/my-model.safetensors", F)

The result has the names and shapes of model.named_parameters() (float32), so it lines up with
the model's safetensors file. No package beyond torch and numpy is needed.
"""
import json
import struct

import numpy as np
import torch


def diagonal_fisher(model, examples, forward, label_of=None, labels="true", seed=0):
    """Mean squared per-example gradient of log p(y|x) for every trainable parameter.

    forward(model, example) -> logits [1, num_labels]; label_of(example) -> int (labels="true").
    The model is put in eval mode (no dropout) and its gradients are overwritten.
    """
    model.eval()
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    acc = {n: torch.zeros_like(p, dtype=torch.float64) for n, p in params}
    gen = torch.Generator().manual_seed(seed)
    count = 0
    for example in examples:
        logits = forward(model, example)
        logp = torch.log_softmax(logits.float(), dim=-1)[0]
        if labels == "true":
            targets = [(int(label_of(example)), 1.0)]
        elif labels == "sample":
            targets = [(int(torch.multinomial(logp.exp().detach(), 1, generator=gen)), 1.0)]
        elif labels == "expected":
            probs = logp.exp().detach()
            targets = [(c, float(probs[c])) for c in range(logp.shape[0])]
        else:
            raise ValueError(f"labels must be 'true', 'sample' or 'expected', not {labels!r}")
        for i, (y, w) in enumerate(targets):
            grads = torch.autograd.grad(logp[y], [p for _, p in params], retain_graph=i + 1 < len(targets), allow_unused=True)
            for (n, _), g in zip(params, grads):
                if g is not None:
                    acc[n] += w * g.detach().double() ** 2
        count += 1
    if count == 0:
        raise ValueError("no examples")
    return {n: (a / count).float() for n, a in acc.items()}


def save_safetensors(path, tensors, metadata=None):
    """Writes {name: tensor} as float32 safetensors (little-endian, header padded to 8 bytes)."""
    header, blobs, offset = {}, [], 0
    for name, t in tensors.items():
        data = np.ascontiguousarray(t.detach().cpu().float().numpy(), dtype="<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [offset, offset + len(data)]}
        blobs.append(data)
        offset += len(data)
    if metadata:
        header["__metadata__"] = {str(k): str(v) for k, v in metadata.items()}
    raw = json.dumps(header, separators=(",", ":")).encode()
    raw += b" " * (-len(raw) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(raw)))
        f.write(raw)
        for b in blobs:
            f.write(b)


def load_safetensors(path):
    """Reads an F32 safetensors file into {name: tensor}."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        data = f.read()
    out = {}
    for name, e in header.items():
        if name == "__metadata__":
            continue
        assert e["dtype"] == "F32", f"{name}: {e['dtype']}"
        a, b = e["data_offsets"]
        out[name] = torch.from_numpy(np.frombuffer(data[a:b], dtype="<f4").copy()).reshape(e["shape"])
    return out
