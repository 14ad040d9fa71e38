// QuantSim (src/quant/quantsim.h): calibration and simulation on real Fashion-MNIST data.
#include <algorithm>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <limits>

#include "quant/quantsim.h"
#include "techniques/model_transforms.h"
#include "test_quantsim_data.h"
#include "util/error.h"

using namespace qsim;
using testdata::error_code_of;
using testdata::on_grid;

namespace {

constexpr int64_t kCalibrationImages = 500;
constexpr int64_t kCalibrationBatch = 50;
constexpr int64_t kEvalImages = 1000;

// Reads `count` training images from `first` in batches; `poison` (if >= 0) sets one pixel of
// the first batch to NaN.
BatchReader train_reader(int64_t first, int64_t count, int64_t poison = -1) {
  auto next = std::make_shared<int64_t>(first);
  return [next, first, count, poison](std::vector<Tensor>& batch) {
    if (*next >= first + count) return false;
    Tensor images =
        testdata::train_images(*next, std::min(kCalibrationBatch, first + count - *next));
    if (poison >= 0 && *next == first)
      images.data<float>()[poison] = std::numeric_limits<float>::quiet_NaN();
    *next += images.dim(0);
    batch = {images};
    return true;
  };
}

using testdata::RunFn;

// Top-1 accuracy in percent on the first kEvalImages test images.
double top1(const RunFn& run) {
  return testdata::test_top1(run, kEvalImages);
}

QuantSimOptions w8a8_per_channel_minmax() {
  QuantSimOptions o;
  o.transforms = {fold_batch_norm_transform};
  o.per_channel = true;
  o.activation_method = CalibrationMethod::kMinMax;
  return o;
}

Model reference_model(const std::string& file) {
  return load_onnx_file(testdata::model_path(file));
}

bool same_tensors(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (a[i].shape() != b[i].shape() ||
        !std::equal(a[i].data<float>(), a[i].data<float>() + a[i].size(), b[i].data<float>()))
      return false;
  return true;
}

}  // namespace

TEST_CASE("W8A8 per-channel MinMax stays within a point of float on both reference models") {
  for (const std::string& file : testdata::reference_models()) {
    QuantSim sim(reference_model(file), w8a8_per_channel_minmax());
    CHECK_FALSE(sim.ready());
    sim.calibrate(train_reader(0, kCalibrationImages), nullptr);
    REQUIRE(sim.ready());
    CHECK(sim.calibration_report().batches == kCalibrationImages / kCalibrationBatch);
    const double float_top1 = top1([&](const auto& in) { return sim.run_float(in); });
    const double quant_top1 = top1([&](const auto& in) { return sim.run_quantized(in); });
    std::printf(
        "%s: float top-1 %.1f %%, W8A8 per-channel MinMax %.1f %% (first %lld test images)\n",
        file.c_str(), float_top1, quant_top1, static_cast<long long>(kEvalImages));
    CHECK(float_top1 > 85.0);
    CHECK(std::fabs(float_top1 - quant_top1) <= 1.0);

    // The outputs of the simulation lie on the logits grid, and the prepared weights on theirs.
    const EncodingSet set = sim.encodings();
    const TensorEncoding* logits = set.find("logits");
    REQUIRE(logits != nullptr);
    CHECK(on_grid(sim.run_quantized({testdata::test_images(0, 8)}).at(0), *logits->encoding));
    for (const TensorEncoding& p : set.params)
      CHECK(on_grid(*sim.prepared_model().graph.find_initializer(p.name), *p.encoding));
  }
}

