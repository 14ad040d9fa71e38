// Writes Fashion-MNIST training images as calibration data for the C sample's test:
//   make_calib_npy OUT.npy COUNT   ->  float32 [COUNT, 1, 28, 28] = pixel / 255
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "io/idx.h"
#include "io/npy.h"
#include "util/error.h"

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: make_calib_npy OUT.npy COUNT\n");
    return 2;
  }
  try {
    const std::filesystem::path out(argv[1]);
    if (out.has_parent_path()) std::filesystem::create_directories(out.parent_path());
    const qsim::Tensor images =
        qsim::read_idx("/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz");
    qsim::write_npy(out.string(), qsim::idx_images_to_nchw(images, 0, std::atoll(argv[2])));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_calib_npy: %s\n", e.what());
    return 1;
  }
  return 0;
}
