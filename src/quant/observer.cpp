#include "quant/observer.h"

#include <algorithm>
#include <cmath>
#include <limits>

#include "quant/histogram.h"
#include "util/error.h"

namespace qsim {
namespace {

struct MethodInfo {
  CalibrationMethod method;
  const char* name;
  const char* quant_scheme;
  int histogram_bins;
};

// AIMET names only minmax ("tf"), tf_enhanced and percentile; the other schemes follow its
// "post_training_<method>" pattern.
constexpr MethodInfo kMethods[] = {
    {CalibrationMethod::kMinMax, "minmax", "post_training_tf", 0},
    {CalibrationMethod::kTfEnhanced, "tf_enhanced", "post_training_tf_enhanced", 1024},
    {CalibrationMethod::kPercentile, "percentile", "post_training_percentile", 4096},
    {CalibrationMethod::kEntropy, "entropy", "post_training_entropy", 2048},
    {CalibrationMethod::kMse, "mse", "post_training_mse", 2048},
    {CalibrationMethod::kPowerOfTwo, "pow2", "post_training_power_of_two", 2048},
};

const MethodInfo& info(CalibrationMethod method) {
  for (const MethodInfo& m : kMethods)
    if (m.method == method) return m;
  fail(ErrorCode::kInternal, "unknown calibration method");
}

struct BatchScan {
  float lo = std::numeric_limits<float>::infinity();
  float hi = -std::numeric_limits<float>::infinity();
  int64_t nonfinite = 0;
};

// Exact min/max of the finite values, in the rare batches that hold NaN or Inf.
BatchScan scan_finite(const float* data, int64_t count) {
  BatchScan scan;
  for (int64_t i = 0; i < count; ++i) {
    const float x = data[i];
    if (!std::isfinite(x)) {
      ++scan.nonfinite;
      continue;
    }
    scan.lo = std::min(scan.lo, x);
    scan.hi = std::max(scan.hi, x);
  }
  return scan;
}

// One pass over the batch, in independent lanes the compiler keeps in vector registers.
// Comparisons skip NaN by themselves; x * 0 is NaN exactly for NaN and Inf, so one sum tells
// whether the batch holds any, and only such (rare) batches are rescanned value by value.
BatchScan scan_batch(const float* data, int64_t count) {
  constexpr int kLanes = 16;
  float lo[kLanes], hi[kLanes], poison[kLanes];
  std::fill(lo, lo + kLanes, std::numeric_limits<float>::infinity());
  std::fill(hi, hi + kLanes, -std::numeric_limits<float>::infinity());
  std::fill(poison, poison + kLanes, 0.0f);
  int64_t i = 0;
  for (; i + kLanes <= count; i += kLanes) {
    for (int lane = 0; lane < kLanes; ++lane) {
      const float x = data[i + lane];
      lo[lane] = std::min(lo[lane], x);
      hi[lane] = std::max(hi[lane], x);
      poison[lane] += x * 0.0f;
    }
  }
  BatchScan scan;
  float poisoned = 0.0f;
  for (; i < count; ++i) {
    scan.lo = std::min(scan.lo, data[i]);
    scan.hi = std::max(scan.hi, data[i]);
    poisoned += data[i] * 0.0f;
  }
  for (int lane = 0; lane < kLanes; ++lane) {
    scan.lo = std::min(scan.lo, lo[lane]);
    scan.hi = std::max(scan.hi, hi[lane]);
    poisoned += poison[lane];
  }
  return std::isnan(poisoned) ? scan_finite(data, count) : scan;
}

class MinMaxObserver final : public Observer {
 public:
  explicit MinMaxObserver(const std::string& tensor_name)
      : Observer(CalibrationMethod::kMinMax, tensor_name) {}

 private:
  void accumulate(const float*, int64_t, float, float, int64_t) override {}
  ChannelEncoding search(int bitwidth, Symmetry symmetry) const override {
    return compute_channel_encoding(min(), max(), bitwidth, symmetry, tensor_name());
  }
};

class HistogramObserver final : public Observer {
 public:
  HistogramObserver(CalibrationMethod method, const ObserverOptions& options,
                    const std::string& tensor_name)
      : Observer(method, tensor_name),
        options_(options),
        histogram_(options.histogram_bins > 0 ? options.histogram_bins
                                              : default_histogram_bins(method)) {}

  size_t memory_bytes() const override {
    return sizeof(*this) - sizeof(RunningHistogram) + histogram_.memory_bytes();
  }

 private:
  void accumulate(const float* data, int64_t count, float lo, float hi,
                  int64_t nonfinite) override {
    histogram_.add(data, count, lo, hi, nonfinite);
  }

