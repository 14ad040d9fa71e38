// Writes models/mobilenet_rescaled_fmnist.onnx, the third reference model (issue #22): the
// MobileNet with its channels rescaled so that per-tensor weight grids fail it and cross-layer
// equalization repairs it (tools::rescaled_mobilenet(1), docs/EQUALIZATION.md).
//
//   qsim_make_rescaled_model [--out FILE]    (default: models/mobilenet_rescaled_fmnist.onnx)
//
// Before writing, checks on the first 1000 test images that the rescaled model's logits equal
// those of the model it was rescaled from (BN folded, ReLU6 replaced, equalized) within 1e-4;
// prints the largest difference and both models' top-1. Exit status 0, 1 when the check
// fails (nothing written), 2 on error.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>

#include "fmnist_data.h"
#include "graph/bn_fold.h"
#include "graph/onnx_export.h"
#include "runtime/engine.h"
#include "techniques/cross_layer_equalization.h"
#include "tool_args.h"

using namespace qsim;

namespace {

constexpr double kTolerance = 1e-4;

int run(int argc, char** argv) {
  std::string out = std::string(QSIM_SOURCE_DIR) + "/models/mobilenet_rescaled_fmnist.onnx";
  tools::parse_options(argc, argv, {{"--out", &out}}, "qsim_make_rescaled_model [--out FILE]");
  const Model source =
      equalize_cross_layer(fold_batch_norms(tools::load_reference_model("mobilenet_fmnist")).model,
                           CleOptions{})
          .model;
  Model rescaled = tools::rescaled_mobilenet(1);
  rescaled.graph.name = "mobilenet_rescaled_fmnist";
  Engine a(std::make_shared<const Model>(source)), b(std::make_shared<const Model>(rescaled));
  double largest = 0.0;
  for (int64_t first = 0; first < 1000; first += 250) {
    const Tensor images = tools::fmnist_test_images(first, 250);
    const Tensor x = a.run({images}).at(0), y = b.run({images}).at(0);
    for (int64_t i = 0; i < x.size(); ++i)
      largest = std::max(largest, std::fabs(double(x.data<float>()[i]) - y.data<float>()[i]));
  }
  const auto top1 = [](Engine& e) {
    return tools::fmnist_test_top1([&](const Tensor& images) { return e.run({images}).at(0); },
                                   250);
  };
  std::printf("largest logit difference on 1000 test images: %.3g (tolerance %.0e)\n", largest,
              kTolerance);
  std::printf("top-1 on 10000 test images: equalized %.2f, rescaled %.2f\n", top1(a), top1(b));
  if (!(largest <= kTolerance)) return 1;
  save_onnx_file(rescaled, out);
  std::printf("wrote %s\n", out.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  return tools::run_tool("qsim_make_rescaled_model", [&] { return run(argc, argv); });
}
