// Element-wise data ops: Cast, Identity, Pad and Resize.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <optional>
#include <type_traits>
#include <utility>

#include "runtime/ops/broadcast.h"
#include "runtime/ops/copy_util.h"
#include "runtime/registry.h"

namespace qsim {
namespace {

using copy_util::AxisOffsets;
using copy_util::factory;
using copy_util::kFill;
using copy_util::kMinParallelElements;
using copy_util::normalize_unique_axes;

using AllTypes = TypeList<float, uint8_t, int8_t, uint16_t, int16_t, int32_t, int64_t, bool>;

// One element converted as ONNX Cast does: integers wrap modulo 2^bits (two's complement),
// anything nonzero (NaN included) is true. ONNX leaves float -> integer out of range undefined
// (and so does C++), so qsim truncates toward zero and saturates to the target's range, NaN -> 0.
template <typename To, typename From>
To convert(From value) {
  if constexpr (std::is_same_v<To, bool>) {
    return value != From{0};
  } else if constexpr (std::is_floating_point_v<From> && std::is_integral_v<To>) {
    if (std::isnan(value)) return 0;
    const double truncated = std::trunc(static_cast<double>(value));
    if (truncated <= static_cast<double>(std::numeric_limits<To>::min()))
      return std::numeric_limits<To>::min();
    if (truncated >= static_cast<double>(std::numeric_limits<To>::max()))
      return std::numeric_limits<To>::max();
    return static_cast<To>(truncated);
  } else {
    return static_cast<To>(value);
  }
}

// `value` as one element of `dtype`, in an 8-byte buffer (fill values for copy_util gathers).
uint64_t float_as_element(float value, DType dtype) {
  uint64_t element = 0;
  visit_dtype(AllTypes{}, dtype, [&](auto tag) {
    using T = typename decltype(tag)::type;
    const T converted = convert<T>(value);
    std::memcpy(&element, &converted, sizeof(T));
  });
  return element;
}

// Parses a string attribute that selects one of `choices`; anything else is kUnsupported.
template <typename E>
E parse_choice(const Node& node, const std::string& attr, const std::string& fallback,
               std::initializer_list<std::pair<const char*, E>> choices) {
  const std::string value = node.get_string(attr, fallback);
  for (const auto& [name, choice] : choices)
    if (value == name) return choice;
  fail_node(node, ErrorCode::kUnsupported,
            "attribute '" + attr + "' value '" + value + "' is not supported");
}

// ---------------------------------------------------------------------------------------------
// Cast and Identity

class CastKernel : public Kernel {
 public:
  CastKernel(const Node& node, int64_t) {
    check_known_attributes(node, {"to"});
    require_node(node.has("to"), node, ErrorCode::kInvalidArgument, "attribute 'to' is missing");
    const int64_t to = node.get_int("to", 0);
    to_ = dtype_from_onnx(static_cast<int32_t>(to));
    if (to_ == DType::kUndefined)
      fail_node(node, ErrorCode::kUnsupported,
                std::string("cast to ") + onnx_type_name(static_cast<int32_t>(to)) +
                    " is not supported (qsim has float32, uint8, int8, uint16, int16, int32, int64 "
                    "and bool)");
  }
  void infer(InferContext& ctx) override { ctx.set_output(0, to_, ctx.input(0).shape); }
  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    if (in.dtype() == to_) {
      copy_util::copy_bytes(in, out);
      return;
    }
    visit_dtype(AllTypes{}, in.dtype(), [&](auto from_tag) {
      visit_dtype(AllTypes{}, to_, [&](auto to_tag) {
        using From = typename decltype(from_tag)::type;
        using To = typename decltype(to_tag)::type;
        const From* src = static_cast<const From*>(in.raw());
        To* dst = static_cast<To*>(out.raw());
        ctx.pool().parallel_for(
            in.size(),
            [&](int64_t begin, int64_t end) {
              for (int64_t i = begin; i < end; ++i) dst[i] = convert<To>(src[i]);
            },
            kMinParallelElements);
      });
    });
  }

