#include "io/npy.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "io/atomic_file.h"
#include "util/read_file.h"

namespace qsim {
namespace {

const char kMagic[] = "\x93NUMPY";

DType dtype_from_descr(const std::string& descr, const std::string& name) {
  if (descr == "<f4" || descr == "f4") return DType::kFloat32;
  if (descr == "|u1" || descr == "u1" || descr == "<u1") return DType::kUInt8;
  if (descr == "|i1" || descr == "i1" || descr == "<i1") return DType::kInt8;
  if (descr == "<u2" || descr == "u2") return DType::kUInt16;
  if (descr == "<i2" || descr == "i2") return DType::kInt16;
  if (descr == "<i4" || descr == "i4") return DType::kInt32;
  if (descr == "<i8" || descr == "i8") return DType::kInt64;
  if (descr == "|b1" || descr == "b1") return DType::kBool;
  fail(ErrorCode::kUnsupported,
       name + ": .npy dtype '" + descr +
           "' is not supported (float32, uint8, int8, uint16, int16, int32, int64, bool)");
}

const char* descr_of(DType dtype) {
  switch (dtype) {
    case DType::kFloat32:
      return "<f4";
    case DType::kUInt8:
      return "|u1";
    case DType::kInt8:
      return "|i1";
    case DType::kUInt16:
      return "<u2";
    case DType::kInt16:
      return "<i2";
    case DType::kInt32:
      return "<i4";
    case DType::kInt64:
      return "<i8";
    case DType::kBool:
      return "|b1";
    default:
      fail(ErrorCode::kUnsupported, "cannot write a tensor of dtype undefined to .npy");
  }
}

// The raw text of `key`'s value in the header dict: a quoted string, a tuple, or a word.
std::string header_field(const std::string& header, const std::string& key,
                         const std::string& name) {
  size_t at = header.find("'" + key + "'");
  if (at == std::string::npos) at = header.find("\"" + key + "\"");
  if (at == std::string::npos) fail(ErrorCode::kParse, name + ": .npy header has no '" + key + "'");
  size_t colon = header.find(':', at + key.size() + 2);
  if (colon == std::string::npos) fail(ErrorCode::kParse, name + ": malformed .npy header");
  size_t begin = header.find_first_not_of(' ', colon + 1);
  if (begin == std::string::npos) fail(ErrorCode::kParse, name + ": malformed .npy header");
  char open = header[begin];
  size_t end;
  if (open == '(')
    end = header.find(')', begin);
  else if (open == '\'' || open == '"')
    end = header.find(open, begin + 1);
  else
    end = header.find_first_of(",}", begin) - 1;
  if (end == std::string::npos || end < begin)
    fail(ErrorCode::kParse, name + ": malformed .npy header");
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
    std::string item =
        inner.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos);
    item.erase(0, item.find_first_not_of(" L"));
    item.erase(item.find_last_not_of(" L") + 1);
    if (!item.empty()) {
      char* end = nullptr;
      long long d = std::strtoll(item.c_str(), &end, 10);
      if (*end != '\0' || d < 0)
        fail(ErrorCode::kParse, name + ": malformed .npy shape '" + text + "'");
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

const uint8_t* as_bytes(const std::string& s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

// The longest preamble: magic, version, and a 4-byte header length (format 2.0 and 3.0).
constexpr size_t kMaxPreambleBytes = 12;
// The longest header (preamble and dict) read; NumPy writes under 100 bytes of dict and
// refuses to read more than 10000 by default.
constexpr size_t kMaxNpyHeaderBytes = size_t{1} << 20;

struct NpyHeader {
  DType dtype = DType::kUndefined;
  Shape shape;
  size_t data_offset = 0;  // where the array data starts in the file
};

// Where the header dict ends (= the data starts), from the file's first kMaxPreambleBytes.
size_t data_offset_from_preamble(const uint8_t* bytes, size_t size, const std::string& name) {
  if (size < 10 || std::memcmp(bytes, kMagic, 6) != 0)
    fail(ErrorCode::kParse, name + ": not a .npy file (bad magic)");
  const uint8_t major = bytes[6];
  if (major == 1) return 10 + (bytes[8] | (bytes[9] << 8));
  if (major != 2 && major != 3)
    fail(ErrorCode::kUnsupported,
         name + ": .npy format version " + std::to_string(major) + " is not supported");
  if (size < kMaxPreambleBytes) fail(ErrorCode::kParse, name + ": truncated .npy header");
  return 12 +
         (bytes[8] | (bytes[9] << 8) | (bytes[10] << 16) | (static_cast<size_t>(bytes[11]) << 24));
}

// `bytes` holds at least the preamble and the header dict.
NpyHeader parse_header(const uint8_t* bytes, size_t size, const std::string& name) {
  NpyHeader h;
  h.data_offset = data_offset_from_preamble(bytes, size, name);
  if (h.data_offset > size) fail(ErrorCode::kParse, name + ": truncated .npy header");
  const size_t header_start = bytes[6] == 1 ? 10 : 12;
  const std::string header(reinterpret_cast<const char*>(bytes + header_start),
                           h.data_offset - header_start);
  const std::string fortran = strip_quotes(header_field(header, "fortran_order", name));
  if (fortran == "True")
    fail(ErrorCode::kUnsupported,
         name + ": Fortran-order .npy arrays are not supported; save in C order");
  if (fortran != "False")
    fail(ErrorCode::kParse, name + ": malformed fortran_order in .npy header");
  h.dtype = dtype_from_descr(strip_quotes(header_field(header, "descr", name)), name);
  h.shape = parse_shape(header_field(header, "shape", name), name);
  return h;
}

// Checks that `available` bytes after the header hold the whole array, before anything is
// allocated for it: a corrupt shape must fail here, not in the allocator.
size_t check_data_bytes(const NpyHeader& h, size_t available, const std::string& name) {
  size_t needed = dtype_size(h.dtype);
  bool overflow = false;
  for (int64_t d : h.shape) overflow = overflow || __builtin_mul_overflow(needed, d, &needed);
  if (overflow || available < needed)
    fail(ErrorCode::kParse, name + ": truncated .npy data: " + std::to_string(available) +
                                " bytes for " + dtype_name(h.dtype) + shape_to_string(h.shape) +
                                " (" + (overflow ? "more than 2^64" : std::to_string(needed)) +
                                " needed)");
  return needed;
}

// Reads the preamble and the header dict at the start of `in`, a file of `file_bytes` bytes:
// the header length the preamble declares is checked against both before it is read.
NpyHeader read_header(std::ifstream& in, size_t file_bytes, const std::string& name) {
  std::string bytes(kMaxPreambleBytes, '\0');
  in.read(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  bytes.resize(static_cast<size_t>(in.gcount()));
  const size_t data_offset = data_offset_from_preamble(as_bytes(bytes), bytes.size(), name);
  if (data_offset > file_bytes)
    fail(ErrorCode::kParse, name + ": truncated .npy header: the preamble claims " +
                                std::to_string(data_offset) + " header bytes, the file has " +
                                std::to_string(file_bytes));
  if (data_offset > kMaxNpyHeaderBytes)
    fail(ErrorCode::kParse, name + ": the preamble claims " + std::to_string(data_offset) +
                                " header bytes; a .npy header may have at most " +
                                std::to_string(kMaxNpyHeaderBytes));
  if (data_offset > bytes.size()) {
    const size_t have = bytes.size();
    bytes.resize(data_offset);
    in.read(bytes.data() + have, static_cast<std::streamsize>(data_offset - have));
    bytes.resize(have + static_cast<size_t>(in.gcount()));
  }
  return parse_header(as_bytes(bytes), bytes.size(), name);
}

std::string quoted(const std::string& path) {
  return "'" + path + "'";
}

std::ifstream open_for_reading(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) fail(ErrorCode::kIo, "cannot open " + quoted(path) + ": " + std::strerror(errno));
  return in;
}

}  // namespace

Tensor parse_npy(const void* data, size_t size, const std::string& name) {
  const auto* bytes = static_cast<const uint8_t*>(data);
  const NpyHeader h = parse_header(bytes, size, name);
  check_data_bytes(h, size - h.data_offset, name);
  Tensor t = Tensor::uninitialized(h.dtype, h.shape);
  if (t.byte_size() > 0) std::memcpy(t.raw(), bytes + h.data_offset, t.byte_size());
  return t;
}

Tensor read_npy(const std::string& path) {
  const std::string bytes = read_file_bytes(path);
  return parse_npy(bytes.data(), bytes.size(), quoted(path));
}

NpyRowReader::NpyRowReader(const std::string& path) : path_(path), in_(open_for_reading(path)) {
  in_.seekg(0, std::ios::end);
  const auto file_bytes = static_cast<size_t>(std::max<std::streamoff>(0, in_.tellg()));
  in_.seekg(0);
  const NpyHeader h = read_header(in_, file_bytes, quoted(path));
  if (h.shape.empty())
    fail(ErrorCode::kShape, quoted(path) + ": a scalar .npy array has no rows to read");
  in_.clear();
  const size_t data_bytes =
      check_data_bytes(h, file_bytes - std::min(file_bytes, h.data_offset), quoted(path));
  // Rows of no bytes would be "read" forever without touching the file: 1e12 of them fit in
  // a 100-byte file.
  if (data_bytes == 0 && h.shape[0] > 0)
    fail(ErrorCode::kShape, quoted(path) + ": the " + std::to_string(h.shape[0]) + " rows of " +
                                dtype_name(h.dtype) + shape_to_string(h.shape) + " hold no values");
  dtype_ = h.dtype;
  shape_ = h.shape;
  data_offset_ = h.data_offset;
  row_bytes_ = rows() == 0 ? 0 : data_bytes / static_cast<size_t>(rows());
}

Tensor NpyRowReader::read_rows(int64_t first, int64_t count) {
  require(first >= 0 && count >= 0 && first <= rows() && count <= rows() - first,
          ErrorCode::kInvalidArgument,
          quoted(path_) + ": " + std::to_string(count) + " rows from row " + std::to_string(first) +
              " are outside the " + std::to_string(rows()) + " rows of the array");
  Shape slice_shape = shape_;
  slice_shape[0] = count;
  Tensor slice = Tensor::uninitialized(dtype_, slice_shape);
  in_.clear();
  in_.seekg(static_cast<std::streamoff>(data_offset_ + static_cast<size_t>(first) * row_bytes_));
  in_.read(static_cast<char*>(slice.raw()), static_cast<std::streamsize>(slice.byte_size()));
  // The file was long enough when opened: a short read means it changed since.
  require(static_cast<size_t>(in_.gcount()) == slice.byte_size(), ErrorCode::kIo,
          "cannot read " + quoted(path_) + " at row " + std::to_string(first) +
              ": the file is shorter than its header says");
  return slice;
}

void write_npy(const std::string& path, const Tensor& tensor) {
  std::string shape = "(";
  for (size_t i = 0; i < tensor.shape().size(); ++i)
    shape += std::to_string(tensor.shape()[i]) +
             (tensor.shape().size() == 1 ? "," : (i + 1 < tensor.shape().size() ? ", " : ""));
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
