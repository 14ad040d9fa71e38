// Bias correction (src/techniques/bias_correction.h), empirical and analytical, on the reference
// models.
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <random>

#include "techniques/bias_correction.h"
#include "techniques/cross_layer_equalization.h"
#include "techniques/model_transforms.h"
#include "test_quantsim_data.h"

using namespace qsim;

namespace {

QuantSimOptions options(int weight_bits, bool per_channel, bool cle) {
  QuantSimOptions o;
  o.transforms = {fold_batch_norm_transform};
  if (cle) o.transforms.push_back(cross_layer_equalization({}));
  o.weight_bitwidth = weight_bits;
  o.per_channel = per_channel;
  o.activation_method = CalibrationMethod::kMinMax;
  return o;
}

double quantized_top1(QuantSim& sim) {
  return testdata::test_top1([&](const std::vector<Tensor>& in) { return sim.run_quantized(in); },
                             1000);
}

}  // namespace

TEST_CASE("bias correction removes the mean shift 4-bit weights give each layer's output",
          "[bias_correction]") {
  for (const std::string& file : testdata::reference_models()) {
    INFO(file);
    QuantSim sim(load_onnx_file(testdata::model_path(file)), options(4, true, false));
    sim.calibrate(testdata::train_batches(0, 500, 100), nullptr);
    const double nearest = quantized_top1(sim);
    const EncodingSet before = sim.encodings();
    int64_t calls = 0;
    const BiasCorrectionReport report =
        correct_bias(sim, testdata::train_batches(0, 512, 64), {},
                     [&](int64_t done, int64_t total, const std::string&) {
                       ++calls;
                       CHECK(done <= total);
                       return true;
                     });
    const double corrected = quantized_top1(sim);
    INFO("W4A8 per-channel top-1: nearest " << nearest << ", bias-corrected " << corrected);
    CHECK(report.layers > 0);
    CHECK(calls == report.layers);
    CHECK(report.samples == 512);
    CHECK(corrected >= nearest + 1.0);  // 88.2 -> 91.6 (ResNet), 89.8 -> 91.5 (MobileNet)
    // Encodings stay (weights' grids and activations); the technique is recorded.
    const EncodingSet after = sim.encodings();
    REQUIRE(after.params.size() == before.params.size());
    for (size_t i = 0; i < after.params.size(); ++i)
      if (after.params[i].role == TensorRole::kWeight)
        CHECK(after.params[i].encoding->channels[0].scale ==
              before.params[i].encoding->channels[0].scale);
    CHECK(after.techniques.back().name == "bias_correction");
  }
}

TEST_CASE("the clipped normal mean analytical correction assumes matches sampling",
          "[bias_correction]") {
  const double inf = std::numeric_limits<double>::infinity();
  struct Case {
    double mean, stddev, low, high;
  };
  for (const Case c :
       {Case{0.3, 1.2, 0.0, 6.0}, Case{-1.0, 0.5, 0.0, inf}, Case{2.0, 3.0, -inf, inf},
        Case{5.5, 2.0, 0.0, 6.0}, Case{1.0, 2.0, -0.5, 0.5}}) {
    std::mt19937_64 rng(7);
    std::normal_distribution<double> normal(c.mean, c.stddev);
    double sum = 0.0;
    constexpr int kDraws = 400000;
    for (int i = 0; i < kDraws; ++i) sum += std::clamp(normal(rng), c.low, c.high);
    INFO("N(" << c.mean << ", " << c.stddev << "^2) clipped to [" << c.low << ", " << c.high
              << "]");
    CHECK(clipped_normal_mean(c.mean, c.stddev, c.low, c.high) ==
          Approx(sum / kDraws).margin(0.01 * c.stddev));
  }
  CHECK(clipped_normal_mean(7.0, 0.0, 0.0, 6.0) == 6.0);
  CHECK(clipped_normal_mean(-2.0, 0.0, 0.0, inf) == 0.0);
}

