#!/usr/bin/python3
"""Generates examples/classifier: a byte-level RoBERTa-style encoder classifier family.

Run with Debian's python (python3-torch 1.13, python3-numpy, fortunes installed):

    /usr/bin/python3 examples/classifier/scripts/make_classifier.py [--stage all|pretrain|finetune|export]

Stages cache their results in examples/classifier/.cache/ (not committed), so a later stage can
be rerun alone. Deterministic: fixed seeds, torch.set_num_threads(1), float32 on CPU.
"""
import argparse
import json
import math
import os
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import fisher as fisherlib  # noqa: E402

OUT = os.path.dirname(HERE)
CACHE = os.path.join(OUT, ".cache")
FORTUNES = "/usr/share/games/fortunes"

SEED = 20240601
LABELS = ["computers", "definitions", "men-women", "people", "politics", "science", "songs-poems", "work"]
# Each member sees mostly two labels (its "major" labels); every label is major for one member.
MEMBERS = {
    "computers-people": ["computers", "people"],
    "definitions-politics": ["definitions", "politics"],
    "men-women-science": ["men-women", "science"],
    "songs-poems-work": ["songs-poems", "work"],
}
EXCLUDED_FROM_PRETRAINING = {"ascii-art"}  # ASCII drawings, not text
IN_DOMAIN_MAX_BYTES = 256   # in-domain pool: entries of at most this many UTF-8 bytes
OOD_MIN_BYTES = 385         # out-of-domain pool: entries of more than 384 bytes
N_DEV, N_TEST, N_OOD = 40, 60, 40   # per label (balanced sets)
N_MAJOR, N_MINOR = 126, 8           # per member: 126 texts of each major label, 8 of each other label
SPLIT_RULE = "entries split at lines '%', stripped, < 20 UTF-8 bytes dropped, texts occurring more than once among the label categories dropped; per label: in-domain pool = entries <= 256 bytes, ood pool = entries > 384 bytes; in-domain pool permuted with numpy.random.RandomState((seed*1000003 + zlib.crc32(category)) % 2**32).permutation(n): first 40 dev, next 60 test (each in file order), rest = train pool in permuted order; ood pool permuted with the seed expression + 1: first 40 (in file order) = ood-test; partition: from each label's train pool the owner member takes the first 126, then each other member the next 8 (members in the order of 'members'); each member's 300 texts shuffled with RandomState((seed*1000003 + crc32(member) + 2) % 2**32)"

MAX_LEN = 128      # tokens per text (UTF-8 bytes + end token), truncated
EOS = 256
MASK = 257
VOCAB = 258        # 256 bytes, end token, [MASK] (used only in pretraining)
HIDDEN, LAYERS, HEADS, FFN = 128, 3, 4, 512
LN_EPS = 1e-5


# ----------------------------------------------------------------------------- data

def read_category(name):
    text = open(os.path.join(FORTUNES, name), "rb").read().decode("utf-8")
    entries = []
    for e in text.replace("\r\n", "\n").split("\n%\n"):
        e = e.strip()
        if e.endswith("\n%"):
            e = e[:-2].strip()
        if e == "%":
            continue
        if len(e.encode("utf-8")) >= 20:
            entries.append(e)
    return entries


def rng_for(category, salt=0):
    return np.random.RandomState((SEED * 1000003 + zlib.crc32(category.encode()) + salt) % 2**32)


