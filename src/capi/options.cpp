#include "capi/options.h"

#include <optional>
#include <utility>

#include "capi/guard.h"
#include "techniques/cross_layer_equalization.h"
#include "techniques/model_transforms.h"

namespace qsim::capi {
namespace {

constexpr std::pair<qsim_calibration_method, CalibrationMethod> kMethods[] = {
    {QSIM_CALIB_MINMAX, CalibrationMethod::kMinMax},
    {QSIM_CALIB_TF_ENHANCED, CalibrationMethod::kTfEnhanced},
    {QSIM_CALIB_PERCENTILE, CalibrationMethod::kPercentile},
    {QSIM_CALIB_ENTROPY, CalibrationMethod::kEntropy},
    {QSIM_CALIB_MSE, CalibrationMethod::kMse},
    {QSIM_CALIB_POW2, CalibrationMethod::kPowerOfTwo},
};

CalibrationMethod method_of(qsim_calibration_method method, const char* field) {
  for (const auto& [c_method, method_inside] : kMethods)
    if (c_method == method) return method_inside;
  fail(ErrorCode::kInvalidArgument, std::string("qsim_options.") + field + " is " +
                                        std::to_string(static_cast<int>(method)) +
                                        ", not a qsim_calibration_method");
}

qsim_calibration_method c_method_of(CalibrationMethod method) {
  for (const auto& [c_method, method_inside] : kMethods)
    if (method_inside == method) return c_method;
  fail(ErrorCode::kInternal, "calibration method without a qsim_calibration_method");
}

constexpr std::pair<qsim_target, Target> kTargets[] = {
    {QSIM_TARGET_EXACT, Target::kExact},
    {QSIM_TARGET_ORT_AVX2, Target::kOrtAvx2},
};

// The target of qsim_options.<field> (target or emulate).
Target target_of(qsim_target target, const char* field) {
  for (const auto& [c_target, target_inside] : kTargets)
    if (c_target == target) return target_inside;
  fail(ErrorCode::kInvalidArgument, std::string("qsim_options.") + field + " is " +
                                        std::to_string(static_cast<int>(target)) +
                                        ", not a qsim_target (QSIM_TARGET_EXACT 0, "
                                        "QSIM_TARGET_ORT_AVX2 1)");
}

qsim_target c_target_of(Target target) {
  for (const auto& [c_target, target_inside] : kTargets)
    if (target_inside == target) return c_target;
  fail(ErrorCode::kInternal, "target without a qsim_target");
}

void check_bits(int32_t bits, const char* field) {
  require(bits >= kMinBitwidth && bits <= kMaxBitwidth, ErrorCode::kInvalidArgument,
          std::string("qsim_options.") + field + " is " + std::to_string(bits) + "; it must be " +
              std::to_string(kMinBitwidth) + " to " + std::to_string(kMaxBitwidth));
}

// Unset: QuantSim's built-in configuration.
std::optional<QuantSimConfig> read_config(const qsim_options& options) {
  if (options.config_path != nullptr) return read_quantsim_config_file(options.config_path);
  if (options.config_json != nullptr)
    return parse_quantsim_config(options.config_json, "config_json");
  return std::nullopt;
}

}  // namespace

qsim_options default_options() {
  qsim_options defaults{};
  defaults.struct_size = sizeof defaults;
  defaults.num_threads = 0;
  defaults.weight_bits = 8;
  defaults.activation_bits = 8;
  defaults.per_channel = 0;
  defaults.seed = 0;
  defaults.activation_calibration = QSIM_CALIB_TF_ENHANCED;
  defaults.weight_calibration = QSIM_CALIB_MINMAX;
  defaults.percentile = 99.999;
  defaults.config_path = nullptr;
  defaults.config_json = nullptr;
  defaults.fold_batch_norm = 1;
  defaults.nan_policy = QSIM_NAN_REJECT;
  defaults.target = QSIM_TARGET_EXACT;
  defaults.emulate = QSIM_TARGET_EXACT;
  defaults.max_tensor_bytes = static_cast<uint64_t>(kDefaultMaxTensorBytes);
  defaults.cross_layer_equalization = 0;
  defaults.cle_steps = -1;
  defaults.cle_replace_relu6 = 1;
  defaults.cle_high_bias_absorption = 1;
  defaults.cle_include_bias = 0;
  return defaults;
}

qsim_options read_options(const qsim_options* options) {
  qsim_options resolved =
      read_versioned(options, default_options(), "qsim_options", "qsim_options_init(&o, sizeof o)");
  require(resolved.num_threads >= 0 && resolved.num_threads <= 1024, ErrorCode::kInvalidArgument,
          "num_threads must be between 0 (all cores) and 1024");
  check_bits(resolved.weight_bits, "weight_bits");
  check_bits(resolved.activation_bits, "activation_bits");
  method_of(resolved.activation_calibration, "activation_calibration");
  method_of(resolved.weight_calibration, "weight_calibration");
  require(resolved.percentile > 0.0 && resolved.percentile <= 100.0, ErrorCode::kInvalidArgument,
          "qsim_options.percentile is " + std::to_string(resolved.percentile) +
              "; it must be in (0, 100]");
  require(resolved.config_path == nullptr || resolved.config_json == nullptr,
          ErrorCode::kInvalidArgument,
          "qsim_options: config_path and config_json are both set; give one of them");
  require(resolved.nan_policy == QSIM_NAN_REJECT || resolved.nan_policy == QSIM_NAN_EXCLUDE,
          ErrorCode::kInvalidArgument,
          "qsim_options.nan_policy is " + std::to_string(static_cast<int>(resolved.nan_policy)) +
              ", not a qsim_nan_policy");
  target_of(resolved.target, "target");
  target_of(resolved.emulate, "emulate");
  require(resolved.max_tensor_bytes >= 1 &&
              resolved.max_tensor_bytes <= static_cast<uint64_t>(kMaxTensorBytes),
          ErrorCode::kInvalidArgument,
          "qsim_options.max_tensor_bytes is " + std::to_string(resolved.max_tensor_bytes) +
              "; it must be 1 to 2^40 (default 2^31)");
  require(
      resolved.cle_steps == -1 || (resolved.cle_steps >= 1 && resolved.cle_steps <= kMaxCleSteps),
      ErrorCode::kInvalidArgument,
      "qsim_options.cle_steps is " + std::to_string(resolved.cle_steps) +
          "; give -1 (until converged) or 1 to " + std::to_string(kMaxCleSteps));
  return resolved;
}

QuantSimOptions quantsim_options(const qsim_options& options) {
  QuantSimOptions q;
  q.weight_bitwidth = options.weight_bits;
  q.activation_bitwidth = options.activation_bits;
  // 0 means "as the configuration says", so only a request for per-channel overrides it.
  if (options.per_channel != 0) q.per_channel = true;
  q.activation_method = method_of(options.activation_calibration, "activation_calibration");
  q.weight_method = method_of(options.weight_calibration, "weight_calibration");
  q.observer_options.percentile = options.percentile;
  q.config = read_config(options);
  // Techniques that change the float model, in the order AIMET applies them.
  if (options.fold_batch_norm != 0) q.transforms.push_back(fold_batch_norm_transform);
  if (options.cross_layer_equalization != 0) {
    CleOptions cle;
    cle.steps = options.cle_steps;
    cle.replace_relu6 = options.cle_replace_relu6 != 0;
    // High-bias absorption reads the statistics of the BatchNormalizations folding removed,
    // which the folding transform before it hands on.
    cle.high_bias_absorption = options.cle_high_bias_absorption != 0;
    cle.include_bias = options.cle_include_bias != 0;
    q.transforms.push_back(cross_layer_equalization(cle));
  }
  q.nan_policy = options.nan_policy == QSIM_NAN_EXCLUDE ? NanPolicy::kExclude : NanPolicy::kReject;
  q.num_threads = options.num_threads;
  q.target = target_of(options.target, "target");
  q.emulate = target_of(options.emulate, "emulate");
  q.max_tensor_bytes = static_cast<int64_t>(options.max_tensor_bytes);
  return q;
}

}  // namespace qsim::capi

using qsim::capi::guard;
using qsim::capi::require_arg;

extern "C" {

qsim_status qsim_options_init(qsim_options* options, uint32_t struct_size) {
  return guard([&] {
    require_arg(options, "qsim_options_init", "options");
    qsim::capi::write_versioned(options, struct_size, qsim::capi::default_options(),
                                "qsim_options_init");
  });
}

qsim_status qsim_calibration_method_from_name(const char* name,
                                              qsim_calibration_method* out_method) {
  return guard([&] {
    require_arg(name, "qsim_calibration_method_from_name", "name");
    require_arg(out_method, "qsim_calibration_method_from_name", "out_method");
    *out_method = qsim::capi::c_method_of(qsim::calibration_method_from_name(name));
  });
}

qsim_status qsim_target_from_name(const char* name, qsim_target* out_target) {
  return guard([&] {
    require_arg(name, "qsim_target_from_name", "name");
    require_arg(out_target, "qsim_target_from_name", "out_target");
    *out_target = qsim::capi::c_target_of(qsim::target_from_name(name));
  });
}

}  // extern "C"