 private:
  DType to_;
};

class IdentityKernel : public Kernel {
 public:
  IdentityKernel(const Node& node, int64_t) { check_known_attributes(node, {}); }
  void infer(InferContext& ctx) override {
    ctx.set_output(0, ctx.input(0).dtype, ctx.input(0).shape);
  }
  void run(RunContext& ctx) override { copy_util::copy_bytes(ctx.input(0), ctx.output(0)); }
};

// ---------------------------------------------------------------------------------------------
// Pad

enum class PadMode { kConstant, kReflect, kEdge };

// Pads before and after each axis; negative amounts crop.
struct PadAmounts {
  std::vector<int64_t> begin, end;
};

// Source index for position `i` of an axis padded around `length` source elements; kFill
// for constant padding.
int64_t padded_source_index(int64_t i, int64_t length, PadMode mode) {
  if (i >= 0 && i < length) return i;
  switch (mode) {
    case PadMode::kConstant:
      return kFill;
    case PadMode::kEdge:
      return i < 0 ? 0 : length - 1;
    case PadMode::kReflect: {
      if (length == 1) return 0;
      const int64_t period = 2 * (length - 1);
      const int64_t folded = (i % period + period) % period;
      return folded < length ? folded : period - folded;
    }
  }
  return kFill;
}

class PadKernel : public Kernel {
 public:
  PadKernel(const Node& node, int64_t opset)
      : opset_(opset),
        mode_(parse_choice<PadMode>(node, "mode", "constant",
                                    {{"constant", PadMode::kConstant},
                                     {"reflect", PadMode::kReflect},
                                     {"edge", PadMode::kEdge}})),
        value_attribute_(node.get_float("value", 0.0f)) {
    if (opset >= 11) {
      check_known_attributes(node, {"mode"});
    } else {
      check_known_attributes(node, {"mode", "pads", "value"});
      require_node(node.has("pads"), node, ErrorCode::kInvalidArgument,
                   "attribute 'pads' is missing");
    }
  }
  void infer(InferContext& ctx) override {
    const ValueType& data = ctx.input(0);
    std::optional<std::vector<int64_t>> pads, axes;
    if (opset_ >= 11) {
      ctx.expect_dtype(1, DType::kInt64);
      pads = ctx.constant_input(1, "Pad's pads").to_int64_vector();
      if (ctx.has_input(2)) {
        ctx.expect_dtype(2, data.dtype);
        require_node(element_count(ctx.input(2).shape) <= 1, ctx.node(), ErrorCode::kShape,
                     "constant_value must be a scalar");
      }
      if (opset_ >= 18 && ctx.has_input(3))
        axes = ctx.constant_input(3, "Pad's axes").to_int64_vector();
    }
    PadAmounts amounts = pad_amounts(ctx.node(), data.shape, pads, axes);
    Shape out = data.shape;
    for (size_t d = 0; d < out.size(); ++d) {
      out[d] += amounts.begin[d] + amounts.end[d];
      require_node(out[d] >= 0, ctx.node(), ErrorCode::kShape,
                   "pads crop axis " + std::to_string(d) + " of " + shape_to_string(data.shape) +
                       " below zero");
      require_node(mode_ == PadMode::kConstant || out[d] == 0 ||
                       kept_range(data.shape[d], amounts, d).second > 0,
                   ctx.node(), ErrorCode::kInvalidArgument,
                   "edge and reflect padding need input left on axis " + std::to_string(d));
    }
    ctx.set_output(0, data.dtype, out);
  }
  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    if (out.size() == 0) return;
    std::optional<std::vector<int64_t>> pads, axes;
    if (opset_ >= 11) pads = ctx.input(1).to_int64_vector();
    if (opset_ >= 18 && ctx.has_input(3)) axes = ctx.input(3).to_int64_vector();
    PadAmounts amounts = pad_amounts(ctx.node(), in.shape(), pads, axes);
    const std::vector<int64_t> strides = contiguous_strides(in.shape());
    AxisOffsets offsets(in.shape().size());
    for (size_t d = 0; d < offsets.size(); ++d) {
      const auto [first, length] = kept_range(in.dim(d), amounts, d);
      for (int64_t i = 0; i < out.dim(d); ++i) {
        // Output i is input i - begin; positions off the kept range are padding.
        const int64_t source = padded_source_index(i - amounts.begin[d] - first, length, mode_);
        offsets[d].push_back(source == kFill ? kFill : (first + source) * strides[d]);
      }
    }
    const uint64_t fill = fill_element(ctx);
    copy_util::gather_by_axis_offsets(in.raw(), out.raw(), offsets, dtype_size(in.dtype()), &fill,
                                      ctx.pool());
  }

