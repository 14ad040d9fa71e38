// Where qsim's forward pass spends its time, node by node (of the graph the engine runs:
// fused unless --no-fuse), on random images in [0, 1).
//
//   bench_node_times MODEL.onnx [--batch 64] [--threads 1] [--runs 200] [--no-fuse]
//
// Prints, per node, the 10th percentile of its time over the runs (the low percentile keeps
// the time the node takes when the shared machine leaves it alone), then the sum.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench_stats.h"
#include "graph/onnx_import.h"
#include "runtime/engine.h"

using namespace qsim;

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr,
                 "usage: bench_node_times MODEL.onnx [--batch B] [--threads T] "
                 "[--runs N] [--no-fuse]\n");
    return 2;
  }
  int64_t batch = 64;
  int threads = 1, runs = 200;
  bool fuse = true;
  for (int i = 2; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--batch" && i + 1 < argc)
      batch = std::stoll(argv[++i]);
    else if (a == "--threads" && i + 1 < argc)
      threads = std::stoi(argv[++i]);
    else if (a == "--runs" && i + 1 < argc)
      runs = std::max(1, std::stoi(argv[++i]));
    else if (a == "--no-fuse")
      fuse = false;
  }
  try {
    Engine engine(std::make_shared<Model>(load_onnx_file(argv[1])), EngineOptions{threads, fuse});
    Tensor input(DType::kFloat32, bench::input_shape(engine.model(), batch));
    std::mt19937 rng(42);
    std::uniform_real_distribution<float> uniform(0.0f, 1.0f);
    for (int64_t i = 0; i < input.size(); ++i) input.data<float>()[i] = uniform(rng);
    const Graph& graph = engine.model().graph;
    std::vector<std::vector<double>> micros(graph.nodes.size());
    std::chrono::steady_clock::time_point last;
    RunHooks hooks;
    hooks.after_node = [&](size_t n, const Node&, const std::vector<const Tensor*>&,
                           const std::vector<Tensor*>&) {
      const auto now = std::chrono::steady_clock::now();
      micros[n].push_back(std::chrono::duration<double, std::micro>(now - last).count());
      last = now;
    };
    engine.run({input});  // plans
    for (int r = 0; r < runs; ++r) {
      last = std::chrono::steady_clock::now();
      engine.run({input}, hooks);
    }
    double total = 0.0;
    for (size_t n = 0; n < graph.nodes.size(); ++n) {
      if (micros[n].empty()) continue;  // folded at plan time
      std::sort(micros[n].begin(), micros[n].end());
      const double us = micros[n][micros[n].size() / 10];
      total += us;
      const Node& node = graph.nodes[n];
      std::printf("%10.1f us  %-18s %-10s %s\n", us, node.op_type.c_str(),
                  node.get_string("activation", "").c_str(), node.outputs.at(0).c_str());
    }
    std::printf("%10.1f us  total\n", total);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_node_times: %s\n", e.what());
    return 1;
  }
  return 0;
}
