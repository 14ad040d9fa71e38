// Simulation equals the integer runtime: qsim's own QuantSim simulation of a model against
// ONNX Runtime running the QDQ model qsim exports, on the Fashion-MNIST test images (all 10000
// unless --images N limits them to the first N).
//
//   qsim_sim_vs_ort MODEL... [--calib N] [--batch B] [--ort-chunk C] [--threads T] [--work DIR]
//                   [--images N] [--ort-cpu NAME] [--emulate exact|ort-avx2]
//                   [--weight-bits W] [--act-bits A] [--qdq-16bit microsoft|opset21]
//                   [--metric top1|iou|ctc] [--ctc-blank K|none] [--config FILE.json]
//
// --ort-cpu NAME runs ONNX Runtime under `qemu-x86_64 -cpu NAME` (Haswell: its AVX2 kernels;
// Nehalem: its SSE4.1 kernels), or natively with CPUID masked (cpuid:avx2, cpuid:sse41; see
// ort_process.h); the environment variable QSIM_ORT_CPU does the same. The
// simulation is judged in the integer arithmetic of --emulate, by default that of the kernels
// ONNX Runtime takes on the CPU it runs on, from that CPU's CPUID (ort_cpu_path.h). Both
// arithmetics are simulated and printed, with ONNX Runtime's and the simulations' top-1
// accuracy.
//
// --weight-bits / --act-bits choose other widths (W8A16: --act-bits 16, whose uint16 Q/DQ are
// written as --qdq-16bit says, com.microsoft by default). ONNX Runtime has no 16-bit integer
// kernels, so with 16-bit activations it computes the layers in float between its Q/DQ; the
// check that every Conv ran as QLinearConv becomes one that the float model's top-1 accuracy
// is within 0.1 point of ONNX Runtime's (on all 10000 images only), and the logits are judged by
// top-1 agreement and by the simulation being at least ten times closer to ONNX Runtime than the
// float model is (root-mean-square; logit_agreement.h says why).  The within-one-step and
// bit-identical shares are printed for every width.
//
// The default configuration: W8A8, int8 per-channel symmetric weights, uint8 asymmetric
// activations calibrated with TF-enhanced on the first N (1000) training images,
// BatchNormalization folded. ONNX Runtime runs the QDQ model in chunks of C (1000) images and
// saves its optimized graph; QuantSim::run_quantized runs batches of B (100). Prints, per model,
// the top-1 agreement, the fractions of logits within one output quantization step (the scale
// of the logits encoding) and bit-identical, and the op counts of the optimized graph. Exit
// status 0 when, for every model, agreement and the one-step fraction of the judged
// simulation are both at least 99.9% and every Conv ran as QLinearConv and every MatMul as an
// integer MatMul (transformers: docs/TRANSFORMERS.md); 1 when not; 2 on error. Work files go
// to DIR (kept) or to a temporary folder (removed).
//
// --metric says what the model's output is (dense_metrics.h). top1 (the default): [N, classes]
// logits, judged as above. iou: a sigmoid map [N, 1, H, W] (models/seg_fmnist.onnx); the masks
// (probability > 0.5) of the simulation and of ONNX Runtime must agree on at least 99.9% of the
// pixels, and the mean IoU against the Fashion-MNIST foreground target is printed for ONNX
// Runtime, the simulation and the float model. ctc: [N, T, C] scores decoded greedily (argmax
// per step, repeats collapsed, blank K removed; `none`: plain argmax sequences); at least 99.9%
// of the rows must decode to the same sequence. Both replace the top-1 and one-step checks; the
// check that every Conv ran as QLinearConv stays (a ConvTranspose is no Conv: ONNX Runtime's
// CPU provider has no QDQ fusion for it and runs it in float between its Q/DQ).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "dense_metrics.h"
#include "fmnist_data.h"
#include "graph/onnx_import.h"
#include "io/npy.h"
#include "logit_agreement.h"
#include "ort_process.h"
#include "quant/ort_integer_ops.h"
#include "quant/qdq_export.h"
#include "quant/quantsim.h"
#include "techniques/model_transforms.h"
#include "tool_args.h"

namespace fs = std::filesystem;
using namespace qsim;
using tools::Agreement;
using tools::compare_logits;

