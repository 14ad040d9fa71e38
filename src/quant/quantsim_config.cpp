#include "quant/quantsim_config.h"

#include <algorithm>
#include <cctype>
#include <functional>
#include <set>

#include "graph/op_info.h"
#include "util/error.h"
#include "util/json_value.h"

namespace qsim {
namespace {

// Every op type of ONNX's default domain up to opset 24 (onnx.defs schemas plus later ops).
const std::set<std::string>& onnx_op_types() {
  static const std::set<std::string> kOps = {"Abs",
                                             "Acos",
                                             "Acosh",
                                             "Add",
                                             "AffineGrid",
                                             "And",
                                             "ArgMax",
                                             "ArgMin",
                                             "Asin",
                                             "Asinh",
                                             "Atan",
                                             "Atanh",
                                             "Attention",
                                             "AveragePool",
                                             "BatchNormalization",
                                             "Bernoulli",
                                             "BitShift",
                                             "BitwiseAnd",
                                             "BitwiseNot",
                                             "BitwiseOr",
                                             "BitwiseXor",
                                             "BlackmanWindow",
                                             "Cast",
                                             "CastLike",
                                             "Ceil",
                                             "Celu",
                                             "CenterCropPad",
                                             "Clip",
                                             "Col2Im",
                                             "Compress",
                                             "Concat",
                                             "ConcatFromSequence",
                                             "Constant",
                                             "ConstantOfShape",
                                             "Conv",
                                             "ConvInteger",
                                             "ConvTranspose",
                                             "Cos",
                                             "Cosh",
                                             "CumSum",
                                             "DFT",
                                             "DeformConv",
                                             "DepthToSpace",
                                             "DequantizeLinear",
                                             "Det",
                                             "Div",
                                             "Dropout",
                                             "DynamicQuantizeLinear",
                                             "Einsum",
                                             "Elu",
                                             "Equal",
                                             "Erf",
                                             "Exp",
                                             "Expand",
                                             "EyeLike",
                                             "Flatten",
                                             "Floor",
                                             "GRU",
                                             "Gather",
                                             "GatherElements",
                                             "GatherND",
                                             "Gelu",
                                             "Gemm",
                                             "GlobalAveragePool",
                                             "GlobalLpPool",
                                             "GlobalMaxPool",
                                             "Greater",
                                             "GreaterOrEqual",
                                             "GridSample",
                                             "GroupNormalization",
                                             "HammingWindow",
                                             "HannWindow",
                                             "HardSigmoid",
                                             "HardSwish",
                                             "Hardmax",
                                             "Identity",
                                             "If",
                                             "ImageDecoder",
                                             "InstanceNormalization",
                                             "IsInf",
                                             "IsNaN",
                                             "LRN",
                                             "LSTM",
                                             "LayerNormalization",
                                             "LeakyRelu",
                                             "Less",
                                             "LessOrEqual",
                                             "Log",
                                             "LogSoftmax",
                                             "Loop",
                                             "LpNormalization",
                                             "LpPool",
                                             "MatMul",
                                             "MatMulInteger",
                                             "Max",
                                             "MaxPool",
                                             "MaxRoiPool",
                                             "MaxUnpool",
                                             "Mean",
                                             "MeanVarianceNormalization",
                                             "MelWeightMatrix",
                                             "Min",
                                             "Mish",
                                             "Mod",
                                             "Mul",
                                             "Multinomial",
                                             "Neg",
                                             "NegativeLogLikelihoodLoss",
                                             "NonMaxSuppression",
                                             "NonZero",
                                             "Not",
                                             "OneHot",
                                             "Optional",
                                             "OptionalGetElement",
                                             "OptionalHasElement",
                                             "Or",
                                             "PRelu",
                                             "Pad",
                                             "Pow",
                                             "QLinearConv",
                                             "QLinearMatMul",
                                             "QuantizeLinear",
                                             "RMSNormalization",
                                             "RNN",
                                             "RandomNormal",
                                             "RandomNormalLike",
                                             "RandomUniform",
                                             "RandomUniformLike",
                                             "Range",
                                             "Reciprocal",
                                             "ReduceL1",
                                             "ReduceL2",
                                             "ReduceLogSum",
                                             "ReduceLogSumExp",
                                             "ReduceMax",
                                             "ReduceMean",
                                             "ReduceMin",
                                             "ReduceProd",
                                             "ReduceSum",
                                             "ReduceSumSquare",
                                             "RegexFullMatch",
                                             "Relu",
                                             "Reshape",
                                             "Resize",
                                             "ReverseSequence",
                                             "RoiAlign",
                                             "RotaryEmbedding",
                                             "Round",
                                             "STFT",
                                             "Scan",
                                             "Scatter",
                                             "ScatterElements",
                                             "ScatterND",
                                             "Selu",
                                             "SequenceAt",
                                             "SequenceConstruct",
                                             "SequenceEmpty",
                                             "SequenceErase",
                                             "SequenceInsert",
                                             "SequenceLength",
                                             "SequenceMap",
                                             "Shape",
                                             "Shrink",
                                             "Sigmoid",
                                             "Sign",
                                             "Sin",
                                             "Sinh",
                                             "Size",
                                             "Slice",
                                             "Softmax",
                                             "SoftmaxCrossEntropyLoss",
                                             "Softplus",
                                             "Softsign",
                                             "SpaceToDepth",
                                             "Split",
                                             "SplitToSequence",
                                             "Sqrt",
                                             "Squeeze",
                                             "StringConcat",
                                             "StringNormalizer",
                                             "StringSplit",
                                             "Sub",
                                             "Sum",
                                             "Swish",
                                             "Tan",
                                             "Tanh",
                                             "TensorScatter",
                                             "TfIdfVectorizer",
                                             "ThresholdedRelu",
                                             "Tile",
                                             "TopK",
                                             "Transpose",
                                             "Trilu",
                                             "Unique",
                                             "Unsqueeze",
                                             "Upsample",
                                             "Where",
                                             "Xor"};
  return kOps;
}

// Op types AIMET's shipped configs (htp_quantsim_config_v*.json, default_config_per_channel)
// name although no ONNX opset defines them: custom ops of other frameworks.
const std::set<std::string>& aimet_custom_op_types() {
  static const std::set<std::string> kOps = {"BatchPermutation", "BatchToSpace", "ChannelShuffle",
                                             "CropAndResize",    "LayerNorm",    "SpaceToBatch"};
  return kOps;
}

// The parameter names of every op's slots (graph/op_info.h).
const std::set<std::string>& known_param_names() {
  static const std::set<std::string> kNames = [] {
    std::set<std::string> names;
    for (const OpInfo& info : op_table())
      for (const ParamSlot& slot : info.params)
        if (slot.name != nullptr) names.insert(slot.name);
    return names;
  }();
  return kNames;
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

size_t edit_distance(const std::string& a, const std::string& b) {
  std::vector<size_t> row(b.size() + 1);
  for (size_t j = 0; j <= b.size(); ++j) row[j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    size_t diagonal = row[0];
    row[0] = i;
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t above = row[j];
      row[j] = std::min({row[j] + 1, row[j - 1] + 1, diagonal + (a[i - 1] == b[j - 1] ? 0 : 1)});
      diagonal = above;
    }
  }
  return row[b.size()];
}

// " (did you mean 'Conv'?)" for a near miss, else "".
std::string closest_op_hint(const std::string& name) {
  std::string best;
  size_t best_distance = 4;  // farther than 3 edits is no longer a typo
  for (const std::string& op : onnx_op_types()) {
    size_t d = edit_distance(lower(name), lower(op));
    if (d < best_distance) {
      best_distance = d;
      best = op;
    }
  }
  return best.empty() ? "" : " (did you mean '" + best + "'?)";
}

using MemberReader = std::function<void(const JsonValue& value, const std::string& path)>;

class ConfigReader {
 public:
  ConfigReader(QuantSimConfig& config, std::string source)
      : config_(config), source_(std::move(source)) {}

