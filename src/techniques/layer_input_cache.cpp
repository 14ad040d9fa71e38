#include "techniques/layer_input_cache.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "util/error.h"

namespace qsim {
namespace {

// A new empty file in the temporary folder, already unlinked; its descriptor.
int open_unlinked_temp_file(std::string& path) {
  std::string name = (std::filesystem::temp_directory_path() / "qsim-adaround-XXXXXX").string();
  const int fd = ::mkstemp(name.data());
  require(fd >= 0, ErrorCode::kIo,
          "cannot create a temporary file '" + name + "': " + std::strerror(errno));
  ::unlink(name.c_str());
  path = name;
  return fd;
}

}  // namespace

bool MemoryBudget::try_take(int64_t bytes) {
  if (bytes > available_) return false;
  available_ -= bytes;
  return true;
}

SampleCache::SampleCache(int64_t samples, int64_t sample_floats, MemoryBudget& budget,
                         std::string what)
    : samples_(samples), sample_floats_(sample_floats), budget_(budget), what_(std::move(what)) {
  const int64_t bytes = samples * sample_floats * static_cast<int64_t>(sizeof(float));
  if (budget_.try_take(bytes)) {
    // Uninitialized: zeroing would touch every page once more before the writes do.
    memory_ = std::make_unique_for_overwrite<float[]>(static_cast<size_t>(samples * sample_floats));
    return;
  }
  fd_ = open_unlinked_temp_file(path_);
}

SampleCache::~SampleCache() {
  if (in_memory()) {
    budget_.give_back(samples_ * sample_floats_ * static_cast<int64_t>(sizeof(float)));
  } else {
    ::close(fd_);
  }
}

int64_t SampleCache::byte_offset(int64_t sample) const {
  return sample * sample_floats_ * static_cast<int64_t>(sizeof(float));
}

void SampleCache::write(int64_t sample, const float* block) {
  if (in_memory()) {
    std::memcpy(memory_.get() + sample * sample_floats_, block,
                static_cast<size_t>(sample_floats_) * sizeof(float));
    return;
  }
  const auto* bytes = reinterpret_cast<const char*>(block);
  size_t left = static_cast<size_t>(sample_floats_) * sizeof(float);
  off_t at = byte_offset(sample);
  while (left > 0) {
    const ssize_t written = ::pwrite(fd_, bytes, left, at);
    if (written < 0 && errno == EINTR) continue;
    require(written > 0, ErrorCode::kIo,
            "cannot write the " + what_ + " to the temporary file '" + path_ +
                "': " + (written < 0 ? std::strerror(errno) : "no space written"));
    bytes += written;
    left -= static_cast<size_t>(written);
    at += written;
  }
}

const float* SampleCache::read(int64_t sample, float* scratch) const {
  if (in_memory()) return memory_.get() + sample * sample_floats_;
  auto* bytes = reinterpret_cast<char*>(scratch);
  size_t left = static_cast<size_t>(sample_floats_) * sizeof(float);
  off_t at = byte_offset(sample);
  while (left > 0) {
    const ssize_t got = ::pread(fd_, bytes, left, at);
    if (got < 0 && errno == EINTR) continue;
    require(got > 0, ErrorCode::kIo,
            "cannot read the " + what_ + " back from the temporary file '" + path_ +
                "': " + (got < 0 ? std::strerror(errno) : "unexpected end of file"));
    bytes += got;
    left -= static_cast<size_t>(got);
    at += got;
  }
  return scratch;
}

}  // namespace qsim
