// QDQ export on a small model whose exact quantized output can be computed by hand.
#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <random>

#include "graph/onnx_export.h"
#include "graph/onnx_import.h"
#include "graph/op_info.h"
#include "quant/qdq_export.h"
#include "quant/weight_rounding.h"
#include "runtime/engine.h"
#include "temp_path.h"

using namespace qsim;
namespace fs = std::filesystem;

namespace {

Tensor random_tensor(Shape shape, float low, float high, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> dist(low, high);
  Tensor t(DType::kFloat32, std::move(shape));
  for (int64_t i = 0; i < t.size(); ++i) t.data<float>()[i] = dist(rng);
  return t;
}

Node make_node(const std::string& op, std::vector<std::string> inputs, std::string output) {
  Node node;
  node.name = op + "_0";
  node.op_type = op;
  node.inputs = std::move(inputs);
  node.outputs = {std::move(output)};
  return node;
}

// x [N,2,6,6] -> Conv(W [3,2,3,3], B [3], pads 1) -> Relu -> "relu" -> MaxPool 2x2 -> "y".
Model tiny_model(int64_t opset = 13) {
  Model m;
  m.opset = opset;
  m.ir_version = 7;
  m.graph.name = "tiny";
  m.graph.inputs.push_back(
      {"x", DType::kFloat32, 1, std::vector<Dim>{{-1, "batch"}, {2, ""}, {6, ""}, {6, ""}}});
  m.graph.outputs.push_back({"y", DType::kFloat32, 1, std::nullopt});
  m.graph.initializers["W"] = random_tensor({3, 2, 3, 3}, -1.0f, 1.0f, 1);
  m.graph.initializers["B"] = random_tensor({3}, -0.5f, 0.5f, 2);
  Node conv = make_node("Conv", {"x", "W", "B"}, "conv");
  conv.attributes["pads"] = Attribute::of_ints({1, 1, 1, 1});
  Node pool = make_node("MaxPool", {"relu"}, "y");
  pool.attributes["kernel_shape"] = Attribute::of_ints({2, 2});
  pool.attributes["strides"] = Attribute::of_ints({2, 2});
  m.graph.nodes = {conv, make_node("Relu", {"conv"}, "relu"), pool};
  return m;
}

TensorEncoding activation(const std::string& name, double min, double max, int bitwidth = 8) {
  TensorEncoding t;
  t.name = name;
  t.role = name == "x" ? TensorRole::kModelInput : TensorRole::kActivation;
  Encoding e;
  e.bitwidth = bitwidth;
  e.symmetry = Symmetry::kAsymmetric;
  e.channels = {compute_channel_encoding(min, max, bitwidth, Symmetry::kAsymmetric, name)};
  t.encoding = e;
  return t;
}

TensorEncoding weight(const Model& m, const std::string& name, int bitwidth, Symmetry symmetry,
                      int axis) {
  TensorEncoding t;
  t.name = name;
  t.role = TensorRole::kWeight;
  t.encoding = encode_from_values(*m.graph.find_initializer(name), bitwidth, symmetry, axis, name);
  return t;
}

EncodingSet tiny_encodings(const Model& m, int weight_bits = 8,
                           Symmetry symmetry = Symmetry::kSymmetric, int axis = 0,
                           int activation_bits = 8) {
  EncodingSet set;
  set.activations = {activation("x", 0.0, 1.0, activation_bits),
                     activation("relu", 0.0, 2.5, activation_bits)};
  set.params = {weight(m, "W", weight_bits, symmetry, axis)};
  return set;
}

Tensor run(const Model& model, const Tensor& x) {
  return Engine(std::make_shared<Model>(model)).run({x})[0];
}

// What the QDQ model must compute, from the float model: fake-quantized input and weight,
// the bias on the int32 grid input_scale * weight_scale, fake-quantized Relu output (which
// MaxPool keeps on its grid).
Tensor expected_output(const Model& m, const EncodingSet& set, const Tensor& x) {
  Model reference = round_weights_to_grid(m, set);
  const Encoding& wx = *set.find("x")->encoding;
  const Encoding& ww = *set.find("W")->encoding;
  Tensor bias = reference.graph.initializers["B"].clone();
  for (int64_t c = 0; c < bias.size(); ++c) {
    const float scale = wx.channels[0].scale * ww.channels[ww.per_channel() ? c : 0].scale;
    bias.data<float>()[c] =
        static_cast<float>(std::nearbyint(double{bias.data<float>()[c]} / scale)) * scale;
  }
  reference.graph.initializers["B"] = bias;
  reference.graph.outputs[0].name = "relu";
  reference.graph.nodes.pop_back();  // MaxPool: applied after the fake quantization below
  Tensor input = x.clone();
  fake_quantize(input, wx);
  Tensor relu = run(reference, input);
  fake_quantize(relu, *set.find("relu")->encoding);
  Model pool_only = m;
  pool_only.graph.inputs[0] = {"relu", DType::kFloat32, 1, std::nullopt};
  pool_only.graph.nodes = {m.graph.nodes.back()};
  return run(pool_only, relu);
}

bool same_bits(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && std::memcmp(a.raw(), b.raw(), a.byte_size()) == 0;
}

const Node* find_node(const Model& m, const std::string& op, const std::string& output) {
  for (const Node& n : m.graph.nodes)
    if (n.op_type == op && n.outputs[0] == output) return &n;
  return nullptr;
}

ErrorCode error_code(const std::function<void()>& f, std::string* message) {
  try {
    f();
  } catch (const Error& e) {
    *message = e.what();
    return e.code();
  }
  return ErrorCode::kInternal;
}

}  // namespace

