#include "quant/quantizer_placement.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <unordered_map>

#include "graph/op_info.h"
#include "util/error.h"

namespace qsim {
namespace {

// Ops whose output holds some of their first input's values, unchanged.
bool shares_input_encoding(const Node& node) {
  static const std::set<std::string> kOps = {
      "Reshape",  "Flatten",       "Squeeze",      "Unsqueeze", "Transpose",
      "MaxPool",  "GlobalMaxPool", "Identity",     "Dropout",   "Expand",
      "Tile",     "Slice",         "Split",        "Gather",    "GatherElements",
      "GatherND", "DepthToSpace",  "SpaceToDepth", "ReduceMax", "ReduceMin"};
  if (kOps.count(node.op_type) != 0) return true;
  // Nearest-neighbour resizing copies values; the other modes interpolate new ones.
  return (node.op_type == "Resize" || node.op_type == "Upsample") &&
         node.get_string("mode", "nearest") == "nearest";
}

// Ops none of whose outputs are float (indices, masks, shapes, integer arithmetic).
bool has_no_float_output(const std::string& op) {
  static const std::set<std::string> kOps = {"Shape",
                                             "Size",
                                             "ArgMax",
                                             "ArgMin",
                                             "NonZero",
                                             "Equal",
                                             "Less",
                                             "LessOrEqual",
                                             "Greater",
                                             "GreaterOrEqual",
                                             "And",
                                             "Or",
                                             "Xor",
                                             "Not",
                                             "IsNaN",
                                             "IsInf",
                                             "BitShift",
                                             "BitwiseAnd",
                                             "BitwiseOr",
                                             "BitwiseXor",
                                             "BitwiseNot",
                                             "QuantizeLinear",
                                             "DynamicQuantizeLinear",
                                             "ConvInteger",
                                             "MatMulInteger",
                                             "QLinearConv",
                                             "QLinearMatMul",
                                             "StringNormalizer",
                                             "RegexFullMatch",
                                             "StringConcat",
                                             "StringSplit",
                                             "TfIdfVectorizer"};
  return kOps.count(op) != 0;
}

constexpr int64_t kOnnxFloat = 1;  // TensorProto.FLOAT

// What the graph looks like around each tensor.
struct GraphFacts {
  std::set<std::string> constants;  // initializers and tensors folded from them
  std::set<std::string> floats;     // float32 tensors (by simple dtype propagation)
  std::unordered_map<std::string, std::vector<size_t>> readers;  // node indices, per input use
  std::set<std::string> graph_outputs;
  std::set<std::string> op_types;

