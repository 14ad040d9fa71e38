#include "quant/qdq_export.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "graph/name_table.h"
#include "graph/onnx_export.h"
#include "graph/op_info.h"
#include "graph/opset_upgrade.h"
#include "graph/tensor_uses.h"
#include "quant/weight_rounding.h"
#include "util/error.h"

namespace qsim {
namespace {

constexpr int64_t kQdqOpset = 13;       // the first with per-axis DequantizeLinear
constexpr int64_t kWideQdqOpset = 21;   // the first with 16-bit QuantizeLinear
constexpr int64_t kMicrosoftOpset = 1;  // com.microsoft's only version
constexpr int kNarrowBitwidth = 8;      // 8-bit containers hold up to 8 bits
constexpr int kWideBitwidth = 16;       // 16-bit containers hold up to 16 bits

// The bits of a Q/DQ container for `bitwidth`: 8 or 16.
int container_bits(int bitwidth) {
  return bitwidth <= kNarrowBitwidth ? kNarrowBitwidth : kWideBitwidth;
}

DType container_dtype(int bitwidth, bool signed_grid) {
  if (container_bits(bitwidth) == kNarrowBitwidth)
    return signed_grid ? DType::kInt8 : DType::kUInt8;
  return signed_grid ? DType::kInt16 : DType::kUInt16;
}

// Ops that only move or select the values of input 0: their output lies on its input's grid.
const std::set<std::string> kDataMovementOps = {
    "MaxPool", "Reshape", "Flatten", "Transpose", "Squeeze",      "Unsqueeze",   "Identity",
    "Slice",   "Gather",  "Expand",  "Tile",      "DepthToSpace", "SpaceToDepth"};

// The ONNX view of a grid, as QuantizeLinear/DequantizeLinear take it.
struct OnnxGrid {
  DType dtype = DType::kUInt8;  // of the zero points and the quantized values
  int axis = -1;                // -1: per tensor
  std::vector<float> scales;
  std::vector<int64_t> zero_points;
};

OnnxGrid onnx_grid(const Encoding& encoding, DType dtype) {
  OnnxGrid grid;
  grid.dtype = dtype;
  grid.axis = encoding.axis;
  for (const ChannelEncoding& channel : encoding.channels) {
    grid.scales.push_back(channel.scale);
    grid.zero_points.push_back(onnx_zero_point(channel, encoding.bitwidth,
                                               dtype == DType::kInt8 || dtype == DType::kInt16));
  }
  return grid;
}

Tensor integer_tensor(DType dtype, const Shape& shape, const std::vector<int64_t>& values) {
  Tensor t(dtype, shape);
  for (size_t i = 0; i < values.size(); ++i) {
    switch (dtype) {
      case DType::kUInt8:
        t.data<uint8_t>()[i] = static_cast<uint8_t>(values[i]);
        break;
      case DType::kInt8:
        t.data<int8_t>()[i] = static_cast<int8_t>(values[i]);
        break;
      case DType::kUInt16:
        t.data<uint16_t>()[i] = static_cast<uint16_t>(values[i]);
        break;
      case DType::kInt16:
        t.data<int16_t>()[i] = static_cast<int16_t>(values[i]);
        break;
      case DType::kInt32:
        t.data<int32_t>()[i] = static_cast<int32_t>(values[i]);
        break;
      default:
        fail(ErrorCode::kInternal, std::string("no QDQ container of type ") + dtype_name(dtype));
    }
  }
  return t;
}

Shape grid_shape(const OnnxGrid& grid) {
  return grid.axis < 0 ? Shape{} : Shape{static_cast<int64_t>(grid.scales.size())};
}

// Elements that share one channel of a per-channel encoding along `axis` of `shape`.
int64_t channel_stride(const Shape& shape, int axis) {
  return element_count(Shape(shape.begin() + axis + 1, shape.end()));
}

// The ONNX integers of `values` on `encoding`'s grid: q + offset + zero_point, where q is the
// AIMET grid index, so DequantizeLinear yields (q + offset) * scale exactly as fake_quantize.
std::vector<int64_t> grid_values(const Tensor& values, const Encoding& encoding,
                                 const OnnxGrid& grid) {
  const float* x = values.data<float>();
  const int64_t channels = static_cast<int64_t>(encoding.channels.size());
  const int64_t inner = encoding.per_channel() ? channel_stride(values.shape(), encoding.axis) : 1;
  std::vector<int64_t> out(static_cast<size_t>(values.size()));
  for (int64_t i = 0; i < values.size(); ++i) {
    const size_t c = static_cast<size_t>(encoding.per_channel() ? (i / inner) % channels : 0);
    const ChannelEncoding& channel = encoding.channels[c];
    out[static_cast<size_t>(i)] =
        quantize_value(x[i], channel, encoding.quant_max()) + channel.offset + grid.zero_points[c];
  }
  return out;
}

class QdqBuilder {
 public:
  QdqBuilder(const Model& model, const EncodingSet& encodings, const QdqOptions& options)
      : model_(model), encodings_(encodings), options_(options), names_(model.graph) {}

