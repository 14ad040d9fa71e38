#include "io/idx.h"

#include <zlib.h>

#include <cstring>

namespace qsim {
namespace {

std::string read_gzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) fail(ErrorCode::kIo, "cannot open '" + path + "'");
  std::string bytes;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(file, buffer, sizeof buffer)) > 0) bytes.append(buffer, static_cast<size_t>(n));
  int err = 0;
  const char* message = gzerror(file, &err);
  std::string reason = err < 0 ? message : "";
  gzclose(file);
  if (n < 0 || !reason.empty()) fail(ErrorCode::kParse, "'" + path + "' is corrupt: " + reason);
  return bytes;
}

uint32_t big_endian(const std::string& bytes, size_t at) {
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.data() + at);
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | p[3];
}

}  // namespace

Tensor read_idx(const std::string& path) {
  std::string bytes = read_gzip(path);  // gzread passes plain files through
  if (bytes.size() < 4 || bytes[0] != 0 || bytes[1] != 0 || bytes[2] != 0x08)
    fail(ErrorCode::kParse, "'" + path + "' is not an unsigned-byte IDX file");
  size_t rank = static_cast<uint8_t>(bytes[3]);
  if (rank == 0 || bytes.size() < 4 + 4 * rank) fail(ErrorCode::kParse, "'" + path + "': truncated IDX header");
  Shape shape;
  for (size_t i = 0; i < rank; ++i) shape.push_back(big_endian(bytes, 4 + 4 * i));
  Tensor t(DType::kUInt8, shape);
  size_t offset = 4 + 4 * rank;
  if (bytes.size() - offset < t.byte_size()) fail(ErrorCode::kParse, "'" + path + "': truncated IDX data");
  std::memcpy(t.raw(), bytes.data() + offset, t.byte_size());
  return t;
}

Tensor idx_images_to_nchw(const Tensor& images, int64_t first, int64_t count) {
  require(images.rank() == 3, ErrorCode::kShape, "IDX images must be [N,H,W], got " + images.describe());
  int64_t n = images.dim(0), h = images.dim(1), w = images.dim(2);
  if (count < 0) count = n - first;
  require(first >= 0 && count >= 0 && first + count <= n, ErrorCode::kInvalidArgument,
          "image range out of bounds");
  Tensor out(DType::kFloat32, {count, 1, h, w});
  const uint8_t* src = images.data<uint8_t>() + first * h * w;
  float* dst = out.data<float>();
  for (int64_t i = 0; i < count * h * w; ++i) dst[i] = static_cast<float>(src[i]) / 255.0f;
  return out;
}

}  // namespace qsim
