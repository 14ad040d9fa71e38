// AIMET-compatible JSON encodings files, versions 0.6.1 and 1.0.0.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <limits>
#include <random>

#include "io/encodings_json.h"
#include "test_formats_compare.h"
#include "test_formats_synthetic.h"
#include "util/json_value.h"

using namespace qsim;
using namespace qsim::test;

namespace {

const std::string kModels = std::string(QSIM_SOURCE_DIR) + "/models/";
const AimetJsonVersion kVersions[] = {AimetJsonVersion::k0_6_1, AimetJsonVersion::k1_0_0};

const char* version_name(AimetJsonVersion version) {
  return version == AimetJsonVersion::k0_6_1 ? "0.6.1" : "1.0.0";
}

// The file as a plain AIMET exporter would write it: the same text minus qsim's extras.
std::string without_qsim_extras(const std::string& text) {
  const size_t at = text.find(",\n  \"qsim\": ");
  REQUIRE(at != std::string::npos);
  return text.substr(0, at) + "\n}\n";
}

// What docs/ENCODINGS.md says a reader infers for `t` from a file without qsim's extras.
TensorEncoding as_inferred(TensorEncoding t, bool params, AimetJsonVersion version) {
  const bool is_bias_width = t.encoding && t.encoding->bitwidth == kBiasBitwidth;
  t.role = !params         ? TensorRole::kActivation
           : is_bias_width ? TensorRole::kBias
                           : TensorRole::kWeight;
  if (!t.encoding) return t;
  Encoding& e = *t.encoding;
  const bool per_channel =
      version == AimetJsonVersion::k1_0_0 ? e.per_channel() : e.channels.size() > 1;
  e.axis = per_channel ? (params ? 0 : 1) : -1;
  const auto signed_offset = static_cast<int32_t>(-(int64_t{1} << (e.bitwidth - 1)));
  const bool all_signed =
      std::all_of(e.channels.begin(), e.channels.end(),
                  [&](const ChannelEncoding& c) { return c.offset == signed_offset; });
  if (e.symmetry == Symmetry::kUnsignedSymmetric && all_signed) e.symmetry = Symmetry::kSymmetric;
  return t;
}

std::vector<TensorEncoding> inferred(const std::vector<TensorEncoding>& tensors, bool params,
                                     AimetJsonVersion version) {
  std::vector<TensorEncoding> out;
  for (const TensorEncoding& t : tensors) out.push_back(as_inferred(t, params, version));
  return out;
}

}  // namespace

TEST_CASE("AIMET JSON 0.6.1 and 1.0.0 round-trip every encoding exactly") {
  const std::string path = temp_file("roundtrip.encodings");
  for (AimetJsonVersion version : kVersions) {
    SECTION(std::string("synthetic set, version ") + version_name(version)) {
      const EncodingSet set = synthetic_encoding_set();
      write_encodings_json(set, version, path);
      require_same_sets(read_encodings_json(path), set);
    }
    for (const char* model : {"resnet_fmnist.onnx", "mobilenet_fmnist.onnx"}) {
      SECTION(std::string(model) + ", version " + version_name(version)) {
        const EncodingSet set = reference_model_encoding_set(kModels + model);
        write_encodings_json(set, version, path);
        require_same_sets(read_encodings_json(path), set);
      }
    }
  }
  std::filesystem::remove(path);
}