 private:
  PadAmounts pad_amounts(const Node& node, const Shape& shape,
                         const std::optional<std::vector<int64_t>>& pads_input,
                         std::optional<std::vector<int64_t>> axes) const {
    const std::vector<int64_t> pads = pads_input ? *pads_input : node.get_ints("pads");
    const int64_t rank = static_cast<int64_t>(shape.size());
    if (!axes) {
      axes.emplace(rank);
      std::iota(axes->begin(), axes->end(), 0);
    }
    require_node(pads.size() == 2 * axes->size(), node, ErrorCode::kInvalidArgument,
                 "pads " + shape_to_string(pads) + " must hold two values per padded axis");
    PadAmounts amounts{std::vector<int64_t>(rank, 0), std::vector<int64_t>(rank, 0)};
    const std::vector<int64_t> normalized = normalize_unique_axes(node, *axes, rank);
    for (size_t i = 0; i < normalized.size(); ++i) {
      amounts.begin[normalized[i]] = pads[i];
      amounts.end[normalized[i]] = pads[i + normalized.size()];
    }
    return amounts;
  }

  // First index and length of the input left on axis d after negative pads crop it (edge and
  // reflect pad relative to this range); the length is negative when the crops overlap.
  static std::pair<int64_t, int64_t> kept_range(int64_t extent, const PadAmounts& amounts,
                                                size_t d) {
    const int64_t first = std::max<int64_t>(0, -amounts.begin[d]);
    return {first, extent - first - std::max<int64_t>(0, -amounts.end[d])};
  }

  uint64_t fill_element(const RunContext& ctx) const {
    const Tensor& in = ctx.input(0);
    if (opset_ < 11) return float_as_element(value_attribute_, in.dtype());
    uint64_t element = 0;
    if (ctx.has_input(2) && ctx.input(2).size() > 0)
      std::memcpy(&element, ctx.input(2).raw(), dtype_size(in.dtype()));
    return element;
  }

  int64_t opset_;
  PadMode mode_;
  float value_attribute_;  // opsets before 11
};

// ---------------------------------------------------------------------------------------------
// Resize

enum class ResizeMode { kNearest, kLinear, kCubic };
enum class CoordinateTransform {
  kHalfPixel,
  kPytorchHalfPixel,
  kAlignCorners,
  kAsymmetric,
  kTfHalfPixelForNn,
  kTfCropAndResize
};
enum class NearestRounding { kRoundPreferFloor, kRoundPreferCeil, kFloor, kCeil };
enum class AspectRatioPolicy { kStretch, kNotLarger, kNotSmaller };

// Output extents and the scale of every axis (1 for axes not resized).
struct ResizeGeometry {
  Shape out;
  std::vector<double> scale;
};

// How each output index of one axis reads the input: `count` (index, weight) taps per output
// index, indices clamped into the input; `outside` marks tf_crop_and_resize positions outside
// the input, which take the extrapolation value.
struct AxisTaps {
  int count = 1;
  std::vector<int64_t> index;
  std::vector<float> weight;
  std::vector<bool> outside;
};