  bool is_float(const std::string& name) const { return floats.count(name) != 0; }
  bool is_constant(const std::string& name) const { return constants.count(name) != 0; }
  // The single node reading `name`, if exactly one input reads it and it is no graph output.
  const size_t* sole_reader(const std::string& name) const {
    auto it = readers.find(name);
    if (it == readers.end() || it->second.size() != 1 || graph_outputs.count(name) != 0)
      return nullptr;
    return &it->second[0];
  }
};

bool output_is_float(const Node& node, size_t output, const GraphFacts& facts) {
  const std::string& op = node.op_type;
  if (has_no_float_output(op)) return false;
  if (op == "Cast") return node.get_int("to", 0) == kOnnxFloat;
  if (op == "CastLike") return node.has_input(1) && facts.is_float(node.inputs[1]);
  if (op == "DequantizeLinear") return true;
  if ((op == "TopK" || op == "MaxPool" || op == "Unique") && output > 0) return false;
  if (op == "Where") return node.has_input(1) && facts.is_float(node.inputs[1]);
  for (const auto& in : node.inputs)
    if (!in.empty()) return facts.is_float(in);
  return false;
}

GraphFacts gather_facts(const Model& model) {
  const Graph& g = model.graph;
  GraphFacts facts;
  for (const auto& v : g.inputs)
    if (v.dtype == DType::kFloat32 || v.dtype == DType::kUndefined) facts.floats.insert(v.name);
  for (const auto& [name, t] : g.initializers) {
    facts.constants.insert(name);
    if (t.dtype() == DType::kFloat32) facts.floats.insert(name);
  }
  for (const auto& v : g.outputs) facts.graph_outputs.insert(v.name);
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    const Node& node = g.nodes[n];
    facts.op_types.insert(node.op_type);
    bool all_constant = true;
    for (const auto& in : node.inputs) {
      if (in.empty()) continue;
      facts.readers[in].push_back(n);
      all_constant = all_constant && facts.is_constant(in);
    }
    for (size_t o = 0; o < node.outputs.size(); ++o) {
      const std::string& out = node.outputs[o];
      if (out.empty()) continue;
      // The engine folds nodes whose inputs are all constant at plan time.
      if (all_constant) facts.constants.insert(out);
      if (output_is_float(node, o, facts)) facts.floats.insert(out);
    }
  }
  return facts;
}

// Outputs that a supergroup fuses with the op reading them: every output of the chain but the
// last.
std::set<std::string> fused_outputs(const Graph& g, const GraphFacts& facts,
                                    const std::vector<std::vector<std::string>>& supergroups) {
  std::set<std::string> fused;
  for (size_t n = 0; n < g.nodes.size(); ++n) {
    for (const auto& ops : supergroups) {
      if (g.nodes[n].op_type != ops[0]) continue;
      std::vector<std::string> chain_outputs;
      size_t current = n;
      bool matched = true;
      for (size_t k = 1; k < ops.size() && matched; ++k) {
        const std::string& out = g.nodes[current].outputs.at(0);
        const size_t* reader = facts.sole_reader(out);
        matched = reader != nullptr && g.nodes[*reader].op_type == ops[k] &&
                  g.nodes[*reader].inputs.at(0) == out;
        if (matched) {
          chain_outputs.push_back(out);
          current = *reader;
        }
      }
      if (matched) fused.insert(chain_outputs.begin(), chain_outputs.end());
    }
  }
  return fused;
}

// Patterns that QNN's converter fuses into one op with one output encoding (docs/TRANSFORMERS.md):
// the decomposed LayerNorm that opset-13 exporters write, and GELU written with Erf. Inside
// them nothing is quantized; the pattern's last output keeps its quantizer.
class FusedPatterns {
 public:
  FusedPatterns(const Graph& g, const GraphFacts& facts) : g_(g), facts_(facts) {
    for (size_t n = 0; n < g.nodes.size(); ++n)
      for (const auto& out : g.nodes[n].outputs) producer_[out] = n;
  }

  // The interior outputs of every decomposed LayerNorm and Erf GELU.
  std::set<std::string> interior_outputs() const {
    std::set<std::string> interior;
    for (const Node& node : g_.nodes) {
      if (node.op_type == "ReduceMean") match_layer_norm(node, interior);
      if (node.op_type == "Erf") match_gelu(node, interior);
    }
    return interior;
  }

 private:
  // The node of type `op` reading `tensor`, when exactly one does.
  const Node* reader(const std::string& tensor, const char* op) const {
    auto it = facts_.readers.find(tensor);
    if (it == facts_.readers.end()) return nullptr;
    const Node* found = nullptr;
    for (size_t n : it->second) {
      if (g_.nodes[n].op_type != op || g_.nodes[n].outputs.empty()) continue;
      if (found != nullptr && found != &g_.nodes[n]) return nullptr;
      found = &g_.nodes[n];
    }
    return found;
  }

  // The sole reader of `tensor`, when it has type `op` and a constant other operand.
  const Node* constant_step(const std::string& tensor, const char* op) const {
    const size_t* r = facts_.sole_reader(tensor);
    if (r == nullptr) return nullptr;
    const Node& node = g_.nodes[*r];
    if (node.op_type != op || node.inputs.size() != 2) return nullptr;
    const std::string& other = node.inputs[0] == tensor ? node.inputs[1] : node.inputs[0];
    return facts_.is_constant(other) ? &node : nullptr;
  }

  static const std::string& out(const Node* node) { return node->outputs[0]; }

  // x -> ReduceMean -> Sub(x, mean) -> Pow(., 2) -> ReduceMean -> Add(eps) -> Sqrt ->
  // Div(Sub, Sqrt) [-> Mul(gamma)] [-> Add(beta)].
  void match_layer_norm(const Node& mean, std::set<std::string>& interior) const {
    if (!mean.has_input(0) || mean.outputs.empty()) return;
    const std::string& x = mean.inputs[0];
    const Node* sub = reader(out(&mean), "Sub");
    if (sub == nullptr || sub->inputs.size() != 2 || sub->inputs[0] != x ||
        sub->inputs[1] != out(&mean))
      return;
    const Node* pow = reader(out(sub), "Pow");
    if (pow == nullptr || pow->inputs.size() != 2 || !facts_.is_constant(pow->inputs[1])) return;
    const Node* var = reader(out(pow), "ReduceMean");
    const Node* eps = var ? constant_step(out(var), "Add") : nullptr;
    const Node* sqrt = eps ? reader(out(eps), "Sqrt") : nullptr;
    const Node* div = sqrt ? reader(out(sqrt), "Div") : nullptr;
    if (div == nullptr || div->inputs.size() != 2 || div->inputs[0] != out(sub)) return;
    std::vector<std::string> chain = {out(&mean), out(sub), out(pow),
                                      out(var),   out(eps), out(sqrt)};
    const Node* last = div;
    if (const Node* gamma = constant_step(out(last), "Mul")) {
      chain.push_back(out(last));
      last = gamma;
    }
    if (const Node* beta = constant_step(out(last), "Add")) {
      chain.push_back(out(last));
      last = beta;
    }
    interior.insert(chain.begin(), chain.end());
  }

