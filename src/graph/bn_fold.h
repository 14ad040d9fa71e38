// Batch-norm folding (docs/SOURCES.md section 5), as on-target converters do before quantizing:
// a BatchNormalization in inference form that directly follows a Conv, ConvTranspose or Gemm
// whose output nothing else reads is folded into that layer's weight and bias:
//   W' = W * g / sigma,  b' = beta + (b - mu) * g / sigma,  sigma = sqrt(var + eps)
// (per output channel, computed in double). The folded layer writes the BatchNormalization's
// output tensor, so every downstream tensor name is unchanged; a layer without a bias gets
// one. The input model is not modified.
#pragma once

#include <string>
#include <vector>

#include "graph/graph.h"

namespace qsim {

struct FoldedBatchNorm {
  std::string batch_norm;  // the BatchNormalization node's name (its output when unnamed)
  std::string layer;       // the Conv / ConvTranspose / Gemm node it was folded into
};

struct BatchNormFoldResult {
  Model model;
  std::vector<FoldedBatchNorm> folded;
  // BatchNormalization nodes left in place, each with the reason ("... follows a Relu").
  std::vector<std::string> skipped;
};

BatchNormFoldResult fold_batch_norms(const Model& model);

}  // namespace qsim
