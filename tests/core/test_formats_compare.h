// Catch2 helpers shared by the encodings-file tests.
#pragma once

#include <catch2/catch.hpp>
#include <filesystem>
#include <string>

#include "quant/encoding_set.h"
#include "util/error.h"

namespace qsim::test {

inline std::string temp_file(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("qsim-test-formats-" + name)).string();
}

inline void require_same_tensors(const std::vector<TensorEncoding>& read,
                                 const std::vector<TensorEncoding>& written) {
  REQUIRE(read.size() == written.size());
  for (size_t i = 0; i < read.size(); ++i) {
    INFO("tensor '" << written[i].name << "'");
    CHECK(read[i] == written[i]);
  }
}

// Everything an encodings file carries came back: every tensor exactly (TensorEncoding's
// operator== compares scales and offsets bit for bit) and every setting.
inline void require_same_sets(const EncodingSet& read, const EncodingSet& written) {
  require_same_tensors(read.activations, written.activations);
  require_same_tensors(read.params, written.params);
  CHECK(read.excluded_layers == written.excluded_layers);
  CHECK(read.model_fingerprint == written.model_fingerprint);
  CHECK(read.target == written.target);
  CHECK(read.quantizer_args.activation_bitwidth == written.quantizer_args.activation_bitwidth);
  CHECK(read.quantizer_args.param_bitwidth == written.quantizer_args.param_bitwidth);
  CHECK(read.quantizer_args.per_channel == written.quantizer_args.per_channel);
  CHECK(read.quantizer_args.activation_symmetric == written.quantizer_args.activation_symmetric);
  CHECK(read.quantizer_args.param_symmetric == written.quantizer_args.param_symmetric);
  CHECK(read.quantizer_args.quant_scheme == written.quantizer_args.quant_scheme);
  REQUIRE(read.techniques.size() == written.techniques.size());
  for (size_t i = 0; i < read.techniques.size(); ++i) {
    CHECK(read.techniques[i].name == written.techniques[i].name);
    CHECK(read.techniques[i].options == written.techniques[i].options);
  }
}

// The error a call throws (code and message); fails the test when it does not throw.
template <typename Call>
Error error_of(Call call) {
  try {
    call();
  } catch (const Error& e) {
    return e;
  }
  FAIL("expected a qsim::Error");
  return Error(ErrorCode::kInternal, "");
}

}  // namespace qsim::test