  // x -> Div(c) or Mul(c) -> Erf -> Add(1) -> Mul(x) -> Mul(0.5), or the two Muls swapped.
  void match_gelu(const Node& erf, std::set<std::string>& interior) const {
    if (!erf.has_input(0) || erf.outputs.empty()) return;
    auto p = producer_.find(erf.inputs[0]);
    if (p == producer_.end()) return;
    const Node& scale = g_.nodes[p->second];
    if ((scale.op_type != "Div" && scale.op_type != "Mul") || scale.inputs.size() != 2 ||
        !facts_.is_constant(scale.inputs[1]) || facts_.sole_reader(out(&scale)) == nullptr)
      return;
    const std::string& x = scale.inputs[0];
    const Node* one = constant_step(out(&erf), "Add");
    const size_t* r = one ? facts_.sole_reader(out(one)) : nullptr;
    if (r == nullptr || g_.nodes[*r].op_type != "Mul") return;
    const Node* first = &g_.nodes[*r];
    const std::string& other = first->inputs[0] == out(one) ? first->inputs[1] : first->inputs[0];
    const Node* second = nullptr;
    if (other == x)
      second = constant_step(out(first), "Mul");  // (x * (1 + erf)) * 0.5
    else if (const Node* half = reader(x, "Mul"); half != nullptr && out(half) == other &&
                                                  half->inputs.size() == 2 &&
                                                  facts_.is_constant(half->inputs[1]))
      second = first;  // (x * 0.5) * (1 + erf): the half product is interior too
    if (second == nullptr) return;
    interior.insert({out(&scale), out(&erf), out(one)});
    if (second != first) interior.insert(out(first));
    if (other != x) interior.insert(other);
  }

  const Graph& g_;
  const GraphFacts& facts_;
  std::unordered_map<std::string, size_t> producer_;
};

Symmetry activation_symmetry(const QuantSimConfig& config, bool symmetric) {
  if (!symmetric) return Symmetry::kAsymmetric;
  if (config.strict_symmetric) return Symmetry::kStrictSymmetric;
  return config.unsigned_symmetric ? Symmetry::kUnsignedSymmetric : Symmetry::kSymmetric;
}

// Weights stay on a signed grid even with unsigned_symmetric: per-channel int8 weights need a
// zero point of 0 in every channel on integer runtimes.
Symmetry param_symmetry(const QuantSimConfig& config, bool symmetric) {
  if (!symmetric) return Symmetry::kAsymmetric;
  return config.strict_symmetric ? Symmetry::kStrictSymmetric : Symmetry::kSymmetric;
}

// The parameter slots of a node (graph/op_info.h): input index -> AIMET parameter name.
std::vector<std::pair<size_t, std::string>> param_slots(const Node& node) {
  std::vector<std::pair<size_t, std::string>> slots;
  if (const OpInfo* info = find_op_info(node))
    for (const ParamSlot& slot : info->params)
      if (slot.input >= 0) slots.emplace_back(static_cast<size_t>(slot.input), slot.name);
  return slots;
}

// Whether ONNX Runtime's x86 CPU kernels multiply this weight, stored as int8, with the layer's
// uint8 input through U8S8 kernels (graph/op_info.h, OrtU8S8).
bool runs_on_u8s8_kernel(const Node& node, const Tensor& weight) {
  const OpInfo* info = find_op_info(node);
  switch (info == nullptr ? OrtU8S8::kNo : info->ort_u8s8) {
    case OrtU8S8::kYes:
      return true;
    case OrtU8S8::kUnlessDepthwise: {
      const int64_t group = node.get_int("group", 1);
      return !(group > 1 && weight.rank() >= 2 && weight.dim(0) == group && weight.dim(1) == 1);
    }
    case OrtU8S8::kNo:
      break;
  }
  return false;
}

class Placer {
 public:
  Placer(const Model& model, const QuantSimConfig& config, const PlacementOptions& options)
      : graph_(model.graph), config_(config), options_(options), facts_(gather_facts(model)) {}