// Interpolation weights of the 4 taps around a point `ratio` in (0, 1] past the second one.
std::array<double, 4> cubic_coefficients(double ratio, double a) {
  const double r1 = ratio + 1, r2 = 1 - ratio, r3 = 2 - ratio;
  return {((a * r1 - 5 * a) * r1 + 8 * a) * r1 - 4 * a,
          ((a + 2) * ratio - (a + 3)) * ratio * ratio + 1, ((a + 2) * r2 - (a + 3)) * r2 * r2 + 1,
          ((a * r3 - 5 * a) * r3 + 8 * a) * r3 - 4 * a};
}

// Keeps one tap per output index when no index has two nonzero weights (nearest-like or
// identity axes), so those cost nothing and never mix in neighbours.
void drop_zero_taps(AxisTaps& taps) {
  if (taps.count == 1) return;
  const size_t outputs = taps.outside.size();
  std::vector<int64_t> index(outputs);
  std::vector<float> weight(outputs);
  for (size_t o = 0; o < outputs; ++o) {
    int nonzero = 0;
    for (int k = 0; k < taps.count; ++k) {
      const size_t t = o * taps.count + k;
      if (taps.weight[t] == 0.0f) continue;
      if (++nonzero > 1) return;
      index[o] = taps.index[t];
      weight[o] = taps.weight[t];
    }
  }
  taps = {1, std::move(index), std::move(weight), std::move(taps.outside)};
}

class ResizeKernel : public Kernel {
 public:
  ResizeKernel(const Node& node, int64_t opset) : opset_(opset) {
    if (opset < 11) {
      check_known_attributes(node, {"mode"});
      mode_ = parse_choice<ResizeMode>(
          node, "mode", "nearest",
          {{"nearest", ResizeMode::kNearest}, {"linear", ResizeMode::kLinear}});
      // Resize-10 samples like Upsample: asymmetric coordinates, nearest rounds down.
      transform_ = CoordinateTransform::kAsymmetric;
      rounding_ = NearestRounding::kFloor;
      return;
    }
    if (opset >= 18)
      check_known_attributes(node, {"antialias", "axes", "coordinate_transformation_mode",
                                    "cubic_coeff_a", "exclude_outside", "extrapolation_value",
                                    "keep_aspect_ratio_policy", "mode", "nearest_mode"});
    else
      check_known_attributes(node,
                             {"coordinate_transformation_mode", "cubic_coeff_a", "exclude_outside",
                              "extrapolation_value", "mode", "nearest_mode"});
    mode_ = parse_choice<ResizeMode>(node, "mode", "nearest",
                                     {{"nearest", ResizeMode::kNearest},
                                      {"linear", ResizeMode::kLinear},
                                      {"cubic", ResizeMode::kCubic}});
    transform_ = parse_choice<CoordinateTransform>(
        node, "coordinate_transformation_mode", "half_pixel",
        {{"half_pixel", CoordinateTransform::kHalfPixel},
         {"pytorch_half_pixel", CoordinateTransform::kPytorchHalfPixel},
         {"align_corners", CoordinateTransform::kAlignCorners},
         {"asymmetric", CoordinateTransform::kAsymmetric},
         {"tf_half_pixel_for_nn", CoordinateTransform::kTfHalfPixelForNn},
         {"tf_crop_and_resize", CoordinateTransform::kTfCropAndResize}});
    rounding_ =
        parse_choice<NearestRounding>(node, "nearest_mode", "round_prefer_floor",
                                      {{"round_prefer_floor", NearestRounding::kRoundPreferFloor},
                                       {"round_prefer_ceil", NearestRounding::kRoundPreferCeil},
                                       {"floor", NearestRounding::kFloor},
                                       {"ceil", NearestRounding::kCeil}});
    aspect_policy_ =
        parse_choice<AspectRatioPolicy>(node, "keep_aspect_ratio_policy", "stretch",
                                        {{"stretch", AspectRatioPolicy::kStretch},
                                         {"not_larger", AspectRatioPolicy::kNotLarger},
                                         {"not_smaller", AspectRatioPolicy::kNotSmaller}});
    cubic_a_ = node.get_float("cubic_coeff_a", -0.75f);
    exclude_outside_ = node.get_int("exclude_outside", 0) != 0;
    extrapolation_value_ = node.get_float("extrapolation_value", 0.0f);
    if (node.get_int("antialias", 0) != 0)
      fail_node(node, ErrorCode::kUnsupported, "attribute 'antialias' value 1 is not supported");
    if (node.has("axes")) axes_ = node.get_ints("axes");
  }

