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

bool all_finite(const float* values, int64_t count) {
  for (int64_t i = 0; i < count; ++i)
    if (!std::isfinite(values[i])) return false;
  return true;
}

std::vector<bool> finite_samples(const std::vector<Tensor>& batch, int64_t samples) {
  std::vector<bool> keep(static_cast<size_t>(samples), true);
  for (const Tensor& t : batch) {
    if (!is_float_batch(t)) continue;
    const int64_t row = samples == 0 ? 0 : t.size() / samples;
    for (int64_t s = 0; s < samples; ++s)
      if (!all_finite(t.data<float>() + s * row, row)) keep[static_cast<size_t>(s)] = false;
  }
  return keep;
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

int64_t drop_nonfinite_samples(std::vector<Tensor>& batch) {
  const int64_t samples = common_batch_size(batch);
  if (samples < 0) {
    for (const Tensor& t : batch)
      if (is_float_batch(t) && !all_finite(t.data<float>(), t.size())) {
        const int64_t whole = t.dim(0);
        batch.clear();
        return whole;
      }
    return 0;
  }
  const std::vector<bool> keep = finite_samples(batch, samples);
  const int64_t kept = std::count(keep.begin(), keep.end(), true);
  if (kept == samples) return 0;
  if (kept == 0) {
    batch.clear();
    return samples;
  }
  for (Tensor& t : batch)
    if (t.rank() >= 1 && t.dim(0) == samples) t = kept_rows(t, keep, kept);
  return samples - kept;
}

}  // namespace qsim
