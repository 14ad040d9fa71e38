// Calibration observers (src/quant/observer.h) and the running histogram behind them.
#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <limits>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "graph/onnx_import.h"
#include "io/idx.h"
#include "quant/histogram.h"
#include "quant/observer.h"
#include "util/error.h"

using namespace qsim;

namespace {

constexpr CalibrationMethod kAllMethods[] = {
    CalibrationMethod::kMinMax,  CalibrationMethod::kTfEnhanced, CalibrationMethod::kPercentile,
    CalibrationMethod::kEntropy, CalibrationMethod::kMse,        CalibrationMethod::kPowerOfTwo};
constexpr CalibrationMethod kClippingMethods[] = {
    CalibrationMethod::kTfEnhanced, CalibrationMethod::kPercentile, CalibrationMethod::kEntropy,
    CalibrationMethod::kMse, CalibrationMethod::kPowerOfTwo};
constexpr Symmetry kAllSymmetries[] = {Symmetry::kAsymmetric, Symmetry::kSymmetric,
                                       Symmetry::kStrictSymmetric, Symmetry::kUnsignedSymmetric};

std::vector<float> gaussian(size_t count, double sigma, unsigned seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> normal(0.0f, static_cast<float>(sigma));
  std::vector<float> values(count);
  for (float& v : values) v = normal(rng);
  return values;
}

std::vector<float> uniform(size_t count, float lo, float hi, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(lo, hi);
  std::vector<float> values(count);
  for (float& v : values) v = dist(rng);
  return values;
}

std::unique_ptr<Observer> observer_of(CalibrationMethod method, const std::vector<float>& data,
                                      int batches = 1, const ObserverOptions& options = {}) {
  auto observer = make_observer(method, options, "t");
  const size_t per_batch = (data.size() + batches - 1) / static_cast<size_t>(batches);
  for (size_t start = 0; start < data.size(); start += per_batch) {
    const size_t n = std::min(per_batch, data.size() - start);
    observer->observe(data.data() + start, static_cast<int64_t>(n));
  }
  return observer;
}

int64_t quant_max(int bitwidth) {
  return (int64_t{1} << bitwidth) - 1;
}

// Mean squared error of fake-quantizing `data` onto `grid`, computed on the data itself.
double empirical_mse(const std::vector<float>& data, const ChannelEncoding& grid, int bitwidth) {
  std::vector<float> quantized = data;
  fake_quantize_span(quantized.data(), static_cast<int64_t>(quantized.size()), grid,
                     quant_max(bitwidth));
  double sum = 0.0;
  for (size_t i = 0; i < data.size(); ++i) {
    const double d = static_cast<double>(data[i]) - quantized[i];
    sum += d * d;
  }
  return sum / static_cast<double>(data.size());
}

std::string label(CalibrationMethod method, Symmetry symmetry, int bitwidth) {
  return std::string(calibration_method_name(method)) + " " + symmetry_name(symmetry) + " " +
         std::to_string(bitwidth) + "-bit";
}

void check_same_grid(const ChannelEncoding& a, const ChannelEncoding& b) {
  CHECK(a.scale == b.scale);
  CHECK(a.offset == b.offset);
}

template <typename F>
ErrorCode error_code_of(F&& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.code();
  }
  FAIL("no qsim::Error thrown");
  return ErrorCode::kInternal;
}

}  // namespace

TEST_CASE("calibration method names parse, print and map to AIMET quant schemes") {
  for (CalibrationMethod method : kAllMethods)
    CHECK(calibration_method_from_name(calibration_method_name(method)) == method);
  CHECK(calibration_method_from_name("tf_enhanced") == CalibrationMethod::kTfEnhanced);
  CHECK(calibration_method_from_name("pow2") == CalibrationMethod::kPowerOfTwo);
  CHECK(std::string(aimet_quant_scheme(CalibrationMethod::kMinMax)) == "post_training_tf");
  CHECK(std::string(aimet_quant_scheme(CalibrationMethod::kTfEnhanced)) ==
        "post_training_tf_enhanced");
  CHECK(std::string(aimet_quant_scheme(CalibrationMethod::kPercentile)) ==
        "post_training_percentile");
}

