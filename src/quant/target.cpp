#include "quant/target.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "util/error.h"

namespace qsim {
namespace {

constexpr std::pair<Target, const char*> kTargets[] = {
    {Target::kExact, "exact"},
    {Target::kOrtAvx2, "ort-avx2"},
};

// VPMADDUBSW's pair sum with uint8 inputs is at most 255 * (a + b) for int8 values a and b of
// one sign; 255 * 128 = 32640 is the largest such multiple that fits int16 (32767, -32768).
constexpr int64_t kLargestSafePairSum = 128;
constexpr int kFullBitwidth = 8;
constexpr int kReducedBitwidth = 7;

// The two largest of the values seen.
struct TopTwo {
  int64_t first = 0;
  int64_t second = 0;
  void add(int64_t v) {
    if (v > first) {
      second = first;
      first = v;
    } else if (v > second) {
      second = v;
    }
  }
  int64_t sum() const { return first + second; }
};

// The int8 value the QDQ export stores for level q of a bw-bit grid: q - 2^(bw-1).
int64_t stored_value(double level, const ChannelEncoding& channel, int64_t quant_max,
                     int bitwidth) {
  const double q = std::clamp(level - channel.offset, 0.0, static_cast<double>(quant_max));
  return static_cast<int64_t>(q) - (int64_t{1} << (bitwidth - 1));
}

int64_t elements_after(const Tensor& values, int axis) {
  int64_t inner = 1;
  for (int64_t d = axis + 1; d < values.rank(); ++d) inner *= values.dim(d);
  return inner;
}

}  // namespace

const char* target_name(Target target) {
  for (const auto& [t, name] : kTargets)
    if (t == target) return name;
  return "unknown";
}

Target target_from_name(const std::string& name) {
  std::string valid;
  for (const auto& [target, target_name] : kTargets) {
    if (name == target_name) return target;
    valid += (valid.empty() ? "" : ", ") + std::string(target_name);
  }
  fail(ErrorCode::kInvalidArgument, "unknown target '" + name + "' (valid: " + valid + ")");
}

std::vector<bool> int16_pair_sums_fit(const Tensor& values, const Encoding& encoding,
                                      int group_axis) {
  require(!encoding.per_channel() || encoding.axis == group_axis, ErrorCode::kInternal,
          "int16_pair_sums_fit: the encoding's axis is not the weight's output-channel axis");
  const int64_t groups = group_axis < 0 ? 1 : values.dim(group_axis);
  const int64_t inner = group_axis < 0 ? values.size() : elements_after(values, group_axis);
  std::vector<TopTwo> positive(static_cast<size_t>(groups)), negative(positive.size());
  const float* x = values.data<float>();
  for (int64_t i = 0; i < values.size(); ++i) {
    const size_t g = static_cast<size_t>((i / inner) % groups);
    const ChannelEncoding& channel = encoding.channels.at(encoding.per_channel() ? g : 0);
    // Rounded up and down, as quantize_value divides: in float.
    const float ratio = x[i] / channel.scale;
    positive[g].add(
        stored_value(std::ceil(ratio), channel, encoding.quant_max(), encoding.bitwidth));
    negative[g].add(
        -stored_value(std::floor(ratio), channel, encoding.quant_max(), encoding.bitwidth));
  }
  std::vector<bool> fit(positive.size());
  for (size_t g = 0; g < fit.size(); ++g)
    fit[g] = positive[g].sum() <= kLargestSafePairSum && negative[g].sum() <= kLargestSafePairSum;
  return fit;
}

Encoding ort_avx2_weight_encoding(const Tensor& values, const Encoding& eight_bit,
                                  const Encoding& seven_bit, int group_axis) {
  require(eight_bit.bitwidth == kFullBitwidth && seven_bit.bitwidth == kReducedBitwidth &&
              eight_bit.axis == seven_bit.axis &&
              eight_bit.channels.size() == seven_bit.channels.size(),
          ErrorCode::kInternal, "ort_avx2_weight_encoding: mismatched 8- and 7-bit encodings");
  const std::vector<bool> fit = int16_pair_sums_fit(values, eight_bit, group_axis);
  const size_t fitting = static_cast<size_t>(std::count(fit.begin(), fit.end(), true));
  if (fitting == fit.size()) return eight_bit;
  if (!eight_bit.per_channel() || fitting == 0) return seven_bit;
  Encoding mixed = eight_bit;
  // Level q7 of the 7-bit grid is stored as q7 - 64; on the 8-bit grid q8 is stored as q8 - 128,
  // so the same value lands on the same int8 when q8 = q7 + 64, that is offset8 = offset7 - 64.
  const int32_t shift =
      (int32_t{1} << (kFullBitwidth - 1)) - (int32_t{1} << (kReducedBitwidth - 1));
  for (size_t c = 0; c < fit.size(); ++c)
    if (!fit[c])
      mixed.channels[c] = {seven_bit.channels[c].scale, seven_bit.channels[c].offset - shift};
  // The 8-bit grid does not clip where the 7-bit one did (a weight method that clips, such as
  // MSE): values beyond the 7-bit range could then saturate again.
  const std::vector<bool> mixed_fit = int16_pair_sums_fit(values, mixed, group_axis);
  if (std::find(mixed_fit.begin(), mixed_fit.end(), false) != mixed_fit.end()) return seven_bit;
  return mixed;
}

}  // namespace qsim
