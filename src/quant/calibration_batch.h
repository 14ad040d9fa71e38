// Calibration batches holding NaN/Inf in the model inputs: everything computed from such a
// sample is garbage, so under NanPolicy::kExclude the whole sample is left out.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace qsim {

struct DroppedSamples {
  int64_t samples = 0;
  std::vector<int64_t> nonfinite_values;  // per input: the NaN/Inf values the dropped held
};

// Removes from `batch` (the model inputs, batch along dim 0) every sample whose float inputs
// hold a NaN or Inf. When the inputs disagree on their leading dimension, samples cannot be
// told apart and a batch holding any NaN/Inf is removed whole. `batch` is left empty when no
// sample remains.
DroppedSamples drop_nonfinite_samples(std::vector<Tensor>& batch);

}  // namespace qsim
