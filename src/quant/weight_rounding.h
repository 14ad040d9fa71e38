// The model with quantization-ready float weights, as AIMET exports it next to its encodings:
// the same graph and tensor names, every parameter that has an encoding replaced by its
// fake-quantized value. Each such value is exactly (q + offset) * scale for an integer q in
// [0, 2^bw - 1], so a converter that quantizes it again with the encodings gets the very
// integers the simulation used.
#pragma once

#include <string>

#include "graph/graph.h"
#include "quant/encoding_set.h"

namespace qsim {

// Throws kInvalidArgument naming `what` unless the encoding is a usable grid: a bit width
// check_bitwidth accepts (32 included), at least one channel, finite positive scales and
// AIMET offsets in [-(2^bw - 1), 0].
void check_grid(const Encoding& encoding, const std::string& what);

// The float initializer a parameter encoding refers to, after check_grid. Throws
// kInvalidArgument when the model has no such initializer, when it is not float32, or when
// the encoding's axis and channel count do not fit its shape.
const Tensor& quantized_initializer(const Graph& graph, const TensorEncoding& param);

// A copy of `model` whose encoded parameters (weights, and biases when they have an
// encoding) are snapped to their grids. Activation encodings are not used.
Model round_weights_to_grid(const Model& model, const EncodingSet& encodings);

}  // namespace qsim
