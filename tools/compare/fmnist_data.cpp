#include "fmnist_data.h"

#include <algorithm>
#include <string>
#include <vector>

#include "graph/onnx_import.h"
#include "io/idx.h"

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

}  // namespace qsim::tools
