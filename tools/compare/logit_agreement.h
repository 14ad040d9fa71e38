// How closely qsim's simulated logits match ONNX Runtime's on Fashion-MNIST test images: the
// one comparison qsim_sim_vs_ort and qsim_target_vs_ort judge by.
#pragma once

#include <cstdint>

#include "tensor/tensor.h"

namespace qsim::tools {

// At least this share of top-1 agreement and of logits within one output step passes.
constexpr double kRequiredFraction = 0.999;
// One output step, widened for the float noise of dequantizing on two runtimes.
constexpr double kStepTolerance = 1.001;

struct Agreement {
  int64_t images = 0;
  int64_t same_class = 0;
  int64_t elements = 0;
  int64_t within_one_step = 0;
  int64_t identical = 0;
  int64_t ort_correct = 0;  // images whose ONNX Runtime top-1 is the test label
  int64_t sim_correct = 0;  // the same for qsim
  double max_steps = 0;     // the largest difference, in output steps

  static double share(int64_t count, int64_t of) {
    return static_cast<double>(count) / static_cast<double>(of);
  }
  bool passes() const {
    return share(same_class, images) >= kRequiredFraction &&
           share(within_one_step, elements) >= kRequiredFraction;
  }
};

// `sim` and `ort`: [images, classes] logits of the first test images; `step`: the scale of the
// logits' output encoding.
Agreement compare_logits(const Tensor& sim, const Tensor& ort, float step);

}  // namespace qsim::tools
