#include "techniques/adaround_optimizer.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <numeric>

#include "techniques/element_chunks.h"

namespace qsim {
namespace QSIM_ISA_NS {
namespace {

// AdaQuant's early stop compares the mean loss of consecutive windows of this share of the
// iterations.
constexpr int64_t kEarlyStopWindows = 10;

// Mean loss of consecutive windows; stop() once a window is no better than the one before.
class EarlyStop {
 public:
  explicit EarlyStop(int64_t iterations)
      : window_(std::max<int64_t>(1, iterations / kEarlyStopWindows)) {}
  bool stop(double loss) {
    sum_ += loss;
    if (++count_ < window_) return false;
    const double mean = sum_ / static_cast<double>(count_);
    const bool worse = has_previous_ && mean >= previous_;
    previous_ = mean;
    has_previous_ = true;
    sum_ = 0.0;
    count_ = 0;
    return worse;
  }

 private:
  int64_t window_;
  int64_t count_ = 0;
  double sum_ = 0.0;
  double previous_ = 0.0;
  bool has_previous_ = false;
};

std::unique_ptr<WeightParameters> make_parameters(const WeightGrid& grid,
                                                  const AdaRoundOptions& options,
                                                  ThreadPool& pool) {
  if (options.mode == AdaRoundMode::kAdaRound)
    return std::make_unique<SoftRounding>(grid, options, pool);
  return std::make_unique<StraightThroughWeights>(grid, pool);
}

// torch.optim.Adam's default betas (as floats, also where the bias corrections take them).
constexpr float kBeta1 = 0.9f, kBeta2 = 0.999f;

// PyTorch's Adam update of n elements (no aliasing, so that it vectorizes).
void adam_update(float* __restrict values, const float* __restrict grads, float* __restrict mean,
                 float* __restrict square, int64_t n, float step_size, float correction) {
  constexpr float kEpsilon = 1e-8f;
  for (int64_t i = 0; i < n; ++i) {
    mean[i] = mean[i] * kBeta1 + grads[i] * (1.0f - kBeta1);
    square[i] = square[i] * kBeta2 + grads[i] * grads[i] * (1.0f - kBeta2);
    const float denominator = __builtin_sqrtf(square[i]) / correction + kEpsilon;
    values[i] -= step_size * (mean[i] / denominator);
  }
}

}  // namespace

uint64_t splitmix64_mix(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

SampleDraw::SampleDraw(int64_t population, int64_t batch, uint64_t seed)
    : state_(seed), order_(static_cast<size_t>(population)) {
  std::iota(order_.begin(), order_.end(), int64_t{0});
  batch_.resize(static_cast<size_t>(std::min(population, batch)));
}

// splitmix64: a fixed, portable sequence for a seed.
uint64_t SampleDraw::random() {
  return splitmix64_mix(state_ += 0x9e3779b97f4a7c15ULL);
}

// Uniform in [0, bound): draws below 2^64 mod bound are rejected.
uint64_t SampleDraw::below(uint64_t bound) {
  const uint64_t threshold = (0 - bound) % bound;
  for (;;) {
    const uint64_t r = random();
    if (r >= threshold) return r % bound;
  }
}

std::span<const int64_t> SampleDraw::next() {
  const uint64_t population = order_.size();
  // A partial Fisher-Yates shuffle: the first batch entries become a uniform random subset.
  for (size_t i = 0; i < batch_.size(); ++i) {
    std::swap(order_[i], order_[i + below(population - i)]);
    batch_[i] = order_[i];
  }
  std::sort(batch_.begin(), batch_.end());
  return batch_;
}

Adam::Adam(int64_t size, double learning_rate)
    : learning_rate_(learning_rate),
      mean_(static_cast<size_t>(size), 0.0f),
      square_(static_cast<size_t>(size), 0.0f) {}

void Adam::begin_step() {
  ++steps_;
  const double steps = static_cast<double>(steps_);
  step_size_ = static_cast<float>(learning_rate_ / (1.0 - std::pow(double{kBeta1}, steps)));
  correction_ = static_cast<float>(std::sqrt(1.0 - std::pow(double{kBeta2}, steps)));
}

void Adam::update(float* values, const float* grads, int64_t begin, int64_t end) {
  adam_update(values + begin, grads + begin, mean_.data() + begin, square_.data() + begin,
              end - begin, step_size_, correction_);
}

void Adam::keep(const std::vector<int32_t>& kept) {
  keep_elements(mean_, kept);
  keep_elements(square_, kept);
}

void Adam::step(float* values, const float* grads, ThreadPool& pool) {
  begin_step();
  for_element_chunks(
      pool, static_cast<int64_t>(mean_.size()),
      [&](int64_t, int64_t begin, int64_t end) { update(values, grads, begin, end); });
}

TunedLayer optimize_layer(const WeightGrid& grid, const std::vector<float>& bias, bool train_bias,
                          ReconstructionLoss& loss, const AdaRoundOptions& options, uint64_t seed,
                          ThreadPool& pool, const IterationFn& after_iteration) {
  const bool adaround = options.mode == AdaRoundMode::kAdaRound;
  const int64_t iterations = options.mode_iterations();
  const double learning_rate = adaround ? options.learning_rate : options.adaquant.learning_rate;
  std::unique_ptr<WeightParameters> parameters = make_parameters(grid, options, pool);
  const int64_t n = grid.size();
  std::vector<float> weights(static_cast<size_t>(n)), grad_weights(weights.size()),
      grad_values(weights.size());
  TunedLayer result;
  std::vector<float> current_bias = bias, grad_bias(bias.size());
  Adam adam(n, learning_rate), bias_adam(static_cast<int64_t>(bias.size()), learning_rate);
  SampleDraw draw(loss.samples(), options.batch_samples, seed);
  EarlyStop early_stop(iterations);
  parameters->forward(weights.data());
  for (int64_t it = 0; it < iterations; ++it) {
    const std::span<const int64_t> batch =
        loss.samples() > 0 ? draw.next() : std::span<const int64_t>();
    double value =
        loss.evaluate(weights.data(), current_bias.data(), batch, grad_weights.data(),
                      train_bias ? grad_bias.data() : nullptr, parameters->live_blocks());
    adam.begin_step();
    float* values = parameters->values().data();
    value += parameters->step(
        it, grad_weights.data(), grad_values.data(), weights.data(),
        [&](int64_t begin, int64_t end) { adam.update(values, grad_values.data(), begin, end); });
    if (const auto kept = parameters->settle()) adam.keep(*kept);
    if (train_bias) bias_adam.step(current_bias.data(), grad_bias.data(), pool);
    result.iterations = it + 1;
    after_iteration(it, value);
    if (!adaround && options.adaquant.early_stop && early_stop.stop(value)) break;
  }
  result.weights.resize(static_cast<size_t>(n));
  parameters->final_weights(result.weights.data());
  if (train_bias) result.bias = std::move(current_bias);
  return result;
}

}  // namespace QSIM_ISA_NS
}  // namespace qsim
