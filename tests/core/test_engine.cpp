#include <catch2/catch.hpp>
#include <cmath>

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
  REQUIRE_THROWS_WITH(engine.run({wrong}), Catch::Contains("[3,4,6]") && Catch::Contains("[3,4,5]"));
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
