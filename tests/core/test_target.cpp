// Export targets (src/quant/target.h): the weight grids Target::kOrtAvx2 chooses, and the
// target recorded in every export and read back.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "graph/onnx_export.h"
#include "graph/onnx_import.h"
#include "io/encodings_fbs.h"
#include "io/encodings_json.h"
#include "quant/qdq_export.h"
#include "quant/quantsim.h"
#include "quant/target.h"
#include "single_op_model.h"
#include "techniques/model_transforms.h"
#include "test_formats_compare.h"
#include "test_quantsim_data.h"

using namespace qsim;
using qsim::test::error_of;
using qsim::testing::make_tensor;

namespace {

// Three output channels of four 8-bit symmetric weights each (scale 1/127 per channel):
//   0: 127 and 114 positive, a pair sum of 241 * 255: saturates;
//   1: 127 and 0.508 (rounded up: 1) positive, -63.5 twice (rounded down: -64): 128 and -128,
//      the largest sums that fit;
//   2: 0.01 / (1/127) = 1.27 rounds up to 2, so 127 + 2 = 129 can saturate.
Tensor three_channel_weight() {
  return make_tensor<float>({3, 4}, {1.0f, 0.9f, -0.1f, 0.0f,     //
                                     1.0f, 0.004f, -0.5f, -0.5f,  //
                                     1.0f, 0.01f, -0.5f, -0.2f});
}

std::vector<float> values_of(const Tensor& t) {
  return std::vector<float>(t.data<float>(), t.data<float>() + t.size());
}

// `values` fake-quantized on `encoding`, row `row` of a [rows, 4] tensor.
std::vector<float> quantized_row(const Tensor& values, const Encoding& encoding, int64_t row) {
  Tensor copy = values.clone();
  fake_quantize(copy, encoding);
  const std::vector<float> all = values_of(copy);
  return std::vector<float>(all.begin() + row * 4, all.begin() + (row + 1) * 4);
}

Model reference(const std::string& file) {
  return load_onnx_file(testdata::model_path(file));
}

BatchReader training_images(int64_t count) {
  auto done = std::make_shared<bool>(false);
  return [done, count](std::vector<Tensor>& batch) {
    if (*done) return false;
    *done = true;
    batch = {testdata::train_images(0, count)};
    return true;
  };
}

QuantSimOptions options_for(Target target) {
  QuantSimOptions options;
  options.transforms = {fold_batch_norm_transform};
  options.per_channel = true;
  options.target = target;
  return options;
}

// The root table's vtable (FlatBuffers: a u32 root offset, then the table's i32 offset back to
// its vtable of u16 size, u16 table size and one u16 per field).
uint32_t u32_at(const std::string& bytes, size_t pos) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(bytes[pos + i]);
  return v;
}
uint32_t u16_at(const std::string& bytes, size_t pos) {
  return static_cast<uint8_t>(bytes[pos]) | (static_cast<uint8_t>(bytes[pos + 1]) << 8);
}
size_t root_vtable(const std::string& bytes) {
  const uint32_t root = u32_at(bytes, 0);
  return root - u32_at(bytes, root);
}
size_t root_vtable_slots(const std::string& bytes) {
  return (u16_at(bytes, root_vtable(bytes)) - 4) / 2;
}
size_t root_field_position(const std::string& bytes, size_t slot) {
  return u32_at(bytes, 0) + u16_at(bytes, root_vtable(bytes) + 4 + 2 * slot);
}
constexpr size_t kTargetSlot = 7;  // Encodings.target, the eighth field

bool depthwise(const Model& model, const std::string& weight) {
  for (const Node& node : model.graph.nodes)
    if (node.op_type == "Conv" && node.inputs.at(1) == weight)
      return node.get_int("group", 1) > 1 && model.graph.find_initializer(weight)->dim(1) == 1;
  return false;
}

}  // namespace

