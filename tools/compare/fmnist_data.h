// Fashion-MNIST as the reference models read it (Debian's dataset-fashion-mnist), for the
// tools and benchmarks that run those models on real images.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "quant/quantsim.h"
#include "tensor/tensor.h"

namespace qsim::tools {

// The reference models trained on Fashion-MNIST (models/NAME.onnx), in the tables' order.
inline constexpr const char* kReferenceModels[] = {"resnet_fmnist", "mobilenet_fmnist"};
// models/NAME.onnx of this source tree.
Model load_reference_model(const std::string& name);

// Float [count, 1, 28, 28] = pixel / 255: images [first, first + count) of the test or
// training set. Each file is read once per process.
Tensor fmnist_test_images(int64_t first, int64_t count);
Tensor fmnist_train_images(int64_t first, int64_t count);
int64_t fmnist_test_count();
int64_t fmnist_test_label(int64_t i);

// The class with the largest logit in row `row` of [N, classes] float logits.
int64_t argmax_row(const Tensor& logits, int64_t row);

// Top-1 in percent over every test image of `forward` (float images -> [N, classes] logits),
// in batches of `batch`.
double fmnist_test_top1(const std::function<Tensor(const Tensor& images)>& forward, int64_t batch);

// A reader of training images [0, count) in batches of `batch` (QuantSim's and AdaRound's
// data reader).
BatchReader training_batches(int64_t count, int64_t batch);

// Calibrates `sim` on training images [0, count) in batches of `batch`.
void calibrate_on_training_images(QuantSim& sim, int64_t count, int64_t batch);

// The reference ResNet with each block's conv1 -> Relu -> conv2 pair rescaled: output channel
// i of conv1 (weight and bias) times f_i, input channel i of conv2 divided by f_i, with
// f_i = 2^u and u uniform in [-5, 5) from `seed`. Relu(f x) = f Relu(x), so the model computes
// the same; its channel ranges lie up to 1000x apart, which per-tensor weight grids cannot
// fit and cross-layer equalization undoes (docs/EQUALIZATION.md). BatchNormalization folded.
Model rescaled_resnet(uint32_t seed);

// The MobileNet as CLE leaves it (BatchNormalization folded, ReLU6 replaced by Relu,
// equalized), then the inverse of CLE: each block's expand -> Relu -> dw and dw -> Relu ->
// project pair rescaled with factors 10^u, u uniform in [-1, 1) from `seed` (two decades).
// It computes what the equalized ReLU MobileNet computes; models/mobilenet_rescaled_fmnist.onnx
// is rescaled_mobilenet(1), written by qsim_make_rescaled_model.
Model rescaled_mobilenet(uint32_t seed);

}  // namespace qsim::tools
