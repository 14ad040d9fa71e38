// TF-enhanced (AIMET's default activation scheme): try a fixed set of candidate grids inside
// the observed range and keep the one with the least 3 * clipping + rounding squared error.
#include <algorithm>
#include <cmath>

#include "quant/histogram.h"

namespace qsim {
namespace {

// AIMET weighs saturation (clipping) error three times the rounding error.
constexpr double kClippingWeight = 3.0;
// Symmetric: 101 absmax fractions 1/100 .. 101/100.
constexpr int kSymmetricSteps = 100;
// Asymmetric: 17 step sizes (1/16 .. 17/16 of the full-range step) x 21 offsets.
constexpr int kStepFractions = 16;
constexpr int kOffsetSteps = 20;

ChannelEncoding symmetric_search(const RunningHistogram& histogram, const GridRequest& request) {
  const double absmax = std::max(-histogram.min(), histogram.max());
  BestGrid best(histogram, request.bitwidth, kClippingWeight);
  for (int k = 1; k <= kSymmetricSteps + 1; ++k)
    best.consider(grid_for_threshold(absmax * k / kSymmetricSteps, histogram, request));
  return best.grid();
}

ChannelEncoding asymmetric_search(const RunningHistogram& histogram, const GridRequest& request) {
  const double lo = std::min(histogram.min(), 0.0), hi = std::max(histogram.max(), 0.0);
  const double levels = std::ldexp(1.0, request.bitwidth) - 1.0;
  const double full_step = (hi - lo) / levels;
  BestGrid best(histogram, request.bitwidth, kClippingWeight);
  best.consider(full_range_grid(histogram, request));
  for (int s = 1; s <= kStepFractions + 1; ++s) {
    const double step = full_step * s / kStepFractions;
    for (int i = 0; i <= kOffsetSteps; ++i) {
      const double offset = std::trunc(-levels + levels * i / kOffsetSteps);
      const double grid_lo = offset * step, grid_hi = grid_lo + levels * step;
      // A grid wider than the data on both sides only wastes levels (AIMET skips these too).
      if (grid_lo < lo && grid_hi > hi) continue;
      best.consider(grid_for_range(std::max(grid_lo, lo), std::min(grid_hi, hi), request));
    }
  }
  return best.grid();
}

}  // namespace

ChannelEncoding tf_enhanced_grid(const RunningHistogram& histogram, const GridRequest& request) {
  return request.symmetry == Symmetry::kAsymmetric ? asymmetric_search(histogram, request)
                                                   : symmetric_search(histogram, request);
}

}  // namespace qsim
