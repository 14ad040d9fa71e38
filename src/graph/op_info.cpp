#include "graph/op_info.h"

#include <algorithm>
#include <cstring>
#include <vector>

namespace qsim {
namespace {

constexpr std::array<ParamSlot, 4> kWeightAndBias = {{{1, "weight"}, {2, "bias"}}};
constexpr std::array<ParamSlot, 4> kWeightOnly = {{{1, "weight"}}};

// A row for an op without parameters or layer facts.
constexpr OpInfo plain(const char* op_type, bool per_image) {
  OpInfo info;
  info.op_type = op_type;
  info.per_image = per_image;
  return info;
}

constexpr OpInfo in_domain(const char* domain, OpInfo info) {
  info.domain = domain;
  return info;
}

constexpr OpInfo layer(const char* op_type, ChannelAxis axis, bool bias, OrtU8S8 u8s8) {
  OpInfo info;
  info.op_type = op_type;
  info.params = bias ? kWeightAndBias : kWeightOnly;
  info.channel_axis = axis;
  info.linear_layer = true;
  info.int32_bias = bias;
  info.ort_u8s8 = u8s8;
  info.per_image = true;
  return info;
}

constexpr OpInfo normalization(const char* op_type, bool per_image) {
  OpInfo info;
  info.op_type = op_type;
  info.params = kWeightAndBias;
  info.channel_axis = ChannelAxis::kVectorFirst;
  info.per_image = per_image;
  return info;
}

std::vector<OpInfo> make_table() {
  std::vector<OpInfo> rows = {
      layer("Conv", ChannelAxis::kFirst, true, OrtU8S8::kUnlessDepthwise),
      layer("ConvTranspose", ChannelAxis::kSecond, true, OrtU8S8::kNo),
      layer("Gemm", ChannelAxis::kGemm, true, OrtU8S8::kYes),
      layer("MatMul", ChannelAxis::kLast, false, OrtU8S8::kYes),
      // Normalizations: scale and offset per channel. BatchNormalization's statistics are
      // parameters too (folded, or quantized as AIMET names them).
      [] {
        OpInfo bn = normalization("BatchNormalization", true);
        bn.params = {{{1, "weight"}, {2, "bias"}, {3, "running_mean"}, {4, "running_var"}}};
        return bn;
      }(),
      // LayerNormalization has a kernel (runtime/ops/normalization.cpp); the other two have
      // none yet, their parameters are quantized all the same.
      normalization("LayerNormalization", false),
      normalization("GroupNormalization", false),
      normalization("InstanceNormalization", false),
      [] {
        OpInfo prelu = plain("PRelu", true);
        prelu.params = kWeightOnly;
        return prelu;
      }(),
      plain("Add", true),
      plain("AveragePool", true),
      plain("Cast", true),
      plain("Clip", true),
      plain("Concat", true),
      plain("Constant", false),
      plain("ConstantOfShape", false),
      plain("DequantizeLinear", true),
      plain("Div", true),
      plain("Erf", true),
      plain("Flatten", true),
      // An embedding table (a constant float `data`) is quantized as a weight, per tensor
      // (docs/TRANSFORMERS.md). Gathers of activations or of integer constants (shapes) have
      // no float parameter to quantize.
      [] {
        OpInfo gather = plain("Gather", true);
        gather.params = {{{0, "weight"}}};
        return gather;
      }(),
      plain("GlobalAveragePool", true),
      plain("HardSigmoid", true),
      plain("HardSwish", true),
      plain("Identity", true),
      plain("LeakyRelu", true),
      plain("Max", true),
      plain("MaxPool", true),
      plain("Min", true),
      plain("Mul", true),
      plain("Pad", false),
      plain("Pow", true),
      plain("QuantizeLinear", true),
      plain("ReduceMean", true),
      plain("Relu", true),
      plain("Reshape", true),
      plain("Resize", true),
      plain("Shape", false),
      plain("Sigmoid", true),
      plain("Slice", false),
      plain("Softmax", true),
      plain("Split", true),
      plain("Sqrt", true),
      plain("Squeeze", true),
      plain("Sub", true),
      plain("Tanh", true),
      plain("Transpose", true),
      plain("Unsqueeze", true),
      // ONNX Runtime's 16-bit Q/DQ (quant/qdq_export.h).
      in_domain(kMicrosoftDomain, plain("DequantizeLinear", true)),
      in_domain(kMicrosoftDomain, plain("QuantizeLinear", true)),
      // qsim's own: a Conv with what followed it fused (runtime/graph_fusion.h).
      in_domain(kQsimDomain, plain("FusedConv", true)),
  };
  std::sort(rows.begin(), rows.end(), [](const OpInfo& a, const OpInfo& b) {
    const int domain = std::strcmp(a.domain, b.domain);
    return domain != 0 ? domain < 0 : std::strcmp(a.op_type, b.op_type) < 0;
  });
  return rows;
}

}  // namespace

std::span<const OpInfo> op_table() {
  static const std::vector<OpInfo> table = make_table();
  return table;
}

const OpInfo* find_op_info(std::string_view domain, std::string_view op_type) {
  const std::span<const OpInfo> table = op_table();
  auto it = std::lower_bound(table.begin(), table.end(), std::pair{domain, op_type},
                             [](const OpInfo& row, const auto& key) {
                               const std::string_view d = row.domain;
                               return d != key.first ? d < key.first
                                                     : std::string_view(row.op_type) < key.second;
                             });
  if (it == table.end() || it->domain != domain || it->op_type != op_type) return nullptr;
  return &*it;
}

int weight_input(const OpInfo& info) {
  for (const ParamSlot& slot : info.params)
    if (slot.name != nullptr && std::strcmp(slot.name, "weight") == 0) return slot.input;
  return -1;
}

int weight_channel_axis(const Node& node, int64_t weight_rank) {
  const OpInfo* info = find_op_info(node);
  switch (info == nullptr ? ChannelAxis::kNone : info->channel_axis) {
    case ChannelAxis::kFirst:
      return 0;
    case ChannelAxis::kSecond:
      return 1;
    case ChannelAxis::kGemm:
      return node.get_int("transB", 0) != 0 ? 0 : 1;
    case ChannelAxis::kLast:
      return weight_rank >= 2 ? static_cast<int>(weight_rank) - 1 : -1;
    case ChannelAxis::kVectorFirst:
      return weight_rank == 1 ? 0 : -1;
    case ChannelAxis::kNone:
      break;
  }
  return -1;
}

bool is_linear_layer(const Node& node) {
  const OpInfo* info = find_op_info(node);
  return info != nullptr && info->linear_layer;
}

bool has_int32_bias(const Node& node) {
  const OpInfo* info = find_op_info(node);
  return info != nullptr && info->int32_bias;
}

bool is_per_image(const Node& node) {
  const OpInfo* info = find_op_info(node);
  return info != nullptr && info->per_image;
}

}  // namespace qsim
