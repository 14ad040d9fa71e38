// OpenBLAS sgemm throughput as qsim uses it: the pthread build pinned to one BLAS thread
// (runtime/blas.h), and for more threads the N columns split into contiguous chunks over
// qsim's own ThreadPool, each thread calling sgemm on its chunk. The peak this finds is what
// bench/adaround_vs_torch.sh compares the GFLOP/s of qsim's AdaRound inner loop against.
//
//   bench_sgemm_peak [--threads 1,2] [--repeats N] [--seconds S]
//
// For each shape (row-major C[M,N] = A[M,K] * B[K,N]) and thread count: the median and best
// GFLOP/s over `repeats` timings, each timing as many calls as fill about `seconds`. The last
// line per thread count, "sgemm peak: T threads: X GFLOP/s (MxNxK)", is the best median.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "bench_stats.h"
#include "runtime/blas.h"
#include "util/error.h"
#include "util/thread_pool.h"

using namespace qsim;

namespace {

struct Shape {
  int64_t m, n, k;
  const char* what;
  double flop() const { return 2.0 * static_cast<double>(m) * static_cast<double>(n) * k; }
};

// Square sizes for the peak; the others are shapes qsim's kernels meet on the reference
// models: a 3x3 convolution's im2col product at batch 64 and AdaRound's product on 32
// samples of a 4x4 feature map.
const Shape kShapes[] = {
    {512, 512, 512, "square"},
    {1024, 1024, 1024, "square"},
    {2048, 2048, 2048, "square"},
    {64, 3136, 576, "conv 3x3, 64 ch, 56x56"},
    {64, 512, 576, "adaround 3x3, 64 ch, 32 x 4x4"},
};

struct Operands {
  std::vector<float> a, b, c;
  explicit Operands(const Shape& s)
      : a(static_cast<size_t>(s.m * s.k)),
        b(static_cast<size_t>(s.k * s.n)),
        c(static_cast<size_t>(s.m * s.n)) {
    std::mt19937 rng(7);
    std::uniform_real_distribution<float> uniform(-1.0f, 1.0f);
    for (float& x : a) x = uniform(rng);
    for (float& x : b) x = uniform(rng);
  }
};

// C[:, begin:end] = A * B[:, begin:end], one sgemm per thread on its column chunk.
void sgemm_split(ThreadPool& pool, const Shape& s, Operands& op) {
  pool.parallel_for(s.n, [&](int64_t begin, int64_t end) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(s.m),
                static_cast<int>(end - begin), static_cast<int>(s.k), 1.0f, op.a.data(),
                static_cast<int>(s.k), op.b.data() + begin, static_cast<int>(s.n), 0.0f,
                op.c.data() + begin, static_cast<int>(s.n));
  });
}

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

struct Rate {
  double median = 0, best = 0;
};

Rate measure(ThreadPool& pool, const Shape& s, int repeats, double seconds_per_timing) {
  Operands op(s);
  auto start = std::chrono::steady_clock::now();
  sgemm_split(pool, s, op);  // warm-up, and a first estimate of the time per call
  const int calls = std::max(1, static_cast<int>(seconds_per_timing / seconds_since(start)));
  std::vector<double> rates;
  for (int r = 0; r < repeats; ++r) {
    start = std::chrono::steady_clock::now();
    for (int i = 0; i < calls; ++i) sgemm_split(pool, s, op);
    rates.push_back(s.flop() * calls / seconds_since(start) * 1e-9);
  }
  return {bench::median(rates), *std::max_element(rates.begin(), rates.end())};
}

void run(const std::vector<int64_t>& thread_counts, int repeats, double seconds_per_timing) {
  BlasSingleThreadScope one_blas_thread;  // as qsim's own calls hold it
  std::printf("%-32s %16s %8s %14s %12s\n", "shape", "MxNxK", "threads", "median GFLOP/s",
              "best GFLOP/s");
  for (int64_t count : thread_counts) {
    require(count >= 1, ErrorCode::kInvalidArgument, "--threads: counts must be positive");
    const int threads = static_cast<int>(count);
    ThreadPool pool(threads);
    Rate peak;
    std::string peak_shape;
    for (const Shape& s : kShapes) {
      const Rate rate = measure(pool, s, repeats, seconds_per_timing);
      const std::string dims =
          std::to_string(s.m) + "x" + std::to_string(s.n) + "x" + std::to_string(s.k);
      std::printf("%-32s %16s %8d %14.1f %12.1f\n", s.what, dims.c_str(), threads, rate.median,
                  rate.best);
      if (rate.median > peak.median) {
        peak = rate;
        peak_shape = dims;
      }
    }
    std::printf("sgemm peak: %d threads: %.1f GFLOP/s (%s)\n", threads, peak.median,
                peak_shape.c_str());
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<int64_t> thread_counts = {1, 2};
  int repeats = 7;
  double seconds_per_timing = 0.2;
  try {
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      require(i + 1 < argc, ErrorCode::kInvalidArgument,
              "bench_sgemm_peak: " + a + " needs a value");
      if (a == "--threads")
        thread_counts = bench::parse_list(argv[++i]);
      else if (a == "--repeats")
        repeats = std::max(1, std::stoi(argv[++i]));
      else if (a == "--seconds")
        seconds_per_timing = std::stod(argv[++i]);
      else
        fail(ErrorCode::kInvalidArgument, "bench_sgemm_peak: unknown option '" + a + "'");
    }
    run(thread_counts, repeats, seconds_per_timing);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "bench_sgemm_peak: %s\n", e.what());
    return 2;
  }
}