def build_data():
    all_cats = sorted(f for f in os.listdir(FORTUNES) if "." not in f and os.path.isfile(os.path.join(FORTUNES, f)))
    raw = {c: read_category(c) for c in all_cats}
    # a text that occurs in two label categories (or twice in one) has no single label: dropped
    seen = {}
    for c in LABELS:
        for e in raw[c]:
            seen[e] = seen.get(e, 0) + 1
    split = {"dev": [], "test": [], "ood-test": []}
    train = {}
    stats = {}
    for li, c in enumerate(LABELS):
        entries = [e for e in raw[c] if seen[e] == 1]
        short = [e for e in entries if len(e.encode()) <= IN_DOMAIN_MAX_BYTES]
        long_ = [e for e in entries if len(e.encode()) >= OOD_MIN_BYTES]
        perm = rng_for(c).permutation(len(short))
        dev_idx, test_idx, train_idx = sorted(perm[:N_DEV]), sorted(perm[N_DEV:N_DEV + N_TEST]), perm[N_DEV + N_TEST:]
        split["dev"] += [(short[i], li) for i in dev_idx]
        split["test"] += [(short[i], li) for i in test_idx]
        ood_idx = sorted(rng_for(c, 1).permutation(len(long_))[:N_OOD])
        split["ood-test"] += [(long_[i], li) for i in ood_idx]
        train[c] = [short[i] for i in train_idx]  # permuted order: the partition takes consecutive runs
        stats[c] = {"label": li, "entries": len(raw[c]), "unique": len(entries), "in_domain_pool": len(short),
                    "ood_pool": len(long_), "train_pool": len(train_idx), "dev": N_DEV, "test": N_TEST, "ood_test": N_OOD}
    # non-IID partition: disjoint runs of each label's (permuted) train pool
    members = {m: [] for m in MEMBERS}
    for li, c in enumerate(LABELS):
        pos = 0
        owner = next(m for m, majors in MEMBERS.items() if c in majors)
        members[owner] += [(t, li) for t in train[c][pos:pos + N_MAJOR]]
        pos += N_MAJOR
        for m in MEMBERS:
            if m != owner:
                members[m] += [(t, li) for t in train[c][pos:pos + N_MINOR]]
                pos += N_MINOR
        stats[c]["train_used"] = pos
    for m in members:  # shuffled once, seeded: the order of data/train/<member>.jsonl
        order = rng_for(m, 2).permutation(len(members[m]))
        members[m] = [members[m][i] for i in order]
    # pretraining: every other category, minus any text of a label category
    label_texts = set(e for c in LABELS for e in raw[c])
    pre_cats = [c for c in all_cats if c not in LABELS and c not in EXCLUDED_FROM_PRETRAINING]
    pretrain = [e for c in pre_cats for e in raw[c] if e not in label_texts]
    return split, members, pretrain, pre_cats, stats


def encode(text):
    ids = list(text.encode("utf-8")) + [EOS]
    return ids[:MAX_LEN]


def batchify(texts_ids):
    seq = max(len(x) for x in texts_ids)
    ids = torch.zeros(len(texts_ids), seq, dtype=torch.long)
    mask = torch.zeros(len(texts_ids), seq, dtype=torch.long)
    for i, x in enumerate(texts_ids):
        ids[i, :len(x)] = torch.tensor(x)
        mask[i, :len(x)] = 1
    return ids, mask


# ----------------------------------------------------------------------------- model

class SelfAttention(nn.Module):
    def __init__(self):
        super().__init__()
        self.query = nn.Linear(HIDDEN, HIDDEN)
        self.key = nn.Linear(HIDDEN, HIDDEN)
        self.value = nn.Linear(HIDDEN, HIDDEN)


class AttentionOutput(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(HIDDEN, HIDDEN)
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=LN_EPS)


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.self = SelfAttention()
        self.output = AttentionOutput()


class Intermediate(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(HIDDEN, FFN)


class Output(nn.Module):
    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(FFN, HIDDEN)
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=LN_EPS)


