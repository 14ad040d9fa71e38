#include <onnx/onnx_pb.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <random>

#include "graph/onnx_import.h"
#include "io/npy.h"
#include "runtime/engine.h"
#include "temp_path.h"

using namespace qsim;
namespace fs = std::filesystem;

namespace {

const char kConformance[] = "/usr/share/libonnx-testdata/data/node/";

// A one-node model Y = op(X) with float inputs of shape [2, 3].
onnx::ModelProto unary_model(const std::string& op, int64_t opset = 13) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(opset);
  auto* g = m.mutable_graph();
  g->set_name("g");
  auto* n = g->add_node();
  n->set_op_type(op);
  n->set_name("node0");
  n->add_input("X");
  n->add_output("Y");
  for (const char* name : {"X", "Y"}) {
    auto* v = name[0] == 'X' ? g->add_input() : g->add_output();
    v->set_name(name);
    auto* tt = v->mutable_type()->mutable_tensor_type();
    tt->set_elem_type(onnx::TensorProto::FLOAT);
    tt->mutable_shape()->add_dim()->set_dim_param("batch");
    tt->mutable_shape()->add_dim()->set_dim_value(3);
  }
  return m;
}

Model load(const onnx::ModelProto& m) {
  std::string bytes = m.SerializeAsString();
  return load_onnx_memory(bytes.data(), bytes.size());
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

}  // namespace

TEST_CASE("a truncated model file is rejected with a message naming the file") {
  std::string bytes =
      read_bytes(std::string(kConformance) + "test_conv_with_strides_padding/model.onnx");
  REQUIRE(bytes.size() > 40);
  fs::path path = test_temp_path("qsim-truncated.onnx");
  std::ofstream(path, std::ios::binary)
      .write(bytes.data(), static_cast<std::streamsize>(bytes.size() / 2));
  std::string message = error_of([&] { load_onnx_file(path.string()); });
  CHECK_THAT(message, Catch::Contains(path.string()));
  CHECK_THAT(message, Catch::Contains("truncated or corrupt") || Catch::Contains("not produced"));
  fs::remove(path);
}

TEST_CASE("random bytes are not a model") {
  std::mt19937 rng(7);
  std::string bytes(4096, '\0');
  for (char& c : bytes) c = static_cast<char>(rng());
  CHECK_THROWS_AS(load_onnx_memory(bytes.data(), bytes.size()), Error);
  CHECK_THROWS_WITH(load_onnx_memory("", 0), Catch::Contains("empty"));
  CHECK_THAT(error_of([] { load_onnx_file("/nonexistent/model.onnx"); }),
             Catch::Contains("/nonexistent/model.onnx"));
}

TEST_CASE("an unsupported op is named with its node when the engine is made") {
  auto model = std::make_shared<Model>(load(unary_model("Sinh")));
  std::string message = error_of([&] { Engine engine(model); });
  CHECK_THAT(message, Catch::Contains("Sinh") && Catch::Contains("node0"));
}

TEST_CASE("opsets outside 7..21 are refused naming the file and the range") {
  for (const int64_t opset : {6, 22}) {
    const fs::path path = test_temp_path("qsim-opset-" + std::to_string(opset) + ".onnx");
    const std::string bytes = unary_model("Relu", opset).SerializeAsString();
    std::ofstream(path, std::ios::binary)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    const std::string message = error_of([&] { load_onnx_file(path.string()); });
    CHECK_THAT(message, Catch::Contains(path.string()) &&
                            Catch::Contains("opset " + std::to_string(opset)) &&
                            Catch::Contains("opsets 7 to 21"));
    fs::remove(path);
  }
  CHECK(load(unary_model("Relu", 21)).opset == 21);
  CHECK(load(unary_model("Relu", 7)).opset == 7);
}

