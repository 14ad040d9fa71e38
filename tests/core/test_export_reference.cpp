// Exports of the reference models: quantization-ready weights exactly on their grids, and a
// QDQ model that ONNX Runtime runs on its integer kernels (checked in its optimized graph).
// The encodings are made here the way QuantSim makes them by default: per-channel symmetric
// 8-bit weights, and asymmetric 8-bit min/max activations on the model input and on op
// outputs except inside Conv/Gemm/Add + Relu/Clip supergroups.
#include <onnx/onnx_pb.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "graph/bn_fold.h"
#include "graph/onnx_export.h"
#include "graph/onnx_import.h"
#include "io/idx.h"
#include "io/npy.h"
#include "ort_process.h"
#include "quant/qdq_export.h"
#include "quant/quantsim.h"
#include "quant/weight_rounding.h"
#include "runtime/engine.h"
#include "temp_path.h"

using namespace qsim;
namespace fs = std::filesystem;

namespace {

const std::string kModels = std::string(QSIM_SOURCE_DIR) + "/models/";
const std::string kFashionMnist = "/usr/share/datasets/fashion-mnist/";

Tensor fmnist_images(const std::string& set, int64_t first, int64_t count) {
  return idx_images_to_nchw(read_idx(kFashionMnist + set + "-images-idx3-ubyte.gz"), first, count);
}

Model folded_reference_model(const std::string& file) {
  return fold_batch_norms(load_onnx_file(kModels + file)).model;
}

bool is_layer(const Node& node) {
  return node.op_type == "Conv" || node.op_type == "Gemm";
}

int output_channel_axis(const Node& node) {
  return node.op_type == "Gemm" && node.get_int("transB", 0) == 0 ? 1 : 0;
}

// Weight encodings of every Conv and Gemm; biases too (own 32-bit encodings) when asked.
std::vector<TensorEncoding> param_encodings(const Model& m, int bitwidth, Symmetry symmetry,
                                            bool per_channel, bool with_biases) {
  std::vector<TensorEncoding> params;
  for (const Node& node : m.graph.nodes) {
    if (!is_layer(node)) continue;
    TensorEncoding w{node.inputs[1], TensorRole::kWeight, std::nullopt, 32};
    w.encoding = encode_from_values(*m.graph.find_initializer(w.name), bitwidth, symmetry,
                                    per_channel ? output_channel_axis(node) : -1, w.name);
    params.push_back(w);
    if (!with_biases || !node.has_input(2)) continue;
    TensorEncoding b{node.inputs[2], TensorRole::kBias, std::nullopt, 32};
    b.encoding =
        encode_from_values(*m.graph.find_initializer(b.name), 32, Symmetry::kSymmetric, -1, b.name);
    params.push_back(b);
  }
  return params;
}

// Op outputs AIMET's default config quantizes: not the output of a Conv/Gemm/Add whose only
// reader is a Relu or Clip (a supergroup), nor that of a data-movement op (the export carries
// its input's grid over).
std::vector<std::string> quantized_op_outputs(const Model& m) {
  std::map<std::string, std::vector<const Node*>> readers;
  for (const Node& node : m.graph.nodes)
    for (const auto& in : node.inputs) readers[in].push_back(&node);
  std::vector<std::string> names;
  for (const Node& node : m.graph.nodes) {
    if (node.op_type == "MaxPool" || node.op_type == "Flatten" || node.op_type == "Reshape")
      continue;
    const auto& next = readers[node.outputs[0]];
    const bool supergroup = (is_layer(node) || node.op_type == "Add") && next.size() == 1 &&
                            (next[0]->op_type == "Relu" || next[0]->op_type == "Clip");
    if (!supergroup) names.push_back(node.outputs[0]);
  }
  return names;
}

TensorEncoding minmax_encoding(const std::string& name, TensorRole role, double min, double max) {
  Encoding e;
  e.symmetry = Symmetry::kAsymmetric;
  e.channels = {compute_channel_encoding(min, max, 8, Symmetry::kAsymmetric, name)};
  return {name, role, e, 32};
}

void widen(double& min, double& max, const Tensor& t) {
  for (int64_t i = 0; i < t.size(); ++i) {
    min = std::min<double>(min, t.data<float>()[i]);
    max = std::max<double>(max, t.data<float>()[i]);
  }
}

Tensor batch_of(const Tensor& images, int64_t first, int64_t count) {
  Shape shape = images.shape();
  shape[0] = count;
  const int64_t per_image = images.size() / images.dim(0);
  return Tensor::view(DType::kFloat32, shape,
                      const_cast<float*>(images.data<float>()) + first * per_image);
}

// Min/max activation encodings over `images`, read as extra graph outputs.
std::vector<TensorEncoding> calibrate_activations(const Model& m, const Tensor& images) {
  const std::vector<std::string> names = quantized_op_outputs(m);
  auto probe = std::make_shared<Model>(m);
  probe->graph.outputs.clear();
  for (const auto& name : names)
    probe->graph.outputs.push_back({name, DType::kFloat32, 1, std::nullopt});
  Engine engine(probe);
  std::vector<std::pair<double, double>> ranges(names.size());
  constexpr int64_t kBatch = 32;
  for (int64_t first = 0; first < images.dim(0); first += kBatch) {
    std::vector<Tensor> outputs =
        engine.run({batch_of(images, first, std::min(kBatch, images.dim(0) - first))});
    for (size_t i = 0; i < names.size(); ++i) widen(ranges[i].first, ranges[i].second, outputs[i]);
  }
  double input_min = 0.0, input_max = 0.0;
  widen(input_min, input_max, images);
  std::vector<TensorEncoding> encodings = {
      minmax_encoding(m.graph.inputs[0].name, TensorRole::kModelInput, input_min, input_max)};
  for (size_t i = 0; i < names.size(); ++i)
    encodings.push_back(
        minmax_encoding(names[i], TensorRole::kActivation, ranges[i].first, ranges[i].second));
  return encodings;
}

Tensor run_in_batches(const Model& m, const Tensor& images) {
  Engine engine(std::make_shared<Model>(m));
  constexpr int64_t kBatch = 250;
  Tensor all;
  for (int64_t first = 0; first < images.dim(0); first += kBatch) {
    Tensor out = engine.run({batch_of(images, first, std::min(kBatch, images.dim(0) - first))})[0];
    if (first == 0) all = Tensor(DType::kFloat32, {images.dim(0), out.dim(1)});
    std::memcpy(all.data<float>() + first * out.dim(1), out.raw(), out.byte_size());
  }
  return all;
}

// What the integer kernels ONNX Runtime takes compute on `images`, predicted by QuantSim with
// `set` loaded and ONNX Runtime's AVX2 pair saturation emulated.
Tensor emulate_ort_avx2(const Model& float_model, const EncodingSet& set, const Tensor& images) {
  QuantSimOptions options;
  options.per_channel = true;
  QuantSim sim(float_model, options);
  sim.load_encodings(set);
  constexpr int64_t kBatch = 250;
  Tensor all;
  for (int64_t first = 0; first < images.dim(0); first += kBatch) {
    const Tensor out = sim.run_quantized(
        {batch_of(images, first, std::min(kBatch, images.dim(0) - first))}, Target::kOrtAvx2)[0];
    if (first == 0) all = Tensor(DType::kFloat32, {images.dim(0), out.dim(1)});
    std::memcpy(all.data<float>() + first * out.dim(1), out.raw(), out.byte_size());
  }
  return all;
}

int64_t argmax_row(const Tensor& logits, int64_t row) {
  const float* r = logits.data<float>() + row * logits.dim(1);
  return std::max_element(r, r + logits.dim(1)) - r;
}

double top1_agreement(const Tensor& a, const Tensor& b) {
  int64_t same = 0;
  for (int64_t row = 0; row < a.dim(0); ++row) same += argmax_row(a, row) == argmax_row(b, row);
  return static_cast<double>(same) / static_cast<double>(a.dim(0));
}

// The fraction of elements of `a` and `b` at most `tolerance` apart.
double fraction_within(const Tensor& a, const Tensor& b, float tolerance) {
  int64_t close = 0;
  for (int64_t i = 0; i < a.size(); ++i)
    close += std::fabs(a.data<float>()[i] - b.data<float>()[i]) <= tolerance;
  return static_cast<double>(close) / static_cast<double>(a.size());
}

std::map<std::string, int64_t> onnx_op_counts(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  onnx::ModelProto proto;
  REQUIRE(proto.ParseFromIstream(&in));
  std::map<std::string, int64_t> counts;
  for (const auto& node : proto.graph().node()) counts[node.op_type()]++;
  return counts;
}

std::string describe(const std::map<std::string, int64_t>& counts) {
  std::ostringstream out;
  for (const auto& [op, n] : counts) out << op << " " << n << ", ";
  return out.str();
}

struct GridCheck {
  int64_t off_grid = 0;           // encoded values not (q + offset) * scale for q in range
  int64_t changed = 0;            // encoded values rounding moved
  int64_t unencoded_changed = 0;  // initializers without an encoding that changed
};

// Checks each value w of an encoded parameter in `rounded`: w == float((q + offset) * scale)
// for an integer q in [0, 2^bw - 1]; the others must equal `original`'s bit for bit.
GridCheck check_grid_values(const Model& original, const Model& rounded, const EncodingSet& set) {
  GridCheck check;
  for (const auto& [name, before] : original.graph.initializers) {
    const Tensor& after = rounded.graph.initializers.at(name);
    const TensorEncoding* param = set.find(name);
    if (param == nullptr) {
      check.unencoded_changed += std::memcmp(after.raw(), before.raw(), before.byte_size()) != 0;
      continue;
    }
    const Encoding& e = *param->encoding;
    REQUIRE(e.axis <= 0);
    const int64_t inner = e.per_channel() ? after.size() / after.dim(0) : after.size();  // axis 0
    for (int64_t i = 0; i < after.size(); ++i) {
      const ChannelEncoding& channel = e.channels[static_cast<size_t>(i / inner)];
      const float w = after.data<float>()[i];
      const double level = std::nearbyint(w / double{channel.scale});  // q + offset
      const double q = level - channel.offset;
      check.off_grid += q < 0 || q > static_cast<double>(e.quant_max()) ||
                        static_cast<float>(level * channel.scale) != w;
      check.changed += w != before.data<float>()[i];
    }
  }
  return check;
}

Model saved_and_loaded(const Model& m) {
  const fs::path path = test_temp_path("qsim-export-rounded.onnx");
  save_onnx_file(m, path.string());
  Model loaded = load_onnx_file(path.string());
  fs::remove(path);
  return loaded;
}

}  // namespace