TEST_CASE(
    "analytical bias correction takes BN-fed layers from the statistics, the rest "
    "empirically",
    "[bias_correction]") {
  for (const std::string& file : testdata::reference_models()) {
    INFO(file);
    const Model model = load_onnx_file(testdata::model_path(file));
    QuantSim empirical(model, options(4, true, false));
    QuantSim analytical(model, options(4, true, false));
    REQUIRE(analytical.layer_statistics() != nullptr);
    for (QuantSim* sim : {&empirical, &analytical})
      sim->calibrate(testdata::train_batches(0, 500, 100), nullptr);
    const double nearest = quantized_top1(analytical);
    BiasCorrectionOptions both;
    both.samples = 256;
    const BiasCorrectionReport measured =
        correct_bias(empirical, testdata::train_batches(0, 256, 64), both, nullptr);
    both.analytical = true;
    const BiasCorrectionReport report =
        correct_bias(analytical, testdata::train_batches(0, 256, 64), both, nullptr);
    const double top1_empirical = quantized_top1(empirical), top1 = quantized_top1(analytical);
    WARN(file << ": W4A8 per-channel top-1 nearest " << nearest << ", empirical " << top1_empirical
              << ", analytical " << top1 << " (" << report.analytical_layers << " of "
              << report.layers << " layers)");
    CHECK(report.layers == measured.layers);
    // The layers fed by a BN-folded layer, directly or through Relu/Clip, are analytical:
    // ResNet's second convolution of each of its 3 blocks (the first ones and the shortcuts
    // read an Add); MobileNet's depthwise and projection convolutions of its 5 blocks and the
    // expansions of the 2 blocks without a residual before them. The stem and the Gemm
    // (after pooling) are always empirical.
    CHECK(report.analytical_layers == (file == "resnet_fmnist.onnx" ? 3 : 12));
    CHECK(analytical.applied_techniques().back().options.at("analytical_layers") ==
          std::to_string(report.analytical_layers));
    CHECK(top1 >= nearest + 0.5);
  }
}

TEST_CASE("analytical bias correction without BN statistics corrects every layer empirically",
          "[bias_correction]") {
  QuantSimOptions o = options(4, true, false);
  o.transforms.clear();  // no folding: no statistics
  QuantSim sim(load_onnx_file(testdata::model_path("resnet_fmnist.onnx")), o);
  sim.calibrate(testdata::train_batches(0, 200, 100), nullptr);
  BiasCorrectionOptions analytical;
  analytical.analytical = true;
  analytical.samples = 64;
  const BiasCorrectionReport report =
      correct_bias(sim, testdata::train_batches(0, 64, 64), analytical, nullptr);
  CHECK(report.layers > 0);
  CHECK(report.analytical_layers == 0);
  CHECK(std::any_of(report.notes.begin(), report.notes.end(), [](const std::string& note) {
    return note.find("no BatchNormalization statistics") != std::string::npos;
  }));
}

TEST_CASE("bias correction: bad input leaves the session as it was", "[bias_correction]") {
  QuantSim sim(load_onnx_file(testdata::model_path("resnet_fmnist.onnx")),
               options(8, false, false));
  CHECK(testdata::error_code_of([&] {
          correct_bias(sim, testdata::train_batches(0, 64, 64), {}, nullptr);
        }) == ErrorCode::kState);
  sim.calibrate(testdata::train_batches(0, 200, 100), nullptr);
  const auto logits = [&] { return sim.run_quantized({testdata::test_images(0, 16)}).at(0); };
  const Tensor reference = logits();
  const auto unchanged = [&] {
    const Tensor now = logits();
    return std::equal(now.data<float>(), now.data<float>() + now.size(), reference.data<float>());
  };
  CHECK(testdata::error_code_of([&] {
          correct_bias(
              sim, [](std::vector<Tensor>&) { return false; }, {}, nullptr);
        }) == ErrorCode::kInvalidArgument);
  BiasCorrectionOptions none;
  none.samples = 0;
  CHECK(testdata::error_code_of([&] {
          correct_bias(sim, testdata::train_batches(0, 64, 64), none, nullptr);
        }) == ErrorCode::kInvalidArgument);
  CHECK(testdata::error_code_of([&] {
          correct_bias(sim, testdata::train_batches(0, 64, 64), {},
                       [](int64_t done, int64_t, const std::string&) { return done < 3; });
        }) == ErrorCode::kCancelled);
  CHECK(unchanged());
  CHECK(sim.applied_techniques().back().name == "bn_fold");
}