TEST_CASE("unknown calibration method names list the valid ones") {
  try {
    calibration_method_from_name("kl");
    FAIL("accepted an unknown method");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kInvalidArgument);
    const std::string message = e.what();
    CHECK(message.find("'kl'") != std::string::npos);
    for (CalibrationMethod method : kAllMethods)
      CHECK(message.find(calibration_method_name(method)) != std::string::npos);
  }
  CHECK(error_code_of([] { calibration_method_from_name("MinMax"); }) ==
        ErrorCode::kInvalidArgument);
}

TEST_CASE("bad observer options are rejected with the tensor named") {
  auto make = [](ObserverOptions options) {
    return error_code_of([&] { make_observer(CalibrationMethod::kPercentile, options, "conv1"); });
  };
  ObserverOptions options;
  options.percentile = 0.0;
  CHECK(make(options) == ErrorCode::kInvalidArgument);
  options.percentile = 100.5;
  CHECK(make(options) == ErrorCode::kInvalidArgument);
  options = {};
  options.histogram_bins = 15;
  CHECK(make(options) == ErrorCode::kInvalidArgument);
  options.histogram_bins = 8;
  CHECK(make(options) == ErrorCode::kInvalidArgument);
  options = {};
  options.entropy_quantized_bins = 127;
  CHECK(make(options) == ErrorCode::kInvalidArgument);
  try {
    ObserverOptions bad;
    bad.percentile = -1.0;
    make_observer(CalibrationMethod::kPercentile, bad, "conv1");
  } catch (const Error& e) {
    CHECK(std::string(e.what()).find("conv1") != std::string::npos);
  }
}

TEST_CASE("the running histogram puts every value in its exact bin") {
  std::vector<float> data = gaussian(100000, 3.0, 1);
  data.push_back(0.0f);
  data.push_back(-0.0f);
  RunningHistogram histogram(256);
  const auto [lo, hi] = std::minmax_element(data.begin(), data.end());
  histogram.add(data.data(), static_cast<int64_t>(data.size()), *lo, *hi, 0);
  REQUIRE(histogram.anchored());
  CHECK(histogram.total() == data.size());
  // The narrowest power-of-two width whose window holds the data.
  const double w = histogram.width();
  CHECK(std::floor(*hi / w) - std::floor(*lo / w) + 1 <= 256);
  CHECK(std::floor(*hi / (w / 2)) - std::floor(*lo / (w / 2)) + 1 > 256);
  std::vector<uint64_t> expected(256, 0);
  for (float x : data) {
    const double edge0 = histogram.lower_edge(0);
    ++expected.at(static_cast<size_t>(std::floor((x - edge0) / w)));
  }
  CHECK(histogram.counts() == expected);
}

TEST_CASE("the running histogram does not depend on how the values were batched") {
  // Sorted by magnitude: every batch widens the range, forcing slides and merges.
  std::vector<float> data = gaussian(200000, 1.0, 2);
  data.push_back(250.0f);
  std::sort(data.begin(), data.end(), [](float a, float b) { return std::fabs(a) < std::fabs(b); });
  auto fill = [&](int batches) {
    RunningHistogram histogram(512);
    const size_t per = data.size() / batches + 1;
    for (size_t s = 0; s < data.size(); s += per) {
      const size_t n = std::min(per, data.size() - s);
      const auto [lo, hi] = std::minmax_element(data.begin() + s, data.begin() + s + n);
      histogram.add(data.data() + s, static_cast<int64_t>(n), *lo, *hi, 0);
    }
    return histogram;
  };
  const RunningHistogram whole = fill(1), streamed = fill(100);
  REQUIRE(whole.width() == streamed.width());
  CHECK(streamed.total() == data.size());
  // Same counts per absolute bin: compare by edge.
  for (int64_t slot = whole.first_occupied(); slot <= whole.last_occupied(); ++slot) {
    const double edge = whole.lower_edge(slot);
    const int64_t other =
        streamed.first_occupied() +
        static_cast<int64_t>(std::llround((edge - streamed.lower_edge(streamed.first_occupied())) /
                                          streamed.width()));
    CHECK(streamed.lower_edge(other) == edge);
    CHECK(streamed.counts()[static_cast<size_t>(other)] ==
          whole.counts()[static_cast<size_t>(slot)]);
  }
  // The |x| fold keeps every value.
  const std::vector<uint64_t> magnitudes = whole.magnitude_counts();
  uint64_t folded = 0;
  for (uint64_t c : magnitudes) folded += c;
  CHECK(folded == data.size());
  CHECK(static_cast<double>(magnitudes.size()) * whole.width() >= 250.0);
}

