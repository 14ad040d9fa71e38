// The calibration samples a tuning technique (AdaRound, AdaQuant, bias correction) reads once
// from the caller's stream and then draws from as often as it needs: every model input of a
// sample in one block of a SampleCache, in memory within a byte budget and in an unlinked
// temporary file past it. The batches come through a CalibrationStream (checked against the
// model's inputs, NaN/Inf handled by the session's NanPolicy); the cache also needs float
// inputs of one sample shape with as many samples in every input.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "quant/quantsim.h"
#include "runtime/engine.h"
#include "techniques/layer_input_cache.h"

namespace qsim {

class ModelSamples {
 public:
  // Reads batches until `limit` samples or the end of the stream. `engine` checks the batches
  // against the model's inputs; `technique` starts every message ("adaround: ...").
  // kUnsupported for non-float inputs, kShape for samples of another shape, kNumeric for
  // NaN/Inf under NanPolicy::kReject (kExclude drops those samples), kIo from the cache's file.
  ModelSamples(const Engine& engine, const BatchReader& next_batch, NanPolicy nan_policy,
               int64_t limit, MemoryBudget& budget, std::string technique);

  int64_t count() const { return count_; }

  // Samples [first, first + count) as model inputs.
  std::vector<Tensor> batch(int64_t first, int64_t count) const;

 private:
  void check_batch(const Graph& graph, const std::vector<Tensor>& batch) const;
  void start(const std::vector<Tensor>& batch, int64_t limit, MemoryBudget& budget);
  void append(const std::vector<Tensor>& batch, int64_t limit);

  std::string technique_;
  std::vector<Shape> shapes_;     // per input, with a batch of 1
  std::vector<int64_t> offsets_;  // of each input in a sample block, then the block size
  std::unique_ptr<SampleCache> cache_;
  int64_t count_ = 0;
};

}  // namespace qsim
