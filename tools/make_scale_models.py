#!/usr/bin/python3
"""ImageNet-sized scale models for bench/ (issue 24): ResNet-50 and MobileNetV2 at 224x224.

    /usr/bin/python3 tools/make_scale_models.py OUT_DIR [--models resnet50,mobilenetv2]
        [--calib FILE.npy --samples N]

Writes OUT_DIR/resnet50_224.onnx and OUT_DIR/mobilenetv2_224.onnx: input "input" float32
[N,3,224,224] (N dynamic), output "logits" float32 [N,1000], opset 13. The models are too
big to commit (ResNet-50: 25.6 M parameters, ~100 MB); bench/ builds them on demand (target
scale_models).

The architectures are torchvision's ResNet-50 (v1.5: stride on the 3x3 conv of a bottleneck)
and MobileNetV2 (width 1.0), written here in plain torch layer for layer with torchvision's
weight initialization, because Debian ships no torchvision and nothing may be downloaded.
The weights are random (fixed seed, not trained), so the logits mean nothing; what the
benches need is the layer structure, the sizes and realistic activation ranges. For the
ranges, the BatchNorm layers get random affine parameters and running statistics measured
by forward passes in train mode (cumulative average) over Fashion-MNIST training images
upsampled to 224x224 and replicated to 3 channels (scale_images below), so that in eval
mode every BatchNorm output is roughly normalized, as in a trained network.

--calib FILE.npy --samples N writes N such images (float32 [N,3,224,224]) to FILE.npy, one
chunk at a time (never all in memory; 10000 images are 6 GB), cycling over the 60000
training images: the calibration sets of bench/quantize_rss.sh and bench/adaround_vs_torch.sh.

Deterministic: fixed seeds and one torch thread; the same torch version writes the same bytes.
"""
import argparse
import os
import sys

import numpy as np
import torch
import torch.nn as nn

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from train_reference_models import DATA_DIR, read_idx  # noqa: E402

SEED = 20241224
OPSET = 13
SIZE = 224
BN_BATCHES, BN_BATCH = 4, 16  # train-mode passes that set the running statistics
CHUNK = 250  # images per chunk when writing a calibration .npy
MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training-set pixel mean / std (pixel / 255)


# ----------------------------------------------------------------------- data

def fmnist_train():
    return read_idx(os.path.join(DATA_DIR, "train-images-idx3-ubyte.gz"))


def scale_images(pixels):
    """[N,28,28] uint8 -> [N,3,224,224] float32: nearest upsampling by 8, the gray channel
    replicated to RGB, normalized by the data set's mean and std (as ImageNet models
    normalize theirs)."""
    x = (pixels.astype(np.float32) / np.float32(255.0) - np.float32(MEAN)) / np.float32(STD)
    x = x.repeat(SIZE // 28, axis=1).repeat(SIZE // 28, axis=2)
    return np.ascontiguousarray(np.broadcast_to(x[:, None], (len(x), 3, SIZE, SIZE)))


def write_calibration(path, samples):
    """N images into a .npy written chunk by chunk through a memory map."""
    pixels = fmnist_train()
    out = np.lib.format.open_memmap(path + ".tmp", mode="w+", dtype=np.float32,
                                    shape=(samples, 3, SIZE, SIZE))
    for first in range(0, samples, CHUNK):
        count = min(CHUNK, samples - first)
        indices = np.arange(first, first + count) % len(pixels)
        out[first:first + count] = scale_images(pixels[indices])
        out.flush()
    del out
    os.replace(path + ".tmp", path)


# ------------------------------------------------------------- ResNet-50 (torchvision)

class Bottleneck(nn.Module):
    expansion = 4

    def __init__(self, inplanes, planes, stride=1, downsample=None):
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, planes * self.expansion, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * self.expansion)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


class ResNet50(nn.Module):
    def __init__(self, layers=(3, 4, 6, 3), num_classes=1000):
        super().__init__()
        self.inplanes = 64
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        self.layer1 = self._make_layer(64, layers[0])
        self.layer2 = self._make_layer(128, layers[1], 2)
        self.layer3 = self._make_layer(256, layers[2], 2)
        self.layer4 = self._make_layer(512, layers[3], 2)
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(512 * Bottleneck.expansion, num_classes)
        for m in self.modules():  # torchvision's initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)

    def _make_layer(self, planes, blocks, stride=1):
        downsample = None
        if stride != 1 or self.inplanes != planes * Bottleneck.expansion:
            downsample = nn.Sequential(
                nn.Conv2d(self.inplanes, planes * Bottleneck.expansion, 1, stride, bias=False),
                nn.BatchNorm2d(planes * Bottleneck.expansion))
        layers = [Bottleneck(self.inplanes, planes, stride, downsample)]
        self.inplanes = planes * Bottleneck.expansion
        layers += [Bottleneck(self.inplanes, planes) for _ in range(1, blocks)]
        return nn.Sequential(*layers)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ----------------------------------------------------------- MobileNetV2 (torchvision)

