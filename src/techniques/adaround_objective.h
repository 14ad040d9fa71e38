// The reconstruction loss AdaRound and AdaQuant minimize for one layer, with its gradient:
//   L(W~, b) = mean over samples and positions of sum over output channels (f(W~ x~ + b) - t)^2
// with x~ the layer input in the partly rounded model, t the float model's output after the
// activation f that follows (docs/SOURCES.md section 5). Two exact forms:
//  - MinibatchLoss: over a random minibatch of cached samples, the forward product, loss and
//    dL/dZ fused in one pass, the two products by OpenBLAS sgemm (or a direct loop for
//    layers with few output channels per group, such as depthwise convolutions);
//  - SecondMomentLoss: for f = identity the loss is a quadratic form in the weights, which
//    depends on the inputs only through their second moments, summed once over every sample.
// Work is split into tasks fixed by the shapes (never by the thread count) and partial sums are
// added in task order, so results are bit-identical for any number of threads.
#pragma once

#include <algorithm>
#include <cstdint>
#include <memory>
#include <mutex>
#include <span>
#include <vector>

#include "techniques/adaround_layer.h"
#include "techniques/fixed_product.h"
#include "techniques/layer_input_cache.h"
#include "util/isa_namespace.h"
#include "util/thread_pool.h"

namespace qsim {
namespace QSIM_ISA_NS {

class ReconstructionLoss {
 public:
  virtual ~ReconstructionLoss() = default;
  // Samples a minibatch may draw from; 0 when evaluate() sums over all of them itself.
  virtual int64_t samples() const = 0;
  // Whether evaluate() takes the weights (and writes their gradient) as [depth][outputs], the
  // order its kernel reads them in, instead of the view order [groups][rows][depth].
  virtual bool weights_by_depth() const { return false; }
  // The loss at `weights` (in the order above) and `bias` (per output channel) over the
  // minibatch `batch`; writes dL/dweights when grad_weights is not null, and dL/dbias when
  // grad_bias is not null. `live_blocks` (null: all) names the blocks of kLiveBlock weights
  // whose gradient the caller needs; the others' may be left zero.
  virtual double evaluate(const float* weights, const float* bias, std::span<const int64_t> batch,
                          float* grad_weights, float* grad_bias, const uint8_t* live_blocks) = 0;
  // Floating-point operations of the matrix products of one evaluate() with a gradient.
  virtual double flops(int64_t batch) const = 0;
};

// A minibatch is cut into tasks of this many samples (the last may hold fewer).
constexpr int64_t kSamplesPerLossTask = 8;

// Per-thread scratch kept between calls: take() one, give() it back.
template <typename Scratch>
class ScratchPool {
 public:
  template <typename Make>
  std::unique_ptr<Scratch> take(const Make& make) {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (!free_.empty()) {
        std::unique_ptr<Scratch> s = std::move(free_.back());
        free_.pop_back();
        return s;
      }
    }
    return make();
  }
  void give(std::unique_ptr<Scratch> scratch) {
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(std::move(scratch));
  }

 private:
  std::mutex mutex_;
  std::vector<std::unique_ptr<Scratch>> free_;
};

// A loss over a random minibatch of cached samples, summed over tasks of kSamplesPerLossTask
// samples, each with its own partial gradient; the partials are added in task order.
class TaskedLoss : public ReconstructionLoss {
 public:
  double evaluate(const float* weights, const float* bias, std::span<const int64_t> batch,
                  float* grad_weights, float* grad_bias, const uint8_t* live_blocks) final;
  double flops(int64_t batch) const override {  // the forward and the backward product
    return 4.0 * static_cast<double>(shape_.weights() * batch * shape_.positions);
  }

 protected:
  struct Partial {
    std::vector<float> weights, bias;  // one task's gradient
    void clear() {
      std::fill(weights.begin(), weights.end(), 0.0f);
      std::fill(bias.begin(), bias.end(), 0.0f);
    }
  };

  TaskedLoss(const LayerShape& shape, int64_t max_batch, ThreadPool& pool);

