#include "io/npy.h"

#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "io/atomic_file.h"

namespace qsim {
namespace {

const char kMagic[] = "\x93NUMPY";

DType dtype_from_descr(const std::string& descr, const std::string& name) {
  if (descr == "<f4" || descr == "f4") return DType::kFloat32;
  if (descr == "|u1" || descr == "u1" || descr == "<u1") return DType::kUInt8;
  if (descr == "|i1" || descr == "i1" || descr == "<i1") return DType::kInt8;
  if (descr == "<i4" || descr == "i4") return DType::kInt32;
  if (descr == "<i8" || descr == "i8") return DType::kInt64;
  if (descr == "|b1" || descr == "b1") return DType::kBool;
  fail(ErrorCode::kUnsupported, name + ": .npy dtype '" + descr +
                                    "' is not supported (float32, uint8, int8, int32, int64, bool)");
}

const char* descr_of(DType dtype) {
  switch (dtype) {
    case DType::kFloat32: return "<f4";
    case DType::kUInt8: return "|u1";
    case DType::kInt8: return "|i1";
    case DType::kInt32: return "<i4";
    case DType::kInt64: return "<i8";
    case DType::kBool: return "|b1";
    default: fail(ErrorCode::kUnsupported, "cannot write a tensor of dtype undefined to .npy");
  }
}

// The raw text of `key`'s value in the header dict: a quoted string, a tuple, or a word.
std::string header_field(const std::string& header, const std::string& key, const std::string& name) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) at = header.find("\"" + key + "\"");
  if (at == std::string::npos) fail(ErrorCode::kParse, name + ": .npy header has no '" + key + "'");
  size_t colon = header.find(':', at + key.size() + 2);
  if (colon == std::string::npos) fail(ErrorCode::kParse, name + ": malformed .npy header");
  size_t begin = header.find_first_not_of(' ', colon + 1);
  if (begin == std::string::npos) fail(ErrorCode::kParse, name + ": malformed .npy header");
  char open = header[begin];
  size_t end;
  if (open == '(') end = header.find(')', begin);
  else if (open == '\'' || open == '"') end = header.find(open, begin + 1);
  else end = header.find_first_of(",}", begin) - 1;
  if (end == std::string::npos || end < begin) fail(ErrorCode::kParse, name + ": malformed .npy header");
  return header.substr(begin, end - begin + 1);
}

Shape parse_shape(const std::string& text, const std::string& name) {
  Shape shape;
  std::string inner = text;
  if (inner.size() < 2 || inner.front() != '(' || inner.back() != ')')
    fail(ErrorCode::kParse, name + ": malformed .npy shape '" + text + "'");
  inner = inner.substr(1, inner.size() - 2);
  size_t pos = 0;
  while (pos < inner.size()) {
    size_t comma = inner.find(',', pos);
    std::string item = inner.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    item.erase(0, item.find_first_not_of(" L"));
    item.erase(item.find_last_not_of(" L") + 1);
    if (!item.empty()) {
      char* end = nullptr;
      long long d = std::strtoll(item.c_str(), &end, 10);
      if (*end != '\0' || d < 0) fail(ErrorCode::kParse, name + ": malformed .npy shape '" + text + "'");
      shape.push_back(d);
    }
    if (comma == std::string::npos) break;
    pos = comma + 1;
  }
  return shape;
}

std::string strip_quotes(std::string s) {
  s.erase(0, s.find_first_not_of(" '\""));
  s.erase(s.find_last_not_of(" '\"") + 1);
  return s;
}

}  // namespace

Tensor parse_npy(const void* data, size_t size, const std::string& name) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  if (size < 10 || std::memcmp(bytes, kMagic, 6) != 0)
    fail(ErrorCode::kParse, name + ": not a .npy file (bad magic)");
  uint8_t major = bytes[6];
  size_t header_len = 0, header_start = 0;
  if (major == 1) {
    header_len = bytes[8] | (bytes[9] << 8);
    header_start = 10;
  } else if (major == 2 || major == 3) {
    if (size < 12) fail(ErrorCode::kParse, name + ": truncated .npy header");
    header_len = bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (static_cast<size_t>(bytes[11]) << 24);
    header_start = 12;
  } else {
    fail(ErrorCode::kUnsupported, name + ": .npy format version " + std::to_string(major) + " is not supported");
  }
  if (header_start + header_len > size) fail(ErrorCode::kParse, name + ": truncated .npy header");
  std::string header(reinterpret_cast<const char*>(bytes + header_start), header_len);
  std::string fortran = strip_quotes(header_field(header, "fortran_order", name));
  if (fortran == "True")
    fail(ErrorCode::kUnsupported, name + ": Fortran-order .npy arrays are not supported; save in C order");
  if (fortran != "False") fail(ErrorCode::kParse, name + ": malformed fortran_order in .npy header");
  DType dtype = dtype_from_descr(strip_quotes(header_field(header, "descr", name)), name);
  Shape shape = parse_shape(header_field(header, "shape", name), name);
  Tensor t(dtype, shape);
  size_t offset = header_start + header_len;
  if (size - offset < t.byte_size())
    fail(ErrorCode::kParse, name + ": truncated .npy data: " + std::to_string(size - offset) +
                                " bytes for " + t.describe() + " (" + std::to_string(t.byte_size()) + " needed)");
  if (t.byte_size() > 0) std::memcpy(t.raw(), bytes + offset, t.byte_size());
  return t;
}

Tensor read_npy(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCode::kIo, "cannot open '" + path + "': " + std::strerror(errno));
  std::string bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  return parse_npy(bytes.data(), bytes.size(), "'" + path + "'");
}

void write_npy(const std::string& path, const Tensor& tensor) {
  std::string shape = "(";
  for (size_t i = 0; i < tensor.shape().size(); ++i)
    shape += std::to_string(tensor.shape()[i]) + (tensor.shape().size() == 1 ? "," : (i + 1 < tensor.shape().size() ? ", " : ""));
  shape += ")";
  std::string header = std::string("{'descr': '") + descr_of(tensor.dtype()) +
                       "', 'fortran_order': False, 'shape': " + shape + ", }";
  size_t unpadded = 10 + header.size() + 1;
  header += std::string((64 - unpadded % 64) % 64, ' ') + "\n";
  std::string out(kMagic, 6);
  out += '\x01';
  out += '\x00';
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>((header.size() >> 8) & 0xff);
  out += header;
  out.append(static_cast<const char*>(tensor.raw()), tensor.byte_size());
  write_file_atomically(path, out);
}

}  // namespace qsim