  QdqModel build() {
    collect_activations();
    raise_opset(needs_opset());
    const std::set<std::string> integer_biases = quantize_biases();
    quantize_params(integer_biases);
    insert_activation_qdq();
    sort_topologically(model_.graph);  // also proves that every input has a producer
    model_.metadata[kTargetMetadataKey] = target_name(encodings_.target);
    model_.metadata[kTechniquesMetadataKey] = technique_names(encodings_.techniques);
    return {std::move(model_), std::move(report_)};
  }

 private:
  // Whether any Q/DQ needs a 16-bit container.
  bool any_wide() const {
    for (const auto& [name, encoding] : acts_)
      if (encoding.bitwidth > kNarrowBitwidth) return true;
    for (const TensorEncoding& param : encodings_.params)
      if (param.encoding && param.encoding->bitwidth > kNarrowBitwidth &&
          param.encoding->bitwidth <= kWideBitwidth)
        return true;
    return false;
  }

  // The opset the QDQ model needs, and why.
  std::pair<int64_t, std::string> needs_opset() const {
    if (any_wide() && options_.wide_form == WideQdqForm::kOpset21)
      return {kWideQdqOpset, "16-bit QuantizeLinear (the 16-bit form asked for is opset 21)"};
    return {kQdqOpset, "per-axis DequantizeLinear"};
  }

  // Rewrites the model up to the opset the Q/DQ form needs (graph/opset_upgrade.h); a node
  // that cannot be rewritten fails the export, naming it.
  void raise_opset(const std::pair<int64_t, std::string>& needed) {
    const auto& [opset, reason] = needed;
    if (model_.opset >= opset) return;
    OpsetUpgradeReport upgrade;
    try {
      upgrade = upgrade_opset(model_, opset);
    } catch (const Error& e) {
      throw Error(e.code(), std::string(e.what()) + " (the QDQ model needs opset " +
                                std::to_string(opset) + " for " + reason + ")" +
                                (opset == kWideQdqOpset
                                     ? "; write 16-bit Q/DQ in the com.microsoft form instead"
                                     : ""));
    }
    names_ = NameTable(model_.graph);  // the rewrite added tensors and nodes
    report_.warnings.push_back("the opset was raised from " + std::to_string(upgrade.from) +
                               " to " + std::to_string(upgrade.to) + " for " + reason + "; " +
                               std::to_string(upgrade.rewritten.size()) + " node(s) rewritten");
    for (const std::string& node : upgrade.rewritten)
      report_.warnings.push_back("opset upgrade: " + node);
  }

