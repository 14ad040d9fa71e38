#!/usr/bin/python3
"""AdaRound in PyTorch as AIMET runs it: the reference bench/adaround_vs_torch.sh times
qsim's AdaRound against (docs/SOURCES.md section 5).

    /usr/bin/python3 tools/adaround_torch.py MODEL.onnx [--samples 1024] [--iterations 10000]
        [--bits 4] [--act-bits 8] [--threads 1] [--seed 0] [--write-calib FILE.npy]
        [--calib FILE.npy --no-eval]

Written the way the peers do it: the ONNX model is rebuilt as a torch module
(tools/onnx_to_torch.py, BatchNormalization folded as qsim folds it) and each Conv / Gemm is
optimized in turn. Per layer, forward hooks cache the layer's input from the model whose
earlier layers are already rounded (activations float) and its output from the float model,
for all calibration samples; then every iteration draws 32 of them, runs the layer forward
with soft-rounded weights and back through torch autograd, and takes an Adam step on V.

Weights get per-channel symmetric encodings computed like qsim's (scale = absmax /
(2^(bits-1) - 1), offset -2^(bits-1), frozen before AdaRound). Calibration images are the
first N Fashion-MNIST training images (pixel / 255), the samples qsim gets via --calib
(--write-calib saves exactly that array). Evaluation: top-1 over the 10000 test images with
float activations (A32) and, unless --act-bits 0, with activations quantized by asymmetric
MinMax ranges of the float model on the same images (as qsim calibrates), placed as
qsim places them (A8).

--calib FILE.npy takes the first N samples of FILE.npy instead (any input shape: the
ImageNet-sized scale models of issue 24, with tools/make_scale_models.py's calibration sets,
read through a memory map so only the N samples are loaded); --no-eval skips the top-1
evaluation, which only means something for the Fashion-MNIST models (their "top1" is then
null).

Prints one JSON object on stdout; progress per layer on stderr. "adaround_seconds" is the
wall time of AdaRound alone (caching and optimization of every layer; no loading, no
evaluation), "adaround_cpu_seconds" the CPU time of the same, "ms_per_iteration_all_layers"
the optimization wall time per iteration summed over layers.
"""
import argparse
import copy
import json
import math
import os
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from onnx_to_torch import ConversionError, load_onnx_as_torch  # noqa: E402
from train_reference_models import DATA_DIR, preprocess, read_idx, tune_malloc  # noqa: E402

ZETA, GAMMA = 1.1, -0.1
CACHE_BATCH = 64  # images per forward pass while caching layer inputs and outputs
EVAL_BATCH = 1000


# --------------------------------------------------------------------------- data

def fmnist_images(split, count=None):
    """[N,1,28,28] float32 = pixel / 255, the reference models' input."""
    return preprocess(read_idx(os.path.join(DATA_DIR, "%s-images-idx3-ubyte.gz" % split))[:count])


def fmnist_labels(split):
    return torch.from_numpy(read_idx(os.path.join(DATA_DIR, "%s-labels-idx1-ubyte.gz" % split))
                            .astype(np.int64))


def save_npy_atomically(path, array):
    temporary = path + ".tmp%d" % os.getpid()
    with open(temporary, "wb") as f:
        np.save(f, array)
    os.replace(temporary, path)


# ---------------------------------------------------------------- weight encodings

def per_channel_scales(weight, bits):
    """qsim's per-channel symmetric scales (float64 math, one rounding to float32) with the
    channel on axis 0; an all-zero channel gets scale 1, as in qsim."""
    flat = weight.detach().double().reshape(weight.shape[0], -1)
    absmax = torch.maximum(flat.max(1).values.clamp(min=0), (-flat.min(1).values).clamp(min=0))
    scale = (absmax / (2.0 ** (bits - 1) - 1.0)).float()
    scale[absmax == 0] = 1.0
    return scale.reshape([-1] + [1] * (weight.dim() - 1))


class WeightGrid:
    """A layer's frozen weight encoding: grid (q + offset) * scale, q in [0, 2^bits - 1]."""

    def __init__(self, weight, bits):
        self.scale = per_channel_scales(weight, bits)
        self.offset = -(2.0 ** (bits - 1))
        self.top = 2.0 ** bits - 1.0

    def dequantize(self, levels):
        """Levels relative to zero (floor(W/s) + rounding), clamped to the grid."""
        return (torch.clamp(levels - self.offset, 0.0, self.top) + self.offset) * self.scale

    def nearest(self, weight):
        return self.dequantize(torch.round(weight / self.scale))  # half to even, as qsim