TEST_CASE("the QDQ model computes exactly the fake-quantized model") {
  const Model m = tiny_model();
  const Tensor x = random_tensor({4, 2, 6, 6}, -0.2f, 1.2f, 3);  // beyond the input range too
  QdqOptions options;
  EncodingSet set;
  SECTION("uint8 activations, int8 per-channel symmetric weights") {
    set = tiny_encodings(m);
  }
  SECTION("int8 activations") {
    set = tiny_encodings(m);
    options.activation_sign = ActivationSign::kSigned;
  }
  SECTION("4-bit asymmetric per-tensor weights in an int8 container") {
    set = tiny_encodings(m, 4, Symmetry::kAsymmetric, -1);
  }
  SECTION("3-bit strict-symmetric per-channel weights") {
    set = tiny_encodings(m, 3, Symmetry::kStrictSymmetric, 0);
  }
  SECTION("W8A16: uint16 activations") {
    set = tiny_encodings(m, 8, Symmetry::kSymmetric, 0, 16);
  }
  SECTION("W16A16: int16 activations, int16 per-channel weights") {
    set = tiny_encodings(m, 16, Symmetry::kSymmetric, 0, 16);
    options.activation_sign = ActivationSign::kSigned;
  }
  SECTION("W12A16 asymmetric per-tensor weights in an int16 container, at opset 21") {
    set = tiny_encodings(m, 12, Symmetry::kAsymmetric, -1, 16);
    options.wide_form = WideQdqForm::kOpset21;
  }
  const QdqModel qdq = build_qdq_model(m, set, options);
  // The file as written, read back: domains and opset imports survive the round trip.
  const std::string bytes = serialize_onnx(qdq.model);
  const Model written = load_onnx_memory(bytes.data(), bytes.size());
  const Tensor expected = expected_output(m, set, x);
  const Tensor actual = run(written, x);
  CHECK(same_bits(expected, actual));
  // Not trivially so: quantization changed the float model's output.
  CHECK_FALSE(same_bits(run(m, x), actual));

  const Encoding& w = *set.find("W")->encoding;
  const bool wide_weight = w.bitwidth > 8;
  const Tensor& q = qdq.model.graph.initializers.at("W_quantized");
  REQUIRE(q.dtype() == (wide_weight ? DType::kInt16 : DType::kInt8));
  const int64_t half = int64_t{1} << (w.bitwidth - 1);
  for (int64_t i = 0; i < q.size(); ++i) {
    CHECK(q.int_at(i) >= -half);
    CHECK(q.int_at(i) < half);
  }

  // 16-bit Q/DQ are com.microsoft ops unless the model went to opset 21; 8-bit ones are
  // standard; the opset changes only for opset 21.
  const bool wide = wide_weight || set.find("relu")->encoding->bitwidth == 16;
  const bool microsoft = wide && options.wide_form == WideQdqForm::kMicrosoftDomain;
  CHECK(written.opset == (wide && !microsoft ? 21 : 13));
  CHECK(written.domain_opsets.count(kMicrosoftDomain) == (microsoft ? 1u : 0u));
  CHECK(qdq.report.warnings.size() == (written.opset == 21 ? 1u : 0u));
  for (const Node& node : written.graph.nodes) {
    if (node.op_type != "QuantizeLinear" && node.op_type != "DequantizeLinear") continue;
    const DType codes = node.op_type == "QuantizeLinear"
                            ? written.graph.initializers.at(node.inputs[2]).dtype()
                        : written.graph.find_initializer(node.inputs[0]) != nullptr
                            ? written.graph.initializers.at(node.inputs[0]).dtype()
                            : written.graph.initializers.at(node.inputs[2]).dtype();
    const bool wide_node = codes == DType::kUInt16 || codes == DType::kInt16;
    INFO(node.label() << " codes " << dtype_name(codes));
    CHECK(node.domain == (wide_node && microsoft ? kMicrosoftDomain : ""));
  }
}

