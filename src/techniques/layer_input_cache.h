// The per-sample caches of AdaRound: one fixed-size block of floats per calibration sample
// (a model input, a layer's lowered input, a layer's target). A cache lives in memory while a
// shared byte budget allows, and otherwise in a temporary file that is unlinked as soon as it
// is created (so nothing is left behind, whatever happens to the process) and read back with
// pread: the page cache holds it, not the process's resident memory. In memory, caches of 2 MiB
// and more ask for transparent huge pages: filling them takes 1/512 of the page faults, and
// the optimization's random reads of samples stay within the TLB's reach.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

namespace qsim {

// Bytes still allowed in memory. Not thread-safe; caches take and return their share.
class MemoryBudget {
 public:
  explicit MemoryBudget(int64_t bytes) : available_(bytes) {}
  bool try_take(int64_t bytes);
  void give_back(int64_t bytes) { available_ += bytes; }

 private:
  int64_t available_;
};

class SampleCache {
 public:
  // `what` names the cache in I/O errors ("inputs of Conv 'conv1'").
  SampleCache(int64_t samples, int64_t sample_floats, MemoryBudget& budget, std::string what);
  ~SampleCache();
  SampleCache(const SampleCache&) = delete;
  SampleCache& operator=(const SampleCache&) = delete;

  int64_t samples() const { return samples_; }
  int64_t sample_floats() const { return sample_floats_; }
  bool in_memory() const { return memory_ != nullptr; }

  void write(int64_t sample, const float* block);
  // Sample `sample`'s block: in memory, or read into `scratch` (sample_floats() floats).
  // Safe to call from several threads at once.
  const float* read(int64_t sample, float* scratch) const;

 private:
  struct Release {
    void operator()(float* memory) const;
  };

  size_t sample_bytes() const { return static_cast<size_t>(sample_floats_) * sizeof(float); }
  int64_t byte_offset(int64_t sample) const;

  int64_t samples_;
  int64_t sample_floats_;
  MemoryBudget& budget_;
  std::string what_;
  std::unique_ptr<float[], Release> memory_;  // null when on file
  int64_t reserved_bytes_ = 0;                // of the budget, for memory_
  int fd_ = -1;
  std::string path_;  // of the (unlinked) file, for messages
};

}  // namespace qsim
