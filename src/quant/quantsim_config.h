// Quantizer settings for QuantSim: qsim's built-in defaults, or AIMET's quantsim config JSON
// (the format vendor configs ship in) so that those files load unchanged.
//
// AIMET's keys (docs/SOURCES.md section 4; AIMET's quantsim_config_schema.py):
//   defaults {ops {is_input_quantized, is_output_quantized, is_symmetric},
//             params {is_quantized, is_symmetric}, strict_symmetric, unsigned_symmetric,
//             per_channel_quantization, hw_version, supported_kernels}
//   params {<param> {is_quantized, is_symmetric}}
//   op_type {<OnnxOp> {is_input_quantized, is_output_quantized, is_symmetric,
//            per_channel_quantization, params {...}, encoding_constraints {min, max},
//            supported_kernels}}
//   supergroups [{op_list [...]}], supergroup_pass_list [...], model_input {is_input_quantized},
//   model_output {is_output_quantized}
// Booleans are AIMET's strings "True"/"False" or JSON booleans. Any other key throws
// kInvalidArgument naming it and its path. Accepted but without effect, each for a reason:
// `supported_kernels` (checked for shape; AIMET too ignores it unless a target-dtype flag is
// set), `hw_version` (kept as information), `supergroup_pass_list` (names of AIMET's own
// graph passes over decomposed LayerNorm/RMSNorm/MatMul+Add patterns; listed in `notes`).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

namespace qsim {

// The parameter slots QuantSim knows (AIMET's names: PyTorch's parameter names).
constexpr const char* kParamWeight = "weight";
constexpr const char* kParamBias = "bias";

struct ParamRule {
  std::optional<bool> is_quantized;
  std::optional<bool> is_symmetric;
};

// AIMET's encoding_constraints: a bound the output encoding must use whatever calibration
// sees (Softmax [0, 1]; Relu min 0). Both bounds set: the encoding needs no calibration.
struct RangeConstraint {
  std::optional<double> min;
  std::optional<double> max;
};

// Settings for one ONNX op type; unset fields fall back to the defaults.
struct OpTypeRule {
  std::optional<bool> is_input_quantized;
  std::optional<bool> is_output_quantized;
  std::optional<bool> is_symmetric;
  std::optional<bool> per_channel;
  std::map<std::string, ParamRule> params;  // by parameter name
  std::optional<RangeConstraint> encoding_constraints;
};

struct QuantSimConfig {
  // defaults.ops
  bool op_input_quantized = false;
  bool op_output_quantized = true;
  bool op_symmetric = false;
  // defaults.params
  bool param_quantized = true;
  bool param_symmetric = true;
  bool strict_symmetric = false;
  bool unsigned_symmetric = true;
  bool per_channel = false;
  std::string hw_version;
  std::map<std::string, ParamRule> params;  // top-level "params", by parameter name
  std::map<std::string, OpTypeRule> op_types;
  std::vector<std::vector<std::string>> supergroups;
  std::vector<std::string> supergroup_passes;  // AIMET graph-pass names, not applied
  bool model_input_quantized = true;
  std::optional<bool> model_output_quantized;  // unset: as the producing op says
  // qsim's own keys, under the top-level object "qsim_extensions" (AIMET has no such key):
  // - fuse_decomposed_patterns: no quantizer inside a decomposed LayerNorm or an Erf GELU,
  //   one on its output, as QNN's converter fuses them (docs/TRANSFORMERS.md). Default on.
  // - qnn_fixed_softmax_encoding: Softmax outputs without encoding_constraints of their own
  //   take QNN's fixed grid, scale 2^-bitwidth and offset 0 (1/256 at 8 bits, 1/65536 at 16),
  //   whatever calibration sees. Default on: QNN requires it, and ONNX Runtime's QLinearSoftmax
  //   requantizes with floor(1 / scale), exact only for such scales (docs/TRANSFORMERS.md).
  bool fuse_decomposed_patterns = true;
  bool qnn_fixed_softmax_encoding = true;
  std::string source = "built-in defaults";  // for messages and reports
  // What the config says that has no effect here (custom op types AIMET's own configs name,
  // graph passes), for reports.
  std::vector<std::string> notes;

  // Effective settings after the op_type and params overrides.
  bool output_quantized(const std::string& op_type) const;
  bool input_quantized(const std::string& op_type) const;
  bool output_symmetric(const std::string& op_type) const;
  bool per_channel_for(const std::string& op_type) const;
  bool param_quantized_for(const std::string& op_type, const std::string& param) const;
  bool param_symmetric_for(const std::string& op_type, const std::string& param) const;
  const RangeConstraint* output_constraint(const std::string& op_type) const;
};

// qsim's built-in configuration: AIMET's defaults (outputs and model inputs quantized,
// activations asymmetric, weights symmetric, bias float) with the supergroups Conv+Relu,
// Conv+Clip, ConvTranspose+Relu, Add+Relu, Gemm+Relu, MatMul+Relu.
QuantSimConfig default_quantsim_config(bool per_channel);

// Parses AIMET quantsim config JSON. Keys a file leaves out take AIMET's meaning of an absent
// key (quantizers it does not enable stay off; no supergroups). Throws kParse for malformed
// JSON or values of the wrong JSON kind, kInvalidArgument for unknown keys, booleans other than
// "True"/"False", op types that are not ONNX ops (naming the closest ONNX op) and supergroups
// naming such ops. Op types AIMET's own configs name for custom ops (BatchPermutation,
// ChannelShuffle, ...) are accepted with a note.
QuantSimConfig parse_quantsim_config(const std::string& json_text, const std::string& source);
QuantSimConfig read_quantsim_config_file(const std::string& path);

// True for op types of ONNX's default domain (opsets 1 to 24).
bool is_onnx_op_type(const std::string& op_type);

}  // namespace qsim
