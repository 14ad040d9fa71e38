#include "quant/histogram.h"

#include <algorithm>
#include <cmath>

#include "util/error.h"

namespace qsim {
namespace {

// Batches of at least this many values per bin are binned into interleaved partial histograms.
constexpr int64_t kInterleavedMinPerBin = 8;
// Values per pass of the partial histograms, so that their 32-bit counters cannot overflow.
constexpr int64_t kInterleavedChunk = int64_t{1} << 30;

// Bins narrower than the spacing of the smallest subnormal floats cannot separate values.
constexpr int kMinExponent = -149;

int64_t floor_div2(int64_t value) {
  return value >= 0 ? value / 2 : -((1 - value) / 2);
}

// Absolute bins [floor(lo / w), floor(hi / w)] needed to hold [lo, hi] at width 2^exponent.
// Counted in double: near FLT_MAX at a fine width the count is far beyond int64.
double span_in_bins(double lo, double hi, int exponent) {
  const double inverse_width = std::ldexp(1.0, -exponent);
  return std::floor(hi * inverse_width) - std::floor(lo * inverse_width) + 1.0;
}

// Integral of (x - round(x))^2 from -1/2 to u: one twelfth per whole period plus the part of
// the current one.
double sawtooth_integral(double u) {
  const double nearest = std::floor(u + 0.5);
  const double r = u - nearest;
  return nearest / 12.0 + (r * r * r + 0.125) / 3.0;
}

// Integral of (x - edge)^2 over [a, b].
double clip_integral(double a, double b, double edge) {
  const double da = a - edge, db = b - edge;
  return (db * db * db - da * da * da) / 3.0;
}

struct GridBounds {
  double step, lo, hi;
};

double point_error(double x, const GridBounds& grid, double clip_weight) {
  if (x < grid.lo) return clip_weight * (x - grid.lo) * (x - grid.lo);
  if (x > grid.hi) return clip_weight * (x - grid.hi) * (x - grid.hi);
  const double u = x / grid.step;
  const double r = (u - std::nearbyint(u)) * grid.step;
  return r * r;
}

// Mean error of values spread uniformly over [a, b].
double interval_error(double a, double b, const GridBounds& grid, double clip_weight) {
  if (!(b > a)) return point_error(a, grid, clip_weight);
  double integral = 0.0;
  if (a < grid.lo) integral += clip_weight * clip_integral(a, std::min(b, grid.lo), grid.lo);
  if (b > grid.hi) integral += clip_weight * clip_integral(std::max(a, grid.hi), b, grid.hi);
  const double inside_lo = std::max(a, grid.lo), inside_hi = std::min(b, grid.hi);
  if (inside_hi > inside_lo) {
    const double s = grid.step;
    integral += s * s * s * (sawtooth_integral(inside_hi / s) - sawtooth_integral(inside_lo / s));
  }
  return integral / (b - a);
}

}  // namespace

RunningHistogram::RunningHistogram(int bins) {
  require(valid_bin_count(bins), ErrorCode::kInvalidArgument,
          "histogram bins " + std::to_string(bins) + ": need an even count from " +
              std::to_string(kMinHistogramBins) + " to " + std::to_string(kMaxHistogramBins));
  counts_.assign(static_cast<size_t>(bins), 0);
}

double RunningHistogram::width() const {
  return std::ldexp(1.0, exponent_);
}

double RunningHistogram::lower_edge(int64_t slot) const {
  return std::ldexp(static_cast<double>(first_index_ + slot), exponent_);
}

int64_t RunningHistogram::absolute_index(double x) const {
  return static_cast<int64_t>(std::floor(std::ldexp(x, -exponent_)));
}

int64_t RunningHistogram::slot_of(double x) const {
  return absolute_index(x) - first_index_;
}

void RunningHistogram::add(const float* data, int64_t count, float lo, float hi,
                           int64_t nonfinite) {
  const int64_t finite = count - nonfinite;
  if (finite <= 0) return;
  const bool first_values = total_ == 0;
  const double new_min = first_values ? lo : std::min<double>(min_, lo);
  const double new_max = first_values ? hi : std::max<double>(max_, hi);
  if (!anchored_) {
    // A constant stream needs no bins: its count and value say everything.
    if (new_min == new_max) {
      min_ = max_ = new_min;
      total_ += static_cast<uint64_t>(finite);
      return;
    }
    const uint64_t earlier = total_;
    const double earlier_value = min_;
    anchor(new_min, new_max);
    if (earlier > 0) counts_[static_cast<size_t>(slot_of(earlier_value))] += earlier;
  } else {
    cover(new_min, new_max);
  }
  min_ = new_min;
  max_ = new_max;
  total_ += static_cast<uint64_t>(finite);
  bin_values(data, count, nonfinite > 0);
}

void RunningHistogram::anchor(double lo, double hi) {
  const int bins = this->bins();
  // A lower bound on the exponent, then the smallest one whose window holds [lo, hi].
  exponent_ = std::max(kMinExponent, std::ilogb((hi - lo) / bins) - 1);
  while (span_in_bins(lo, hi, exponent_) > bins) ++exponent_;
  first_index_ = absolute_index(lo);
  anchored_ = true;
}

void RunningHistogram::cover(double lo, double hi) {
  while (span_in_bins(lo, hi, exponent_) > bins()) merge_pairs();
  const int64_t lo_index = absolute_index(lo), hi_index = absolute_index(hi);
  if (lo_index < first_index_) {
    slide_to(lo_index);
  } else if (hi_index >= first_index_ + bins()) {
    slide_to(hi_index - bins() + 1);
  }
}

void RunningHistogram::merge_pairs() {
  // Absolute bin k of width w lies inside bin floor(k / 2) of width 2w. New slots never run
  // ahead of old ones, so one forward pass merges in place.
  const int64_t new_first = floor_div2(first_index_);
  for (int64_t slot = 0; slot < bins(); ++slot) {
    const uint64_t count = counts_[static_cast<size_t>(slot)];
    counts_[static_cast<size_t>(slot)] = 0;
    counts_[static_cast<size_t>(floor_div2(first_index_ + slot) - new_first)] += count;
  }
  first_index_ = new_first;
  ++exponent_;
}

void RunningHistogram::slide_to(int64_t new_first_index) {
  // Callers only slide so that every occupied bin stays inside the window.
  const int64_t shift = new_first_index - first_index_;
  if (shift > 0) {
    std::copy(counts_.begin() + shift, counts_.end(), counts_.begin());
    std::fill(counts_.end() - shift, counts_.end(), 0);
  } else {
    std::copy_backward(counts_.begin(), counts_.end() + shift, counts_.end());
    std::fill(counts_.begin(), counts_.begin() - shift, 0);
  }
  first_index_ = new_first_index;
}

void RunningHistogram::bin_values(const float* data, int64_t count, bool skip_nonfinite) {
  // x * 2^-exponent is exact in double, so each value lands in exactly the bin its real value
  // belongs to, whatever the batch boundaries were.
  const double inverse_width = std::ldexp(1.0, -exponent_);
  const double first = static_cast<double>(first_index_);
  auto slot = [&](float x) { return static_cast<size_t>(std::floor(x * inverse_width) - first); };
  uint64_t* counts = counts_.data();
  if (skip_nonfinite) {
    for (int64_t i = 0; i < count; ++i)
      if (std::isfinite(data[i])) ++counts[slot(data[i])];
    return;
  }
  if (count < kInterleavedMinPerBin * bins()) {
    for (int64_t i = 0; i < count; ++i) ++counts[slot(data[i])];
    return;
  }
  // Runs of equal values (the zeros after a ReLU) would serialize on one counter's
  // store-to-load latency; four interleaved partial histograms break the chain. The scratch is
  // per thread, not per histogram, so it does not multiply with the number of tensors.
  thread_local std::vector<uint32_t> partial;
  const size_t n = counts_.size();
  for (int64_t start = 0; start < count; start += kInterleavedChunk) {
    const int64_t end = std::min(count, start + kInterleavedChunk);
    partial.assign(4 * n, 0);
    uint32_t* p = partial.data();
    int64_t i = start;
    for (; i + 4 <= end; i += 4) {
      ++p[slot(data[i])];
      ++p[n + slot(data[i + 1])];
      ++p[2 * n + slot(data[i + 2])];
      ++p[3 * n + slot(data[i + 3])];
    }
    for (; i < end; ++i) ++counts[slot(data[i])];
    for (size_t k = 0; k < n; ++k)
      counts[k] += uint64_t{p[k]} + p[n + k] + p[2 * n + k] + p[3 * n + k];
  }
}

std::vector<uint64_t> RunningHistogram::magnitude_counts() const {
  const int64_t positive_bins = std::max<int64_t>(absolute_index(max_), -1) + 1;
  const int64_t negative_bins = std::max<int64_t>(-absolute_index(min_), 0);
  std::vector<uint64_t> magnitudes(static_cast<size_t>(std::max(positive_bins, negative_bins)), 0);
  for (int64_t slot = first_occupied(); slot <= last_occupied(); ++slot) {
    const int64_t k = first_index_ + slot;
    // Bin [k w, (k+1) w) holds |x| in [k w, (k+1) w) when k >= 0, else in (-(k+1) w, -k w].
    magnitudes[static_cast<size_t>(k >= 0 ? k : -k - 1)] += counts_[static_cast<size_t>(slot)];
  }
  return magnitudes;
}

ChannelEncoding grid_for_range(double lo, double hi, const GridRequest& request) {
  return compute_channel_encoding(lo, hi, request.bitwidth, request.symmetry, request.what);
}

ChannelEncoding grid_for_threshold(double threshold, const RunningHistogram& histogram,
                                   const GridRequest& request) {
  return grid_for_range(histogram.min() >= 0.0 ? 0.0 : -threshold, threshold, request);
}

ChannelEncoding full_range_grid(const RunningHistogram& histogram, const GridRequest& request) {
  return grid_for_range(std::min(histogram.min(), 0.0), std::max(histogram.max(), 0.0), request);
}

double BestGrid::consider(const ChannelEncoding& grid) {
  const double error = expected_squared_error(histogram_, grid, bitwidth_, clip_weight_);
  if (error_ < 0.0 || error < error_) {
    error_ = error;
    grid_ = grid;
  }
  return error;
}

double expected_squared_error(const RunningHistogram& histogram, const ChannelEncoding& grid,
                              int bitwidth, double clip_weight) {
  const double step = grid.scale;
  const double grid_lo = static_cast<double>(grid.offset) * step;
  const GridBounds bounds{step, grid_lo, grid_lo + (std::ldexp(1.0, bitwidth) - 1.0) * step};
  if (histogram.total() == 0) return 0.0;
  if (!histogram.anchored()) return point_error(histogram.min(), bounds, clip_weight);
  double sum = 0.0;
  const auto& counts = histogram.counts();
  for (int64_t slot = histogram.first_occupied(); slot <= histogram.last_occupied(); ++slot) {
    const uint64_t count = counts[static_cast<size_t>(slot)];
    if (count == 0) continue;
    const double a = std::max(histogram.lower_edge(slot), histogram.min());
    const double b = std::min(histogram.lower_edge(slot + 1), histogram.max());
    sum += static_cast<double>(count) * interval_error(a, b, bounds, clip_weight);
  }
  return sum / static_cast<double>(histogram.total());
}

}  // namespace qsim