# ------------------------------------------------------------------------ AdaRound

def rectified_sigmoid(v):
    return torch.clamp(torch.sigmoid(v) * (ZETA - GAMMA) + GAMMA, 0.0, 1.0)


class AdaroundWeight:
    """floor(W/s) and the continuous rounding variable V, initialized so h(V) = frac(W/s)."""

    def __init__(self, weight, grid):
        self.grid = grid
        scaled = weight.detach() / grid.scale
        self.floor = torch.floor(scaled)
        fraction = scaled - self.floor
        self.v = (-torch.log((ZETA - GAMMA) / (fraction - GAMMA) - 1.0)).requires_grad_(True)

    def soft(self):
        return self.grid.dequantize(self.floor + rectified_sigmoid(self.v))

    def hard(self):
        return self.grid.dequantize(self.floor + (self.v >= 0).float()).detach()


class Schedule:
    """AIMET's annealing: no rounding term for the first warm_start of the iterations, then
    beta from beta_start to beta_end by cosine."""

    def __init__(self, args):
        self.args = args
        self.warm_iterations = args.warm_start * args.iterations

    def rounding_active(self, iteration):
        return iteration >= self.warm_iterations

    def beta(self, iteration):
        a = self.args
        relative = (iteration - self.warm_iterations) / (a.iterations - self.warm_iterations)
        return a.beta_end + 0.5 * (a.beta_start - a.beta_end) * (1 + math.cos(relative * math.pi))


def rounding_loss(v, beta):
    return (1 - (2 * rectified_sigmoid(v) - 1).abs().pow(beta)).sum()


def layer_forward(layer, x, weight):
    if isinstance(layer, torch.nn.Conv2d):
        return layer._conv_forward(x, weight, layer.bias)
    return F.linear(x, weight, layer.bias)


def reconstruction_loss(output, target):
    """Sum over channels, mean over samples and positions."""
    return (output - target).pow(2).sum(1).mean()


class StopForward(Exception):
    pass


@torch.no_grad()
def cache_layer_data(model, layer, images, want_input):
    """The layer's input or output for every image, as peers collect it: a forward hook on
    the module that stops the forward pass once the layer ran."""
    collected = []

    def hook(module, inputs, output):
        collected.append(inputs[0] if want_input else output)
        raise StopForward()

    handle = layer.register_forward_hook(hook)
    try:
        for first in range(0, len(images), CACHE_BATCH):
            try:
                model(images[first:first + CACHE_BATCH])
            except StopForward:
                pass
    finally:
        handle.remove()
    return torch.cat(collected)


def optimize_layer(layer, activation, inputs, targets, grid, args, generator):
    weight = AdaroundWeight(layer.weight, grid)
    optimizer = torch.optim.Adam([weight.v], lr=args.lr)
    schedule = Schedule(args)
    act = activation or (lambda t: t)
    for iteration in range(args.iterations):
        indices = torch.randperm(len(inputs), generator=generator)[:args.batch]
        output = act(layer_forward(layer, inputs[indices], weight.soft()))
        loss = reconstruction_loss(output, act(targets[indices]))
        if schedule.rounding_active(iteration):
            loss = loss + args.reg * rounding_loss(weight.v, schedule.beta(iteration))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return weight.hard()


@torch.no_grad()
def layer_error(layer, activation, inputs, targets, weight):
    """Reconstruction loss over all cached samples (a diagnostic, not timed)."""
    act = activation or (lambda t: t)
    return float(reconstruction_loss(act(layer_forward(layer, inputs, weight)), act(targets)))


def clocks():
    """(wall, CPU of all this process's threads) seconds: CPU time shows what a loaded,
    shared machine did to the wall time."""
    return time.perf_counter(), time.process_time()


