#include "techniques/layer_input_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <new>

#include "util/error.h"
#include "util/integer_math.h"

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

// Moves `size` bytes between `bytes` and offset `at` of `fd` with `io` (pread or pwrite),
// resuming after short transfers and EINTR; throws kIo with what_failed() and the reason. The
// message is built only on failure: reads run per sample and iteration.
template <typename Byte, typename Io, typename Message>
void transfer_all(int fd, Byte* bytes, size_t size, off_t at, const Io& io, const char* at_end,
                  const Message& what_failed) {
  while (size > 0) {
    const ssize_t moved = io(fd, bytes, size, at);
    if (moved < 0 && errno == EINTR) continue;
    if (moved <= 0)
      fail(ErrorCode::kIo, what_failed() + ": " + (moved < 0 ? std::strerror(errno) : at_end));
    bytes += moved;
    size -= static_cast<size_t>(moved);
    at += moved;
  }
}

constexpr int64_t kHugePage = int64_t{2} << 20;
constexpr int64_t kCacheLine = 64;

// The bytes an in-memory cache of `bytes` reserves: whole huge pages from kHugePage on.
int64_t reserved_bytes(int64_t bytes) {
  return std::max(kCacheLine, round_up(bytes, bytes >= kHugePage ? kHugePage : kCacheLine));
}

// Uninitialized (zeroing would touch every page once more before the writes do), aligned to
// its page size; advice failing (no transparent huge pages) leaves ordinary pages.
float* allocate_cache(int64_t reserved) {
  const int64_t alignment = reserved >= kHugePage ? kHugePage : kCacheLine;
  void* memory = std::aligned_alloc(static_cast<size_t>(alignment), static_cast<size_t>(reserved));
  if (memory == nullptr) throw std::bad_alloc();
  if (alignment == kHugePage) ::madvise(memory, static_cast<size_t>(reserved), MADV_HUGEPAGE);
  return static_cast<float*>(memory);
}

}  // namespace

void SampleCache::Release::operator()(float* memory) const {
  std::free(memory);
}

bool MemoryBudget::try_take(int64_t bytes) {
  if (bytes > available_) return false;
  available_ -= bytes;
  return true;
}

SampleCache::SampleCache(int64_t samples, int64_t sample_floats, MemoryBudget& budget,
                         std::string what)
    : samples_(samples), sample_floats_(sample_floats), budget_(budget), what_(std::move(what)) {
  const int64_t reserved =
      reserved_bytes(samples * sample_floats * static_cast<int64_t>(sizeof(float)));
  if (budget_.try_take(reserved)) {
    reserved_bytes_ = reserved;
    try {
      memory_.reset(allocate_cache(reserved));
    } catch (...) {
      budget_.give_back(reserved);
      throw;
    }
    return;
  }
  fd_ = open_unlinked_temp_file(path_);
}

SampleCache::~SampleCache() {
  if (in_memory()) {
    budget_.give_back(reserved_bytes_);
  } else {
    ::close(fd_);
  }
}

int64_t SampleCache::byte_offset(int64_t sample) const {
  return sample * static_cast<int64_t>(sample_bytes());
}

void SampleCache::write(int64_t sample, const float* block) {
  if (in_memory()) {
    std::memcpy(memory_.get() + sample * sample_floats_, block, sample_bytes());
    return;
  }
  transfer_all(fd_, reinterpret_cast<const char*>(block), sample_bytes(), byte_offset(sample),
               ::pwrite, "no space written", [&] {
                 return "cannot write the " + what_ + " to the temporary file '" + path_ + "'";
               });
}

const float* SampleCache::read(int64_t sample, float* scratch) const {
  if (in_memory()) return memory_.get() + sample * sample_floats_;
  transfer_all(
      fd_, reinterpret_cast<char*>(scratch), sample_bytes(), byte_offset(sample), ::pread,
      "unexpected end of file",
      [&] { return "cannot read the " + what_ + " back from the temporary file '" + path_ + "'"; });
  return scratch;
}

}  // namespace qsim