class Layer(nn.Module):
    def __init__(self):
        super().__init__()
        self.attention = Attention()
        self.intermediate = Intermediate()
        self.output = Output()

    def forward(self, x, bias, dropout):
        B, T, _ = x.shape
        d = HIDDEN // HEADS
        s = self.attention.self
        q = s.query(x).view(B, T, HEADS, d).transpose(1, 2)
        k = s.key(x).view(B, T, HEADS, d).transpose(1, 2)
        v = s.value(x).view(B, T, HEADS, d).transpose(1, 2)
        scores = torch.matmul(q, k.transpose(-1, -2)) * (1.0 / math.sqrt(d)) + bias
        probs = F.dropout(torch.softmax(scores, dim=-1), dropout, self.training)
        ctx = torch.matmul(probs, v).transpose(1, 2).reshape(B, T, HIDDEN)
        o = self.attention.output
        x = o.LayerNorm(x + F.dropout(o.dense(ctx), dropout, self.training))          # post-LN
        h = F.gelu(self.intermediate.dense(x))
        x = self.output.LayerNorm(x + F.dropout(self.output.dense(h), dropout, self.training))
        return x


class Embeddings(nn.Module):
    def __init__(self):
        super().__init__()
        self.word_embeddings = nn.Embedding(VOCAB, HIDDEN)
        self.position_embeddings = nn.Embedding(MAX_LEN, HIDDEN)
        self.cls_token = nn.Parameter(torch.zeros(HIDDEN))
        self.LayerNorm = nn.LayerNorm(HIDDEN, eps=LN_EPS)


class Encoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.layer = nn.ModuleList([Layer() for _ in range(LAYERS)])


class ByteEncoder(nn.Module):
    """Embeddings + encoder; returns hidden states [B, 1 + T, H] (position 0 is the CLS vector)."""

    def __init__(self):
        super().__init__()
        self.embeddings = Embeddings()
        self.encoder = Encoder()

    def hidden(self, input_ids, attention_mask, dropout):
        B, T = input_ids.shape
        e = self.embeddings
        tok = e.word_embeddings(input_ids) + e.position_embeddings.weight[:T].unsqueeze(0)
        cls = e.cls_token.view(1, 1, HIDDEN).expand(B, 1, HIDDEN)
        x = torch.cat([cls, tok], dim=1)
        x = F.dropout(e.LayerNorm(x), dropout, self.training)
        keep = torch.cat([torch.ones_like(attention_mask[:, :1]), attention_mask], dim=1).to(x.dtype)
        bias = ((1.0 - keep) * -1e9).view(B, 1, 1, T + 1)
        for layer in self.encoder.layer:
            x = layer(x, bias, dropout)
        return x


class ClassificationHead(nn.Module):
    def __init__(self, num_labels):
        super().__init__()
        self.dense = nn.Linear(HIDDEN, HIDDEN)
        self.out_proj = nn.Linear(HIDDEN, num_labels)


class Classifier(ByteEncoder):
    def __init__(self, num_labels, dropout=0.1):
        super().__init__()
        self.classifier = ClassificationHead(num_labels)
        self.dropout = dropout

    def forward(self, input_ids, attention_mask):
        x = self.hidden(input_ids, attention_mask, self.dropout)[:, 0]
        x = F.dropout(x, self.dropout, self.training)
        x = torch.tanh(self.classifier.dense(x))
        x = F.dropout(x, self.dropout, self.training)
        return self.classifier.out_proj(x)


class MLMHead(nn.Module):
    """Pretraining only (never written): dense + GELU + LayerNorm, decoder tied to word_embeddings."""

    def __init__(self):
        super().__init__()
        self.dense = nn.Linear(HIDDEN, HIDDEN)
        self.layer_norm = nn.LayerNorm(HIDDEN, eps=LN_EPS)
        self.bias = nn.Parameter(torch.zeros(VOCAB))


def init_weights(module):
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.normal_(m.weight, std=0.02)
            nn.init.zeros_(m.bias)
        elif isinstance(m, nn.Embedding):
            nn.init.normal_(m.weight, std=0.02)
        elif isinstance(m, nn.LayerNorm):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    if isinstance(module, ByteEncoder):
        nn.init.normal_(module.embeddings.cls_token, std=0.02)