namespace {

struct Args {
  std::vector<std::string> models;
  int64_t calib = 1000;
  int64_t batch = 100;
  int64_t ort_chunk = 1000;
  int threads = 1;
  std::string work;
  int64_t images = 0;  // 0: all test images
  std::string ort_cpu;
  std::string emulate;  // "": the arithmetic of ONNX Runtime's kernels on its CPU
  int weight_bits = 8;
  int act_bits = 8;
  std::string wide_form = "microsoft";
  std::string metric = "top1";
  int64_t ctc_blank = 0;  // -1: none
  std::string config;  // a QuantSim config JSON; "": the built-in one
};

Args parse_args(int argc, char** argv) {
  Args a;
  const std::string usage =
      "qsim_sim_vs_ort MODEL... [--calib N] [--batch B] [--ort-chunk C] [--threads T] "
      "[--work DIR] [--images N] [--ort-cpu NAME] [--emulate exact|ort-avx2] [--weight-bits W] "
      "[--act-bits A] [--qdq-16bit microsoft|opset21] [--metric top1|iou|ctc] "
      "[--ctc-blank K|none] [--config FILE.json]";
  std::string blank = "0";
  a.ort_cpu = tools::ort_cpu_from_environment();
  tools::parse_options(argc, argv,
                       {{"--calib", &a.calib},
                        {"--batch", &a.batch},
                        {"--ort-chunk", &a.ort_chunk},
                        {"--threads", &a.threads},
                        {"--work", &a.work},
                        {"--images", &a.images},
                        {"--ort-cpu", &a.ort_cpu},
                        {"--emulate", &a.emulate},
                        {"--weight-bits", &a.weight_bits},
                        {"--act-bits", &a.act_bits},
                        {"--qdq-16bit", &a.wide_form},
                        {"--metric", &a.metric},
                        {"--ctc-blank", &blank},
                        {"--config", &a.config}},
                       usage, &a.models);
  require(!a.models.empty(), ErrorCode::kInvalidArgument, "usage: " + usage);
  if (!a.emulate.empty()) target_from_name(a.emulate);  // checks the name
  require(a.wide_form == "microsoft" || a.wide_form == "opset21", ErrorCode::kInvalidArgument,
          "--qdq-16bit: '" + a.wide_form + "' is neither microsoft nor opset21");
  require(a.metric == "top1" || a.metric == "iou" || a.metric == "ctc", ErrorCode::kInvalidArgument,
          "--metric: '" + a.metric + "' is not top1, iou or ctc");
  if (blank == "none") {
    a.ctc_blank = -1;
  } else {
    require(!blank.empty() && blank.find_first_not_of("0123456789") == std::string::npos,
            ErrorCode::kInvalidArgument,
            "--ctc-blank: '" + blank + "' is neither a class index nor none");
    a.ctc_blank = std::stoll(blank);
  }
  return a;
}

// Stacks [n_i, ...] outputs (logits, maps, sequences) into one [sum n_i, ...] tensor.
Tensor stack_rows(const std::vector<Tensor>& parts) {
  int64_t rows = 0;
  for (const Tensor& t : parts) rows += t.dim(0);
  std::vector<int64_t> dims = parts.at(0).shape();
  dims.at(0) = rows;
  Tensor all(DType::kFloat32, dims);
  float* out = all.data<float>();
  for (const Tensor& t : parts) out = std::copy_n(t.data<float>(), t.size(), out);
  return all;
}

int64_t test_images(const Args& args) {
  const int64_t all = tools::fmnist_test_count();
  return args.images > 0 ? std::min(args.images, all) : all;
}

// The simulation's logits on the test set, or with `arithmetic` empty the float model's.
Tensor simulate_test_set(QuantSim& sim, const Args& args, std::optional<Target> arithmetic) {
  const int64_t images = test_images(args);
  std::vector<Tensor> logits;
  for (int64_t first = 0; first < images; first += args.batch) {
    const Tensor input = tools::fmnist_test_images(first, std::min(args.batch, images - first));
    logits.push_back(arithmetic ? sim.run_quantized({input}, *arithmetic).at(0)
                                : sim.run_float({input}).at(0));
  }
  return stack_rows(logits);
}

// Top-1 accuracy in percent of [N, classes] logits on the first N test images.
double top1_accuracy(const Tensor& logits) {
  int64_t right = 0;
  for (int64_t row = 0; row < logits.dim(0); ++row)
    right += tools::argmax_row(logits, row) == tools::fmnist_test_label(row);
  return 100.0 * static_cast<double>(right) / static_cast<double>(logits.dim(0));
}

// ONNX Runtime's logits for the test set (`run.js fmnist`, chunks of --ort-chunk images); its
// session also saves the optimized graph to `optimized`.
Tensor run_ort_on_test_set(const std::string& qdq_path, const fs::path& work, const Args& args,
                           const std::string& optimized) {
  const std::string logits = (work / "ort_logits.npy").string();
  tools::run_ort({"fmnist", qdq_path, "--output", logits, "--batch", std::to_string(args.ort_chunk),
                  "--threads", std::to_string(args.threads), "--optimized-model", optimized,
                  "--limit", std::to_string(test_images(args))},
                 args.ort_cpu);
  return read_npy(logits);
}

std::map<std::string, int64_t> op_counts(const Model& model) {
  std::map<std::string, int64_t> counts;
  for (const Node& node : model.graph.nodes) ++counts[node.op_type];
  return counts;
}

int64_t count_of(const std::map<std::string, int64_t>& counts, const std::string& op) {
  auto it = counts.find(op);
  return it == counts.end() ? 0 : it->second;
}

float output_step(const QuantSim& sim, const std::string& output) {
  const EncodingSet encodings = sim.encodings();
  const TensorEncoding* logits = encodings.find(output);
  require(logits != nullptr && logits->encoding.has_value(), ErrorCode::kState,
          "model output '" + output + "' has no encoding, so there is no output step");
  return logits->encoding->channels.at(0).scale;
}

void print_op_counts(const std::map<std::string, int64_t>& counts) {
  std::vector<std::pair<std::string, int64_t>> sorted(counts.begin(), counts.end());
  std::stable_sort(sorted.begin(), sorted.end(),
                   [](const auto& a, const auto& b) { return a.second > b.second; });
  std::printf("  ONNX Runtime's optimized graph:");
  for (const auto& [op, count] : sorted) std::printf(" %s %lld", op.c_str(), (long long)count);
  std::printf("\n");
}

// Every Conv of the float model ran as QLinearConv, and every MatMul (a weight's, or a
// transformer's Q.K^T and attention.V between two activations) as an integer MatMul
// (QLinearMatMul, or MatMulInteger[ToFloat]): none is left in float, plain or fused.
bool every_layer_integer(const Model& float_model,
                         const std::map<std::string, int64_t>& optimized) {
  const std::map<std::string, int64_t> original = op_counts(float_model);
  const int64_t convs = count_of(original, "Conv");
  const int64_t integer = count_of(optimized, "QLinearConv");
  const int64_t float_convs = count_of(optimized, "Conv") + count_of(optimized, "FusedConv");
  std::printf(
      "  Conv in the float model %lld; in the optimized graph QLinearConv %lld, float %lld\n",
      (long long)convs, (long long)integer, (long long)float_convs);
  const int64_t matmuls = count_of(original, "MatMul");
  const int64_t integer_matmuls = count_of(optimized, "QLinearMatMul") +
                                  count_of(optimized, "MatMulInteger") +
                                  count_of(optimized, "MatMulIntegerToFloat");
  const int64_t float_matmuls = count_of(optimized, "MatMul") + count_of(optimized, "FusedMatMul");
  if (matmuls > 0)
    std::printf(
        "  MatMul in the float model %lld; in the optimized graph integer %lld, float %lld\n",
        (long long)matmuls, (long long)integer_matmuls, (long long)float_matmuls);
  return integer == convs && float_convs == 0 && integer_matmuls == matmuls && float_matmuls == 0;
}

void print_agreement(const Agreement& a, float step) {
  std::printf("    top-1 agreement: %lld/%lld images (%.2f%%)\n", (long long)a.same_class,
              (long long)a.images, 100 * Agreement::share(a.same_class, a.images));
  std::printf("    logits within one output step (%.6g): %lld/%lld (%.3f%%)\n", step,
              (long long)a.within_one_step, (long long)a.elements,
              100 * Agreement::share(a.within_one_step, a.elements));
  std::printf("    logits bit-identical: %lld/%lld (%.3f%%); largest difference %.2f steps\n",
              (long long)a.identical, (long long)a.elements,
              100 * Agreement::share(a.identical, a.elements), a.max_steps);
}

// The share of elements of two outputs within one output step, in percent.
double within_one_step_percent(const Tensor& a, const Tensor& b, float step) {
  int64_t within = 0;
  for (int64_t i = 0; i < a.size(); ++i)
    within += std::fabs(double{a.data<float>()[i]} - double{b.data<float>()[i]}) <=
              step * tools::kStepTolerance;
  return 100.0 * Agreement::share(within, a.size());
}

// --metric iou: how the masks of `out` agree with ONNX Runtime's, and its IoU against the
// foreground target. Returns the share of identical mask pixels.
double report_masks(const char* who, const Tensor& out, const std::vector<uint8_t>& ort_mask,
                    const std::vector<uint8_t>& target) {
  const std::vector<uint8_t> mask = tools::threshold_map(out);
  const double same = tools::identical_share(mask, ort_mask);
  std::printf(
      "    %s: mean IoU %.4f against the target; mask pixels identical to ONNX "
      "Runtime's %.4f%%, IoU with them %.6f\n",
      who, tools::mean_iou(mask, target, out.dim(0)), 100 * same,
      tools::mean_iou(mask, ort_mask, out.dim(0)));
  return same;
}

// --metric ctc: the share of rows of `out` decoding to ONNX Runtime's sequence.
double report_sequences(const char* who, const Tensor& out, const Tensor& ort, int64_t blank) {
  const int64_t equal = tools::equal_sequences(tools::ctc_greedy_decode(out, blank),
                                               tools::ctc_greedy_decode(ort, blank));
  std::printf("    %s: sequences equal to ONNX Runtime's %lld/%lld (%.3f%%)\n", who,
              (long long)equal, (long long)out.dim(0), 100 * Agreement::share(equal, out.dim(0)));
  return Agreement::share(equal, out.dim(0));
}

// The judgement of --metric iou and ctc (outputs other than class logits).
bool check_dense_outputs(QuantSim& sim, const Model& model, const Args& args, const Tensor& ort_out,
                         const std::map<std::string, int64_t>& optimized,
                         const std::string& path_arithmetic) {
  const float step = output_step(sim, model.graph.outputs.at(0).name);
  const Tensor float_out = simulate_test_set(sim, args, std::nullopt);
  std::printf("  the float model against ONNX Runtime's quantized output: rms %.3g\n",
              tools::rms_difference(float_out, ort_out));
  const bool iou = args.metric == "iou";
  const std::vector<uint8_t> ort_mask =
      iou ? tools::threshold_map(ort_out) : std::vector<uint8_t>{};
  const std::vector<uint8_t> target =
      iou ? tools::fmnist_test_foreground(0, ort_out.dim(0)) : std::vector<uint8_t>{};
  if (iou) {
    std::printf("    ONNX Runtime: mean IoU %.4f against the target (masks > %.1f)\n",
                tools::mean_iou(ort_mask, target, ort_out.dim(0)), tools::kMaskThreshold);
    report_masks("float model", float_out, ort_mask, target);
  } else {
    report_sequences("float model", float_out, ort_out, args.ctc_blank);
  }
  const bool layers_pass = args.act_bits != 8 || every_layer_integer(model, optimized);
  bool agreement_passes = false;
  for (Target arithmetic : {Target::kExact, Target::kOrtAvx2}) {
    const Tensor sim_out = simulate_test_set(sim, args, arithmetic);
    const bool judged = target_name(arithmetic) == path_arithmetic;
    std::printf(
        "  simulation in arithmetic %s%s: outputs within one output step (%.6g) of ONNX "
        "Runtime's %.3f%%, rms %.3g\n",
        target_name(arithmetic), judged ? " (judged)" : "", step,
        within_one_step_percent(sim_out, ort_out, step), tools::rms_difference(sim_out, ort_out));
    const double share = iou ? report_masks("simulation", sim_out, ort_mask, target)
                             : report_sequences("simulation", sim_out, ort_out, args.ctc_blank);
    if (judged) agreement_passes = share >= tools::kRequiredFraction;
  }
  const bool pass = layers_pass && agreement_passes;
  std::printf("  %s\n", pass ? "PASS" : "FAIL");
  std::fflush(stdout);
  return pass;
}

bool check_model(const std::string& path, const Args& args, const fs::path& work) {
  const Model model = load_onnx_file(path);
  QuantSimOptions options;
  options.transforms = {fold_batch_norm_transform};
  options.per_channel = true;
  options.num_threads = args.threads;
  options.weight_bitwidth = args.weight_bits;
  options.activation_bitwidth = args.act_bits;
  if (!args.config.empty()) options.config = read_quantsim_config_file(args.config);
  QuantSim sim(model, options);
  tools::calibrate_on_training_images(sim, args.calib, args.batch);

  const std::string qdq_path = (work / "model.qdq.onnx").string();
  const std::string optimized_path = (work / "model.qdq.ort_optimized.onnx").string();
  QdqOptions qdq_options;
  qdq_options.wide_form =
      args.wide_form == "opset21" ? WideQdqForm::kOpset21 : WideQdqForm::kMicrosoftDomain;
  const QdqReport qdq = export_qdq_model(sim.float_model(), sim.encodings(), qdq_path, qdq_options);
  const Tensor ort_logits = run_ort_on_test_set(qdq_path, work, args, optimized_path);
  const std::map<std::string, int64_t> optimized = op_counts(load_onnx_file(optimized_path));

  const std::string path_arithmetic =
      args.emulate.empty() ? tools::ort_arithmetic(args.ort_cpu) : args.emulate;
  std::printf(
      "%s: W%dA%d per-channel, TF-enhanced, calibrated on %lld training images; %lld test "
      "images%s\n",
      path.c_str(), args.weight_bits, args.act_bits, (long long)args.calib,
      (long long)test_images(args),
      args.act_bits > 8 ? (args.wide_form == "opset21" ? "; 16-bit Q/DQ at opset 21"
                                                       : "; 16-bit Q/DQ as com.microsoft ops")
                        : "");
  std::printf("  ONNX Runtime on %s; judged in arithmetic %s%s\n",
              tools::describe_ort_cpu(args.ort_cpu).c_str(), path_arithmetic.c_str(),
              args.emulate.empty() ? " (its kernels' on that CPU, from CPUID)" : " (--emulate)");
  for (const std::string& warning : qdq.warnings) std::printf("  export: %s\n", warning.c_str());
  print_op_counts(optimized);
  if (args.metric != "top1")
    return check_dense_outputs(sim, model, args, ort_logits, optimized, path_arithmetic);
  const float step = output_step(sim, model.graph.outputs.at(0).name);
  const double ort_accuracy = top1_accuracy(ort_logits);
  const Tensor float_logits = simulate_test_set(sim, args, std::nullopt);
  const double float_accuracy = top1_accuracy(float_logits);
  const double float_rms = tools::rms_difference(float_logits, ort_logits);
  std::printf("  ONNX Runtime top-1 accuracy %.2f%%; the float model's %.2f%%\n", ort_accuracy,
              float_accuracy);
  bool layers_pass = false;
  if (args.act_bits == 8) {
    layers_pass = every_layer_integer(model, optimized);
  } else if (test_images(args) < tools::fmnist_test_count()) {
    // One image is 0.1 point of 1000: the accuracy is judged on the whole test set only.
    layers_pass = true;
    std::printf("  16-bit activations: accuracy against float not judged on a subset\n");
  } else {
    layers_pass = std::fabs(ort_accuracy - float_accuracy) <= 0.1 + 1e-9;
    std::printf("  16-bit activations: ONNX Runtime within 0.1 point of float: %s\n",
                layers_pass ? "yes" : "no");
  }
  bool agreement_passes = false;
  for (Target arithmetic : {Target::kExact, Target::kOrtAvx2}) {
    const Tensor sim_logits = simulate_test_set(sim, args, arithmetic);
    const Agreement agreement = compare_logits(sim_logits, ort_logits, step);
    const bool judged = target_name(arithmetic) == path_arithmetic;
    std::printf("  simulation in arithmetic %s%s: predicted top-1 accuracy %.2f%%\n",
                target_name(arithmetic), judged ? " (judged)" : "", top1_accuracy(sim_logits));
    print_agreement(agreement, step);
    const double ratio = agreement.rms / float_rms;
    std::printf("    root-mean-square difference %.3g, %.4f of the float model's (%.3g)\n",
                agreement.rms, ratio, float_rms);
    if (judged)
      agreement_passes = args.act_bits == 8
                             ? agreement.passes()
                             : Agreement::share(agreement.same_class, agreement.images) >=
                                       tools::kRequiredFraction &&
                                   ratio <= tools::kMaxRmsRatio;
  }
  const bool pass = layers_pass && agreement_passes;
  std::printf("  %s\n", pass ? "PASS" : "FAIL");
  std::fflush(stdout);
  return pass;
}

}  // namespace

int main(int argc, char** argv) {
  return tools::run_tool("qsim_sim_vs_ort", [&] {
    const Args args = parse_args(argc, argv);
    const tools::WorkFolder work(args.work, "qsim-sim-vs-ort-");
    bool all_pass = true;
    for (const std::string& model : args.models)
      all_pass = check_model(model, args, work.path()) && all_pass;
    return all_pass ? 0 : 1;
  });
}
