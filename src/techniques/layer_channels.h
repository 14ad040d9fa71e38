// The layers whose channels techniques rescale (cross-layer equalization, high-bias
// absorption, SmoothQuant): Conv (grouped and depthwise included), Gemm and MatMul with a
// constant float weight no other node reads, and where each of their output and input
// channels lives in the weight.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "graph/graph.h"
#include "graph/tensor_uses.h"

namespace qsim {

// Where a layer's weight keeps each output and each input channel.
struct ChannelMap {
  enum class Kind { kConv, kRowsOut, kColumnsOut };
  Kind kind = Kind::kConv;
  int64_t outputs = 0, inputs = 0;
  // Conv [M, C / group, taps...]
  int64_t group_inputs = 1, group_outputs = 1, taps = 1;
  // Gemm / MatMul: a rows x columns matrix
  int64_t columns = 0;

  // f(w[k]) for every element k of output channel i.
  template <typename F>
  void each_output(int64_t i, F f) const {
    switch (kind) {
      case Kind::kConv:
        for (int64_t k = i * group_inputs * taps; k < (i + 1) * group_inputs * taps; ++k) f(k);
        return;
      case Kind::kRowsOut:
        for (int64_t k = i * columns; k < (i + 1) * columns; ++k) f(k);
        return;
      case Kind::kColumnsOut:
        for (int64_t r = 0; r < inputs; ++r) f(r * columns + i);
        return;
    }
  }
  // The output channel element k of the weight feeds.
  int64_t output_of(int64_t k) const {
    switch (kind) {
      case Kind::kConv:
        return k / (group_inputs * taps);
      case Kind::kRowsOut:
        return k / columns;
      case Kind::kColumnsOut:
        return k % columns;
    }
    return 0;
  }
  // f(w[k]) for every element k that multiplies input channel i.
  template <typename F>
  void each_input(int64_t i, F f) const {
    switch (kind) {
      case Kind::kConv: {
        const int64_t group = i / group_inputs, column = i % group_inputs;
        for (int64_t o = group * group_outputs; o < (group + 1) * group_outputs; ++o)
          for (int64_t t = 0; t < taps; ++t) f((o * group_inputs + column) * taps + t);
        return;
      }
      case Kind::kRowsOut:
        for (int64_t r = 0; r < outputs; ++r) f(r * columns + i);
        return;
      case Kind::kColumnsOut:
        for (int64_t k = i * columns; k < (i + 1) * columns; ++k) f(k);
        return;
    }
  }
};

// A layer CLE can rescale: its weight (and bias) constant float tensors no one else reads.
struct Layer {
  size_t node = 0;
  std::string weight;
  std::string bias;  // empty: none
  ChannelMap map;
};

// The layer at node `index`, or nullopt with `why` set (empty when the node is no such op).
std::optional<Layer> layer_of(const Graph& graph, const TensorUses& uses, size_t index,
                              std::string& why);

// A Clip's constant bounds (-inf / +inf where absent): inputs 1 and 2 from opset 11,
// attributes min and max before; nullopt when a bound is not a constant scalar.
struct ClipBounds {
  float low, high;
};
std::optional<ClipBounds> clip_bounds(const Graph& graph, const Node& clip);

// Output channel i of `first` times factors[i] (weight and bias), input channel i of `second`
// divided by it; a factor of 1 leaves the channel's values as they are.
void scale_layers(Graph& graph, const Layer& first, const Layer& second,
                  const std::vector<double>& factors);

}  // namespace qsim
