// Entropy (ONNX Runtime's HistogramCalibrater "entropy", after TensorRT): the threshold t whose
// clipped histogram p (values beyond t piled into the last bin) loses the least information,
// measured by KL(p || q), when coarsened to the quantized bins and spread back as q.
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "quant/histogram.h"

namespace qsim {
namespace {

// ORT's smoothing: empty bins get eps, taken evenly from the others, so log(p / q) is finite.
constexpr double kSmoothingEpsilon = 1e-4;

// Smooths `bins` in place; false when it cannot (nothing counted, or too few counts to lend).
bool smooth(std::vector<double>& bins, int64_t size) {
  const int64_t zeros = std::count(bins.begin(), bins.begin() + size, 0.0);
  const int64_t nonzeros = size - zeros;
  if (nonzeros == 0) return false;
  const double lent =
      kSmoothingEpsilon * static_cast<double>(zeros) / static_cast<double>(nonzeros);
  for (int64_t k = 0; k < size; ++k) {
    double& v = bins[static_cast<size_t>(k)];
    v = v == 0.0 ? kSmoothingEpsilon : v - lent;
    if (v <= 0.0) return false;
  }
  return true;
}

double kl_divergence(const std::vector<double>& p, const std::vector<double>& q, int64_t size) {
  const double p_total = std::accumulate(p.begin(), p.begin() + size, 0.0);
  const double q_total = std::accumulate(q.begin(), q.begin() + size, 0.0);
  double kl = 0.0;
  for (int64_t k = 0; k < size; ++k) {
    const double pk = p[static_cast<size_t>(k)] / p_total;
    kl += pk * std::log(pk / (q[static_cast<size_t>(k)] / q_total));
  }
  return kl;
}

class ThresholdSearch {
 public:
  ThresholdSearch(std::vector<uint64_t> magnitudes, int64_t quantized_half)
      : magnitudes_(std::move(magnitudes)),
        quantized_half_(quantized_half),
        beyond_(magnitudes_.size() + 1, 0.0),
        p_(magnitudes_.size()),
        q_(magnitudes_.size()) {
    for (size_t k = magnitudes_.size(); k-- > 0;)
      beyond_[k] = beyond_[k + 1] + static_cast<double>(magnitudes_[k]);
  }

  // The divergence of clipping at bin `bins` (threshold bins * width); infinite when the
  // distributions cannot be smoothed.
  double divergence(int64_t bins) {
    for (int64_t k = 0; k < bins; ++k) p_[static_cast<size_t>(k)] = count(k);
    p_[static_cast<size_t>(bins - 1)] += beyond_[static_cast<size_t>(bins)];
    const int64_t merged = bins / quantized_half_;
    for (int64_t group = 0; group < quantized_half_; ++group) {
      const int64_t start = group * merged;
      // The last group also takes the remainder (ORT leaves those bins empty in q).
      const int64_t end = group + 1 == quantized_half_ ? bins : start + merged;
      spread_group(start, end);
    }
    if (!smooth(p_, bins) || !smooth(q_, bins)) return std::numeric_limits<double>::infinity();
    return kl_divergence(p_, q_, bins);
  }

 private:
  double count(int64_t k) const { return static_cast<double>(magnitudes_[static_cast<size_t>(k)]); }

  // q over [start, end): the group's unclipped count spread evenly over the bins p counts in.
  void spread_group(int64_t start, int64_t end) {
    double sum = 0.0;
    int64_t filled = 0;
    for (int64_t k = start; k < end; ++k) {
      sum += count(k);
      filled += p_[static_cast<size_t>(k)] != 0.0;
    }
    for (int64_t k = start; k < end; ++k) {
      const bool counted = p_[static_cast<size_t>(k)] != 0.0;
      q_[static_cast<size_t>(k)] = counted ? sum / static_cast<double>(filled) : 0.0;
    }
  }

  std::vector<uint64_t> magnitudes_;
  int64_t quantized_half_;
  std::vector<double> beyond_;  // beyond_[k]: values in bins k and above
  std::vector<double> p_, q_;
};

// Quantized bins over [0, t]. ORT's `quantized_bins` span [-t, t], so over |x| half of them;
// 0 asks for the levels the grid itself has over [0, t]: all 2^bw of an asymmetric or unsigned
// grid on non-negative data (a uint8 ReLU output), else the 2^(bw-1) of one sign.
int64_t quantized_levels_over_magnitudes(const RunningHistogram& histogram, int quantized_bins,
                                         const GridRequest& request) {
  if (quantized_bins > 0) return quantized_bins / 2;
  const bool one_sided_grid =
      histogram.min() >= 0.0 && (request.symmetry == Symmetry::kAsymmetric ||
                                 request.symmetry == Symmetry::kUnsignedSymmetric);
  return int64_t{1} << (one_sided_grid ? request.bitwidth : request.bitwidth - 1);
}

}  // namespace

ChannelEncoding entropy_grid(const RunningHistogram& histogram, int quantized_bins,
                             const GridRequest& request) {
  if (!histogram.anchored()) return full_range_grid(histogram, request);
  std::vector<uint64_t> magnitudes = histogram.magnitude_counts();
  const int64_t bins = static_cast<int64_t>(magnitudes.size());
  const int64_t quantized_half =
      quantized_levels_over_magnitudes(histogram, quantized_bins, request);
  ThresholdSearch search(std::move(magnitudes), quantized_half);
  int64_t best_bins = bins;
  double best = std::numeric_limits<double>::infinity();
  for (int64_t candidate = quantized_half; candidate <= bins; ++candidate) {
    const double divergence = search.divergence(candidate);
    if (divergence < best) {
      best = divergence;
      best_bins = candidate;
    }
  }
  // ORT clips the (symmetric) threshold to the observed range.
  const double threshold = static_cast<double>(best_bins) * histogram.width();
  if (request.symmetry != Symmetry::kAsymmetric) {
    const double absmax = std::max(-histogram.min(), histogram.max());
    return grid_for_threshold(std::min(threshold, absmax), histogram, request);
  }
  return grid_for_range(std::max(-threshold, histogram.min()), std::min(threshold, histogram.max()),
                        request);
}

}  // namespace qsim