  void infer(InferContext& ctx) override {
    const Node& node = ctx.node();
    const ValueType& data = ctx.input(0);
    require_node(!data.shape.empty(), node, ErrorCode::kInvalidArgument,
                 "input must not be a scalar");
    require_node(
        mode_ == ResizeMode::kNearest || data.dtype == DType::kFloat32, node,
        ErrorCode::kUnsupported,
        std::string("linear and cubic modes support float32 only, got ") + dtype_name(data.dtype));
    const Tensor* scales = ctx.has_input(scales_input())
                               ? &ctx.constant_input(scales_input(), "Resize's scales")
                               : nullptr;
    const Tensor* sizes =
        opset_ >= 11 && ctx.has_input(3) ? &ctx.constant_input(3, "Resize's sizes") : nullptr;
    ResizeGeometry g = geometry(node, data.shape, scales, sizes);
    for (size_t d = 0; d < data.shape.size(); ++d)
      require_node(
          data.shape[d] > 0 || g.out[d] == 0, node, ErrorCode::kShape,
          "cannot resize empty axis " + std::to_string(d) + " of " + shape_to_string(data.shape));
    if (transform_ == CoordinateTransform::kTfCropAndResize) {
      require_node(ctx.has_input(1), node, ErrorCode::kInvalidArgument,
                   "tf_crop_and_resize needs roi");
      ctx.expect_dtype(1, DType::kFloat32);
    }
    ctx.set_output(0, data.dtype, g.out);
  }

  void run(RunContext& ctx) override {
    const Tensor& in = ctx.input(0);
    Tensor& out = ctx.output(0);
    if (out.size() == 0) return;
    const size_t si = scales_input();
    ResizeGeometry g =
        geometry(ctx.node(), in.shape(), ctx.has_input(si) ? &ctx.input(si) : nullptr,
                 opset_ >= 11 && ctx.has_input(3) ? &ctx.input(3) : nullptr);
    const std::vector<double> roi = region_of_interest(ctx, in.rank());
    std::vector<AxisTaps> taps;
    for (size_t d = 0; d < in.shape().size(); ++d)
      taps.push_back(axis_taps(in.dim(d), g.out[d], g.scale[d], roi.empty() ? nullptr : &roi, d));
    if (mode_ == ResizeMode::kNearest)
      gather_nearest(in, out, taps, ctx.pool());
    else
      interpolate(in, out, taps, ctx.pool());
  }

 private:
  size_t scales_input() const { return opset_ < 11 ? 1 : 2; }

  std::vector<int64_t> resized_axes(const Node& node, int64_t rank) const {
    if (axes_) return normalize_unique_axes(node, *axes_, rank);
    std::vector<int64_t> axes(rank);
    std::iota(axes.begin(), axes.end(), 0);
    return axes;
  }

