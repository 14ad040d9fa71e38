#include <algorithm>
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <limits>
#include <utility>

#include "io/npy.h"
#include "test_quantsim_data.h"

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

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

// The error code and message of what `fn` throws.
std::pair<ErrorCode, std::string> thrown_by(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return {e.code(), e.what()};
  }
  return {ErrorCode::kInternal, "no error"};
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

TEST_CASE("npy row reader streams Fashion-MNIST images in batches equal to the whole file") {
  const Tensor images = testdata::train_images(0, 150);
  const std::string path = temp_path("rows.npy");
  write_npy(path, images);
  NpyRowReader reader(path);
  CHECK(reader.dtype() == DType::kFloat32);
  CHECK(reader.shape() == images.shape());
  REQUIRE(reader.rows() == 150);
  const size_t image_bytes = images.byte_size() / 150;
  // Batches of 64 out of order, and the short last one, hold exactly the file's rows.
  for (int64_t first : {64, 0, 128}) {
    const Tensor batch = reader.read_rows(first, std::min<int64_t>(64, 150 - first));
    CHECK(batch.shape() == Shape{batch.dim(0), 1, 28, 28});
    CHECK(std::memcmp(batch.raw(), static_cast<const char*>(images.raw()) + first * image_bytes,
                      batch.byte_size()) == 0);
  }
  CHECK(reader.read_rows(150, 0).shape() == Shape{0, 1, 28, 28});
  std::filesystem::remove(path);
}

TEST_CASE("npy row reader reads format 2.0 headers") {
  std::string header = "{'descr': '<i4', 'fortran_order': False, 'shape': (3, 2), }";
  header += std::string((64 - (12 + header.size() + 1) % 64) % 64, ' ') + "\n";
  std::string bytes("\x93NUMPY\x02\x00", 8);
  for (int shift : {0, 8, 16, 24}) bytes += static_cast<char>((header.size() >> shift) & 0xff);
  const int32_t values[6] = {1, 2, 3, 4, 5, 6};
  bytes += header + std::string(reinterpret_cast<const char*>(values), sizeof values);
  const std::string path = temp_path("v2.npy");
  write_bytes(path, bytes);
  NpyRowReader reader(path);
  const Tensor row = reader.read_rows(2, 1);
  CHECK(row.shape() == Shape{1, 2});
  CHECK(row.data<int32_t>()[0] == 5);
  CHECK(row.data<int32_t>()[1] == 6);
  std::filesystem::remove(path);
}

TEST_CASE("npy row reader checks row ranges") {
  const std::string path = temp_path("bounds.npy");
  write_npy(path, testdata::train_images(0, 4));
  NpyRowReader reader(path);
  for (auto [first, count] : {std::pair<int64_t, int64_t>{-1, 1},
                              {0, 5},
                              {4, 1},
                              {2, -1},
                              {3, std::numeric_limits<int64_t>::max()}}) {
    const auto [code, message] = thrown_by([&] { reader.read_rows(first, count); });
    CHECK(code == ErrorCode::kInvalidArgument);
    CHECK_THAT(message, Catch::Contains("outside the 4 rows") && Catch::Contains("bounds.npy"));
  }
  std::filesystem::remove(path);
}

TEST_CASE("npy row reader rejects bad files before allocating") {
  const std::string path = temp_path("bad-rows.npy");
  auto open_error = [&](const std::string& bytes) {
    write_bytes(path, bytes);
    return thrown_by([&] { NpyRowReader reader(path); });
  };
  // Shapes far beyond the data fail as truncated, without trying to allocate them.
  for (const char* shape : {"(4,)", "(1099511627776, 1099511627776)", "(4294967296, 4294967296)"}) {
    const auto [code, message] = open_error(
        npy_bytes(std::string("{'descr': '<f4', 'fortran_order': False, 'shape': ") + shape + ", }",
                  std::string(8, '\0')));
    CHECK(code == ErrorCode::kParse);
    CHECK_THAT(message, Catch::Contains("truncated .npy data") && Catch::Contains("bad-rows.npy"));
  }
  CHECK_THAT(open_error("\x93NUMPY").second, Catch::Contains("bad magic"));
  CHECK_THAT(
      open_error(
          npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (4,), }", "").substr(0, 30))
          .second,
      Catch::Contains("truncated .npy header"));
  CHECK(open_error(npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (), }",
                             std::string(4, '\0')))
            .first == ErrorCode::kShape);
  CHECK_THAT(thrown_by([] { NpyRowReader reader("/nonexistent/dir/x.npy"); }).second,
             Catch::Contains("/nonexistent/dir/x.npy"));
  std::filesystem::remove(path);
}

TEST_CASE("npy row reader reports a file that shrank after opening") {
  const std::string path = temp_path("shrunk.npy");
  write_npy(path, testdata::train_images(0, 10));
  NpyRowReader reader(path);
  std::filesystem::resize_file(path, std::filesystem::file_size(path) - 28 * 28 * 4);
  CHECK(reader.read_rows(0, 9).dim(0) == 9);
  const auto [code, message] = thrown_by([&] { reader.read_rows(8, 2); });
  CHECK(code == ErrorCode::kIo);
  CHECK_THAT(message, Catch::Contains("shrunk.npy") && Catch::Contains("row 8"));
  std::filesystem::remove(path);
}

TEST_CASE("npy parse rejects a huge shape as truncated instead of allocating it") {
  const std::string bytes =
      npy_bytes("{'descr': '<f4', 'fortran_order': False, 'shape': (1099511627776, 1024), }",
                std::string(64, '\0'));
  const auto [code, message] = thrown_by([&] { parse_npy(bytes.data(), bytes.size(), "x.npy"); });
  CHECK(code == ErrorCode::kParse);
  CHECK_THAT(message, Catch::Contains("truncated .npy data"));
}