def adaround(float_model, images, args):
    """A copy of float_model with every Conv / Gemm weight AdaRounded, and per-layer stats
    (timed: caching and optimization; the reconstruction-loss diagnostics are not)."""
    model = copy.deepcopy(float_model).requires_grad_(False)  # autograd only for V
    generator = torch.Generator().manual_seed(args.seed)
    stats = []
    for name, layer in model.layers.items():
        start = clocks()
        activation = model.activations[name]
        inputs = cache_layer_data(model, layer, images, want_input=True)
        targets = cache_layer_data(float_model, float_model.layers[name], images, want_input=False)
        cached = clocks()
        grid = WeightGrid(layer.weight, args.bits)
        rounded = optimize_layer(layer, activation, inputs, targets, grid, args, generator)
        optimized = clocks()
        nearest_error = layer_error(layer, activation, inputs, targets, grid.nearest(layer.weight))
        adaround_error = layer_error(layer, activation, inputs, targets, rounded)
        layer.weight.data.copy_(rounded)
        stats.append(dict(layer=name, cache_seconds=round(cached[0] - start[0], 3),
                          optimize_seconds=round(optimized[0] - cached[0], 3),
                          cpu_seconds=round(optimized[1] - start[1], 3),
                          nearest_loss=nearest_error, adaround_loss=adaround_error))
        print("adaround_torch: %-40s cache %6.2f s  optimize %7.2f s  loss nearest %.5g -> %.5g"
              % (name, cached[0] - start[0], optimized[0] - cached[0], nearest_error,
                 adaround_error), file=sys.stderr, flush=True)
    return model, stats


def round_to_nearest(float_model, bits):
    model = copy.deepcopy(float_model)
    with torch.no_grad():
        for layer in model.layers.values():
            layer.weight.copy_(WeightGrid(layer.weight, bits).nearest(layer.weight))
    return model


# ------------------------------------------------------- activation quantization (A8)

def activation_quantizer_tensors(model):
    """Tensors qsim's default placement quantizes: the model input and every node output,
    except an output fused into a supergroup (Conv/Gemm -> Relu, Conv -> Clip, Add -> Relu,
    with the second op its sole reader) and outputs of MaxPool and Flatten, which keep
    their input's (already quantized) values."""
    readers = {}
    for _, inputs, _, op in model.steps:
        for name in inputs:
            readers.setdefault(name, []).append(op)
    fusions = {"Conv": ("Relu", "Clip"), "Gemm": ("Relu",), "Add": ("Relu",)}
    tensors = [model.input_name]
    for _, _, output, op in model.steps:
        read_by = readers.get(output, [])
        fused = (output != model.output_name and len(read_by) == 1
                 and read_by[0] in fusions.get(op, ()))
        if not fused and op not in ("MaxPool", "Flatten"):
            tensors.append(output)
    return tensors


class MinMaxObserver:
    def __init__(self, tensors):
        self.ranges = {name: [0.0, 0.0] for name in tensors}

    def __call__(self, name, value):
        if name in self.ranges:
            r = self.ranges[name]
            r[0], r[1] = min(r[0], float(value.min())), max(r[1], float(value.max()))
        return value


class ActivationFakeQuant:
    """Asymmetric fake quantization with qsim's encoding arithmetic (docs/SOURCES.md section 1)."""

    def __init__(self, ranges, bits):
        self.top = 2.0 ** bits - 1
        self.grids = {}
        for name, (low, high) in ranges.items():
            scale = np.float32((high - low) / self.top) if high > low else np.float32(1.0)
            self.grids[name] = (float(scale), float(np.rint(low / np.float64(scale))))

    def __call__(self, name, value):
        if name not in self.grids:
            return value
        scale, offset = self.grids[name]
        q = torch.clamp(torch.round(value / scale) - offset, 0.0, self.top)
        return (q + offset) * scale


@torch.no_grad()
def calibrate_activations(float_model, images, bits):
    """Activation grids from the float model's ranges, as qsim's calibrate() observes them."""
    observer = MinMaxObserver(activation_quantizer_tensors(float_model))
    float_model.tensor_hook = observer
    try:
        for first in range(0, len(images), CACHE_BATCH):
            float_model(images[first:first + CACHE_BATCH])
    finally:
        float_model.tensor_hook = None
    return ActivationFakeQuant(observer.ranges, bits)


# ---------------------------------------------------------------------- evaluation

@torch.no_grad()
def top1(model, images, labels):
    correct = 0
    for first in range(0, len(images), EVAL_BATCH):
        logits = model(images[first:first + EVAL_BATCH])
        correct += int((logits.argmax(1) == labels[first:first + EVAL_BATCH]).sum())
    return round(100.0 * correct / len(images), 2)


