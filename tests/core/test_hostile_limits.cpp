// Hostile inputs of issue 21 ("limits instead of trust"): each must fail with a clear error
// naming the file, tensor, node or field, in well under a second and without allocating what
// the input claims. docs/LIMITS.md lists the limits these tests exercise.
#include <onnx/onnx_pb.h>
#include <sys/resource.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <functional>
#include <string>
#include <utility>

#include "graph/onnx_import.h"
#include "io/encodings_fbs.h"
#include "io/npy.h"
#include "qsim_encodings_generated.h"
#include "qsim_encodings_reader.h"
#include "runtime/engine.h"
#include "util/json_value.h"

using namespace qsim;
namespace fs = std::filesystem;

namespace {

struct Failure {
  ErrorCode code = ErrorCode::kInternal;
  std::string message = "no error";
  double seconds = 0.0;
};

// Runs `f`, which must throw qsim::Error, and times it.
Failure failure_of(const std::function<void()>& f) {
  Failure out;
  const auto start = std::chrono::steady_clock::now();
  bool threw = false;
  try {
    f();
  } catch (const Error& e) {
    threw = true;
    out.code = e.code();
    out.message = e.what();
  }
  out.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!threw) FAIL("no error thrown");
  return out;
}

// Peak resident memory of the process so far, in MB.
double peak_rss_mb() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_maxrss) / 1024.0;
}

// Grows by less than `mb` MB of peak RSS while `f` runs (vacuous if the peak is already high,
// never wrong).
void check_peak_growth(double before_mb, double mb = 100.0) {
  CHECK(peak_rss_mb() - before_mb < mb);
}

onnx::ValueInfoProto* add_value(google::protobuf::RepeatedPtrField<onnx::ValueInfoProto>* list,
                                const std::string& name, std::initializer_list<int64_t> dims,
                                int elem_type = onnx::TensorProto::FLOAT) {
  auto* v = list->Add();
  v->set_name(name);
  auto* tt = v->mutable_type()->mutable_tensor_type();
  tt->set_elem_type(elem_type);
  for (int64_t d : dims) tt->mutable_shape()->add_dim()->set_dim_value(d);  // {}: shape unknown
  return v;
}

onnx::ModelProto empty_model(int64_t opset = 13) {
  onnx::ModelProto m;
  m.set_ir_version(8);
  m.add_opset_import()->set_version(opset);
  m.mutable_graph()->set_name("g");
  return m;
}

onnx::NodeProto* add_node(onnx::ModelProto& m, const std::string& op, const std::string& name,
                          std::initializer_list<std::string> inputs,
                          std::initializer_list<std::string> outputs) {
  auto* n = m.mutable_graph()->add_node();
  n->set_op_type(op);
  n->set_name(name);
  for (const auto& in : inputs) n->add_input(in);
  for (const auto& out : outputs) n->add_output(out);
  return n;
}

onnx::TensorProto* add_initializer(onnx::ModelProto& m, const std::string& name, int data_type,
                                   std::initializer_list<int64_t> dims) {
  auto* t = m.mutable_graph()->add_initializer();
  t->set_name(name);
  t->set_data_type(data_type);
  for (int64_t d : dims) t->add_dims(d);
  return t;
}

void add_ints(onnx::NodeProto* n, const std::string& name, std::initializer_list<int64_t> values) {
  auto* a = n->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

Model load(const onnx::ModelProto& m) {
  const std::string bytes = m.SerializeAsString();
  return load_onnx_memory(bytes.data(), bytes.size());
}

// Plans `model` for float inputs of these shapes (what qsim_infer_shapes and qsim_run do first).
void plan(const Model& model, std::vector<Shape> shapes, const EngineOptions& options = {}) {
  Engine engine(std::make_shared<const Model>(model), options);
  engine.output_types(shapes, std::vector<DType>(shapes.size(), DType::kFloat32));
}

struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() /
             (name + "-" + std::to_string(static_cast<long long>(::getpid())))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

}  // namespace

TEST_CASE("hostile: a node with no outputs is a parse error at load, naming the node") {
  auto m = empty_model();
  add_value(m.mutable_graph()->mutable_input(), "X", {2, 3});
  add_value(m.mutable_graph()->mutable_output(), "X", {2, 3});
  add_node(m, "Add", "adder", {"X", "X"}, {});
  Failure f = failure_of([&] { load(m); });
  CHECK(f.code == ErrorCode::kParse);
  CHECK_THAT(f.message, Catch::Contains("Add 'adder'") && Catch::Contains("no first output"));
  // An omitted (empty) first output is the same.
  m.mutable_graph()->mutable_node(0)->add_output("");
  f = failure_of([&] { load(m); });
  CHECK(f.code == ErrorCode::kParse);
  CHECK_THAT(f.message, Catch::Contains("no first output"));
}