TEST_CASE("JSON floats are the shortest text that reads back to the same float32") {
  // Scales from random bit patterns across the whole float range, subnormals included.
  std::mt19937 rng(3);
  EncodingSet set;
  TensorEncoding w = quantized_tensor("w", TensorRole::kWeight, 8, Symmetry::kSymmetric, 0, {});
  while (w.encoding->channels.size() < 3000) {
    const uint32_t bits = rng() & 0x7fffffffu;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    if (scale > 0.0f && scale < 1e36f) w.encoding->channels.push_back({scale, -128});
  }
  for (float scale : {0.5f, 0.1f, 1.0f / 3.0f, std::numeric_limits<float>::denorm_min(),
                      std::numeric_limits<float>::min(), 1e36f, 16777217.0f})
    w.encoding->channels.push_back({scale, -128});
  set.params.push_back(w);
  for (AimetJsonVersion version : kVersions) {
    INFO("version " << version_name(version));
    require_same_sets(parse_encodings_json(encodings_json_text(set, version), "floats.json"), set);
  }
  // 1.0.0 lists the scales as written: each token reads back exactly, one digit fewer does not.
  const std::string text = encodings_json_text(set, AimetJsonVersion::k1_0_0);
  const size_t begin = text.find("\"scale\": [") + 10, end = text.find(']', begin);
  std::vector<std::string> tokens;
  for (size_t at = begin; at < end;) {
    const size_t comma = std::min(text.find(", ", at), end);
    tokens.push_back(text.substr(at, comma - at));
    at = comma + 2;
  }
  const auto& channels = w.encoding->channels;
  REQUIRE(tokens.size() == channels.size());
  for (size_t i = 0; i < tokens.size(); ++i) {
    INFO(tokens[i]);
    const std::string mantissa = tokens[i].substr(0, tokens[i].find('e'));
    const std::string significant =
        mantissa.substr(std::min(mantissa.find_first_not_of("0."), mantissa.size()));
    const auto digits = std::count_if(significant.begin(), significant.end(), ::isdigit);
    CHECK(static_cast<float>(std::strtod(tokens[i].c_str(), nullptr)) == channels[i].scale);
    char shorter[512];
    std::snprintf(shorter, sizeof shorter, "%.*g", static_cast<int>(digits) - 1,
                  static_cast<double>(channels[i].scale));
    if (digits > 6) CHECK(static_cast<float>(std::strtod(shorter, nullptr)) != channels[i].scale);
  }
  CHECK(std::vector<std::string>(tokens.end() - 7, tokens.end()) ==
        std::vector<std::string>{"0.5", "0.1", "0.33333334", "1.4013e-45", "1.1754944e-38", "1e+36",
                                 "16777216"});
}

TEST_CASE("the JSON files have AIMET's layout") {
  const EncodingSet set = synthetic_encoding_set();
  SECTION("0.6.1: sections keyed by tensor name, one dict per channel, is_symmetric as a string") {
    const JsonValue doc = parse_json(encodings_json_text(set, AimetJsonVersion::k0_6_1), "0.6.1");
    CHECK(doc.find("version")->as_string("") == "0.6.1");
    const JsonValue& input = doc.find("activation_encodings")->find("input")->as_array("").at(0);
    CHECK(input.find("dtype")->as_string("") == "int");
    CHECK(input.find("bitwidth")->as_int("") == 8);
    CHECK(input.find("is_symmetric")->as_string("") == "False");
    CHECK(input.find("offset")->as_int("") == 0);
    CHECK(input.find("min")->as_number("") == 0.0);
    CHECK(input.find("max")->as_number("") == Approx(1.0));
    const auto& weight = doc.find("param_encodings")->find("conv64.weight.symmetric")->as_array("");
    CHECK(weight.size() == 64);
    CHECK(weight[5].find("is_symmetric")->as_string("") == "True");
    CHECK(weight[5].find("offset")->as_int("") == -128);
    const JsonValue& softmax =
        doc.find("activation_encodings")->find("/softmax/Softmax_output_0")->as_array("").at(0);
    CHECK(softmax.find("dtype")->as_string("") == "float");
    CHECK(softmax.find("bitwidth")->as_int("") == 16);
    CHECK(softmax.as_object("").size() == 2);
    const JsonValue& args = *doc.find("quantizer_args");
    CHECK(args.find("per_channel_quantization")->as_bool(""));
    CHECK_FALSE(args.find("is_symmetric")->as_bool(""));
    CHECK(args.find("quant_scheme")->as_string("") == "post_training_percentile");
    CHECK(doc.find("excluded_layers")->as_array("").size() == 2);
  }
  SECTION("1.0.0: lists of {name, dtype, enc_type, bw, is_sym, scale[], offset[]}") {
    const JsonValue doc = parse_json(encodings_json_text(set, AimetJsonVersion::k1_0_0), "1.0.0");
    CHECK(doc.find("version")->as_string("") == "1.0.0");
    const auto& params = doc.find("param_encodings")->as_array("");
    const JsonValue& weight = params.at(0);
    CHECK(weight.find("name")->as_string("") == "conv64.weight.asymmetric");
    CHECK(weight.find("dtype")->as_string("") == "INT");
    CHECK(weight.find("enc_type")->as_string("") == "PER_CHANNEL");
    CHECK(weight.find("bw")->as_int("") == 8);
    CHECK_FALSE(weight.find("is_sym")->as_bool(""));
    CHECK(weight.find("scale")->as_array("").size() == 64);
    CHECK(weight.find("offset")->as_array("").size() == 64);
    CHECK(weight.find("min") == nullptr);
    const JsonValue& layernorm = params.back();
    CHECK(layernorm.find("dtype")->as_string("") == "FLOAT");
    CHECK(layernorm.find("enc_type")->as_string("") == "PER_TENSOR");
    CHECK(layernorm.find("bw")->as_int("") == 16);
    const JsonValue& input = doc.find("activation_encodings")->as_array("").at(0);
    CHECK(input.find("enc_type")->as_string("") == "PER_TENSOR");
    CHECK(input.find("scale")->as_array("").size() == 1);
  }
}