  ResizeGeometry geometry(const Node& node, const Shape& in, const Tensor* scales,
                          const Tensor* sizes) const {
    const int64_t rank = static_cast<int64_t>(in.size());
    const std::vector<int64_t> axes = resized_axes(node, rank);
    const bool has_scales = scales != nullptr && scales->size() > 0;
    const bool has_sizes = sizes != nullptr && sizes->size() > 0;
    require_node(has_scales != has_sizes, node, ErrorCode::kInvalidArgument,
                 "exactly one of scales and sizes must be given");
    const Tensor& given = has_scales ? *scales : *sizes;
    require_node(given.size() == static_cast<int64_t>(axes.size()), node,
                 ErrorCode::kInvalidArgument,
                 (has_scales ? "scales " : "sizes ") + given.describe() +
                     " must have one value per axis (" + std::to_string(axes.size()) + ")");
    ResizeGeometry g{in, std::vector<double>(rank, 1.0)};
    if (has_scales) {
      require_node(given.dtype() == DType::kFloat32, node, ErrorCode::kInvalidArgument,
                   "scales must be float32");
      for (size_t i = 0; i < axes.size(); ++i) {
        const double scale = given.data<float>()[i];
        require_node(scale > 0, node, ErrorCode::kInvalidArgument, "scales must be positive");
        g.scale[axes[i]] = scale;
        g.out[axes[i]] = static_cast<int64_t>(std::floor(scale * static_cast<double>(in[axes[i]])));
      }
      return g;
    }
    require_node(given.dtype() == DType::kInt64, node, ErrorCode::kInvalidArgument,
                 "sizes must be int64");
    for (size_t i = 0; i < axes.size(); ++i) {
      const int64_t size = given.data<int64_t>()[i];
      require_node(size >= 0, node, ErrorCode::kInvalidArgument, "sizes must not be negative");
      g.out[axes[i]] = size;
      g.scale[axes[i]] = static_cast<double>(size) / static_cast<double>(in[axes[i]]);
    }
    if (aspect_policy_ == AspectRatioPolicy::kStretch) return g;
    double scale = g.scale[axes[0]];
    for (int64_t a : axes)
      scale = aspect_policy_ == AspectRatioPolicy::kNotLarger ? std::min(scale, g.scale[a])
                                                              : std::max(scale, g.scale[a]);
    for (int64_t a : axes) {
      g.scale[a] = scale;
      g.out[a] = static_cast<int64_t>(scale * static_cast<double>(in[a]) + 0.5);  // round half up
    }
    return g;
  }

  // tf_crop_and_resize's region as [starts for every axis..., ends for every axis...]; empty
  // for the other coordinate transforms.
  std::vector<double> region_of_interest(const RunContext& ctx, int64_t rank) const {
    if (transform_ != CoordinateTransform::kTfCropAndResize) return {};
    const std::vector<int64_t> axes = resized_axes(ctx.node(), rank);
    const Tensor& roi = ctx.input(1);
    const int64_t n = static_cast<int64_t>(axes.size());
    require_node(roi.size() == 2 * n, ctx.node(), ErrorCode::kInvalidArgument,
                 "roi " + roi.describe() + " must hold a start and an end per axis");
    std::vector<double> full(2 * rank);
    for (int64_t d = 0; d < rank; ++d) full[rank + d] = 1.0;
    for (int64_t i = 0; i < n; ++i) {
      full[axes[i]] = roi.data<float>()[i];
      full[rank + axes[i]] = roi.data<float>()[n + i];
    }
    return full;
  }

  // The input coordinate that output index x of an axis maps to.
  double source_coordinate(int64_t x, int64_t in, double scale, const std::vector<double>* roi,
                           size_t axis) const {
    const double out_width = scale * static_cast<double>(in);  // as the ONNX reference: not rounded
    switch (transform_) {
      case CoordinateTransform::kHalfPixel:
        return (x + 0.5) / scale - 0.5;
      case CoordinateTransform::kPytorchHalfPixel:
        return out_width == 1 ? -0.5 : (x + 0.5) / scale - 0.5;
      case CoordinateTransform::kAlignCorners:
        return out_width == 1 ? 0.0 : static_cast<double>(x) * (in - 1) / (out_width - 1);
      case CoordinateTransform::kAsymmetric:
        return x / scale;
      case CoordinateTransform::kTfHalfPixelForNn:
        return (x + 0.5) / scale;
      case CoordinateTransform::kTfCropAndResize: {
        const double start = (*roi)[axis], end = (*roi)[roi->size() / 2 + axis];
        const double offset = out_width == 1 ? (end - start) * (in - 1) / 2
                                             : x * (end - start) * (in - 1) / (out_width - 1);
        return offset + start * (in - 1);
      }
    }
    return 0.0;
  }

