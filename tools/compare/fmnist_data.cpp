#include "fmnist_data.h"

#include <algorithm>
#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "graph/bn_fold.h"
#include "graph/onnx_import.h"
#include "io/idx.h"
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

const Node& node_named(const Model& m, const std::string& name) {
  for (const Node& n : m.graph.nodes)
    if (n.name == name) return n;
  fail(ErrorCode::kInvalidArgument, "the model has no node '" + name + "'");
}

// Output channel i of Conv `first` times f_i, input channel i of Conv `second` divided by it.
void rescale_pair(Model& m, const std::string& first, const std::string& second,
                  std::mt19937& rng) {
  const Node& a = node_named(m, first);
  const Node& b = node_named(m, second);
  Tensor w1 = m.graph.initializers.at(a.inputs.at(1)).clone();
  Tensor b1 = m.graph.initializers.at(a.inputs.at(2)).clone();
  Tensor w2 = m.graph.initializers.at(b.inputs.at(1)).clone();
  std::uniform_real_distribution<double> exponent(-5.0, 5.0);
  const int64_t channels = w1.dim(0), per_output = w1.size() / channels;
  const int64_t taps = w2.size() / (w2.dim(0) * w2.dim(1));
  for (int64_t i = 0; i < channels; ++i) {
    const float f = static_cast<float>(std::exp2(exponent(rng)));
    for (int64_t k = 0; k < per_output; ++k) w1.data<float>()[i * per_output + k] *= f;
    b1.data<float>()[i] *= f;
    for (int64_t o = 0; o < w2.dim(0); ++o)
      for (int64_t t = 0; t < taps; ++t) w2.data<float>()[(o * w2.dim(1) + i) * taps + t] /= f;
  }
  m.graph.initializers[a.inputs[1]] = std::move(w1);
  m.graph.initializers[a.inputs[2]] = std::move(b1);
  m.graph.initializers[b.inputs[1]] = std::move(w2);
}

}  // namespace

Model rescaled_resnet(uint32_t seed) {
  Model m = fold_batch_norms(load_reference_model("resnet_fmnist")).model;
  std::mt19937 rng(seed);
  for (const char* block : {"layer1", "layer2", "layer3"})
    rescale_pair(m, std::string("/") + block + "/conv1/conv1.0/Conv",
                 std::string("/") + block + "/conv2/conv2.0/Conv", rng);
  return m;
}

}  // namespace qsim::tools