TEST_CASE("without qsim's extras the reader infers role, symmetry and axis as documented") {
  const EncodingSet set = synthetic_encoding_set();
  for (AimetJsonVersion version : kVersions) {
    INFO("version " << version_name(version));
    const EncodingSet plain =
        parse_encodings_json(without_qsim_extras(encodings_json_text(set, version)), "plain.json");
    require_same_tensors(plain.activations, inferred(set.activations, false, version));
    require_same_tensors(plain.params, inferred(set.params, true, version));
    CHECK(plain.techniques.empty());
    CHECK(plain.model_fingerprint.empty());
    CHECK_FALSE(plain.quantizer_args.activation_symmetric);
    // The inference really loses these, which is why the extras exist.
    CHECK(plain.find("input")->role == TensorRole::kActivation);
    CHECK(plain.find("deconv.weight")->encoding->axis == 0);
    CHECK(plain.find("deconv.weight")->axis_implied);  // loading takes the layer's axis
    const EncodingSet full = parse_encodings_json(encodings_json_text(set, version), "full.json");
    CHECK_FALSE(full.find("deconv.weight")->axis_implied);
    CHECK(plain.find("/act/bw5/unsigned_symmetric")->encoding->symmetry == Symmetry::kSymmetric);
    CHECK(plain.find("fc16.bias")->role == TensorRole::kWeight);
  }
  const EncodingSet plain = parse_encodings_json(
      without_qsim_extras(encodings_json_text(set, AimetJsonVersion::k0_6_1)), "plain.json");
  CHECK(plain.find("one_channel.weight")->encoding->axis == -1);
  CHECK(plain.find("/per_channel_act/Relu_output_0")->encoding->symmetry ==
        Symmetry::kUnsignedSymmetric);
  CHECK(plain.find("conv64.bias")->role == TensorRole::kBias);
}

