// Top-1 accuracy of a model on all 10000 Fashion-MNIST test images with qsim's runtime, and
// image-for-image agreement with ONNX Runtime's logits (from `run.js fmnist`).
//
//   qsim_fmnist_eval MODEL [--ort-logits FILE.npy] [--batch 64] [--threads N]
#include <cstdio>
#include <string>

#include "fmnist_data.h"
#include "graph/onnx_import.h"
#include "io/npy.h"
#include "runtime/engine.h"

using namespace qsim;

namespace {

int evaluate(const std::string& model_path, const std::string& ort_logits_path, int64_t batch,
             int threads) {
  auto model = std::make_shared<Model>(load_onnx_file(model_path));
  Engine engine(model, EngineOptions{threads});
  const int64_t n = tools::fmnist_test_count();
  Tensor ort;
  if (!ort_logits_path.empty()) ort = read_npy(ort_logits_path);
  int64_t qsim_correct = 0, ort_correct = 0, agree = 0;
  for (int64_t first = 0; first < n; first += batch) {
    int64_t count = std::min(batch, n - first);
    Tensor logits = engine.run({tools::fmnist_test_images(first, count)})[0];
    for (int64_t i = 0; i < count; ++i) {
      int64_t label = tools::fmnist_test_label(first + i);
      int64_t ours = tools::argmax_row(logits, i);
      qsim_correct += ours == label;
      if (ort.dtype() == DType::kUndefined) continue;
      int64_t theirs = tools::argmax_row(ort, first + i);
      ort_correct += theirs == label;
      agree += ours == theirs;
    }
  }
  std::printf("qsim top-1: %.2f%% (%lld/%lld)\n", 100.0 * qsim_correct / n, (long long)qsim_correct,
              (long long)n);
  if (ort.dtype() == DType::kUndefined) return 0;
  std::printf("onnxruntime top-1: %.2f%% (%lld/%lld)\n", 100.0 * ort_correct / n,
              (long long)ort_correct, (long long)n);
  std::printf("same top-1 class: %lld/%lld images\n", (long long)agree, (long long)n);
  return agree == n ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  std::string model, ort;
  int64_t batch = 64;
  int threads = 1;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--ort-logits" && i + 1 < argc)
      ort = argv[++i];
    else if (a == "--batch" && i + 1 < argc)
      batch = std::stoll(argv[++i]);
    else if (a == "--threads" && i + 1 < argc)
      threads = std::stoi(argv[++i]);
    else
      model = a;
  }
  try {
    if (model.empty())
      fail(ErrorCode::kInvalidArgument, "usage: qsim_fmnist_eval MODEL [--ort-logits FILE.npy]");
    return evaluate(model, ort, batch, threads);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "qsim_fmnist_eval: %s\n", e.what());
    return 2;
  }
}
