#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "io/npy.h"

using namespace qsim;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("qsim-test-" + name)).string();
}

std::string npy_bytes(const std::string& header_dict, const std::string& payload) {
  std::string header = header_dict;
  size_t total = 10 + header.size() + 1;
  header += std::string((64 - total % 64) % 64, ' ') + "\n";
  std::string out("\x93NUMPY\x01\x00", 8);
  out += static_cast<char>(header.size() & 0xff);
  out += static_cast<char>(header.size() >> 8);
  return out + header + payload;
}

}  // namespace

TEST_CASE("npy round-trips every supported dtype") {
  for (DType dtype : {DType::kFloat32, DType::kUInt8, DType::kInt8, DType::kInt32, DType::kInt64, DType::kBool}) {
    Tensor t(dtype, {2, 3});
    auto* bytes = static_cast<uint8_t*>(t.raw());
    for (size_t i = 0; i < t.byte_size(); ++i) bytes[i] = static_cast<uint8_t>(dtype == DType::kBool ? i % 2 : i * 7);
    std::string path = temp_path("roundtrip.npy");
    write_npy(path, t);
    Tensor back = read_npy(path);
    CHECK(back.dtype() == dtype);
    CHECK(back.shape() == t.shape());
    CHECK(std::memcmp(back.raw(), t.raw(), t.byte_size()) == 0);
    std::filesystem::remove(path);
  }
}

TEST_CASE("npy handles scalars and 1-D shapes") {
  Tensor scalar(DType::kFloat32, {});
  *scalar.data<float>() = 2.5f;
  std::string path = temp_path("scalar.npy");
  write_npy(path, scalar);
  Tensor back = read_npy(path);
  CHECK(back.shape().empty());
  CHECK(*back.data<float>() == 2.5f);
  Tensor vec(DType::kInt64, {5});
  write_npy(path, vec);
  CHECK(read_npy(path).shape() == Shape{5});
  std::filesystem::remove(path);
}

TEST_CASE("npy rejects bad files with messages naming the problem") {
  auto error_of = [](const std::string& bytes) {
    try {
      parse_npy(bytes.data(), bytes.size(), "x.npy");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  CHECK_THAT(error_of("hello world, not numpy"), Catch::Contains("bad magic"));
  CHECK_THAT(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': True, 'shape': (2, 2), }", std::string(16, '\0'))),
             Catch::Contains("Fortran"));
  CHECK_THAT(error_of(npy_bytes("{'descr': '<f8', 'fortran_order': False, 'shape': (2,), }", std::string(16, '\0'))),
             Catch::Contains("<f8"));
  CHECK_THAT(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", std::string(8, '\0'))),
             Catch::Contains("truncated"));
  CHECK_THAT(error_of(npy_bytes("{'descr': '<f4', 'fortran_order': False, }", "")), Catch::Contains("shape"));
  std::string good = npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", std::string(16, '\0'));
  CHECK_THAT(error_of(good.substr(0, 20)), Catch::Contains("truncated"));
}

TEST_CASE("npy read of a missing file names the path") {
  REQUIRE_THROWS_WITH(read_npy("/nonexistent/dir/x.npy"), Catch::Contains("/nonexistent/dir/x.npy"));
}

TEST_CASE("npy write into an unwritable folder fails and leaves nothing behind") {
  Tensor t(DType::kFloat32, {1});
  REQUIRE_THROWS_AS(write_npy("/nonexistent/dir/x.npy", t), Error);
}
