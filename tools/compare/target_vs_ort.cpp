// An export target against the ONNX Runtime kernels it is made for: qsim quantizes each model
// for --target (W8A8 per channel, TF-enhanced on the first N training images, BatchNormalization
// folded, as qsim_sim_vs_ort), exports the QDQ model, runs it with ONNX Runtime (with
// --ort-cpu on another CPU's kernels: a qemu CPU name or cpuid:avx2, ort_process.h) on the first
// --images test images, and compares the logits with qsim's simulation of the same encodings.
//
//   qsim_target_vs_ort MODEL... [--target NAME] [--ort-cpu NAME] [--images N] [--calib N]
//                      [--weight-bits N] [--u8-weights] [--threads T] [--work DIR]
//
// --u8-weights stores the QDQ model's int8 weights as uint8 with zero point + 128 (the same
// values), which ONNX Runtime runs on its U8U8 kernels. Prints, per model, the weight grids
// (8-bit, 7-bit, 8-bit with 7-bit channels), ONNX Runtime's optimized op counts, the top-1 of
// both on the labels, top-1 agreement and the share of logits within one output step. Exit
// status 0 when agreement and the one-step share are both at least 99.9% and every Conv ran as
// QLinearConv for every model, 1 when not, 2 on error, 77 (ctest's skip) when ONNX Runtime
// cannot run as on the --ort-cpu given (qemu-x86_64 missing, no CPUID faulting).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "fmnist_data.h"
#include "graph/onnx_export.h"
#include "graph/onnx_import.h"
#include "io/npy.h"
#include "logit_agreement.h"
#include "ort_process.h"
#include "quant/qdq_export.h"
#include "quant/quantsim.h"
#include "techniques/model_transforms.h"
#include "tool_args.h"

namespace fs = std::filesystem;
using namespace qsim;
using tools::Agreement;
using tools::compare_logits;

