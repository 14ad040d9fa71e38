// qsim's FlatBuffers encodings file and the SHA-256 model fingerprint.
#include <array>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <random>

#include "io/encodings_fbs.h"
#include "io/sha256.h"
#include "test_formats_compare.h"
#include "test_formats_synthetic.h"

using namespace qsim;
using namespace qsim::test;

namespace {

const std::string kModels = std::string(QSIM_SOURCE_DIR) + "/models/";

std::string file_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

void write_bytes(const std::string& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

uint32_t u32_at(const std::string& bytes, size_t pos) {
  uint32_t v = 0;
  for (int i = 3; i >= 0; --i) v = (v << 8) | static_cast<uint8_t>(bytes[pos + i]);
  return v;
}

std::string hex_of(const std::array<uint8_t, 32>& digest) {
  char hex[65];
  for (int i = 0; i < 32; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  return hex;
}

// Position of the root table's schema_version (FlatBuffers: root offset, then its vtable).
size_t schema_version_position(const std::string& bytes) {
  const uint32_t root = u32_at(bytes, 0);
  const uint32_t vtable = root - u32_at(bytes, root);
  const uint32_t field =
      static_cast<uint8_t>(bytes[vtable + 4]) | (static_cast<uint8_t>(bytes[vtable + 5]) << 8);
  return root + field;
}

}  // namespace

TEST_CASE("sha256 matches the FIPS 180-4 test vectors") {
  const std::string abc = "abc";
  CHECK(sha256_hex("", 0) == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  CHECK(sha256_hex(abc.data(), abc.size()) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  const std::string two_blocks = "abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq";
  CHECK(sha256_hex(two_blocks.data(), two_blocks.size()) ==
        "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1");
  const std::string long_message =
      "abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmno"
      "pqrsmnopqrstnopqrstu";
  CHECK(sha256_hex(long_message.data(), long_message.size()) ==
        "cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1");
  Sha256 million;  // one million 'a', fed in uneven pieces
  const std::string piece(997, 'a');
  size_t fed = 0;
  while (fed < 1000000) {
    const size_t n = std::min(piece.size(), 1000000 - fed);
    million.update(piece.data(), n);
    fed += n;
  }
  CHECK(hex_of(million.finish()) ==
        "cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0");
}

TEST_CASE("sha256 does not depend on how the input is split") {
  std::mt19937 rng(7);
  std::string data(300, '\0');
  for (char& c : data) c = static_cast<char>(rng());
  for (size_t length : {0, 1, 55, 56, 63, 64, 65, 119, 120, 128, 300}) {
    const std::string whole = sha256_hex(data.data(), length);
    for (size_t split = 0; split <= length; split += 13) {
      Sha256 hash;
      hash.update(data.data(), split);
      hash.update(data.data() + split, length - split);
      INFO("length " << length << " split " << split);
      CHECK(hex_of(hash.finish()) == whole);
    }
  }
}

TEST_CASE("sha256_file_hex hashes a file's bytes and names a missing file") {
  const std::string model = kModels + "resnet_fmnist.onnx";
  const std::string bytes = file_bytes(model);
  REQUIRE(bytes.size() > 100000);  // spans many read chunks
  CHECK(sha256_file_hex(model) == sha256_hex(bytes.data(), bytes.size()));
  const std::string path = temp_file("abc.txt");
  write_bytes(path, "abc");
  CHECK(sha256_file_hex(path) ==
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  std::filesystem::remove(path);
  const Error e = error_of([&] { sha256_file_hex(path); });
  CHECK(e.code() == ErrorCode::kIo);
  CHECK_THAT(e.what(), Catch::Contains(path));
}

TEST_CASE("the FlatBuffers file round-trips every encoding exactly") {
  const std::string path = temp_file("roundtrip.qsenc");
  SECTION(
      "synthetic: every symmetry, bit widths 2 to 16 and 32, 64 channels, odd names and values") {
    const EncodingSet set = synthetic_encoding_set();
    write_encodings_fbs(set, path, "qsim test");
    require_same_sets(read_encodings_fbs(path), set);
  }
  for (const char* model : {"resnet_fmnist.onnx", "mobilenet_fmnist.onnx"}) {
    SECTION(std::string("reference model weights: ") + model) {
      const EncodingSet set = reference_model_encoding_set(kModels + model);
      REQUIRE(set.params.size() > 20);
      write_encodings_fbs(set, path, "qsim test");
      require_same_sets(read_encodings_fbs(path), set);
      CHECK(read_encodings_fbs(path).model_fingerprint == sha256_file_hex(kModels + model));
    }
  }
  SECTION("an empty set") {
    write_encodings_fbs(EncodingSet{}, path, "");
    require_same_sets(read_encodings_fbs(path), EncodingSet{});
  }
  std::filesystem::remove(path);
}

TEST_CASE("the FlatBuffers file carries its identifier and reads from any address") {
  const std::string bytes = encodings_fbs_bytes(synthetic_encoding_set(), "qsim test");
  CHECK(bytes.substr(4, 4) == kEncodingsFileIdentifier);
  std::string shifted = "x" + bytes;  // data() + 1 is misaligned for FlatBuffers' scalars
  require_same_sets(parse_encodings_fbs(shifted.data() + 1, bytes.size(), "memory"),
                    synthetic_encoding_set());
}

TEST_CASE("truncated or corrupt FlatBuffers files are rejected naming the file") {
  const std::string bytes = encodings_fbs_bytes(synthetic_encoding_set(), "qsim test");
  const std::string path = temp_file("damaged.qsenc");
  auto error_reading = [&](const std::string& damaged) {
    write_bytes(path, damaged);
    return error_of([&] { read_encodings_fbs(path); });
  };
  SECTION("truncated at several points") {
    for (size_t length : {size_t{0}, size_t{3}, size_t{8}, size_t{12}, size_t{40}, bytes.size() / 3,
                          bytes.size() / 2, bytes.size() - 100, bytes.size() - 8}) {
      INFO("cut to " << length << " of " << bytes.size() << " bytes");
      const Error e = error_reading(bytes.substr(0, length));
      CHECK(e.code() == ErrorCode::kParse);
      CHECK_THAT(e.what(), Catch::Contains(path));
    }
    CHECK_THAT(error_reading(bytes.substr(0, bytes.size() / 2)).what(),
               Catch::Contains("corrupt or truncated"));
    CHECK_THAT(error_reading(bytes.substr(0, 3)).what(), Catch::Contains("too short"));
  }
  SECTION("a foreign file") {
    std::string foreign = bytes;
    foreign.replace(4, 4, "ONNX");
    CHECK_THAT(error_reading(foreign).what(),
               Catch::Contains("file identifier 'ONNX', expected 'QSEN'"));
    CHECK_THAT(error_reading(file_bytes(kModels + "resnet_fmnist.onnx")).what(),
               Catch::Contains("not a qsim encodings file"));
  }
  SECTION("another schema version") {
    std::string other = bytes;
    const size_t at = schema_version_position(other);
    REQUIRE(u32_at(other, at) == kEncodingsSchemaVersion);
    other[at] = 2;
    CHECK_THAT(error_reading(other).what(), Catch::Contains("schema version 2 is not supported"));
  }
  SECTION("every byte damaged: rejected with kParse, or read as a valid set") {
    size_t rejected = 0;
    for (size_t position = 0; position < bytes.size(); ++position) {
      std::string damaged = bytes;
      damaged[position] = static_cast<char>(~damaged[position]);
      try {
        const EncodingSet set =
            parse_encodings_fbs(damaged.data(), damaged.size(), "damaged.qsenc");
        check_encoding_set(set, ErrorCode::kInternal,
                           "damaged.qsenc");  // what was read obeys the rules
      } catch (const Error& e) {
        INFO("byte " << position << ": " << e.what());
        REQUIRE(e.code() == ErrorCode::kParse);
        ++rejected;
      }
    }
    CHECK(rejected > bytes.size() / 4);
  }
  std::filesystem::remove(path);
}

TEST_CASE("a missing FlatBuffers file is an I/O error naming it") {
  const Error e = error_of([] { read_encodings_fbs("/nonexistent/encodings.qsenc"); });
  CHECK(e.code() == ErrorCode::kIo);
  CHECK_THAT(e.what(), Catch::Contains("/nonexistent/encodings.qsenc"));
}

TEST_CASE("writers refuse encoding sets that break the rules, leaving no file") {
  const std::string path = temp_file("refused.qsenc");
  std::filesystem::remove(path);
  auto refused = [&](EncodingSet set, const std::string& message) {
    const Error e = error_of([&] { write_encodings_fbs(set, path, "qsim test"); });
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    CHECK_THAT(e.what(), Catch::Contains(message));
    CHECK(!std::filesystem::exists(path));
  };
  auto with_weight = [](auto change) {
    EncodingSet set;
    set.params.push_back(
        quantized_tensor("w", TensorRole::kWeight, 8, Symmetry::kSymmetric, 0, channel_ranges(4)));
    change(set.params[0]);
    return set;
  };
  for (int bitwidth : {0, 1, 17, 32}) {
    refused(with_weight([&](TensorEncoding& t) { t.encoding->bitwidth = bitwidth; }),
            "tensor 'w': bit width " + std::to_string(bitwidth));
  }
  refused(with_weight([](TensorEncoding& t) { t.encoding->channels[2].scale = std::nanf(""); }),
          "tensor 'w' channel 2: scale nan");
  refused(with_weight([](TensorEncoding& t) { t.encoding->channels[1].scale = 0.0f; }),
          "is not a finite positive");
  refused(with_weight([](TensorEncoding& t) { t.encoding->channels[3].offset = -127; }),
          "channel 3: offset -127 does not fit a 8-bit symmetric grid");
  refused(with_weight([](TensorEncoding& t) {
            t.encoding->channels[0].scale = std::numeric_limits<float>::max();
          }),
          "beyond float32");
  refused(with_weight([](TensorEncoding& t) { t.encoding->axis = -1; }),
          "a per-tensor encoding has 4 scales");
  refused(with_weight([](TensorEncoding& t) { t.encoding->channels.clear(); }), "has no scales");
  refused(with_weight([](TensorEncoding& t) { t.encoding.reset(), t.float_bitwidth = 8; }),
          "float bit width 8");
  refused(with_weight([](TensorEncoding& t) { t.name.clear(); }), "empty name");
  refused(with_weight([](TensorEncoding& t) { t.role = TensorRole::kActivation; }),
          "tensor 'w': a activation cannot be listed with the params");
  EncodingSet twice = with_weight([](TensorEncoding&) {});
  twice.activations.push_back(float_tensor("w", TensorRole::kActivation, 16));
  refused(twice, "tensor 'w' is listed twice");
}

TEST_CASE("writing into a folder that does not exist is an I/O error") {
  const Error e = error_of(
      [] { write_encodings_fbs(synthetic_encoding_set(), "/nonexistent/dir/e.qsenc", "qsim"); });
  CHECK(e.code() == ErrorCode::kIo);
  CHECK_THAT(e.what(), Catch::Contains("/nonexistent/dir/e.qsenc"));
}