def state(model):
    return {k: v.detach().clone().float() for k, v in model.state_dict().items()}


def lr_at(step, total, peak, warmup):
    if step < warmup:
        return peak * (step + 1) / warmup
    return peak * 0.5 * (1 + math.cos(math.pi * (step - warmup) / max(1, total - warmup)))


def make_optimizer(model, lr):
    decay = [p for n, p in model.named_parameters() if p.dim() >= 2]
    other = [p for n, p in model.named_parameters() if p.dim() < 2]
    return torch.optim.AdamW([{"params": decay, "weight_decay": 0.01}, {"params": other, "weight_decay": 0.0}],
                             lr=lr, betas=(0.9, 0.98), eps=1e-6)


# ----------------------------------------------------------------------------- training

PRETRAIN = {"steps": 1200, "batch": 32, "peak_lr": 1e-3, "warmup": 100, "mask_prob": 0.15, "dropout": 0.1, "clip": 1.0}
FINETUNE = {"epochs": 20, "oracle_epochs": 10, "batch": 16, "peak_lr": 5e-4, "warmup_frac": 0.1, "dropout": 0.1, "clip": 1.0}


def pretrain(texts):
    torch.manual_seed(SEED)
    enc = ByteEncoder()
    head = MLMHead()
    init_weights(enc)
    init_weights(head)
    params = list(enc.parameters()) + list(head.parameters())
    opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": 0.01},
                             {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                            lr=PRETRAIN["peak_lr"], betas=(0.9, 0.98), eps=1e-6)
    data = [encode(t) for t in texts]
    g = torch.Generator().manual_seed(SEED + 1)
    order, pos = torch.randperm(len(data), generator=g).tolist(), 0
    enc.train()
    t0 = time.time()
    losses = []
    for step in range(PRETRAIN["steps"]):
        if pos + PRETRAIN["batch"] > len(order):
            order, pos = torch.randperm(len(data), generator=g).tolist(), 0
        ids, mask = batchify([data[i] for i in order[pos:pos + PRETRAIN["batch"]]])
        pos += PRETRAIN["batch"]
        sel = (torch.rand(ids.shape, generator=g) < PRETRAIN["mask_prob"]) & (mask == 1)
        r = torch.rand(ids.shape, generator=g)
        inp = ids.clone()
        inp[sel & (r < 0.8)] = MASK
        rnd = sel & (r >= 0.8) & (r < 0.9)
        inp[rnd] = torch.randint(0, 256, ids.shape, generator=g)[rnd]
        for group in opt.param_groups:
            group["lr"] = lr_at(step, PRETRAIN["steps"], PRETRAIN["peak_lr"], PRETRAIN["warmup"])
        h = enc.hidden(inp, mask, PRETRAIN["dropout"])[:, 1:][sel]
        h = head.layer_norm(F.gelu(head.dense(h)))
        logits = h @ enc.embeddings.word_embeddings.weight.t() + head.bias
        loss = F.cross_entropy(logits, ids[sel])
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, PRETRAIN["clip"])
        opt.step()
        losses.append(loss.item())
        if step % 100 == 0 or step == PRETRAIN["steps"] - 1:
            print(f"pretrain step {step} loss {np.mean(losses[-100:]):.4f} ({time.time() - t0:.0f} s)", flush=True)
    return state(enc), {"wall_s": round(time.time() - t0, 1), "final_loss_mean_last_100": round(float(np.mean(losses[-100:])), 4),
                        "corpus_texts": len(data), "corpus_tokens": sum(len(x) for x in data)}


def base_classifier(encoder_state):
    torch.manual_seed(SEED + 7)
    model = Classifier(len(LABELS))
    init_weights(model)  # the head stays freshly initialized (seeded)
    missing, unexpected = model.load_state_dict(encoder_state, strict=False)
    assert not unexpected and all(k.startswith("classifier.") for k in missing), (missing, unexpected)
    return model


