#include "runtime/ops/im2col.h"

#include <algorithm>
#include <cstring>

namespace qsim {
namespace {

// Narrower rows go through the read table: per-row copies would cost more than the data.
constexpr int64_t kMinInPlaceWidth = 12;

// Unit strides that keep a wide row (the usual "same" padded convolution): consecutive
// output rows of a tap read consecutive input, so the image is lowered in place.
bool reads_in_place(const WindowGeometry& g) {
  return g.stride[1] == 1 && g.stride[2] == 1 && g.out[2] == g.in[2] &&
         g.out[2] >= kMinInPlaceWidth;
}

// Extents of the zero-padded plane copy.
SpatialDims padded_extent(const WindowGeometry& g) {
  SpatialDims extent;
  for (int d = 0; d < kMaxSpatialRank; ++d) extent[d] = g.in[d] + g.pad_begin[d] + g.pad_end[d];
  return extent;
}

// ----- In place -----

// One column-matrix row (a channel and kernel tap): where its taps read.
struct TapRow {
  const float* plane;  // the channel's input plane
  int64_t offset_d, offset_h, offset_w;
  IndexRange inside_h;  // output h positions whose input row is inside
  IndexRange inside_w;  // output w positions whose input column is inside
};

// Strided stores, which (unlike a short fill) do not become a memset call.
void zero_column(float* dst, int64_t rows, int64_t stride) {
  for (int64_t r = 0; r < rows; ++r) dst[r * stride] = 0.0f;
}

// Output rows [oh_begin, oh_end) of depth slab `slab`, all reading inside rows: one copy moves
// them all, then the entries that wrapped into a neighbouring input row (taps in the w
// padding) are zeroed, a column at a time.
void copy_rows_in_place(const WindowGeometry& g, const TapRow& t, const float* slab,
                        int64_t oh_begin, int64_t oh_end, float* dst) {
  const int64_t width = g.out[2];
  const int64_t rows = oh_end - oh_begin;
  const int64_t first = (oh_begin + t.offset_h) * width + t.offset_w;
  const int64_t copy_begin = std::max<int64_t>(first, 0);
  const int64_t copy_end = std::max(copy_begin, std::min(first + rows * width, g.in[1] * width));
  std::memcpy(dst + (copy_begin - first), slab + copy_begin,
              static_cast<size_t>(copy_end - copy_begin) * sizeof(float));
  for (int64_t col = 0; col < t.inside_w.begin; ++col) zero_column(dst + col, rows, width);
  for (int64_t col = t.inside_w.end; col < width; ++col) zero_column(dst + col, rows, width);
}

// Output rows [row_begin, row_end) of one column-matrix row, slab by slab of equal d.
void lower_in_place(const WindowGeometry& g, const TapRow& t, int64_t row_begin, int64_t row_end,
                    float* dst) {
  const int64_t width = g.out[2];
  for (int64_t r = row_begin; r < row_end;) {
    const int64_t od = r / g.out[1];
    const int64_t oh_begin = r % g.out[1];
    const int64_t oh_end = std::min(g.out[1], oh_begin + (row_end - r));
    const int64_t id = od * g.stride[0] + t.offset_d;
    float* slab_dst = dst + (r - row_begin) * width;
    r += oh_end - oh_begin;
    if (id < 0 || id >= g.in[0] || t.inside_w.size() == 0) {
      std::fill(slab_dst, slab_dst + (oh_end - oh_begin) * width, 0.0f);
      continue;
    }
    // Rows reading the h padding are zero; the others read the slab of input depth id.
    const int64_t inside_begin = std::clamp(t.inside_h.begin, oh_begin, oh_end);
    const int64_t inside_end = std::clamp(t.inside_h.end, inside_begin, oh_end);
    std::fill(slab_dst, slab_dst + (inside_begin - oh_begin) * width, 0.0f);
    std::fill(slab_dst + (inside_end - oh_begin) * width, slab_dst + (oh_end - oh_begin) * width,
              0.0f);
    copy_rows_in_place(g, t, t.plane + id * g.in[1] * g.in[2], inside_begin, inside_end,
                       slab_dst + (inside_begin - oh_begin) * width);
  }
}

void im2col_in_place(const WindowGeometry& g, const float* image, int64_t channels,
                     int64_t row_begin, int64_t row_end, float* col, int64_t col_stride) {
  for (int64_t c = 0; c < channels; ++c) {
    TapRow t;
    t.plane = image + c * g.in_size();
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      t.offset_d = g.input_index(0, 0, kd);
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
        t.offset_h = g.input_index(1, 0, kh);
        t.inside_h = inside_range(g.out[1], g.stride[1], t.offset_h, g.in[1]);
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw, col += col_stride) {
          t.offset_w = g.input_index(2, 0, kw);
          t.inside_w = inside_range(g.out[2], g.stride[2], t.offset_w, g.in[2]);
          lower_in_place(g, t, row_begin, row_end, col);
        }
      }
    }
  }
}