  // Encoded model inputs and op outputs, then the outputs of data-movement ops that reuse
  // their input's grid.
  void collect_activations() {
    std::set<std::string> activations;
    for (const ValueInfo& input : model_.graph.inputs) activations.insert(input.name);
    for (const Node& node : model_.graph.nodes)
      activations.insert(node.outputs.begin(), node.outputs.end());
    for (const TensorEncoding& t : encodings_.activations) {
      if (!t.encoding) continue;
      const std::string what = "activation encoding '" + t.name + "'";
      require(activations.count(t.name) != 0, ErrorCode::kInvalidArgument,
              what + ": the model has no input or op output of that name");
      check_grid(*t.encoding, what);
      require(t.encoding->bitwidth == kNarrowBitwidth || t.encoding->bitwidth == kWideBitwidth,
              ErrorCode::kUnsupported,
              what +
                  ": QDQ export needs 8- or 16-bit activations (QuantizeLinear saturates at "
                  "its container's limits, 8 or 16 bits, not at the encoding's); this one "
                  "is " +
                  std::to_string(t.encoding->bitwidth) + "-bit");
      require(acts_.emplace(t.name, *t.encoding).second, ErrorCode::kInvalidArgument,
              what + " is given twice");
    }
    for (const Node& node : model_.graph.nodes) {
      if (!node.domain.empty() || kDataMovementOps.count(node.op_type) == 0 || !node.has_input(0))
        continue;
      auto input = acts_.find(node.inputs[0]);
      // emplace keeps an encoding of the output's own.
      if (input != acts_.end() && !node.outputs.empty())
        acts_.emplace(node.outputs[0], input->second);
    }
  }

  // Biases of Conv, ConvTranspose and Gemm whose input and weight are quantized become int32
  // at input_scale * weight_scale. Returns their names.
  std::set<std::string> quantize_biases() {
    std::set<std::string> quantized;
    TensorUses uses(model_.graph);
    // Node inputs and graph outputs still reading the float bias.
    const auto readers = [&](const std::string& name) {
      return uses.readers[name] + static_cast<int>(uses.graph_outputs.count(name));
    };
    for (Node& node : model_.graph.nodes) {
      if (!has_int32_bias(node) || !node.has_input(2) ||
          !model_.graph.is_initializer(node.inputs[2]))
        continue;
      std::optional<OnnxGrid> grid = bias_grid(node);
      if (!grid) continue;
      const std::string bias = node.inputs[2];
      const Tensor values = *model_.graph.find_initializer(bias);
      // A bias shared by several nodes gets one integer copy per node (their scales differ).
      const std::string output = readers(bias) == 1 ? bias : names_.fresh(bias + "_" + node.name);
      --uses.readers[bias];
      if (readers(bias) == 0) model_.graph.initializers.erase(bias);
      Tensor integers =
          integer_tensor(DType::kInt32, values.shape(), quantize_bias(values, *grid, bias, node));
      add_dequantize(output, integers, *grid, output);
      node.inputs[2] = output;
      quantized.insert(bias);
    }
    return quantized;
  }

  // The int32 grid of `node`'s bias, or nothing (with a warning where it matters) when the
  // bias has to stay float.
  std::optional<OnnxGrid> bias_grid(const Node& node) {
    auto input = acts_.find(node.inputs[0]);
    const bool constant_weight = node.has_input(1) && model_.graph.is_initializer(node.inputs[1]);
    const TensorEncoding* weight = constant_weight ? encodings_.find(node.inputs[1]) : nullptr;
    if (input == acts_.end() || weight == nullptr || !weight->encoding) return std::nullopt;
    quantized_initializer(model_.graph, *weight);  // validates the weight's encoding
    const Encoding& w = *weight->encoding;
    const Tensor& weight_value = *model_.graph.find_initializer(node.inputs[1]);
    const Tensor& bias = *model_.graph.find_initializer(node.inputs[2]);
    const std::string keep_float =
        node.label() + ": bias '" + node.inputs[2] + "' stays float because ";
    if (input->second.per_channel()) {
      report_.warnings.push_back(keep_float + "its input '" + node.inputs[0] +
                                 "' has a per-channel encoding");
      return std::nullopt;
    }
    const int64_t channels = static_cast<int64_t>(w.channels.size());
    if (w.per_channel() && (w.axis != weight_channel_axis(node, weight_value.rank()) ||
                            bias.rank() != 1 || bias.dim(0) != channels)) {
      report_.warnings.push_back(keep_float + "the weight's per-channel axis " +
                                 std::to_string(w.axis) +
                                 " is not the output-channel axis of bias " + bias.describe());
      return std::nullopt;
    }
    OnnxGrid grid;
    grid.dtype = DType::kInt32;
    grid.axis = w.per_channel() ? 0 : -1;
    const float input_scale = input->second.channels[0].scale;
    for (const ChannelEncoding& channel : w.channels) {
      // The float product of two floats is exact in double, so this is the correctly rounded
      // scale ONNX Runtime's QLinearConv assumes for its int32 bias.
      const float scale = input_scale * channel.scale;
      require(scale > 0.0f && std::isfinite(scale), ErrorCode::kNumeric,
              node.label() + ": bias scale input_scale * weight_scale underflows float32");
      grid.scales.push_back(scale);
      grid.zero_points.push_back(0);
    }
    return grid;
  }