  int64_t nearest_index(double x) const {
    const double base = std::floor(x);
    const double ratio = x - base;
    if (ratio == 0.0) return static_cast<int64_t>(base);
    bool up = false;
    switch (rounding_) {
      case NearestRounding::kRoundPreferFloor:
        up = ratio > 0.5;
        break;
      case NearestRounding::kRoundPreferCeil:
        up = ratio >= 0.5;
        break;
      case NearestRounding::kFloor:
        up = false;
        break;
      case NearestRounding::kCeil:
        up = true;
        break;
    }
    return static_cast<int64_t>(base) + (up ? 1 : 0);
  }

  AxisTaps axis_taps(int64_t in, int64_t out, double scale, const std::vector<double>* roi,
                     size_t axis) const {
    AxisTaps taps;
    taps.count = mode_ == ResizeMode::kNearest ? 1 : mode_ == ResizeMode::kLinear ? 2 : 4;
    auto clamp = [in](int64_t i) { return std::clamp<int64_t>(i, 0, in - 1); };
    for (int64_t x = 0; x < out; ++x) {
      const double source = source_coordinate(x, in, scale, roi, axis);
      taps.outside.push_back(transform_ == CoordinateTransform::kTfCropAndResize &&
                             (source < 0 || source > static_cast<double>(in - 1)));
      if (mode_ == ResizeMode::kNearest) {
        taps.index.push_back(clamp(nearest_index(source)));
        taps.weight.push_back(1.0f);
        continue;
      }
      // Taps sit around `base`, the neighbour at or below `source`, with `ratio` in (0, 1] so
      // that an exact hit is the upper neighbour (the ONNX reference's convention).
      int64_t base = static_cast<int64_t>(std::floor(source));
      double ratio = source - static_cast<double>(base);
      if (ratio == 0.0) {
        base -= 1;
        ratio = 1.0;
      }
      std::array<double, 4> coefficients{1 - ratio, ratio, 0, 0};
      int64_t first = base;
      if (mode_ == ResizeMode::kCubic) {
        coefficients = cubic_coefficients(ratio, cubic_a_);
        first = base - 1;
      }
      if (exclude_outside_) {
        double sum = 0;
        for (int k = 0; k < taps.count; ++k) {
          if (first + k < 0 || first + k >= in) coefficients[k] = 0;
          sum += coefficients[k];
        }
        for (int k = 0; k < taps.count && sum != 0; ++k) coefficients[k] /= sum;
      }
      for (int k = 0; k < taps.count; ++k) {
        taps.index.push_back(clamp(first + k));
        taps.weight.push_back(static_cast<float>(coefficients[k]));
      }
    }
    drop_zero_taps(taps);
    return taps;
  }

  void gather_nearest(const Tensor& in, Tensor& out, const std::vector<AxisTaps>& taps,
                      ThreadPool& pool) const {
    const std::vector<int64_t> strides = contiguous_strides(in.shape());
    AxisOffsets offsets(taps.size());
    for (size_t d = 0; d < taps.size(); ++d)
      for (size_t x = 0; x < taps[d].index.size(); ++x)
        offsets[d].push_back(taps[d].outside[x] ? kFill : taps[d].index[x] * strides[d]);
    const uint64_t fill = float_as_element(extrapolation_value_, in.dtype());
    copy_util::gather_by_axis_offsets(in.raw(), out.raw(), offsets, dtype_size(in.dtype()), &fill,
                                      pool);
  }

