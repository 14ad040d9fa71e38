// The accuracy table of docs/ACCURACY.md: top-1 of the reference models on all 10000
// Fashion-MNIST test images, float and under QuantSim::run_quantized for W8A8 per tensor and
// per channel with each activation calibration method (weights MinMax), and W4A8 per channel
// with nearest rounding, each after calibrating on the first N training images.
//
//   qsim_accuracy_table [--out FILE.md] [--calib N] [--batch B] [--threads T]
//                       [--metric top1|iou] [--images N] [--iterations N]
//
// Prints the Markdown page and writes it atomically to FILE.md when given. Exit status 0 when
// W8A8 per channel with the best method is within 0.5 points of float on every model, 1 when
// not, 2 on error.
//
// --metric iou measures the segmentation model (models/seg_fmnist.onnx) instead, by the mean
// IoU of its masks (dense_metrics.h) on the first N test images (all by default): float, W8A8
// per tensor and per channel, W8A16, W4A8 nearest and W4A8 AdaRound (--iterations, 10000 by
// default, on 1024 training images), activations TF-enhanced. Its Markdown is the section
// "Segmentation" of FILE.md: written between the markers of tools::kSegmentationSection, the rest
// of FILE.md kept (and a top1 run keeps that section). Exit status 0 when W8A8 per channel is
// within 0.01 and W8A16 within 0.002 IoU of float, 1 when not.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "dense_metrics.h"
#include "fmnist_data.h"
#include "io/atomic_file.h"
#include "marked_section.h"
#include "quant/quantsim.h"
#include "runtime/engine.h"
#include "techniques/adaround.h"
#include "techniques/model_transforms.h"
#include "tool_args.h"

using namespace qsim;

