// What qsim knows about each op, in one table that every pass reads (issue #22): which
// inputs are parameters and which of them is the weight, the weight's output-channel axis,
// whether the op is a linear layer, whether it keeps images apart, and how ONNX Runtime's
// integer kernels run it. Adding an op is a kernel (runtime/ops) and a row in op_info.cpp;
// tests/core/test_op_info.cpp fails for a registered kernel without a row.
#pragma once

#include <array>
#include <cstdint>
#include <span>
#include <string_view>

#include "graph/graph.h"

namespace qsim {

// The domain of the ops qsim's graph rewrites make (runtime/graph_fusion.h), e.g. FusedConv.
inline constexpr const char* kQsimDomain = "ai.qsim";
// ONNX Runtime's contrib domain, whose QuantizeLinear/DequantizeLinear take 16-bit integers
// at any opset (quant/qdq_export.h).
inline constexpr const char* kMicrosoftDomain = "com.microsoft";

// Where a weight keeps the layer's output channels (docs/SOURCES.md section 1).
enum class ChannelAxis {
  kNone,         // quantized per tensor (PRelu's slopes), or no weight
  kFirst,        // Conv [M, C / group, k...]
  kSecond,       // ConvTranspose [C, M / group, k...]
  kGemm,         // Gemm: 0 with transB, else 1
  kLast,         // MatMul [..., K, N]: N, when the weight has at least 2 dims
  kVectorFirst,  // normalization scales and offsets: one per channel when 1-D
};

// Whether ONNX Runtime's x86 CPU kernels multiply the int8 weight with a uint8 input through
// its U8S8 GEMM/convolution kernels (QLinearConv, QGemm, MatMulInteger), whose pair sums
// saturate to int16 on AVX2 without VNNI. Depthwise convolutions run on MLAS's depthwise
// kernels instead (both operands widened to int16, exact sums); ConvTranspose has no integer
// CPU kernel.
enum class OrtU8S8 { kNo, kYes, kUnlessDepthwise };

// A parameter input: constant tensors quantized (or folded) as the layer's, named as AIMET's
// encodings name them ("weight", "bias", ...).
struct ParamSlot {
  int input = -1;  // -1 ends the list
  const char* name = nullptr;
};

struct OpInfo {
  const char* domain = "";  // "" for the default ONNX domain
  const char* op_type = "";
  std::array<ParamSlot, 4> params{};  // the weight, when there is one, named "weight"
  ChannelAxis channel_axis = ChannelAxis::kNone;
  // y = W * x (+ b), linear in x and in W: AdaRound rounds its weight; with `int32_bias` a
  // BatchNormalization after it folds into it.
  bool linear_layer = false;
  // The layer's products are at input scale x weight scale, so that its bias takes an int32
  // grid at that scale (QLinearConv, QGemm and AIMET's bias encodings).
  bool int32_bias = false;
  OrtU8S8 ort_u8s8 = OrtU8S8::kNo;
  // Computes each image's output rows from that image's input rows alone whenever its run-time
  // inputs and outputs all lead with the batch (runtime/batch_slices.cpp checks the shapes).
  // Slice and Pad lack it on purpose: they can reverse or shift the batch, keeping its size.
  bool per_image = false;
};

// Every row, sorted by (domain, op type).
std::span<const OpInfo> op_table();

// The row of an op, or nullptr for an op qsim knows nothing about.
const OpInfo* find_op_info(std::string_view domain, std::string_view op_type);
inline const OpInfo* find_op_info(const Node& node) {
  return find_op_info(node.domain, node.op_type);
}

// The input index of the node's weight (the parameter named "weight"), or -1.
int weight_input(const OpInfo& info);

// The axis of a `weight_rank`-dimensional weight of `node` that holds its output channels, or
// -1 when the weight is quantized per tensor.
int weight_channel_axis(const Node& node, int64_t weight_rank);

// Shorthands for the flags of a node's row (false for an unknown op).
bool is_linear_layer(const Node& node);
bool has_int32_bias(const Node& node);
bool is_per_image(const Node& node);

}  // namespace qsim