TEST_CASE("encodings() lists every quantized tensor, shared encodings and BN folding") {
  const Model model = reference_model("resnet_fmnist.onnx");
  QuantSim sim(model, w8a8_per_channel_minmax());
  sim.calibrate(train_reader(0, 100), nullptr);
  const EncodingSet set = sim.encodings();
  // 15 quantizers + MaxPool and Flatten outputs sharing their inputs' encodings.
  CHECK(set.activations.size() ==
        sim.placement().activations.size() + sim.placement().shared.size());
  const TensorEncoding* pool = set.find("/pool/MaxPool_output_0");
  const TensorEncoding* relu = set.find("/Relu_output_0");
  REQUIRE(pool != nullptr);
  REQUIRE(relu != nullptr);
  CHECK(pool->encoding->channels[0].scale == relu->encoding->channels[0].scale);
  CHECK(pool->encoding->channels[0].offset == relu->encoding->channels[0].offset);
  CHECK(set.params.size() == 10);
  for (const TensorEncoding& p : set.params) {
    CHECK(p.encoding->axis == 0);
    CHECK(p.encoding->channels.size() ==
          static_cast<size_t>(sim.float_model().graph.find_initializer(p.name)->dim(0)));
  }
  REQUIRE(set.techniques.size() == 1);
  CHECK(set.techniques[0].name == "bn_fold");
  CHECK(set.techniques[0].options.size() == 9);
  CHECK(set.quantizer_args.per_channel);
  CHECK(set.quantizer_args.quant_scheme == "post_training_tf");
  CHECK(set.model_fingerprint.size() == 64);
  // Names are the original ONNX tensor names.
  for (const TensorEncoding& a : set.activations) {
    bool exists = a.name == "input";
    for (const Node& n : model.graph.nodes)
      exists = exists || std::find(n.outputs.begin(), n.outputs.end(), a.name) != n.outputs.end();
    CHECK(exists);
  }
}

TEST_CASE(
    "model transforms apply in the caller's order and every one that changes the model is "
    "recorded") {
  const Model model = reference_model("resnet_fmnist.onnx");
  const auto batch_norms = [](const Model& m) {
    return std::count_if(m.graph.nodes.begin(), m.graph.nodes.end(),
                         [](const Node& n) { return n.op_type == "BatchNormalization"; });
  };
  REQUIRE(batch_norms(model) == 9);
  // A transform that records the batch norms it sees, so the order shows in its options.
  const auto census = [&](const std::string& name) -> ModelTransform {
    return [=](const TransformInput& in) {
      TransformOutcome outcome{
          in.model, {name, {{"batch_norms", std::to_string(batch_norms(in.model))}}}, {}, {}};
      return outcome;
    };
  };
  const ModelTransform unchanged = [](const TransformInput& in) {
    return TransformOutcome{in.model, {}, {}, in.statistics};
  };

  SECTION("none: the model as given") {
    QuantSimOptions o = w8a8_per_channel_minmax();
    o.transforms.clear();
    QuantSim sim(model, o);
    CHECK(batch_norms(sim.float_model()) == 9);
    CHECK(sim.applied_techniques().empty());
  }
  SECTION("census, fold, census: in that order, the unchanged one left out") {
    QuantSimOptions o = w8a8_per_channel_minmax();
    o.transforms = {census("before"), unchanged, fold_batch_norm_transform, census("after")};
    QuantSim sim(model, o);
    CHECK(batch_norms(sim.float_model()) == 0);
    const std::vector<AppliedTechnique> applied = sim.applied_techniques();
    REQUIRE(applied.size() == 3);
    CHECK(applied[0].name == "before");
    CHECK(applied[0].options.at("batch_norms") == "9");
    CHECK(applied[1].name == "bn_fold");
    CHECK(applied[2].name == "after");
    CHECK(applied[2].options.at("batch_norms") == "0");
    sim.calibrate(train_reader(0, 50), nullptr);
    const EncodingSet set = sim.encodings();
    REQUIRE(set.techniques.size() == 3);
    CHECK(set.techniques[1].name == "bn_fold");
    CHECK(technique_names(set.techniques) == "before,bn_fold,after");
  }
  SECTION("layer statistics: BN folding makes them, a change that does not carry them ends them") {
    QuantSimOptions o = w8a8_per_channel_minmax();
    o.transforms = {fold_batch_norm_transform, unchanged};
    const QuantSim kept(model, o);
    REQUIRE(kept.layer_statistics() != nullptr);
    CHECK(kept.layer_statistics()->size() == 9);
    for (const auto& [layer, stats] : *kept.layer_statistics()) {
      INFO(layer);
      const auto& nodes = kept.float_model().graph.nodes;
      CHECK(
          std::any_of(nodes.begin(), nodes.end(), [&](const Node& n) { return n.name == layer; }));
      CHECK(stats.gamma.size() == stats.beta.size());
    }
    o.transforms = {fold_batch_norm_transform, census("after")};
    CHECK(QuantSim(model, o).layer_statistics() == nullptr);
  }
  SECTION("a transform that fails fails the construction, naming what it refused") {
    QuantSimOptions o = w8a8_per_channel_minmax();
    o.transforms = {[](const TransformInput&) -> TransformOutcome {
      fail(ErrorCode::kInvalidArgument, "refused: Conv 'x'");
    }};
    CHECK(error_code_of([&] { QuantSim sim(model, o); }) == ErrorCode::kInvalidArgument);
  }
}

