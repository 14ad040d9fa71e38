// SmoothQuant (Xiao et al. 2022, arXiv:2211.10438; docs/EQUALIZATION.md): for a Gemm or MatMul
// with a constant 2-D weight whose input is an activation, the outliers of input channel j
// (the input's last axis) migrate into the weight:
//   s_j = max|X_j|^alpha / max|W_j|^(1 - alpha)   (1 where either maximum is 0),
//   X_j / s_j, W_j * s_j (row j of a [K, N] weight, column j of Gemm's transB [N, K]).
// The division folds into the layer before, when the input is that layer's output (through
// nothing or a Relu-like activation) and the layer's channels can be rescaled
// (techniques/layer_channels.h); otherwise a Mul by the constant 1/s is inserted before the
// layer. The float model computes the same, up to rounding.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "quant/model_transform.h"
#include "quant/quantsim.h"

namespace qsim {

// Per Gemm / MatMul (node name), max |x| per channel of its input's last axis over the data.
using ActivationMaxima = std::map<std::string, std::vector<double>>;

// Runs `model` (float) over at most `samples` samples of `next_batch`, read through a
// CalibrationStream with `nan_policy` (quant/calibration_stream.h); `progress` after each batch
// with the samples measured and `samples`. kInvalidArgument for a reader that gives no sample,
// kNumeric for NaN/Inf in the model inputs (kReject) or in the activations measured,
// kCancelled when `progress` returns false.
ActivationMaxima smooth_quant_statistics(const Model& model, const BatchReader& next_batch,
                                         int64_t samples, NanPolicy nan_policy = NanPolicy::kReject,
                                         const ProgressFn& progress = nullptr);

struct SmoothQuantOptions {
  double alpha = 0.5;  // the paper's default; 0.75-0.85 for some LLMs
};

// Recorded as "smooth_quant" with options alpha, layers, folded (divisions folded into the
// layer before), inserted (Mul nodes). Layers without statistics (or a transposed input) are
// left alone with a note. kInvalidArgument for alpha outside [0, 1].
TransformOutcome smooth_quant(const Model& model, const ActivationMaxima& maxima,
                              const SmoothQuantOptions& options);

inline ModelTransform smooth_quant_transform(std::shared_ptr<const ActivationMaxima> maxima,
                                             SmoothQuantOptions options) {
  return [maxima, options](const TransformInput& input) {
    return smooth_quant(input.model, *maxima, options);
  };
}

}  // namespace qsim
