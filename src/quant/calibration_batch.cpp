#include "quant/calibration_batch.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace qsim {
namespace {

bool is_float_batch(const Tensor& t) {
  return t.dtype() == DType::kFloat32 && t.rank() >= 1;
}

// The common leading dimension of the float inputs, or -1 when they disagree.
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

// NaN/Inf values per input (rows) and sample (columns); `samples` 1 treats the batch whole.
std::vector<std::vector<int64_t>> nonfinite_per_sample(const std::vector<Tensor>& batch,
                                                       int64_t samples) {
  std::vector<std::vector<int64_t>> counts(batch.size(),
                                           std::vector<int64_t>(static_cast<size_t>(samples)));
  for (size_t i = 0; i < batch.size(); ++i) {
    if (!is_float_batch(batch[i])) continue;
    const int64_t row = batch[i].size() / std::max<int64_t>(samples, 1);
    for (int64_t s = 0; s < samples; ++s)
      counts[i][static_cast<size_t>(s)] = count_nonfinite(batch[i].data<float>() + s * row, row);
  }
  return counts;
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

}  // namespace

DroppedSamples drop_nonfinite_samples(std::vector<Tensor>& batch) {
  const int64_t batch_size = common_batch_size(batch);
  // Inputs that disagree on their leading dimension: the batch is one indivisible sample.
  const int64_t samples = batch_size < 0 ? 1 : batch_size;
  const auto counts = nonfinite_per_sample(batch, samples);
  std::vector<bool> keep(static_cast<size_t>(samples), true);
  DroppedSamples dropped;
  dropped.nonfinite_values.assign(batch.size(), 0);
  for (size_t i = 0; i < batch.size(); ++i)
    for (size_t s = 0; s < keep.size(); ++s)
      if (counts[i][s] > 0) {
        keep[s] = false;
        dropped.nonfinite_values[i] += counts[i][s];
      }
  const int64_t kept = std::count(keep.begin(), keep.end(), true);
  dropped.samples = samples - kept;
  if (kept == samples) return dropped;
  if (batch_size < 0) dropped.samples = batch.empty() || batch[0].rank() == 0 ? 1 : batch[0].dim(0);
  if (kept == 0) {
    batch.clear();
    return dropped;
  }
  for (Tensor& t : batch)
    if (t.rank() >= 1 && t.dim(0) == samples) t = kept_rows(t, keep, kept);
  return dropped;
}

}  // namespace qsim
