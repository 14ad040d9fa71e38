// Real data for the QuantSim and BN-folding tests (the reference models and Fashion-MNIST), and
// checks the QuantSim and AdaRound tests share.
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "graph/onnx_import.h"
#include "io/idx.h"
#include "quant/encoding.h"
#include "quant/quantsim.h"
#include "tensor/tensor.h"
#include "util/error.h"

namespace qsim::testdata {

inline std::string model_path(const std::string& file) {
  return std::string(QSIM_SOURCE_DIR) + "/models/" + file;
}

inline const std::vector<std::string>& reference_models() {
  static const std::vector<std::string> kModels = {"resnet_fmnist.onnx", "mobilenet_fmnist.onnx"};
  return kModels;
}

// Each file is read once per test run.
inline const Tensor& fmnist_raw(const std::string& file) {
  static std::map<std::string, Tensor> cache;
  auto it = cache.find(file);
  if (it == cache.end())
    it = cache.emplace(file, read_idx("/usr/share/datasets/fashion-mnist/" + file)).first;
  return it->second;
}

// Float [count, 1, 28, 28] images, pixel / 255.
inline Tensor test_images(int64_t first, int64_t count) {
  return idx_images_to_nchw(fmnist_raw("t10k-images-idx3-ubyte.gz"), first, count);
}
inline Tensor train_images(int64_t first, int64_t count) {
  return idx_images_to_nchw(fmnist_raw("train-images-idx3-ubyte.gz"), first, count);
}
inline int64_t test_label(int64_t i) {
  return fmnist_raw("t10k-labels-idx1-ubyte.gz").int_at(i);
}

inline int64_t argmax_row(const Tensor& logits, int64_t row) {
  const int64_t classes = logits.dim(1);
  const float* p = logits.data<float>() + row * classes;
  int64_t best = 0;
  for (int64_t c = 1; c < classes; ++c)
    if (p[c] > p[best]) best = c;
  return best;
}

// Whether every value of `t` is (q + offset) * scale for an integer q in [0, 2^bw - 1].
inline bool on_grid(const Tensor& t, const Encoding& enc) {
  Tensor copy = t.clone();
  fake_quantize(copy, enc);
  return std::equal(copy.data<float>(), copy.data<float>() + copy.size(), t.data<float>());
}

// The code of the qsim::Error `fn` throws; kInternal when it throws none, which the callers'
// checks do not expect.
// The message of the qsim::Error `fn` throws; "" when it throws none.
inline std::string error_message_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

inline ErrorCode error_code_of(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.code();
  }
  return ErrorCode::kInternal;
}

// `count` training images from `first`, in batches of `batch`.
inline BatchReader train_batches(int64_t first, int64_t count, int64_t batch) {
  auto next = std::make_shared<int64_t>(first);
  return [next, first, count, batch](std::vector<Tensor>& out) {
    if (*next >= first + count) return false;
    out = {train_images(*next, std::min(batch, first + count - *next))};
    *next += out[0].dim(0);
    return true;
  };
}

using RunFn = std::function<std::vector<Tensor>(const std::vector<Tensor>&)>;

// Top-1 in percent of `run` on the first `count` test images (a multiple of 250).
inline double test_top1(const RunFn& run, int64_t count) {
  constexpr int64_t kBatch = 250;
  int64_t correct = 0;
  for (int64_t first = 0; first < count; first += kBatch) {
    const Tensor logits = run({test_images(first, kBatch)}).at(0);
    for (int64_t i = 0; i < kBatch; ++i) correct += argmax_row(logits, i) == test_label(first + i);
  }
  return 100.0 * static_cast<double>(correct) / static_cast<double>(count);
}

}  // namespace qsim::testdata
