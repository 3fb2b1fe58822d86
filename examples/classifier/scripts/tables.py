#!/usr/bin/python3
"""Prints the README's files table and reference tables (markdown) from reference.json."""
import json
import os

OUT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ref = json.load(open(os.path.join(OUT, "reference.json")))


def size(p):
    n = os.path.getsize(os.path.join(OUT, p))
    return f"{n / 1e6:.2f} MB" if n >= 1e6 else f"{n / 1e3:.1f} kB"


print("| path | size |\n|---|---:|")
total = 0
for root, dirs, files in os.walk(OUT):
    dirs[:] = sorted(d for d in dirs if not d.startswith("."))
    for f in sorted(files):
        p = os.path.relpath(os.path.join(root, f), OUT)
        total += os.path.getsize(os.path.join(OUT, p))
        print(f"| `{p}` | {size(p)} |")
print(f"\ntotal {total / 1e6:.2f} MB\n")

sets = ["dev", "test", "ood-test"]
models = ref["models"]
print("| model | dev acc | dev F1 | test acc | test F1 | ood acc | ood F1 |\n|---|---:|---:|---:|---:|---:|---:|")
for name, r in models.items():
    print(f"| {name} | " + " | ".join(f"{r[s]['accuracy']:.4f} | {r[s]['f1']:.4f}" for s in sets) + " |")
print()
for name, r in ref["training"]["finetune"]["runs"].items():
    print(name, r)
print("pretrain", {k: v for k, v in ref["training"]["pretrain"].items()})
print("fisher", ref["training"]["fisher"])
print("params", ref["architecture"]["parameters"], "tensors", len(ref["architecture"]["parameter_shapes"]))
