// AIMET quantsim config JSON (src/quant/quantsim_config.h).
#include <catch2/catch.hpp>
#include <string>

#include "quant/quantsim_config.h"
#include "util/error.h"

using namespace qsim;

namespace {

// The layout of AIMET's shipped per-channel default config: AIMET's own string booleans, an
// op_type entry for a non-ONNX custom op ("LayerNorm"), and ops this kind of model lacks.
const char* kAimetStyleConfig = R"({
  "defaults": {
    "ops": {"is_output_quantized": "True"},
    "params": {"is_quantized": "True", "is_symmetric": "True"},
    "strict_symmetric": "False",
    "unsigned_symmetric": "True",
    "per_channel_quantization": "True"
  },
  "params": {"bias": {"is_quantized": "False"}},
  "op_type": {
    "Squeeze": {"is_output_quantized": "False"},
    "Pad": {"is_output_quantized": "False"},
    "Gemm": {"per_channel_quantization": "False"},
    "LayerNorm": {"per_channel_quantization": "False"}
  },
  "supergroups": [
    {"op_list": ["Conv", "Relu"]},
    {"op_list": ["Conv", "Clip"]},
    {"op_list": ["ConvTranspose", "Relu"]},
    {"op_list": ["Add", "Relu"]},
    {"op_list": ["Gemm", "Relu"]}
  ],
  "model_input": {"is_input_quantized": "True"},
  "model_output": {}
})";

// The message of the qsim::Error `fn` throws, checking its code.
template <typename Fn>
std::string error_of(Fn&& fn, ErrorCode expected) {
  try {
    fn();
  } catch (const Error& e) {
    CHECK(e.code() == expected);
    return e.what();
  }
  FAIL("no error thrown");
  return "";
}

std::string config_error(const std::string& json,
                         ErrorCode expected = ErrorCode::kInvalidArgument) {
  return error_of([&] { parse_quantsim_config(json, "cfg.json"); }, expected);
}

}  // namespace

TEST_CASE("an AIMET-style config with string booleans loads unchanged") {
  QuantSimConfig c = parse_quantsim_config(kAimetStyleConfig, "aimet.json");
  CHECK(c.op_output_quantized);
  CHECK_FALSE(c.op_symmetric);
  CHECK(c.param_quantized);
  CHECK(c.param_symmetric);
  CHECK(c.unsigned_symmetric);
  CHECK_FALSE(c.strict_symmetric);
  CHECK(c.per_channel);
  CHECK(c.model_input_quantized);
  CHECK_FALSE(c.model_output_quantized.has_value());
  REQUIRE(c.supergroups.size() == 5);
  CHECK(c.supergroups[0] == std::vector<std::string>{"Conv", "Relu"});
  CHECK(c.supergroups[2] == std::vector<std::string>{"ConvTranspose", "Relu"});
  // Overrides: op_type beats params beats defaults.
  CHECK_FALSE(c.param_quantized_for("Conv", "bias"));
  CHECK(c.param_quantized_for("Conv", "weight"));
  CHECK_FALSE(c.output_quantized("Squeeze"));
  CHECK(c.output_quantized("Conv"));
  CHECK_FALSE(c.per_channel_for("Gemm"));
  CHECK(c.per_channel_for("Conv"));
  // The custom-op name AIMET's file carries is accepted and reported.
  REQUIRE(c.notes.size() == 1);
  CHECK(c.notes[0].find("LayerNorm") != std::string::npos);
  CHECK(c.source == "aimet.json");
}

TEST_CASE("JSON booleans are accepted as well as AIMET's strings") {
  QuantSimConfig c = parse_quantsim_config(
      R"({"defaults": {"ops": {"is_output_quantized": true, "is_symmetric": true},
                       "params": {"is_quantized": false}},
          "op_type": {"Conv": {"params": {"weight": {"is_quantized": "True"}}}}})",
      "cfg.json");
  CHECK(c.op_output_quantized);
  CHECK(c.op_symmetric);
  CHECK_FALSE(c.param_quantized);
  CHECK(c.param_quantized_for("Conv", "weight"));
  CHECK_FALSE(c.param_quantized_for("Gemm", "weight"));
  CHECK_FALSE(c.param_quantized_for("Conv", "bias"));
}

TEST_CASE("keys a config leaves out keep their quantizers off, as in AIMET") {
  QuantSimConfig c = parse_quantsim_config("{}", "empty.json");
  CHECK_FALSE(c.op_output_quantized);
  CHECK_FALSE(c.param_quantized);
  CHECK_FALSE(c.model_input_quantized);
  CHECK(c.supergroups.empty());
  // The built-in defaults, by contrast, quantize everything but biases.
  QuantSimConfig d = default_quantsim_config(false);
  CHECK(d.op_output_quantized);
  CHECK(d.model_input_quantized);
  CHECK(d.param_quantized_for("Conv", "weight"));
  CHECK_FALSE(d.param_quantized_for("Conv", "bias"));
  CHECK_FALSE(d.per_channel);
  CHECK(default_quantsim_config(true).per_channel);
  CHECK(d.supergroups.size() == 6);
}

