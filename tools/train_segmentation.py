#!/usr/bin/python3
"""Train and export qsim's Fashion-MNIST segmentation reference model (ONNX, opset 13).

    /usr/bin/python3 tools/train_segmentation.py --out models/

Writes <out>/seg_fmnist.onnx and adds (or replaces) its entry in
<out>/reference_models.json under "segmentation_models".

Task: segment the item from the background.
    input "input": float32 NCHW [N,1,28,28] = pixel_uint8 / 255.0 (as the classifiers)
    output "mask": float32 [N,1,28,28] = sigmoid(logit), the probability that the
        pixel belongs to the item
    target: pixel_uint8 > 25 (pixel / 255 > 0.1), a mask of the item's silhouette
    metric: mean over images of IoU(output > 0.5, target); an image whose prediction and
        target are both empty counts as IoU 1 (none of the test images is)
Batch dimension is dynamic (named "batch").

Architecture (a tiny U-Net; every op a dense-prediction model needs):
    enc1 Conv 1->8 3x3 + Relu                      28x28
    enc2 Conv 8->16 3x3 stride 2 + Relu            14x14
    enc3 Conv 16->32 3x3 stride 2 + Relu           7x7
    up2  ConvTranspose 32->16 k2 s2 + Relu         14x14
    Concat(up2, enc2) -> Conv 32->16 3x3 + Relu    (skip connection, two scales)
    up1  Resize nearest x2 -> Conv 16->8 3x3 + Relu 28x28
    Concat(up1, enc1) -> Conv 16->8 3x3 + Relu -> Conv 8->1 1x1 -> Sigmoid

Training is deterministic (fixed seeds, numpy-driven shuffling, one thread,
torch.use_deterministic_algorithms): two runs give byte-identical .onnx files
with the same torch build. Debian packages only (python3-torch, python3-onnx,
python3-numpy, dataset-fashion-mnist); no torchvision, no network.
"""
import argparse
import collections
import hashlib
import io
import json
import math
import os
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F

from train_reference_models import (load_split, preprocess, seed_all, tune_malloc, verified,
                                    write_tidy_onnx)

SEED = 20241224
OPSET = 13
THRESHOLD = 25  # target = pixel_uint8 > 25, i.e. pixel / 255 > 0.1
FILE = "seg_fmnist.onnx"
PREPROCESSING = ("input: float32 NCHW [N,1,28,28] = pixel_uint8 / 255.0; output 'mask': "
                 "float32 [N,1,28,28] sigmoid probabilities; target = pixel_uint8 > %d" % THRESHOLD)
TRAINING = dict(epochs=2, batch_size=64, optimizer="Adam", lr=3e-3,
                schedule="cosine decay to 0, per step", loss="binary cross entropy on the logit",
                augmentation="none")


class SegFMNIST(nn.Module):
    def __init__(self):
        super().__init__()
        self.enc1 = nn.Conv2d(1, 8, 3, padding=1)
        self.enc2 = nn.Conv2d(8, 16, 3, stride=2, padding=1)
        self.enc3 = nn.Conv2d(16, 32, 3, stride=2, padding=1)
        self.up2 = nn.ConvTranspose2d(32, 16, 2, stride=2)
        self.dec2 = nn.Conv2d(32, 16, 3, padding=1)
        self.dec1 = nn.Conv2d(16, 8, 3, padding=1)
        self.fuse = nn.Conv2d(16, 8, 3, padding=1)
        self.head = nn.Conv2d(8, 1, 1)

    def logit(self, x):
        e1 = F.relu(self.enc1(x))
        e2 = F.relu(self.enc2(e1))
        e3 = F.relu(self.enc3(e2))
        d2 = F.relu(self.up2(e3))
        d2 = F.relu(self.dec2(torch.cat([d2, e2], 1)))
        d1 = F.interpolate(d2, scale_factor=2.0, mode="nearest")
        d1 = F.relu(self.dec1(d1))
        return self.head(F.relu(self.fuse(torch.cat([d1, e1], 1))))

    def forward(self, x):
        return torch.sigmoid(self.logit(x))


def targets(x_uint8):
    return torch.from_numpy((x_uint8 > THRESHOLD).astype(np.float32)[:, None, :, :])


