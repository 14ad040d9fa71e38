// Empirical bias correction (src/techniques/bias_correction.h) on the reference models.
#include <catch2/catch.hpp>
#include <cmath>

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