TEST_CASE("hostile: Conv weights with an empty dimension are a shape error, not SIGFPE") {
  auto m = empty_model();
  add_value(m.mutable_graph()->mutable_input(), "X", {1, 2, 4, 4});
  add_value(m.mutable_graph()->mutable_output(), "Y", {});
  add_initializer(m, "W", onnx::TensorProto::FLOAT, {2, 2, 0, 0});
  add_node(m, "Conv", "conv0", {"X", "W"}, {"Y"});
  const Model model = load(m);
  Failure f = failure_of([&] { plan(model, {{1, 2, 4, 4}}); });
  CHECK(f.code == ErrorCode::kShape);
  CHECK_THAT(f.message, Catch::Contains("Conv 'conv0'") && Catch::Contains("[2,2,0,0]"));
}

TEST_CASE("hostile: a 40000-node chain listed backwards is sorted without deep recursion") {
  constexpr int kNodes = 40000;
  auto m = empty_model();
  add_value(m.mutable_graph()->mutable_input(), "t0", {1});
  add_value(m.mutable_graph()->mutable_output(), "t" + std::to_string(kNodes), {1});
  for (int i = kNodes; i-- > 0;)
    add_node(m, "Relu", "n" + std::to_string(i), {"t" + std::to_string(i)},
             {"t" + std::to_string(i + 1)});
  const auto start = std::chrono::steady_clock::now();
  const Model model = load(m);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  REQUIRE(model.graph.nodes.size() == kNodes);
  for (int i = 0; i < kNodes; ++i) REQUIRE(model.graph.nodes[i].name == "n" + std::to_string(i));

  // A cycle is still found and named.
  auto cyclic = empty_model();
  add_value(cyclic.mutable_graph()->mutable_output(), "a", {1});
  add_node(cyclic, "Relu", "first", {"b"}, {"a"});
  add_node(cyclic, "Relu", "second", {"a"}, {"b"});
  Failure f = failure_of([&] { load(cyclic); });
  CHECK(f.code == ErrorCode::kParse);
  CHECK_THAT(f.message, Catch::Contains("cycle through Relu"));
}

TEST_CASE("hostile: shape arithmetic that would overflow int64 is an error naming the node") {
  SECTION("Reshape to [2^62, 2^62]") {
    auto m = empty_model();
    add_value(m.mutable_graph()->mutable_input(), "X", {2, 3});
    add_value(m.mutable_graph()->mutable_output(), "Y", {});
    auto* shape = add_initializer(m, "S", onnx::TensorProto::INT64, {2});
    shape->add_int64_data(int64_t{1} << 62);
    shape->add_int64_data(int64_t{1} << 62);
    add_node(m, "Reshape", "reshape0", {"X", "S"}, {"Y"});
    const Model model = load(m);
    Failure f = failure_of([&] { plan(model, {{2, 3}}); });
    CHECK(f.code == ErrorCode::kShape);
    CHECK_THAT(f.message, Catch::Contains("Reshape 'reshape0'") && Catch::Contains("2^63"));
  }
  SECTION("Conv pads of 2^40") {
    auto m = empty_model();
    add_value(m.mutable_graph()->mutable_input(), "X", {1, 1, 4, 4});
    add_value(m.mutable_graph()->mutable_output(), "Y", {});
    auto* w = add_initializer(m, "W", onnx::TensorProto::FLOAT, {1, 1, 1, 1});
    w->add_float_data(1.0f);
    auto* conv = add_node(m, "Conv", "conv0", {"X", "W"}, {"Y"});
    const int64_t big = int64_t{1} << 40;
    add_ints(conv, "pads", {big, big, big, big});
    const Model model = load(m);
    Failure f = failure_of([&] { plan(model, {{1, 1, 4, 4}}); });
    CHECK(f.code == ErrorCode::kInvalidArgument);
    CHECK_THAT(f.message, Catch::Contains("Conv 'conv0'") && Catch::Contains("pads"));
  }
  SECTION("Conv on an input whose spatial size is beyond 2^30") {
    auto m = empty_model();
    add_value(m.mutable_graph()->mutable_input(), "X", {0, 1, int64_t{1} << 40, 1});
    add_value(m.mutable_graph()->mutable_output(), "Y", {});
    auto* w = add_initializer(m, "W", onnx::TensorProto::FLOAT, {1, 1, 1, 1});
    w->add_float_data(1.0f);
    add_node(m, "Conv", "conv0", {"X", "W"}, {"Y"});
    const Model model = load(m);
    Failure f = failure_of([&] { plan(model, {{0, 1, int64_t{1} << 40, 1}}); });
    CHECK(f.code == ErrorCode::kShape);
    CHECK_THAT(f.message, Catch::Contains("Conv 'conv0'") && Catch::Contains("2^30"));
  }
}