TEST_CASE("files from AIMET read as AIMET means them, unknown keys ignored") {
  SECTION("0.6.1 (docs/SOURCES.md section 3's example, with a converter's extra keys)") {
    const EncodingSet set = parse_encodings_json(R"({"version": "0.6.1",
      "activation_encodings": {"/conv1/Relu_output_0": [{"bitwidth": 8, "dtype": "int",
          "is_symmetric": "False", "max": 2.55, "min": -0.126, "offset": -12, "scale": 0.0105, "note": 1}]},
      "param_encodings": {
        "conv1.weight": [{"bitwidth": 8, "dtype": "int", "is_symmetric": "True",
          "max": 1.524, "min": -1.536, "offset": -128, "scale": 0.012}],
        "conv1.bias": [{"bitwidth": 32, "dtype": "int", "is_symmetric": "True",
          "max": 1.0, "min": -1.0, "offset": -2147483648, "scale": 4.656612873e-10}],
        "fc.weight": [{"bitwidth": 4, "dtype": "int", "is_symmetric": "True", "max": 1.0, "min": -1.0, "offset": -7, "scale": 0.142857},
                      {"bitwidth": 4, "dtype": "int", "is_symmetric": "True", "max": 2.0, "min": -2.0, "offset": -7, "scale": 0.285714}]},
      "excluded_layers": ["/head/Softmax"],
      "quantizer_args": {"activation_bitwidth": 8, "dtype": "int", "is_symmetric": true,
          "param_bitwidth": 8, "per_channel_quantization": false, "quant_scheme": "post_training_tf_enhanced"},
      "converter_extras": {"anything": [1, 2, {"x": null}]}})",
                                                 "aimet.encodings");
    const TensorEncoding& relu = set.activations.at(0);
    CHECK(relu.role == TensorRole::kActivation);
    CHECK(relu.encoding->symmetry == Symmetry::kAsymmetric);
    CHECK(relu.encoding->channels.at(0).offset == -12);
    CHECK(relu.encoding->channels.at(0).scale == 0.0105f);
    const TensorEncoding* weight = set.find("conv1.weight");
    CHECK(weight->role == TensorRole::kWeight);
    CHECK(weight->encoding->symmetry == Symmetry::kSymmetric);
    CHECK(weight->encoding->axis == -1);
    const TensorEncoding* bias = set.find("conv1.bias");
    CHECK(bias->role == TensorRole::kBias);
    CHECK(bias->encoding->bitwidth == 32);
    CHECK(bias->encoding->channels.at(0).offset == std::numeric_limits<int32_t>::min());
    const TensorEncoding* fc = set.find("fc.weight");
    CHECK(fc->encoding->symmetry == Symmetry::kStrictSymmetric);
    CHECK(fc->encoding->axis == 0);
    CHECK(fc->axis_implied);
    CHECK(fc->encoding->channels.size() == 2);
    CHECK(set.excluded_layers == std::vector<std::string>{"/head/Softmax"});
    CHECK(set.quantizer_args.param_symmetric);
    CHECK(set.quantizer_args.quant_scheme == "post_training_tf_enhanced");
  }
  SECTION("0.4 (no version, no dtype, offsets written as floats, booleans as strings)") {
    const EncodingSet set = parse_encodings_json(R"({"activation_encodings": {"20": [{"bitwidth": 8,
        "is_symmetric": "False", "max": 2.6086959838867188, "min": -2.109158515930176, "offset": -114.0,
        "scale": 0.018501389771699905}]}, "param_encodings": {},
        "quantizer_args": {"is_symmetric": "False", "per_channel_quantization": "True"}})",
                                                 "old.encodings");
    CHECK(set.find("20")->encoding->channels.at(0).offset == -114);
    CHECK(set.find("20")->encoding->channels.at(0).scale == 0.018501389771699905f);
    CHECK_FALSE(set.quantizer_args.param_symmetric);
    CHECK(set.quantizer_args.per_channel);
  }
  SECTION("1.0.0 (as AIMET 2 exports it, with keys qsim does not know)") {
    const EncodingSet set = parse_encodings_json(R"({"version": "1.0.0",
      "activation_encodings": [
        {"name": "input", "dtype": "INT", "enc_type": "PER_TENSOR", "bw": 8, "is_sym": false,
         "scale": [0.003921568859368563], "offset": [0]},
        {"name": "logits", "dtype": "FLOAT", "enc_type": "PER_TENSOR", "bw": 16}],
      "param_encodings": [
        {"bw": 8, "dtype": "INT", "enc_type": "PER_CHANNEL", "is_sym": true, "name": "stem.weight",
         "offset": [-128, -128, -128], "scale": [0.0003764387220144272, 1.1920928955078125e-07, 0.0005325825186446309],
         "block_size": null}],
      "excluded_layers": [], "quantizer_args": {"activation_bitwidth": 8}, "supergroup_pass_list": []})",
                                                 "aimet2.encodings");
    CHECK(set.find("input")->encoding->channels.at(0).scale == 0.003921568859368563f);
    CHECK_FALSE(set.find("logits")->encoding.has_value());
    CHECK(set.find("logits")->float_bitwidth == 16);
    const TensorEncoding* stem = set.find("stem.weight");
    CHECK(stem->encoding->axis == 0);
    CHECK(stem->encoding->symmetry == Symmetry::kSymmetric);
    CHECK(stem->encoding->channels.at(1).scale == 1.1920928955078125e-07f);
  }
}