def train(model, x_train, seed):
    cfg = TRAINING
    rng = np.random.RandomState(seed)
    n = len(x_train)
    total = math.ceil(n / cfg["batch_size"]) * cfg["epochs"]
    opt = torch.optim.Adam(model.parameters(), lr=cfg["lr"])
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / total)))
    x_all, t_all = preprocess(x_train), targets(x_train)
    model.train()
    for epoch in range(cfg["epochs"]):
        t0, loss_sum = time.time(), 0.0
        perm = rng.permutation(n)
        for i in range(0, n, cfg["batch_size"]):
            idx = perm[i:i + cfg["batch_size"]]
            loss = F.binary_cross_entropy_with_logits(model.logit(x_all[idx]), t_all[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            loss_sum += loss.item() * len(idx)
        print("  epoch %d: loss %.5f (%.0fs)" % (epoch + 1, loss_sum / n, time.time() - t0), flush=True)
    model.eval()


def mean_iou(pred, target):
    """Mean over images of |pred & target| / |pred | target| (1 when both are empty)."""
    inter = (pred & target).reshape(len(pred), -1).sum(1).astype(np.float64)
    union = (pred | target).reshape(len(pred), -1).sum(1).astype(np.float64)
    iou = np.where(union > 0, inter / np.maximum(union, 1), 1.0)
    return float(iou.mean())


@torch.no_grad()
def evaluate(model, x_test):
    x = preprocess(x_test)
    prob = torch.cat([model(x[i:i + 1000]) for i in range(0, len(x), 1000)]).numpy()
    return mean_iou(prob > 0.5, x_test[:, None] > THRESHOLD)


def export_onnx(model, path):
    model.eval()
    buf = io.BytesIO()
    torch.onnx.export(model, torch.zeros(1, 1, 28, 28), buf, export_params=True,
                      opset_version=OPSET, do_constant_folding=True,
                      input_names=["input"], output_names=["mask"],
                      dynamic_axes={"input": {0: "batch"}, "mask": {0: "batch"}})
    return write_tidy_onnx(buf.getvalue(), path)


def verify_onnx(path):
    m = onnx.load(path)
    onnx.checker.check_model(m, full_check=True)
    ops = collections.Counter(n.op_type for n in m.graph.node)
    problems = ["missing %s" % op for op in ("ConvTranspose", "Resize", "Concat", "Sigmoid", "Conv")
                if not ops.get(op)]
    if m.opset_import[0].version != OPSET:
        problems.append("opset %d" % m.opset_import[0].version)
    names = [n.name for n in m.graph.node]
    if len(set(names)) != len(names):
        problems.append("duplicate node names")
    if [o.name for o in m.graph.output] != ["mask"]:
        problems.append("output is not 'mask'")
    return verified(path, ops, problems)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--out", default="models/", help="output directory")
    args = ap.parse_args()
    tune_malloc()
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    torch.use_deterministic_algorithms(True)

    x_train, _ = load_split("train")
    x_test, _ = load_split("t10k")
    seed_all(SEED)
    model = SegFMNIST()
    params = sum(p.numel() for p in model.parameters())
    t0 = time.time()
    train(model, x_train, SEED)
    train_s = time.time() - t0
    iou = evaluate(model, x_test)
    path = os.path.join(args.out, FILE)
    data = export_onnx(model, path)
    if export_onnx(model, path) != data:
        raise SystemExit("%s: export is not deterministic" % path)
    ops, size = verify_onnx(path)
    sha = hashlib.sha256(data).hexdigest()
    print("  trained in %.0fs, test mean IoU %.4f, %d params, %d bytes, sha256 %s"
          % (train_s, iou, params, size, sha))
    print("  ops: %s" % ", ".join("%s=%d" % kv for kv in ops.items()), flush=True)

    json_path = os.path.join(args.out, "reference_models.json")
    report = json.load(open(json_path)) if os.path.exists(json_path) else {}
    report["segmentation_models"] = [{
        "file": FILE,
        "architecture": SegFMNIST.__name__,
        "task": "foreground mask, target pixel_uint8 > %d" % THRESHOLD,
        "float_mean_iou": round(iou, 4),
        "metric": "mean over the 10000 test images of IoU(mask > 0.5, target)",
        "parameters": params,
        "file_bytes": size,
        "op_counts": ops,
        "nodes": sum(ops.values()),
        "sha256": sha,
        "opset": OPSET,
        "preprocessing": PREPROCESSING,
        "torch_version": torch.__version__,
        "onnx_version": onnx.__version__,
        "training": dict(TRAINING, seed=SEED, threads=1, deterministic=True),
    }]
    with open(json_path, "w") as f:
        json.dump(report, f, indent=2)
        f.write("\n")
    print("wrote %s" % json_path)


if __name__ == "__main__":
    main()
