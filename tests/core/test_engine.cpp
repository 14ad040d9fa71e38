#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>

#include "graph/onnx_import.h"
#include "runtime/engine.h"

using namespace qsim;

namespace {

const std::string kConformance = "/usr/share/libonnx-testdata/data/node/";

std::shared_ptr<Model> conformance_model(const std::string& test) {
  return std::make_shared<Model>(load_onnx_file(kConformance + test + "/model.onnx"));
}

}  // namespace

TEST_CASE("an input whose shape does not fit the model is rejected with both shapes") {
  auto model = conformance_model("test_relu");  // x: float[3,4,5]
  Engine engine(model);
  Tensor wrong(DType::kFloat32, {3, 4, 6});
  REQUIRE_THROWS_WITH(engine.run({wrong}),
                      Catch::Contains("[3,4,6]") && Catch::Contains("[3,4,5]"));
  Tensor wrong_type(DType::kInt64, {3, 4, 5});
  REQUIRE_THROWS_WITH(engine.run({wrong_type}), Catch::Contains("int64"));
  REQUIRE_THROWS_WITH(engine.run({}), Catch::Contains("1 inputs, 0 given"));
}

TEST_CASE("NaN inputs propagate without crashing") {
  auto model = conformance_model("test_sigmoid");
  Engine engine(model);
  Tensor x(DType::kFloat32, {3, 4, 5});
  for (int64_t i = 0; i < x.size(); ++i) x.data<float>()[i] = i % 2 ? NAN : 0.5f;
  Tensor y = engine.run({x})[0];
  CHECK(std::isnan(y.data<float>()[1]));
  CHECK_FALSE(std::isnan(y.data<float>()[0]));
}

// Two threads call sgemm at once; a BLAS without locking corrupts results now and then, so
// the check repeats the run.
TEST_CASE("reference models give bit-identical results with 1 and 2 threads, run after run") {
  const std::string file =
      GENERATE(as<std::string>{}, "resnet_fmnist.onnx", "mobilenet_fmnist.onnx");
  auto model =
      std::make_shared<Model>(load_onnx_file(std::string(QSIM_SOURCE_DIR) + "/models/" + file));
  Tensor images(DType::kFloat32, {64, 1, 28, 28});
  for (int64_t i = 0; i < images.size(); ++i)
    images.data<float>()[i] = static_cast<float>((i * 7919) % 256) / 255.0f;
  Engine serial(model, EngineOptions{1});
  Engine parallel(model, EngineOptions{2});
  const Tensor expected = serial.run({images})[0];
  int differing_runs = 0;
  for (int run = 0; run < 30; ++run) {
    const Tensor got = parallel.run({images})[0];
    differing_runs += std::memcmp(got.raw(), expected.raw(), expected.byte_size()) != 0;
  }
  CHECK(differing_runs == 0);
}
