#include "dense_metrics.h"

#include <algorithm>
#include <string>

#include "fmnist_data.h"
#include "util/error.h"

namespace qsim::tools {

std::vector<uint8_t> threshold_map(const Tensor& map, float threshold) {
  require(map.dtype() == DType::kFloat32, ErrorCode::kInvalidArgument,
          "a mask is thresholded from a float32 map, got " + map.describe());
  std::vector<uint8_t> mask(static_cast<size_t>(map.size()));
  const float* p = map.data<float>();
  for (size_t i = 0; i < mask.size(); ++i) mask[i] = p[i] > threshold;
  return mask;
}

double mean_iou(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, int64_t images) {
  require(a.size() == b.size(), ErrorCode::kShape,
          "IoU of masks of " + std::to_string(a.size()) + " and " + std::to_string(b.size()) +
              " pixels");
  require(images > 0 && a.size() % static_cast<size_t>(images) == 0, ErrorCode::kShape,
          "IoU: " + std::to_string(a.size()) + " pixels are not " + std::to_string(images) +
              " equal images");
  const size_t per_image = a.size() / static_cast<size_t>(images);
  double sum = 0;
  for (size_t image = 0; image < static_cast<size_t>(images); ++image) {
    int64_t inter = 0, uni = 0;
    for (size_t i = image * per_image; i < (image + 1) * per_image; ++i) {
      inter += a[i] & b[i];
      uni += a[i] | b[i];
    }
    sum += uni == 0 ? 1.0 : static_cast<double>(inter) / static_cast<double>(uni);
  }
  return sum / static_cast<double>(images);
}

double identical_share(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b) {
  require(a.size() == b.size() && !a.empty(), ErrorCode::kShape,
          "identical share of masks of " + std::to_string(a.size()) + " and " +
              std::to_string(b.size()) + " pixels");
  int64_t same = 0;
  for (size_t i = 0; i < a.size(); ++i) same += a[i] == b[i];
  return static_cast<double>(same) / static_cast<double>(a.size());
}

std::vector<uint8_t> fmnist_test_foreground(int64_t first, int64_t count) {
  // fmnist_test_images gives byte / 255 in float; the byte is recovered exactly by rounding.
  const Tensor images = fmnist_test_images(first, count);
  std::vector<uint8_t> mask(static_cast<size_t>(images.size()));
  const float* p = images.data<float>();
  for (size_t i = 0; i < mask.size(); ++i)
    mask[i] = static_cast<int>(p[i] * 255.0f + 0.5f) > kFmnistForegroundByte;
  return mask;
}

std::vector<std::vector<int64_t>> ctc_greedy_decode(const Tensor& scores, int64_t blank) {
  require(scores.rank() == 3 && scores.dtype() == DType::kFloat32, ErrorCode::kShape,
          "CTC decoding needs float32 [N, T, C] scores, got " + scores.describe());
  const int64_t rows = scores.dim(0), steps = scores.dim(1), classes = scores.dim(2);
  require(classes > 0 && blank < classes, ErrorCode::kInvalidArgument,
          "CTC blank " + std::to_string(blank) + " is not one of " + std::to_string(classes) +
              " classes");
  std::vector<std::vector<int64_t>> sequences(static_cast<size_t>(rows));
  for (int64_t n = 0; n < rows; ++n) {
    int64_t previous = -1;
    for (int64_t t = 0; t < steps; ++t) {
      const float* p = scores.data<float>() + (n * steps + t) * classes;
      const int64_t best = std::max_element(p, p + classes) - p;
      const bool collapse = blank >= 0 && best == previous;
      previous = best;
      if (collapse || best == blank) continue;
      sequences[static_cast<size_t>(n)].push_back(best);
    }
  }
  return sequences;
}

int64_t equal_sequences(const std::vector<std::vector<int64_t>>& a,
                        const std::vector<std::vector<int64_t>>& b) {
  require(a.size() == b.size(), ErrorCode::kShape,
          "sequence equality of " + std::to_string(a.size()) + " and " + std::to_string(b.size()) +
              " rows");
  int64_t equal = 0;
  for (size_t i = 0; i < a.size(); ++i) equal += a[i] == b[i];
  return equal;
}

}  // namespace qsim::tools