TEST_CASE("the QDQ graph: names kept, Q/DQ placement, int8 weights and int32 bias") {
  const Model m = tiny_model();
  const EncodingSet set = tiny_encodings(m);
  const QdqModel qdq = build_qdq_model(m, set);
  const Graph& g = qdq.model.graph;

  // Float weight and bias are gone; their names are DequantizeLinear outputs.
  CHECK_FALSE(g.is_initializer("W"));
  CHECK_FALSE(g.is_initializer("B"));
  const Node* w_dq = find_node(qdq.model, "DequantizeLinear", "W");
  REQUIRE(w_dq != nullptr);
  CHECK(w_dq->inputs == std::vector<std::string>{"W_quantized", "W_scale", "W_zero_point"});
  CHECK(w_dq->get_int("axis", -1) == 0);
  CHECK(g.initializers.at("W_scale").shape() == Shape{3});
  CHECK(g.initializers.at("W_zero_point").dtype() == DType::kInt8);
  CHECK(g.initializers.at("W_zero_point").to_int64_vector() == std::vector<int64_t>{0, 0, 0});

  const Node* b_dq = find_node(qdq.model, "DequantizeLinear", "B");
  REQUIRE(b_dq != nullptr);
  const Tensor& b_int = g.initializers.at(b_dq->inputs[0]);
  const Tensor& b_scale = g.initializers.at(b_dq->inputs[1]);
  CHECK(b_int.dtype() == DType::kInt32);
  CHECK(g.initializers.at(b_dq->inputs[2]).to_int64_vector() == std::vector<int64_t>{0, 0, 0});
  const float sx = set.find("x")->encoding->channels[0].scale;
  for (int64_t c = 0; c < 3; ++c) {
    const float scale = sx * set.find("W")->encoding->channels[static_cast<size_t>(c)].scale;
    CHECK(b_scale.data<float>()[c] == scale);
    CHECK(b_int.data<int32_t>()[c] ==
          std::nearbyint(m.graph.find_initializer("B")->data<float>()[c] / double{scale}));
  }

  // The input: Q reads "x", consumers read "x_dq"; zero point = -offset on uint8.
  const Node* x_dq = find_node(qdq.model, "DequantizeLinear", "x_dq");
  REQUIRE(x_dq != nullptr);
  CHECK(g.initializers.at("x_zero_point").dtype() == DType::kUInt8);
  CHECK(g.initializers.at("x_zero_point").int_at(0) ==
        -set.find("x")->encoding->channels[0].offset);
  const Node* conv = find_node(qdq.model, "Conv", "conv");
  REQUIRE(conv != nullptr);
  CHECK(conv->name == "Conv_0");
  CHECK(conv->inputs == std::vector<std::string>{"x_dq", "W", "B"});
  // The Relu keeps its output name; MaxPool reads the dequantized copy.
  CHECK(find_node(qdq.model, "Relu", "relu") != nullptr);
  const Node* pool = find_node(qdq.model, "MaxPool", "y_float");
  REQUIRE(pool != nullptr);
  CHECK(pool->inputs[0] == "relu_dq");
  // The graph output inherits the Relu's grid and keeps its name on the final DQ.
  const Node* y_dq = find_node(qdq.model, "DequantizeLinear", "y");
  REQUIRE(y_dq != nullptr);
  CHECK(g.initializers.at(y_dq->inputs[1]).data<float>()[0] ==
        set.find("relu")->encoding->channels[0].scale);
  CHECK(g.outputs.size() == 1);
  CHECK(g.outputs[0].name == "y");
  CHECK(qdq.model.op_counts()["QuantizeLinear"] == 3);
  CHECK(qdq.model.op_counts()["DequantizeLinear"] == 5);

  // int8 activations: zero point = -offset - 128.
  QdqOptions int8;
  int8.activation_sign = ActivationSign::kSigned;
  const QdqModel qdq8 = build_qdq_model(m, set, int8);
  const Tensor& zp8 = qdq8.model.graph.initializers.at("x_zero_point");
  CHECK(zp8.dtype() == DType::kInt8);
  CHECK(zp8.int_at(0) == -set.find("x")->encoding->channels[0].offset - 128);

  // The file holds the same model.
  const fs::path path = test_temp_path("qsim-export-qdq-tiny.onnx");
  export_qdq_model(m, set, path.string());
  const Model loaded = load_onnx_file(path.string());
  CHECK(loaded.graph.nodes.size() == g.nodes.size());
  CHECK(loaded.graph.initializers.size() == g.initializers.size());
  fs::remove(path);
}