def finetune(base_state, examples, seed, epochs):
    torch.manual_seed(seed)
    model = Classifier(len(LABELS), dropout=FINETUNE["dropout"])
    model.load_state_dict(base_state)
    opt = make_optimizer(model, FINETUNE["peak_lr"])
    data = [(encode(t), y) for t, y in examples]
    g = torch.Generator().manual_seed(seed)
    bs = FINETUNE["batch"]
    steps_per_epoch = math.ceil(len(data) / bs)
    total = steps_per_epoch * epochs
    warmup = max(1, int(total * FINETUNE["warmup_frac"]))
    model.train()
    t0 = time.time()
    step = 0
    for epoch in range(epochs):
        order = torch.randperm(len(data), generator=g).tolist()
        tot = 0.0
        for b in range(0, len(order), bs):
            batch = [data[i] for i in order[b:b + bs]]
            ids, mask = batchify([x for x, _ in batch])
            y = torch.tensor([l for _, l in batch])
            for group in opt.param_groups:
                group["lr"] = lr_at(step, total, FINETUNE["peak_lr"], warmup)
            loss = F.cross_entropy(model(ids, mask), y)
            opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), FINETUNE["clip"])
            opt.step()
            tot += loss.item() * len(batch)
            step += 1
        print(f"  epoch {epoch} loss {tot / len(data):.4f}", flush=True)
    return state(model), {"wall_s": round(time.time() - t0, 1), "steps": total, "epochs": epochs, "examples": len(data), "final_epoch_loss": round(tot / len(data), 4)}


# ----------------------------------------------------------------------------- evaluation

def predict(weights, examples, batch=32):
    model = Classifier(len(LABELS))
    model.load_state_dict(weights)
    model.eval()
    preds, margins = [], []
    with torch.no_grad():
        for b in range(0, len(examples), batch):  # the ONNX evaluator's batching: file order, right padding
            ids, mask = batchify([encode(t) for t, _ in examples[b:b + batch]])
            logits = model(ids, mask)
            top = torch.topk(logits, 2, dim=-1).values
            preds += logits.argmax(-1).tolist()
            margins += (top[:, 0] - top[:, 1]).tolist()
    return preds, margins


def metrics(preds, labels):
    acc = sum(p == y for p, y in zip(preds, labels)) / len(labels)
    f1s = []
    for c in sorted(set(labels) | set(preds)):  # the labels (every set holds all of them)
        tp = sum(p == c and y == c for p, y in zip(preds, labels))
        fp = sum(p == c and y != c for p, y in zip(preds, labels))
        fn = sum(p != c and y == c for p, y in zip(preds, labels))
        f1s.append(0.0 if tp == 0 else 2 * tp / (2 * tp + fp + fn))
    return acc, sum(f1s) / len(f1s)


def average(states):
    out = {}
    for k in states[0]:
        acc = torch.zeros_like(states[0][k])
        for s in states:
            acc = acc + s[k]
        out[k] = acc * (1.0 / len(states))
    return out


# ----------------------------------------------------------------------------- export

class WeightsAsInputs(nn.Module):
    """forward(input_ids, attention_mask, *weights): every weight is a graph input."""

    def __init__(self, model, names):
        super().__init__()
        self.__dict__["inner"] = [model]  # not a submodule: no parameters of the wrapper
        self.names = names

    def forward(self, input_ids, attention_mask, *weights):
        params = dict(zip(self.names, weights))
        # functional_call refuses to run under tracing in torch 1.13; its context manager does not
        with torch.nn.utils.stateless._reparametrize_module(self.inner[0], params):
            return self.inner[0](input_ids, attention_mask)


