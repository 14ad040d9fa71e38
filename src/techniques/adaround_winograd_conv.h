// The reconstruction loss of a 3x3, stride-1 Conv in Winograd's F(2x2, 3x3) form (Lavin and
// Gray, "Fast Algorithms for Convolutional Neural Networks", 2016). Each 2x2 block of output
// positions is A^T [(G g G^T) . (B^T d B)] A for the 4x4 input patch d under it, so the
// forward product takes 16 multiply-adds per input channel, output channel and block instead of
// the direct loss's 36, and so does the weight gradient, which is summed in the transformed
// domain and taken back through G once per task. The cache holds each sample's zero-padded
// input with channels innermost (as many floats as the direct loss's), and B^T d B is made per
// group of blocks, 16 channels per vector, into scratch the forward and backward products share:
// cached, the transformed patches would be 4 floats per output position and channel, and on
// this project's reference model (Fashion-MNIST, 1024 samples) they no longer fit the CPU's
// last-level cache, which cost more than the transforms. G g G^T is made once per evaluate().
// The same loss as DirectConvLoss, with the sums in another order and the transforms' roundings
// (a few units in the last place).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "techniques/adaround_direct_conv.h"
#include "techniques/conv_tile_loss.h"
#include "util/isa_namespace.h"

namespace qsim {
namespace QSIM_ISA_NS {

class WinogradConvLayout : public ConvSampleLayout {
 public:
  // One group, multiples of 16 input and output channels, a 2-D 3x3 window with stride and
  // dilation 1, even output rows and columns, and an activation with a vector form.
  static bool covers(const LayerShape& shape, const WindowGeometry& window,
                     const Activation& activation);

  WinogradConvLayout(const LayerShape& shape, const WindowGeometry& window);

  // A sample's zero-padded input, [rows][columns][channels].
  int64_t input_floats() const override { return padded_rows_ * padded_cols_ * channels_; }
  void lay_out_input(const float* planes, float* dst) const override;
  // The target as [blocks][4 positions, row by row][outputs].
  void lay_out_target(const float* rows, float* dst) const override;

  const LayerShape& shape() const { return shape_; }

 private:
  friend class WinogradConvLoss;
  // Consecutive blocks a kernel call takes, as many as its register tile holds.
  struct Group {
    int64_t first;
    int count;
  };

  LayerShape shape_;
  int vectors_;  // output channel vectors per kernel call: 1, 2 or 4
  int64_t channels_, in_rows_, in_cols_, pad_top_, pad_left_, block_cols_, blocks_;
  int64_t padded_rows_, padded_cols_;  // the window's reach: two more than the outputs
  std::vector<Group> groups_;
};

class WinogradConvLoss : public LaidOutConvLoss<WinogradConvLayout> {
 public:
  WinogradConvLoss(const WinogradConvLayout& layout, const Activation& activation,
                   const SampleCache& inputs, const SampleCache& targets, int64_t max_batch,
                   ThreadPool& pool)
      : LaidOutConvLoss(layout, activation, inputs, targets, max_batch, pool, "Winograd"),
        transformed_(static_cast<size_t>(16 * layout.channels_ * layout.shape().outputs())) {}

  // The products it runs: 16 per block, input and output channel, forward and backward.
  double flops(int64_t batch) const override {
    return 4.0 * 16.0 *
           static_cast<double>(layout_.channels_ * shape_.outputs() * layout_.blocks_ * batch);
  }

 private:
  struct Scratch {
    explicit Scratch(const SampleCache& inputs, const SampleCache& targets)
        : samples(inputs, targets) {}
    conv_tiles::SampleBuffers samples;
    std::vector<float> grad;     // the task's gradient of G g G^T
    std::vector<float> patches;  // a group's B^T d B, [16][blocks][channels]
  };

  void prepare(const float* weights, const uint8_t* live_blocks) override;
  double run_task(const float* weights, const float* bias, std::span<const int64_t> samples,
                  float scale, Partial* partial) override;
  double run_sample(const float* input, const float* target, const float* bias, float scale,
                    Scratch& scratch, Partial* partial) const;
  void transform_patches(const float* input, int64_t first, int count, float* patches) const;
  void add_weight_gradient(const float* grad, float* weights) const;

  ScratchPool<Scratch> scratch_;
  std::vector<float> transformed_;  // G g G^T, [16][channels][outputs], from prepare()
};

}  // namespace QSIM_ISA_NS
}  // namespace qsim
