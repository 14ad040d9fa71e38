// The one way calibration data enters qsim's computations: QuantSim::calibrate, SmoothQuant's
// statistics, and the sample cache of AdaRound, AdaQuant and bias correction
// (techniques/model_samples.h) all read the caller's batches through a CalibrationStream, so
// every one of them binds, validates and handles NaN/Inf the same way:
// - each batch is checked against the model's inputs once (Engine::check_inputs: count,
//   dtype, shape);
// - NaN/Inf in a model input follows the session's NanPolicy: kReject fails with kNumeric
//   naming the batch, the sample and the input; kExclude drops the samples that hold any and
//   counts them (quant/calibration_batch.h).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "quant/calibration_batch.h"
#include "runtime/engine.h"

namespace qsim {

// Fills `batch` (one tensor per model input, in model input order) and returns true, or
// returns false when there is no more data.
using BatchReader = std::function<bool(std::vector<Tensor>& batch)>;

// What calibration does with NaN/Inf values in the tensors it observes.
enum class NanPolicy {
  kReject,  // throw kNumeric naming the first tensor that holds any (the default)
  // Leave them out and count them in the calibration report: samples whose model inputs hold
  // any are dropped whole (all that is computed from them is garbage); values that turn
  // non-finite inside the network are left out of their tensor's statistics one by one.
  kExclude,
};

class CalibrationStream {
 public:
  // `engine` (kept by reference) checks the batches against its model's inputs; `what` starts
  // every message ("adaround", "calibration", ...).
  CalibrationStream(const Engine& engine, BatchReader reader, NanPolicy policy, std::string what);

  // The caller's next batch, checked; under kExclude possibly left with no sample (then
  // `batch` is empty). False at the end of the stream.
  bool next(std::vector<Tensor>& batch);

  int64_t batches() const { return batches_; }  // read from the caller so far
  int64_t samples() const { return samples_; }  // handed on so far
  int64_t dropped_samples() const { return dropped_samples_; }
  // Per model input, the NaN/Inf values of the dropped samples.
  const std::vector<int64_t>& dropped_values() const { return dropped_values_; }

 private:
  void reject_nonfinite(const std::vector<Tensor>& batch) const;

  const Engine& engine_;
  BatchReader reader_;
  NanPolicy policy_;
  std::string what_;
  int64_t batches_ = 0;
  int64_t samples_ = 0;
  int64_t dropped_samples_ = 0;
  std::vector<int64_t> dropped_values_;
};

}  // namespace qsim
