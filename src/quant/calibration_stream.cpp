#include "quant/calibration_stream.h"

#include <cmath>
#include <utility>

#include "util/error.h"

namespace qsim {
namespace {

// The samples of a batch: the leading dimension of its first input (1 for a scalar or none).
int64_t samples_in(const std::vector<Tensor>& batch) {
  return batch.empty() || batch[0].rank() == 0 ? 1 : batch[0].dim(0);
}

}  // namespace

CalibrationStream::CalibrationStream(const Engine& engine, BatchReader reader, NanPolicy policy,
                                     std::string what)
    : engine_(engine),
      reader_(std::move(reader)),
      policy_(policy),
      what_(std::move(what)),
      dropped_values_(engine.model().graph.inputs.size(), 0) {}

bool CalibrationStream::next(std::vector<Tensor>& batch) {
  batch.clear();
  if (!reader_(batch)) return false;
  ++batches_;
  engine_.check_inputs(batch);
  if (policy_ == NanPolicy::kReject) {
    reject_nonfinite(batch);
  } else {
    const DroppedSamples dropped = drop_nonfinite_samples(batch);
    dropped_samples_ += dropped.samples;
    for (size_t i = 0; i < dropped.nonfinite_values.size() && i < dropped_values_.size(); ++i)
      dropped_values_[i] += dropped.nonfinite_values[i];
  }
  if (!batch.empty()) samples_ += samples_in(batch);
  return true;
}

void CalibrationStream::reject_nonfinite(const std::vector<Tensor>& batch) const {
  const auto& inputs = engine_.model().graph.inputs;
  for (size_t i = 0; i < batch.size(); ++i) {
    const Tensor& t = batch[i];
    if (t.dtype() != DType::kFloat32) continue;
    const float* v = t.data<float>();
    int64_t count = 0, first = -1;
    for (int64_t k = 0; k < t.size(); ++k)
      if (!std::isfinite(v[k])) {
        ++count;
        if (first < 0) first = k;
      }
    if (count == 0) continue;
    const int64_t per_sample = t.rank() >= 1 && t.dim(0) > 0 ? t.size() / t.dim(0) : t.size();
    fail(ErrorCode::kNumeric,
         what_ + ": calibration batch " + std::to_string(batches_) + ", sample " +
             std::to_string(samples_ + first / per_sample + 1) + ": model input '" +
             inputs[i].name + "' holds " + std::to_string(count) + " NaN/Inf value(s)" +
             " (exclude_nan / NanPolicy::kExclude drops such samples instead)");
  }
}

}  // namespace qsim