  // Called by evaluate() before its tasks, on one thread, with its weights and `live_blocks`:
  // what the tasks share.
  virtual void prepare(const float* /*weights*/, const uint8_t* /*live_blocks*/) {}
  // The loss summed over `samples` (scaled by `scale` in the gradient), and its gradient into
  // `partial` when that is not null (as evaluate() does, for the blocks prepare() was given).
  // Runs on several threads at once.
  virtual double run_task(const float* weights, const float* bias, std::span<const int64_t> samples,
                          float scale, Partial* partial) = 0;

  LayerShape shape_;
  ThreadPool& pool_;

 private:
  std::vector<Partial> partials_;
};

class MinibatchLoss : public TaskedLoss {
 public:
  // `inputs` hold each sample's lowered input ([groups * depth] x positions), or its compact
  // form when `compact` is given, `targets` its target ([groups * rows] x positions);
  // gradients are asked for minibatches of at most `max_batch` samples.
  MinibatchLoss(const LayerShape& shape, const Activation& activation, const SampleCache& inputs,
                const SampleCache& targets, int64_t max_batch, ThreadPool& pool,
                const CompactInput* compact = nullptr);

  int64_t samples() const override { return inputs_.samples(); }

 private:
  struct Scratch {
    std::vector<float> x, t, z;             // gathered inputs, targets, products
    std::vector<float> sample_x, sample_t;  // a sample read back from a file cache
    std::vector<std::byte> lowering;        // CompactInput::lower's scratch
  };

  double run_task(const float* weights, const float* bias, std::span<const int64_t> samples,
                  float scale, Partial* partial) override;
  void gather(std::span<const int64_t> samples, Scratch& scratch) const;
  std::unique_ptr<Scratch> make_scratch() const;

  Activation activation_;
  const SampleCache& inputs_;
  const SampleCache& targets_;
  const CompactInput* compact_;
  ScratchPool<Scratch> scratch_;
};

// Sums of one layer's inputs' second moments over every sample, per group, in double:
// C = sum x~ x~^T, E = sum (t - b) x~^T and sum |t - b|^2, where x~ carries an extra constant 1
// when the bias is trained too (so that the bias is one more column of the weights).
class SecondMoments {
 public:
  SecondMoments(const LayerShape& shape, bool with_bias);

  // Adds `columns` positions: inputs [groups * depth] x columns and targets minus the bias
  // [groups * rows] x columns, `columns` apart.
  void add(const float* inputs, const float* targets, int64_t columns, ThreadPool& pool);

  int64_t depth() const { return depth_; }  // of the moments: shape.depth (+ 1 with a bias)
  int64_t positions() const { return positions_; }
  const LayerShape& shape() const { return shape_; }
  bool with_bias() const { return with_bias_; }

 private:
  friend class SecondMomentLoss;

  LayerShape shape_;
  bool with_bias_;
  int64_t depth_;
  int64_t positions_ = 0;
  std::vector<double> inputs_;   // [groups][depth x depth]
  std::vector<double> crossed_;  // [groups][rows x depth]
  double target_square_ = 0.0;
};

class SecondMomentLoss : public ReconstructionLoss {
 public:
  // `float_weights` and `float_bias` are the layer's float parameters (view order).
  SecondMomentLoss(const SecondMoments& moments, const std::vector<float>& float_weights,
                   const std::vector<float>& float_bias, ThreadPool& pool);

  int64_t samples() const override { return 0; }
  double evaluate(const float* weights, const float* bias, std::span<const int64_t> batch,
                  float* grad_weights, float* grad_bias, const uint8_t* live_blocks) override;
  double flops(int64_t) const override {  // (W~ - W) C
    return 2.0 * static_cast<double>(shape_.outputs() * depth_ * depth_);
  }

 private:
  LayerShape shape_;
  int64_t depth_;  // of the moments
  bool with_bias_;
  double positions_;
  std::vector<float> float_weights_;
  std::vector<float> float_bias_;
  std::vector<FixedRightProduct> products_;  // by C (in float), per group
  std::vector<float> residual_;  // F = W C - E per group: the gradient at W~ = W, times P / 2
  double residual_square_;       // sum |W x~ + b - t|^2
  std::vector<float> delta_, product_;
  ThreadPool& pool_;
};

}  // namespace QSIM_ISA_NS
}  // namespace qsim
