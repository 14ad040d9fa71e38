// Lowering of sliding windows to GEMM operands. A column matrix has one row per (channel,
// kernel tap) pair, in (c, kd, kh, kw) order, and one column per output position.
#pragma once

#include <cstddef>
#include <cstdint>

#include "runtime/ops/conv_params.h"

namespace qsim {

// Scratch bytes im2col needs besides the column matrix. Windows with unit strides that keep
// a wide row read the image in place and need none; the others read a zero-padded copy of
// each plane through a table of where every (tap, output position) reads.
size_t im2col_scratch_bytes(const WindowGeometry& g);

// Once per thread before its im2col calls: the zero padding and the read table.
void prepare_im2col_scratch(const WindowGeometry& g, std::byte* scratch);

// Writes the columns of output rows [row_begin, row_end) (rows as in WindowGeometry) of a
// `channels` x g.in_size() image into `col`: (channels * g.kernel_size()) rows, `col_stride`
// apart, of (row_end - row_begin) * g.out[2] columns. Taps in the padding read zero.
void im2col(const WindowGeometry& g, const float* image, int64_t channels, int64_t row_begin,
            int64_t row_end, float* col, int64_t col_stride, std::byte* scratch);

// The adjoint of im2col over all output rows: adds every entry of `col`
// ((channels * g.kernel_size()) x g.out_size()) onto the image element its tap reads;
// entries of taps in the padding are dropped.
void col2im_add(const WindowGeometry& g, const float* col, int64_t channels, float* image);

}  // namespace qsim
