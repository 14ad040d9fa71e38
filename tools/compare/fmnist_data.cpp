#include "fmnist_data.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "graph/bn_fold.h"
#include "graph/onnx_import.h"
#include "io/idx.h"
#include "techniques/cross_layer_equalization.h"
#include "util/error.h"

namespace qsim::tools {
namespace {

Tensor read_fmnist(const char* file) {
  return read_idx(std::string("/usr/share/datasets/fashion-mnist/") + file);
}

const Tensor& test_images() {
  static const Tensor images = read_fmnist("t10k-images-idx3-ubyte.gz");
  return images;
}

const Tensor& train_images() {
  static const Tensor images = read_fmnist("train-images-idx3-ubyte.gz");
  return images;
}

const Tensor& test_labels() {
  static const Tensor labels = read_fmnist("t10k-labels-idx1-ubyte.gz");
  return labels;
}

}  // namespace

Tensor fmnist_test_images(int64_t first, int64_t count) {
  return idx_images_to_nchw(test_images(), first, count);
}

Tensor fmnist_train_images(int64_t first, int64_t count) {
  return idx_images_to_nchw(train_images(), first, count);
}

int64_t fmnist_test_count() {
  return test_images().dim(0);
}

int64_t fmnist_test_label(int64_t i) {
  return test_labels().int_at(i);
}

int64_t argmax_row(const Tensor& logits, int64_t row) {
  const int64_t classes = logits.dim(1);
  const float* p = logits.data<float>() + row * classes;
  return std::max_element(p, p + classes) - p;
}

double fmnist_test_top1(const std::function<Tensor(const Tensor& images)>& forward, int64_t batch) {
  const int64_t images = fmnist_test_count();
  int64_t correct = 0;
  for (int64_t first = 0; first < images; first += batch) {
    const int64_t count = std::min(batch, images - first);
    const Tensor logits = forward(fmnist_test_images(first, count));
    for (int64_t i = 0; i < count; ++i)
      correct += argmax_row(logits, i) == fmnist_test_label(first + i);
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(images);
}

BatchReader training_batches(int64_t count, int64_t batch) {
  return [count, batch, next = int64_t{0}](std::vector<Tensor>& inputs) mutable {
    if (next >= count) return false;
    const int64_t n = std::min(batch, count - next);
    inputs.push_back(fmnist_train_images(next, n));
    next += n;
    return true;
  };
}

void calibrate_on_training_images(QuantSim& sim, int64_t count, int64_t batch) {
  sim.calibrate(training_batches(count, batch), nullptr);
}

Model load_reference_model(const std::string& name) {
  return load_onnx_file(std::string(QSIM_SOURCE_DIR) + "/models/" + name + ".onnx");
}

namespace {

// Factors 2^u or 10^u, u uniform in [-spread, spread), one per output channel of `layer`.
std::vector<double> random_factors(const Model& m, const std::string& layer, double base,
                                   double spread, std::mt19937& rng) {
  for (const Node& n : m.graph.nodes)
    if (n.name == layer) {
      const int64_t channels = m.graph.initializers.at(n.inputs.at(1)).dim(0);
      std::uniform_real_distribution<double> exponent(-spread, spread);
      std::vector<double> factors(static_cast<size_t>(channels));
      for (double& f : factors) f = std::pow(base, exponent(rng));
      return factors;
    }
  fail(ErrorCode::kInvalidArgument, "the model has no node '" + layer + "'");
}

}  // namespace

Model rescaled_resnet(uint32_t seed) {
  Model m = fold_batch_norms(load_reference_model("resnet_fmnist")).model;
  std::mt19937 rng(seed);
  for (const char* block : {"layer1", "layer2", "layer3"}) {
    const std::string first = std::string("/") + block + "/conv1/conv1.0/Conv";
    scale_channel_pair(m, first, std::string("/") + block + "/conv2/conv2.0/Conv",
                       random_factors(m, first, 2.0, 5.0, rng));
  }
  return m;
}

Model rescaled_mobilenet(uint32_t seed) {
  TransformOutcome equalized = equalize_cross_layer(
      fold_batch_norms(load_reference_model("mobilenet_fmnist")).model, CleOptions{});
  Model m = std::move(equalized.model);
  std::mt19937 rng(seed);
  for (int block = 0; block < 5; ++block) {
    const std::string prefix = "/blocks/blocks." + std::to_string(block);
    const std::string expand = prefix + "/expand/expand.0/Conv", dw = prefix + "/dw/dw.0/Conv",
                      project = prefix + "/project/project.0/Conv";
    scale_channel_pair(m, expand, dw, random_factors(m, expand, 10.0, 1.0, rng));
    scale_channel_pair(m, dw, project, random_factors(m, dw, 10.0, 1.0, rng));
  }
  return m;
}

}  // namespace qsim::tools
