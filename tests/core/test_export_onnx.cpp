// ONNX export: qsim IR -> ModelProto -> qsim IR must give back the same model.
#include <catch2/catch.hpp>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "graph/onnx_export.h"
#include "graph/onnx_import.h"
#include "io/idx.h"
#include "runtime/engine.h"
#include "temp_path.h"

using namespace qsim;
namespace fs = std::filesystem;

namespace {

const std::string kModels = std::string(QSIM_SOURCE_DIR) + "/models/";
const char kConformance[] = "/usr/share/libonnx-testdata/data/node/";

std::string tensor_difference(const Tensor& a, const Tensor& b) {
  if (a.dtype() != b.dtype() || a.shape() != b.shape()) return a.describe() + " vs " + b.describe();
  if (a.byte_size() != 0 && std::memcmp(a.raw(), b.raw(), a.byte_size()) != 0)
    return "different values";
  return "";
}

std::string attribute_difference(const Attribute& a, const Attribute& b) {
  if (a.kind != b.kind) return "different kinds";
  if (a.f != b.f || a.i != b.i || a.s != b.s || a.floats != b.floats || a.ints != b.ints ||
      a.strings != b.strings)
    return "different values";
  return a.kind == Attribute::Kind::kTensor ? tensor_difference(a.t, b.t) : "";
}

std::string node_difference(const Node& a, const Node& b) {
  if (a.name != b.name || a.op_type != b.op_type || a.domain != b.domain)
    return "names or op types";
  if (a.inputs != b.inputs || a.outputs != b.outputs) return "inputs or outputs";
  if (a.attributes.size() != b.attributes.size()) return "attribute count";
  for (const auto& [name, attribute] : a.attributes) {
    if (!b.has(name)) return "attribute " + name + " missing";
    std::string diff = attribute_difference(attribute, b.attributes.at(name));
    if (!diff.empty()) return "attribute " + name + ": " + diff;
  }
  return "";
}

std::string value_infos_difference(const std::vector<ValueInfo>& a,
                                   const std::vector<ValueInfo>& b) {
  if (a.size() != b.size()) return "count";
  for (size_t i = 0; i < a.size(); ++i) {
    if (a[i].name != b[i].name || a[i].dtype != b[i].dtype || a[i].onnx_type != b[i].onnx_type)
      return a[i].name + " name or type";
    if (a[i].dims.has_value() != b[i].dims.has_value()) return a[i].name + " shape presence";
    for (size_t d = 0; a[i].dims && d < a[i].dims->size(); ++d) {
      if (d >= b[i].dims->size() || (*a[i].dims)[d].value != (*b[i].dims)[d].value ||
          (*a[i].dims)[d].param != (*b[i].dims)[d].param)
        return a[i].name + " dimension " + std::to_string(d);
    }
  }
  return "";
}

// The first difference between two models ("" when they are the same).
std::string model_difference(const Model& a, const Model& b) {
  if (a.opset != b.opset) return "opset";
  if (a.graph.name != b.graph.name) return "graph name";
  std::string diff = value_infos_difference(a.graph.inputs, b.graph.inputs);
  if (!diff.empty()) return "inputs: " + diff;
  diff = value_infos_difference(a.graph.outputs, b.graph.outputs);
  if (!diff.empty()) return "outputs: " + diff;
  if (a.graph.initializers.size() != b.graph.initializers.size()) return "initializer count";
  for (const auto& [name, tensor] : a.graph.initializers) {
    const Tensor* other = b.graph.find_initializer(name);
    if (other == nullptr) return "initializer " + name + " missing";
    diff = tensor_difference(tensor, *other);
    if (!diff.empty()) return "initializer " + name + ": " + diff;
  }
  if (a.graph.nodes.size() != b.graph.nodes.size()) return "node count";
  for (size_t i = 0; i < a.graph.nodes.size(); ++i) {
    diff = node_difference(a.graph.nodes[i], b.graph.nodes[i]);
    if (!diff.empty()) return a.graph.nodes[i].label() + ": " + diff;
  }
  return "";
}

Model round_trip(const Model& model) {
  const std::string bytes = serialize_onnx(model);
  return load_onnx_memory(bytes.data(), bytes.size());
}

}  // namespace

