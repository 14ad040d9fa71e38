// The one calibration-data stream (src/quant/calibration_stream.h): the checks and the NaN/Inf
// policy every reader of calibration data shares (calibration, SmoothQuant's statistics, the
// tuning techniques' sample cache).
#include <catch2/catch.hpp>
#include <cmath>
#include <limits>

#include "quant/calibration_stream.h"
#include "techniques/bias_correction.h"
#include "techniques/model_transforms.h"
#include "techniques/smooth_quant.h"
#include "test_quantsim_data.h"

using namespace qsim;

namespace {

// Batches of 4 training images; sample 2 of batch 2 (the 7th image) holds a NaN.
BatchReader batches_with_a_nan(int64_t batches) {
  auto next = std::make_shared<int64_t>(0);
  return [=](std::vector<Tensor>& batch) {
    if (*next >= batches) return false;
    Tensor images = testdata::train_images(*next * 4, 4);
    if (*next == 1) images.data<float>()[1 * 784 + 300] = std::numeric_limits<float>::quiet_NaN();
    ++*next;
    batch = {images};
    return true;
  };
}

const Model& resnet() {
  static const Model model = load_onnx_file(testdata::model_path("resnet_fmnist.onnx"));
  return model;
}

}  // namespace

TEST_CASE("calibration stream: kReject names the batch, the sample and the input",
          "[calibration_stream]") {
  const Engine engine(std::make_shared<const Model>(resnet()));
  CalibrationStream stream(engine, batches_with_a_nan(3), NanPolicy::kReject, "adaround");
  std::vector<Tensor> batch;
  REQUIRE(stream.next(batch));
  CHECK(batch.at(0).dim(0) == 4);
  const std::string message = testdata::error_message_of([&] { stream.next(batch); });
  CHECK(message ==
        "adaround: calibration batch 2, sample 6: model input 'input' holds 1 NaN/Inf value(s) "
        "(exclude_nan / NanPolicy::kExclude drops such samples instead)");
}

TEST_CASE("calibration stream: kExclude drops the samples holding NaN/Inf and counts them",
          "[calibration_stream]") {
  const Engine engine(std::make_shared<const Model>(resnet()));
  CalibrationStream stream(engine, batches_with_a_nan(3), NanPolicy::kExclude, "calibration");
  std::vector<Tensor> batch;
  std::vector<int64_t> sizes;
  while (stream.next(batch)) sizes.push_back(batch.empty() ? 0 : batch[0].dim(0));
  CHECK(sizes == std::vector<int64_t>{4, 3, 4});
  CHECK(stream.batches() == 3);
  CHECK(stream.samples() == 11);
  CHECK(stream.dropped_samples() == 1);
  CHECK(stream.dropped_values() == std::vector<int64_t>{1});
}

TEST_CASE("calibration stream: a batch the model cannot take fails before anything reads it",
          "[calibration_stream]") {
  const Engine engine(std::make_shared<const Model>(resnet()));
  CalibrationStream stream(
      engine,
      [](std::vector<Tensor>& batch) {
        batch = {Tensor(DType::kFloat32, {2, 1, 27, 28})};
        return true;
      },
      NanPolicy::kReject, "smooth quant");
  std::vector<Tensor> batch;
  CHECK(testdata::error_code_of([&] { stream.next(batch); }) == ErrorCode::kShape);
}

TEST_CASE("every reader of calibration data follows the session's NaN policy the same way",
          "[calibration_stream]") {
  // Calibration, bias correction (the tuning techniques' sample cache) and SmoothQuant's
  // statistics: kReject fails naming the sample, kExclude goes on without it.
  for (NanPolicy policy : {NanPolicy::kReject, NanPolicy::kExclude}) {
    INFO((policy == NanPolicy::kReject ? "reject" : "exclude"));
    QuantSimOptions options;
    options.transforms = {fold_batch_norm_transform};
    options.nan_policy = policy;
    QuantSim sim(resnet(), options);
    const bool reject = policy == NanPolicy::kReject;
    const std::string calibrate =
        testdata::error_message_of([&] { sim.calibrate(batches_with_a_nan(3), nullptr); });
    CHECK((calibrate.find("calibration: calibration batch 2, sample 6") != std::string::npos) ==
          reject);
    if (reject) sim.calibrate(testdata::train_batches(0, 64, 32), nullptr);
    CHECK(sim.ready());
    if (!reject) CHECK(sim.calibration_report().dropped_samples == 1);

    BiasCorrectionOptions bc;
    bc.samples = 12;
    BiasCorrectionReport report;
    const std::string corrected = testdata::error_message_of(
        [&] { report = correct_bias(sim, batches_with_a_nan(3), bc, nullptr); });
    CHECK((corrected.find("bias correction: calibration batch 2, sample 6") != std::string::npos) ==
          reject);
    if (!reject) CHECK(report.samples == 11);

    const std::string smoothed = testdata::error_message_of(
        [&] { smooth_quant_statistics(sim.float_model(), batches_with_a_nan(3), 12, policy); });
    CHECK((smoothed.find("smooth quant: calibration batch 2, sample 6") != std::string::npos) ==
          reject);
  }
}
