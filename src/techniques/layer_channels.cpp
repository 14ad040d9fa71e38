#include "techniques/layer_channels.h"

#include <limits>

#include "util/error.h"

namespace qsim {

namespace {

// A Clip's bound: input `input` (opset 11 on) or attribute `attr` (before), `fallback` when
// absent, nullopt when not a constant.
std::optional<float> clip_bound(const Graph& graph, const Node& clip, size_t input,
                                const char* attr, float fallback) {
  if (clip.has(attr)) return clip.get_float(attr, fallback);
  if (!clip.has_input(input)) return fallback;
  const Tensor* t = graph.find_initializer(clip.inputs[input]);
  if (t == nullptr || t->dtype() != DType::kFloat32 || t->size() != 1) return std::nullopt;
  return t->data<float>()[0];
}

}  // namespace

std::optional<ClipBounds> clip_bounds(const Graph& graph, const Node& clip) {
  const float inf = std::numeric_limits<float>::infinity();
  const std::optional<float> low = clip_bound(graph, clip, 1, "min", -inf);
  const std::optional<float> high = clip_bound(graph, clip, 2, "max", inf);
  if (!low || !high) return std::nullopt;
  return ClipBounds{*low, *high};
}

std::optional<Layer> layer_of(const Graph& graph, const TensorUses& uses, size_t index,
                              std::string& why) {
  const Node& node = graph.nodes[index];
  const bool conv = node.op_type == "Conv", gemm = node.op_type == "Gemm";
  if (!node.domain.empty() || (!conv && !gemm && node.op_type != "MatMul")) return std::nullopt;
  const Tensor* w = node.has_input(1) ? graph.find_initializer(node.inputs[1]) : nullptr;
  if (w == nullptr || w->dtype() != DType::kFloat32) {
    why = "its weight is not a constant float tensor";
    return std::nullopt;
  }
  if (!uses.private_to_one_reader(node.inputs[1])) {
    why = "its weight is shared";
    return std::nullopt;
  }
  Layer layer;
  layer.node = index;
  layer.weight = node.inputs[1];
  ChannelMap& m = layer.map;
  if (conv) {
    const int64_t group = node.get_int("group", 1);
    if (w->rank() < 3 || group < 1 || w->dim(0) % group != 0) {
      why = "its weight has an unexpected shape";
      return std::nullopt;
    }
    m.kind = ChannelMap::Kind::kConv;
    m.outputs = w->dim(0);
    m.group_outputs = w->dim(0) / group;
    m.group_inputs = w->dim(1);
    m.inputs = w->dim(1) * group;
    m.taps = w->size() / (w->dim(0) * w->dim(1));
  } else {
    if (w->rank() != 2) {
      why = "its weight is not a matrix";
      return std::nullopt;
    }
    const bool rows_out = gemm && node.get_int("transB", 0) != 0;  // [N, K]
    m.kind = rows_out ? ChannelMap::Kind::kRowsOut : ChannelMap::Kind::kColumnsOut;
    m.columns = w->dim(1);
    m.outputs = rows_out ? w->dim(0) : w->dim(1);
    m.inputs = rows_out ? w->dim(1) : w->dim(0);
  }
  if (node.op_type != "MatMul" && node.has_input(2)) {
    const Tensor* b = graph.find_initializer(node.inputs[2]);
    if (b == nullptr || b->dtype() != DType::kFloat32 || b->size() != m.outputs ||
        !uses.private_to_one_reader(node.inputs[2])) {
      why = "its bias is not a constant float vector of its own";
      return std::nullopt;
    }
    layer.bias = node.inputs[2];
  }
  return layer;
}

// Output channel i of `first` times factors[i] (weight and bias), input channel i of `second`
// divided by it; a factor of 1 leaves the channel's values as they are.
void scale_layers(Graph& graph, const Layer& first, const Layer& second,
                  const std::vector<double>& factors) {
  float* w1 = graph.initializers.at(first.weight).data<float>();
  float* w2 = graph.initializers.at(second.weight).data<float>();
  float* b1 = first.bias.empty() ? nullptr : graph.initializers.at(first.bias).data<float>();
  for (int64_t i = 0; i < first.map.outputs; ++i) {
    const double f = factors[static_cast<size_t>(i)];
    if (f == 1.0) continue;
    first.map.each_output(i, [&](int64_t k) { w1[k] = static_cast<float>(w1[k] * f); });
    if (b1 != nullptr) b1[i] = static_cast<float>(b1[i] * f);
    second.map.each_input(i, [&](int64_t k) { w2[k] = static_cast<float>(w2[k] / f); });
  }
}

}  // namespace qsim