namespace {

// Bin lower edge -> count, comparable between histograms whatever their window placement.
std::map<double, uint64_t> counts_by_edge(const RunningHistogram& histogram) {
  std::map<double, uint64_t> by_edge;
  if (!histogram.anchored()) {
    by_edge[histogram.min()] = histogram.total();
    return by_edge;
  }
  for (int64_t slot = 0; slot < histogram.bins(); ++slot) {
    const uint64_t count = histogram.counts()[static_cast<size_t>(slot)];
    if (count != 0) by_edge[histogram.lower_edge(slot)] = count;
  }
  return by_edge;
}

void add_all(RunningHistogram& histogram, const std::vector<float>& values) {
  const auto [lo, hi] = std::minmax_element(values.begin(), values.end());
  histogram.add(values.data(), static_cast<int64_t>(values.size()), *lo, *hi, 0);
}

}  // namespace

TEST_CASE("values near FLT_MAX after small ones widen the bins instead of overflowing") {
  // A fine window first; then a batch whose span in those bins is beyond int64.
  RunningHistogram histogram(1024);
  add_all(histogram, {0.0f, 0.25f, 0.5f, 1.0f});
  const float huge = std::numeric_limits<float>::max();
  add_all(histogram, {-huge, 1.0f, huge / 2, huge});
  CHECK(histogram.total() == 8);
  const auto by_edge = counts_by_edge(histogram);
  uint64_t binned = 0;
  for (const auto& [edge, count] : by_edge) binned += count;
  CHECK(binned == 8);
  CHECK(histogram.lower_edge(0) <= -huge);
  CHECK(histogram.lower_edge(histogram.bins() - 1) + histogram.width() > huge);
}

TEST_CASE("random batch sequences give the histogram of all their values at once") {
  std::mt19937 rng(21);
  for (int trial = 0; trial < 300; ++trial) {
    const int bins = 16 << (rng() % 4);
    RunningHistogram streamed(bins), whole(bins);
    std::vector<float> all;
    const int batches = 1 + static_cast<int>(rng() % 12);
    for (int b = 0; b < batches; ++b) {
      // Scales 1e-4 .. 1e4, shifted; some batches all zero or constant.
      const double scale = std::pow(10.0, static_cast<int>(rng() % 9) - 4.0);
      const double shift = (static_cast<int>(rng() % 7) - 3) * 2.0 * scale;
      const int kind = static_cast<int>(rng() % 4);
      std::normal_distribution<double> normal(shift, scale);
      std::vector<float> batch(1 + rng() % 300);
      for (float& v : batch)
        v = kind == 0 ? 0.0f : static_cast<float>(kind == 1 ? shift : normal(rng));
      add_all(streamed, batch);
      all.insert(all.end(), batch.begin(), batch.end());
    }
    add_all(whole, all);
    INFO("trial " << trial);
    REQUIRE(streamed.total() == all.size());
    REQUIRE(streamed.anchored() == whole.anchored());
    if (whole.anchored()) REQUIRE(streamed.width() == whole.width());
    REQUIRE(counts_by_edge(streamed) == counts_by_edge(whole));
  }
}

TEST_CASE("MinMax is exact on uniform data") {
  const std::vector<float> data = uniform(100000, -0.75f, 2.5f, 3);
  const auto [lo, hi] = std::minmax_element(data.begin(), data.end());
  auto observer = observer_of(CalibrationMethod::kMinMax, data, 10);
  CHECK(observer->min() == *lo);
  CHECK(observer->max() == *hi);
  for (Symmetry symmetry : kAllSymmetries)
    check_same_grid(observer->encoding(8, symmetry),
                    compute_channel_encoding(*lo, *hi, 8, symmetry, "t"));
  // "Including 0": a positive-only tensor still gets a grid from 0.
  auto positive = observer_of(CalibrationMethod::kMinMax, uniform(1000, 1.0f, 2.0f, 4));
  CHECK(positive->encoding(8, Symmetry::kAsymmetric).offset == 0);
}

