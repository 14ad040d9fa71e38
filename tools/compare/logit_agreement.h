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
// With 16-bit activations ONNX Runtime computes each layer in float32 between its Q/DQ, and a
// step is so fine (2^-16 of a range) that the two runtimes' float rounding flips codes in every
// layer; steps of agreement say little there. The simulation passes when it is at least ten
// times closer to ONNX Runtime than the float model is (root-mean-square over the logits).
constexpr double kMaxRmsRatio = 0.1;

struct Agreement {
  int64_t images = 0;
  int64_t same_class = 0;
  int64_t elements = 0;
  int64_t within_one_step = 0;
  int64_t identical = 0;
  int64_t ort_correct = 0;  // images whose ONNX Runtime top-1 is the test label
  int64_t sim_correct = 0;  // the same for qsim
  double max_steps = 0;     // the largest difference, in output steps
  double rms = 0;           // root-mean-square difference

  static double share(int64_t count, int64_t of) {
    return static_cast<double>(count) / static_cast<double>(of);
  }
  bool passes() const {
    return share(same_class, images) >= kRequiredFraction &&
           share(within_one_step, elements) >= kRequiredFraction;
  }
};

// The root-mean-square difference of two tensors of one shape.
double rms_difference(const Tensor& a, const Tensor& b);

// `sim` and `ort`: [images, classes] logits of the first test images; `step`: the scale of the
// logits' output encoding.
Agreement compare_logits(const Tensor& sim, const Tensor& ort, float step);

}  // namespace qsim::tools
