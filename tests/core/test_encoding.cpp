#include <catch2/catch.hpp>
#include <cmath>

#include "quant/encoding.h"

using namespace qsim;

TEST_CASE("asymmetric 8-bit encodings follow AIMET's arithmetic") {
  // docs/SOURCES.md section 3's example activation: min -0.126, max 2.55.
  ChannelEncoding e = compute_channel_encoding(-0.126, 2.55, 8, Symmetry::kAsymmetric, "t");
  CHECK(e.scale == Approx(2.676 / 255).epsilon(1e-6));
  CHECK(e.offset == -12);
  CHECK(e.min() == Approx(-12 * e.scale));
  CHECK(e.max(8) == Approx(243 * e.scale));
  CHECK(onnx_zero_point(e, 8, false) == 12);
  CHECK(onnx_zero_point(e, 8, true) == 12 - 128);
}

TEST_CASE("asymmetric ranges are widened to include zero") {
  ChannelEncoding e = compute_channel_encoding(1.0, 3.0, 8, Symmetry::kAsymmetric, "t");
  CHECK(e.offset == 0);
  CHECK(e.scale == Approx(3.0 / 255));
  ChannelEncoding n = compute_channel_encoding(-3.0, -1.0, 8, Symmetry::kAsymmetric, "t");
  CHECK(n.offset == -255);
}

TEST_CASE("symmetric, strict and unsigned symmetric grids") {
  ChannelEncoding s = compute_channel_encoding(-1.536, 1.524, 8, Symmetry::kSymmetric, "w");
  CHECK(s.offset == -128);
  CHECK(s.scale == Approx(1.536 / 127));
  ChannelEncoding strict = compute_channel_encoding(-1.0, 0.5, 8, Symmetry::kStrictSymmetric, "w");
  CHECK(strict.offset == -127);
  CHECK(onnx_zero_point(strict, 8, false) == 127);
  ChannelEncoding u = compute_channel_encoding(0.0, 2.55, 8, Symmetry::kUnsignedSymmetric, "relu");
  CHECK(u.offset == 0);
  CHECK(u.scale == Approx(0.01));
  ChannelEncoding u4 = compute_channel_encoding(-1.0, 1.0, 4, Symmetry::kSymmetric, "w");
  CHECK(u4.offset == -8);
  CHECK(u4.scale == Approx(1.0 / 7));
}

TEST_CASE("fake quantization rounds half to even and saturates") {
  ChannelEncoding e;
  e.scale = 1.0f;
  e.offset = -128;
  std::vector<float> x = {0.5f, 1.5f, 2.5f, -0.5f, 300.0f, -300.0f, 126.6f};
  fake_quantize_span(x.data(), static_cast<int64_t>(x.size()), e, 255);
  CHECK(x == std::vector<float>{0.0f, 2.0f, 2.0f, -0.0f, 127.0f, -128.0f, 127.0f});
}

TEST_CASE("per-channel encodings quantize each channel on its own grid") {
  Tensor w(DType::kFloat32, {2, 3});
  float values[] = {-1.0f, 0.5f, 1.0f, -4.0f, 2.0f, 4.0f};
  std::copy(values, values + 6, w.data<float>());
  Encoding enc = encode_from_values(w, 8, Symmetry::kSymmetric, 0, "w");
  REQUIRE(enc.channels.size() == 2);
  CHECK(enc.channels[0].scale == Approx(1.0 / 127));
  CHECK(enc.channels[1].scale == Approx(4.0 / 127));
  fake_quantize(w, enc);
  CHECK(w.data<float>()[5] == Approx(4.0f));
}

TEST_CASE("bad bit widths and non-finite ranges are rejected") {
  for (int bw : {0, 1, 17}) CHECK_THROWS_WITH(check_bitwidth(bw, "w"), Catch::Contains("bit width " + std::to_string(bw)));
  CHECK_NOTHROW(check_bitwidth(32, "bias", true));
  CHECK_THROWS_AS(compute_channel_encoding(NAN, 1.0, 8, Symmetry::kSymmetric, "x"), Error);
  CHECK_THROWS_WITH(compute_channel_encoding(0.0, INFINITY, 8, Symmetry::kSymmetric, "x"), Catch::Contains("not finite"));
}

TEST_CASE("a zero range still gives a usable grid") {
  ChannelEncoding e = compute_channel_encoding(0.0, 0.0, 8, Symmetry::kAsymmetric, "zeros");
  CHECK(e.scale == 1.0f);
  CHECK(e.offset == 0);
  CHECK(compute_channel_encoding(0.0, 0.0, 8, Symmetry::kSymmetric, "zeros").offset == -128);
  CHECK(std::isfinite(e.scale));
  float x = 0.0f;
  fake_quantize_span(&x, 1, e, 255);
  CHECK(x == 0.0f);
}
