// The reconstruction loss of a Conv computed straight from its cached input planes, without
// im2col columns or sgemm's packing: per row segment of output positions, the forward
// product, the activation, the loss and dL/dZ, and the weight gradient's update are done in
// registers, vectorized across output channels (16 per vector), with the input values
// broadcast from a zero-padded copy of the planes. The same loss as MinibatchLoss (the sums in
// another order), for the layers DirectConvLayout::covers() accepts. It takes the weights, and
// writes their gradient, as [depth][outputs] (weights_by_depth()): the optimizer keeps them in
// that order, so no pass per iteration transposes them.
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "techniques/adaround_objective.h"
#include "techniques/conv_tile_loss.h"
#include "util/error.h"
#include "util/isa_namespace.h"

namespace qsim {
namespace QSIM_ISA_NS {

// How a Conv loss that reads a layout of its own has each sample's input and target cached.
class ConvSampleLayout {
 public:
  virtual ~ConvSampleLayout() = default;
  virtual int64_t input_floats() const = 0;
  // A sample's input planes ([channels][spatial], CompactInput's form) into `dst`
  // (input_floats()).
  virtual void lay_out_input(const float* planes, float* dst) const = 0;
  // A sample's target ([outputs] x positions) into `dst` (as many floats).
  virtual void lay_out_target(const float* rows, float* dst) const = 0;
};

// A loss over samples cached as `Layout` (a ConvSampleLayout) lays them out, with an activation
// that has a vector form; it takes weights, and writes their gradient, as [depth][outputs].
template <typename Layout>
class LaidOutConvLoss : public TaskedLoss {
 public:
  int64_t samples() const override { return inputs_.samples(); }
  bool weights_by_depth() const override { return true; }

 protected:
  // `inputs` and `targets` hold each sample as `layout` caches them; `name` names the loss in
  // the error for caches that do not fit it.
  LaidOutConvLoss(const Layout& layout, const Activation& activation, const SampleCache& inputs,
                  const SampleCache& targets, int64_t max_batch, ThreadPool& pool, const char* name)
      : TaskedLoss(layout.shape(), max_batch, pool),
        layout_(layout),
        activation_(activation),
        inputs_(inputs),
        targets_(targets) {
    require(conv_tiles::has_vector_form(activation) &&
                inputs.sample_floats() == layout.input_floats() &&
                targets.sample_floats() == shape_.output_floats(),
            ErrorCode::kInternal,
            std::string("adaround: the ") + name + " Conv loss does not cover this layer");
  }

  // A task's samples through `run_sample(input, target)`, their losses added in order, read
  // with sample buffers from a pool; `partial`, when given, is cleared first.
  template <typename RunSample>
  double run_samples(std::span<const int64_t> samples, Partial* partial,
                     const RunSample& run_sample) {
    std::unique_ptr<conv_tiles::SampleBuffers> buffers = buffers_.take(
        [this] { return std::make_unique<conv_tiles::SampleBuffers>(inputs_, targets_); });
    if (partial != nullptr) partial->clear();
    const double loss =
        conv_tiles::sum_over_samples(inputs_, targets_, samples, *buffers, run_sample);
    buffers_.give(std::move(buffers));
    return loss;
  }

  Layout layout_;
  Activation activation_;
  const SampleCache& inputs_;
  const SampleCache& targets_;
  ScratchPool<conv_tiles::SampleBuffers> buffers_;  // for run_samples()
};

// How a covered Conv's samples are cached for DirectConvLoss, and its tiles of positions.
class DirectConvLayout : public ConvSampleLayout {
 public:
  // One group, a multiple of 16 output channels, a 1-D or 2-D window, and an activation with a
  // vector form (identity, Relu, Clip, PRelu).
  static bool covers(const LayerShape& shape, const WindowGeometry& window,
                     const Activation& activation);

  DirectConvLayout(const LayerShape& shape, const WindowGeometry& window);

  // A sample's cached input: its planes zero-padded, in rows of row_floats() floats that
  // hold the input row's columns split by their remainder modulo the stride (so that a
  // strided window reads consecutive floats).
  int64_t input_floats() const override { return channels_ * plane_floats_; }
  void lay_out_input(const float* planes, float* dst) const override;
  // The target as [positions][outputs].
  void lay_out_target(const float* rows, float* dst) const override;

  const LayerShape& shape() const { return shape_; }

 private:
  friend class DirectConvLoss;
  // A segment of one output row, as many positions as a kernel keeps in registers.
  struct Tile {
    int64_t position;  // of its first output, in the sample
    int64_t offset;    // of its first output's window in the padded planes
    int count;
  };

  LayerShape shape_;
  int vectors_;  // output channel vectors per kernel call: 1, 2 or 4
  int64_t channels_, in_rows_, in_cols_, pad_top_, pad_left_, stride_cols_, phase_floats_;
  int64_t row_floats_, plane_floats_;
  std::vector<int64_t> taps_;  // per depth index: its input's offset from the window's
  std::vector<Tile> tiles_;
};

class DirectConvLoss : public LaidOutConvLoss<DirectConvLayout> {
 public:
  DirectConvLoss(const DirectConvLayout& layout, const Activation& activation,
                 const SampleCache& inputs, const SampleCache& targets, int64_t max_batch,
                 ThreadPool& pool)
      : LaidOutConvLoss(layout, activation, inputs, targets, max_batch, pool, "direct") {}

 private:
  void prepare(const float* weights, const uint8_t* live_blocks) override;
  double run_task(const float* weights, const float* bias, std::span<const int64_t> samples,
                  float scale, Partial* partial) override;
  void find_needed_depths(const uint8_t* live_blocks);
  double run_sample(const float* input, const float* target, const float* weights,
                    const float* bias, float scale, Partial* partial) const;

  // Per evaluate(), from prepare():
  std::vector<int64_t> depths_;        // [output blocks][depth]: the needed ones first
  std::vector<int64_t> depth_counts_;  // per output block
  std::vector<float> paired_weights_;  // the weights in forward_pairs()' layout, when it runs
};

}  // namespace QSIM_ISA_NS
}  // namespace qsim