TEST_CASE("opset 7 and 8 models run in their own forms") {
  // The committed old-opset node models (tools/make_opset_models.py): BatchNormalization with
  // spatial=1 at opset 7, MaxPool at 8, Pad's and Clip's attributes at 7, AveragePool at 7.
  const fs::path dir = fs::path(QSIM_SOURCE_DIR) / "tests" / "data" / "opset";
  for (const char* name : {"batchnorm_7_spatial", "maxpool_8", "pad_7_edge", "clip_7_none",
                           "averagepool_7", "softmax_7_axis0_3d", "leakyrelu_7"}) {
    INFO(name);
    auto model =
        std::make_shared<Model>(load_onnx_file((dir / (std::string(name) + ".onnx")).string()));
    CHECK(model->opset <= 8);
    Engine engine(model);
    const Tensor x = read_npy((dir / (std::string(name) + ".npy")).string());
    CHECK(engine.run({x}).at(0).size() > 0);
  }
}

TEST_CASE("dangling inputs and cycles name the node") {
  auto dangling = unary_model("Relu");
  dangling.mutable_graph()->mutable_node(0)->set_input(0, "nowhere");
  CHECK_THAT(error_of([&] { load(dangling); }),
             Catch::Contains("nowhere") && Catch::Contains("node0"));

  auto cycle = unary_model("Relu");
  auto* g = cycle.mutable_graph();
  g->mutable_node(0)->set_input(0, "Z");
  auto* n2 = g->add_node();
  n2->set_op_type("Relu");
  n2->set_name("node1");
  n2->add_input("Y");
  n2->add_output("Z");
  CHECK_THAT(error_of([&] { load(cycle); }), Catch::Contains("cycle"));
}

TEST_CASE("unsupported initializer dtypes are named") {
  auto m = unary_model("Relu");
  auto* init = m.mutable_graph()->add_initializer();
  init->set_name("W");
  init->set_data_type(onnx::TensorProto::DOUBLE);
  init->add_dims(1);
  init->add_double_data(1.0);
  CHECK_THAT(error_of([&] { load(m); }), Catch::Contains("'W'") && Catch::Contains("DOUBLE"));
}

TEST_CASE("nodes out of order are sorted; Constant nodes become initializers") {
  auto m = unary_model("Relu");
  auto* g = m.mutable_graph();
  // Y = Relu(X) ; put "K = Constant" after its consumer "Y2 = Add(Y, K)".
  g->mutable_output(0)->set_name("Y2");
  auto* add = g->add_node();
  add->set_op_type("Add");
  add->set_name("add");
  add->add_input("Y");
  add->add_input("K");
  add->add_output("Y2");
  auto* k = g->add_node();
  k->set_op_type("Constant");
  k->add_output("K");
  auto* attr = k->add_attribute();
  attr->set_name("value_float");
  attr->set_type(onnx::AttributeProto::FLOAT);
  attr->set_f(1.5f);
  Model model = load(m);
  REQUIRE(model.graph.nodes.size() == 2);
  CHECK(model.graph.nodes[0].op_type == "Relu");
  REQUIRE(model.graph.find_initializer("K") != nullptr);
  CHECK(*model.graph.find_initializer("K")->data<float>() == 1.5f);
}

TEST_CASE("external data is read relative to the model file") {
  fs::path dir = test_temp_path("qsim-external");
  fs::create_directories(dir);
  std::vector<float> values = {1, 2, 3};
  std::ofstream(dir / "weights.bin", std::ios::binary)
      .write(reinterpret_cast<const char*>(values.data()), sizeof(float) * values.size());
  auto m = unary_model("Relu");
  auto* init = m.mutable_graph()->add_initializer();
  init->set_name("W");
  init->set_data_type(onnx::TensorProto::FLOAT);
  init->add_dims(3);
  init->set_data_location(onnx::TensorProto::EXTERNAL);
  auto* loc = init->add_external_data();
  loc->set_key("location");
  loc->set_value("weights.bin");
  std::ofstream(dir / "model.onnx", std::ios::binary) << m.SerializeAsString();
  Model model = load_onnx_file((dir / "model.onnx").string());
  REQUIRE(model.graph.find_initializer("W") != nullptr);
  CHECK(model.graph.find_initializer("W")->data<float>()[2] == 3.0f);

  loc->set_value("../escape.bin");
  std::ofstream(dir / "model.onnx", std::ios::binary) << m.SerializeAsString();
  CHECK_THAT(error_of([&] { load_onnx_file((dir / "model.onnx").string()); }),
             Catch::Contains("external data location"));
  fs::remove_all(dir);
}