def export_onnx(weights, path):
    model = Classifier(len(LABELS))
    model.load_state_dict(weights)
    model.eval()
    names = list(weights.keys())
    wrapper = WeightsAsInputs(model, names)
    ids, mask = batchify([encode("Hello, world."), encode("A longer text for the dummy batch of the export.")])
    args = (ids, mask, *[weights[n] for n in names])
    dyn = {"input_ids": {0: "batch", 1: "seq"}, "attention_mask": {0: "batch", 1: "seq"}, "logits": {0: "batch"}}
    torch.onnx.export(wrapper, args, path, input_names=["input_ids", "attention_mask", *names], output_names=["logits"],
                      dynamic_axes=dyn, opset_version=14, do_constant_folding=False, export_params=False)


# ----------------------------------------------------------------------------- main

def jsonl(path, rows):
    with open(path, "w") as f:
        for t, y in rows:
            f.write(json.dumps({"text": t, "label": y}) + "\n")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--stage", default="all", choices=["all", "pretrain", "finetune", "export"])
    a = ap.parse_args()
    torch.set_num_threads(1)  # 2 threads: OpenMP spin-waits made a step 10-25x slower on 2 busy shared cores
    os.makedirs(CACHE, exist_ok=True)
    split, members, pretrain_texts, pre_cats, stats = build_data()
    if a.stage in ("all", "pretrain"):
        enc_state, info = pretrain(pretrain_texts)
        torch.save({"state": enc_state, "info": info}, os.path.join(CACHE, "encoder.pt"))
    if a.stage in ("all", "finetune"):
        ck = torch.load(os.path.join(CACHE, "encoder.pt"))
        base = state(base_classifier(ck["state"]))
        out = {"base": base, "members": {}, "info": {}}
        for i, (m, ex) in enumerate(list(members.items()) + [("oracle", [e for m in MEMBERS for e in members[m]])]):
            print(f"fine-tune {m} ({len(ex)} texts)", flush=True)
            w, info = finetune(base, ex, SEED + 100 + i, FINETUNE["oracle_epochs" if m == "oracle" else "epochs"])
            out["members"][m] = w
            out["info"][m] = info
            p, _ = predict(w, split["dev"])
            print(f"  dev acc/F1 {metrics(p, [y for _, y in split['dev']])}", flush=True)
        torch.save(out, os.path.join(CACHE, "finetuned.pt"))
    if a.stage in ("all", "export"):
        ck = torch.load(os.path.join(CACHE, "encoder.pt"))
        ft = torch.load(os.path.join(CACHE, "finetuned.pt"))
        for d in ("models", "fisher", "data", "data/train"):
            os.makedirs(os.path.join(OUT, d), exist_ok=True)
        for name in ("dev", "test", "ood-test"):
            jsonl(os.path.join(OUT, "data", f"{name}.jsonl"), split[name])
        for m in MEMBERS:
            jsonl(os.path.join(OUT, "data", "train", f"{m}.jsonl"), members[m])
        fisherlib.save_safetensors(os.path.join(OUT, "models", "base.safetensors"), ft["base"], {"format": "pt"})
        for m in MEMBERS:
            fisherlib.save_safetensors(os.path.join(OUT, "models", f"{m}.safetensors"), ft["members"][m], {"format": "pt"})
        export_onnx(ft["base"], os.path.join(OUT, "classifier.onnx"))
        # Fisher: empirical (true labels), one backward pass per training text of the member
        fisher_wall = {}
        for m in MEMBERS:
            t0 = time.time()
            model = Classifier(len(LABELS))
            model.load_state_dict(ft["members"][m])

            def fwd(model, ex):
                ids, mask = batchify([encode(ex[0])])
                return model(ids, mask)
            fis = fisherlib.diagonal_fisher(model, members[m], fwd, label_of=lambda ex: ex[1], labels="true")
            fisherlib.save_safetensors(os.path.join(OUT, "fisher", f"{m}.safetensors"), fis,
                                       {"format": "pt", "fisher": "diagonal, empirical (true labels), mean over data/train/" + m + ".jsonl"})
            fisher_wall[m] = round(time.time() - t0, 1)
        models = {"base": ft["base"], **{m: ft["members"][m] for m in MEMBERS},
                  "average": average([ft["members"][m] for m in MEMBERS]), "oracle": ft["members"]["oracle"]}
        results = {}
        for name, w in models.items():
            results[name] = {}
            for s in ("dev", "test", "ood-test"):
                labels = [y for _, y in split[s]]
                p, margins = predict(w, split[s])
                acc, f1 = metrics(p, labels)
                results[name][s] = {"accuracy": acc, "f1": f1, "min_top2_margin": round(min(margins), 6)}
            if name in models and name not in ("average", "oracle"):
                results[name]["file"] = f"models/{name}.safetensors"
            print(name, {s: (round(v["accuracy"], 4), round(v["f1"], 4)) for s, v in results[name].items() if s != "file"}, flush=True)
        params = Classifier(len(LABELS)).state_dict()
        cfg = {
            "model_type": "byte-roberta", "architectures": ["ByteRobertaForSequenceClassification"],
            "vocab_size": VOCAB, "hidden_size": HIDDEN, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
            "intermediate_size": FFN, "hidden_act": "gelu", "max_position_embeddings": MAX_LEN,
            "layer_norm_eps": LN_EPS, "layer_norm": "post", "cls": "learned vector embeddings.cls_token prepended inside the model",
            "eos_token_id": EOS, "mask_token_id": MASK, "pad_token_id": 0, "num_labels": len(LABELS),
            "id2label": {str(i): c for i, c in enumerate(LABELS)}, "label2id": {c: i for i, c in enumerate(LABELS)},
            "problem_type": "single_label_classification", "torch_dtype": "float32",
        }
        json.dump(cfg, open(os.path.join(OUT, "config.json"), "w"), indent=2)
        ref = {
            "description": "Byte-level RoBERTa-style encoder classifiers fine-tuned on non-IID partitions of fortune categories; metrics computed in torch 1.13 (CPU, float32), batches of 32 in file order with right padding",
            "labels": LABELS,
            "metrics": "accuracy; macro-F1 = mean over the 8 labels of per-label F1 (0 for a label with no true positive)",
            "models": results,
            "merges": {"average": "uniform average of the members in float32: acc = 0; for m in members: acc = acc + m; out = acc * 0.25 (members in the order of 'members')"},
            "oracle": "not a file: fine-tuned like a member on the union of the four members' training data (1200 texts); an upper bound",
            "members": {m: {"major_labels": MEMBERS[m], "train_file": f"data/train/{m}.jsonl", "fisher_file": f"fisher/{m}.safetensors"} for m in MEMBERS},
            "architecture": {"layers": LAYERS, "hidden": HIDDEN, "heads": HEADS, "ffn": FFN, "vocab": VOCAB, "max_tokens": MAX_LEN,
                             "layer_norm": "post-LN (RoBERTa)", "activation": "gelu (erf)",
                             "parameters": int(sum(v.numel() for v in params.values())),
                             "parameter_shapes": {k: list(v.shape) for k, v in params.items()}},
            "split": {"seed": SEED, "label_categories": stats, "pretraining_categories": pre_cats,
                      "rule": SPLIT_RULE, "in_domain_max_bytes": IN_DOMAIN_MAX_BYTES, "ood_min_bytes": OOD_MIN_BYTES,
                      "per_member": {"major_texts_per_label": N_MAJOR, "minor_texts_per_other_label": N_MINOR}},
            "training": {"pretrain": {**PRETRAIN, **ck["info"]}, "finetune": {**FINETUNE, "runs": ft["info"]},
                         "fisher": {"kind": "empirical diagonal Fisher, true labels, mean over the member's training texts, eval mode", "wall_s": fisher_wall},
                         "torch": torch.__version__, "threads": 1, "seed": SEED},
        }
        json.dump(ref, open(os.path.join(OUT, "reference.json"), "w"), indent=1)


if __name__ == "__main__":
    main()