TEST_CASE("the reference models survive export and import unchanged and compute the same") {
  for (const char* file : {"resnet_fmnist.onnx", "mobilenet_fmnist.onnx"}) {
    INFO(file);
    const Model original = load_onnx_file(kModels + file);
    const Model exported = round_trip(original);
    CHECK(model_difference(original, exported) == "");
    REQUIRE(exported.graph.inputs[0].dims.has_value());
    CHECK((*exported.graph.inputs[0].dims)[0].param == "batch");  // the dynamic batch axis

    Tensor images = idx_images_to_nchw(
        read_idx("/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz"), 0, 16);
    Tensor expected = Engine(std::make_shared<Model>(original)).run({images})[0];
    Tensor actual = Engine(std::make_shared<Model>(exported)).run({images})[0];
    CHECK(tensor_difference(expected, actual) == "");
  }
}

TEST_CASE(
    "every conformance model qsim imports exports to the same model, or is refused as "
    "unsupported") {
  int same = 0, refused = 0;
  std::string failures;
  for (const auto& entry : fs::directory_iterator(kConformance)) {
    Model model;
    try {
      model = load_onnx_file((entry.path() / "model.onnx").string());
    } catch (const Error&) {
      continue;  // types or opsets qsim does not import
    }
    try {
      std::string diff = model_difference(model, round_trip(model));
      if (diff.empty())
        ++same;
      else
        failures += entry.path().filename().string() + ": " + diff + "\n";
    } catch (const Error& e) {
      if (e.code() != ErrorCode::kUnsupported)
        failures += entry.path().filename().string() + ": " + e.what() + "\n";
      ++refused;
    }
  }
  INFO("same: " << same << ", refused: " << refused);
  CHECK(failures == "");
  CHECK(same > 500);
  CHECK(refused < 50);  // only subgraphs and other domains
}

TEST_CASE("what the import did not keep is refused by name, not silently dropped") {
  Model model = load_onnx_file(std::string(kConformance) + "test_if/model.onnx");
  CHECK_THROWS_WITH(serialize_onnx(model), Catch::Contains("If") && Catch::Contains("subgraph"));

  Model custom = load_onnx_file(kModels + "resnet_fmnist.onnx");
  custom.graph.nodes[0].domain = "com.example";
  CHECK_THROWS_WITH(serialize_onnx(custom),
                    Catch::Contains("com.example") && Catch::Contains(custom.graph.nodes[0].name));
}

TEST_CASE("a lower opset keeps its number and gets an IR version that can carry it") {
  Model model = load_onnx_file(kModels + "resnet_fmnist.onnx");
  model.ir_version = 3;
  CHECK(round_trip(model).opset == 13);
  CHECK(round_trip(model).ir_version == min_ir_version_for_opset(13));
  CHECK(min_ir_version_for_opset(9) == 4);
  CHECK(min_ir_version_for_opset(18) == 8);
}

TEST_CASE("saving to an unwritable path fails naming it and leaves nothing behind") {
  const Model model = load_onnx_file(kModels + "mobilenet_fmnist.onnx");
  const fs::path dir = test_temp_path("qsim-export-onnx-test");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const fs::path blocker = dir / "not-a-folder";
  std::ofstream(blocker) << "x";
  const std::string path = (blocker / "model.onnx").string();
  try {
    save_onnx_file(model, path);
    FAIL("no error");
  } catch (const Error& e) {
    CHECK(e.code() == ErrorCode::kIo);
    CHECK_THAT(e.what(), Catch::Contains(path));
  }
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);

  const std::string good = (dir / "model.onnx").string();
  save_onnx_file(model, good);
  CHECK(model_difference(model, load_onnx_file(good)) == "");
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) ==
        2);  // no temp files
  fs::remove_all(dir);
}
