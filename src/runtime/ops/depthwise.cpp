#include "runtime/ops/depthwise.h"

namespace qsim {
namespace {

// The padded element tap (kd, kh, kw) of the first output position reads.
SpatialDims tap_reach(const WindowGeometry& g, int64_t kd, int64_t kh, int64_t kw) {
  return {kd * g.dilation[0], kh * g.dilation[1], kw * g.dilation[2]};
}

// Where padded element `e` lives: its phase, and its offset within the phase (returned).
int64_t offset_in_phase(const WindowGeometry& g, const SpatialDims& pitch, const SpatialDims& e,
                        int64_t* phase) {
  const SpatialDims& s = g.stride;
  *phase = ((e[0] % s[0]) * s[1] + e[1] % s[1]) * s[2] + e[2] % s[2];
  return ((e[0] / s[0]) * pitch[1] + e[1] / s[1]) * pitch[2] + e[2] / s[2];
}

}  // namespace

size_t PlaneLayout::positions_offset() const {
  return round_to_line(taps * sizeof(int64_t));
}

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
    const int64_t padded = (g.out[d] - 1) * g.stride[d] + (g.kernel[d] - 1) * g.dilation[d] + 1;
    layout.pitch[d] = ceil_div(padded, g.stride[d]);
    layout.phase_count *= g.stride[d];
  }
  const SpatialDims& p = layout.pitch;
  const int64_t grid = ((g.out[0] - 1) * p[1] + g.out[1]) * p[2];
  layout.grid_size = ceil_div(grid, kGridBlock) * kGridBlock;
  int64_t phase = 0;
  const int64_t last_tap = offset_in_phase(
      g, p, tap_reach(g, g.kernel[0] - 1, g.kernel[1] - 1, g.kernel[2] - 1), &phase);
  layout.phase_size = std::max(p[0] * p[1] * p[2], last_tap + layout.grid_size);
  return layout;
}

int64_t plane_task_ops(const WindowGeometry& g, const PlaneLayout& layout) {
  // Moving an element in or out of the phases costs about as much as this many of the
  // vectorized tap operations.
  constexpr int64_t kElementMoveCost = 16;
  return layout.taps * layout.grid_size + kElementMoveCost * (g.in_size() + g.out_size());
}

void write_plane_tables(const WindowGeometry& g, const PlaneLayout& layout, std::byte* scratch) {
  int64_t* offsets = reinterpret_cast<int64_t*>(scratch);
  for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
    for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
      for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
        int64_t phase = 0;
        const int64_t offset = offset_in_phase(g, layout.pitch, tap_reach(g, kd, kh, kw), &phase);
        *offsets++ = phase * layout.phase_size + offset;
      }
  if (g.in[2] >= kMinCopiedRowWidth) return;  // split row by row, without the table
  // Input elements past the phases' extent are read by no tap: they go to the spare element.
  const int64_t spare = layout.phase_count * layout.phase_size;
  int32_t* positions = reinterpret_cast<int32_t*>(scratch + layout.positions_offset());
  for (int64_t id = 0; id < g.in[0]; ++id)
    for (int64_t ih = 0; ih < g.in[1]; ++ih)
      for (int64_t iw = 0; iw < g.in[2]; ++iw) {
        const SpatialDims e = {id + g.pad_begin[0], ih + g.pad_begin[1], iw + g.pad_begin[2]};
        bool read = true;
        for (int d = 0; d < kMaxSpatialRank; ++d)
          read = read && e[d] / g.stride[d] < layout.pitch[d];
        int64_t phase = 0;
        const int64_t offset = offset_in_phase(g, layout.pitch, e, &phase);
        *positions++ = static_cast<int32_t>(read ? phase * layout.phase_size + offset : spare);
      }
}

void depthwise_conv_plane(const WindowGeometry& g, const PlaneLayout& layout, const float* in_plane,
                          const float* weights, float bias, std::byte* scratch, float* out_plane) {
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
