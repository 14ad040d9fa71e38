// The cross-layer equalization table of docs/EQUALIZATION.md: top-1 on all 10000
// Fashion-MNIST test images of the reference models and of the rescaled ResNet
// (tools::rescaled_resnet), float and under QuantSim::run_quantized, per-tensor and per-channel
// and 4-bit per-channel weights, with none, BN folding, CLE, CLE + high-bias absorption,
// CLE + bias correction and
// CLE + AdaRound (10000 iterations, 1024 samples) (and of models/mobilenet_rescaled_fmnist.onnx)
// (MinMax weights, TF-enhanced activations, calibrated on the first N training images).
//
//   qsim_cle_table [--calib N] [--batch B] [--threads T]
//
// Prints the Markdown table. Exit status 0 when CLE brings per-tensor W8A8 on both rescaled
// models within one point of their float top-1, 1 when not, 2 on error.
#include <cmath>
#include <cstdio>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "fmnist_data.h"
#include "graph/bn_fold.h"
#include "quant/quantsim.h"
#include "runtime/engine.h"
#include "techniques/adaround.h"
#include "techniques/bias_correction.h"
#include "techniques/cross_layer_equalization.h"
#include "techniques/model_transforms.h"
#include "tool_args.h"

using namespace qsim;

namespace {

struct Args {
  int64_t calib = 1000;
  int64_t batch = 250;
  int threads = 1;
};

Args parse_args(int argc, char** argv) {
  Args a;
  tools::parse_options(argc, argv,
                       {{"--calib", &a.calib}, {"--batch", &a.batch}, {"--threads", &a.threads}},
                       "qsim_cle_table [--calib N] [--batch B] [--threads T]");
  return a;
}

// What runs before the simulation is evaluated.
enum class Steps {
  kNone,
  kBnFold,
  kCle,
  kCleHba,
  kCleBiasCorrection,
  kCleHbaAnalyticalBc,  // the paper's data-free recipe
  kCleAdaRound
};

const char* steps_label(Steps steps) {
  switch (steps) {
    case Steps::kNone:
      return "none";
    case Steps::kBnFold:
      return "BN fold";
    case Steps::kCle:
      return "BN fold + CLE";
    case Steps::kCleHba:
      return "BN fold + CLE + high-bias absorption";
    case Steps::kCleBiasCorrection:
      return "BN fold + CLE + bias correction";
    case Steps::kCleHbaAnalyticalBc:
      return "BN fold + CLE + high-bias absorption + analytical bias correction";
    case Steps::kCleAdaRound:
      return "BN fold + CLE + AdaRound";
  }
  return "";
}

struct Grid {
  const char* label;
  int weight_bits;
  bool per_channel;
};

const Grid kGrids[] = {
    {"W8A8 per-tensor", 8, false}, {"W8A8 per-channel", 8, true}, {"W4A8 per-channel", 4, true}};
const Steps kSteps[] = {Steps::kNone,
                        Steps::kBnFold,
                        Steps::kCle,
                        Steps::kCleHba,
                        Steps::kCleBiasCorrection,
                        Steps::kCleHbaAnalyticalBc,
                        Steps::kCleAdaRound};

struct Row {
  std::string label;
  Grid grid;
  Steps steps;
};

std::vector<Row> rows() {
  std::vector<Row> r;
  for (const Grid& grid : kGrids)
    for (Steps steps : kSteps)
      r.push_back({std::string(grid.label) + ", " + steps_label(steps), grid, steps});
  return r;
}

double float_top1(const Model& model, const Args& args) {
  Engine engine(std::make_shared<const Model>(model), EngineOptions{args.threads});
  return tools::fmnist_test_top1([&](const Tensor& images) { return engine.run({images}).at(0); },
                                 args.batch);
}

// The float model after BN folding and CLE (ReLU6 replaced by Relu where CLE needed it).
double float_cle_top1(const Model& model, const Args& args) {
  QuantSimOptions options;
  options.transforms = {fold_batch_norm_transform, cross_layer_equalization({})};
  options.num_threads = args.threads;
  QuantSim sim(model, options);
  return tools::fmnist_test_top1(
      [&](const Tensor& images) { return sim.run_float({images}).at(0); }, args.batch);
}

double quantized_top1(const Model& model, const Row& row, const Args& args, std::string& record) {
  QuantSimOptions options;
  if (row.steps != Steps::kNone) options.transforms = {fold_batch_norm_transform};
  CleOptions cle;
  // From BN folding's statistics.
  cle.high_bias_absorption = row.steps == Steps::kCleHba || row.steps == Steps::kCleHbaAnalyticalBc;
  if (row.steps >= Steps::kCle) options.transforms.push_back(cross_layer_equalization(cle));
  options.weight_bitwidth = row.grid.weight_bits;
  options.per_channel = row.grid.per_channel;
  options.num_threads = args.threads;
  QuantSim sim(model, options);
  for (const AppliedTechnique& t : sim.applied_techniques())
    if (t.name == "cle")
      record = t.options.at("pairs") + " pairs, " + t.options.at("steps") + " passes" +
               (t.options.count("high_bias_absorbed_channels") != 0
                    ? ", " + t.options.at("high_bias_absorbed_channels") + " channels absorbed"
                    : std::string());
  tools::calibrate_on_training_images(sim, args.calib, args.batch);
  if (row.steps == Steps::kCleBiasCorrection || row.steps == Steps::kCleHbaAnalyticalBc) {
    BiasCorrectionOptions bc;
    bc.analytical = row.steps == Steps::kCleHbaAnalyticalBc;
    correct_bias(sim, tools::training_batches(args.calib, args.batch), bc, nullptr);
  }
  if (row.steps == Steps::kCleAdaRound) {
    AdaRoundOptions adaround_options;
    adaround_options.num_threads = args.threads;
    adaround(sim, tools::training_batches(1024, args.batch), adaround_options, nullptr);
  }
  return tools::fmnist_test_top1(
      [&](const Tensor& images) { return sim.run_quantized({images}).at(0); }, args.batch);
}

int run(const Args& args) {
  struct Column {
    std::string name;
    Model model;
  };
  std::vector<Column> columns;
  for (const char* name : tools::kReferenceModels)
    columns.push_back({name, tools::load_reference_model(name)});
  columns.push_back({"resnet_fmnist rescaled (seed 1)", tools::rescaled_resnet(1)});
  columns.push_back(
      {"mobilenet_rescaled_fmnist", tools::load_reference_model("mobilenet_rescaled_fmnist")});
  std::vector<std::vector<double>> top1(columns.size());
  std::vector<std::string> records(columns.size());
  std::vector<double> floats, floats_cle;
  for (size_t c = 0; c < columns.size(); ++c) {
    floats.push_back(float_top1(columns[c].model, args));
    floats_cle.push_back(float_cle_top1(columns[c].model, args));
    for (const Row& row : rows()) {
      top1[c].push_back(quantized_top1(columns[c].model, row, args, records[c]));
      std::fprintf(stderr, "%s, %s: %.2f\n", columns[c].name.c_str(), row.label.c_str(),
                   top1[c].back());
    }
  }
  std::printf("| top-1 %% (10000 test images) |");
  for (const Column& c : columns) std::printf(" %s |", c.name.c_str());
  std::printf("\n|---|");
  for (size_t c = 0; c < columns.size(); ++c) std::printf("---|");
  std::printf("\n| float |");
  for (double f : floats) std::printf(" %.2f |", f);
  std::printf("\n| float + CLE |");
  for (double f : floats_cle) std::printf(" %.2f |", f);
  std::printf("\n");
  const std::vector<Row> all = rows();
  for (size_t r = 0; r < all.size(); ++r) {
    std::printf("| %s |", all[r].label.c_str());
    for (size_t c = 0; c < columns.size(); ++c) std::printf(" %.2f |", top1[c][r]);
    std::printf("\n");
  }
  std::printf("| CLE pairs, passes |");
  for (const std::string& record : records) std::printf(" %s |", record.c_str());
  std::printf("\n");
  // Columns: resnet, mobilenet, rescaled resnet, rescaled mobilenet; rows 1/2: W8A8
  // per-tensor, BN fold without/with CLE. Each rescaled model against its own float top-1.
  bool recovered = true;
  for (size_t c : {size_t{2}, size_t{3}}) {
    const bool ok = top1[c][2] >= floats[c] - 1.0;
    std::fprintf(stderr, "%s: per-tensor W8A8 %.2f, with CLE %.2f, float %.2f: %s\n",
                 columns[c].name.c_str(), top1[c][1], top1[c][2], floats[c],
                 ok ? "within 1 point" : "NOT within 1 point");
    recovered = recovered && ok;
  }
  return recovered ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return tools::run_tool("qsim_cle_table", [&] { return run(parse_args(argc, argv)); });
}