  QuantizerPlacement place() {
    std::set<std::string> fused = fused_outputs(graph_, facts_, config_.supergroups);
    if (config_.fuse_decomposed_patterns) {
      const std::set<std::string> interior = FusedPatterns(graph_, facts_).interior_outputs();
      fused.insert(interior.begin(), interior.end());
    }
    result_.fused.assign(fused.begin(), fused.end());
    for (const auto& v : graph_.inputs)
      if (config_.model_input_quantized && facts_.is_float(v.name))
        add_activation(v.name, TensorRole::kModelInput, nullptr);
    for (const Node& node : graph_.nodes) {
      quantize_inputs_if_configured(node);
      for (size_t o = 0; o < node.outputs.size(); ++o) place_output(node, o, fused);
    }
    for (const Node& node : graph_.nodes) place_params(node);
    note_unused_op_types();
    return std::move(result_);
  }

 private:
  bool quantized(const std::string& tensor) const {
    return !result_.encoding_owner(tensor).empty();
  }

  void add_activation(const std::string& tensor, TensorRole role, const Node* producer) {
    const std::string op = producer ? producer->op_type : "";
    ActivationQuantizer q;
    q.tensor = tensor;
    q.role = role;
    q.bitwidth = options_.activation_bitwidth;
    q.symmetry = activation_symmetry(
        config_, producer ? config_.output_symmetric(op) : config_.op_symmetric);
    if (producer) {
      q.producer = producer->label();
      if (const RangeConstraint* c = config_.output_constraint(op)) {
        q.constraint = *c;
      } else if (op == "Softmax" && config_.qnn_fixed_softmax_encoding) {
        // QNN's fixed Softmax grid: offset 0, scale 2^-bitwidth, i.e. [0, 1 - 2^-bitwidth]
        // (docs/TRANSFORMERS.md: also the grid ONNX Runtime's QLinearSoftmax keeps exactly).
        const double steps = std::ldexp(1.0, q.bitwidth);
        q.constraint.min = 0.0;
        q.constraint.max = (steps - 1.0) / steps;
        q.symmetry = Symmetry::kAsymmetric;
      }
    }
    result_.activations.push_back(std::move(q));
  }

  void quantize_inputs_if_configured(const Node& node) {
    if (!config_.input_quantized(node.op_type)) return;
    for (const auto& in : node.inputs) {
      if (in.empty() || facts_.is_constant(in) || !facts_.is_float(in) || quantized(in)) continue;
      bool is_model_input = false;
      for (const auto& v : graph_.inputs) is_model_input = is_model_input || v.name == in;
      add_activation(in, is_model_input ? TensorRole::kModelInput : TensorRole::kActivation,
                     nullptr);
    }
  }

  void place_output(const Node& node, size_t o, const std::set<std::string>& fused) {
    const std::string& out = node.outputs[o];
    if (out.empty() || facts_.is_constant(out) || !facts_.is_float(out)) return;
    if (fused.count(out) != 0) return;
    const bool graph_output = facts_.graph_outputs.count(out) != 0;
    if (graph_output && config_.model_output_quantized == false) return;
    if (shares_input_encoding(node) && node.has_input(0) && quantized(node.inputs[0])) {
      result_.shared[out] = result_.encoding_owner(node.inputs[0]);
      return;
    }
    if (config_.output_quantized(node.op_type) ||
        (graph_output && config_.model_output_quantized == true))
      add_activation(out, TensorRole::kActivation, &node);
  }

  void place_params(const Node& node) {
    std::optional<ParamQuantizer> weight;
    for (const auto& [index, param] : param_slots(node)) {
      if (!node.has_input(index)) continue;
      const std::string& name = node.inputs[index];
      const Tensor* value = graph_.find_initializer(name);
      if (value == nullptr || value->dtype() != DType::kFloat32) continue;
      if (!config_.param_quantized_for(node.op_type, param)) {
        if (param == kParamBias && weight) add_implied_int32_bias(node, *weight, *value);
        continue;
      }
      if (result_.find_param(name) != nullptr) {
        result_.notes.push_back(node.label() + ": parameter '" + name +
                                "' is shared; it keeps the quantizer of its first reader");
        continue;
      }
      ParamQuantizer q;
      q.tensor = name;
      q.layer = node.label();
      q.role = param == kParamBias ? TensorRole::kBias : TensorRole::kWeight;
      q.bitwidth = options_.weight_bitwidth;
      q.symmetry = param_symmetry(config_, config_.param_symmetric_for(node.op_type, param));
      q.channel_axis = param == kParamBias ? (value->rank() == 1 ? 0 : -1)
                                           : weight_channel_axis(node, value->rank());
      q.axis = config_.per_channel_for(node.op_type) ? q.channel_axis : -1;
      q.u8s8_kernel = param == kParamWeight && runs_on_u8s8_kernel(node, *value) &&
                      quantized(node.inputs.at(0));
      if (param == kParamBias && weight && has_int32_bias(node) &&
          !make_int32_bias(node, *weight, *value, q))
        continue;
      if (param == kParamWeight) weight = q;
      result_.params.push_back(std::move(q));
    }
  }