def accuracies(model, activation_quant, test_images, test_labels, act_bits):
    """Top-1 with float activations and, given activation grids, quantized ones."""
    result = {"a32": top1(model, test_images, test_labels)}
    if activation_quant is not None:
        model.tensor_hook = activation_quant
        result["a%d" % act_bits] = top1(model, test_images, test_labels)
        model.tensor_hook = None
    return result


# ---------------------------------------------------------------------------- main

def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("model", help="ONNX model (input [N,1,28,28] = pixel / 255)")
    ap.add_argument("--samples", type=int, default=1024, help="calibration images (first N)")
    ap.add_argument("--iterations", type=int, default=10000, help="per layer")
    ap.add_argument("--bits", type=int, default=4, help="weight bit width")
    ap.add_argument("--act-bits", type=int, default=8, help="0: no quantized-activation eval")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--batch", type=int, default=32, help="samples per iteration")
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--reg", type=float, default=0.01, help="rounding regularizer lambda")
    ap.add_argument("--beta-start", type=float, default=20.0)
    ap.add_argument("--beta-end", type=float, default=2.0)
    ap.add_argument("--warm-start", type=float, default=0.2)
    ap.add_argument("--calib", metavar="FILE.npy",
                    help="calibration samples: the first N of FILE.npy, not Fashion-MNIST")
    ap.add_argument("--no-eval", action="store_true", help="skip the top-1 evaluation")
    ap.add_argument("--write-calib", metavar="FILE.npy",
                    help="also save the calibration images (float32 [N,1,28,28])")
    args = ap.parse_args()
    if args.samples < 1 or args.iterations < 1 or not 2 <= args.bits <= 16:
        ap.error("--samples and --iterations must be positive, --bits in 2..16")
    return args


def evaluate(float_model, rounded, calibration, args):
    """Top-1 on the Fashion-MNIST test images: float, nearest and AdaRound weights."""
    test_images, test_labels = fmnist_images("t10k"), fmnist_labels("t10k")
    activation_quant = (calibrate_activations(float_model, calibration, args.act_bits)
                        if args.act_bits else None)
    return {
        "float": top1(float_model, test_images, test_labels),
        "nearest": accuracies(round_to_nearest(float_model, args.bits), activation_quant,
                              test_images, test_labels, args.act_bits),
        "adaround": accuracies(rounded, activation_quant, test_images, test_labels,
                               args.act_bits),
    }


def main():
    args = parse_args()
    tune_malloc()  # torch frees and re-allocates MB-sized tensors every iteration
    torch.set_num_threads(args.threads)
    torch.set_num_interop_threads(1)
    torch.manual_seed(args.seed)

    try:
        float_model = load_onnx_as_torch(args.model)
    except (ConversionError, OSError) as e:
        sys.exit("adaround_torch: %s" % e)
    if args.calib:
        calibration = torch.from_numpy(np.array(np.load(args.calib, mmap_mode="r")[:args.samples]))
    else:
        calibration = fmnist_images("train", args.samples)
    if args.write_calib:
        save_npy_atomically(args.write_calib, calibration.numpy())

    rounded, layer_stats = adaround(float_model, calibration, args)
    total = {key: sum(s[key] for s in layer_stats)
             for key in ("cache_seconds", "optimize_seconds", "cpu_seconds")}
    evaluated = None if args.no_eval else evaluate(float_model, rounded, calibration, args)
    report = {
        "implementation": "torch %s" % torch.__version__,
        "model": os.path.basename(args.model),
        "weight_bits": args.bits, "per_channel": True,
        "samples": len(calibration), "iterations": args.iterations, "batch": args.batch,
        "threads": args.threads, "seed": args.seed, "layers": len(layer_stats),
        "adaround_seconds": round(total["cache_seconds"] + total["optimize_seconds"], 3),
        "adaround_cpu_seconds": round(total["cpu_seconds"], 3),
        "cache_seconds": round(total["cache_seconds"], 3),
        "optimize_seconds": round(total["optimize_seconds"], 3),
        "ms_per_iteration_all_layers": round(1000.0 * total["optimize_seconds"] / args.iterations,
                                             3),
        "top1": evaluated,
        "per_layer": layer_stats,
    }
    json.dump(report, sys.stdout, indent=1)
    sys.stdout.write("\n")


if __name__ == "__main__":
    main()
