#include "techniques/weight_parameters.h"

#include <algorithm>
#include <array>
#include <bit>
#include <cmath>
#include <limits>
#include <numeric>

#include "techniques/fast_math.h"

#if defined(__AVX512F__)
#include <immintrin.h>
#endif

namespace qsim {
namespace QSIM_ISA_NS {
namespace {

// The grid index of `x` before clamping, as fake_quantize_span rounds it.
float nearest_index(const WeightGrid& grid, int64_t i, float x) {
  return std::nearbyint(x / grid.scale[i]) - grid.offset[i];
}

float grid_value(const WeightGrid& grid, int64_t i, float level) {
  return (level + grid.offset[i]) * grid.scale[i];
}

float nearest_on_grid(const WeightGrid& grid, int64_t i, float x) {
  return grid_value(grid, i, std::clamp(nearest_index(grid, i, x), 0.0f, grid.quant_max));
}

// sigmoid(V) (zeta - gamma) + gamma: h(V) before its clamp to [0, 1].
float stretched_sigmoid(float sigmoid, float zeta, float gamma) {
  return sigmoid * (zeta - gamma) + gamma;
}

// Whether any of values[0, count) is not zero (NaN counts, -0 does not), as a bit-OR that
// vectorizes: a float is zero exactly when its bits shifted past the sign are.
bool any_nonzero(const float* values, int64_t count) {
  uint32_t bits = 0;
  for (int64_t i = 0; i < count; ++i) bits |= std::bit_cast<uint32_t>(values[i]) << 1;
  return bits != 0;
}

// out[i] = a[index[i]] * b[i] for i in [begin, end), without aliasing, so that it vectorizes.
void gathered_products(int64_t begin, int64_t end, const float* __restrict a,
                       const int32_t* __restrict index, const float* __restrict b,
                       float* __restrict out) {
  for (int64_t i = begin; i < end; ++i) out[i] = a[index[i]] * b[i];
}

bool within_unit(float x) {
  return (x >= 0.0f) & (x <= 1.0f);
}

// W~, sigmoid(V), h(V) and dW~/dV of values [begin, end), with plain pointers so that the loop
// vectorizes; value i is weight weight_of[i] when kDropped (whose dW~/dV also goes to
// weight_chain), else weight i. Returns how many of the values settled (h clamped).
template <bool kDropped>
int64_t soft_weights(int64_t begin, int64_t end, float zeta, float gamma, float top,
                     const float* __restrict values, const float* __restrict floor,
                     const float* __restrict scale, const float* __restrict offset,
                     const int32_t* __restrict weight_of, float* __restrict weights,
                     float* __restrict sigmoids, float* __restrict hs, float* __restrict chain,
                     float* __restrict weight_chain) {
  int32_t settled = 0;
  for (int64_t i = begin; i < end; ++i) {
    const float sigmoid = 1.0f / (1.0f + fast::exp(-values[i]));
    const float stretched = stretched_sigmoid(sigmoid, zeta, gamma);
    const float h = std::min(std::max(stretched, 0.0f), 1.0f);
    const float level = floor[i] + h;
    const int64_t w = kDropped ? weight_of[i] : i;
    weights[w] = (std::min(std::max(level, 0.0f), top) + offset[i]) * scale[i];
    // PyTorch's clamp passes the gradient on its bounds too.
    const bool unclamped = within_unit(stretched);
    const bool inside = unclamped & (level >= 0.0f) & (level <= top);
    sigmoids[i] = sigmoid;
    hs[i] = h;
    const float slope = inside ? scale[i] * (zeta - gamma) * sigmoid * (1.0f - sigmoid) : 0.0f;
    chain[i] = slope;
    if constexpr (kDropped) weight_chain[w] = slope;
    settled += unclamped ? 0 : 1;
  }
  return settled;
}

// The rounding term of SoftRounding at one beta (see add_rounding_term()).
struct RoundingTerm {
  float lambda, beta, zeta, gamma;