TEST_CASE("target names round-trip and unknown names are rejected listing the valid ones") {
  for (Target t : {Target::kExact, Target::kOrtAvx2}) CHECK(target_from_name(target_name(t)) == t);
  CHECK(std::string(target_name(Target::kOrtAvx2)) == "ort-avx2");
  const Error e = error_of([] { target_from_name("ort_avx2"); });
  CHECK(e.code() == ErrorCode::kInvalidArgument);
  CHECK(std::string(e.what()) == "unknown target 'ort_avx2' (valid: exact, ort-avx2)");
}

TEST_CASE("a channel whose int8 pair sums could pass int16 is found, whatever the rounding") {
  const Tensor w = three_channel_weight();
  const Encoding eight = encode_from_values(w, 8, Symmetry::kSymmetric, 0, "w");
  CHECK(int16_pair_sums_fit(w, eight, 0) == std::vector<bool>{false, true, false});
  // Per tensor, pairs still never cross output channels: the same verdict per group.
  const Encoding per_tensor = encode_from_values(w, 8, Symmetry::kSymmetric, -1, "w");
  CHECK(int16_pair_sums_fit(w, per_tensor, 0) == std::vector<bool>{false, true, false});
  // Without an output-channel axis everything is one group, and 127 + 127 does not fit.
  CHECK(int16_pair_sums_fit(w, per_tensor, -1) == std::vector<bool>{false});
  // 7-bit grids store [-64, 63]: 2 * 63 and 2 * -64 always fit.
  const Encoding seven = encode_from_values(w, 7, Symmetry::kSymmetric, 0, "w");
  CHECK(int16_pair_sums_fit(w, seven, 0) == std::vector<bool>{true, true, true});
  const Encoding strict = encode_from_values(w, 7, Symmetry::kStrictSymmetric, 0, "w");
  CHECK(int16_pair_sums_fit(w, strict, 0) == std::vector<bool>{true, true, true});
}

TEST_CASE("ort-avx2 weight grids: 8 bits where nothing can saturate, else the 7-bit levels") {
  const Tensor w = three_channel_weight();
  // A strict-symmetric 8-bit grid is stored with zero point -1 (int8 = round(x / scale) - 1):
  // channel 1's -64, -64 become -65, -65 (saturates), channel 2's 127, 2 become 126, 1 (fits).
  const Encoding strict = encode_from_values(w, 8, Symmetry::kStrictSymmetric, 0, "w");
  CHECK(int16_pair_sums_fit(w, strict, 0) == std::vector<bool>{false, false, true});
  {
    const Symmetry symmetry = Symmetry::kSymmetric;
    const Encoding eight = encode_from_values(w, 8, symmetry, 0, "w");
    const Encoding seven = encode_from_values(w, 7, symmetry, 0, "w");
    const Encoding chosen = ort_avx2_weight_encoding(w, eight, seven, 0);
    // Channels 0 and 2 take the 7-bit grid's levels inside an 8-bit encoding; 1 keeps 8 bits.
    REQUIRE(chosen.bitwidth == 8);
    CHECK(chosen.channels[1].scale == eight.channels[1].scale);
    CHECK(chosen.channels[1].offset == eight.channels[1].offset);
    for (int64_t c : {0, 2}) {
      CHECK(chosen.channels[c].scale == seven.channels[c].scale);
      CHECK(chosen.channels[c].offset == seven.channels[c].offset - 64);
      CHECK(quantized_row(w, chosen, c) == quantized_row(w, seven, c));
    }
    CHECK(quantized_row(w, chosen, 1) == quantized_row(w, eight, 1));
    CHECK(int16_pair_sums_fit(w, chosen, 0) == std::vector<bool>{true, true, true});
  }

  // Only the channel that fits: the 8-bit encoding unchanged.
  const Tensor fits = make_tensor<float>({1, 4}, {1.0f, 0.004f, -0.5f, -0.5f});
  const Encoding eight = encode_from_values(fits, 8, Symmetry::kSymmetric, 0, "w");
  const Encoding kept = ort_avx2_weight_encoding(
      fits, eight, encode_from_values(fits, 7, Symmetry::kSymmetric, 0, "w"), 0);
  CHECK(TensorEncoding{"w", TensorRole::kWeight, kept, 32} ==
        TensorEncoding{"w", TensorRole::kWeight, eight, 32});

  // Per tensor, one group that can saturate makes the whole tensor 7-bit.
  const Encoding seven_tensor = encode_from_values(w, 7, Symmetry::kSymmetric, -1, "w");
  const Encoding reduced = ort_avx2_weight_encoding(
      w, encode_from_values(w, 8, Symmetry::kSymmetric, -1, "w"), seven_tensor, 0);
  CHECK(TensorEncoding{"w", TensorRole::kWeight, reduced, 32} ==
        TensorEncoding{"w", TensorRole::kWeight, seven_tensor, 32});
}

