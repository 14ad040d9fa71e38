// MNIST-style IDX files (gzip-compressed or plain), as shipped by Debian's
// dataset-fashion-mnist.
#pragma once

#include <string>

#include "tensor/tensor.h"

namespace qsim {

// uint8 tensor with the file's dimensions ([N,28,28] for images, [N] for labels).
Tensor read_idx(const std::string& path);
// Images as the reference models expect them: float32 [N,1,H,W] = pixel / 255, for images
// [first, first + count) (count < 0: to the end).
Tensor idx_images_to_nchw(const Tensor& images, int64_t first, int64_t count);

}  // namespace qsim