  bool inside(float sigmoid) const {  // h(V) not clamped
    return within_unit(stretched_sigmoid(sigmoid, zeta, gamma));
  }
  // Whether none of the block's kSumLanes elements is inside(). GCC turns the plain loop into
  // scalar compares, one element at a time (on AVX-512, AdaRound's steps on ResNet then ran
  // 8-10 % faster without the test than with it), so with AVX-512 it is two vector compares.
  bool all_clamped(const float* __restrict sigmoid) const {
#if defined(__AVX512F__)
    static_assert(kSumLanes == 16);
    const __m512 stretched =
        _mm512_add_ps(_mm512_mul_ps(_mm512_loadu_ps(sigmoid), _mm512_set1_ps(zeta - gamma)),
                      _mm512_set1_ps(gamma));
    const __mmask16 at_least_zero = _mm512_cmp_ps_mask(stretched, _mm512_setzero_ps(), _CMP_GE_OQ);
    return _mm512_mask_cmp_ps_mask(at_least_zero, stretched, _mm512_set1_ps(1.0f), _CMP_LE_OQ) == 0;
#else
    bool any = false;
    for (int64_t j = 0; j < kSumLanes; ++j) any |= inside(sigmoid[j]);
    return !any;
#endif
  }
  // Elements [0, count) (count <= kSumLanes): each term into its lane, its gradient into grad.
  void add_block(int64_t count, const float* __restrict h, const float* __restrict sigmoid,
                 float* __restrict grad, float* __restrict lanes) const {
    for (int64_t j = 0; j < count; ++j) {
      const float centered = 2.0f * h[j] - 1.0f;
      const float magnitude = std::fabs(centered);
      const float power = fast::pow(magnitude, beta - 1.0f);  // |2h - 1|^(beta - 1)
      lanes[j] += 1.0f - power * magnitude;
      const float sign = std::copysign(1.0f, centered);  // centered = 0 has power 0
      const float h_slope = (zeta - gamma) * sigmoid[j] * (1.0f - sigmoid[j]);
      grad[j] -= inside(sigmoid[j]) ? lambda * beta * power * sign * 2.0f * h_slope : 0.0f;
    }
  }
};

}  // namespace

WeightGrid weight_grid(const Tensor& weight, const Encoding& encoding,
                       const std::vector<int64_t>& order) {
  WeightGrid grid;
  grid.quant_max = static_cast<float>(encoding.quant_max());
  int64_t inner = 1;
  for (int64_t d = encoding.axis + 1; encoding.per_channel() && d < weight.rank(); ++d)
    inner *= weight.dim(d);
  const int64_t channels = encoding.per_channel() ? weight.dim(encoding.axis) : 1;
  const float* values = weight.data<float>();
  for (int64_t index : order) {
    const ChannelEncoding& c = encoding.channels[static_cast<size_t>(index / inner % channels)];
    grid.weights.push_back(values[index]);
    grid.scale.push_back(c.scale);
    grid.offset.push_back(static_cast<float>(c.offset));
  }
  return grid;
}

std::vector<float> nearest_weights(const WeightGrid& grid) {
  std::vector<float> out(grid.weights.size());
  for (int64_t i = 0; i < grid.size(); ++i) out[i] = nearest_on_grid(grid, i, grid.weights[i]);
  return out;
}

// ----- SoftRounding -----

namespace {

// floor(W / s) - offset of weight i: its grid index rounding down.
float index_below(const WeightGrid& grid, int64_t i) {
  return std::floor(grid.weights[i] / grid.scale[i]) - grid.offset[i];
}

// Dropping weights moves every value's state: worth it once this share of them has settled.
constexpr int64_t kSettledShareToDrop = 8;  // 1/8

}  // namespace

SoftRounding::SoftRounding(const WeightGrid& grid, const AdaRoundOptions& options, ThreadPool& pool)
    : WeightParameters(pool), grid_(grid), options_(options) {
  const size_t n = grid.weights.size();
  values_.resize(n);
  floor_.resize(n);
  scale_ = grid.scale;
  offset_ = grid.offset;
  sigmoid_.resize(n);
  h_.resize(n);
  chain_.resize(n);
  settled_.resize(static_cast<size_t>(element_chunks(grid.size())));
  rounds_up_.resize(n);
  live_.resize(static_cast<size_t>(live_block_count(grid.size())));
  const float zeta = static_cast<float>(options.zeta), gamma = static_cast<float>(options.gamma);
  for (size_t i = 0; i < n; ++i) {
    const float ratio = grid.weights[i] / grid.scale[i];
    floor_[i] = index_below(grid, static_cast<int64_t>(i));
    // h(V) = rest, with h's clamp ignored: V = -log((zeta - gamma) / (rest - gamma) - 1).
    const float rest = ratio - std::floor(ratio);
    values_[i] = -std::log((zeta - gamma) / (rest - gamma) - 1.0f);
  }
}

void WeightParameters::forward(float* weights) {
  for_element_chunks(
      pool_, static_cast<int64_t>(values_.size()),
      [&](int64_t, int64_t begin, int64_t end) { forward_range(begin, end, weights); });
  finish_forward();
}

double WeightParameters::backward(int64_t iteration, const float* grad_weights,
                                  float* grad_values) {
  return step(iteration, grad_weights, grad_values, nullptr, [](int64_t, int64_t) {});
}

void SoftRounding::forward_range(int64_t begin, int64_t end, float* weights) {
  const float zeta = static_cast<float>(options_.zeta), gamma = static_cast<float>(options_.gamma);
  int64_t& settled = settled_[static_cast<size_t>(begin / kElementChunk)];
  if (dropped_any()) {
    settled =
        soft_weights<true>(begin, end, zeta, gamma, grid_.quant_max, values_.data(), floor_.data(),
                           scale_.data(), offset_.data(), weight_of_.data(), weights,
                           sigmoid_.data(), h_.data(), chain_.data(), weight_chain_.data());
    return;  // finish_forward() marks the live blocks
  }
  settled = soft_weights<false>(begin, end, zeta, gamma, grid_.quant_max, values_.data(),
                                floor_.data(), scale_.data(), offset_.data(), nullptr, weights,
                                sigmoid_.data(), h_.data(), chain_.data(), nullptr);
  // Whole blocks with a constant count, which the compiler turns into one vector test.
  int64_t i = begin;
  for (; i + kLiveBlock <= end; i += kLiveBlock)
    live_[static_cast<size_t>(i / kLiveBlock)] = any_nonzero(chain_.data() + i, kLiveBlock);
  if (i < end) live_[static_cast<size_t>(i / kLiveBlock)] = any_nonzero(chain_.data() + i, end - i);
}

// Once weights are dropped, a live block's values are no longer consecutive: the blocks are
// marked from the weights' dW~/dV, only those that hold a weight still training (the others'
// are 0 for good).
void SoftRounding::finish_forward() {
  if (!dropped_any()) return;
  const int64_t n = grid_.size();
  for (int32_t block : open_blocks_) {
    const int64_t first = int64_t{block} * kLiveBlock;
    live_[static_cast<size_t>(block)] =
        any_nonzero(weight_chain_.data() + first, std::min(kLiveBlock, n - first));
  }
}

std::optional<std::vector<int32_t>> SoftRounding::settle() {
  const int64_t n = static_cast<int64_t>(values_.size());
  int64_t settled = 0;
  for (int64_t count : settled_) settled += count;
  if (settled == 0 || settled * kSettledShareToDrop < n) return std::nullopt;
  if (grid_.size() > std::numeric_limits<int32_t>::max()) return std::nullopt;  // weight_of_
  if (!dropped_any()) {
    weight_of_.resize(static_cast<size_t>(n));
    std::iota(weight_of_.begin(), weight_of_.end(), 0);
    weight_chain_ = chain_;
  }
  const float zeta = static_cast<float>(options_.zeta), gamma = static_cast<float>(options_.gamma);
  std::vector<int32_t> kept;
  kept.reserve(static_cast<size_t>(n - settled));
  for (int64_t k = 0; k < n; ++k) {
    if (within_unit(stretched_sigmoid(sigmoid_[k], zeta, gamma))) {
      kept.push_back(static_cast<int32_t>(k));
    } else {
      rounds_up_[static_cast<size_t>(weight_of_[k])] = values_[k] >= 0.0f;
    }
  }
  for (auto* entries : {&values_, &floor_, &scale_, &offset_, &sigmoid_, &h_, &chain_})
    keep_elements(*entries, kept);
  keep_elements(weight_of_, kept);
  settled_.assign(static_cast<size_t>(element_chunks(static_cast<int64_t>(kept.size()))), 0);
  open_blocks_.clear();
  for (int32_t weight : weight_of_) {
    const int32_t block = weight / static_cast<int32_t>(kLiveBlock);
    if (open_blocks_.empty() || open_blocks_.back() != block) open_blocks_.push_back(block);
  }
  return kept;
}

double SoftRounding::beta(int64_t iteration) const {
  const double iterations = static_cast<double>(options_.iterations);
  const double warm_end = options_.warm_start * iterations;
  if (static_cast<double>(iteration) < warm_end) return 0.0;
  const double rel = (static_cast<double>(iteration) - warm_end) / (iterations - warm_end);
  const double pi = std::acos(-1.0);
  return options_.beta_end +
         0.5 * (options_.beta_start - options_.beta_end) * (1.0 + std::cos(rel * pi));
}

double SoftRounding::backward_range(int64_t iteration, int64_t begin, int64_t end,
                                    const float* grad_weights, float* grad_values) {
  const double beta_value = beta(iteration);
  if (dropped_any())
    gathered_products(begin, end, grad_weights, weight_of_.data(), chain_.data(), grad_values);
  else
    for (int64_t i = begin; i < end; ++i) grad_values[i] = grad_weights[i] * chain_[i];
  if (beta_value == 0.0) return 0.0;
  return add_rounding_term(static_cast<float>(beta_value), begin, end, grad_values);
}

// d/dV lambda (1 - |2h - 1|^beta) = -lambda beta |2h - 1|^(beta - 1) sign(2h - 1) 2 dh/dV, zero
// where h is clamped; returns the chunk's sum of 1 - |2h - 1|^beta, added as lane_sums() adds.
// Blocks of kSumLanes elements, branch-free within, so that they vectorize; a block whose every
// h is clamped adds nothing (h = 0 or 1: its terms are 1 - 1^beta = 0, its gradient zero) and
// is skipped, which late in the anneal is most blocks.
double SoftRounding::add_rounding_term(float beta, int64_t begin, int64_t end, float* grad_values) {
  const RoundingTerm term{static_cast<float>(options_.regularization), beta,
                          static_cast<float>(options_.zeta), static_cast<float>(options_.gamma)};
  std::array<float, kSumLanes> lanes{};
  for (int64_t i = begin; i < end; i += kSumLanes) {
    const float* sigmoid = sigmoid_.data() + i;
    if (end - i < kSumLanes) {
      term.add_block(end - i, h_.data() + i, sigmoid, grad_values + i, lanes.data());
    } else if (!term.all_clamped(sigmoid)) {
      term.add_block(kSumLanes, h_.data() + i, sigmoid, grad_values + i, lanes.data());
    }
  }
  return lane_total(lanes);
}

void SoftRounding::final_weights(float* weights) const {
  std::vector<uint8_t> up = rounds_up_;
  for (size_t k = 0; k < values_.size(); ++k)
    up[dropped_any() ? static_cast<size_t>(weight_of_[k]) : k] = values_[k] >= 0.0f;
  for (int64_t i = 0; i < grid_.size(); ++i) {
    const float level = index_below(grid_, i) + (up[static_cast<size_t>(i)] ? 1.0f : 0.0f);
    weights[i] = grid_value(grid_, i, std::clamp(level, 0.0f, grid_.quant_max));
  }
}

// ----- StraightThroughWeights -----

StraightThroughWeights::StraightThroughWeights(const WeightGrid& grid, ThreadPool& pool)
    : WeightParameters(pool), grid_(grid) {
  values_ = grid.weights;
  inside_.resize(values_.size());
}

void StraightThroughWeights::forward_range(int64_t begin, int64_t end, float* weights) {
  for (int64_t i = begin; i < end; ++i) {
    const float level = nearest_index(grid_, i, values_[i]);
    const float clamped = std::clamp(level, 0.0f, grid_.quant_max);
    weights[i] = grid_value(grid_, i, clamped);
    inside_[i] = level == clamped ? 1.0f : 0.0f;
  }
}

double StraightThroughWeights::backward_range(int64_t, int64_t begin, int64_t end,
                                              const float* grad_weights, float* grad_values) {
  for (int64_t i = begin; i < end; ++i) grad_values[i] = grad_weights[i] * inside_[i];
  return 0.0;
}

void StraightThroughWeights::final_weights(float* weights) const {
  for (int64_t i = 0; i < grid_.size(); ++i) weights[i] = nearest_on_grid(grid_, i, values_[i]);
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
