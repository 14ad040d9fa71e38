// Least squared error searches: "mse" (the clipping range with the least expected
// quantization MSE, as Quark's MinMSE) and "pow2" (power-of-two scales, Quark's NPU mode).
#include <algorithm>
#include <cmath>
#include <functional>

#include "quant/histogram.h"

namespace qsim {
namespace {

// Clipping ranges are fractions of the observed extent: a coarse pass in steps of 1/20, then
// steps of 1/200 around the best coarse fraction (the error is smooth in the fraction).
constexpr int kCoarseSteps = 20;
constexpr int kFineSteps = 200;
// Alternating searches of the two ends of an asymmetric range stop after this many rounds.
constexpr int kMaxRounds = 4;
// Quark tries the non-overflowing position and the next four (finer scales, more clipping).
constexpr int kPowerOfTwoCandidates = 5;
// Scales stay normal floats: 2^-126 .. 2^126.
constexpr int kMaxPosition = 126;

using GridAt = std::function<ChannelEncoding(double fraction)>;

// Of the fractions k / steps for k in [first_k, last_k], the one whose grid has the least
// error; the largest of equal ones, so that clipping is never chosen for free.
double best_of_fractions(const GridAt& grid_at, const RunningHistogram& histogram, int bitwidth,
                         int steps, int first_k, int last_k) {
  double best_error = -1.0, best = static_cast<double>(last_k) / steps;
  for (int k = last_k; k >= first_k; --k) {
    const double fraction = static_cast<double>(k) / steps;
    const double error = expected_squared_error(histogram, grid_at(fraction), bitwidth, 1.0);
    if (best_error < 0.0 || error < best_error) {
      best_error = error;
      best = fraction;
    }
  }
  return best;
}

double best_fraction(const GridAt& grid_at, const RunningHistogram& histogram, int bitwidth) {
  const double coarse =
      best_of_fractions(grid_at, histogram, bitwidth, kCoarseSteps, 1, kCoarseSteps);
  constexpr int kRatio = kFineSteps / kCoarseSteps;
  const int center = static_cast<int>(std::lround(coarse * kFineSteps));
  return best_of_fractions(grid_at, histogram, bitwidth, kFineSteps, std::max(1, center - kRatio),
                           std::min(kFineSteps, center + kRatio));
}

ChannelEncoding symmetric_mse(const RunningHistogram& histogram, const GridRequest& request) {
  const double absmax = std::max(-histogram.min(), histogram.max());
  auto grid_at = [&](double f) { return grid_for_threshold(f * absmax, histogram, request); };
  return grid_at(best_fraction(grid_at, histogram, request.bitwidth));
}

// Alternates between the best upper end for the current lower end and the reverse; the error
// surface over the two ends is smooth, so a few rounds settle.
ChannelEncoding asymmetric_mse(const RunningHistogram& histogram, const GridRequest& request) {
  const double lo = std::min(histogram.min(), 0.0), hi = std::max(histogram.max(), 0.0);
  double lo_fraction = 1.0, hi_fraction = 1.0;
  for (int round = 0; round < kMaxRounds; ++round) {
    const double previous_lo = lo_fraction, previous_hi = hi_fraction;
    if (hi > 0.0) {
      hi_fraction =
          best_fraction([&](double f) { return grid_for_range(lo_fraction * lo, f * hi, request); },
                        histogram, request.bitwidth);
    }
    if (lo < 0.0) {
      lo_fraction =
          best_fraction([&](double f) { return grid_for_range(f * lo, hi_fraction * hi, request); },
                        histogram, request.bitwidth);
    }
    if (lo_fraction == previous_lo && hi_fraction == previous_hi) break;
  }
  return grid_for_range(lo_fraction * lo, hi_fraction * hi, request);
}

// The smallest power-of-two-scale grid position `pos` (scale 2^-pos) that does not overflow:
// pos = floor(log2(1 / s)), s the smallest scale whose grid holds [lo, hi] within half a step.
int non_overflow_position(double lo, double hi, const GridRequest& request) {
  const double half = std::ldexp(1.0, request.bitwidth - 1);
  const double levels = 2.0 * half - 1.0;
  double s = 0.0;
  switch (request.symmetry) {
    case Symmetry::kAsymmetric:
      s = (hi - lo) / levels;
      break;
    case Symmetry::kStrictSymmetric:
      s = std::max(-lo, hi) / (half - 0.5);
      break;
    case Symmetry::kUnsignedSymmetric:
      if (lo >= 0.0) {
        s = hi / (levels + 0.5);
        break;
      }
      [[fallthrough]];
    case Symmetry::kSymmetric:
      s = std::max(lo / (-half - 0.5), hi / (half - 0.5));
      break;
  }
  int exponent = 0;
  const double mantissa = std::frexp(s, &exponent);  // s = mantissa * 2^exponent, [0.5, 1)
  const int ceil_log2 = mantissa == 0.5 ? exponent - 1 : exponent;
  return std::clamp(-ceil_log2, -kMaxPosition, kMaxPosition);
}

ChannelEncoding power_of_two_scale_grid(int position, double lo, const GridRequest& request) {
  const int32_t half = int32_t{1} << (request.bitwidth - 1);
  const int32_t levels = 2 * half - 1;
  ChannelEncoding grid;
  grid.scale = std::ldexp(1.0f, -position);
  switch (request.symmetry) {
    case Symmetry::kAsymmetric:
      grid.offset = static_cast<int32_t>(
          std::clamp<double>(std::nearbyint(lo / grid.scale), -static_cast<double>(levels), 0.0));
      break;
    case Symmetry::kStrictSymmetric:
      grid.offset = -(half - 1);
      break;
    case Symmetry::kUnsignedSymmetric:
      grid.offset = lo >= 0.0 ? 0 : -half;
      break;
    case Symmetry::kSymmetric:
      grid.offset = -half;
      break;
  }
  return grid;
}

}  // namespace

ChannelEncoding min_mse_grid(const RunningHistogram& histogram, const GridRequest& request) {
  return request.symmetry == Symmetry::kAsymmetric ? asymmetric_mse(histogram, request)
                                                   : symmetric_mse(histogram, request);
}

ChannelEncoding power_of_two_grid(const RunningHistogram& histogram, const GridRequest& request) {
  const double lo = std::min(histogram.min(), 0.0), hi = std::max(histogram.max(), 0.0);
  const int first = non_overflow_position(lo, hi, request);
  BestGrid best(histogram, request.bitwidth, 1.0);
  for (int k = 0; k < kPowerOfTwoCandidates; ++k) {
    const int position = std::min(first + k, kMaxPosition);
    best.consider(power_of_two_scale_grid(position, lo, request));
  }
  return best.grid();
}

}  // namespace qsim