  void read_document(const JsonValue& root) {
    read_members(
        root, "(top level)",
        {{"defaults", [this](const JsonValue& v, const std::string& p) { defaults(v, p); }},
         {"params",
          [this](const JsonValue& v, const std::string& p) { params(v, p, config_.params); }},
         {"op_type", [this](const JsonValue& v, const std::string& p) { op_types(v, p); }},
         {"supergroups", [this](const JsonValue& v, const std::string& p) { supergroups(v, p); }},
         {"supergroup_pass_list",
          [this](const JsonValue& v, const std::string& p) { supergroup_passes(v, p); }},
         {"model_input",
          [this](const JsonValue& v, const std::string& p) {
            read_members(v, p, {{"is_input_quantized", flag(config_.model_input_quantized)}});
          }},
         {"model_output",
          [this](const JsonValue& v, const std::string& p) {
            read_members(v, p,
                         {{"is_output_quantized", optional_flag(config_.model_output_quantized)}});
          }},
         {"qsim_extensions", [this](const JsonValue& v, const std::string& p) {
            read_members(
                v, p,
                {{"fuse_decomposed_patterns", flag(config_.fuse_decomposed_patterns)},
                 {"qnn_fixed_softmax_encoding", flag(config_.qnn_fixed_softmax_encoding)}});
          }}});
  }