TEST_CASE("a cancelled calibration leaves the session as it was and usable") {
  QuantSim sim(reference_model("mobilenet_fmnist.onnx"), w8a8_per_channel_minmax());
  std::vector<int64_t> seen;
  auto cancel_after_two = [&seen](int64_t done, int64_t total, const std::string&) {
    seen.push_back(done);
    CHECK(total == 10);
    return done < 2;
  };
  CHECK(error_code_of([&] { sim.calibrate(train_reader(0, 500), cancel_after_two, 10); }) ==
        ErrorCode::kCancelled);
  CHECK(seen == std::vector<int64_t>{1, 2});
  CHECK_FALSE(sim.ready());
  CHECK(sim.encodings().activations.empty());
  CHECK(error_code_of([&] { sim.run_quantized({testdata::test_images(0, 4)}); }) ==
        ErrorCode::kState);

  sim.calibrate(train_reader(0, 200), [](int64_t, int64_t, const std::string&) { return true; });
  REQUIRE(sim.ready());
  const EncodingSet before = sim.encodings();
  const std::vector<Tensor> input = {testdata::test_images(0, 16)};
  const std::vector<Tensor> output = sim.run_quantized(input);
  // Different data, cancelled: nothing may change.
  CHECK(error_code_of([&] {
          sim.calibrate(train_reader(1000, 200),
                        [](int64_t, int64_t, const std::string&) { return false; });
        }) == ErrorCode::kCancelled);
  const EncodingSet after = sim.encodings();
  CHECK(after.activations == before.activations);
  CHECK(same_tensors(sim.run_quantized(input), output));
}

TEST_CASE("NaN in calibration data is rejected by default and excluded on request") {
  const Model model = reference_model("resnet_fmnist.onnx");
  const int64_t pixel = 3 * 28 * 28 + 400;  // image 3 of the first batch
  QuantSim strict(model, w8a8_per_channel_minmax());
  const std::string message =
      testdata::error_message_of([&] { strict.calibrate(train_reader(0, 100, pixel), nullptr); });
  CHECK(message.find("'input'") != std::string::npos);
  CHECK(message.find("1 NaN/Inf") != std::string::npos);
  CHECK(error_code_of([&] { strict.calibrate(train_reader(0, 100, pixel), nullptr); }) ==
        ErrorCode::kNumeric);
  CHECK_FALSE(strict.ready());

  QuantSimOptions exclude = w8a8_per_channel_minmax();
  exclude.nan_policy = NanPolicy::kExclude;
  QuantSim lenient(model, exclude);
  lenient.calibrate(train_reader(0, 100, pixel), nullptr);
  REQUIRE(lenient.ready());
  const auto& counts = lenient.calibration_report().nan_inf_counts;
  REQUIRE(counts.count("input") == 1);
  CHECK(counts.at("input") == 1);
  // The sample holding the NaN was left out whole, so nothing downstream saw it.
  CHECK(counts.size() == 1);
  CHECK(lenient.calibration_report().dropped_samples == 1);
  // The input range comes from the finite pixels: exactly [0, 1] on 255 levels.
  const EncodingSet set = lenient.encodings();
  const Encoding& input = *set.find("input")->encoding;
  CHECK(input.channels[0].offset == 0);
  CHECK(input.channels[0].scale == Approx(1.0 / 255).epsilon(1e-6));
}

TEST_CASE("calibration needs data, valid bit widths and a model the runtime supports") {
  const Model model = reference_model("resnet_fmnist.onnx");
  QuantSim sim(model, w8a8_per_channel_minmax());
  CHECK(error_code_of([&] {
          sim.calibrate([](std::vector<Tensor>&) { return false; }, nullptr);
        }) == ErrorCode::kInvalidArgument);
  CHECK_FALSE(sim.ready());
  for (int bits : {0, 1, 17}) {
    QuantSimOptions weights = w8a8_per_channel_minmax();
    weights.weight_bitwidth = bits;
    CHECK(error_code_of([&] { QuantSim bad(model, weights); }) == ErrorCode::kInvalidArgument);
    QuantSimOptions activations = w8a8_per_channel_minmax();
    activations.activation_bitwidth = bits;
    CHECK(error_code_of([&] { QuantSim bad(model, activations); }) == ErrorCode::kInvalidArgument);
  }
}

