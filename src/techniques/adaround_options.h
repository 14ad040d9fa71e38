// Options and results of AdaRound and AdaQuant (techniques/adaround.h). The defaults are the
// peers': AIMET's AdaRound (AdaroundParameters and its loss) and AMD Quark's fast finetune for
// AdaQuant (docs/SOURCES.md section 5). docs/ADAROUND.md says where qsim differs and why.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace qsim {

enum class AdaRoundMode {
  kAdaRound,  // learns whether each weight rounds up or down (Nagel et al. 2020)
  kAdaQuant,  // trains the weights themselves through fixed grids (straight-through rounding)
};

// Quark's fast-finetune options for AdaQuant.
struct AdaQuantOptions {
  int64_t iterations = 1000;
  double learning_rate = 1e-5;
  // Stops a layer once the mean loss of a window of iterations (a tenth of them) is no lower
  // than the previous window's.
  bool early_stop = false;
  bool train_bias = false;  // also trains biases that are a plain [output channels] vector
};

struct AdaRoundOptions {
  AdaRoundMode mode = AdaRoundMode::kAdaRound;
  // AdaRound (AIMET's defaults).
  int64_t iterations = 10000;
  double regularization = 0.01;  // lambda of the rounding term
  double beta_start = 20.0;
  double beta_end = 2.0;
  double warm_start = 0.2;  // share of iterations without the rounding term
  double learning_rate = 1e-3;
  double zeta = 1.1;    // rectified sigmoid stretch: h(V) = clamp(sigmoid(V) (zeta - gamma)
  double gamma = -0.1;  //                                 + gamma, 0, 1)
  // Both modes.
  int64_t batch_samples = 32;  // calibration samples drawn per iteration
  int64_t samples = 1024;      // calibration samples read (the first ones the reader gives)
  uint64_t seed = 0;           // the draws; results are bit-identical for a seed
  // 0: the session's pool (QuantSimOptions::thread_pool), or the hardware's without one;
  // another count: a pool of its own for the run. Results do not depend on it.
  int num_threads = 0;
  // Bytes the per-layer sample caches may hold in memory; past it they go to an unlinked
  // temporary file. Results do not depend on it.
  int64_t memory_budget_bytes = int64_t{512} << 20;
  AdaQuantOptions adaquant;

  int64_t mode_iterations() const {
    return mode == AdaRoundMode::kAdaRound ? iterations : adaquant.iterations;
  }
};

// Throws kInvalidArgument naming the first option out of range (zero iterations or samples,
// a learning rate that is not positive, ...).
void check_adaround_options(const AdaRoundOptions& options);

struct AdaRoundLayerReport {
  std::string layer;       // "Conv '/layer1/conv1/Conv'"
  std::string weight;      // the weight initializer
  std::string activation;  // the activation the target passes through ("Relu", "identity")
  // The loss used the inputs' second moments over every sample (a layer with no
  // nonlinearity after it) rather than a random minibatch per iteration.
  bool second_moments = false;
  int64_t iterations = 0;  // run (fewer than asked when AdaQuant stopped early)
  // Reconstruction loss over every calibration sample with nearest rounding and with the
  // result.
  double nearest_loss = 0.0;
  double final_loss = 0.0;
  double seconds = 0.0;  // wall time of the iterations
  double flops = 0.0;    // floating-point operations of the iterations' matrix products
};

struct AdaRoundReport {
  std::vector<AdaRoundLayerReport> layers;
  std::vector<std::string> notes;  // layers left with nearest rounding, and why
  int64_t samples = 0;             // calibration samples used
  double seconds = 0.0;            // wall time of every layer's caching and iterations
  // "adaround: 10 layers, 1024 samples, 100000 iterations, 41.2 s, 1234.5 GFLOP, 50.1 GFLOP/s"
  // (the iterations' matrix products over the iterations' own time).
  std::string summary;
};

}  // namespace qsim
