// qsim's float forward pass against ONNX Runtime on the same model, inputs and threads.
//
//   bench_forward_vs_ort [MODEL.onnx ...] [--iters N] [--batches 1,64] [--threads 1,2]
//
// For each model, batch and thread count: qsim's median forward time (this process, after
// warm-up) and ONNX Runtime's (tools/ort/run.js bench, session.run from Node), and the ratio
// qsim / ORT (below 1 = qsim faster).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <sstream>

#include "graph/onnx_import.h"
#include "ort_process.h"
#include "runtime/engine.h"

using namespace qsim;

namespace {

std::vector<int64_t> parse_list(const std::string& text) {
  std::vector<int64_t> values;
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) values.push_back(std::stoll(item));
  return values;
}

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 ? v[v.size() / 2] : 0.5 * (v[v.size() / 2 - 1] + v[v.size() / 2]);
}

double qsim_median_ms(const std::shared_ptr<Model>& model, int64_t batch, int threads, int iters) {
  Engine engine(model, EngineOptions{threads});
  Tensor input(DType::kFloat32, {batch, 1, 28, 28});
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  for (int64_t i = 0; i < input.size(); ++i) input.data<float>()[i] = uniform(rng);
  for (int i = 0; i < std::max(3, iters / 10); ++i) engine.run({input});
  std::vector<double> times;
  for (int i = 0; i < iters; ++i) {
    auto start = std::chrono::steady_clock::now();
    engine.run({input});
    times.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count());
  }
  return median(times);
}

double ort_median_ms(const std::string& model, int64_t batch, int threads, int iters) {
  std::string out = tools::run_ort({"bench", model, "--batch", std::to_string(batch), "--threads",
                                    std::to_string(threads), "--iters", std::to_string(iters), "--warmup",
                                    std::to_string(std::max(3, iters / 10))});
  size_t at = out.find("\"median_ms\":");
  if (at == std::string::npos) fail(ErrorCode::kParse, "unexpected ORT bench output: " + out);
  return std::stod(out.substr(at + 12));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> models;
  std::vector<int64_t> batches = {1, 64}, thread_counts = {1, 2};
  int iters = 200;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--iters" && i + 1 < argc) iters = std::stoi(argv[++i]);
    else if (a == "--batches" && i + 1 < argc) batches = parse_list(argv[++i]);
    else if (a == "--threads" && i + 1 < argc) thread_counts = parse_list(argv[++i]);
    else models.push_back(a);
  }
  if (models.empty())
    models = {std::string(QSIM_SOURCE_DIR) + "/models/resnet_fmnist.onnx",
              std::string(QSIM_SOURCE_DIR) + "/models/mobilenet_fmnist.onnx"};
  try {
    std::printf("%-22s %6s %7s %12s %12s %8s\n", "model", "batch", "threads", "qsim_ms", "ort_ms", "ratio");
    for (const auto& path : models) {
      auto model = std::make_shared<Model>(load_onnx_file(path));
      std::string name = path.substr(path.find_last_of('/') + 1);
      for (int64_t batch : batches)
        for (int64_t threads : thread_counts) {
          int n = batch >= 64 ? std::max(20, iters / 5) : iters;
          double ours = qsim_median_ms(model, batch, static_cast<int>(threads), n);
          double theirs = ort_median_ms(path, batch, static_cast<int>(threads), n);
          std::printf("%-22s %6lld %7lld %12.4f %12.4f %8.2f\n", name.c_str(), (long long)batch,
                      (long long)threads, ours, theirs, ours / theirs);
          std::fflush(stdout);
        }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_forward_vs_ort: %s\n", e.what());
    return 1;
  }
  return 0;
}