// ----- Through a zero-padded copy of each plane and a read table -----

int64_t padded_size(const WindowGeometry& g) {
  const SpatialDims e = padded_extent(g);
  return e[0] * e[1] * e[2];
}

// Scratch: the padded plane (floats), then the table (int32, kernel_size x out_size).
size_t table_offset(const WindowGeometry& g) {
  return round_to_line(padded_size(g) * sizeof(float));
}

// Copies a channel plane into the inside of the padded copy (whose padding stays zero).
void copy_into_padded(const WindowGeometry& g, const float* plane, float* padded) {
  const SpatialDims e = padded_extent(g);
  for (int64_t id = 0; id < g.in[0]; ++id)
    for (int64_t ih = 0; ih < g.in[1]; ++ih)
      copy_strided(
          padded + ((id + g.pad_begin[0]) * e[1] + ih + g.pad_begin[1]) * e[2] + g.pad_begin[2],
          plane + (id * g.in[1] + ih) * g.in[2], g.in[2], 1);
}

// table[tap * out_size + position] = where that tap of that output position reads in the
// padded plane; every read is inside it.
void write_read_table(const WindowGeometry& g, int32_t* table) {
  const SpatialDims e = padded_extent(g);
  for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
    for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
      for (int64_t kw = 0; kw < g.kernel[2]; ++kw)
        for (int64_t od = 0; od < g.out[0]; ++od)
          for (int64_t oh = 0; oh < g.out[1]; ++oh)
            for (int64_t ow = 0; ow < g.out[2]; ++ow) {
              const int64_t pd = od * g.stride[0] + kd * g.dilation[0];
              const int64_t ph = oh * g.stride[1] + kh * g.dilation[1];
              const int64_t pw = ow * g.stride[2] + kw * g.dilation[2];
              *table++ = static_cast<int32_t>((pd * e[1] + ph) * e[2] + pw);
            }
}

void im2col_through_table(const WindowGeometry& g, const float* image, int64_t channels,
                          int64_t row_begin, int64_t row_end, float* col, int64_t col_stride,
                          std::byte* scratch) {
  float* padded = reinterpret_cast<float*>(scratch);
  const int32_t* table = reinterpret_cast<const int32_t*>(scratch + table_offset(g));
  const int64_t first = row_begin * g.out[2];
  const int64_t count = (row_end - row_begin) * g.out[2];
  for (int64_t c = 0; c < channels; ++c) {
    copy_into_padded(g, image + c * g.in_size(), padded);
    for (int64_t tap = 0; tap < g.kernel_size(); ++tap, col += col_stride) {
      const int32_t* reads = table + tap * g.out_size() + first;
      for (int64_t i = 0; i < count; ++i) col[i] = padded[reads[i]];
    }
  }
}

}  // namespace

size_t im2col_scratch_bytes(const WindowGeometry& g) {
  if (reads_in_place(g)) return 0;
  return table_offset(g) + g.kernel_size() * g.out_size() * sizeof(int32_t);
}

void prepare_im2col_scratch(const WindowGeometry& g, std::byte* scratch) {
  if (reads_in_place(g)) return;
  float* padded = reinterpret_cast<float*>(scratch);
  std::fill(padded, padded + padded_size(g), 0.0f);
  write_read_table(g, reinterpret_cast<int32_t*>(scratch + table_offset(g)));
}

void im2col(const WindowGeometry& g, const float* image, int64_t channels, int64_t row_begin,
            int64_t row_end, float* col, int64_t col_stride, std::byte* scratch) {
  if (reads_in_place(g)) {
    im2col_in_place(g, image, channels, row_begin, row_end, col, col_stride);
  } else {
    im2col_through_table(g, image, channels, row_begin, row_end, col, col_stride, scratch);
  }
}

void col2im_add(const WindowGeometry& g, const float* col, int64_t channels, float* image) {
  const int64_t taps = g.kernel_size();
  const int64_t out_size = g.out_size();
  const int64_t stride = g.stride[2];
  for (int64_t c = 0; c < channels; ++c) {
    const float* channel_col = col + c * taps * out_size;
    float* plane = image + c * g.in_size();
    for_each_tap_row(
        g, [&](int64_t out_row, int64_t input_row, int64_t tap, IndexRange inside, int64_t offset) {
          const float* segment = channel_col + tap * out_size + out_row * g.out[2];
          float* dst = plane + input_row * g.in[2];
          for (int64_t ow = inside.begin; ow < inside.end; ++ow)
            dst[ow * stride + offset] += segment[ow];
        });
  }
}

}  // namespace qsim
