#!/usr/bin/python3
"""Train and export qsim's two Fashion-MNIST reference models (ONNX, opset 13).

    /usr/bin/python3 tools/train_reference_models.py --out models/

Writes <out>/resnet_fmnist.onnx, <out>/mobilenet_fmnist.onnx and
<out>/reference_models.json.

Preprocessing (fixed, shared by every consumer of these models):
    input "input": float32 NCHW [N,1,28,28] = pixel_uint8 / 255.0
    (no mean/std normalisation; any normalisation lives inside the model)
    output "logits": float32 [N,10] raw logits (no softmax)
Batch dimension is dynamic (named "batch").

Training is deterministic (fixed seeds, fixed shuffling, one thread,
torch.use_deterministic_algorithms), so running the script twice gives
byte-identical .onnx files with the same torch build.

Needs only Debian packages: python3-torch, python3-onnx, python3-numpy,
dataset-fashion-mnist.  No torchvision, no network.
"""
import argparse
import collections
import ctypes
import gzip
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

DATA_DIR = "/usr/share/datasets/fashion-mnist"
PREPROCESSING = ("input: float32 NCHW [N,1,28,28] = pixel_uint8 / 255.0 "
                 "(no mean/std normalisation); output 'logits': float32 [N,10] raw logits, no softmax")
SEED = 20240601
OPSET = 13


# --------------------------------------------------------------------- data

def read_idx(path):
    """Parse an idx file (gzip) into a numpy uint8 array."""
    with gzip.open(path, "rb") as f:
        data = f.read()
    zero, dtype, ndim = data[0] * 256 + data[1], data[2], data[3]
    if zero != 0 or dtype != 0x08:
        raise ValueError("%s: not an unsigned-byte idx file" % path)
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    arr = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    return arr.reshape(dims)


def load_split(name):
    x = read_idx(os.path.join(DATA_DIR, "%s-images-idx3-ubyte.gz" % name))
    y = read_idx(os.path.join(DATA_DIR, "%s-labels-idx1-ubyte.gz" % name))
    return x, y


def preprocess(x_uint8):
    """The fixed preprocessing rule: [N,28,28] uint8 -> [N,1,28,28] float32 / 255."""
    return torch.from_numpy(x_uint8.astype(np.float32)[:, None, :, :] / np.float32(255.0))


# ------------------------------------------------------------------- models

def conv_bn(cin, cout, k, stride=1, groups=1):
    return nn.Sequential(
        nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout))


class BasicBlock(nn.Module):
    """ResNet basic block; strided 1x1 Conv+BN projection when shape changes."""

    def __init__(self, cin, cout, stride=1):
        super().__init__()
        self.conv1 = conv_bn(cin, cout, 3, stride)
        self.conv2 = conv_bn(cout, cout, 3)
        self.shortcut = conv_bn(cin, cout, 1, stride) if (stride != 1 or cin != cout) else None

    def forward(self, x):
        out = F.relu(self.conv1(x))
        out = self.conv2(out)
        sc = x if self.shortcut is None else self.shortcut(x)
        return F.relu(out + sc)


