// What AdaRound and AdaQuant train for one layer, and the weights that follows from it, over the
// layer's weights in the order its loss reads them: the [groups][rows][depth] view
// (adaround_layer.h), or [depth][outputs] (ReconstructionLoss::weights_by_depth()). Work is
// split over fixed chunks; the only sum (the rounding term's value) adds chunks in order.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "quant/encoding.h"
#include "techniques/adaround_options.h"
#include "techniques/element_chunks.h"
#include "util/isa_namespace.h"

namespace qsim {
namespace QSIM_ISA_NS {

// Every weight with its grid: level q in [0, quant_max] stands for (q + offset) * scale.
struct WeightGrid {
  std::vector<float> weights;  // float values
  std::vector<float> scale;
  std::vector<float> offset;  // AIMET offsets (<= 0) as floats
  float quant_max = 0.0f;

  int64_t size() const { return static_cast<int64_t>(weights.size()); }
};

// The grid of `weight`'s elements in `order` (element k is element order[k] of the weight).
WeightGrid weight_grid(const Tensor& weight, const Encoding& encoding,
                       const std::vector<int64_t>& order);

// Nearest rounding, exactly as fake_quantize computes it.
std::vector<float> nearest_weights(const WeightGrid& grid);

class WeightParameters {
 public:
  virtual ~WeightParameters() = default;
  // The trained values (AdaRound's V, AdaQuant's weights), which the optimizer updates: one per
  // weight until settle() drops some, then one per weight still training, in weight order.
  std::vector<float>& values() { return values_; }
  // The weights at the current values (soft ones for AdaRound).
  void forward(float* weights);
  // dLoss/dvalues from dLoss/dweights at the last forward(), plus the gradient of any
  // regularization term at `iteration`; returns that term's value.
  double backward(int64_t iteration, const float* grad_weights, float* grad_values);
  // backward(), then update(begin, end) of the values, then forward() for the next iteration
  // (unless `weights` is null), chunk by chunk while the chunk is in cache; returns the
  // regularization term's value.
  template <typename Update>
  double step(int64_t iteration, const float* grad_weights, float* grad_values, float* weights,
              const Update& update);
  // Drops the values of weights that have settled (no value of theirs can change a weight, a
  // gradient or the final weights again), when enough have to be worth moving the others;
  // returns, when it dropped any, the old positions in values() of those it kept, in order, so
  // that the caller moves its own per-value state (Adam's moments) alike.
  virtual std::optional<std::vector<int32_t>> settle() { return std::nullopt; }
  // The final weights, on the grid.
  virtual void final_weights(float* weights) const = 0;
  // Per block of kLiveBlock weights, 0 when no weight of the block passes its gradient on to
  // the values at the last forward() (AdaRound: every h clamped); null when all do.
  virtual const uint8_t* live_blocks() const { return nullptr; }

 protected:
  explicit WeightParameters(ThreadPool& pool) : pool_(pool) {}

  // forward() and backward() over elements [begin, end); backward_range returns the chunk's
  // unweighted regularization term.
  virtual void forward_range(int64_t begin, int64_t end, float* weights) = 0;
  virtual double backward_range(int64_t iteration, int64_t begin, int64_t end,
                                const float* grad_weights, float* grad_values) = 0;
  virtual double regularization() const { return 0.0; }
  // After forward_range() of every chunk.
  virtual void finish_forward() {}
  // The chunks' terms, added in order and weighted.
  double total_term(const std::vector<double>& terms) const {
    return regularization() * sum_in_order(terms);
  }

