// Cross-layer equalization (Nagel et al. 2019, arXiv:1906.04721; as AIMET and Quark run it;
// docs/EQUALIZATION.md): for two layers in a row, W1 then W2, with nothing between them or an
// activation f with f(s x) = s f(x) for s > 0 (Relu, LeakyRelu, PRelu, and Clip(0, 6) once
// replaced by Relu), output channel i of W1 and input channel i of W2 are rescaled by
//   s_i = sqrt(r1_i / r2_i)   (1 where either range is 0),
//   W1[i] /= s_i, b1[i] /= s_i, W2[:, i] *= s_i,
// r1_i = max |W1| over output channel i, r2_i = max |W2| over input channel i. The float model
// computes the same function (up to float rounding), and both channels end with the range
// sqrt(r1_i r2_i), so per-tensor weight grids fit every channel better.
//
// Layers: Conv (grouped and depthwise included: input channel i of a grouped Conv is column
// i % (C / group) of its group's filters), Gemm and MatMul with a constant 2-D weight. A
// depthwise Conv between two layers is in two pairs; repeating the passes (`steps`) converges
// to the cube-root solution docs/SOURCES.md gives for such triplets. Pairs whose weights, bias or
// middle tensor anything else reads are left alone, with a note.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "quant/model_transform.h"

namespace qsim {

struct CleOptions {
  // Passes over every pair (Quark's CLESteps); -1: until no scale moves by more than 1e-6,
  // at most kMaxCleSteps passes.
  int steps = -1;
  // Clip(0, 6) (ReLU6) between two layers becomes Relu so that the pair can be equalized, as
  // AIMET does by default; false leaves such pairs alone.
  bool replace_relu6 = true;
  // Count the first layer's bias in its output-channel range r1_i = max(max |W1[i]|, |b1_i|)
  // (Quark's CLEScaleAppendBias), for grids that hold the bias with the weight; off: weights
  // only, as AIMET and the paper.
  bool include_bias = false;
  // High-bias absorption after equalization (Nagel et al. 2019, section 4.1; docs/SOURCES.md):
  // for a pair with a Relu between (ReLU6 replaced included), channel i's
  // c_i = max(0, beta_i - 3 |gamma_i|), with the first layer's BatchNormalization statistics
  // scaled as CLE scaled the channel, moves from the first layer's bias into the second's
  // (b1_i -= c_i, b2 += W2[:, i] c_i): the same function wherever the channel's input to the
  // Relu exceeds c_i, as it does for nearly all values when BN's statistics hold, and narrower
  // activation ranges. Pairs whose first layer has no statistics (no BN was folded into it) or
  // whose second layer has no bias are left alone. Needs `statistics`.
  bool high_bias_absorption = true;
  // The BatchNormalization statistics of the input model's layers (batch_norm_statistics of
  // the model before folding). CLE outputs them rescaled (and shifted by the absorbed biases)
  // for the techniques after it; null: no absorption, and the output has no statistics.
  std::shared_ptr<const BatchNormStatistics> statistics;
};

inline constexpr int kMaxCleSteps = 100;

// Recorded as "cle" with options pairs, steps, relu6_replaced; notes give each pair's channel
// ranges before and after. Throws kInvalidArgument for steps 0 or below -1.
TransformOutcome equalize_cross_layer(const Model& model, const CleOptions& options);

// As a transform: without options.statistics, those the transforms before it made (BN
// folding's) feed high-bias absorption and come out rescaled.
inline ModelTransform cross_layer_equalization(CleOptions options) {
  return [options](const TransformInput& input) {
    CleOptions with = options;
    if (!with.statistics) with.statistics = input.statistics;
    return equalize_cross_layer(input.model, with);
  };
}

// CLE's step with given factors: output channel i of layer `first` (its weight and bias) times
// factors[i], input channel i of layer `second` divided by factors[i] (nodes named so, layers
// CLE can pair, the weights replaced by copies). With nothing or a Relu-like activation between
// them the model computes the same: the inverse of CLE, which tests and the rescaled reference
// model use to spread channel ranges. kInvalidArgument naming the node for a node that is not
// such a layer or a factor count that is not its output channel count.
void scale_channel_pair(Model& model, const std::string& first, const std::string& second,
                        const std::vector<double>& factors);

}  // namespace qsim
