#include "quant/ort_avx2_emulation.h"

#include "util/error.h"

namespace qsim {
namespace {

// The uint8 inputs a grid of `bitwidth` bits allows: [0, 2^bw - 1].
int32_t largest_input(const Encoding& input) {
  return static_cast<int32_t>(input.quant_max());
}

U8Grid u8_grid(const Encoding& input) {
  return {input.channels[0].scale, -input.channels[0].offset};
}

// Input scale * weight scale per output channel, as the int32 bias grid and ORT compute it.
std::vector<float> output_steps(const Encoding& input, const Encoding& weight, size_t outputs) {
  std::vector<float> steps;
  for (size_t o = 0; o < outputs; ++o)
    steps.push_back(input.channels[0].scale * weight.channels[weight.per_channel() ? o : 0].scale);
  return steps;
}

std::string describe_node(const Node& node) {
  return node.op_type + " '" + (node.name.empty() ? node.outputs[0] : node.name) + "'";
}

// The note for a layer, or "" when none of its pairs can leave int16.
std::string saturation_note(const Node& node, const std::vector<std::vector<WeightPair>>& pairs,
                            int32_t x_max) {
  PairSumRange worst;
  for (const auto& channel : pairs)
    for (const WeightPair& p : channel) {
      const PairSumRange range = pair_sum_range(p.w0, p.w1, x_max);
      worst.max = std::max(worst.max, range.max);
      worst.min = std::min(worst.min, range.min);
    }
  if (!worst.saturates()) return "";
  const int64_t sum = worst.worst();
  const std::string bound =
      sum > 0 ? "> " + std::to_string(kInt16Max) : "< " + std::to_string(kInt16Min);
  return describe_node(node) + ": u8 x s8 pair sums can reach " + std::to_string(sum) + " " +
         bound +
         " on ONNX Runtime's AVX2 kernels without VNNI (--target ort-avx2 avoids it, "
         "--emulate ort-avx2 predicts it)";
}

}  // namespace

OrtAvx2Emulation::OrtAvx2Emulation(const Model& prepared, const EncodingLookup& activation,
                                   const EncodingLookup& param) {
  const Graph& g = prepared.graph;
  for (const OrtIntegerLayer& layer : ort_integer_layers(prepared, activation, param)) {
    if (!pairs_saturate(layer.kernel)) continue;
    const Node& node = g.nodes[layer.node];
    const Tensor& weight = *g.find_initializer(node.inputs[1]);
    const int32_t x_max = largest_input(*layer.input);
    std::vector<std::vector<WeightPair>> pairs;
    bool any = false;
    for (const auto& bytes : weight_bytes_along_k(weight, *layer.weight, node)) {
      pairs.push_back(saturable_pairs(bytes, x_max));
      any = any || !pairs.back().empty();
    }
    if (!any) continue;
    notes_.push_back(saturation_note(node, pairs, x_max));
    const std::vector<float> steps = output_steps(*layer.input, *layer.weight, pairs.size());
    if (node.op_type == "Conv") {
      PairSaturationConv conv;
      conv.window = parse_window_attributes(node);
      conv.kernel_shape.assign(weight.shape().begin() + 2, weight.shape().end());
      conv.group = node.get_int("group", 1);
      conv.group_channels = weight.dim(1);
      conv.input = u8_grid(*layer.input);
      conv.pairs = std::move(pairs);
      conv.output_step = steps;
      convs_.emplace(layer.node, std::move(conv));
    } else {
      PairSaturationMatMul matmul;
      matmul.input = u8_grid(*layer.input);
      matmul.pairs = std::move(pairs);
      matmul.output_step = steps;
      matmul.alpha = node.op_type == "Gemm" ? node.get_float("alpha", 1.0f) : 1.0f;
      matmuls_.emplace(layer.node, std::move(matmul));
    }
  }
}

void OrtAvx2Emulation::apply(size_t node, const Node& n, const std::vector<const Tensor*>& inputs,
                             const std::vector<Tensor*>& outputs) const {
  if (auto conv = convs_.find(node); conv != convs_.end())
    add_conv_pair_saturation(n, conv->second, *inputs.at(0), *outputs.at(0));
  else if (auto matmul = matmuls_.find(node); matmul != matmuls_.end())
    add_matmul_pair_saturation(matmul->second, *inputs.at(0), *outputs.at(0));
}

}  // namespace qsim