  ChannelEncoding search(int bitwidth, Symmetry symmetry) const override {
    const GridRequest request{bitwidth, symmetry, tensor_name()};
    switch (method()) {
      case CalibrationMethod::kTfEnhanced:
        return tf_enhanced_grid(histogram_, request);
      case CalibrationMethod::kPercentile:
        return percentile_grid(histogram_, options_.percentile, request);
      case CalibrationMethod::kEntropy:
        return entropy_grid(histogram_, options_.entropy_quantized_bins, request);
      case CalibrationMethod::kMse:
        return min_mse_grid(histogram_, request);
      case CalibrationMethod::kPowerOfTwo:
        return power_of_two_grid(histogram_, request);
      case CalibrationMethod::kMinMax:
        break;
    }
    fail(ErrorCode::kInternal, tensor_name() + ": no histogram search for this method");
  }

  ObserverOptions options_;
  RunningHistogram histogram_;
};

void check_options(CalibrationMethod method, const ObserverOptions& options,
                   const std::string& tensor_name) {
  const std::string what = tensor_name + " (" + calibration_method_name(method) + " calibration)";
  require(options.percentile > 0.0 && options.percentile <= 100.0, ErrorCode::kInvalidArgument,
          what + ": percentile " + std::to_string(options.percentile) + " is outside (0, 100]");
  require(options.histogram_bins == 0 || RunningHistogram::valid_bin_count(options.histogram_bins),
          ErrorCode::kInvalidArgument,
          what + ": histogram bins " + std::to_string(options.histogram_bins) +
              " must be 0 (the method's default) or an even count from " +
              std::to_string(RunningHistogram::kMinHistogramBins) + " to " +
              std::to_string(RunningHistogram::kMaxHistogramBins));
  require(options.entropy_quantized_bins == 0 ||
              (options.entropy_quantized_bins >= 2 && options.entropy_quantized_bins % 2 == 0 &&
               options.entropy_quantized_bins <= RunningHistogram::kMaxHistogramBins),
          ErrorCode::kInvalidArgument,
          what + ": entropy quantized bins " + std::to_string(options.entropy_quantized_bins) +
              " must be 0 (the grid's levels) or even, from 2 to " +
              std::to_string(RunningHistogram::kMaxHistogramBins));
}

}  // namespace

CalibrationMethod calibration_method_from_name(const std::string& name) {
  std::string valid;
  for (const MethodInfo& m : kMethods) {
    if (name == m.name) return m.method;
    valid += (valid.empty() ? "" : ", ") + std::string(m.name);
  }
  fail(ErrorCode::kInvalidArgument,
       "unknown calibration method '" + name + "' (valid: " + valid + ")");
}

const char* calibration_method_name(CalibrationMethod method) {
  return info(method).name;
}

const char* aimet_quant_scheme(CalibrationMethod method) {
  return info(method).quant_scheme;
}

int default_histogram_bins(CalibrationMethod method) {
  return info(method).histogram_bins;
}

void Observer::observe(const float* data, int64_t count) {
  require(count >= 0 && (data != nullptr || count == 0), ErrorCode::kInvalidArgument,
          tensor_name_ + ": observe() needs data for " + std::to_string(count) + " values");
  const BatchScan scan = scan_batch(data, count);
  nan_inf_count_ += scan.nonfinite;
  const int64_t finite = count - scan.nonfinite;
  if (finite == 0) return;
  min_ = finite_count_ == 0 ? std::min(scan.lo, 0.0f) : std::min(min_, scan.lo);
  max_ = finite_count_ == 0 ? std::max(scan.hi, 0.0f) : std::max(max_, scan.hi);
  finite_count_ += finite;
  accumulate(data, count, scan.lo, scan.hi, scan.nonfinite);
}

ChannelEncoding Observer::encoding(int bitwidth, Symmetry symmetry) const {
  check_bitwidth(bitwidth, tensor_name_);
  if (finite_count_ == 0) {
    require(nan_inf_count_ == 0, ErrorCode::kNumeric,
            tensor_name_ + ": all " + std::to_string(nan_inf_count_) +
                " calibration values are NaN or Inf");
    fail(ErrorCode::kState, tensor_name_ + ": no calibration data was observed");
  }
  // An all-zero tensor has nothing to search; compute_channel_encoding gives its grid.
  if (min_ == 0.0f && max_ == 0.0f)
    return compute_channel_encoding(0.0, 0.0, bitwidth, symmetry, tensor_name_);
  return search(bitwidth, symmetry);
}

std::unique_ptr<Observer> make_observer(CalibrationMethod method, const ObserverOptions& options,
                                        const std::string& tensor_name) {
  check_options(method, options, tensor_name);
  if (method == CalibrationMethod::kMinMax) return std::make_unique<MinMaxObserver>(tensor_name);
  return std::make_unique<HistogramObserver>(method, options, tensor_name);
}

}  // namespace qsim