TEST_CASE("QuantSim for ort-avx2: Conv and Gemm weights 7-bit, depthwise ones and exact 8-bit") {
  for (const std::string file : {"resnet_fmnist.onnx", "mobilenet_fmnist.onnx"}) {
    INFO(file);
    const Model model = reference(file);
    const QuantSim avx2(model, options_for(Target::kOrtAvx2));
    const QuantSim exact(model, options_for(Target::kExact));
    CHECK(avx2.encodings().target == Target::kOrtAvx2);
    CHECK(exact.encodings().target == Target::kExact);
    int depthwise_weights = 0, reduced_weights = 0;
    for (const TensorEncoding& t : avx2.encodings().params) {
      if (t.role != TensorRole::kWeight) continue;
      INFO(t.name);
      const bool is_depthwise = depthwise(avx2.float_model(), t.name);
      CHECK(avx2.placement().find_param(t.name)->u8s8_kernel == !is_depthwise);
      CHECK(t.encoding->bitwidth == (is_depthwise ? 8 : 7));
      CHECK(exact.encodings().find(t.name)->encoding->bitwidth == 8);
      depthwise_weights += is_depthwise;
      reduced_weights += !is_depthwise;
    }
    CHECK(reduced_weights > 0);
    CHECK(depthwise_weights == (file == "mobilenet_fmnist.onnx" ? 5 : 0));
  }
}

TEST_CASE("QuantSim for ort-avx2 keeps 8 bits in a Conv channel that cannot saturate") {
  // Output channel 0 holds one positive and one negative weight (127 and -127: no pair of one
  // sign); channel 1 two positive ones (127 + 127).
  const Tensor w = make_tensor<float>({2, 2, 1, 1}, {0.5f, -0.5f, 0.5f, 0.5f});
  const auto model = qsim::testing::one_node("Conv", 13, {"x", "w"}, {}, {{"w", w}});
  QuantSimOptions options = options_for(Target::kOrtAvx2);
  const QuantSim per_channel(*model, options);
  const EncodingSet set = per_channel.encodings();
  const Encoding& mixed = *set.find("w")->encoding;
  CHECK(mixed.bitwidth == 8);
  CHECK(mixed.channels[0].scale == 0.5f / 127);
  CHECK(mixed.channels[1].scale == 0.5f / 63);
  options.per_channel = false;
  const QuantSim per_tensor(*model, options);
  CHECK(per_tensor.encodings().find("w")->encoding->bitwidth == 7);
}

TEST_CASE("the target round-trips through every encodings file and the QDQ model") {
  const Model model = reference("resnet_fmnist.onnx");
  QuantSim sim(model, options_for(Target::kOrtAvx2));
  sim.calibrate(training_images(50), nullptr);
  const EncodingSet set = sim.encodings();
  REQUIRE(set.target == Target::kOrtAvx2);
  const std::string fbs = encodings_fbs_bytes(set, "test");
  qsim::test::require_same_sets(parse_encodings_fbs(fbs.data(), fbs.size(), "a.fbs"), set);
  for (AimetJsonVersion version : {AimetJsonVersion::k0_6_1, AimetJsonVersion::k1_0_0}) {
    const std::string text = encodings_json_text(set, version);
    CHECK(text.find("\"target\": \"ort-avx2\"") != std::string::npos);
    qsim::test::require_same_sets(parse_encodings_json(text, "a.json"), set);
  }
  const std::string qdq = serialize_onnx(build_qdq_model(sim.float_model(), set).model);
  const Model read = load_onnx_memory(qdq.data(), qdq.size());
  CHECK(read.metadata.at(kTargetMetadataKey) == "ort-avx2");
  CHECK(read.metadata.at(kTechniquesMetadataKey) == "bn_fold");
}