  // round_half_even(bias / scale), clipped to int32; clips are counted and reported.
  std::vector<int64_t> quantize_bias(const Tensor& bias, const OnnxGrid& grid,
                                     const std::string& name, const Node& node) {
    constexpr double kLow = std::numeric_limits<int32_t>::min();
    constexpr double kHigh = std::numeric_limits<int32_t>::max();
    const float* b = bias.data<float>();
    std::vector<int64_t> out(static_cast<size_t>(bias.size()));
    int64_t clipped = 0;
    for (int64_t i = 0; i < bias.size(); ++i) {
      require(std::isfinite(b[i]), ErrorCode::kNumeric, "bias '" + name + "' holds NaN or Inf");
      const float scale = grid.scales[grid.axis < 0 ? 0 : static_cast<size_t>(i)];
      const double q = std::nearbyint(static_cast<double>(b[i]) / scale);
      clipped += q < kLow || q > kHigh;
      out[static_cast<size_t>(i)] = static_cast<int64_t>(std::clamp(q, kLow, kHigh));
    }
    if (clipped > 0) {
      report_.clipped_bias_values += clipped;
      report_.warnings.push_back(node.label() + ": " + std::to_string(clipped) + " of " +
                                 std::to_string(bias.size()) + " values of bias '" + name +
                                 "' exceed int32 at input_scale * weight_scale and were clipped");
    }
    return out;
  }

  // Every other encoded parameter: an int8 (int16 above 8 bits) initializer behind
  // DequantizeLinear, whose output keeps the parameter's name.
  void quantize_params(const std::set<std::string>& integer_biases) {
    std::set<std::string> seen;
    for (const TensorEncoding& param : encodings_.params) {
      if (!param.encoding) continue;
      require(seen.insert(param.name).second, ErrorCode::kInvalidArgument,
              "parameter encoding '" + param.name + "' is given twice");
      if (integer_biases.count(param.name)) continue;
      const Tensor values = quantized_initializer(model_.graph, param);
      const Encoding& encoding = *param.encoding;
      if (encoding.bitwidth > kWideBitwidth) {
        // check_grid allows 32 bits for biases only.
        report_.warnings.push_back(
            "bias '" + param.name +
            "' stays float: its node's input or weight is not quantized, and its own " +
            std::to_string(encoding.bitwidth) + "-bit encoding does not fit int16");
        continue;
      }
      const OnnxGrid grid = onnx_grid(encoding, container_dtype(encoding.bitwidth, true));
      model_.graph.initializers.erase(param.name);
      add_dequantize(
          param.name,
          integer_tensor(grid.dtype, values.shape(), grid_values(values, encoding, grid)), grid,
          param.name);
    }
  }

  std::pair<std::string, std::string> add_grid_initializers(const std::string& base,
                                                            const OnnxGrid& grid) {
    const std::string scale = names_.fresh(base + "_scale");
    const std::string zero_point = names_.fresh(base + "_zero_point");
    Tensor scales(DType::kFloat32, grid_shape(grid));
    std::copy(grid.scales.begin(), grid.scales.end(), scales.data<float>());
    model_.graph.initializers[scale] = scales;
    model_.graph.initializers[zero_point] =
        integer_tensor(grid.dtype, grid_shape(grid), grid.zero_points);
    return {scale, zero_point};
  }

  Node qdq_node(const std::string& op_type, const std::string& base, const std::string& input,
                const std::pair<std::string, std::string>& grid_names, const std::string& output,
                const OnnxGrid& grid) {
    Node node;
    node.op_type = op_type;
    if (model_.opset < kWideQdqOpset &&
        (grid.dtype == DType::kUInt16 || grid.dtype == DType::kInt16)) {
      node.domain = kMicrosoftDomain;
      model_.domain_opsets[kMicrosoftDomain] = kMicrosoftOpset;
    }
    const int axis = grid.axis;
    node.name = names_.fresh(base + "_" + op_type);
    node.inputs = {input, grid_names.first, grid_names.second};
    node.outputs = {output};
    if (axis >= 0) node.attributes["axis"] = Attribute::of_int(axis);
    return node;
  }