TEST_CASE("quantization-ready weights lie exactly on their grids, and only encoded ones change") {
  for (const char* file : {"resnet_fmnist.onnx", "mobilenet_fmnist.onnx"}) {
    const Model m = folded_reference_model(file);
    for (const auto& [bitwidth, symmetry, per_channel] :
         {std::tuple{8, Symmetry::kSymmetric, true}, std::tuple{4, Symmetry::kAsymmetric, false},
          std::tuple{16, Symmetry::kStrictSymmetric, true}}) {
      INFO(file << ", " << bitwidth << " bits");
      EncodingSet set;
      set.params = param_encodings(m, bitwidth, symmetry, per_channel, false);
      const Model rounded = saved_and_loaded(round_weights_to_grid(m, set));
      REQUIRE(rounded.graph.nodes.size() == m.graph.nodes.size());
      for (size_t i = 0; i < m.graph.nodes.size(); ++i)
        CHECK(rounded.graph.nodes[i].name == m.graph.nodes[i].name);
      const GridCheck grid = check_grid_values(m, rounded, set);
      CHECK(grid.off_grid == 0);
      CHECK(grid.changed > 1000);
      CHECK(grid.unencoded_changed == 0);
      // On-grid weights stay where they are.
      const Model again = round_weights_to_grid(rounded, set);
      for (const TensorEncoding& param : set.params) {
        const Tensor& t = rounded.graph.initializers.at(param.name);
        CHECK(std::memcmp(again.graph.initializers.at(param.name).raw(), t.raw(), t.byte_size()) ==
              0);
      }
    }
  }
}

