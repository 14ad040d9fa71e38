// qsim's float forward pass against ONNX Runtime on the same model, inputs and threads.
//
//   bench_forward_vs_ort [MODEL.onnx ...] [--iters N] [--batches 1,64] [--threads 1,2]
//                        [--rounds R] [--qsim-only] [--no-fuse]
//
// Any model with one float input whose axes other than the batch are fixed: by default the two
// Fashion-MNIST reference models; the ImageNet-sized scale models (target scale_models, issue
// 24) are build/bench/scale_models/{resnet50,mobilenetv2}_224.onnx. Batches of 64 and more run
// a fifth of --iters (at least 20) timed passes.
//
// For each model, batch and thread count: qsim's median forward time (this process, after
// warm-up) and ONNX Runtime's (tools/ort/run.js bench, session.run from Node), and the ratio
// qsim / ORT (below 1 = qsim faster). qsim_cpu_ms is the median CPU time of the process per
// forward pass (all its threads): on a loaded machine it shows the work done when the wall
// time also holds waits for a core. --qsim-only skips ONNX Runtime, so that `perf stat` or
// callgrind see qsim's work alone; ONNX Runtime runs on the CPU the environment variable
// QSIM_ORT_CPU names (ort_process.h: cpuid:avx2 times its AVX2 kernels at native speed on
// an AVX-512 machine; qemu CPU names are refused, their times being emulation times); --no-fuse
// runs the graph as it is (EngineOptions::fuse_layers off). With --rounds R (default 1) each
// configuration is measured R times, qsim then ONNX Runtime, and the medians over the rounds are
// printed, the ratio being the median of the rounds' ratios: on a shared machine whose load changes
// from second to second, only ratios of measurements taken back to back mean much.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <ctime>
#include <random>

#include "bench_stats.h"
#include "graph/onnx_import.h"
#include "ort_process.h"
#include "runtime/engine.h"

using namespace qsim;

namespace {

double process_cpu_ms() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) * 1e3 + static_cast<double>(t.tv_nsec) * 1e-6;
}

struct QsimTimes {
  double wall_ms;
  double cpu_ms;
};

QsimTimes qsim_median_ms(const std::shared_ptr<Model>& model, int64_t batch,
                         const EngineOptions& options, int iters) {
  Engine engine(model, options);
  Tensor input(DType::kFloat32, bench::input_shape(*model, batch));
  std::mt19937 rng(42);
  std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
  for (int64_t i = 0; i < input.size(); ++i) input.data<float>()[i] = uniform(rng);
  // Warm up for a while too: OpenBLAS's pthread build starts a server thread per core that
  // spins (sched_yield) for about 0.1 s after the library loads, and on the 2-vCPU VM that
  // slowed the process's first configuration by a quarter.
  const auto warm_until = std::chrono::steady_clock::now() + std::chrono::milliseconds(300);
  for (int i = 0; i < std::max(3, iters / 10) || std::chrono::steady_clock::now() < warm_until; ++i)
    engine.run({input});
  std::vector<double> wall, cpu;
  for (int i = 0; i < iters; ++i) {
    const double cpu_start = process_cpu_ms();
    const auto start = std::chrono::steady_clock::now();
    engine.run({input});
    wall.push_back(
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count());
    cpu.push_back(process_cpu_ms() - cpu_start);
  }
  return {bench::median(wall), bench::median(cpu)};
}

double ort_median_ms(const std::string& model, int64_t batch, int threads, int iters) {
  std::string out = tools::run_ort(
      {"bench", model, "--batch", std::to_string(batch), "--threads", std::to_string(threads),
       "--iters", std::to_string(iters), "--warmup", std::to_string(std::max(3, iters / 10))},
      tools::ort_cpu_from_environment());
  size_t at = out.find("\"median_ms\":");
  if (at == std::string::npos) fail(ErrorCode::kParse, "unexpected ORT bench output: " + out);
  return std::stod(out.substr(at + 12));
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> models;
  std::vector<int64_t> batches = {1, 64}, thread_counts = {1, 2};
  int iters = 200;
  int rounds = 1;
  bool qsim_only = false;
  bool fuse = true;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--iters" && i + 1 < argc)
      iters = std::stoi(argv[++i]);
    else if (a == "--batches" && i + 1 < argc)
      batches = bench::parse_list(argv[++i]);
    else if (a == "--threads" && i + 1 < argc)
      thread_counts = bench::parse_list(argv[++i]);
    else if (a == "--rounds" && i + 1 < argc)
      rounds = std::max(1, std::stoi(argv[++i]));
    else if (a == "--qsim-only")
      qsim_only = true;
    else if (a == "--no-fuse")
      fuse = false;
    else
      models.push_back(a);
  }
  if (models.empty())
    models = {std::string(QSIM_SOURCE_DIR) + "/models/resnet_fmnist.onnx",
              std::string(QSIM_SOURCE_DIR) + "/models/mobilenet_fmnist.onnx"};
  try {
    const std::string ort_cpu = tools::ort_cpu_from_environment();
    require(ort_cpu.empty() || tools::is_cpuid_mask(ort_cpu), ErrorCode::kInvalidArgument,
            "QSIM_ORT_CPU=" + ort_cpu +
                ": a qemu CPU would time emulation, not ONNX Runtime; use cpuid:avx2 or "
                "cpuid:sse41");
    if (!qsim_only) std::printf("ONNX Runtime on %s\n", tools::describe_ort_cpu(ort_cpu).c_str());
    std::printf("%-22s %6s %7s %12s %12s %12s %8s\n", "model", "batch", "threads", "qsim_ms",
                "qsim_cpu_ms", "ort_ms", "ratio");
    for (const auto& path : models) {
      auto model = std::make_shared<Model>(load_onnx_file(path));
      std::string name = path.substr(path.find_last_of('/') + 1);
      for (int64_t batch : batches)
        for (int64_t threads : thread_counts) {
          const int n = batch >= 64 ? std::max(20, iters / 5) : iters;
          std::vector<double> wall, cpu, theirs, ratios;
          for (int r = 0; r < rounds; ++r) {
            const QsimTimes ours =
                qsim_median_ms(model, batch, EngineOptions{static_cast<int>(threads), fuse}, n);
            wall.push_back(ours.wall_ms);
            cpu.push_back(ours.cpu_ms);
            if (qsim_only) continue;
            theirs.push_back(ort_median_ms(path, batch, static_cast<int>(threads), n));
            ratios.push_back(ours.wall_ms / theirs.back());
          }
          std::printf("%-22s %6lld %7lld %12.4f %12.4f", name.c_str(), (long long)batch,
                      (long long)threads, bench::median(wall), bench::median(cpu));
          if (!qsim_only)
            std::printf(" %12.4f %8.2f", bench::median(theirs), bench::median(ratios));
          std::printf("\n");
          std::fflush(stdout);
        }
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_forward_vs_ort: %s\n", e.what());
    return 1;
  }
  return 0;
}