namespace {

constexpr int kSkipped = 77;

struct Args {
  std::vector<std::string> models;
  std::string target = "exact";
  std::string ort_cpu;
  int64_t images = 10000;
  int64_t calib = 1000;
  int64_t batch = 100;
  int weight_bits = 8;
  std::string u8_weights;  // set by the flag
  int threads = 1;
  std::string work;
};

Args parse_args(int argc, char** argv) {
  Args a;
  const std::string usage =
      "qsim_target_vs_ort MODEL... [--target NAME] [--ort-cpu NAME] [--images N] [--calib N] "
      "[--weight-bits N] [--u8-weights] [--threads T] [--work DIR]";
  std::vector<char*> rest;
  for (int i = 0; i < argc; ++i)
    if (std::string(argv[i]) == "--u8-weights")
      a.u8_weights = "yes";
    else
      rest.push_back(argv[i]);
  tools::parse_options(static_cast<int>(rest.size()), rest.data(),
                       {{"--target", &a.target},
                        {"--ort-cpu", &a.ort_cpu},
                        {"--images", &a.images},
                        {"--calib", &a.calib},
                        {"--weight-bits", &a.weight_bits},
                        {"--threads", &a.threads},
                        {"--work", &a.work}},
                       usage, &a.models);
  require(!a.models.empty(), ErrorCode::kInvalidArgument, "usage: " + usage);
  return a;
}

// The same values on a uint8 grid: q_u8 = q_s8 + 128, zero point + 128.
void store_weights_as_uint8(Model& qdq) {
  for (Node& node : qdq.graph.nodes) {
    if (node.op_type != "DequantizeLinear" || node.inputs.size() < 3) continue;
    const Tensor* values = qdq.graph.find_initializer(node.inputs[0]);
    if (values == nullptr || values->dtype() != DType::kInt8) continue;
    for (const std::string& name : {node.inputs[0], node.inputs[2]}) {
      const Tensor& s8 = qdq.graph.initializers.at(name);
      Tensor u8(DType::kUInt8, s8.shape());
      for (int64_t i = 0; i < s8.size(); ++i)
        u8.data<uint8_t>()[i] = static_cast<uint8_t>(s8.data<int8_t>()[i] + 128);
      qdq.graph.initializers[name] = u8;
    }
  }
}

struct WeightGrids {
  int eight = 0, seven = 0, mixed = 0;
  int64_t seven_bit_channels = 0, channels = 0;
};

// 8-bit weights whose scale is a 7-bit grid's in some channels are counted as mixed.
WeightGrids count_weight_grids(const QuantSim& sim, const QuantSim& exact) {
  WeightGrids grids;
  const EncodingSet reference = exact.encodings();
  for (const TensorEncoding& t : sim.encodings().params) {
    if (t.role != TensorRole::kWeight || !t.encoding) continue;
    const Encoding& enc = *t.encoding;
    grids.channels += static_cast<int64_t>(enc.channels.size());
    if (enc.bitwidth < 8) {
      ++grids.seven;
      grids.seven_bit_channels += static_cast<int64_t>(enc.channels.size());
      continue;
    }
    const Encoding& usual = *reference.find(t.name)->encoding;
    int64_t changed = 0;
    for (size_t c = 0; c < enc.channels.size(); ++c)
      changed += enc.channels[c].scale != usual.channels[c].scale;
    grids.seven_bit_channels += changed;
    ++(changed ? grids.mixed : grids.eight);
  }
  return grids;
}

Tensor simulate(QuantSim& sim, int64_t images, int64_t batch) {
  std::vector<Tensor> parts;
  int64_t rows = 0;
  for (int64_t first = 0; first < images; first += batch) {
    parts.push_back(
        sim.run_quantized({tools::fmnist_test_images(first, std::min(batch, images - first))})
            .at(0));
    rows += parts.back().dim(0);
  }
  Tensor all(DType::kFloat32, {rows, parts.at(0).dim(1)});
  float* out = all.data<float>();
  for (const Tensor& t : parts) out = std::copy_n(t.data<float>(), t.size(), out);
  return all;
}

QuantSimOptions options_for(const Args& args, Target target) {
  QuantSimOptions options;
  options.transforms = {fold_batch_norm_transform};
  options.per_channel = true;
  options.num_threads = args.threads;
  options.weight_bitwidth = args.weight_bits;
  options.target = target;
  return options;
}

bool check_model(const std::string& path, const Args& args, const fs::path& work) {
  const Model model = load_onnx_file(path);
  const Target target = target_from_name(args.target);
  QuantSim sim(model, options_for(args, target));
  tools::calibrate_on_training_images(sim, args.calib, args.batch);
  const QuantSim exact(model, options_for(args, Target::kExact));

  QdqModel qdq = build_qdq_model(sim.float_model(), sim.encodings());
  if (!args.u8_weights.empty()) store_weights_as_uint8(qdq.model);
  const std::string qdq_path = (work / (fs::path(path).stem().string() + ".qdq.onnx")).string();
  const std::string optimized = qdq_path + ".ort_optimized.onnx";
  const std::string logits_path = (work / "ort_logits.npy").string();
  save_onnx_file(qdq.model, qdq_path);
  tools::run_ort({"fmnist", qdq_path, "--output", logits_path, "--batch", "1000", "--limit",
                  std::to_string(args.images), "--threads", std::to_string(args.threads),
                  "--optimized-model", optimized},
                 args.ort_cpu);
  const Tensor ort_logits = read_npy(logits_path);
  const Tensor sim_logits = simulate(sim, ort_logits.dim(0), args.batch);

  const WeightGrids grids = count_weight_grids(sim, exact);
  std::printf("%s: target %s, W%dA8 per channel%s, ONNX Runtime %s, %lld test images\n",
              path.c_str(), target_name(target), args.weight_bits,
              args.u8_weights.empty() ? "" : ", weights stored as uint8",
              ("on " + tools::describe_ort_cpu(args.ort_cpu)).c_str(),
              static_cast<long long>(ort_logits.dim(0)));
  std::printf(
      "  weights: %d at 8 bits, %d at 7 bits, %d 8-bit with 7-bit channels; %lld of %lld "
      "channels on a 7-bit grid\n",
      grids.eight, grids.seven, grids.mixed, static_cast<long long>(grids.seven_bit_channels),
      static_cast<long long>(grids.channels));
  std::map<std::string, int64_t> ops;
  for (const Node& node : load_onnx_file(optimized).graph.nodes) ++ops[node.op_type];
  std::printf("  ONNX Runtime's optimized graph:");
  for (const auto& [op, count] : ops) std::printf(" %s %lld", op.c_str(), (long long)count);
  std::printf("\n");

  const EncodingSet encodings = sim.encodings();
  const float step = encodings.find(model.graph.outputs.at(0).name)->encoding->channels.at(0).scale;
  const Agreement a = compare_logits(sim_logits, ort_logits, step);
  std::printf("  top-1 on the labels: ONNX Runtime %.2f%%, qsim's simulation %.2f%%\n",
              100 * Agreement::share(a.ort_correct, a.images),
              100 * Agreement::share(a.sim_correct, a.images));
  std::printf(
      "  top-1 agreement %.2f%%; logits within one output step %.3f%%, bit-identical "
      "%.3f%%; largest difference %.2f steps\n",
      100 * Agreement::share(a.same_class, a.images),
      100 * Agreement::share(a.within_one_step, a.elements),
      100 * Agreement::share(a.identical, a.elements), a.max_steps);
  // Otherwise ONNX Runtime ran float convolutions, and its integer kernels were not tested.
  int64_t convs = 0;
  for (const Node& node : model.graph.nodes) convs += node.op_type == "Conv";
  const bool integer = ops["QLinearConv"] == convs && ops["Conv"] == 0 && ops["FusedConv"] == 0;
  if (!integer)
    std::printf("  not every Conv ran as QLinearConv (%lld Conv in the model)\n",
                static_cast<long long>(convs));
  const bool pass = integer && a.passes();
  std::printf("  %s\n", pass ? "PASS" : "FAIL");
  std::fflush(stdout);
  return pass;
}

}  // namespace

int main(int argc, char** argv) {
  return tools::run_tool("qsim_target_vs_ort", [&] {
    const Args args = parse_args(argc, argv);
    if (const std::string why_not = tools::ort_cpu_unavailable(args.ort_cpu); !why_not.empty()) {
      std::printf("SKIPPED: ONNX Runtime cannot be run as on CPU '%s': %s\n", args.ort_cpu.c_str(),
                  why_not.c_str());
      return kSkipped;
    }
    const tools::WorkFolder work(args.work, "qsim-target-vs-ort-");
    bool all_pass = true;
    for (const std::string& model : args.models)
      all_pass = check_model(model, args, work.path()) && all_pass;
    return all_pass ? 0 : 1;
  });
}