// Biases are stored as float, which cannot hold level 2^31 - 1: the largest bias of a 32-bit
// symmetric encoding must land on the largest level a float holds, not on 2^31.
TEST_CASE("quantization-ready 32-bit biases lie on their grids") {
  const Model m = folded_reference_model("resnet_fmnist.onnx");
  EncodingSet set;
  set.params = param_encodings(m, 8, Symmetry::kSymmetric, true, true);
  const GridCheck grid = check_grid_values(m, saved_and_loaded(round_weights_to_grid(m, set)), set);
  CHECK(grid.off_grid == 0);
  CHECK(grid.unencoded_changed == 0);
}

// ONNX Runtime runs natively, or under qemu-x86_64 -cpu $QSIM_ORT_CPU. Its kernels' arithmetic
// on that CPU, from CPUID, decides what it is compared with: qsim's runtime on the same QDQ
// model (exact integer sums), or QuantSim on the same encodings with ONNX Runtime's AVX2 pair
// saturation emulated (CPUs with AVX2 but no VNNI).
TEST_CASE("ONNX Runtime runs the exported QDQ reference models on its integer kernels") {
  const std::string ort_cpu = tools::ort_cpu_from_environment();
  const std::string arithmetic = tools::ort_arithmetic(ort_cpu);
  INFO("ONNX Runtime on " << (ort_cpu.empty() ? "this CPU" : "qemu -cpu " + ort_cpu)
                          << ", integer arithmetic " << arithmetic);
  const Tensor calibration = fmnist_images("train", 0, 256);
  const Tensor test_images = fmnist_images("t10k", 0, 1000);
  const fs::path dir = test_temp_path("qsim-export-qdq-ort");
  for (const char* file : {"resnet_fmnist.onnx", "mobilenet_fmnist.onnx"}) {
    INFO(file);
    fs::remove_all(dir);
    fs::create_directories(dir);
    const Model float_model = load_onnx_file(kModels + file);
    const Model folded = fold_batch_norms(float_model).model;
    EncodingSet set;
    set.activations = calibrate_activations(folded, calibration);
    set.params = param_encodings(folded, 8, Symmetry::kSymmetric, true, false);
    const std::string qdq_path = (dir / "qdq.onnx").string();
    const QdqReport report = export_qdq_model(folded, set, qdq_path);
    CHECK(report.warnings.empty());
    CHECK(report.clipped_bias_values == 0);

    write_npy((dir / "input.npy").string(), test_images);
    const std::string optimized = (dir / "optimized.onnx").string();
    tools::run_ort({"run", qdq_path, "--input", "input=" + (dir / "input.npy").string(), "--output",
                    (dir / "out").string(), "--optimized-model", optimized},
                   ort_cpu);
    const Tensor ort_logits = read_npy((dir / "out" / "logits.npy").string());

    // Every Conv and Add ran on ONNX Runtime's integer kernels.
    auto float_ops = folded.op_counts();
    auto ops = onnx_op_counts(optimized);
    INFO("optimized graph: " << describe(ops));
    CHECK(ops.count("Conv") == 0);
    CHECK(ops["QLinearConv"] == float_ops["Conv"]);
    CHECK(ops["QLinearAdd"] == float_ops["Add"]);
    CHECK(ops["QLinearGlobalAveragePool"] == 1);

    const Tensor float_logits = run_in_batches(float_model, test_images);
    const Tensor qdq_logits = arithmetic == "exact"
                                  ? run_in_batches(load_onnx_file(qdq_path), test_images)
                                  : emulate_ort_avx2(folded, set, test_images);
    const float step = set.find("logits")->encoding->channels[0].scale;
    const double vs_float = top1_agreement(ort_logits, float_logits);
    const double vs_qsim = top1_agreement(ort_logits, qdq_logits);
    const double identical = fraction_within(ort_logits, qdq_logits, 0.0f);
    const double one_step = fraction_within(ort_logits, qdq_logits, step * 1.001f);
    WARN(file << ": ONNX Runtime QDQ vs float top-1 agreement " << vs_float * 100 << "%; vs qsim ("
              << (arithmetic == "exact" ? "the same QDQ model" : "QuantSim, ort-avx2")
              << "): top-1 " << vs_qsim * 100 << "%, logits identical " << identical * 100
              << "%, within one step " << one_step * 100 << "%; ONNX Runtime ran "
              << describe(ops));
    // Int16 pair saturation costs these models 3 to 4 points of agreement with float (96.6 %
    // and 95.3 % on 1000 images under qemu -cpu Haswell); the simulation must predict it.
    CHECK(vs_float >= (arithmetic == "exact" ? 0.98 : 0.95));
    CHECK(vs_qsim >= 0.99);
    CHECK(one_step >= 0.99);
  }
  fs::remove_all(dir);
}
