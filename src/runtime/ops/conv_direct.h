// Direct float convolution kernels for ungrouped 1-D and 2-D convolutions, with the bias, a
// sum input and an activation applied in registers before anything is stored (epilogue.h).
// They replace im2col + sgemm, which copies every input element once per kernel tap and then
// has sgemm repack the copy, and which cannot fuse what follows the convolution.
//
// Two register-blocked micro-kernels on float vectors of the kernel path's width (16 lanes on
// avx512, 8 on avx2, 4 on baseline; the counts below are avx512's):
// - flat (strides 1 or 2, padding at least "same", planes of at least 16 outputs): lanes over
//   output positions of the flattened plane, 8 filters x up to 48 positions per tile, every
//   weight broadcast from a packed copy. The input is split into stride phases (phase (a, b)
//   holds the rows a, a + s, ... and columns b, b + s, ...) laid out with the output's row
//   pitch, so that every kernel tap reads one phase plane contiguously at a fixed offset from
//   the output position: out[p] = bias + sum over channels and taps of
//   w * x[phase(tap)][p + offset(tap)]. A tap whose column falls off the row reads the
//   neighbouring row, which a lane mask per (kernel column, vector) zeroes; a tap whose row
//   falls off the plane reads the zeros kept around every phase plane. A 1x1 convolution
//   with unit strides and no padding reads its input in place. Outputs are stored as they
//   are computed: no column matrix, no transposition.
// - window (what the flat kernel does not take: planes under 16 outputs, padding narrower
//   than "same"): lanes over 16 output channels, P output positions of a row per tile, every
//   input element broadcast from a zero-padded copy of the rows the tile reads; the tile's
//   16-channel vectors are transposed into the NCHW output as they are stored.
// The flat kernel computes the last positions of a plane that do not fill a vector (1 of
// 49) over lanes of 8 filters; window tiles that would run past the end of a row are moved
// back to end on it, recomputing a few outputs (with the same arithmetic, hence the same
// values) instead of needing masked tails.
//
// Every output is bias + the products in (channel, kh, kw) order, each added with the path's
// multiply_add (simd.h), whatever the path, tile, task or thread computing it.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "runtime/ops/conv_params.h"
#include "runtime/ops/epilogue.h"
#include "tensor/tensor.h"
#include "util/isa_namespace.h"

namespace qsim {
namespace QSIM_ISA_NS {

enum class DirectConvPath { kNone, kFlat, kWindow };

// The direct path for a convolution, or kNone when it has to go through im2col + sgemm
// (groups, 3-D windows, strides above 2 outside the flat kernel).
DirectConvPath direct_conv_path(const WindowGeometry& g, int64_t groups);

// Weights and bias rearranged for a micro-kernel: [filter block][channel][tap][filter in
// block], zero-padded to whole blocks.
struct PackedConvWeights {
  Tensor weights;
  Tensor bias;
};

// Filters per block of a path's micro-kernel.
int64_t filter_block(DirectConvPath path);

PackedConvWeights pack_conv_weights(int64_t block, const float* weights, const float* bias,
                                    int64_t filters, int64_t channels, int64_t taps);

// Where the taps of a flat convolution read: phase planes of the output's shape, each with
// `gap` zeros before it, one after another per channel.
struct FlatLayout {
  static constexpr int kMaxTaps = 49;  // a 7x7 window
  static constexpr int kMaxPhases = 4;

  int64_t taps = 0;
  std::array<int64_t, kMaxTaps> offsets{};       // from the output position, in floats
  std::array<int64_t, kMaxTaps> mask_offsets{};  // of the tap's mask row, in mask vectors
  int phases = 0;
  std::array<int64_t, kMaxPhases> phase_row{};  // a: the phase holds input rows a + s * i
  std::array<int64_t, kMaxPhases> phase_column{};
  std::array<int64_t, kMaxPhases> first_row{};   // the phase rows (i) the taps reach, at most
  std::array<int64_t, kMaxPhases> last_row{};    // this far before and after the output row
  std::array<int64_t, kMaxTaps> column_shift{};  // of each tap, in phase columns
  int mask_rows = 1;                             // row 0 keeps every lane
  std::array<int64_t, kMaxTaps> mask_shift{};    // column shift each mask row checks
  int64_t plane = 0;                             // outputs per filter
  int64_t vectors = 0;                           // whole vectors of the plane
  int64_t gap = 0;
  bool in_place = false;  // the input is its own only phase plane

  int64_t channel_floats() const { return phases * (gap + plane); }
};

// One convolution over a batch, cut into tasks of consecutive position vectors of the
// batch's planes (flat) or of one image's output rows (window). Tasks depend on the shapes
// only.
class DirectConv {
 public:
  DirectConv(DirectConvPath path, const WindowGeometry& g, int64_t batch, int64_t channels,
             int64_t filters);

  int64_t task_count() const { return task_count_; }
  int64_t ops_per_task() const;
  size_t scratch_bytes() const;
  // Once per thread before its first task.
  void prepare_scratch(std::byte* scratch) const;
  // y (and z, the sum input of y's shape, or nullptr) are whole NCHW tensors.
  void run_task(int64_t task, const float* x, const PackedConvWeights& packed, const float* z,
                const Activation& activation, float* y, std::byte* scratch) const;

 private:
  size_t masks_bytes() const;
  size_t image_copy_bytes() const;
  // Copies the phase rows that output positions [position_begin, position_end) read.
  void copy_phases(const float* image, int64_t position_begin, int64_t position_end,
                   float* phases) const;
  template <typename Op>
  void run_flat_task(int64_t task, const float* x, const PackedConvWeights& packed, const float* z,
                     Op activation, float* y, std::byte* scratch) const;
  void copy_padded_rows(const float* image, int64_t row_begin, int64_t row_end,
                        float* padded) const;
  void run_window_rows(const float* x, const PackedConvWeights& packed, const float* z,
                       const Activation& activation, float* y, int64_t row_begin, int64_t row_end,
                       std::byte* scratch) const;

  DirectConvPath path_;
  WindowGeometry g_;
  int64_t batch_;
  int64_t channels_;
  int64_t filters_;
  int64_t task_count_ = 0;
  // Flat path.
  FlatLayout flat_;
  int64_t vectors_per_task_ = 0;
  int64_t images_per_task_ = 0;  // whose phases a task copies, at most
  // Window path: the padded copy of the input rows a task reads.
  int64_t rows_per_task_ = 0;
  int64_t padded_width_ = 0;
  int64_t padded_rows_ = 0;
  int tile_positions_ = 1;  // P
  int tile_blocks_ = 1;     // filter blocks of 16 per tile, at most
};

}  // namespace QSIM_ISA_NS
}  // namespace qsim
