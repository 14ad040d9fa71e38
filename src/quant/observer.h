// Calibration observers: one per quantized tensor (per tensor, not per channel). QuantSim
// streams every calibration batch of the tensor through observe(), then asks for the grid.
// Observers keep fixed-size state (a running min/max, or a fixed-size RunningHistogram), so
// memory does not grow with the number of samples. NaN and Inf never reach the statistics:
// they are skipped and counted, and QuantSim decides whether to report or reject them.
// docs/CALIBRATION.md describes each method and where qsim differs from AIMET and ORT.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "quant/encoding.h"

namespace qsim {

enum class CalibrationMethod {
  kMinMax,      // "minmax": running min/max including 0 (AIMET "tf")
  kTfEnhanced,  // "tf_enhanced": AIMET's candidate search, 3 * clipping + rounding error
  kPercentile,  // "percentile": ORT's percentile of |x| (two-sided for asymmetric grids)
  kEntropy,     // "entropy": ORT's KL-divergence threshold
  kMse,         // "mse": the clipping range with the least expected squared error
  kPowerOfTwo,  // "pow2": scale 2^-pos (Quark's NPU mode), least squared error over pos
};

// "minmax", "tf_enhanced", ... ; throws kInvalidArgument listing the valid names.
CalibrationMethod calibration_method_from_name(const std::string& name);
const char* calibration_method_name(CalibrationMethod method);
// AIMET's quant_scheme string for encodings files ("post_training_tf", ...).
const char* aimet_quant_scheme(CalibrationMethod method);

struct ObserverOptions {
  double percentile = 99.999;  // kPercentile: share of values kept, in (0, 100]
  int histogram_bins = 0;      // 0: the method's default (docs/CALIBRATION.md)
  // kEntropy: levels over [-t, t], as ORT's num_quantized_bins; 0 (the default): the levels
  // the requested grid has, which ORT's fixed 128 falls far short of for uint8 ReLU outputs.
  int entropy_quantized_bins = 0;
};

// The default histogram size of a method (0 for kMinMax, which keeps no histogram).
int default_histogram_bins(CalibrationMethod method);

class Observer {
 public:
  virtual ~Observer() = default;
  Observer(const Observer&) = delete;
  Observer& operator=(const Observer&) = delete;

  // Streams one batch. Non-finite values are counted and left out of the statistics.
  void observe(const float* data, int64_t count);

  // The grid for everything observed so far, from compute_channel_encoding's arithmetic.
  // Throws kInvalidArgument for a bit width outside 2..16, kState when nothing was observed,
  // kNumeric when every observed value was NaN or Inf.
  ChannelEncoding encoding(int bitwidth, Symmetry symmetry) const;

  CalibrationMethod method() const { return method_; }
  const std::string& tensor_name() const { return tensor_name_; }
  int64_t nan_inf_count() const { return nan_inf_count_; }
  int64_t finite_count() const { return finite_count_; }
  // Finite range observed, widened to include 0 (0, 0 before any finite value).
  float min() const { return min_; }
  float max() const { return max_; }
  // Bytes this observer holds; fixed at construction.
  virtual size_t memory_bytes() const { return sizeof(*this); }

 protected:
  Observer(CalibrationMethod method, std::string tensor_name)
      : method_(method), tensor_name_(std::move(tensor_name)) {}

 private:
  // Histogram observers bin the finite values of the batch; `lo` and `hi` are their range.
  virtual void accumulate(const float* data, int64_t count, float lo, float hi,
                          int64_t nonfinite) = 0;
  // The method's grid; called only once finite values exist and not all of them are zero.
  virtual ChannelEncoding search(int bitwidth, Symmetry symmetry) const = 0;

  CalibrationMethod method_;
  std::string tensor_name_;
  int64_t nan_inf_count_ = 0;
  int64_t finite_count_ = 0;
  float min_ = 0.0f;
  float max_ = 0.0f;
};

// `tensor_name` names the tensor in error messages. Throws kInvalidArgument for bad options.
std::unique_ptr<Observer> make_observer(CalibrationMethod method, const ObserverOptions& options,
                                        const std::string& tensor_name);

}  // namespace qsim