TEST_CASE("clipping methods cut an outlier and quantize the bulk better than MinMax") {
  // How far each method clips depends on its objective (TF-enhanced weighs clipping 3x, MSE
  // trades the outlier's error against rounding); all of them must cut it.
  const std::vector<float> bulk = gaussian(1000000, 1.0, 5);
  std::vector<float> data = bulk;
  data.push_back(100.0f);
  const auto minmax = observer_of(CalibrationMethod::kMinMax, data);
  for (Symmetry symmetry : {Symmetry::kSymmetric, Symmetry::kAsymmetric}) {
    const double minmax_bulk = empirical_mse(bulk, minmax->encoding(8, symmetry), 8);
    for (CalibrationMethod method : kClippingMethods) {
      INFO(label(method, symmetry, 8));
      const ChannelEncoding grid = observer_of(method, data)->encoding(8, symmetry);
      CHECK(grid.max(8) < 75.0f);
      CHECK(grid.max(8) > 3.0f);
      CHECK(empirical_mse(bulk, grid, 8) < 0.5 * minmax_bulk);
    }
  }
}

TEST_CASE("MSE calibration finds the least-error clipping range of the data") {
  const std::vector<float> symmetric_data = gaussian(50000, 1.0, 6);
  for (int bitwidth : {3, 4, 8}) {
    INFO("symmetric " << bitwidth << "-bit");
    double absmax = 0.0;
    for (float v : symmetric_data) absmax = std::max(absmax, std::fabs(static_cast<double>(v)));
    double best = std::numeric_limits<double>::infinity();
    for (int k = 1; k <= 200; ++k) {
      const ChannelEncoding g = compute_channel_encoding(-absmax * k / 200, absmax * k / 200,
                                                         bitwidth, Symmetry::kSymmetric, "t");
      best = std::min(best, empirical_mse(symmetric_data, g, bitwidth));
    }
    const ChannelEncoding found = observer_of(CalibrationMethod::kMse, symmetric_data)
                                      ->encoding(bitwidth, Symmetry::kSymmetric);
    CHECK(empirical_mse(symmetric_data, found, bitwidth) <= 1.02 * best);
  }
  // Skewed data: a shifted exponential, for the two-ended asymmetric search.
  std::mt19937 rng(7);
  std::exponential_distribution<float> exponential(1.0f);
  std::vector<float> skewed(50000);
  for (float& v : skewed) v = exponential(rng) - 0.7f;
  const auto [lo, hi] = std::minmax_element(skewed.begin(), skewed.end());
  for (int bitwidth : {3, 6}) {
    INFO("asymmetric " << bitwidth << "-bit");
    double best = std::numeric_limits<double>::infinity();
    for (int a = 1; a <= 30; ++a)
      for (int b = 1; b <= 30; ++b) {
        const ChannelEncoding g = compute_channel_encoding(*lo * a / 30.0, *hi * b / 30.0, bitwidth,
                                                           Symmetry::kAsymmetric, "t");
        best = std::min(best, empirical_mse(skewed, g, bitwidth));
      }
    const ChannelEncoding found =
        observer_of(CalibrationMethod::kMse, skewed)->encoding(bitwidth, Symmetry::kAsymmetric);
    CHECK(empirical_mse(skewed, found, bitwidth) <= 1.02 * best);
  }
}

TEST_CASE("percentile calibration clips at the requested share of values") {
  ObserverOptions options;
  options.percentile = 99.0;
  // |x| uniform on [0, 1): the 99th percentile is 0.99.
  const auto positive =
      observer_of(CalibrationMethod::kPercentile, uniform(1000000, 0.0f, 1.0f, 8), 3, options);
  const ChannelEncoding u = positive->encoding(8, Symmetry::kUnsignedSymmetric);
  CHECK(u.offset == 0);
  CHECK(u.max(8) == Approx(0.99).margin(0.002));
  // Two tails of 1% each: [-0.98, 0.98] on uniform [-1, 1).
  options.percentile = 98.0;
  const auto both =
      observer_of(CalibrationMethod::kPercentile, uniform(1000000, -1.0f, 1.0f, 9), 1, options);
  const ChannelEncoding a = both->encoding(8, Symmetry::kAsymmetric);
  CHECK(a.scale * 255.0 == Approx(1.96).margin(0.006));
  CHECK(a.min() == Approx(-0.98).margin(0.006));
  // 100 keeps everything: the observed range.
  options.percentile = 100.0;
  const std::vector<float> g = gaussian(50000, 1.0, 10);
  const auto all = observer_of(CalibrationMethod::kPercentile, g, 1, options);
  const auto minmax = observer_of(CalibrationMethod::kMinMax, g);
  check_same_grid(all->encoding(8, Symmetry::kSymmetric),
                  minmax->encoding(8, Symmetry::kSymmetric));
  check_same_grid(all->encoding(8, Symmetry::kAsymmetric),
                  minmax->encoding(8, Symmetry::kAsymmetric));
}

