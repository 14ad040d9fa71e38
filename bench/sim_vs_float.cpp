// What quantization simulation costs over the float forward pass (issue #3: at most 1.3x).
//
//   bench_sim_vs_float [MODEL.onnx ...] [--iters N]
//
// For each model (default: both reference models), batch 1 and 64, threads 1 and 2: a
// QuantSim (W8A8 per-channel, TF-enhanced activations) calibrated on 500 Fashion-MNIST
// training images runs the first test images through QuantSim::run_float and
// QuantSim::run_quantized, alternating so that both see the same machine load. Prints the
// median times and the median over run pairs of simulated / float (a pair runs back to back,
// so a burst of load on the shared machine skews one pair, not the ratio); exits 1 when that
// ratio exceeds the target.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <functional>
#include <string>
#include <vector>

#include "bench_stats.h"
#include "fmnist_data.h"
#include "graph/onnx_import.h"
#include "quant/quantsim.h"
#include "techniques/model_transforms.h"

using namespace qsim;

namespace {

constexpr double kMaxRatio = 1.3;
constexpr int64_t kCalibrationImages = 500;
constexpr int64_t kCalibrationBatch = 50;

struct Timing {
  double float_ms;
  double simulated_ms;
  double ratio;  // median of simulated / float over run pairs
};

double elapsed_ms(const std::function<void()>& run) {
  const auto start = std::chrono::steady_clock::now();
  run();
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
      .count();
}

// Medians over `iters` alternating float and simulated runs, after warm-up runs that make
// the engines' plans for this input shape.
Timing time_forward(QuantSim& sim, const Tensor& input, int iters) {
  const std::vector<Tensor> inputs = {input};
  for (int i = 0; i < std::max(3, iters / 10); ++i) {
    sim.run_float(inputs);
    sim.run_quantized(inputs);
  }
  std::vector<double> float_ms, simulated_ms, ratios;
  for (int i = 0; i < iters; ++i) {
    float_ms.push_back(elapsed_ms([&] { sim.run_float(inputs); }));
    simulated_ms.push_back(elapsed_ms([&] { sim.run_quantized(inputs); }));
    ratios.push_back(simulated_ms.back() / float_ms.back());
  }
  return {bench::median(float_ms), bench::median(simulated_ms), bench::median(ratios)};
}

std::vector<std::string> parse_args(int argc, char** argv, int& iters) {
  std::vector<std::string> models;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--iters" && i + 1 < argc)
      iters = std::stoi(argv[++i]);
    else
      models.push_back(arg);
  }
  if (models.empty())
    models = {std::string(QSIM_SOURCE_DIR) + "/models/resnet_fmnist.onnx",
              std::string(QSIM_SOURCE_DIR) + "/models/mobilenet_fmnist.onnx"};
  return models;
}

}  // namespace

int main(int argc, char** argv) {
  int iters = 200;
  const std::vector<std::string> models = parse_args(argc, argv, iters);
  bool all_met = true;
  try {
    std::printf("%-22s %6s %7s %10s %10s %7s %s\n", "model", "batch", "threads", "float_ms",
                "sim_ms", "ratio", "verdict");
    for (const std::string& path : models) {
      const Model model = load_onnx_file(path);
      const std::string name = path.substr(path.find_last_of('/') + 1);
      for (int threads : {1, 2}) {
        QuantSimOptions options;
        options.transforms = {fold_batch_norm_transform};
        options.per_channel = true;
        options.num_threads = threads;
        QuantSim sim(model, options);
        tools::calibrate_on_training_images(sim, kCalibrationImages, kCalibrationBatch);
        for (int64_t batch : {1, 64}) {
          // Batch 64 runs take ~100x longer than batch 1: fewer of them keep the run short.
          const int runs = batch >= 64 ? std::max(20, iters / 2) : iters;
          const Timing t = time_forward(sim, tools::fmnist_test_images(0, batch), runs);
          all_met = all_met && t.ratio <= kMaxRatio;
          std::printf("%-22s %6lld %7d %10.4f %10.4f %7.3f %s\n", name.c_str(),
                      static_cast<long long>(batch), threads, t.float_ms, t.simulated_ms, t.ratio,
                      t.ratio <= kMaxRatio ? "PASS" : "FAIL");
          std::fflush(stdout);
        }
      }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_sim_vs_float: %s\n", e.what());
    return 2;
  }
  return all_met ? 0 : 1;
}