TEST_CASE("booleans other than True/False are rejected with their path") {
  std::string m = config_error(R"({"defaults": {"ops": {"is_output_quantized": "true"}}})");
  CHECK(m.find("cfg.json") != std::string::npos);
  CHECK(m.find("defaults.ops.is_output_quantized") != std::string::npos);
  CHECK(m.find("'true'") != std::string::npos);
  config_error(R"({"model_input": {"is_input_quantized": 1}})", ErrorCode::kParse);
}

TEST_CASE("unknown keys are rejected naming the key and its path") {
  std::string top = config_error(R"({"default": {}})");
  CHECK(top.find("unknown key 'default'") != std::string::npos);
  CHECK(top.find("(top level)") != std::string::npos);
  std::string nested = config_error(R"({"defaults": {"ops": {"is_quantized": "True"}}})");
  CHECK(nested.find("defaults.ops") != std::string::npos);
  CHECK(nested.find("'is_quantized'") != std::string::npos);
  CHECK(nested.find("is_output_quantized") != std::string::npos);  // lists what is known
  std::string op = config_error(R"({"op_type": {"Conv": {"is_outptu_quantized": "True"}}})");
  CHECK(op.find("op_type.Conv") != std::string::npos);
  std::string param = config_error(R"({"params": {"kernel": {"is_quantized": "True"}}})");
  CHECK(param.find("params.kernel") != std::string::npos);
  config_error(R"({"model_output": {"is_input_quantized": "True"}})");
  config_error(R"({"supergroups": [{"ops": ["Conv", "Relu"]}]})");
}

TEST_CASE("op types and supergroups must name ONNX ops") {
  std::string typo = config_error(R"({"op_type": {"Convv": {"is_output_quantized": "False"}}})");
  CHECK(typo.find("'Convv' is not an ONNX op type") != std::string::npos);
  CHECK(typo.find("did you mean 'Conv'") != std::string::npos);
  std::string lower = config_error(R"({"op_type": {"relu": {}}})");
  CHECK(lower.find("did you mean 'Relu'") != std::string::npos);
  std::string group = config_error(R"({"supergroups": [{"op_list": ["Conv", "ReLU6"]}]})");
  CHECK(group.find("supergroups[0].op_list[1]") != std::string::npos);
  std::string custom = config_error(R"({"supergroups": [{"op_list": ["Conv", "LayerNorm"]}]})");
  CHECK(custom.find("'LayerNorm' is not an ONNX op type") != std::string::npos);
  config_error(R"({"supergroups": [{"op_list": ["Conv"]}]})");
  CHECK(is_onnx_op_type("HardSwish"));
  CHECK(is_onnx_op_type("GroupNormalization"));
  CHECK_FALSE(is_onnx_op_type("HardSwish6"));
}

TEST_CASE("newer AIMET keys: constraints, hw_version, kernels and graph passes") {
  QuantSimConfig c = parse_quantsim_config(
      R"({"defaults": {"hw_version": "V79", "ops": {}, "params": {},
                       "supported_kernels": [{"activation": {"bitwidth": 16, "dtype": "int"},
                                              "param": {"bitwidth": 8, "dtype": "int"}}]},
          "op_type": {"Softmax": {"encoding_constraints": {"min": 0.0, "max": 1.0}},
                      "Relu": {"encoding_constraints": {"min": 0.0}},
                      "BatchNormalization": {"params": {"running_mean": {"is_quantized": "False"}}}},
          "supergroup_pass_list": ["LayerNormalization", "MatmulAdd"],
          "supergroups": []})",
      "htp.json");
  CHECK(c.hw_version == "V79");
  const RangeConstraint* softmax = c.output_constraint("Softmax");
  REQUIRE(softmax != nullptr);
  CHECK(*softmax->min == 0.0);
  CHECK(*softmax->max == 1.0);
  const RangeConstraint* relu = c.output_constraint("Relu");
  REQUIRE(relu != nullptr);
  CHECK(relu->min.has_value());
  CHECK_FALSE(relu->max.has_value());
  CHECK(c.output_constraint("Conv") == nullptr);
  CHECK(c.supergroup_passes == std::vector<std::string>{"LayerNormalization", "MatmulAdd"});
  CHECK(c.notes.size() == 2);
  config_error(R"({"op_type": {"Tanh": {"encoding_constraints": {"min": 1.0, "max": -1.0}}}})");
  config_error(R"({"defaults": {"supported_kernels": [{"activation": {"bits": 8}}]}})");
}

TEST_CASE("malformed JSON reports the line and column") {
  std::string m = config_error("{\n  \"defaults\": {,}\n}", ErrorCode::kParse);
  CHECK(m.find("cfg.json:2:") != std::string::npos);
  error_of([] { read_quantsim_config_file("/nonexistent/quantsim_config.json"); }, ErrorCode::kIo);
}