  // A constant's DequantizeLinear, run before every other node.
  void add_dequantize(const std::string& base, const Tensor& integers, const OnnxGrid& grid,
                      const std::string& output) {
    const std::string quantized = names_.fresh(base + "_quantized");
    model_.graph.initializers[quantized] = integers;
    prologue_.push_back(qdq_node("DequantizeLinear", base, quantized,
                                 add_grid_initializers(base, grid), output, grid));
  }

  // Q -> DQ from `float_name` to `dequantized_name` on the grid of activation `tensor`.
  void append_activation_qdq(const std::string& tensor, const std::string& float_name,
                             const std::string& dequantized_name, std::vector<Node>& nodes) {
    const Encoding& encoding = acts_.at(tensor);
    const OnnxGrid grid = onnx_grid(
        encoding,
        container_dtype(encoding.bitwidth, options_.activation_sign == ActivationSign::kSigned));
    const auto grid_names = add_grid_initializers(tensor, grid);
    const std::string quantized = names_.fresh(tensor + "_quantized");
    nodes.push_back(qdq_node("QuantizeLinear", tensor, float_name, grid_names, quantized, grid));
    nodes.push_back(
        qdq_node("DequantizeLinear", tensor, quantized, grid_names, dequantized_name, grid));
  }

  // Q -> DQ after each encoded activation's producer. Consumers read "<name>_dq"; a graph
  // output keeps its name on the DQ output and its producer writes "<name>_float" instead.
  void insert_activation_qdq() {
    Graph& graph = model_.graph;
    std::set<std::string> graph_outputs;
    for (const ValueInfo& out : graph.outputs) graph_outputs.insert(out.name);
    std::map<std::string, std::string> dequantized;  // activation -> what its consumers read
    std::vector<Node> nodes = std::move(prologue_);
    for (const ValueInfo& input : graph.inputs) {
      if (!acts_.count(input.name)) continue;
      require(!graph_outputs.count(input.name), ErrorCode::kUnsupported,
              "activation encoding '" + input.name +
                  "': a model input that is also an output cannot be quantized");
      dequantized[input.name] = names_.fresh(input.name + "_dq");
      append_activation_qdq(input.name, input.name, dequantized[input.name], nodes);
    }
    for (Node node : graph.nodes) {
      for (auto& in : node.inputs)
        if (dequantized.count(in)) in = dequantized[in];
      std::vector<std::pair<std::string, std::string>> pairs;  // (float name, tensor)
      for (auto& out : node.outputs) {
        if (out.empty() || !acts_.count(out)) continue;
        const std::string tensor = out;
        if (graph_outputs.count(tensor)) {
          out = names_.fresh(tensor + "_float");
          pairs.emplace_back(out, tensor);
        } else {
          dequantized[tensor] = names_.fresh(tensor + "_dq");
          pairs.emplace_back(tensor, tensor);
        }
      }
      nodes.push_back(std::move(node));
      for (const auto& [float_name, tensor] : pairs)
        append_activation_qdq(tensor, float_name,
                              graph_outputs.count(tensor) ? tensor : dequantized[tensor], nodes);
    }
    graph.nodes = std::move(nodes);
  }

  Model model_;
  const EncodingSet& encodings_;
  const QdqOptions& options_;
  NameTable names_;
  std::map<std::string, Encoding> acts_;  // activation -> its (possibly inherited) encoding
  std::vector<Node> prologue_;            // DequantizeLinear of the constants
  QdqReport report_;
};

}  // namespace

QdqModel build_qdq_model(const Model& model, const EncodingSet& encodings,
                         const QdqOptions& options) {
  return QdqBuilder(model, encodings, options).build();
}

QdqReport export_qdq_model(const Model& model, const EncodingSet& encodings,
                           const std::string& path, const QdqOptions& options) {
  QdqModel qdq = build_qdq_model(model, encodings, options);
  save_onnx_file(qdq.model, path);
  return qdq.report;
}

}  // namespace qsim
