#!/usr/bin/python3
"""Train and export qsim's Fashion-MNIST Vision Transformer (ONNX, opsets 13 and 17).

    /usr/bin/python3 tools/train_vit.py --out models/

Writes <out>/vit_fmnist_opset13.onnx and <out>/vit_fmnist_opset17.onnx (one trained model,
exported twice) and adds or replaces their entries in <out>/reference_models.json.

- opset 13: LayerNorm decomposed (ReduceMean, Sub, Pow, ReduceMean, Add, Sqrt, Div, Mul, Add),
  GELU as Div, Erf, Add, Mul, Mul.
- opset 17: LayerNormalization ops; GELU still as Erf (Gelu is an opset-20 op).

Architecture: 7x7 patch embedding (Conv 1->64, stride 7: 16 tokens), learned positional
embedding (Add), 2 pre-norm encoder blocks (LayerNorm, 4-head self-attention written out as
MatMul/Reshape/Transpose so that Q.K^T and attention.V are MatMuls between two activations,
Softmax, output projection, residual Add; LayerNorm, GELU MLP 64->128->64, residual Add),
mean pooling over tokens (ReduceMean), final LayerNorm, Linear head (Gemm).

Same interface, data, determinism and Debian-only dependencies as
tools/train_reference_models.py (whose data, training and evaluation helpers this reuses).
"""
import argparse
import collections
import hashlib
import io
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import onnx

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import train_reference_models as ref  # noqa: E402

SEED = 20240611
DIM = 64
HEADS = 4
MLP = 128
PATCH = 7
TOKENS = (28 // PATCH) ** 2
OPSETS = (13, 17)
CFG = dict(epochs=8, batch_size=128, optimizer="Adam", lr=2e-3, weight_decay=1e-4,
           schedule="linear warmup 100 steps then cosine decay to 0, per step",
           augmentation="random horizontal flip p=0.5")


class Attention(nn.Module):
    def __init__(self):
        super().__init__()
        self.q = nn.Linear(DIM, DIM)
        self.k = nn.Linear(DIM, DIM)
        self.v = nn.Linear(DIM, DIM)
        self.proj = nn.Linear(DIM, DIM)
        self.scale = 1.0 / math.sqrt(DIM // HEADS)

    def heads(self, x):
        # [N, T, C] -> [N, H, T, C/H]; -1 keeps the batch axis dynamic with a constant shape.
        return x.reshape(-1, TOKENS, HEADS, DIM // HEADS).transpose(1, 2)

    def forward(self, x):
        q = self.heads(self.q(x) * self.scale)
        k = self.heads(self.k(x))
        v = self.heads(self.v(x))
        attn = torch.softmax(torch.matmul(q, k.transpose(-2, -1)), dim=-1)
        out = torch.matmul(attn, v).transpose(1, 2).reshape(-1, TOKENS, DIM)
        return self.proj(out)


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.norm1 = nn.LayerNorm(DIM)
        self.attn = Attention()
        self.norm2 = nn.LayerNorm(DIM)
        self.fc1 = nn.Linear(DIM, MLP)
        self.fc2 = nn.Linear(MLP, DIM)

    def forward(self, x):
        x = x + self.attn(self.norm1(x))
        return x + self.fc2(F.gelu(self.fc1(self.norm2(x))))


class ViTFMNIST(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.patch = nn.Conv2d(1, DIM, PATCH, PATCH)
        self.pos = nn.Parameter(torch.zeros(1, TOKENS, DIM))
        nn.init.normal_(self.pos, std=0.02)
        self.blocks = nn.Sequential(Block(), Block())
        self.norm = nn.LayerNorm(DIM)
        self.head = nn.Linear(DIM, num_classes)

    def forward(self, x):
        x = self.patch(x).reshape(-1, DIM, TOKENS).transpose(1, 2) + self.pos
        x = self.blocks(x)
        return self.head(self.norm(x.mean(dim=1)))


def export_onnx(model, path, opset):
    """EVAL mode with constant folding: the Linear weights become plain initializers (the
    exporter would otherwise leave a Transpose node on each MatMul weight)."""
    model.eval()
    buf = io.BytesIO()
    torch.onnx.export(
        model, torch.zeros(1, 1, 28, 28), buf,
        export_params=True, opset_version=opset,
        training=torch.onnx.TrainingMode.EVAL, do_constant_folding=True,
        input_names=["input"], output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return ref.write_tidy_onnx(buf.getvalue(), path)


def verify_onnx(path, opset):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    problems = []
    if m.opset_import[0].version != opset:
        problems.append("opset %d" % m.opset_import[0].version)
    need = ["Conv", "MatMul", "Softmax", "Erf", "Transpose", "Reshape", "Gemm"]
    need += ["LayerNormalization"] if opset >= 17 else ["ReduceMean", "Pow", "Sqrt", "Div"]
    problems += ["missing %s" % op for op in need if not ops.get(op)]
    if opset >= 17 and ops.get("Pow"):
        problems.append("LayerNorm decomposed at opset %d" % opset)
    inits = {t.name for t in m.graph.initializer}
    for n in m.graph.node:
        if n.op_type == "Transpose" and n.input[0] in inits:
            problems.append("%s transposes an initializer" % n.name)
    if ops.get("Identity"):
        problems.append("Identity nodes left")
    names = [n.name for n in m.graph.node]
    if len(set(names)) != len(names):
        problems.append("duplicate node names")
    if [i.name for i in m.graph.input] != ["input"] or [o.name for o in m.graph.output] != ["logits"]:
        problems.append("bad input/output names")
    return ref.verified(path, ops, problems)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="models/", help="output directory")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    ref.tune_malloc()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.use_deterministic_algorithms(True)

    x_train, y_train = ref.load_split("train")
    x_test, y_test = ref.load_split("t10k")
    ref.seed_all(SEED)
    model = ViTFMNIST()
    params = sum(p.numel() for p in model.parameters())
    t0 = time.time()
    ref.train(model, x_train, y_train, CFG, SEED)
    train_s = time.time() - t0
    acc = ref.evaluate(model, x_test, y_test)
    print("trained in %.0fs, test accuracy %.2f%%, %d params" % (train_s, acc, params))

    json_path = os.path.join(args.out, "reference_models.json")
    with open(json_path) as f:
        report = json.load(f)
    entries = []
    for opset in OPSETS:
        fname = "vit_fmnist_opset%d.onnx" % opset
        path = os.path.join(args.out, fname)
        data = export_onnx(model, path, opset)
        if export_onnx(model, path, opset) != data:
            raise SystemExit("%s: export is not deterministic" % path)
        ops, size = verify_onnx(path, opset)
        sha = hashlib.sha256(data).hexdigest()
        print("%s: %d bytes, sha256 %s" % (fname, size, sha))
        print("  ops: %s" % ", ".join("%s=%d" % kv for kv in ops.items()), flush=True)
        entries.append({
            "file": fname,
            "architecture": "ViTFMNIST",
            "opset": opset,
            "float_top1_accuracy": round(float(acc), 2),
            "parameters": params,
            "file_bytes": size,
            "op_counts": ops,
            "nodes": sum(ops.values()),
            "sha256": sha,
            "preprocessing": ref.PREPROCESSING,
            "torch_version": torch.__version__,
            "training": dict(CFG, seed=SEED, threads=1, deterministic=True, loss="cross entropy",
                             seconds=round(train_s)),
        })
    names = {e["file"] for e in entries}
    report["models"] = [m for m in report["models"] if m["file"] not in names] + entries
    with open(json_path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print("wrote %s" % json_path)


if __name__ == "__main__":
    main()