TEST_CASE("malformed JSON encodings are rejected with messages naming the tensor") {
  // One activation "a" (0.6.1) or one param "p" (1.0.0) around the entry under test.
  auto legacy = [](const std::string& entries, const std::string& more_keys = "") {
    return R"({"version": "0.6.1", "activation_encodings": {"a": [)" + entries +
           R"(]}, "param_encodings": {})" + more_keys + "}";
  };
  auto v1 = [](const std::string& entry) {
    return R"({"version": "1.0.0", "activation_encodings": [], "param_encodings": [)" + entry +
           "]}";
  };
  const std::string ok =
      R"({"bitwidth": 8, "dtype": "int", "is_symmetric": "False", "offset": -3, "scale": 0.5)";
  struct Case {
    std::string text;
    ErrorCode code;
    std::string message;
  };
  const std::vector<Case> cases = {
      {legacy(ok + "}").substr(0, 60), ErrorCode::kParse, "bad.json:1:"},
      {"[]", ErrorCode::kParse, "bad.json should be an object"},
      {R"({"version": "2.0.0"})", ErrorCode::kUnsupported, "version \"2.0.0\" is not supported"},
      {R"({"version": 1})", ErrorCode::kParse, "version should be a string"},
      {R"({"version": "0.6.1", "activation_encodings": []})", ErrorCode::kParse,
       "activation_encodings should be an object"},
      {legacy(""), ErrorCode::kParse, "tensor 'a': has no encodings"},
      {legacy(R"({"bitwidth": 8, "dtype": "int", "is_symmetric": "False", "offset": -3})"),
       ErrorCode::kParse, "tensor 'a': \"scale\" is missing"},
      {legacy(ok + R"(, "scale": "0.5"})"), ErrorCode::kParse, "duplicate key \"scale\""},
      {legacy(R"({"bitwidth": 8, "is_symmetric": "False", "offset": -3, "scale": "0.5"})"),
       ErrorCode::kParse, "tensor 'a': scale should be a number"},
      {legacy(R"({"bitwidth": 8, "is_symmetric": "False", "offset": -3, "scale": -0.5})"),
       ErrorCode::kParse, "tensor 'a': scale -0.5 is not a positive float32"},
      {legacy(R"({"bitwidth": 8, "is_symmetric": "False", "offset": -3, "scale": 1e39})"),
       ErrorCode::kParse, "scale 1e+39 is not a positive float32"},
      {legacy(R"({"bitwidth": 8, "is_symmetric": "False", "offset": -3.5, "scale": 0.5})"),
       ErrorCode::kParse, "tensor 'a': offset should be a whole number"},
      {legacy(R"({"bitwidth": 8, "is_symmetric": "False", "offset": 5, "scale": 0.5})"),
       ErrorCode::kParse, "tensor 'a': offset 5 does not fit a 8-bit asymmetric grid"},
      {legacy(R"({"bitwidth": 8, "is_symmetric": "maybe", "offset": -3, "scale": 0.5})"),
       ErrorCode::kParse, "tensor 'a': is_symmetric should be \"True\" or \"False\""},
      {legacy(R"({"bitwidth": 8, "is_symmetric": "True", "offset": -100, "scale": 0.5})"),
       ErrorCode::kParse,
       "tensor 'a': is_symmetric is true but the offsets are not those of a symmetric 8-bit grid"},
      {legacy(R"({"bitwidth": 17, "is_symmetric": "False", "offset": -3, "scale": 0.5})"),
       ErrorCode::kParse, "tensor 'a': bit width 17 is outside 2 to 16"},
      {legacy(R"({"bitwidth": 1, "is_symmetric": "False", "offset": 0, "scale": 0.5})"),
       ErrorCode::kParse, "tensor 'a': bit width 1"},
      {legacy(R"({"bitwidth": 32, "is_symmetric": "True", "offset": -2147483648, "scale": 0.5})"),
       ErrorCode::kParse,
       "tensor 'a': bit width 32 is outside 2 to 16 (32 is allowed for biases only)"},
      {legacy(ok + "}, " +
              R"({"bitwidth": 4, "is_symmetric": "False", "offset": -3, "scale": 0.5})"),
       ErrorCode::kParse, "tensor 'a' channel 1: dtype and bitwidth differ"},
      {legacy(ok + "}, " +
              R"({"bitwidth": 8, "is_symmetric": "True", "offset": -128, "scale": 0.5})"),
       ErrorCode::kParse, "tensor 'a' channel 1: is_symmetric differs"},
      {legacy(R"({"bitwidth": 16, "dtype": "bf16"})"), ErrorCode::kParse,
       "tensor 'a': dtype should be \"int\" or \"float\""},
      {legacy(R"({"bitwidth": 8, "dtype": "float"})"), ErrorCode::kParse,
       "tensor 'a': float bit width 8 is not 16 or 32"},
      {legacy(ok + R"(, "min": "low"})"), ErrorCode::kParse, "tensor 'a': min should be a number"},
      {v1(R"({"dtype": "INT", "enc_type": "PER_TENSOR", "bw": 8, "is_sym": true, "scale": [1], "offset": [-128]})"),
       ErrorCode::kParse, "param_encodings[0]: \"name\" is missing"},
      {v1(R"({"name": "p", "dtype": "INT", "enc_type": "LPBQ", "bw": 4, "is_sym": true, "scale": [1], "offset": [-8]})"),
       ErrorCode::kUnsupported, "tensor 'p': enc_type \"LPBQ\" is not supported"},
      {v1(R"({"name": "p", "dtype": "INT", "enc_type": "PER_CHANNEL", "bw": 8, "is_sym": true, "scale": [1, 2], "offset": [-128]})"),
       ErrorCode::kParse, "tensor 'p': 2 scales but 1 offsets"},
      {v1(R"({"name": "p", "dtype": "INT", "enc_type": "PER_TENSOR", "bw": 8, "is_sym": true, "scale": [1, 2], "offset": [-128, -128]})"),
       ErrorCode::kParse, "tensor 'p': a per-tensor encoding has 2 scales"},
      {v1(R"({"name": "p", "dtype": "INT", "enc_type": "PER_TENSOR", "bw": 8, "is_sym": "yes", "scale": [1], "offset": [-128]})"),
       ErrorCode::kParse, "tensor 'p': is_sym should be \"True\" or \"False\""},
      {v1(R"({"name": "p", "dtype": "INT", "enc_type": "PER_TENSOR", "bw": 8, "is_sym": true, "scale": [0], "offset": [-128]})"),
       ErrorCode::kParse, "tensor 'p': scale[0] 0 is not a positive float32"},
      {R"({"version": "0.6.1", "activation_encodings": {"x": [{"bitwidth": 16, "dtype": "float"}]},
          "param_encodings": {"x": [{"bitwidth": 16, "dtype": "float"}]}})",
       ErrorCode::kParse, "tensor 'x' is listed twice"},
      {R"({"version": "0.6.1", "activation_encodings": {}, "param_encodings": {}, "excluded_layers": "all"})",
       ErrorCode::kParse, "excluded_layers should be an array"},
      {R"({"version": "0.6.1", "activation_encodings": {}, "param_encodings": {}, "quantizer_args": {"is_symmetric": 3}})",
       ErrorCode::kParse, "quantizer_args.is_symmetric should be a string"},
      {legacy(ok + "}", R"(, "qsim": {"activation_tensors": {"a": {"symmetry": "lopsided"}}})"),
       ErrorCode::kParse, "qsim.activation_tensors 'a': symmetry: unknown value \"lopsided\""},
      {legacy(ok + "}", R"(, "qsim": {"activation_tensors": {"a": {"symmetry": "symmetric"}}})"),
       ErrorCode::kParse, "tensor 'a': is_symmetric contradicts the qsim symmetry \"symmetric\""},
      {legacy(ok + "}", R"(, "qsim": {"activation_tensors": {"a": {"role": "weight"}}})"),
       ErrorCode::kParse, "tensor 'a': a weight cannot be listed with the activations"},
      {legacy(ok + "}", R"(, "qsim": {"activation_tensors": {"a": {"axis": -2}}})"),
       ErrorCode::kParse, "tensor 'a': axis -2 is negative"},
  };
  for (const Case& c : cases) {
    INFO(c.text);
    const Error e = error_of([&] { parse_encodings_json(c.text, "bad.json"); });
    CHECK(e.code() == c.code);
    CHECK_THAT(e.what(), Catch::Contains(c.message));
    CHECK_THAT(e.what(), Catch::StartsWith("bad.json"));
  }
}

TEST_CASE("JSON writers refuse bad sets and unwritable paths; a missing file is an I/O error") {
  EncodingSet bad;
  bad.activations.push_back(
      quantized_tensor("a", TensorRole::kActivation, 8, Symmetry::kAsymmetric, -1, {{0.0, 1.0}}));
  bad.activations[0].encoding->bitwidth = 17;
  const std::string path = temp_file("refused.encodings");
  std::filesystem::remove(path);
  for (AimetJsonVersion version : kVersions) {
    const Error e = error_of([&] { write_encodings_json(bad, version, path); });
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(e.what(), Catch::Contains("tensor 'a': bit width 17"));
    CHECK(!std::filesystem::exists(path));
    const Error io = error_of(
        [&] { write_encodings_json(EncodingSet{}, version, "/nonexistent/dir/e.encodings"); });
    CHECK(io.code() == ErrorCode::kIo);
  }
  const Error missing = error_of([] { read_encodings_json("/nonexistent/e.encodings"); });
  CHECK(missing.code() == ErrorCode::kIo);
  CHECK_THAT(missing.what(), Catch::Contains("/nonexistent/e.encodings"));
}
