// The reconstruction loss of a depthwise Conv (one input and one output channel per group)
// straight from its cached input, channels innermost: per output position and vector of 16
// channels, the window's taps are 16-channel vector loads against the taps' weights (no
// broadcasts), the tile of positions then gets bias, activation, squared error and dL/dz in
// registers (conv_tile_loss.h), and the same loads update the taps' gradient, which stays in
// registers over the whole sample. The im2col form it replaces lowered each drawn sample again
// and ran one group (one channel) at a time, 5 to 30 GFLOP/s on the reference MobileNet. The
// same loss as MinibatchLoss (the sums in another order). Weights and their gradient are
// [taps][channels] (weights_by_depth()).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "techniques/adaround_direct_conv.h"
#include "techniques/conv_tile_loss.h"
#include "util/isa_namespace.h"

namespace qsim {
namespace QSIM_ISA_NS {

class DepthwiseConvLayout : public ConvSampleLayout {
 public:
  // Groups of one input and one output channel, a multiple of 16 of them, a 1-D or 2-D
  // window, and an activation with a vector form.
  static bool covers(const LayerShape& shape, const WindowGeometry& window,
                     const Activation& activation);

  DepthwiseConvLayout(const LayerShape& shape, const WindowGeometry& window);

  // A sample's zero-padded input, [rows][columns][channels].
  int64_t input_floats() const override { return padded_rows_ * padded_cols_ * channels_; }
  void lay_out_input(const float* planes, float* dst) const override;
  // The target as [positions][channels].
  void lay_out_target(const float* rows, float* dst) const override;

  const LayerShape& shape() const { return shape_; }

 private:
  friend class DepthwiseConvLoss;

  LayerShape shape_;
  int64_t channels_, in_rows_, in_cols_, pad_top_, pad_left_, padded_rows_, padded_cols_;
  int64_t out_rows_, out_cols_, stride_rows_, stride_cols_;
  std::vector<int64_t> taps_;  // per tap: its input's offset in floats from the window's
};

class DepthwiseConvLoss : public LaidOutConvLoss<DepthwiseConvLayout> {
 public:
  DepthwiseConvLoss(const DepthwiseConvLayout& layout, const Activation& activation,
                    const SampleCache& inputs, const SampleCache& targets, int64_t max_batch,
                    ThreadPool& pool)
      : LaidOutConvLoss(layout, activation, inputs, targets, max_batch, pool, "depthwise") {}

 private:
  double run_task(const float* weights, const float* bias, std::span<const int64_t> samples,
                  float scale, Partial* partial) override;
  double run_sample(const float* input, const float* target, const float* weights,
                    const float* bias, float scale, Partial* partial) const;
};

}  // namespace QSIM_ISA_NS
}  // namespace qsim
