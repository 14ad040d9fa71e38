// One layer's optimization: the trained values (weight_parameters.h) against a reconstruction
// loss (adaround_objective.h) with Adam (PyTorch's update, float32), a seeded minibatch draw per
// iteration, and AdaQuant's early stop.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "techniques/adaround_objective.h"
#include "techniques/adaround_options.h"
#include "techniques/weight_parameters.h"
#include "util/thread_pool.h"
#include "util/isa_namespace.h"

namespace qsim {
namespace QSIM_ISA_NS {

// splitmix64's finalizer: well-mixed bits of `z` (the draws' sequence, and seeds for
// consecutive layers).
uint64_t splitmix64_mix(uint64_t z);

// `batch` distinct samples out of `population` per draw (all of them when there are fewer),
// from a generator fixed by the seed; sorted, so that file-backed caches read forwards.
class SampleDraw {
 public:
  SampleDraw(int64_t population, int64_t batch, uint64_t seed);
  std::span<const int64_t> next();

 private:
  uint64_t random();
  uint64_t below(uint64_t bound);

  uint64_t state_;
  std::vector<int64_t> order_;
  std::vector<int64_t> batch_;
};

// torch.optim.Adam with its defaults (betas 0.9, 0.999, eps 1e-8), element-wise.
class Adam {
 public:
  Adam(int64_t size, double learning_rate);
  void step(float* values, const float* grads, ThreadPool& pool);
  // step() in parts: begin_step() once, then update() of every element range.
  void begin_step();
  void update(float* values, const float* grads, int64_t begin, int64_t end);
  // Keeps the moments of elements kept[0], kept[1], ... (ascending) as elements 0, 1, ...
  void keep(const std::vector<int32_t>& kept);

 private:
  float step_size_ = 0.0f, correction_ = 0.0f;  // of the current step
  double learning_rate_;
  int64_t steps_ = 0;
  std::vector<float> mean_, square_;
};

struct TunedLayer {
  std::vector<float> weights;  // on the grid, in view order
  std::vector<float> bias;     // the trained bias (AdaQuant with train_bias), else empty
  int64_t iterations = 0;      // run
};

// Called after each iteration with the loss (reconstruction plus rounding term); throws to
// stop the optimization (cancellation).
using IterationFn = std::function<void(int64_t iteration, double loss)>;

// `bias` is the layer's float bias per output channel; it is trained only when `train_bias`.
TunedLayer optimize_layer(const WeightGrid& grid, const std::vector<float>& bias, bool train_bias,
                          ReconstructionLoss& loss, const AdaRoundOptions& options, uint64_t seed,
                          ThreadPool& pool, const IterationFn& after_iteration);

}  // namespace QSIM_ISA_NS
}  // namespace qsim
