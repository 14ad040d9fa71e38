// Bias correction (Nagel et al. 2019, arXiv:1906.04721, section 4.2; AIMET's empirical and
// analytical bias correction; docs/EQUALIZATION.md): quantizing a layer's weights (and its
// input) shifts the mean of its output. For each Conv, ConvTranspose and Gemm with a quantized
// weight and a constant float bias (graph/op_info.h, int32_bias), in graph order, the shift of
// each output channel's mean is subtracted from the layer's bias, with every earlier layer
// already corrected:
// - empirical: the mean over the calibration samples and positions of the channel in the
//   simulation minus that in the float model;
// - analytical (BiasCorrectionOptions::analytical), for a layer whose input is the output of a
//   layer with known statistics (QuantSim::layer_statistics: the BatchNormalization folded into
//   it), directly or through Relu or a Clip with constant bounds: that input's channel i is
//   taken as a normal variable N(beta_i, gamma_i^2) clipped by the activation, whose mean
//   E[x_i] has a closed form, and the shift is (W_q - W) E[x] (weight quantization only, zero
//   padding ignored, as in the paper and AIMET). Other layers are corrected empirically.
// Like AdaRound, it is a tuning of the session's parameters: it starts from the float model
// before any tuning and replaces an earlier tuning (QuantSim::set_tuned_parameters).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "quant/quantsim.h"

namespace qsim {

struct BiasCorrectionOptions {
  int64_t samples = 512;  // calibration samples read (the reader's first ones)
  int64_t memory_budget_bytes = int64_t{512} << 20;  // samples kept in memory, then on file
  bool analytical = false;  // analytical where the statistics allow, empirical elsewhere
};

struct BiasCorrectionReport {
  int64_t layers = 0;             // biases corrected
  int64_t analytical_layers = 0;  // of which from BatchNormalization statistics
  int64_t samples = 0;            // calibration samples used
  // Per corrected layer, the largest |shift| among its channels; layers left alone, and why.
  std::vector<std::string> notes;
};

// E[clip(x, low, high)] for x ~ N(mean, stddev^2) (either bound may be infinite; stddev 0:
// clip(mean)): the expected input analytical correction assumes.
double clipped_normal_mean(double mean, double stddev, double low, double high);

// Throws kState unless sim.ready(), kInvalidArgument for samples < 1 or a reader that gives
// no sample, kNumeric for NaN/Inf in the data, kCancelled when `progress` (called after each
// layer with done and total layers) returns false; `sim` is unchanged by any failure.
BiasCorrectionReport correct_bias(QuantSim& sim, const BatchReader& next_batch,
                                  const BiasCorrectionOptions& options, const ProgressFn& progress);

}  // namespace qsim