  // Why `node`'s bias cannot be int32 at input scale * weight scale; empty when it can.
  std::string int32_bias_obstacle(const Node& node, const ParamQuantizer& weight,
                                  const Tensor& bias) const {
    if (result_.encoding_owner(node.inputs.at(0)).empty())
      return "the layer input is not quantized";
    if (weight.axis >= 0 && bias.rank() != 1)
      return "its shape does not follow the weight channels";
    return "";
  }

  void set_int32_bias(const Node& node, const ParamQuantizer& weight, ParamQuantizer& q) const {
    q.bitwidth = kBiasBitwidth;
    q.symmetry = Symmetry::kSymmetric;
    q.axis = weight.axis < 0 ? -1 : 0;
    q.bias_input = result_.encoding_owner(node.inputs.at(0));
    q.bias_weight = weight.tensor;
  }

  // Turns `q` into an int32 bias whose scale derives from the layer's input and weight; false
  // (bias stays float, with a note) when the layer input is not quantized.
  bool make_int32_bias(const Node& node, const ParamQuantizer& weight, const Tensor& bias,
                       ParamQuantizer& q) {
    const std::string obstacle = int32_bias_obstacle(node, weight, bias);
    if (!obstacle.empty()) {
      result_.notes.push_back(node.label() + ": bias '" + q.tensor + "' stays float because " +
                              obstacle);
      return false;
    }
    set_int32_bias(node, weight, q);
    return true;
  }

  // A bias shared by several layers keeps the grid of its first reader.
  void add_implied_int32_bias(const Node& node, const ParamQuantizer& weight, const Tensor& bias) {
    const std::string& name = node.inputs[2];
    auto& implied = result_.implied_int32_biases;
    const bool listed = std::any_of(implied.begin(), implied.end(),
                                    [&](const ParamQuantizer& q) { return q.tensor == name; });
    if (!has_int32_bias(node) || listed || !int32_bias_obstacle(node, weight, bias).empty()) return;
    ParamQuantizer q;
    q.tensor = name;
    q.role = TensorRole::kBias;
    q.layer = node.label();
    set_int32_bias(node, weight, q);
    implied.push_back(std::move(q));
  }

  void note_unused_op_types() {
    for (const auto& [op, rule] : config_.op_types)
      if (facts_.op_types.count(op) == 0 && is_onnx_op_type(op))
        result_.notes.push_back(config_.source + ": op_type '" + op +
                                "': no node of this type in the model");
    result_.notes.insert(result_.notes.end(), config_.notes.begin(), config_.notes.end());
  }

  const Graph& graph_;
  const QuantSimConfig& config_;
  const PlacementOptions options_;
  const GraphFacts facts_;
  QuantizerPlacement result_;
};

}  // namespace

const ActivationQuantizer* QuantizerPlacement::find_activation(const std::string& tensor) const {
  for (const auto& q : activations)
    if (q.tensor == tensor) return &q;
  return nullptr;
}

const ParamQuantizer* QuantizerPlacement::find_param(const std::string& tensor) const {
  for (const auto& q : params)
    if (q.tensor == tensor) return &q;
  return nullptr;
}

std::string QuantizerPlacement::encoding_owner(const std::string& tensor) const {
  auto it = shared.find(tensor);
  if (it != shared.end()) return it->second;
  return find_activation(tensor) != nullptr ? tensor : "";
}

QuantizerPlacement place_quantizers(const Model& model, const QuantSimConfig& config,
                                    const PlacementOptions& options) {
  check_bitwidth(options.weight_bitwidth, "weight bit width");
  check_bitwidth(options.activation_bitwidth, "activation bit width");
  return Placer(model, config, options).place();
}

}  // namespace qsim
