#include "quant/calibration_batch.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace qsim {
namespace {

bool is_float_batch(const Tensor& t) {
  return t.dtype() == DType::kFloat32 && t.rank() >= 1;
}

// The common leading dimension of the float inputs; -1 when they disagree or there are none.
int64_t common_batch_size(const std::vector<Tensor>& batch) {
  int64_t samples = -1;
  for (const Tensor& t : batch) {
    if (!is_float_batch(t)) continue;
    if (samples >= 0 && t.dim(0) != samples) return -1;
    samples = t.dim(0);
  }
  return samples;
}

int64_t count_nonfinite(const float* values, int64_t count) {
  int64_t nonfinite = 0;
  for (int64_t i = 0; i < count; ++i) nonfinite += !std::isfinite(values[i]);
  return nonfinite;
}

Tensor kept_rows(const Tensor& t, const std::vector<bool>& keep, int64_t kept) {
  Shape shape = t.shape();
  shape[0] = kept;
  Tensor out = Tensor::uninitialized(t.dtype(), shape);
  const size_t row_bytes = t.byte_size() / keep.size();
  const char* from = static_cast<const char*>(t.raw());
  char* to = static_cast<char*>(out.raw());
  for (size_t s = 0; s < keep.size(); ++s)
    if (keep[s])
      to = static_cast<char*>(std::memcpy(to, from + s * row_bytes, row_bytes)) + row_bytes;
  return out;
}

// Inputs that disagree on their leading dimension: samples cannot be told apart, so a batch
// holding any NaN/Inf is one indivisible sample, dropped whole.
DroppedSamples drop_batch_if_nonfinite(std::vector<Tensor>& batch) {
  DroppedSamples dropped;
  dropped.nonfinite_values.assign(batch.size(), 0);
  bool any = false;
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!is_float_batch(batch[i])) continue;
    dropped.nonfinite_values[i] = count_nonfinite(batch[i].data<float>(), batch[i].size());
    any = any || dropped.nonfinite_values[i] > 0;
  }
  if (!any) return dropped;
  dropped.samples = batch[0].rank() == 0 ? 1 : batch[0].dim(0);
  batch.clear();
  return dropped;
}

}  // namespace

DroppedSamples drop_nonfinite_samples(std::vector<Tensor>& batch) {
  const int64_t samples = common_batch_size(batch);
  if (samples < 0) return drop_batch_if_nonfinite(batch);
  DroppedSamples dropped;
  dropped.nonfinite_values.assign(batch.size(), 0);
  std::vector<bool> keep(static_cast<size_t>(samples), true);
  for (size_t i = 0; i < batch.size() && samples > 0; ++i) {
    if (!is_float_batch(batch[i])) continue;
    const int64_t row = batch[i].size() / samples;
    for (int64_t s = 0; s < samples; ++s) {
      const int64_t nonfinite = count_nonfinite(batch[i].data<float>() + s * row, row);
      if (nonfinite == 0) continue;
      keep[static_cast<size_t>(s)] = false;
      dropped.nonfinite_values[i] += nonfinite;
    }
  }
  const int64_t kept = std::count(keep.begin(), keep.end(), true);
  dropped.samples = samples - kept;
  if (kept == samples) return dropped;
  if (kept == 0) {
    batch.clear();
    return dropped;
  }
  for (Tensor& t : batch)
    if (t.rank() >= 1 && t.dim(0) == samples) t = kept_rows(t, keep, kept);
  return dropped;
}

}  // namespace qsim