TEST_CASE("hostile: a .npy header claiming 4 GB is refused before anything is allocated") {
  TempDir dir("qsim-hostile-npy");
  std::string bytes = "\x93NUMPY";
  bytes += '\x02';
  bytes += '\x00';
  bytes += "\xf0\xff\xff\xff";  // a 4 GB header
  bytes += "{'descr': '<f4', 'fortran_order': False, 'shape': (1,), }";
  const fs::path path = dir.path / "huge_header.npy";
  write_bytes(path, bytes);
  const double before = peak_rss_mb();
  Failure f = failure_of([&] { NpyRowReader reader(path.string()); });
  CHECK(f.code == ErrorCode::kParse);
  CHECK_THAT(f.message,
             Catch::Contains("huge_header.npy") &&
                 Catch::Contains("truncated .npy header: the preamble claims 4294967292"));
  CHECK(f.seconds < 1.0);
  f = failure_of([&] { read_npy(path.string()); });
  CHECK(f.code == ErrorCode::kParse);
  CHECK_THAT(f.message, Catch::Contains("huge_header.npy"));
  check_peak_growth(before);
}

TEST_CASE("hostile: a .npy of 1e12 rows of no values is refused") {
  TempDir dir("qsim-hostile-rows");
  std::string header = "{'descr': '<f4', 'fortran_order': False, 'shape': (1000000000000, 0), }";
  header += std::string((64 - (10 + header.size() + 1) % 64) % 64, ' ') + "\n";
  std::string bytes = "\x93NUMPY";
  bytes += '\x01';
  bytes += '\x00';
  bytes += static_cast<char>(header.size() & 0xff);
  bytes += static_cast<char>(header.size() >> 8);
  bytes += header;
  const fs::path path = dir.path / "zero_width.npy";
  write_bytes(path, bytes);
  Failure f = failure_of([&] { NpyRowReader reader(path.string()); });
  CHECK(f.code == ErrorCode::kShape);
  CHECK_THAT(f.message, Catch::Contains("zero_width.npy") && Catch::Contains("hold no values"));
  CHECK(f.seconds < 1.0);
}

namespace {

// A model whose initializer W (float32 of `elements`) is stored externally per `fields`.
onnx::ModelProto external_model(int64_t elements,
                                std::initializer_list<std::pair<const char*, std::string>> fields) {
  auto m = empty_model();
  add_value(m.mutable_graph()->mutable_input(), "X", {1});
  add_value(m.mutable_graph()->mutable_output(), "Y", {1});
  add_node(m, "Relu", "relu0", {"X"}, {"Y"});
  auto* w = add_initializer(m, "W", onnx::TensorProto::FLOAT, {elements});
  w->set_data_location(onnx::TensorProto::EXTERNAL);
  for (const auto& [key, value] : fields) {
    auto* entry = w->add_external_data();
    entry->set_key(key);
    entry->set_value(value);
  }
  return m;
}

Failure load_file_failure(const TempDir& dir, const onnx::ModelProto& m) {
  write_bytes(dir.path / "model.onnx", m.SerializeAsString());
  return failure_of([&] { load_onnx_file((dir.path / "model.onnx").string()); });
}

}  // namespace

