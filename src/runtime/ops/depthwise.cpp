#include "runtime/ops/depthwise.h"

namespace qsim {
namespace {

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

size_t round_to_line(size_t bytes) {
  return (bytes + kTensorAlignment - 1) / kTensorAlignment * kTensorAlignment;
}

// How far tap k of dimension d reads into the padded plane, in padded elements.
int64_t tap_reach(const WindowGeometry& g, int d, int64_t k) { return k * g.dilation[d]; }

// Offset of the first read of tap (kd, kh, kw) within its phase, and the phase's index.
int64_t offset_in_phase(const WindowGeometry& g, const SpatialDims& pitch, int64_t kd,
                        int64_t kh, int64_t kw, int64_t* phase) {
  const SpatialDims& s = g.stride;
  const int64_t rd = tap_reach(g, 0, kd), rh = tap_reach(g, 1, kh), rw = tap_reach(g, 2, kw);
  *phase = ((rd % s[0]) * s[1] + rh % s[1]) * s[2] + rw % s[2];
  return ((rd / s[0]) * pitch[1] + rh / s[1]) * pitch[2] + rw / s[2];
}

}  // namespace

size_t PlaneLayout::positions_offset() const { return round_to_line(taps * sizeof(int64_t)); }

size_t PlaneLayout::phases_offset() const {
  return positions_offset() + round_to_line(inputs * sizeof(int32_t));
}

size_t PlaneLayout::grid_offset() const {
  return phases_offset() + round_to_line((phase_count * phase_size + 1) * element_size);
}

PlaneLayout plane_layout(const WindowGeometry& g, size_t element_size) {
  PlaneLayout layout;
  layout.element_size = element_size;
  layout.taps = g.kernel_size();
  layout.inputs = g.in_size();
  layout.phase_count = 1;
  for (int d = 0; d < kMaxSpatialRank; ++d) {
    const int64_t padded = (g.out[d] - 1) * g.stride[d] + tap_reach(g, d, g.kernel[d] - 1) + 1;
    layout.pitch[d] = ceil_div(padded, g.stride[d]);
    layout.phase_count *= g.stride[d];
  }
  const SpatialDims& p = layout.pitch;
  const int64_t grid = ((g.out[0] - 1) * p[1] + g.out[1]) * p[2];
  layout.grid_size = ceil_div(grid, kGridBlock) * kGridBlock;
  int64_t phase = 0;
  const int64_t last_tap =
      offset_in_phase(g, p, g.kernel[0] - 1, g.kernel[1] - 1, g.kernel[2] - 1, &phase);
  layout.phase_size = std::max(p[0] * p[1] * p[2], last_tap + layout.grid_size);
  return layout;
}

void write_plane_tables(const WindowGeometry& g, const PlaneLayout& layout, std::byte* scratch) {
  int64_t* offsets = reinterpret_cast<int64_t*>(scratch);
  for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
    for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
      for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
        int64_t phase = 0;
        const int64_t offset = offset_in_phase(g, layout.pitch, kd, kh, kw, &phase);
        *offsets++ = phase * layout.phase_size + offset;
      }
  if (g.in[2] >= kMinCopiedRowWidth) return;  // split row by row, without the table
  // Input elements past the phases' extent are read by no tap: they go to the spare element.
  const SpatialDims& s = g.stride;
  const SpatialDims& p = layout.pitch;
  const int64_t spare = layout.phase_count * layout.phase_size;
  int32_t* positions = reinterpret_cast<int32_t*>(scratch + layout.positions_offset());
  for (int64_t id = 0; id < g.in[0]; ++id)
    for (int64_t ih = 0; ih < g.in[1]; ++ih)
      for (int64_t iw = 0; iw < g.in[2]; ++iw) {
        const int64_t d = id + g.pad_begin[0], h = ih + g.pad_begin[1], w = iw + g.pad_begin[2];
        const bool read = d / s[0] < p[0] && h / s[1] < p[1] && w / s[2] < p[2];
        const int64_t phase = ((d % s[0]) * s[1] + h % s[1]) * s[2] + w % s[2];
        const int64_t offset = ((d / s[0]) * p[1] + h / s[1]) * p[2] + w / s[2];
        *positions++ = static_cast<int32_t>(read ? phase * layout.phase_size + offset : spare);
      }
}

void depthwise_conv_plane(const WindowGeometry& g, const PlaneLayout& layout,
                          const float* in_plane, const float* weights, float bias,
                          std::byte* scratch, float* out_plane) {
  const int64_t width = g.out[2];
  window_plane(
      g, layout, in_plane, bias,
      [weights](int64_t tap) {
        const float weight = weights[tap];
        return [weight](auto acc, auto x) { return acc + weight * x; };
      },
      [&](int64_t row, const float* grid_row) {
        copy_strided(out_plane + row * width, grid_row, width, 1);
      },
      scratch);
}

}  // namespace qsim
