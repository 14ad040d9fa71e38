// Empirical bias correction (Nagel et al. 2019, arXiv:1906.04721, section 4.2; AIMET's
// empirical bias correction; docs/EQUALIZATION.md): quantizing a layer's weights (and its
// input) shifts the mean of its output. For each Conv, ConvTranspose and Gemm with a quantized
// weight and a constant float bias (graph/op_info.h, int32_bias), in graph order, the mean over
// the calibration samples and positions of each output channel of the simulation minus that of
// the float model is subtracted from the layer's bias, with every earlier layer already
// corrected. Like AdaRound, it is a tuning of the session's parameters: it starts from the
// float model before any tuning and replaces an earlier tuning (QuantSim::set_tuned_parameters).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quant/quantsim.h"

namespace qsim {

struct BiasCorrectionOptions {
  int64_t samples = 512;  // calibration samples read (the reader's first ones)
  int64_t memory_budget_bytes = int64_t{512} << 20;  // samples kept in memory, then on file
};

struct BiasCorrectionReport {
  int64_t layers = 0;   // biases corrected
  int64_t samples = 0;  // calibration samples used
  // Per corrected layer, the largest |shift| among its channels; layers left alone, and why.
  std::vector<std::string> notes;
};

// Throws kState unless sim.ready(), kInvalidArgument for samples < 1 or a reader that gives
// no sample, kNumeric for NaN/Inf in the data, kCancelled when `progress` (called after each
// layer with done and total layers) returns false; `sim` is unchanged by any failure.
BiasCorrectionReport correct_bias(QuantSim& sim, const BatchReader& next_batch,
                                  const BiasCorrectionOptions& options, const ProgressFn& progress);

}  // namespace qsim