class ResNetFMNIST(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = conv_bn(1, 16, 3)                 # 28x28
        self.pool = nn.MaxPool2d(2)                   # -> 14x14
        self.layer1 = BasicBlock(16, 16)              # identity shortcut
        self.layer2 = BasicBlock(16, 32, stride=2)    # -> 7x7, projection
        self.layer3 = BasicBlock(32, 64, stride=2)    # -> 4x4, projection
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(64, num_classes)

    def forward(self, x):
        x = self.pool(F.relu(self.stem(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.gap(x), 1))


class InvertedResidual(nn.Module):
    """MobileNetV2 block: 1x1 expand + ReLU6, 3x3 depthwise + ReLU6, 1x1 project."""

    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        self.expand = conv_bn(cin, hidden, 1)
        self.dw = conv_bn(hidden, hidden, 3, stride, groups=hidden)
        self.project = conv_bn(hidden, cout, 1)
        # nn.ReLU6 is Hardtanh(0, 6): exports as a single Clip (F.relu6 would
        # export as Relu + Cast + Clip).
        self.act1 = nn.ReLU6()
        self.act2 = nn.ReLU6()
        self.use_res = stride == 1 and cin == cout

    def forward(self, x):
        out = self.act1(self.expand(x))
        out = self.act2(self.dw(out))
        out = self.project(out)
        return x + out if self.use_res else out


class MobileNetFMNIST(nn.Module):
    def __init__(self, num_classes=10):
        super().__init__()
        self.stem = conv_bn(1, 16, 3, stride=2)              # -> 14x14
        self.stem_act = nn.Hardswish()
        self.blocks = nn.Sequential(
            InvertedResidual(16, 16, 1, 3),                   # residual
            InvertedResidual(16, 24, 2, 4),                   # -> 7x7
            InvertedResidual(24, 24, 1, 4),                   # residual
            InvertedResidual(24, 48, 2, 4),                   # -> 4x4
            InvertedResidual(48, 48, 1, 4),                   # residual
        )
        self.head = conv_bn(48, 128, 1)
        self.head_act = nn.Hardswish()
        self.gap = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(128, num_classes)

    def forward(self, x):
        x = self.stem_act(self.stem(x))
        x = self.head_act(self.head(self.blocks(x)))
        return self.fc(torch.flatten(self.gap(x), 1))


MODELS = [
    # file name, constructor, training settings
    ("resnet_fmnist.onnx", ResNetFMNIST,
     dict(epochs=5, batch_size=128, optimizer="Adam", lr=3e-3, weight_decay=1e-4,
          schedule="linear warmup 100 steps then cosine decay to 0, per step",
          augmentation="random horizontal flip p=0.5")),
    ("mobilenet_fmnist.onnx", MobileNetFMNIST,
     dict(epochs=5, batch_size=128, optimizer="Adam", lr=3e-3, weight_decay=1e-4,
          schedule="linear warmup 100 steps then cosine decay to 0, per step",
          augmentation="random horizontal flip p=0.5")),
]


# ----------------------------------------------------------------- training

def tune_malloc():
    """Keep freed memory in glibc's heap instead of returning it to the kernel.

    By default glibc trims/munmaps the multi-MB activation buffers torch frees
    every step and page-faults them back in on the next one; on this machine that
    made training ~4x slower.  Purely a speed setting: results are unchanged."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(-1, 1 << 30)   # M_TRIM_THRESHOLD
        libc.mallopt(-3, 32 << 20)  # M_MMAP_THRESHOLD (the largest glibc's default allows)
    except (OSError, AttributeError):
        pass


def seed_all(seed):
    torch.manual_seed(seed)
    np.random.seed(seed)


def train(model, x_train, y_train, cfg, seed):
    seed_all(seed)
    rng = np.random.RandomState(seed)
    n = len(x_train)
    steps_per_epoch = math.ceil(n / cfg["batch_size"])
    total = steps_per_epoch * cfg["epochs"]
    warm = 100
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"], weight_decay=cfg["weight_decay"])
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: (s + 1) / warm if s < warm
        else 0.5 * (1 + math.cos(math.pi * (s - warm) / (total - warm))))
    x_all = preprocess(x_train)
    y_all = torch.from_numpy(y_train.astype(np.int64))
    model.train()
    for epoch in range(cfg["epochs"]):
        t0 = time.time()
        perm = rng.permutation(n)
        flips = rng.rand(n) < 0.5
        loss_sum, correct = 0.0, 0
        for i in range(0, n, cfg["batch_size"]):
            idx = perm[i:i + cfg["batch_size"]]
            xb = x_all[idx]
            f = torch.from_numpy(flips[idx])
            xb = torch.where(f[:, None, None, None], xb.flip(3), xb)
            yb = y_all[idx]
            out = model(xb)
            loss = F.cross_entropy(out, yb)
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
            correct += (out.argmax(1) == yb).sum().item()
        print("  epoch %d: loss %.4f train-acc %.2f%% (%.0fs)"
              % (epoch + 1, loss_sum / n, 100.0 * correct / n, time.time() - t0), flush=True)
    model.eval()


@torch.no_grad()
def evaluate(model, x_test, y_test):
    model.eval()
    x = preprocess(x_test)
    pred = torch.cat([model(x[i:i + 1000]).argmax(1) for i in range(0, len(x), 1000)])
    correct = (pred.numpy() == y_test).sum()
    return 100.0 * correct / len(y_test)


# ------------------------------------------------------------------- export

def export_onnx(model, path):
    """Export with BatchNormalization left unfused.

    In EVAL training mode torch's exporter runs the eval peephole pass that folds
    Conv+BN; TrainingMode.PRESERVE on a model in eval() mode skips that pass while
    still exporting inference-mode BN (running statistics).  Constant folding must
    then be off (it is only meant for EVAL mode)."""
    model.eval()
    dummy = torch.zeros(1, 1, 28, 28)
    buf = io.BytesIO()
    torch.onnx.export(
        model, dummy, buf,
        export_params=True,
        opset_version=OPSET,
        training=torch.onnx.TrainingMode.PRESERVE,
        do_constant_folding=False,
        input_names=["input"],
        output_names=["logits"],
        dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}})
    return write_tidy_onnx(buf.getvalue(), path)


def write_tidy_onnx(exported, path):
    """Writes the model torch.onnx.export gave (bytes) to path, tidied the same way for every
    reference model, and returns the bytes written.

    The exporter de-duplicates initializers with equal values by inserting Identity nodes
    (in the ResNet the two BN biases that feed a residual Add get identical gradients and
    stay bit-identical; in the ViT, LayerNorm scales that stayed equal): each such Identity
    becomes a plain initializer of its own again. Unnamed nodes get deterministic names and
    the doc strings go."""
    m = onnx.load_from_string(exported)
    inits = {t.name: t for t in m.graph.initializer}
    for node in list(m.graph.node):
        if node.op_type == "Identity" and node.input[0] in inits:
            t = onnx.TensorProto()
            t.CopyFrom(inits[node.input[0]])
            t.name = node.output[0]
            m.graph.initializer.append(t)
            m.graph.node.remove(node)
    counters = collections.Counter()
    for node in m.graph.node:
        node.doc_string = ""
        if not node.name:
            counters[node.op_type] += 1
            node.name = "%s_%d" % (node.op_type, counters[node.op_type])
    m.doc_string = ""
    data = m.SerializeToString()
    with open(path, "wb") as f:
        f.write(data)
    return data


def verify_onnx(path, mobilenet):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    names = [n.name for n in m.graph.node]
    problems = []
    if m.opset_import[0].version != OPSET:
        problems.append("opset %d" % m.opset_import[0].version)
    if not ops.get("BatchNormalization"):
        problems.append("no BatchNormalization (fused?)")
    if mobilenet and not (ops.get("Clip") and ops.get("HardSigmoid")):
        problems.append("mobilenet lacks Clip/HardSigmoid")
    if not mobilenet and not (ops.get("Add") and ops.get("MaxPool")):
        problems.append("resnet lacks Add/MaxPool")
    if ops.get("Identity"):
        problems.append("Identity nodes left")
    for op in ("Conv", "GlobalAveragePool", "Flatten", "Gemm"):
        if not ops.get(op):
            problems.append("missing %s" % op)
    if any(not n for n in names) or len(set(names)) != len(names):
        problems.append("unnamed or duplicate node names")
    if [i.name for i in m.graph.input] != ["input"] or [o.name for o in m.graph.output] != ["logits"]:
        problems.append("bad input/output names")
    for v in list(m.graph.input) + list(m.graph.output):
        if v.type.tensor_type.shape.dim[0].dim_param != "batch":
            problems.append("%s: batch axis not dynamic" % v.name)
    return verified(path, ops, problems)


def verified(path, ops, problems):
    """(op counts, file size) of a checked model file; exits naming every problem found,
    a file over 1 MiB among them (models/ holds small models only)."""
    size = os.path.getsize(path)
    if size > 1 << 20:
        problems.append("file larger than 1 MiB (%d bytes)" % size)
    if problems:
        raise SystemExit("%s: verification failed: %s" % (path, "; ".join(problems)))
    return dict(sorted(ops.items())), size


# --------------------------------------------------------------------- main

def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="models/", help="output directory")
    args = ap.parse_args()
    os.makedirs(args.out, exist_ok=True)

    tune_malloc()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.use_deterministic_algorithms(True)

    x_train, y_train = load_split("train")
    x_test, y_test = load_split("t10k")
    print("data: train %s test %s" % (x_train.shape, x_test.shape))

    report = {
        "preprocessing": PREPROCESSING,
        "input": {"name": "input", "dtype": "float32", "shape": ["batch", 1, 28, 28]},
        "output": {"name": "logits", "dtype": "float32", "shape": ["batch", 10]},
        "dataset": "Fashion-MNIST (%s), train 60000 / test 10000" % DATA_DIR,
        "opset": OPSET,
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "numpy_version": np.__version__,
        "seed": SEED,
        "models": [],
    }
    for k, (fname, ctor, cfg) in enumerate(MODELS):
        print("== %s" % fname, flush=True)
        seed = SEED + k
        seed_all(seed)
        model = ctor()
        params = sum(p.numel() for p in model.parameters())
        t0 = time.time()
        train(model, x_train, y_train, cfg, seed)
        train_s = time.time() - t0
        acc = evaluate(model, x_test, y_test)
        path = os.path.join(args.out, fname)
        data = export_onnx(model, path)
        if export_onnx(model, path) != data:
            raise SystemExit("%s: export is not deterministic" % path)
        ops, size = verify_onnx(path, mobilenet="mobilenet" in fname)
        sha = hashlib.sha256(data).hexdigest()
        print("  trained in %.0fs, test accuracy %.2f%%, %d params, %d bytes, sha256 %s"
              % (train_s, acc, params, size, sha))
        print("  ops: %s" % ", ".join("%s=%d" % kv for kv in ops.items()), flush=True)
        report["models"].append({
            "file": fname,
            "architecture": ctor.__name__,
            "float_top1_accuracy": round(float(acc), 2),
            "parameters": params,
            "file_bytes": size,
            "op_counts": ops,
            "nodes": sum(ops.values()),
            "sha256": sha,
            "preprocessing": PREPROCESSING,
            "torch_version": torch.__version__,
            "training": dict(cfg, seed=seed, threads=1, deterministic=True,
                             loss="cross entropy"),
        })
    # Keep the entries other scripts wrote (tools/train_vit.py's ViT exports).
    json_path = os.path.join(args.out, "reference_models.json")
    if os.path.exists(json_path):
        ours = {fname for fname, _, _ in MODELS}
        with open(json_path) as f:
            others = [m for m in json.load(f).get("models", []) if m["file"] not in ours]
        report["models"] += others
    with open(os.path.join(args.out, "reference_models.json"), "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print("wrote %s" % os.path.join(args.out, "reference_models.json"))


if __name__ == "__main__":
    main()
