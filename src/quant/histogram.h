// Fixed-size running histograms for calibration, and the range searches that run on them.
//
// Bins sit on an absolute grid: bin k covers [k * w, (k + 1) * w) with w = 2^exponent, and the
// histogram keeps a window of `bins` consecutive bins. When a batch falls outside the window
// the window slides (counts move, nothing changes) or, when the data no longer fits, w doubles
// and pairs of bins merge. Because every width is a power of two and every edge a multiple of
// it, a merge is exact, and the histogram after any sequence of batches equals the histogram
// of all the values binned at once: streaming order and batch size do not change the result.
// Memory is `bins` counters, whatever the number of values.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "quant/encoding.h"

namespace qsim {

class RunningHistogram {
 public:
  // `bins`: even, at least kMinHistogramBins.
  explicit RunningHistogram(int bins);

  static constexpr int kMinHistogramBins = 16;
  static constexpr int kMaxHistogramBins = 1 << 20;
  static bool valid_bin_count(int bins) {
    return bins >= kMinHistogramBins && bins <= kMaxHistogramBins && bins % 2 == 0;
  }

  // Adds the finite values of data[0, count). `lo` and `hi` are their min and max (the caller's
  // scan already computed them); `nonfinite` is how many NaN/Inf values data holds, skipped.
  void add(const float* data, int64_t count, float lo, float hi, int64_t nonfinite);

  // False until two distinct finite values were seen: a constant stream has no bin width yet,
  // and then total() values all equal min() == max().
  bool anchored() const { return anchored_; }
  uint64_t total() const { return total_; }
  double min() const { return min_; }
  double max() const { return max_; }

  int bins() const { return static_cast<int>(counts_.size()); }
  double width() const;
  const std::vector<uint64_t>& counts() const { return counts_; }
  // Window slot i holds [lower_edge(i), lower_edge(i + 1)).
  double lower_edge(int64_t slot) const;
  // Slots of the smallest and largest value seen.
  int64_t first_occupied() const { return slot_of(min_); }
  int64_t last_occupied() const { return slot_of(max_); }

  // |x| histogram folded from the signed one: entry j counts |x| in [j * w, (j + 1) * w),
  // up to the bin holding max(|min|, |max|).
  std::vector<uint64_t> magnitude_counts() const;

  size_t memory_bytes() const { return sizeof(*this) + counts_.capacity() * sizeof(uint64_t); }

 private:
  int64_t slot_of(double x) const;
  int64_t absolute_index(double x) const;
  void anchor(double lo, double hi);
  void cover(double lo, double hi);
  void merge_pairs();
  void slide_to(int64_t new_first_index);
  void bin_values(const float* data, int64_t count, bool skip_nonfinite);

  std::vector<uint64_t> counts_;
  int exponent_ = 0;         // bin width 2^exponent_
  int64_t first_index_ = 0;  // absolute bin index of counts_[0]
  bool anchored_ = false;
  uint64_t total_ = 0;
  double min_ = 0.0;
  double max_ = 0.0;
};

// What a range search is asked for; `what` names the tensor in error messages.
struct GridRequest {
  int bitwidth = 8;
  Symmetry symmetry = Symmetry::kSymmetric;
  std::string what;
};

// The grid for the clipping range [lo, hi], via compute_channel_encoding (so every method's
// encodings use the same arithmetic as weights and loaded files).
ChannelEncoding grid_for_range(double lo, double hi, const GridRequest& request);
// The grid for clipping |x| at `threshold`: [-t, t], or [0, t] when the data is non-negative
// (which unsigned-symmetric grids need and symmetric grids do not mind).
ChannelEncoding grid_for_threshold(double threshold, const RunningHistogram& histogram,
                                   const GridRequest& request);

// The grid for the whole observed range (widened to include 0): nothing clipped.
ChannelEncoding full_range_grid(const RunningHistogram& histogram, const GridRequest& request);

// Mean squared error of fake-quantizing the histogram's values onto `grid`, taking the values
// of a bin as spread uniformly over the part of it inside the observed [min, max]:
// clip_weight * (clipping error) + (rounding error). Exact integrals, no sampling.
double expected_squared_error(const RunningHistogram& histogram, const ChannelEncoding& grid,
                              int bitwidth, double clip_weight);

// Keeps the candidate grid with the least expected_squared_error (the first of equal ones).
class BestGrid {
 public:
  BestGrid(const RunningHistogram& histogram, int bitwidth, double clip_weight)
      : histogram_(histogram), bitwidth_(bitwidth), clip_weight_(clip_weight) {}
  // Returns the candidate's error.
  double consider(const ChannelEncoding& grid);
  const ChannelEncoding& grid() const { return grid_; }

 private:
  const RunningHistogram& histogram_;
  int bitwidth_;
  double clip_weight_;
  ChannelEncoding grid_;
  double error_ = -1.0;  // negative: no candidate yet
};

// The range searches, one per calibration method (observer_<method>.cpp). Each expects an
// anchored histogram.
ChannelEncoding tf_enhanced_grid(const RunningHistogram& histogram, const GridRequest& request);
ChannelEncoding percentile_grid(const RunningHistogram& histogram, double percentile,
                                const GridRequest& request);
// `quantized_bins`: ORT's num_quantized_bins over [-t, t], or 0 for the grid's own levels.
ChannelEncoding entropy_grid(const RunningHistogram& histogram, int quantized_bins,
                             const GridRequest& request);
ChannelEncoding min_mse_grid(const RunningHistogram& histogram, const GridRequest& request);
ChannelEncoding power_of_two_grid(const RunningHistogram& histogram, const GridRequest& request);

}  // namespace qsim