 private:
  [[noreturn]] void invalid(const std::string& path, const std::string& reason) const {
    fail(ErrorCode::kInvalidArgument, source_ + ": " + path + ": " + reason);
  }

  bool read_bool(const JsonValue& v, const std::string& path) const {
    if (v.is_bool()) return v.as_bool(path);
    const std::string& text = v.as_string(path);
    if (text == "True") return true;
    if (text == "False") return false;
    invalid(path, "'" + text + "' is not a boolean (AIMET writes \"True\" or \"False\")");
  }

  MemberReader flag(bool& target) const {
    return [this, &target](const JsonValue& v, const std::string& p) { target = read_bool(v, p); };
  }
  MemberReader optional_flag(std::optional<bool>& target) const {
    return [this, &target](const JsonValue& v, const std::string& p) { target = read_bool(v, p); };
  }
  MemberReader ignored_kernels() const {
    return [this](const JsonValue& v, const std::string& p) { supported_kernels(v, p); };
  }

  // Reads the members of an object, rejecting any key `readers` does not list.
  void read_members(const JsonValue& object, const std::string& path,
                    const std::map<std::string, MemberReader>& readers) const {
    for (const auto& [key, value] : object.as_object(path)) {
      auto it = readers.find(key);
      if (it == readers.end()) {
        std::string known;
        for (const auto& [name, reader] : readers) known += (known.empty() ? "" : ", ") + name;
        invalid(path, "unknown key '" + key + "' (known here: " + known + ")");
      }
      it->second(value, path == "(top level)" ? key : path + "." + key);
    }
  }

  void defaults(const JsonValue& v, const std::string& path) {
    read_members(
        v, path,
        {{"ops",
          [this](const JsonValue& ops, const std::string& p) {
            read_members(ops, p,
                         {{"is_input_quantized", flag(config_.op_input_quantized)},
                          {"is_output_quantized", flag(config_.op_output_quantized)},
                          {"is_symmetric", flag(config_.op_symmetric)}});
          }},
         {"params",
          [this](const JsonValue& params, const std::string& p) {
            read_members(params, p,
                         {{"is_quantized", flag(config_.param_quantized)},
                          {"is_symmetric", flag(config_.param_symmetric)}});
          }},
         {"strict_symmetric", flag(config_.strict_symmetric)},
         {"unsigned_symmetric", flag(config_.unsigned_symmetric)},
         {"per_channel_quantization", flag(config_.per_channel)},
         {"hw_version", [this](const JsonValue& hw,
                               const std::string& p) { config_.hw_version = hw.as_string(p); }},
         {"supported_kernels", ignored_kernels()}});
  }