namespace {

constexpr double kAllowedLoss = 0.5;  // points of top-1, W8A8 per channel vs float

struct Args {
  std::string out;
  int64_t calib = 1000;
  int64_t batch = 100;
  int threads = 1;
  std::string metric = "top1";
  int64_t images = 0;  // --metric iou: 0 = all test images
  int64_t iterations = 10000;
};

Args parse_args(int argc, char** argv) {
  Args a;
  tools::parse_options(argc, argv,
                       {{"--out", &a.out},
                        {"--calib", &a.calib},
                        {"--batch", &a.batch},
                        {"--threads", &a.threads},
                        {"--metric", &a.metric},
                        {"--images", &a.images},
                        {"--iterations", &a.iterations}},
                       "qsim_accuracy_table [--out FILE.md] [--calib N] [--batch B] [--threads T] "
                       "[--metric top1|iou] [--images N] [--iterations N]");
  require(a.metric == "top1" || a.metric == "iou", ErrorCode::kInvalidArgument,
          "--metric: '" + a.metric + "' is neither top1 nor iou");
  return a;
}

struct QuantConfig {
  std::string label;
  int weight_bitwidth;
  bool per_channel;
  CalibrationMethod activation_method;
  int entropy_quantized_bins = 0;  // 0: the default
  bool main_table = true;          // else a row of the Entropy settings table
};

// Entropy's quantized-bin counts besides the default (the grid's levels) for the settings
// table: ONNX Runtime's default 128, and 256.
const int kEntropyQuantizedBins[] = {128, 256};

const CalibrationMethod kMethods[] = {CalibrationMethod::kMinMax, CalibrationMethod::kTfEnhanced,
                                      CalibrationMethod::kPercentile, CalibrationMethod::kEntropy,
                                      CalibrationMethod::kMse};

const char* method_name(CalibrationMethod method) {
  switch (method) {
    case CalibrationMethod::kMinMax:
      return "MinMax";
    case CalibrationMethod::kTfEnhanced:
      return "TF-enhanced";
    case CalibrationMethod::kPercentile:
      return "Percentile 99.999";
    case CalibrationMethod::kEntropy:
      return "Entropy (KL)";
    case CalibrationMethod::kMse:
      return "MSE";
    default:
      return calibration_method_name(method);
  }
}

std::string activation_label(const QuantConfig& config) {
  std::string label = method_name(config.activation_method);
  if (config.entropy_quantized_bins != 0)
    label += ", " + std::to_string(config.entropy_quantized_bins) + " quantized bins";
  return label;
}

std::vector<QuantConfig> table_configs() {
  std::vector<QuantConfig> configs;
  for (bool per_channel : {false, true})
    for (CalibrationMethod method : kMethods)
      configs.push_back(
          {per_channel ? "W8A8 per-channel" : "W8A8 per-tensor", 8, per_channel, method});
  configs.push_back(
      {"W4A8 per-channel, nearest rounding", 4, true, CalibrationMethod::kTfEnhanced});
  for (int bins : kEntropyQuantizedBins)
    configs.push_back({"W8A8 per-channel", 8, true, CalibrationMethod::kEntropy, bins, false});
  return configs;
}

double float_top1(const Model& model, const Args& args) {
  Engine engine(std::make_shared<const Model>(model), EngineOptions{args.threads});
  return tools::fmnist_test_top1([&](const Tensor& images) { return engine.run({images}).at(0); },
                                 args.batch);
}

double quantized_top1(const Model& model, const QuantConfig& config, const Args& args) {
  QuantSimOptions options;
  options.transforms = {fold_batch_norm_transform};
  options.weight_bitwidth = config.weight_bitwidth;
  options.activation_bitwidth = 8;
  options.per_channel = config.per_channel;
  options.activation_method = config.activation_method;
  options.weight_method = CalibrationMethod::kMinMax;
  if (config.entropy_quantized_bins != 0)
    options.observer_options.entropy_quantized_bins = config.entropy_quantized_bins;
  options.num_threads = args.threads;
  QuantSim sim(model, options);
  tools::calibrate_on_training_images(sim, args.calib, args.batch);
  return tools::fmnist_test_top1(
      [&](const Tensor& images) { return sim.run_quantized({images}).at(0); }, args.batch);
}

struct ModelColumn {
  std::string name;
  double float_top1 = 0;
  std::vector<double> quantized;  // by table_configs() row
};

ModelColumn measure(const std::string& name, const std::vector<QuantConfig>& configs,
                    const Args& args) {
  const Model model = tools::load_reference_model(name);
  ModelColumn column;
  column.name = name;
  column.float_top1 = float_top1(model, args);
  std::fprintf(stderr, "%s: float %.2f\n", column.name.c_str(), column.float_top1);
  for (const QuantConfig& config : configs) {
    column.quantized.push_back(quantized_top1(model, config, args));
    std::fprintf(stderr, "%s: %s, %s: %.2f\n", column.name.c_str(), config.label.c_str(),
                 activation_label(config).c_str(), column.quantized.back());
  }
  return column;
}

// The best W8A8 per-channel row of the main table in a column.
size_t best_per_channel_w8a8(const std::vector<QuantConfig>& configs, const ModelColumn& column) {
  size_t best = configs.size();
  for (size_t i = 0; i < configs.size(); ++i)
    if (configs[i].main_table && configs[i].weight_bitwidth == 8 && configs[i].per_channel &&
        (best == configs.size() || column.quantized[i] > column.quantized[best]))
      best = i;
  return best;
}

std::string format(const char* pattern, double a, double b = 0) {
  char text[64];
  std::snprintf(text, sizeof text, pattern, a, b);
  return text;
}

std::string today_utc() {
  const std::time_t now = std::time(nullptr);
  char text[32];
  std::strftime(text, sizeof text, "%Y-%m-%d", std::gmtime(&now));
  return text;
}

// The rows of the main table (with float first) or of the Entropy settings table.
std::string results_table(const std::vector<QuantConfig>& configs,
                          const std::vector<ModelColumn>& columns, bool main_table) {
  std::ostringstream md;
  md << "| configuration | activation calibration |";
  for (const ModelColumn& c : columns) md << " " << c.name << " |";
  md << "\n|---|---|";
  for (size_t i = 0; i < columns.size(); ++i) md << "---|";
  md << "\n";
  if (main_table) {
    md << "| float | - |";
    for (const ModelColumn& c : columns) md << " " << format("%.2f", c.float_top1) << " |";
    md << "\n";
  }
  for (size_t row = 0; row < configs.size(); ++row) {
    if (configs[row].main_table != main_table) continue;
    md << "| " << configs[row].label << " | " << activation_label(configs[row]) << " |";
    for (const ModelColumn& c : columns) {
      const bool best = best_per_channel_w8a8(configs, c) == row;
      const std::string cell =
          format("%.2f (%+.2f)", c.quantized[row], c.quantized[row] - c.float_top1);
      md << " " << (best ? "**" + cell + "**" : cell) << " |";
    }
    md << "\n";
  }
  return md.str();
}

// Whether W8A8 per channel with the best method stays within kAllowedLoss of float, per model.
std::string best_method_summary(const std::vector<QuantConfig>& configs,
                                const std::vector<ModelColumn>& columns, bool& all_within) {
  std::ostringstream md;
  all_within = true;
  for (const ModelColumn& c : columns) {
    const size_t best = best_per_channel_w8a8(configs, c);
    const double loss = c.float_top1 - c.quantized[best];
    const bool within = loss <= kAllowedLoss;
    all_within = all_within && within;
    md << "- " << c.name << ": " << activation_label(configs[best]) << ", "
       << format("%.2f", c.quantized[best]) << " against float " << format("%.2f", c.float_top1)
       << " (" << format("%+.2f", -loss) << " points): " << (within ? "within" : "NOT within")
       << " 0.5 points of float.\n";
  }
  return md.str();
}

std::string page(const Args& args, const std::vector<QuantConfig>& configs,
                 const std::vector<ModelColumn>& columns, double seconds, bool& all_within) {
  std::ostringstream md;
  md << "# Accuracy\n\n"
     << "Top-1 (%) of the two reference models on all " << tools::fmnist_test_count()
     << " Fashion-MNIST test images, float and\nunder qsim's quantization simulation "
        "(`QuantSim::run_quantized`). In brackets: points against float;\nin bold: W8A8 per "
        "channel with the best activation method.\n\n"
     << "Made by `build/tools/compare/qsim_accuracy_table --out docs/ACCURACY.md` (source\n"
        "`tools/compare/accuracy_table.cpp`) on "
     << today_utc() << " with qsim " << QSIM_VERSION_STRING << ", " << args.threads
     << " thread(s), in " << format("%.0f", seconds) << " s.\n\n"
     << "- Calibration set: the first " << args.calib
     << " Fashion-MNIST training images\n  (`train-images-idx3-ubyte.gz`, images 0 to "
     << args.calib - 1 << ", pixel / 255) in batches of " << args.batch
     << ";\n  the test images are never calibrated on.\n"
     << "- Float: qsim's runtime on the model file as it is (BatchNormalization unfused).\n"
     << "- Simulation: BatchNormalization folded into the Convs; weights symmetric on a signed "
        "grid\n  (`[-2^(bw-1), 2^(bw-1) - 1] * scale`) from their MinMax, per tensor or per "
        "output channel,\n  nearest rounding (half to even); the model input and every op "
        "output asymmetric uint8 from\n  the activation calibration method, none inside the "
        "Conv+Relu, Conv+Clip and Add+Relu\n  supergroups, MaxPool and Flatten sharing their "
        "input's grid; Conv and Gemm biases on their\n  int32 grid `input_scale * "
        "weight_scale`. Methods as in [CALIBRATION.md](CALIBRATION.md), default\n  options "
        "(Percentile 99.999; Entropy 2048 bins, quantized bins = the grid's levels).\n"
     << "- W4A8: 4-bit weights rounded to nearest (no AdaRound), 8-bit activations with "
        "TF-enhanced\n  (AIMET's default activation method).\n\n"
     << results_table(configs, columns, true) << "\n"
     << "W8A8 per channel with the best activation method:\n\n"
     << best_method_summary(configs, columns, all_within) << "\n"
     << "## Entropy and its quantized-bin count\n\n"
     << "Entropy compares, for each threshold `t`, the histogram below `t` with its merge "
        "into as many\ngroups as there are quantized bins over `[0, t]`. ONNX Runtime's "
        "default, 128 quantized bins\nover `[-t, t]`, means 64 groups over `[0, t]`, a "
        "quarter of the 256 levels a uint8 grid has\nthere. ReLU, ReLU6 and Hardswish "
        "outputs hold a spike of exact zeros; a group wider than one\nhistogram bin smears "
        "that spike over its neighbours, which KL punishes more than clipping,\nso with "
        "too few groups the search settles near its smallest candidates and clips those\n"
        "outputs far below their range. qsim therefore merges into the levels the requested "
        "grid has\n(2^bw over `[0, t]` for an asymmetric grid on non-negative data, else "
        "2^(bw-1) per sign);\nan explicit count keeps ONNX Runtime's behaviour:\n\n"
     << results_table(configs, columns, false) << "\n"
     << "## How these settings relate to AIMET's defaults\n\n"
     << "- Placement is AIMET's default quantsim config (qsim's built-in one): model input and "
        "op outputs\n  quantized, activations asymmetric, weights symmetric with offset "
        "`-2^(bw-1)` (not strict),\n  the same supergroups. AIMET's default config has "
        "`per_channel_quantization` False: the\n  per-tensor rows are AIMET's default, the "
        "per-channel rows its per-channel config.\n"
     << "- Calibration method: AIMET's `QuantizationSimModel` takes one `quant_scheme`, by "
        "default\n  `post_training_tf_enhanced` (the TF-enhanced rows). qsim chooses the "
        "weight and activation\n  methods separately; this table varies the activation method "
        "only and keeps weights at MinMax\n  (AIMET's `post_training_tf`), qsim's default.\n"
     << "- Biases: AIMET's default config leaves biases float in its simulation. qsim puts the "
        "bias of\n  every Conv, ConvTranspose and Gemm whose input and weight are quantized on "
        "its int32 grid\n  `input_scale * weight_scale`, quantized or not by the config, "
        "because that is what integer\n  runtimes (ONNX Runtime's QLinearConv and QGemm) and "
        "qsim's QDQ export store; with float biases\n  the simulation drifts from ONNX "
        "Runtime's integer output (`qsim_sim_vs_ort`, ctest `sim_vs_ort`).\n"
     << "- BatchNormalization folding: a separate call in AIMET (`fold_all_batch_norms`) before "
        "building\n  the simulation; qsim folds by default.\n";
  return md.str();
}

// ----- --metric iou: the segmentation model -----

constexpr double kAllowedIouLossW8A8 = 0.01;
constexpr double kAllowedIouLossW8A16 = 0.002;
constexpr int64_t kAdaRoundSamples = 1024;

struct SegConfig {
  std::string label;
  int weight_bitwidth;
  int activation_bitwidth;
  bool per_channel;
  bool adaround;
};

std::vector<SegConfig> seg_configs() {
  return {{"W8A8 per-tensor", 8, 8, false, false},
          {"W8A8 per-channel", 8, 8, true, false},
          {"W8A16 per-channel", 8, 16, true, false},
          {"W4A8 per-channel, nearest rounding", 4, 8, true, false},
          {"W4A8 per-channel, AdaRound", 4, 8, true, true}};
}

int64_t seg_images(const Args& args) {
  return args.images > 0 ? std::min(args.images, tools::fmnist_test_count())
                         : tools::fmnist_test_count();
}

// The masks (probability > 0.5) of `forward` on the first test images.
std::vector<uint8_t> test_masks(const std::function<Tensor(const Tensor&)>& forward,
                                const Args& args) {
  std::vector<uint8_t> masks;
  const int64_t images = seg_images(args);
  for (int64_t first = 0; first < images; first += args.batch) {
    const std::vector<uint8_t> part = tools::threshold_map(
        forward(tools::fmnist_test_images(first, std::min(args.batch, images - first))));
    masks.insert(masks.end(), part.begin(), part.end());
  }
  return masks;
}

std::vector<uint8_t> quantized_masks(const Model& model, const SegConfig& config,
                                     const Args& args) {
  QuantSimOptions options;
  options.weight_bitwidth = config.weight_bitwidth;
  options.activation_bitwidth = config.activation_bitwidth;
  options.per_channel = config.per_channel;
  options.activation_method = CalibrationMethod::kTfEnhanced;
  options.weight_method = CalibrationMethod::kMinMax;
  options.num_threads = args.threads;
  QuantSim sim(model, options);
  tools::calibrate_on_training_images(sim, args.calib, args.batch);
  if (config.adaround) {
    AdaRoundOptions ada;
    ada.mode = AdaRoundMode::kAdaRound;
    ada.iterations = args.iterations;
    ada.samples = kAdaRoundSamples;
    ada.num_threads = args.threads;
    adaround(sim, tools::training_batches(kAdaRoundSamples, args.batch), ada, nullptr);
  }
  return test_masks([&](const Tensor& images) { return sim.run_quantized({images}).at(0); }, args);
}

std::string seg_section(const Args& args, const std::vector<SegConfig>& configs,
                        const std::vector<double>& ious, const std::vector<double>& same,
                        double float_iou, double seconds, bool& pass) {
  std::ostringstream md;
  md << tools::kSegmentationSection.begin << "\n## Segmentation (mean IoU)\n\n"
     << "`models/seg_fmnist.onnx` (models/README.md): mean over the first " << seg_images(args)
     << " Fashion-MNIST test images\nof IoU(mask > 0.5, target), target = pixel byte > 25. "
        "Made by\n`build/tools/compare/qsim_accuracy_table --metric iou --out docs/ACCURACY.md` on "
     << today_utc() << " with qsim " << QSIM_VERSION_STRING << ", " << args.threads
     << " thread(s), in " << format("%.0f", seconds) << " s. Calibration: the first " << args.calib
     << " training images, activations TF-enhanced\n(asymmetric), weights MinMax symmetric; "
        "AdaRound: "
     << args.iterations << " iterations per layer on " << kAdaRoundSamples
     << " training images.\nPlacement and export rules, and ONNX Runtime's run of the exported QDQ "
        "model against the\nsimulation (`qsim_sim_vs_ort --metric iou`): "
        "[DENSE_PREDICTION.md](DENSE_PREDICTION.md)."
        "\n\n| configuration | mean IoU | against float | mask pixels equal to float's |\n"
        "|---|---|---|---|\n| float | "
     << format("%.4f", float_iou) << " | - | - |\n";
  pass = true;
  for (size_t i = 0; i < configs.size(); ++i) {
    md << "| " << configs[i].label << " | " << format("%.4f", ious[i]) << " | "
       << format("%+.4f", ious[i] - float_iou) << " | " << format("%.3f %%", 100 * same[i])
       << " |\n";
    const double loss = float_iou - ious[i];
    if (configs[i].label == "W8A8 per-channel") pass = pass && loss <= kAllowedIouLossW8A8;
    if (configs[i].activation_bitwidth == 16) pass = pass && loss <= kAllowedIouLossW8A16;
  }
  md << "\nW8A8 per channel must stay within " << kAllowedIouLossW8A8 << " IoU of float, W8A16 "
     << "within " << kAllowedIouLossW8A16 << ": " << (pass ? "both hold" : "NOT met") << ".\n"
     << tools::kSegmentationSection.end << "\n";
  return md.str();
}

// What a top-1 page appends to keep the section `markers` of `old_page` ("" if it has none).
std::string kept_section(const std::string& old_page, const tools::SectionMarkers& markers) {
  const std::string section = tools::section_of(old_page, markers);
  return section.empty() ? "" : "\n" + section;
}

int run_iou(const Args& args) {
  const auto start = std::chrono::steady_clock::now();
  const Model model = tools::load_reference_model("seg_fmnist");
  const int64_t images = seg_images(args);
  const std::vector<uint8_t> target = tools::fmnist_test_foreground(0, images);
  Engine engine(std::make_shared<const Model>(model), EngineOptions{args.threads});
  const std::vector<uint8_t> float_masks =
      test_masks([&](const Tensor& x) { return engine.run({x}).at(0); }, args);
  const double float_iou = tools::mean_iou(float_masks, target, images);
  std::fprintf(stderr, "seg_fmnist: float %.4f\n", float_iou);
  const std::vector<SegConfig> configs = seg_configs();
  std::vector<double> ious, same;
  for (const SegConfig& config : configs) {
    const std::vector<uint8_t> masks = quantized_masks(model, config, args);
    ious.push_back(tools::mean_iou(masks, target, images));
    same.push_back(tools::identical_share(masks, float_masks));
    std::fprintf(stderr, "seg_fmnist: %s: %.4f\n", config.label.c_str(), ious.back());
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  bool pass = false;
  const std::string section = seg_section(args, configs, ious, same, float_iou, seconds, pass);
  std::fputs(section.c_str(), stdout);
  if (!args.out.empty())
    write_file_atomically(args.out, tools::with_section(tools::read_page(args.out),
                                                        tools::kSegmentationSection, section));
  return pass ? 0 : 1;
}

int run(const Args& args) {
  if (args.metric == "iou") return run_iou(args);
  const auto start = std::chrono::steady_clock::now();
  const std::vector<QuantConfig> configs = table_configs();
  std::vector<ModelColumn> columns;
  for (const char* name : tools::kReferenceModels) columns.push_back(measure(name, configs, args));
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  bool all_within = false;
  const std::string markdown = page(args, configs, columns, seconds, all_within);
  std::fputs(markdown.c_str(), stdout);
  // The segmentation section comes from a --metric iou run and the transformer section from
  // qsim_transformer_table; a top-1 run keeps both.
  if (!args.out.empty()) {
    const std::string old_page = tools::read_page(args.out);
    write_file_atomically(args.out, markdown + kept_section(old_page, tools::kTransformerSection) +
                                        kept_section(old_page, tools::kSegmentationSection));
  }
  return all_within ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return tools::run_tool("qsim_accuracy_table", [&] { return run(parse_args(argc, argv)); });
}
