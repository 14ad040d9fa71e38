// SHA-256 (FIPS 180-4), used to fingerprint the source model in encodings files so that a
// runtime can tell which model a set of encodings belongs to.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

namespace qsim {

class Sha256 {
 public:
  Sha256();
  void update(const void* data, size_t size);
  // The digest of everything passed to update(); the object must not be updated afterwards.
  std::array<uint8_t, 32> finish();

 private:
  void compress(const uint8_t* block);

  std::array<uint32_t, 8> state_;
  std::array<uint8_t, 64> pending_{};
  size_t pending_size_ = 0;
  uint64_t total_bytes_ = 0;
};

// Lowercase hex digest of `size` bytes.
std::string sha256_hex(const void* data, size_t size);
// Lowercase hex digest of a file's bytes, read in chunks; kIo naming the file when unreadable.
std::string sha256_file_hex(const std::string& path);

}  // namespace qsim