TEST_CASE("hostile: external data sizes are checked against the file before allocating") {
  TempDir dir("qsim-hostile-external");
  const double before = peak_rss_mb();
  SECTION("a 2 GiB tensor whose file is missing") {
    auto m = external_model(int64_t{1} << 29, {{"location", "missing.bin"}});
    Failure f = load_file_failure(dir, m);
    CHECK(f.code == ErrorCode::kIo);
    CHECK_THAT(f.message, Catch::Contains("tensor 'W'") && Catch::Contains("missing.bin"));
    CHECK(f.seconds < 1.0);
    // From memory there is no folder to read from at all.
    f = failure_of([&] { load(m); });
    CHECK(f.code == ErrorCode::kInvalidArgument);
    CHECK_THAT(f.message, Catch::Contains("tensor 'W'") && Catch::Contains("external data"));
  }
  SECTION("a length of 1.5e9 on a 16-byte file") {
    write_bytes(dir.path / "small.bin", std::string(16, '\0'));
    auto m = external_model(375000000, {{"location", "small.bin"}, {"length", "1500000000"}});
    Failure f = load_file_failure(dir, m);
    CHECK(f.code == ErrorCode::kParse);
    CHECK_THAT(f.message, Catch::Contains("tensor 'W'") && Catch::Contains("holds 16 bytes"));
    CHECK(f.seconds < 1.0);
    m = external_model(4, {{"location", "small.bin"}, {"offset", "8"}});
    f = load_file_failure(dir, m);
    CHECK(f.code == ErrorCode::kParse);
    CHECK_THAT(f.message, Catch::Contains("offset 8"));
  }
  check_peak_growth(before);
}

TEST_CASE("hostile: external_data offset and length must be byte counts") {
  TempDir dir("qsim-hostile-numbers");
  write_bytes(dir.path / "w.bin", std::string(16, '\0'));
  for (const char* field : {"offset", "length"})
    for (const char* text : {"abc", "1e23", "-5", "", "99999999999999999999999", "12 "}) {
      auto m = external_model(4, {{"location", "w.bin"}, {field, text}});
      Failure f = load_file_failure(dir, m);
      INFO(field << " = '" << text << "': " << f.message);
      CHECK(f.code == ErrorCode::kParse);
      CHECK_THAT(f.message, Catch::Contains("tensor 'W'") &&
                                Catch::Contains(std::string("external_data ") + field));
    }
  auto m = external_model(4, {{"location", "w.bin"}, {"offset", "0"}, {"length", "16"}});
  write_bytes(dir.path / "model.onnx", m.SerializeAsString());
  CHECK(load_onnx_file((dir.path / "model.onnx").string()).graph.find_initializer("W") != nullptr);
}

TEST_CASE("hostile: external data stays inside the model's folder") {
  TempDir outside("qsim-hostile-outside");
  TempDir dir("qsim-hostile-folder");
  write_bytes(outside.path / "secret.bin", std::string(16, 'S'));
  write_bytes(dir.path / "weights..bin", std::string(16, '\0'));
  fs::create_directories(dir.path / "sub");
  write_bytes(dir.path / "sub" / "w.bin", std::string(16, '\0'));
  fs::create_symlink(outside.path / "secret.bin", dir.path / "link.bin");
  fs::create_directory_symlink(outside.path, dir.path / "linked_dir");
  fs::create_symlink(dir.path / "sub" / "w.bin", dir.path / "inside_link.bin");

  for (const char* good : {"weights..bin", "sub/w.bin", "./sub/w.bin", "inside_link.bin"}) {
    auto m = external_model(4, {{"location", good}});
    write_bytes(dir.path / "model.onnx", m.SerializeAsString());
    INFO(good);
    CHECK(load_onnx_file((dir.path / "model.onnx").string()).graph.find_initializer("W") !=
          nullptr);
  }
  const std::string escape = "../" + outside.path.filename().string() + "/secret.bin";
  for (const std::string& bad :
       {escape, (outside.path / "secret.bin").string(), std::string("link.bin"),
        std::string("linked_dir/secret.bin"), std::string("sub/../../x.bin")}) {
    auto m = external_model(4, {{"location", bad}});
    Failure f = load_file_failure(dir, m);
    INFO(bad << ": " << f.message);
    CHECK(f.code == ErrorCode::kParse);
    CHECK_THAT(f.message,
               Catch::Contains("tensor 'W'") && Catch::Contains("external data location"));
  }
}