// AIMET JSON without qsim's extras does not say along which axis a per-channel weight's
// channels run; the reader guesses axis 0 and marks it, and loading takes the axis of the layer
// reading the weight: 1 for a Gemm with transB 0.
TEST_CASE("an implied per-channel axis follows the layer that reads the weight") {
  Model model = reference_model("resnet_fmnist.onnx");
  Node* gemm = nullptr;
  for (Node& n : model.graph.nodes)
    if (n.op_type == "Gemm") gemm = &n;
  REQUIRE(gemm != nullptr);
  REQUIRE(gemm->get_int("transB", 0) == 1);
  const std::string weight_name = gemm->inputs.at(1);
  Tensor& weight = model.graph.initializers.at(weight_name);
  Tensor transposed(DType::kFloat32, {weight.dim(1), weight.dim(0)});
  for (int64_t r = 0; r < weight.dim(0); ++r)
    for (int64_t c = 0; c < weight.dim(1); ++c)
      transposed.data<float>()[c * weight.dim(0) + r] = weight.data<float>()[r * weight.dim(1) + c];
  weight = transposed;
  gemm->attributes.erase("transB");

  QuantSim source(model, w8a8_per_channel_minmax());
  source.calibrate(train_reader(0, 200), nullptr);
  EncodingSet file = source.encodings();
  TensorEncoding* fc = nullptr;
  for (TensorEncoding& t : file.params)
    if (t.name == weight_name) fc = &t;
  REQUIRE(fc != nullptr);
  REQUIRE(fc->encoding->axis == 1);
  fc->encoding->axis = 0;  // what the JSON reader gives without the extras
  fc->axis_implied = true;

  QuantSim loaded(model, w8a8_per_channel_minmax());
  loaded.load_encodings(file);
  const EncodingSet applied = loaded.encodings();
  const TensorEncoding* applied_fc = applied.find(weight_name);
  REQUIRE(applied_fc != nullptr);
  CHECK(applied_fc->encoding->axis == 1);
  const std::vector<Tensor> input = {testdata::test_images(0, 32)};
  CHECK(same_tensors(loaded.run_quantized(input), source.run_quantized(input)));

  fc->axis_implied = false;  // an axis the file states is taken as it is, and refused here
  QuantSim refused(model, w8a8_per_channel_minmax());
  CHECK(error_code_of([&] { refused.load_encodings(file); }) == ErrorCode::kInvalidArgument);
}

TEST_CASE("loaded encodings are frozen and reproduce the simulation") {
  const Model model = reference_model("resnet_fmnist.onnx");
  QuantSim source(model, w8a8_per_channel_minmax());
  source.calibrate(train_reader(0, 200), nullptr);
  const EncodingSet file = source.encodings();
  const std::vector<Tensor> input = {testdata::test_images(0, 32)};

  QuantSim loaded(model, w8a8_per_channel_minmax());
  loaded.load_encodings(file);
  REQUIRE(loaded.ready());
  CHECK(same_tensors(loaded.run_quantized(input), source.run_quantized(input)));
  // Calibrating on other data keeps the frozen encodings.
  loaded.calibrate(train_reader(5000, 100), nullptr);
  CHECK(loaded.encodings().activations == file.activations);
  CHECK(loaded.encodings().params == file.params);

  SECTION("unknown and unquantized names are rejected") {
    EncodingSet bad = file;
    bad.activations[1].name = "no_such_tensor";
    CHECK(testdata::error_message_of([&] {
            loaded.load_encodings(bad);
          }).find("no tensor of that name") != std::string::npos);
    bad.activations[1].name = "/stem/stem.1/BatchNormalization_output_0";  // Conv -> Relu
    CHECK(testdata::error_message_of([&] { loaded.load_encodings(bad); }).find("supergroup") !=
          std::string::npos);
  }
  SECTION("channel counts and bit widths are checked") {
    EncodingSet bad = file;
    bad.params[0].encoding->channels.pop_back();
    CHECK(error_code_of([&] { loaded.load_encodings(bad); }) == ErrorCode::kInvalidArgument);
    bad = file;
    bad.activations[0].encoding->bitwidth = 17;
    CHECK(error_code_of([&] { loaded.load_encodings(bad); }) == ErrorCode::kInvalidArgument);
    bad = file;
    bad.params[0].encoding->bitwidth = 1;
    CHECK(error_code_of([&] { loaded.load_encodings(bad); }) == ErrorCode::kInvalidArgument);
  }
  SECTION("tensors sharing an encoding must agree") {
    EncodingSet bad = file;
    for (TensorEncoding& t : bad.activations)
      if (t.name == "/pool/MaxPool_output_0") t.encoding->channels[0].scale *= 2.0f;
    CHECK(testdata::error_message_of([&] {
            loaded.load_encodings(bad);
          }).find("shares its encoding") != std::string::npos);
  }
  // A failed load changed nothing.
  CHECK(loaded.encodings().activations == file.activations);
}

