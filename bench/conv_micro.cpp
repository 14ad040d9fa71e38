// Per-layer timings of the conv-family kernels on the shapes of the Fashion-MNIST reference
// models (models/*.onnx), each layer run alone as a one-node model.
//
//   bench_conv_micro [--iters N] [--filter TEXT]
//
// Prints the median and best time per call for batch 1 and 64 on 1 and 2 threads, and for
// convolutions the GFLOP/s that makes (from the best time). A call includes copying the
// output out of the engine, which weighs on the cheap layers.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "../tests/core/single_op_model.h"
#include "runtime/engine.h"

using namespace qsim;
using namespace qsim::testing;

namespace {

struct Layer {
  std::string name;
  std::string op;
  Shape x;  // one image
  std::map<std::string, Attribute> attributes;
  std::vector<Shape> weights;  // constant inputs after x
  double macs_per_image = 0;
};

Layer conv(const std::string& name, int64_t c, int64_t m, int64_t size, int64_t k, int64_t stride,
           int64_t group = 1) {
  const int64_t pad = k / 2;
  const int64_t out = (size + 2 * pad - k) / stride + 1;
  return {name,
          "Conv",
          {c, size, size},
          {{"kernel_shape", Attribute::of_ints({k, k})},
           {"strides", Attribute::of_ints({stride, stride})},
           {"pads", Attribute::of_ints({pad, pad, pad, pad})},
           {"group", Attribute::of_int(group)}},
          {{m, c / group, k, k}, {m}},
          static_cast<double>(m * (c / group) * k * k * out * out)};
}

std::vector<Layer> layers() {
  return {
      conv("resnet stem 1->16 3x3 @28", 1, 16, 28, 3, 1),
      conv("resnet l1 16->16 3x3 @14", 16, 16, 14, 3, 1),
      conv("resnet l2 16->32 3x3 s2 @14", 16, 32, 14, 3, 2),
      conv("resnet l2 32->32 3x3 @7", 32, 32, 7, 3, 1),
      conv("resnet l2 sc 16->32 1x1 s2", 16, 32, 14, 1, 2),
      conv("resnet l3 32->64 3x3 s2 @7", 32, 64, 7, 3, 2),
      conv("resnet l3 64->64 3x3 @4", 64, 64, 4, 3, 1),
      conv("mobile stem 1->16 3x3 s2 @28", 1, 16, 28, 3, 2),
      conv("mobile expand 16->48 1x1 @14", 16, 48, 14, 1, 1),
      conv("mobile dw 48 3x3 @14", 48, 48, 14, 3, 1, 48),
      conv("mobile dw 64 3x3 s2 @14", 64, 64, 14, 3, 2, 64),
      conv("mobile project 48->16 1x1 @14", 48, 16, 14, 1, 1),
      conv("mobile dw 96 3x3 @7", 96, 96, 7, 3, 1, 96),
      conv("mobile head 48->128 1x1 @4", 48, 128, 4, 1, 1),
      {"maxpool 2x2 16 @28",
       "MaxPool",
       {16, 28, 28},
       {{"kernel_shape", Attribute::of_ints({2, 2})}, {"strides", Attribute::of_ints({2, 2})}},
       {},
       0},
      {"batchnorm 16 @28", "BatchNormalization", {16, 28, 28}, {}, {{16}, {16}, {16}, {16}}, 0},
      {"globalaveragepool 128 @4", "GlobalAveragePool", {128, 4, 4}, {}, {}, 0},
      {"gemm 128->10", "Gemm", {128}, {{"transB", Attribute::of_int(1)}}, {{10, 128}, {10}}, 1280},
  };
}

Tensor filled(Shape shape, float scale) {
  Tensor t(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i)
    t.data<float>()[i] = scale * static_cast<float>((i * 37) % 101) / 101.0f + 0.01f;
  return t;
}

// The layer as a one-node model, its weights constants.
std::shared_ptr<Model> layer_model(const Layer& layer) {
  std::vector<std::string> inputs = {"x"};
  std::map<std::string, Tensor> weights;
  for (size_t i = 0; i < layer.weights.size(); ++i) {
    const std::string name = "w" + std::to_string(i);
    inputs.push_back(name);
    weights[name] = filled(layer.weights[i], 0.1f);
  }
  return one_node(layer.op, 13, inputs, layer.attributes, weights);
}

}  // namespace

int main(int argc, char** argv) {
  int iters = 200;
  std::string filter;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--iters" && i + 1 < argc)
      iters = std::stoi(argv[++i]);
    else if (a == "--filter" && i + 1 < argc)
      filter = argv[++i];
  }
  std::printf("%-32s %5s %3s %10s %10s %8s\n", "layer", "batch", "thr", "median_us", "best_us",
              "GFLOP/s");
  for (const Layer& layer : layers()) {
    if (layer.name.find(filter) == std::string::npos) continue;
    auto model = layer_model(layer);
    for (int64_t batch : {1, 64}) {
      Shape x_shape = layer.x;
      x_shape.insert(x_shape.begin(), batch);
      const Tensor x = filled(x_shape, 1.0f);
      for (int threads : {1, 2}) {
        Engine engine(model, EngineOptions{threads});
        const int n = batch == 1 ? iters * 10 : iters;
        for (int i = 0; i < n / 10 + 1; ++i) engine.run({x});
        std::vector<double> us;
        for (int i = 0; i < n; ++i) {
          const auto start = std::chrono::steady_clock::now();
          engine.run({x});
          us.push_back(
              std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - start)
                  .count());
        }
        std::sort(us.begin(), us.end());
        const double gflops = 2.0 * layer.macs_per_image * static_cast<double>(batch) / us[0] / 1e3;
        std::printf("%-32s %5lld %3d %10.2f %10.2f %8.1f\n", layer.name.c_str(),
                    static_cast<long long>(batch), threads, us[us.size() / 2], us[0], gflops);
        std::fflush(stdout);
      }
    }
  }
  return 0;
}