TEST_CASE("int32 bias overflow is clipped and reported, never silent") {
  Model m = tiny_model();
  m.graph.initializers["B"] = random_tensor({3}, 5e4f, 6e4f, 4);
  EncodingSet set = tiny_encodings(m);
  set.activations[0] = activation("x", 0.0, 1e-3);  // tiny input scale: bias / scale beyond int32
  const QdqModel qdq = build_qdq_model(m, set);
  CHECK(qdq.report.clipped_bias_values == 3);
  REQUIRE(qdq.report.warnings.size() == 1);
  CHECK_THAT(qdq.report.warnings[0], Catch::Contains("'B'") && Catch::Contains("clipped"));
  const Tensor& b_int = qdq.model.graph.initializers.at("B_quantized");
  for (int64_t c = 0; c < 3; ++c)
    CHECK(b_int.data<int32_t>()[c] == std::numeric_limits<int32_t>::max());
}

TEST_CASE("a bias two Convs share gets one int32 copy per Conv") {
  Model m = tiny_model();
  Node second = make_node("Conv", {"x", "W", "B"}, "conv2");
  second.name = "Conv_1";
  second.attributes["pads"] = Attribute::of_ints({1, 1, 1, 1});
  m.graph.nodes.insert(m.graph.nodes.begin() + 1, second);
  m.graph.nodes.insert(m.graph.nodes.begin() + 2, make_node("Add", {"conv", "conv2"}, "sum"));
  m.graph.nodes[3].inputs = {"sum"};  // the Relu
  const QdqModel qdq = build_qdq_model(m, tiny_encodings(m));
  const Node& a = qdq.model.graph.nodes.at(
      std::distance(qdq.model.graph.nodes.begin(),
                    std::find_if(qdq.model.graph.nodes.begin(), qdq.model.graph.nodes.end(),
                                 [](const Node& n) { return n.name == "Conv_0"; })));
  const Node* b = nullptr;
  for (const Node& n : qdq.model.graph.nodes)
    if (n.name == "Conv_1") b = &n;
  REQUIRE(b != nullptr);
  CHECK(a.inputs[2] != b->inputs[2]);
  CHECK(qdq.model.graph.find_initializer("B") == nullptr);  // the float bias is gone
  for (const std::string& bias : {a.inputs[2], b->inputs[2]}) {
    const Node* dq = find_node(qdq.model, "DequantizeLinear", bias);
    REQUIRE(dq != nullptr);
    CHECK(qdq.model.graph.initializers.at(dq->inputs[0]).dtype() == DType::kInt32);
  }
  run(qdq.model, random_tensor({1, 2, 6, 6}, 0.0f, 1.0f, 4));  // a valid graph
}

TEST_CASE("a bias stays float when its Conv's input is not quantized") {
  const Model m = tiny_model();
  EncodingSet set = tiny_encodings(m);
  set.activations.erase(set.activations.begin());  // no encoding for x
  const QdqModel qdq = build_qdq_model(m, set);
  CHECK(qdq.model.graph.is_initializer("B"));
  CHECK(qdq.model.graph.initializers.at("B").dtype() == DType::kFloat32);
  CHECK(find_node(qdq.model, "DequantizeLinear", "W") != nullptr);
}

