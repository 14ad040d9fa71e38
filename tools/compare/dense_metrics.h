// Metrics for models whose output is not one class per image: per-pixel masks (segmentation,
// IoU of thresholded maps) and label sequences ([N, T, C] scores decoded by argmax or a greedy
// CTC collapse). qsim_sim_vs_ort and qsim_accuracy_table take them with --metric iou|ctc.
#pragma once

#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace qsim::tools {

// Probability above which a pixel of a sigmoid map is foreground (the mask threshold).
inline constexpr float kMaskThreshold = 0.5f;
// Fashion-MNIST's segmentation target: a pixel belongs to the item when its byte is above 25
// (pixel / 255 > 0.1); tools/train_segmentation.py trains models/seg_fmnist.onnx on it.
inline constexpr int kFmnistForegroundByte = 25;

// One mask bit per element of a float map: value > threshold.
std::vector<uint8_t> threshold_map(const Tensor& map, float threshold = kMaskThreshold);

// Mean over images (axis 0) of |a & b| / |a | b|; an image where both masks are empty counts 1.
// a and b hold the same number of elements, a multiple of `images`.
double mean_iou(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b, int64_t images);

// The share of mask pixels on which two masks agree.
double identical_share(const std::vector<uint8_t>& a, const std::vector<uint8_t>& b);

// The segmentation target of Fashion-MNIST test images [first, first + count): one bit per
// pixel, byte > kFmnistForegroundByte (in the order of a [count, 1, 28, 28] map).
std::vector<uint8_t> fmnist_test_foreground(int64_t first, int64_t count);

// Greedy CTC decoding of [N, T, C] scores (logits or probabilities): per time step the
// class of the largest score (ties: the lowest class), repeats collapsed, then `blank` removed.
// With `blank` < 0 no class is removed and repeats are kept: plain per-step argmax.
std::vector<std::vector<int64_t>> ctc_greedy_decode(const Tensor& scores, int64_t blank);

// The number of rows whose decoded sequences are equal.
int64_t equal_sequences(const std::vector<std::vector<int64_t>>& a,
                        const std::vector<std::vector<int64_t>>& b);

}  // namespace qsim::tools