  ThreadPool& pool_;
  std::vector<float> values_;
};

template <typename Update>
double WeightParameters::step(int64_t iteration, const float* grad_weights, float* grad_values,
                              float* weights, const Update& update) {
  const int64_t n = static_cast<int64_t>(values_.size());
  std::vector<double> terms(static_cast<size_t>(element_chunks(n)), 0.0);
  for_element_chunks(pool_, n, [&](int64_t chunk, int64_t begin, int64_t end) {
    terms[static_cast<size_t>(chunk)] =
        backward_range(iteration, begin, end, grad_weights, grad_values);
    update(begin, end);
    if (weights != nullptr) forward_range(begin, end, weights);
  });
  if (weights != nullptr) finish_forward();
  return total_term(terms);
}

// AdaRound (Nagel et al. 2020, as AIMET runs it): W~ = s (clamp(floor(W / s) - offset + h(V),
// 0, qmax) + offset), h(V) = clamp(sigmoid(V) (zeta - gamma) + gamma, 0, 1), V starting where h
// equals the fractional part of W / s; the rounding term lambda * sum(1 - |2 h(V) - 1|^beta)
// is off for the warm-start share of iterations, then beta decays by cosine from beta_start to
// beta_end. Final weights: floor(W / s) + (V >= 0), clamped to the grid.
class SoftRounding : public WeightParameters {
 public:
  SoftRounding(const WeightGrid& grid, const AdaRoundOptions& options, ThreadPool& pool);
  // A weight settles once its h(V) is clamped (sigmoid(V) (zeta - gamma) + gamma outside
  // [0, 1]): dh/dV is then 0, so its gradient is 0 from then on, and Adam only carries V further
  // the way it last moved, which was out of [0, 1] (the moments keep their sign when the
  // gradient is 0). So h, W~ and the sign of V (the final rounding) never change again, and
  // dropping the weight from the step changes no weight, gradient or export.
  std::optional<std::vector<int32_t>> settle() override;
  void final_weights(float* weights) const override;
  // beta at `iteration`, or 0 while the rounding term is off.
  double beta(int64_t iteration) const;
  const uint8_t* live_blocks() const override { return live_.data(); }

 private:
  void forward_range(int64_t begin, int64_t end, float* weights) override;
  void finish_forward() override;
  double backward_range(int64_t iteration, int64_t begin, int64_t end, const float* grad_weights,
                        float* grad_values) override;
  double regularization() const override { return options_.regularization; }
  double add_rounding_term(float beta, int64_t begin, int64_t end, float* grad_values);
  bool dropped_any() const { return !weight_of_.empty(); }

  const WeightGrid& grid_;
  AdaRoundOptions options_;
  // Per value (a weight still training, in weight order): its weight (empty while no weight
  // was dropped: value k is weight k), floor(W / s) - offset (the grid index rounding down),
  // s and the offset, and at the last forward() sigmoid(V), h(V) and dW~/dV.
  std::vector<int32_t> weight_of_;
  std::vector<float> floor_, scale_, offset_;
  std::vector<float> sigmoid_, h_, chain_;
  std::vector<int64_t> settled_;  // per chunk of values: how many settled at the last forward()
  // Per weight: dW~/dV at the last forward() once weights are dropped (a dropped weight's is 0),
  // and whether V >= 0 for the dropped ones.
  std::vector<float> weight_chain_;
  std::vector<uint8_t> rounds_up_;
  std::vector<uint8_t> live_;         // per kLiveBlock weights: any dW~/dV not zero
  std::vector<int32_t> open_blocks_;  // the live blocks that hold a weight still training
};

// AdaQuant (Quark's fast finetune): the weights themselves, quantized on their fixed grid in
// the forward pass, the gradient passing straight through rounding (zero where clamped).
class StraightThroughWeights : public WeightParameters {
 public:
  StraightThroughWeights(const WeightGrid& grid, ThreadPool& pool);
  void final_weights(float* weights) const override;

 private:
  void forward_range(int64_t begin, int64_t end, float* weights) override;
  double backward_range(int64_t iteration, int64_t begin, int64_t end, const float* grad_weights,
                        float* grad_values) override;

  const WeightGrid& grid_;
  std::vector<float> inside_;  // 1 where the last forward() did not clamp, else 0
};

}  // namespace QSIM_ISA_NS
}  // namespace qsim