TEST_CASE("files without a target read as exact; unknown targets are rejected naming the file") {
  // FlatBuffers leaves out fields at their default, so a file for the exact target has no
  // target in its root table: the very bytes writers before the field wrote.
  EncodingSet set;
  set.activations.push_back(
      {"x", TensorRole::kModelInput,
       encode_from_values(make_tensor<float>({2}, {0.0f, 1.0f}), 8, Symmetry::kAsymmetric, -1, "x"),
       32});
  const std::string old_file = encodings_fbs_bytes(set, "test");
  CHECK(root_vtable_slots(old_file) == kTargetSlot);
  CHECK(parse_encodings_fbs(old_file.data(), old_file.size(), "old.fbs").target == Target::kExact);

  set.target = Target::kOrtAvx2;
  std::string file = encodings_fbs_bytes(set, "test");
  REQUIRE(root_vtable_slots(file) == kTargetSlot + 1);
  const size_t position = root_field_position(file, kTargetSlot);
  REQUIRE(file[position] == 1);
  file[position] = 7;
  const Error e = error_of([&] { parse_encodings_fbs(file.data(), file.size(), "future.fbs"); });
  CHECK(e.code() == ErrorCode::kParse);
  CHECK(std::string(e.what()) ==
        "future.fbs: target 7 is unknown (this reader knows exact 0 and ort-avx2 1)");

  const std::string no_extras =
      R"({"version": "0.6.1", "activation_encodings": {}, "param_encodings": {}})";
  CHECK(parse_encodings_json(no_extras, "aimet.json").target == Target::kExact);
  const Error bad = error_of([] {
    parse_encodings_json(
        R"({"version": "1.0.0", "activation_encodings": [], "param_encodings": [],)"
        R"( "qsim": {"target": "avx2"}})",
        "bad.json");
  });
  CHECK(bad.code() == ErrorCode::kParse);
  CHECK(std::string(bad.what()) ==
        "bad.json: qsim.target: unknown target 'avx2' (valid: exact, ort-avx2)");
}

TEST_CASE("a loaded file's target becomes the encodings' target, noted when not the session's") {
  const Model model = reference("resnet_fmnist.onnx");
  QuantSim avx2(model, options_for(Target::kOrtAvx2));
  avx2.calibrate(training_images(50), nullptr);
  QuantSim exact(model, options_for(Target::kExact));
  exact.load_encodings(avx2.encodings(), "resnet.encodings.fbs");
  CHECK(exact.encodings_target() == Target::kOrtAvx2);
  CHECK(exact.encodings().target == Target::kOrtAvx2);
  const std::vector<std::string> notes = exact.notes();
  CHECK(std::find(notes.begin(), notes.end(),
                  "resnet.encodings.fbs: encodings made for target 'ort-avx2', this session's "
                  "target is 'exact'; the simulation and exports use the file's grids") !=
        notes.end());
  const Tensor images = testdata::test_images(0, 20);
  const Tensor a = avx2.run_quantized({images}).at(0), b = exact.run_quantized({images}).at(0);
  CHECK(values_of(a) == values_of(b));

  // A file with activation encodings only leaves the weights, and their target, as they were.
  EncodingSet activations_only = avx2.encodings();
  activations_only.params.clear();
  activations_only.target = Target::kExact;
  QuantSim avx2_session(model, options_for(Target::kOrtAvx2));
  avx2_session.load_encodings(activations_only, "acts.json");
  CHECK(avx2_session.encodings_target() == Target::kOrtAvx2);
  CHECK(avx2_session.notes().back() ==
        "acts.json: encodings made for target 'exact', this session's target is 'ort-avx2'; "
        "the simulation and exports use the file's grids");
}