def _make_divisible(v, divisor=8, min_value=None):
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class ConvBNReLU6(nn.Sequential):
    def __init__(self, cin, cout, kernel=3, stride=1, groups=1):
        super().__init__(nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups,
                                   bias=False),
                         nn.BatchNorm2d(cout), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, inp, oup, stride, expand_ratio):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        self.use_res_connect = stride == 1 and inp == oup
        layers = [ConvBNReLU6(inp, hidden, kernel=1)] if expand_ratio != 1 else []
        layers += [ConvBNReLU6(hidden, hidden, stride=stride, groups=hidden),
                   nn.Conv2d(hidden, oup, 1, bias=False), nn.BatchNorm2d(oup)]
        self.conv = nn.Sequential(*layers)

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


class MobileNetV2(nn.Module):
    SETTINGS = [[1, 16, 1, 1], [6, 24, 2, 2], [6, 32, 3, 2], [6, 64, 4, 2], [6, 96, 3, 1],
                [6, 160, 3, 2], [6, 320, 1, 1]]  # expansion t, channels c, repeats n, stride s

    def __init__(self, num_classes=1000, width_mult=1.0, round_nearest=8):
        super().__init__()
        input_channel = _make_divisible(32 * width_mult, round_nearest)
        self.last_channel = _make_divisible(1280 * max(1.0, width_mult), round_nearest)
        features = [ConvBNReLU6(3, input_channel, stride=2)]
        for t, c, n, s in self.SETTINGS:
            output_channel = _make_divisible(c * width_mult, round_nearest)
            for i in range(n):
                features.append(InvertedResidual(input_channel, output_channel,
                                                 s if i == 0 else 1, t))
                input_channel = output_channel
        features.append(ConvBNReLU6(input_channel, self.last_channel, kernel=1))
        self.features = nn.Sequential(*features)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(self.last_channel, num_classes))
        for m in self.modules():  # torchvision's initialization
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, x):
        x = nn.functional.adaptive_avg_pool2d(self.features(x), (1, 1))
        return self.classifier(torch.flatten(x, 1))


MODELS = {"resnet50": ResNet50, "mobilenetv2": MobileNetV2}


# ------------------------------------------------------------------ statistics, export

@torch.no_grad()
def set_batch_norm_statistics(model, generator):
    """Random BatchNorm affine parameters, then running statistics from train-mode passes
    (momentum None: the cumulative average over the passes)."""
    for m in model.modules():
        if isinstance(m, nn.BatchNorm2d):
            m.weight.copy_(0.5 + torch.rand(m.weight.shape, generator=generator))
            m.bias.copy_(0.1 * torch.randn(m.bias.shape, generator=generator))
            m.reset_running_stats()
            m.momentum = None
    pixels = fmnist_train()
    model.train()
    for b in range(BN_BATCHES):
        model(torch.from_numpy(scale_images(pixels[b * BN_BATCH:(b + 1) * BN_BATCH])))
    model.eval()


def export(name, out_dir):
    torch.manual_seed(SEED)
    generator = torch.Generator().manual_seed(SEED + 1)
    model = MODELS[name]()
    set_batch_norm_statistics(model, generator)
    path = os.path.join(out_dir, "%s_%d.onnx" % (name, SIZE))
    dummy = torch.zeros(1, 3, SIZE, SIZE)
    torch.onnx.export(model, dummy, path + ".tmp", opset_version=OPSET, input_names=["input"],
                      output_names=["logits"],
                      dynamic_axes={"input": {0: "N"}, "logits": {0: "N"}})
    os.replace(path + ".tmp", path)
    params = sum(p.numel() for p in model.parameters())
    print("make_scale_models: wrote %s (%.1f M parameters)" % (path, params / 1e6),
          file=sys.stderr)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("out_dir")
    ap.add_argument("--models", default="resnet50,mobilenetv2")
    ap.add_argument("--calib", metavar="FILE.npy", help="write a calibration set instead")
    ap.add_argument("--samples", type=int, default=1000)
    args = ap.parse_args()
    torch.set_num_threads(1)
    os.makedirs(args.out_dir, exist_ok=True)
    if args.calib:
        write_calibration(os.path.join(args.out_dir, args.calib), args.samples)
        return
    for name in args.models.split(","):
        if name not in MODELS:
            ap.error("unknown model '%s' (known: %s)" % (name, ", ".join(MODELS)))
        export(name, args.out_dir)


if __name__ == "__main__":
    main()