TEST_CASE("int32 biases and fixed output ranges from the configuration") {
  QuantSimOptions o = w8a8_per_channel_minmax();
  o.config = parse_quantsim_config(
      R"({"defaults": {"ops": {"is_output_quantized": "True"}, "params": {"is_quantized": "True"}},
          "params": {"bias": {"is_quantized": "True"}},
          "op_type": {"Gemm": {"encoding_constraints": {"min": -32.0, "max": 32.0}}},
          "supergroups": [{"op_list": ["Conv", "Relu"]}, {"op_list": ["Add", "Relu"]}],
          "model_input": {"is_input_quantized": "True"}, "model_output": {}})",
      "bias.json");
  QuantSim sim(reference_model("resnet_fmnist.onnx"), o);
  sim.calibrate(train_reader(0, 200), nullptr);
  const EncodingSet set = sim.encodings();
  const Encoding& logits = *set.find("logits")->encoding;
  CHECK(logits.channels[0].min() == Approx(-32.0).margin(0.2));
  CHECK(logits.channels[0].max(8) == Approx(32.0).margin(0.2));
  const Encoding& input = *set.find("input")->encoding;
  const Encoding& stem_weight = *set.find("stem.0.weight")->encoding;
  const Encoding& stem_bias = *set.find("stem.0.bias")->encoding;
  CHECK(stem_bias.bitwidth == 32);
  REQUIRE(stem_bias.channels.size() == stem_weight.channels.size());
  // The prepared bias is the float bias rounded to the nearest step of its int32 grid.
  const float* folded = sim.float_model().graph.find_initializer("stem.0.bias")->data<float>();
  const float* prepared = sim.prepared_model().graph.find_initializer("stem.0.bias")->data<float>();
  for (size_t c = 0; c < stem_bias.channels.size(); ++c) {
    const float scale = stem_bias.channels[c].scale;
    CHECK(scale == input.channels[0].scale * stem_weight.channels[c].scale);
    CHECK(std::fabs(prepared[c] - folded[c]) <= 0.5001 * scale);
    CHECK(prepared[c] / scale == Approx(std::nearbyint(prepared[c] / scale)).margin(1e-3));
  }
  const double quant_top1 = top1([&](const auto& in) { return sim.run_quantized(in); });
  const double float_top1 = top1([&](const auto& in) { return sim.run_float(in); });
  CHECK(std::fabs(float_top1 - quant_top1) <= 1.0);
}

TEST_CASE("the weight calibration method is chosen separately from the activations'") {
  const Model model = reference_model("mobilenet_fmnist.onnx");
  QuantSimOptions pow2 = w8a8_per_channel_minmax();
  pow2.weight_method = CalibrationMethod::kPowerOfTwo;
  QuantSim sim_pow2(model, pow2);
  QuantSim sim_minmax(model, w8a8_per_channel_minmax());
  const EncodingSet with_pow2 = sim_pow2.encodings();
  const EncodingSet with_minmax = sim_minmax.encodings();
  REQUIRE(with_pow2.params.size() == with_minmax.params.size());
  for (const TensorEncoding& p : with_pow2.params) {
    const TensorEncoding* m = with_minmax.find(p.name);
    REQUIRE(m != nullptr);
    REQUIRE(p.encoding->channels.size() == m->encoding->channels.size());
    for (const ChannelEncoding& c : p.encoding->channels) {
      int exponent = 0;
      CHECK(std::frexp(c.scale, &exponent) == 0.5f);  // a power of two
    }
    CHECK(on_grid(*sim_pow2.prepared_model().graph.find_initializer(p.name), *p.encoding));
  }
  // Weights do not depend on calibration data: both sessions have them before calibrating.
  CHECK(with_pow2.activations.empty());
}
