#include "quant/ort_integer_ops.h"

#include <map>

#include "graph/op_info.h"
#include "util/error.h"

namespace qsim {
namespace {

bool uint8_input(const Encoding* e) {
  return e != nullptr && e->bitwidth == 8 && !e->per_channel() && e->channels.size() == 1;
}

bool int8_weight(const Encoding* e, const Node& node, const Tensor& weight) {
  return e != nullptr && e->bitwidth <= 8 &&
         (!e->per_channel() || e->axis == weight_channel_axis(node, weight.rank()));
}

bool zero_points_zero(const Encoding& weight) {
  for (const ChannelEncoding& c : weight.channels)
    if (onnx_zero_point(c, weight.bitwidth, true) != 0) return false;
  return true;
}

// ONNX Runtime fuses Conv -> Relu/Clip -> QuantizeLinear into QLinearConv when the activation
// is redundant: a uint8 zero point of 0 already clips at 0 (ReluQuantFusion, ClipQuantFusion).
bool output_quantized(const Node& node,
                      const std::map<std::string, std::vector<const Node*>>& readers,
                      const EncodingLookup& activation) {
  if (activation(node.outputs[0]) != nullptr) return true;
  auto it = readers.find(node.outputs[0]);
  if (it == readers.end() || it->second.size() != 1) return false;
  const Node& next = *it->second[0];
  if (next.op_type != "Relu" && next.op_type != "Clip") return false;
  const Encoding* after = activation(next.outputs[0]);
  return uint8_input(after) && after->channels[0].offset == 0;
}

OrtKernel conv_kernel(const Node& node, const Tensor& weight, const Encoding& encoding) {
  const int64_t group = node.get_int("group", 1);
  const int64_t out_channels = weight.dim(0);
  const int64_t group_channels = weight.dim(1);
  if (group_channels == 1 && out_channels == group) return OrtKernel::kConvDepthwise;
  if (group == 1 && zero_points_zero(encoding) && group_channels % 4 == 0 &&
      out_channels % 8 == 0 && out_channels >= 16)
    return OrtKernel::kConvSym;
  return OrtKernel::kConvIm2col;
}

}  // namespace

const char* ort_kernel_name(OrtKernel kernel) {
  switch (kernel) {
    case OrtKernel::kConvSym:
      return "QLinearConv, symmetric indirect kernel";
    case OrtKernel::kConvIm2col:
      return "QLinearConv, im2col + QGEMM";
    case OrtKernel::kConvDepthwise:
      return "QLinearConv, depthwise kernel";
    case OrtKernel::kQgemm:
      return "QGEMM";
  }
  return "?";
}

bool pairs_saturate(OrtKernel kernel) {
  return kernel != OrtKernel::kConvDepthwise;
}

std::vector<OrtIntegerLayer> ort_integer_layers(const Model& model,
                                                const EncodingLookup& activation,
                                                const EncodingLookup& param) {
  const Graph& g = model.graph;
  std::map<std::string, std::vector<const Node*>> readers;
  for (const Node& node : g.nodes)
    for (const std::string& in : node.inputs) readers[in].push_back(&node);
  std::vector<OrtIntegerLayer> layers;
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    const Node& node = g.nodes[n];
    const OpInfo* info = find_op_info(node);
    if (info == nullptr || info->ort_u8s8 == OrtU8S8::kNo) continue;
    const bool conv = node.op_type == "Conv";
    if (!node.has_input(1) || node.outputs.empty()) continue;
    const Tensor* weight = g.find_initializer(node.inputs[1]);
    const Encoding* input = activation(node.inputs[0]);
    const Encoding* weight_grid = param(node.inputs[1]);
    if (weight == nullptr || !uint8_input(input) || !int8_weight(weight_grid, node, *weight))
      continue;
    if (conv) {
      if (weight->rank() < 3 || !output_quantized(node, readers, activation)) continue;
      layers.push_back({n, conv_kernel(node, *weight, *weight_grid), input, weight_grid});
    } else {
      if (weight->rank() != 2 || node.get_int("transA", 0) != 0) continue;
      layers.push_back({n, OrtKernel::kQgemm, input, weight_grid});
    }
  }
  return layers;
}

std::vector<std::vector<int32_t>> weight_bytes_along_k(const Tensor& weight,
                                                       const Encoding& encoding, const Node& node) {
  const int axis = weight_channel_axis(node, weight.rank());
  const int64_t outputs = weight.dim(axis);
  const int64_t depth = weight.size() / outputs;
  const int64_t taps = node.op_type == "Conv" ? depth / weight.dim(1) : 1;
  const int64_t channels = depth / taps;  // a Conv's input channels per group, else K
  const int32_t half_range = int32_t{1} << (encoding.bitwidth - 1);
  std::vector<std::vector<int32_t>> bytes(static_cast<size_t>(outputs),
                                          std::vector<int32_t>(static_cast<size_t>(depth)));
  const float* w = weight.data<float>();
  for (int64_t o = 0; o < outputs; ++o) {
    const ChannelEncoding& grid =
        encoding.channels[encoding.per_channel() ? static_cast<size_t>(o) : 0];
    for (int64_t c = 0; c < channels; ++c)
      for (int64_t t = 0; t < taps; ++t) {
        // Element (o, c, t) of the weight, K position t * channels + c.
        int64_t index = 0;
        if (node.op_type == "Conv")
          index = (o * channels + c) * taps + t;
        else
          index = axis == 0 ? o * depth + c : c * outputs + o;
        bytes[static_cast<size_t>(o)][static_cast<size_t>(t * channels + c)] =
            static_cast<int32_t>(quantize_value(w[index], grid, encoding.quant_max())) - half_range;
      }
  }
  return bytes;
}

}  // namespace qsim