TEST_CASE("entropy calibration keeps tail-free data whole and clips harder with fewer levels") {
  // Uniform data has no tail: clipping it only piles mass into the last bin.
  const auto flat = observer_of(CalibrationMethod::kEntropy, uniform(500000, -1.0f, 1.0f, 11));
  CHECK(flat->encoding(8, Symmetry::kSymmetric).max(8) > 0.95f);
  const std::vector<float> bell = gaussian(1000000, 1.0, 12);
  auto threshold = [&](int quantized_bins) {
    ObserverOptions options;
    options.entropy_quantized_bins = quantized_bins;
    return observer_of(CalibrationMethod::kEntropy, bell, 1, options)
        ->encoding(8, Symmetry::kSymmetric)
        .max(8);
  };
  const float coarse = threshold(16), fine = threshold(512);
  INFO("threshold with 16 quantized bins " << coarse << ", with 512 " << fine);
  CHECK(coarse < fine);
  CHECK(coarse > 1.0f);
  CHECK(fine <= 5.5f);
}

TEST_CASE("TF-enhanced keeps uniform data whole and searches AIMET's grids") {
  const std::vector<float> data = uniform(200000, -1.0f, 3.0f, 13);
  const auto observer = observer_of(CalibrationMethod::kTfEnhanced, data);
  const ChannelEncoding a = observer->encoding(8, Symmetry::kAsymmetric);
  CHECK(a.max(8) > 0.95f * 3.0f);
  CHECK(a.min() < -0.9f);
  const ChannelEncoding s = observer->encoding(8, Symmetry::kSymmetric);
  CHECK(s.offset == -128);
  CHECK(s.scale * 127 > 0.95f * 3.0f);
}

TEST_CASE("power-of-two calibration picks the least-error power-of-two scale") {
  const std::vector<float> data = gaussian(300000, 1.0, 14);
  const double lo = *std::min_element(data.begin(), data.end());
  for (int bitwidth : {4, 8}) {
    for (Symmetry symmetry : kAllSymmetries) {
      INFO(label(CalibrationMethod::kPowerOfTwo, symmetry, bitwidth));
      const ChannelEncoding grid =
          observer_of(CalibrationMethod::kPowerOfTwo, data)->encoding(bitwidth, symmetry);
      int exponent = 0;
      CHECK(std::frexp(grid.scale, &exponent) == 0.5f);
      // Among the neighbouring powers of two (same offset rule), none does clearly better.
      const double found = empirical_mse(data, grid, bitwidth);
      for (float factor : {0.25f, 0.5f, 2.0f, 4.0f}) {
        ChannelEncoding other = grid;
        other.scale *= factor;
        if (symmetry == Symmetry::kAsymmetric)
          other.offset = static_cast<int32_t>(std::clamp<double>(
              std::nearbyint(lo / other.scale), -static_cast<double>(quant_max(bitwidth)), 0));
        CHECK(found <= 1.02 * empirical_mse(data, other, bitwidth));
      }
    }
  }
}

TEST_CASE("NaN and Inf are counted and left out of every method's statistics") {
  const std::vector<float> clean = gaussian(20000, 2.0, 15);
  std::vector<float> dirty = clean;
  const float nan = std::numeric_limits<float>::quiet_NaN();
  const float inf = std::numeric_limits<float>::infinity();
  int64_t inserted = 0;
  for (size_t i = 0; i < dirty.size(); i += 997, ++inserted)
    dirty.insert(dirty.begin() + static_cast<std::ptrdiff_t>(i),
                 i % 3 == 0 ? nan : (i % 3 == 1 ? inf : -inf));
  for (CalibrationMethod method : kAllMethods) {
    INFO(calibration_method_name(method));
    const auto with_nan = observer_of(method, dirty, 7);
    const auto without = observer_of(method, clean, 7);
    CHECK(with_nan->nan_inf_count() == inserted);
    CHECK(with_nan->finite_count() == static_cast<int64_t>(clean.size()));
    CHECK(without->nan_inf_count() == 0);
    for (Symmetry symmetry : kAllSymmetries)
      check_same_grid(with_nan->encoding(8, symmetry), without->encoding(8, symmetry));
  }
}