TEST_CASE("hostile: JSON objects of 80000 keys parse in linear time; nesting is capped") {
  std::string text = "{";
  for (int i = 0; i < 80000; ++i)
    text += (i ? ",\"key" : "\"key") + std::to_string(i) + "\":" + std::to_string(i);
  text += "}";
  const auto start = std::chrono::steady_clock::now();
  JsonValue doc = parse_json(text, "big.json");
  const JsonValue last = parse_json(text, "big.json", DuplicateKeys::kLastWins);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
  REQUIRE(doc.as_object("").size() == 80000);
  REQUIRE(last.as_object("").size() == 80000);
  CHECK(doc.as_object("")[79999].first == "key79999");

  // Duplicates: rejected by default, the last value winning (in the first one's place) else.
  Failure f = failure_of([&] { parse_json("{\"a\":1,\"b\":2,\"a\":3}", "dup.json"); });
  CHECK(f.code == ErrorCode::kParse);
  CHECK_THAT(f.message, Catch::Contains("dup.json") && Catch::Contains("duplicate key \"a\""));
  JsonValue wins = parse_json("{\"a\":1,\"b\":2,\"a\":3}", "dup.json", DuplicateKeys::kLastWins);
  REQUIRE(wins.as_object("").size() == 2);
  CHECK(wins.as_object("")[0].first == "a");
  CHECK(wins.find("a")->as_int("a") == 3);

  f = failure_of([&] { parse_json(std::string(300, '[') + std::string(300, ']'), "deep.json"); });
  CHECK(f.code == ErrorCode::kParse);
  CHECK_THAT(f.message, Catch::Contains("deep.json") && Catch::Contains("nesting is too deep"));
}

TEST_CASE("hostile: FlatBuffers tensor lists sharing one table cannot multiply the work") {
  // One tensor of 4096 channels listed 2000 times: 50 KB of file, 8 million channels to copy.
  flatbuffers::FlatBufferBuilder builder;
  std::vector<float> scales(4096, 0.5f);
  std::vector<int32_t> offsets(4096, -128);
  const auto name = builder.CreateString("w");
  const auto scale_vector = builder.CreateVector(scales);
  const auto offset_vector = builder.CreateVector(offsets);
  fbs::TensorEncodingBuilder tensor(builder);
  tensor.add_name(name);
  tensor.add_role(fbs::TensorRole::Weight);
  tensor.add_bitwidth(8);
  tensor.add_symmetry(fbs::Symmetry::Symmetric);
  tensor.add_axis(0);
  tensor.add_scales(scale_vector);
  tensor.add_offsets(offset_vector);
  const auto table = tensor.Finish();
  std::vector<flatbuffers::Offset<fbs::TensorEncoding>> list(2000, table);
  const auto tensors = builder.CreateVector(list);
  fbs::EncodingsBuilder root(builder);
  root.add_schema_version(kEncodingsSchemaVersion);
  root.add_tensors(tensors);
  fbs::FinishEncodingsBuffer(builder, root.Finish());
  const auto* bytes = builder.GetBufferPointer();
  const size_t size = builder.GetSize();

  const double before = peak_rss_mb();
  Failure f = failure_of([&] { parse_encodings_fbs(bytes, size, "shared.encodings"); });
  CHECK(f.code == ErrorCode::kParse);
  CHECK_THAT(f.message, Catch::Contains("shared.encodings") && Catch::Contains("tensor 'w'") &&
                            Catch::Contains("share"));
  CHECK(f.seconds < 1.0);
  check_peak_growth(before);

  qsim_enc_file file;
  const auto start = std::chrono::steady_clock::now();
  CHECK(qsim_enc_open(&file, bytes, size) == QSIM_ENC_ERR_CORRUPT);
  CHECK(std::chrono::steady_clock::now() - start < std::chrono::seconds(1));
}

TEST_CASE("hostile: ConstantOfShape [32768, 32768] exceeds the per-tensor cap") {
  auto m = empty_model();
  add_value(m.mutable_graph()->mutable_output(), "Y", {});
  auto* shape = add_initializer(m, "S", onnx::TensorProto::INT64, {2});
  shape->add_int64_data(32768);
  shape->add_int64_data(32768);
  add_node(m, "ConstantOfShape", "fill", {"S"}, {"Y"});
  const Model model = load(m);
  const double before = peak_rss_mb();
  Failure f = failure_of([&] { plan(model, {}); });
  CHECK(f.code == ErrorCode::kOutOfMemory);
  CHECK_THAT(f.message, Catch::Contains("ConstantOfShape 'fill'") &&
                            Catch::Contains("4294967296 bytes") &&
                            Catch::Contains("max_tensor_bytes"));
  CHECK(f.seconds < 1.0);
  check_peak_growth(before);

  // The cap is the engine's option: a small one refuses a small tensor, a larger one takes it.
  shape->set_int64_data(0, 16);
  shape->set_int64_data(1, 16);
  const Model small = load(m);
  f = failure_of([&] { plan(small, {}, EngineOptions{.max_tensor_bytes = 1000}); });
  CHECK(f.code == ErrorCode::kOutOfMemory);
  CHECK_THAT(f.message, Catch::Contains("1024 bytes"));
  CHECK_NOTHROW(plan(small, {}, EngineOptions{.max_tensor_bytes = 1024}));
}