  void params(const JsonValue& v, const std::string& path,
              std::map<std::string, ParamRule>& rules) {
    for (const auto& [name, body] : v.as_object(path)) {
      std::string p = path + "." + name;
      if (known_param_names().count(name) == 0)
        invalid(p, "unknown parameter name '" + name +
                       "' (known: weight, bias, running_mean, running_var)");
      ParamRule& rule = rules[name];
      read_members(body, p,
                   {{"is_quantized", optional_flag(rule.is_quantized)},
                    {"is_symmetric", optional_flag(rule.is_symmetric)}});
    }
  }

  void check_op_type(const std::string& name, const std::string& path) {
    if (is_onnx_op_type(name)) return;
    if (aimet_custom_op_types().count(name) != 0) {
      config_.notes.push_back(path + ": '" + name +
                              "' is a custom op type of AIMET's configs, not an ONNX op; it "
                              "matches no ONNX node");
      return;
    }
    invalid(path, "'" + name + "' is not an ONNX op type" + closest_op_hint(name));
  }

  void op_types(const JsonValue& v, const std::string& path) {
    for (const auto& [name, body] : v.as_object(path)) {
      std::string p = path + "." + name;
      check_op_type(name, p);
      OpTypeRule& rule = config_.op_types[name];
      read_members(
          body, p,
          {{"is_input_quantized", optional_flag(rule.is_input_quantized)},
           {"is_output_quantized", optional_flag(rule.is_output_quantized)},
           {"is_symmetric", optional_flag(rule.is_symmetric)},
           {"per_channel_quantization", optional_flag(rule.per_channel)},
           {"params", [this, &rule](const JsonValue& pv,
                                    const std::string& pp) { params(pv, pp, rule.params); }},
           {"encoding_constraints",
            [this, &rule](const JsonValue& cv, const std::string& cp) {
              rule.encoding_constraints = constraint(cv, cp);
            }},
           {"supported_kernels", ignored_kernels()}});
    }
  }

  RangeConstraint constraint(const JsonValue& v, const std::string& path) const {
    RangeConstraint range;
    auto bound = [](std::optional<double>& target) {
      return [&target](const JsonValue& b, const std::string& p) { target = b.as_number(p); };
    };
    read_members(v, path, {{"min", bound(range.min)}, {"max", bound(range.max)}});
    if (range.min && range.max && !(*range.min < *range.max))
      invalid(path, "min must be below max");
    return range;
  }

  void supported_kernels(const JsonValue& v, const std::string& path) const {
    const auto& items = v.as_array(path);
    for (size_t i = 0; i < items.size(); ++i) {
      auto kernel_part = [this](const JsonValue& part, const std::string& p) {
        read_members(
            part, p,
            {{"bitwidth", [](const JsonValue& b, const std::string& bp) { b.as_int(bp); }},
             {"dtype", [](const JsonValue& d, const std::string& dp) { d.as_string(dp); }}});
      };
      read_members(items[i], path + "[" + std::to_string(i) + "]",
                   {{"activation", kernel_part}, {"param", kernel_part}});
    }
  }

  void supergroups(const JsonValue& v, const std::string& path) {
    const auto& groups = v.as_array(path);
    for (size_t g = 0; g < groups.size(); ++g) {
      std::string p = path + "[" + std::to_string(g) + "]";
      std::vector<std::string> ops;
      read_members(groups[g], p,
                   {{"op_list", [this, &ops](const JsonValue& list, const std::string& lp) {
                       const auto& names = list.as_array(lp);
                       for (size_t i = 0; i < names.size(); ++i) {
                         std::string ip = lp + "[" + std::to_string(i) + "]";
                         const std::string& name = names[i].as_string(ip);
                         if (!is_onnx_op_type(name))
                           invalid(ip,
                                   "'" + name + "' is not an ONNX op type" + closest_op_hint(name));
                         ops.push_back(name);
                       }
                     }}});
      if (ops.size() < 2) invalid(p, "a supergroup needs an op_list of at least two ops");
      config_.supergroups.push_back(std::move(ops));
    }
  }

