// Percentile (ONNX Runtime's HistogramCalibrater "percentile"): clip |x| at the given
// percentile for symmetric grids; cut (100 - p) / 2 percent from each tail for asymmetric ones.
#include <algorithm>
#include <cmath>

#include "quant/histogram.h"

namespace qsim {
namespace {

// The value below which `rank` of the counted values lie, with the values of a bin spread
// evenly over it (ORT takes the bin's lower edge; interpolating removes that bias).
double value_at_rank(const uint64_t* counts, int64_t bins, double first_edge, double width,
                     double rank) {
  double below = 0.0;
  int64_t last_nonempty = 0;
  for (int64_t k = 0; k < bins; ++k) {
    if (counts[k] == 0) continue;
    const double count = static_cast<double>(counts[k]);
    if (below + count >= rank) {
      const double inside = std::max(rank - below, 0.0) / count;
      return first_edge + (static_cast<double>(k) + inside) * width;
    }
    below += count;
    last_nonempty = k;
  }
  return first_edge + static_cast<double>(last_nonempty + 1) * width;
}

ChannelEncoding symmetric_percentile(const RunningHistogram& histogram, double percentile,
                                     const GridRequest& request) {
  const std::vector<uint64_t> magnitudes = histogram.magnitude_counts();
  const double rank = static_cast<double>(histogram.total()) * percentile / 100.0;
  const double threshold = value_at_rank(magnitudes.data(), static_cast<int64_t>(magnitudes.size()),
                                         0.0, histogram.width(), rank);
  const double absmax = std::max(-histogram.min(), histogram.max());
  return grid_for_threshold(std::min(threshold, absmax), histogram, request);
}

ChannelEncoding two_tailed_percentile(const RunningHistogram& histogram, double percentile,
                                      const GridRequest& request) {
  const int64_t first = histogram.first_occupied();
  const uint64_t* counts = histogram.counts().data() + first;
  const int64_t bins = histogram.last_occupied() - first + 1;
  const double total = static_cast<double>(histogram.total());
  const double tail = total * (100.0 - percentile) / 200.0;
  const double edge = histogram.lower_edge(first), width = histogram.width();
  const double lo = value_at_rank(counts, bins, edge, width, tail);
  const double hi = value_at_rank(counts, bins, edge, width, total - tail);
  return grid_for_range(std::max(lo, histogram.min()), std::min(hi, histogram.max()), request);
}

}  // namespace

ChannelEncoding percentile_grid(const RunningHistogram& histogram, double percentile,
                                const GridRequest& request) {
  if (!histogram.anchored()) return full_range_grid(histogram, request);
  return request.symmetry == Symmetry::kAsymmetric
             ? two_tailed_percentile(histogram, percentile, request)
             : symmetric_percentile(histogram, percentile, request);
}

}  // namespace qsim