TEST_CASE("an observer with no finite values refuses to make a grid") {
  for (CalibrationMethod method : kAllMethods) {
    auto empty = make_observer(method, {}, "t");
    CHECK(error_code_of([&] { empty->encoding(8, Symmetry::kSymmetric); }) == ErrorCode::kState);
    const std::vector<float> nans(100, std::numeric_limits<float>::quiet_NaN());
    empty->observe(nans.data(), static_cast<int64_t>(nans.size()));
    CHECK(empty->nan_inf_count() == 100);
    CHECK(error_code_of([&] { empty->encoding(8, Symmetry::kSymmetric); }) == ErrorCode::kNumeric);
  }
}

TEST_CASE("zero-range and constant tensors get valid grids") {
  const std::vector<float> zeros(1000, 0.0f), constant(1000, 2.5f);
  for (CalibrationMethod method : kAllMethods) {
    for (Symmetry symmetry : kAllSymmetries) {
      for (int bitwidth : {2, 8, 16}) {
        INFO(label(method, symmetry, bitwidth));
        const ChannelEncoding z = observer_of(method, zeros, 3)->encoding(bitwidth, symmetry);
        CHECK(z.scale > 0.0f);
        CHECK(std::isfinite(z.scale));
        float x = 0.0f;
        fake_quantize_span(&x, 1, z, quant_max(bitwidth));
        CHECK(x == 0.0f);
        const ChannelEncoding c = observer_of(method, constant, 3)->encoding(bitwidth, symmetry);
        float y = 2.5f;
        fake_quantize_span(&y, 1, c, quant_max(bitwidth));
        CHECK(std::fabs(y - 2.5f) <= 0.5f * c.scale * 1.0001f);
      }
    }
  }
}

TEST_CASE("a constant start followed by varied data equals observing it all at once") {
  std::vector<float> data(5000, 1.5f);
  const std::vector<float> tail = gaussian(20000, 1.0, 16);
  data.insert(data.end(), tail.begin(), tail.end());
  for (CalibrationMethod method : kAllMethods) {
    INFO(calibration_method_name(method));
    const auto whole = observer_of(method, data, 1), streamed = observer_of(method, data, 50);
    for (Symmetry symmetry : kAllSymmetries)
      check_same_grid(whole->encoding(8, symmetry), streamed->encoding(8, symmetry));
  }
}

TEST_CASE("every method gives valid grids at bit widths 2 to 16 and rejects 1 and 17") {
  std::vector<float> data = gaussian(20000, 1.0, 17);
  std::vector<float> relu = data;
  for (float& v : relu) v = std::max(v, 0.0f);
  for (CalibrationMethod method : kAllMethods) {
    const auto signed_observer = observer_of(method, data);
    const auto relu_observer = observer_of(method, relu);
    for (Symmetry symmetry : kAllSymmetries) {
      double previous_error = std::numeric_limits<double>::infinity();
      for (int bitwidth = 2; bitwidth <= 16; ++bitwidth) {
        INFO(label(method, symmetry, bitwidth));
        const ChannelEncoding g = signed_observer->encoding(bitwidth, symmetry);
        const int32_t half = int32_t{1} << (bitwidth - 1);
        REQUIRE(g.scale > 0.0f);
        REQUIRE(std::isfinite(g.scale));
        CHECK(g.offset <= 0);
        CHECK(g.offset >= -static_cast<int32_t>(quant_max(bitwidth)));
        if (symmetry == Symmetry::kStrictSymmetric) CHECK(g.offset == -(half - 1));
        if (symmetry == Symmetry::kSymmetric || symmetry == Symmetry::kUnsignedSymmetric)
          CHECK(g.offset == -half);
        if (symmetry == Symmetry::kUnsignedSymmetric)
          CHECK(relu_observer->encoding(bitwidth, symmetry).offset == 0);
        // More bits never make the grid much worse (searches differ a little per width).
        const double error = empirical_mse(data, g, bitwidth);
        CHECK(error <= previous_error * 1.05);
        previous_error = std::min(previous_error, error);
      }
      CHECK(error_code_of([&] { signed_observer->encoding(1, symmetry); }) ==
            ErrorCode::kInvalidArgument);
      CHECK(error_code_of([&] { signed_observer->encoding(17, symmetry); }) ==
            ErrorCode::kInvalidArgument);
    }
  }
}