  // Linear and cubic: each output element is the weighted sum over the product of its taps on
  // every axis. Per output row, the outer axes' taps blend input rows into one row, which the
  // last axis's taps then sample.
  void interpolate(const Tensor& in, Tensor& out, const std::vector<AxisTaps>& taps,
                   ThreadPool& pool) const {
    const size_t rank = taps.size();
    const std::vector<int64_t> strides = contiguous_strides(in.shape());
    const AxisTaps& last = taps.back();
    const int64_t in_row_length = in.dim(static_cast<int64_t>(rank) - 1);
    const int64_t row_length = out.dim(static_cast<int64_t>(rank) - 1);
    const int64_t rows = out.size() / row_length;
    const float* src = in.data<float>();
    float* dst = out.data<float>();
    const float extrapolation = extrapolation_value_;
    pool.parallel_for(
        rows,
        [&](int64_t begin, int64_t end) {
          std::vector<int64_t> index(rank - 1, 0);
          for (int64_t r = begin, d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
            index[d] = r % out.dim(d);
            r /= out.dim(d);
          }
          std::vector<std::pair<int64_t, float>> terms;
          std::vector<float> blended(in_row_length);
          for (int64_t row = begin; row < end; ++row) {
            float* out_row = dst + row * row_length;
            if (row_terms(taps, strides, index, terms)) {
              std::fill(blended.begin(), blended.end(), 0.0f);
              for (const auto& [offset, weight] : terms)
                for (int64_t i = 0; i < in_row_length; ++i) blended[i] += weight * src[offset + i];
              for (int64_t x = 0; x < row_length; ++x) {
                float sum = 0;
                for (int k = 0; k < last.count; ++k) {
                  const size_t t = x * last.count + k;
                  sum += last.weight[t] * blended[last.index[t]];
                }
                out_row[x] = last.outside[x] ? extrapolation : sum;
              }
            } else {
              std::fill(out_row, out_row + row_length, extrapolation);
            }
            for (int64_t d = static_cast<int64_t>(rank) - 2; d >= 0; --d) {
              if (++index[d] < out.dim(d)) break;
              index[d] = 0;
            }
          }
        },
        std::max<int64_t>(1, kMinParallelElements / row_length));
  }

  // The (input offset, weight) terms of the outer axes for the output row at `index`; false
  // when the row lies outside the crop region.
  static bool row_terms(const std::vector<AxisTaps>& taps, const std::vector<int64_t>& strides,
                        const std::vector<int64_t>& index,
                        std::vector<std::pair<int64_t, float>>& terms) {
    terms.assign(1, {0, 1.0f});
    for (size_t d = 0; d < index.size(); ++d) {
      const AxisTaps& axis = taps[d];
      if (axis.outside[index[d]]) return false;
      const size_t previous = terms.size();
      for (int k = 1; k < axis.count; ++k)
        for (size_t t = 0; t < previous; ++t) terms.push_back(terms[t]);
      for (int k = 0; k < axis.count; ++k) {
        const size_t tap = index[d] * axis.count + k;
        for (size_t t = 0; t < previous; ++t) {
          auto& term = terms[k * previous + t];
          term.first += axis.index[tap] * strides[d];
          term.second *= axis.weight[tap];
        }
      }
    }
    return true;
  }

  int64_t opset_;
  ResizeMode mode_ = ResizeMode::kNearest;
  CoordinateTransform transform_ = CoordinateTransform::kHalfPixel;
  NearestRounding rounding_ = NearestRounding::kRoundPreferFloor;
  AspectRatioPolicy aspect_policy_ = AspectRatioPolicy::kStretch;
  float cubic_a_ = -0.75f;
  bool exclude_outside_ = false;
  float extrapolation_value_ = 0.0f;
  std::optional<std::vector<int64_t>> axes_;
};

}  // namespace

void register_tensor_ops(KernelRegistry& registry) {
  registry.add("Cast", factory<CastKernel>());
  registry.add("Identity", factory<IdentityKernel>());
  registry.add("Pad", factory<PadKernel>());
  registry.add("Resize", factory<ResizeKernel>());
}

}  // namespace qsim
