// Load-time graph rewrites for plain float inference (EngineOptions::fuse_layers), as ONNX
// Runtime makes at its "all" optimization level:
// - BatchNormalization folded into the Conv before it (graph/bn_fold.h);
// - a Relu, a Clip with constant bounds, a HardSwish, or the HardSigmoid + Mul pair that
//   spells HardSwish, which alone reads a Conv's output, becomes the activation of a
//   FusedConv (domain kQsimDomain) that replaces the Conv and writes the activation's output.
// The rewritten graph computes each fused activation with the expressions of the unfused
// kernels; only folding BatchNormalization changes results (by float rounding).
//
// Intermediate tensors disappear, so this is for inference only: QuantSim, which observes and
// quantizes every tensor through RunHooks, runs the graph as it is.
#pragma once

#include "graph/graph.h"

namespace qsim {

Model fuse_for_inference(const Model& model);

}  // namespace qsim
