// The Vision Transformer rows of docs/ACCURACY.md (issue #24): top-1 of the Fashion-MNIST ViT
// (models/vit_fmnist_opset13.onnx, LayerNorm decomposed; models/vit_fmnist_opset17.onnx,
// LayerNormalization ops) on all 10000 test images: float, W8A8 and W8A16 per channel, W4A8
// per channel rounded to nearest, by AdaRound and by AdaQuant, under QuantSim::run_quantized.
//
//   qsim_transformer_table [--out FILE.md] [--calib N] [--iterations N] [--samples N]
//                          [--threads T]
//
// The flow is that of accuracy_table.cpp and adaround_table.cpp: TF-enhanced activation and
// MinMax weight encodings from the first N (1000) training images, qsim's built-in placement
// (docs/TRANSFORMERS.md), AdaRound on the first `samples` training images with the encodings
// frozen. Prints the Markdown section; with --out, replaces the section between the markers
// of tools::kTransformerSection in FILE.md (appending it when they are absent). Exit status 0
// when, on both models, W8A8 is within 1 point of float and W8A16 within 0.2; 1 when not; 2 on
// error.
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "fmnist_data.h"
#include "io/atomic_file.h"
#include "marked_section.h"
#include "quant/quantsim.h"
#include "runtime/engine.h"
#include "techniques/adaround.h"
#include "tool_args.h"

using namespace qsim;

namespace {

constexpr const char* kModels[] = {"vit_fmnist_opset13", "vit_fmnist_opset17"};
constexpr int64_t kBatch = 100;
constexpr double kW8A8Loss = 1.0;   // points of top-1 against float
constexpr double kW8A16Loss = 0.2;  // likewise

struct Args {
  std::string out;
  int64_t calib = 1000;
  int64_t iterations = 2000;
  int64_t samples = 1024;
  int threads = 1;
};

Args parse_args(int argc, char** argv) {
  Args a;
  tools::parse_options(argc, argv,
                       {{"--out", &a.out},
                        {"--calib", &a.calib},
                        {"--iterations", &a.iterations},
                        {"--samples", &a.samples},
                        {"--threads", &a.threads}},
                       "qsim_transformer_table [--out FILE.md] [--calib N] [--iterations N] "
                       "[--samples N] [--threads T]");
  return a;
}

struct Row {
  const char* label;
  int weight_bits;
  int act_bits;
  std::optional<AdaRoundMode> rounding;  // unset: nearest
};

const Row kRows[] = {{"W8A8 per-channel", 8, 8, std::nullopt},
                     {"W8A16 per-channel", 8, 16, std::nullopt},
                     {"W4A8 per-channel, nearest", 4, 8, std::nullopt},
                     {"W4A8 per-channel, AdaRound", 4, 8, AdaRoundMode::kAdaRound},
                     {"W4A8 per-channel, AdaQuant", 4, 8, AdaRoundMode::kAdaQuant}};

double quantized_top1(const Model& model, const Row& row, const Args& args, double& seconds) {
  QuantSimOptions options;
  options.weight_bitwidth = row.weight_bits;
  options.activation_bitwidth = row.act_bits;
  options.per_channel = true;
  options.num_threads = args.threads;
  QuantSim sim(model, options);
  tools::calibrate_on_training_images(sim, args.calib, kBatch);
  seconds = 0;
  if (row.rounding) {
    AdaRoundOptions ada;
    ada.mode = *row.rounding;
    ada.iterations = args.iterations;
    ada.samples = args.samples;
    ada.num_threads = args.threads;
    const auto start = std::chrono::steady_clock::now();
    adaround(sim, tools::training_batches(args.samples, kBatch), ada, nullptr);
    seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  return tools::fmnist_test_top1(
      [&](const Tensor& images) { return sim.run_quantized({images}).at(0); }, kBatch);
}

std::string cell(double value, double reference) {
  char text[48];
  std::snprintf(text, sizeof text, "%.2f (%+.2f)", value, value - reference);
  return text;
}

int run(const Args& args) {
  const auto start = std::chrono::steady_clock::now();
  std::map<std::string, double> float_top1;
  std::map<std::string, std::vector<double>> top1, seconds;
  bool pass = true;
  for (const char* name : kModels) {
    const Model model = tools::load_reference_model(name);
    Engine engine(std::make_shared<const Model>(model), EngineOptions{args.threads});
    float_top1[name] = tools::fmnist_test_top1(
        [&](const Tensor& images) { return engine.run({images}).at(0); }, kBatch);
    std::fprintf(stderr, "%s: float %.2f\n", name, float_top1[name]);
    for (const Row& row : kRows) {
      double s = 0;
      top1[name].push_back(quantized_top1(model, row, args, s));
      seconds[name].push_back(s);
      std::fprintf(stderr, "%s: %s %.2f (%.0f s)\n", name, row.label, top1[name].back(), s);
    }
    pass = pass && float_top1[name] - top1[name][0] <= kW8A8Loss + 1e-9 &&
           float_top1[name] - top1[name][1] <= kW8A16Loss + 1e-9;
  }
  const double total =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::ostringstream md;
  md << tools::kTransformerSection.begin << "\n## Vision Transformer (issue #24)\n\n"
     << "Top-1 (%) of the Fashion-MNIST ViT on all " << tools::fmnist_test_count()
     << " test images; in brackets, points against float. Made by\n"
        "`build/tools/compare/qsim_transformer_table --out docs/ACCURACY.md` (source\n"
        "`tools/compare/transformer_table.cpp`), "
     << args.threads << " thread(s), in " << static_cast<long long>(total)
     << " s. Placement: qsim's built-in config\n(docs/TRANSFORMERS.md: one quantizer per "
        "LayerNorm and GELU, Softmax on QNN's fixed 1/256 grid,\nboth MatMul inputs of the "
        "attention quantized, Transpose and Reshape sharing their input's grid); weights per\n"
        "channel, MinMax; activations "
        "TF-enhanced from the first "
     << args.calib << " training images; AdaRound " << args.iterations
     << " iterations (AdaQuant its default) on " << args.samples << " training images.\n\n"
     << "| configuration |";
  for (const char* name : kModels) md << " " << name << " |";
  md << "\n|---|---|---|\n| float |";
  for (const char* name : kModels) md << " " << cell(float_top1[name], float_top1[name]) << " |";
  md << "\n";
  for (size_t r = 0; r < std::size(kRows); ++r) {
    md << "| " << kRows[r].label << " |";
    for (const char* name : kModels) md << " " << cell(top1[name][r], float_top1[name]) << " |";
    md << "\n";
  }
  md << "\nAdaRound / AdaQuant wall seconds:";
  for (const char* name : kModels) {
    char text[96];
    std::snprintf(text, sizeof text, " %s %.0f / %.0f;", name, seconds[name][3], seconds[name][4]);
    md << text;
  }
  md << "\nW8A8 within " << kW8A8Loss << " point and W8A16 within " << kW8A16Loss
     << " of float on both: " << (pass ? "yes" : "NO") << "\n"
     << tools::kTransformerSection.end << "\n";
  std::fputs(md.str().c_str(), stdout);
  if (!args.out.empty())
    write_file_atomically(args.out, tools::with_section(tools::read_page(args.out),
                                                        tools::kTransformerSection, md.str()));
  return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return tools::run_tool("qsim_transformer_table", [&] { return run(parse_args(argc, argv)); });
}