TEST_CASE("QDQ export rejects what it cannot represent, naming the tensor") {
  const Model m = tiny_model();
  std::string message;
  SECTION("12-bit activations: a uint16 QuantizeLinear would not saturate at 4095") {
    EncodingSet set = tiny_encodings(m);
    set.activations[1] = activation("relu", 0.0, 2.5, 12);
    CHECK(error_code([&] { build_qdq_model(m, set); }, &message) == ErrorCode::kUnsupported);
    CHECK_THAT(message, Catch::Contains("'relu'") && Catch::Contains("12-bit") &&
                            Catch::Contains("8- or 16-bit"));
  }
  SECTION("16-bit at opset 21 with an op qsim cannot rewrite up to 21") {
    Model group = tiny_model(18);
    group.graph.initializers["gs"] = random_tensor({1}, 0.5f, 1.0f, 5);
    group.graph.initializers["gb"] = random_tensor({1}, -0.5f, 0.5f, 6);
    Node norm = make_node("GroupNormalization", {"y", "gs", "gb"}, "norm");
    norm.attributes["num_groups"] = Attribute::of_int(1);
    group.graph.nodes.push_back(norm);
    group.graph.outputs[0].name = "norm";
    QdqOptions opset21;
    opset21.wide_form = WideQdqForm::kOpset21;
    const EncodingSet wide = tiny_encodings(group, 8, Symmetry::kSymmetric, 0, 16);
    CHECK(error_code([&] { build_qdq_model(group, wide, opset21); }, &message) ==
          ErrorCode::kUnsupported);
    CHECK_THAT(message, Catch::Contains("GroupNormalization 'GroupNormalization_0'") &&
                            Catch::Contains("opset 21") && Catch::Contains("per channel") &&
                            Catch::Contains("com.microsoft"));
    // The com.microsoft form keeps the model's opset.
    CHECK(build_qdq_model(group, wide).model.opset == 18);
  }
  SECTION("an activation the model does not have") {
    EncodingSet set = tiny_encodings(m);
    set.activations.push_back(activation("nope", 0.0, 1.0));
    CHECK(error_code([&] { build_qdq_model(m, set); }, &message) == ErrorCode::kInvalidArgument);
    CHECK_THAT(message, Catch::Contains("'nope'"));
  }
  SECTION("a weight encoding with the wrong number of channels") {
    EncodingSet set = tiny_encodings(m);
    set.params[0].encoding->channels.pop_back();
    CHECK(error_code([&] { build_qdq_model(m, set); }, &message) == ErrorCode::kInvalidArgument);
    CHECK_THAT(message, Catch::Contains("'W'") && Catch::Contains("channel"));
  }
  SECTION("a zero scale") {
    EncodingSet set = tiny_encodings(m);
    set.activations[0].encoding->channels[0].scale = 0.0f;
    CHECK(error_code([&] { build_qdq_model(m, set); }, &message) == ErrorCode::kInvalidArgument);
    CHECK_THAT(message, Catch::Contains("'x'") && Catch::Contains("scale"));
  }
}

TEST_CASE("16-bit Q/DQ at opset 21 rewrites ReduceMean's axes into an input") {
  Model reduce = tiny_model();
  Node mean = make_node("ReduceMean", {"y"}, "mean");
  mean.attributes["axes"] = Attribute::of_ints({2, 3});
  reduce.graph.nodes.push_back(mean);
  reduce.graph.outputs[0].name = "mean";
  QdqOptions opset21;
  opset21.wide_form = WideQdqForm::kOpset21;
  const EncodingSet wide = tiny_encodings(reduce, 8, Symmetry::kSymmetric, 0, 16);
  const QdqModel qdq = build_qdq_model(reduce, wide, opset21);
  CHECK(qdq.model.opset == 21);
  const Node* rewritten = nullptr;
  for (const Node& node : qdq.model.graph.nodes)
    if (node.op_type == "ReduceMean") rewritten = &node;
  REQUIRE(rewritten != nullptr);
  CHECK_FALSE(rewritten->has("axes"));
  REQUIRE(rewritten->inputs.size() == 2);
  CHECK(qdq.model.graph.initializers.at(rewritten->inputs[1]).to_int64_vector() ==
        std::vector<int64_t>{2, 3});
  CHECK_THAT(qdq.report.warnings[0], Catch::Contains("from 13 to 21"));
  run(qdq.model, random_tensor({1, 2, 6, 6}, 0.0f, 1.0f, 4));  // a valid graph
}

TEST_CASE("an opset below 13 is raised when its ops allow, with a warning") {
  const Model old = tiny_model(11);
  const QdqModel qdq = build_qdq_model(old, tiny_encodings(old));
  CHECK(qdq.model.opset == 13);
  REQUIRE(qdq.report.warnings.size() == 1);
  CHECK_THAT(qdq.report.warnings[0], Catch::Contains("from 11 to 13"));
}

TEST_CASE("an unwritable QDQ path fails naming it and leaves nothing behind") {
  const Model m = tiny_model();
  const fs::path dir = test_temp_path("qsim-export-qdq-unwritable");
  fs::remove_all(dir);
  fs::create_directories(dir);
  std::ofstream(dir / "file") << "x";
  const std::string path = (dir / "file" / "model.onnx").string();
  std::string message;
  CHECK(error_code([&] { export_qdq_model(m, tiny_encodings(m), path); }, &message) ==
        ErrorCode::kIo);
  CHECK_THAT(message, Catch::Contains(path));
  CHECK(std::distance(fs::directory_iterator(dir), fs::directory_iterator()) == 1);
  fs::remove_all(dir);
}