TEST_CASE("observer memory does not grow with the number of samples") {
  const std::vector<float> batch = gaussian(1000, 1.0, 18);
  for (CalibrationMethod method : kAllMethods) {
    INFO(calibration_method_name(method));
    auto observer = make_observer(method, {}, "t");
    const size_t before = observer->memory_bytes();
    observer->observe(batch.data(), static_cast<int64_t>(batch.size()));
    const size_t after_thousand = observer->memory_bytes();
    std::vector<float> scaled = batch;
    for (int i = 1; i < 1000; ++i) {
      // Widening batches force re-binning on the way.
      for (size_t k = 0; k < batch.size(); ++k) scaled[k] = batch[k] * (1.0f + 0.01f * i);
      observer->observe(scaled.data(), static_cast<int64_t>(scaled.size()));
    }
    CHECK(observer->finite_count() == 1000000);
    CHECK(observer->memory_bytes() == after_thousand);
    CHECK(after_thousand == before);
    CHECK(after_thousand <= 64 * 1024);
  }
}

TEST_CASE("streaming 1, 7 or 100 batches in any order gives the same encodings") {
  // Growing magnitudes, so the range widens with every batch; and the reverse order.
  std::vector<float> data = gaussian(100000, 1.0, 19);
  data.push_back(40.0f);
  std::sort(data.begin(), data.end(), [](float a, float b) { return std::fabs(a) < std::fabs(b); });
  std::vector<float> reversed(data.rbegin(), data.rend());
  for (CalibrationMethod method : kAllMethods) {
    const auto whole = observer_of(method, data, 1);
    const auto hundred = observer_of(method, data, 100);
    const auto seven_reversed = observer_of(method, reversed, 7);
    for (Symmetry symmetry : kAllSymmetries) {
      for (int bitwidth : {4, 8}) {
        INFO(label(method, symmetry, bitwidth));
        const ChannelEncoding reference = whole->encoding(bitwidth, symmetry);
        check_same_grid(hundred->encoding(bitwidth, symmetry), reference);
        check_same_grid(seven_reversed->encoding(bitwidth, symmetry), reference);
      }
    }
  }
}

namespace {

std::vector<float> fashion_mnist_pixels(int64_t images) {
  const Tensor raw = read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz");
  const Tensor nchw = idx_images_to_nchw(raw, 0, images);
  const float* p = nchw.data<float>();
  return std::vector<float>(p, p + nchw.size());
}

// The reference ResNet's largest weight tensor.
std::vector<float> resnet_weights(std::string* name) {
  const Model model = load_onnx_file(std::string(QSIM_SOURCE_DIR) + "/models/resnet_fmnist.onnx");
  const Tensor* largest = nullptr;
  for (const auto& [tensor_name, tensor] : model.graph.initializers) {
    if (tensor.dtype() != DType::kFloat32 || tensor.rank() != 4) continue;
    if (largest == nullptr || tensor.size() > largest->size()) {
      largest = &tensor;
      *name = tensor_name;
    }
  }
  REQUIRE(largest != nullptr);
  const float* p = largest->data<float>();
  return std::vector<float>(p, p + largest->size());
}

}  // namespace

TEST_CASE("calibration on Fashion-MNIST pixels and reference-model weights") {
  const std::vector<float> pixels = fashion_mnist_pixels(1000);
  const auto minmax = observer_of(CalibrationMethod::kMinMax, pixels, 10);
  // Pixels are k / 255 with some pixel at 255: MinMax gives exactly the uint8 grid.
  const ChannelEncoding u = minmax->encoding(8, Symmetry::kAsymmetric);
  CHECK(u.offset == 0);
  CHECK(u.scale == Approx(1.0 / 255).epsilon(1e-6));
  CHECK(empirical_mse(pixels, u, 8) < 1e-12);

  std::string weight_name;
  const std::vector<float> weights = resnet_weights(&weight_name);
  INFO("weights " << weight_name << " (" << weights.size() << " values)");
  for (int bitwidth : {4, 8}) {
    const double minmax_error = empirical_mse(
        weights,
        observer_of(CalibrationMethod::kMinMax, weights)->encoding(bitwidth, Symmetry::kSymmetric),
        bitwidth);
    for (CalibrationMethod method : kAllMethods) {
      INFO(label(method, Symmetry::kSymmetric, bitwidth));
      const auto observer = observer_of(method, weights, 4);
      CHECK(observer->nan_inf_count() == 0);
      const double error =
          empirical_mse(weights, observer->encoding(bitwidth, Symmetry::kSymmetric), bitwidth);
      // Only MSE promises not to lose to the full range; every method must stay sensible.
      if (method == CalibrationMethod::kMse) CHECK(error <= 1.01 * minmax_error);
      CHECK(error <= 10.0 * minmax_error);
    }
  }
}