  void supergroup_passes(const JsonValue& v, const std::string& path) {
    const auto& names = v.as_array(path);
    for (size_t i = 0; i < names.size(); ++i) {
      const std::string& name = names[i].as_string(path + "[" + std::to_string(i) + "]");
      config_.supergroup_passes.push_back(name);
      config_.notes.push_back(path + ": AIMET graph pass '" + name + "' is not applied by qsim");
    }
  }

  QuantSimConfig& config_;
  std::string source_;
};

template <typename Rule, typename Field>
std::optional<bool> find_rule(const std::map<std::string, Rule>& rules, const std::string& key,
                              Field field) {
  auto it = rules.find(key);
  return it == rules.end() ? std::nullopt : it->second.*field;
}

// Precedence as in AIMET: op_type.params, then the top-level params, then `fallback`
// (defaults.params).
bool param_setting(const QuantSimConfig& config, const std::string& op_type,
                   const std::string& param, std::optional<bool> ParamRule::*field, bool fallback) {
  auto op = config.op_types.find(op_type);
  std::optional<bool> from_op;
  if (op != config.op_types.end()) from_op = find_rule(op->second.params, param, field);
  return from_op.value_or(find_rule(config.params, param, field).value_or(fallback));
}

}  // namespace

bool is_onnx_op_type(const std::string& op_type) {
  return onnx_op_types().count(op_type) != 0;
}

bool QuantSimConfig::output_quantized(const std::string& op_type) const {
  return find_rule(op_types, op_type, &OpTypeRule::is_output_quantized)
      .value_or(op_output_quantized);
}

bool QuantSimConfig::input_quantized(const std::string& op_type) const {
  return find_rule(op_types, op_type, &OpTypeRule::is_input_quantized).value_or(op_input_quantized);
}

bool QuantSimConfig::output_symmetric(const std::string& op_type) const {
  return find_rule(op_types, op_type, &OpTypeRule::is_symmetric).value_or(op_symmetric);
}

bool QuantSimConfig::per_channel_for(const std::string& op_type) const {
  return find_rule(op_types, op_type, &OpTypeRule::per_channel).value_or(per_channel);
}

bool QuantSimConfig::param_quantized_for(const std::string& op_type,
                                         const std::string& param) const {
  return param_setting(*this, op_type, param, &ParamRule::is_quantized, param_quantized);
}

bool QuantSimConfig::param_symmetric_for(const std::string& op_type,
                                         const std::string& param) const {
  return param_setting(*this, op_type, param, &ParamRule::is_symmetric, param_symmetric);
}

const RangeConstraint* QuantSimConfig::output_constraint(const std::string& op_type) const {
  auto it = op_types.find(op_type);
  return it != op_types.end() && it->second.encoding_constraints ? &*it->second.encoding_constraints
                                                                 : nullptr;
}

QuantSimConfig default_quantsim_config(bool per_channel) {
  QuantSimConfig config;
  config.per_channel = per_channel;
  config.params[kParamBias].is_quantized = false;
  config.supergroups = {{"Conv", "Relu"}, {"Conv", "Clip"}, {"ConvTranspose", "Relu"},
                        {"Add", "Relu"},  {"Gemm", "Relu"}, {"MatMul", "Relu"}};
  return config;
}

namespace {

QuantSimConfig config_from_document(const JsonValue& root, const std::string& source) {
  // What AIMET makes of a key a file leaves out: quantizers it does not enable stay off.
  QuantSimConfig config;
  config.op_output_quantized = false;
  config.param_quantized = false;
  config.model_input_quantized = false;
  config.source = source;
  ConfigReader(config, source).read_document(root);
  return config;
}

}  // namespace

QuantSimConfig parse_quantsim_config(const std::string& json_text, const std::string& source) {
  return config_from_document(parse_json(json_text, source, DuplicateKeys::kLastWins), source);
}

QuantSimConfig read_quantsim_config_file(const std::string& path) {
  return config_from_document(read_json_file(path, DuplicateKeys::kLastWins), path);
}

}  // namespace qsim
