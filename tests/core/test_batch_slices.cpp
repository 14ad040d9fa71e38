// Batches run as slices of kSliceImages images (runtime/batch_slices.h): the same rows as each
// slice alone, whatever the thread count, and graphs that mix the images of a batch run whole.
#include <atomic>
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>

#include "graph/onnx_import.h"
#include "runtime/batch_slices.h"
#include "runtime/engine.h"
#include "single_op_model.h"
#include "test_quantsim_data.h"

using namespace qsim;
using namespace qsim::testing;

namespace {

bool same_rows(const Tensor& batch, int64_t first, const Tensor& rows) {
  const size_t row_bytes = batch.byte_size() / static_cast<size_t>(batch.shape()[0]);
  return rows.shape()[0] * static_cast<int64_t>(row_bytes) ==
             static_cast<int64_t>(rows.byte_size()) &&
         std::memcmp(static_cast<const uint8_t*>(batch.raw()) + first * row_bytes, rows.raw(),
                     rows.byte_size()) == 0;
}

Tensor counting_up(Shape shape) {
  Tensor t(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = static_cast<float>(i % 97) * 0.1f;
  return t;
}

}  // namespace

TEST_CASE("a batch is cut into slices of 8 images and a shorter last one") {
  CHECK(batch_slice_sizes(1).empty());
  CHECK(batch_slice_sizes(15).empty());
  CHECK(batch_slice_sizes(16) == std::vector<int64_t>{8, 8});
  CHECK(batch_slice_sizes(20) == std::vector<int64_t>{8, 8, 4});
  CHECK(batch_slice_sizes(64) == std::vector<int64_t>(8, 8));
}

// Without slicing the rows would differ in their last bits: OpenBLAS's Gemm rounds a row
// differently depending on how many rows it is called with.
TEST_CASE("each slice of a batch gives the bits that slice gives alone, for 1 and 2 threads") {
  for (const std::string& file : testdata::reference_models()) {
    INFO(file);
    auto model = std::make_shared<const Model>(load_onnx_file(testdata::model_path(file)));
    Engine alone(model, EngineOptions{1});
    for (int threads : {1, 2}) {
      Engine engine(model, EngineOptions{threads});
      for (const std::vector<int64_t>& slices :
           {std::vector<int64_t>{8, 8, 4}, std::vector<int64_t>(8, 8)}) {
        const int64_t batch = std::accumulate(slices.begin(), slices.end(), int64_t{0});
        INFO("threads " << threads << ", batch " << batch);
        const Tensor logits = engine.run({testdata::test_images(0, batch)}).at(0);
        int64_t first = 0;
        for (int64_t size : slices) {
          CHECK(same_rows(logits, first, alone.run({testdata::test_images(first, size)}).at(0)));
          first += size;
        }
      }
    }
  }
}

TEST_CASE("hooks see slices of the batch only when they are reentrant") {
  auto model = std::make_shared<const Model>(
      load_onnx_file(testdata::model_path(testdata::reference_models().at(0))));
  Engine engine(model, EngineOptions{2});
  const Tensor images = testdata::test_images(0, 32);
  for (bool reentrant : {false, true}) {
    INFO("reentrant " << reentrant);
    std::atomic<int64_t> smallest{1 << 30}, largest{0};
    RunHooks hooks;
    hooks.reentrant = reentrant;
    hooks.after_node = [&](size_t, const Node&, const std::vector<const Tensor*>&,
                           const std::vector<Tensor*>& outputs) {
      const int64_t rows = outputs.at(0)->shape().at(0);
      for (int64_t seen = smallest; rows < seen && !smallest.compare_exchange_weak(seen, rows);) {
      }
      for (int64_t seen = largest; rows > seen && !largest.compare_exchange_weak(seen, rows);) {
      }
    };
    engine.run({images}, hooks);
    CHECK(smallest == (reentrant ? kSliceImages : 32));
    CHECK(largest == (reentrant ? kSliceImages : 32));
  }
}

TEST_CASE("a Softmax along the batch runs the batch whole") {
  for (int64_t opset : {int64_t{11}, int64_t{13}}) {
    INFO("opset " << opset);
    Engine engine(one_node("Softmax", opset, {"x"}, {{"axis", Attribute::of_int(0)}}),
                  EngineOptions{2});
    const Tensor y = engine.run({counting_up({32, 4})}).at(0);
    double total = 0;
    for (int64_t i = 0; i < y.size(); ++i) total += y.data<float>()[i];
    CHECK(total == Approx(opset < 13 ? 1.0 : 4.0).epsilon(1e-5));
  }
}

TEST_CASE("a Slice that reverses the batch runs it whole") {
  const int64_t lowest = std::numeric_limits<int64_t>::min();
  Engine engine(one_node("Slice", 13, {"x", "starts", "ends", "axes", "steps"}, {},
                         {{"starts", make_tensor<int64_t>({1}, {-1})},
                          {"ends", make_tensor<int64_t>({1}, {lowest})},
                          {"axes", make_tensor<int64_t>({1}, {0})},
                          {"steps", make_tensor<int64_t>({1}, {-1})}}),
                EngineOptions{2});
  const Tensor x = counting_up({32, 3});
  const Tensor y = engine.run({x}).at(0);
  REQUIRE(y.shape() == Shape{32, 3});
  for (int64_t row = 0; row < 32; ++row)
    CHECK(same_rows(
        x, 31 - row,
        Tensor::view(DType::kFloat32, {1, 3}, const_cast<float*>(y.data<float>() + row * 3))));
}

TEST_CASE("a Reshape to a fixed batch size runs the batch whole") {
  Engine engine(
      one_node("Reshape", 13, {"x", "shape"}, {}, {{"shape", make_tensor<int64_t>({2}, {32, -1})}}),
      EngineOptions{2});
  const Tensor x = counting_up({32, 2, 2});
  const Tensor y = engine.run({x}).at(0);
  REQUIRE(y.shape() == Shape{32, 4});
  CHECK(std::memcmp(x.raw(), y.raw(), x.byte_size()) == 0);
}

// x / batch size, the batch size read with Shape and folded into a constant at plan time:
// a slice's plan would divide by the slice's size.
TEST_CASE("a constant folded from the batch size runs the batch whole") {
  auto model = std::make_shared<Model>();
  model->opset = 13;
  auto add_node = [&](const std::string& op, std::vector<std::string> inputs,
                      const std::string& output, std::map<std::string, Attribute> attrs = {}) {
    Node node;
    node.name = output;
    node.op_type = op;
    node.inputs = std::move(inputs);
    node.outputs = {output};
    node.attributes = std::move(attrs);
    model->graph.nodes.push_back(node);
  };
  model->graph.inputs.push_back({"x", DType::kUndefined, 0, {}});
  model->graph.initializers["zero"] = make_tensor<int64_t>({}, {0});
  add_node("Shape", {"x"}, "shape");
  add_node("Gather", {"shape", "zero"}, "batch", {{"axis", Attribute::of_int(0)}});
  add_node("Cast", {"batch"}, "batch_float", {{"to", Attribute::of_int(1)}});
  add_node("Div", {"x", "batch_float"}, "y");
  model->graph.outputs.push_back({"y", DType::kUndefined, 0, {}});
  Engine engine(model, EngineOptions{2});
  const Tensor x = counting_up({32, 3});
  const Tensor y = engine.run({x}).at(0);
  for (int64_t i = 0; i < x.size(); ++i) CHECK(y.data<float>()[i] == x.data<float>()[i] / 32.0f);
}