// Figures for docs/CALIBRATION.md; hidden (run with `qsim_core_tests "[benchmark]"`).
TEST_CASE("observer throughput and real-data errors", "[.][benchmark]") {
  const std::vector<float> signed_values = gaussian(1 << 22, 1.0, 20);
  std::vector<float> relu = signed_values;
  for (float& v : relu) v = std::max(v, 0.0f);
  std::printf("observe() throughput, %zu values per batch, 8 batches:\n", signed_values.size());
  const std::vector<float>* inputs[] = {&signed_values, &relu};
  for (CalibrationMethod method : kAllMethods) {
    for (const std::vector<float>* data : inputs) {
      auto observer = make_observer(method, {}, "t");
      const auto start = std::chrono::steady_clock::now();
      for (int i = 0; i < 8; ++i)
        observer->observe(data->data(), static_cast<int64_t>(data->size()));
      const double observe_s =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const auto search_start = std::chrono::steady_clock::now();
      observer->encoding(8, Symmetry::kAsymmetric);
      const double search_ms =
          1e3 *
          std::chrono::duration<double>(std::chrono::steady_clock::now() - search_start).count();
      std::printf("  %-12s %-6s %7.0f Mvalues/s   encoding(8, asymmetric) %7.2f ms  %zu bytes\n",
                  calibration_method_name(method), data == &relu ? "relu" : "signed",
                  8.0 * static_cast<double>(data->size()) / observe_s / 1e6, search_ms,
                  observer->memory_bytes());
    }
  }
  const std::vector<float> pixels = fashion_mnist_pixels(10000);
  std::string weight_name;
  const std::vector<float> weights = resnet_weights(&weight_name);
  struct Case {
    const char* what;
    const std::vector<float>* data;
    Symmetry symmetry;
    int bitwidth;
  };
  const Case cases[] = {{"pixels, asymmetric 8-bit", &pixels, Symmetry::kAsymmetric, 8},
                        {"pixels, asymmetric 4-bit", &pixels, Symmetry::kAsymmetric, 4},
                        {"resnet weights, symmetric 8-bit", &weights, Symmetry::kSymmetric, 8},
                        {"resnet weights, symmetric 4-bit", &weights, Symmetry::kSymmetric, 4}};
  std::printf("empirical quantization MSE (weights: %s, %zu values; pixels: %zu values)\n",
              weight_name.c_str(), weights.size(), pixels.size());
  for (const Case& c : cases) {
    std::printf("  %s\n", c.what);
    for (CalibrationMethod method : kAllMethods) {
      const ChannelEncoding g = observer_of(method, *c.data, 10)->encoding(c.bitwidth, c.symmetry);
      std::printf("    %-12s scale %.6g offset %6d  range [%.4g, %.4g]  mse %.4e\n",
                  calibration_method_name(method), g.scale, g.offset, g.min(), g.max(c.bitwidth),
                  empirical_mse(*c.data, g, c.bitwidth));
    }
  }
}

TEST_CASE("entropy on ReLU outputs clips less with the grid's levels than with ORT's 128") {
  // A ReLU of a bell: half exact zeros, whose spike makes coarse merging clip hard.
  std::vector<float> relu_like = gaussian(800000, 1.0, 21);
  for (float& x : relu_like) x = std::max(x, 0.0f);
  auto range_top = [&](int quantized_bins) {
    ObserverOptions options;
    options.entropy_quantized_bins = quantized_bins;
    return observer_of(CalibrationMethod::kEntropy, relu_like, 1, options)
        ->encoding(8, Symmetry::kAsymmetric)
        .max(8);
  };
  const float grid_levels = range_top(0), ort_default = range_top(128);
  INFO("range top with the grid's levels " << grid_levels << ", with ORT's 128 " << ort_default);
  CHECK(grid_levels > ort_default);
  CHECK(grid_levels == range_top(512));  // 256 levels over [0, t] for uint8
}
