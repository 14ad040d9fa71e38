// The AdaRound accuracy table of docs/ADAROUND.md (issue #4): top-1 of both reference models
// on all 10000 Fashion-MNIST test images with per-channel weights at 4 and 3 bits, rounded to
// nearest, by AdaRound and by AdaQuant, with float activations (A32: the model with its
// weights on their grids) and with 8-bit activations (A8: QuantSim::run_quantized).
//
//   qsim_adaround_table [--out FILE.md] [--iterations N] [--samples N] [--threads T]
//
// The flow is `qsim quantize --per-channel --weight-bits B [--adaround|--adaquant]`: TF-enhanced
// activation encodings and MinMax weight encodings from the first 1000 training images, then
// AdaRound (or AdaQuant) on the first `samples` training images with the encodings frozen.
// Prints the table (and writes it to FILE.md); exit status 0 when AdaRound W4A8 is within 1.5
// points of float and above nearest rounding on both models, 1 when not, 2 on error.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "fmnist_data.h"
#include "io/atomic_file.h"
#include "quant/quantsim.h"
#include "runtime/engine.h"
#include "techniques/adaround.h"
#include "techniques/model_transforms.h"
#include "tool_args.h"

using namespace qsim;

namespace {

const int kWeightBits[] = {4, 3};
const char* const kRoundings[] = {"nearest", "AdaRound", "AdaQuant"};
constexpr int64_t kCalibImages = 1000;
constexpr int64_t kBatch = 100;
constexpr double kAllowedLoss = 1.5;  // points of top-1, AdaRound W4A8 vs float

struct Args {
  std::string out;
  int64_t iterations = 10000;
  int64_t samples = 1024;
  int threads = 1;
};

Args parse_args(int argc, char** argv) {
  Args a;
  tools::parse_options(
      argc, argv,
      {{"--out", &a.out},
       {"--iterations", &a.iterations},
       {"--samples", &a.samples},
       {"--threads", &a.threads}},
      "qsim_adaround_table [--out FILE.md] [--iterations N] [--samples N] [--threads T]");
  return a;
}

struct Result {
  double a32 = 0.0, a8 = 0.0, seconds = 0.0;
};

Result measure(const Model& model, int weight_bits, const std::string& rounding, const Args& args) {
  QuantSimOptions options;
  options.transforms = {fold_batch_norm_transform};
  options.weight_bitwidth = weight_bits;
  options.activation_bitwidth = 8;
  options.per_channel = true;
  options.num_threads = args.threads;
  QuantSim sim(model, options);
  tools::calibrate_on_training_images(sim, kCalibImages, kBatch);
  Result r;
  if (rounding != "nearest") {
    AdaRoundOptions ada;
    ada.mode = rounding == "AdaRound" ? AdaRoundMode::kAdaRound : AdaRoundMode::kAdaQuant;
    ada.iterations = args.iterations;
    ada.samples = args.samples;
    ada.num_threads = args.threads;
    const auto start = std::chrono::steady_clock::now();
    adaround(sim, tools::training_batches(args.samples, kBatch), ada, nullptr);
    r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  }
  Engine weights_only(std::make_shared<const Model>(sim.prepared_model()),
                      EngineOptions{args.threads});
  r.a32 = tools::fmnist_test_top1(
      [&](const Tensor& images) { return weights_only.run({images}).at(0); }, kBatch);
  r.a8 = tools::fmnist_test_top1(
      [&](const Tensor& images) { return sim.run_quantized({images}).at(0); }, kBatch);
  return r;
}

std::string points(double value, double reference) {
  char text[48];
  std::snprintf(text, sizeof text, "%.2f (%+.2f)", value, value - reference);
  return text;
}

int run(const Args& args) {
  std::map<std::string, double> float_top1;
  std::map<std::string, Result> results;  // by "model W<b> rounding"
  for (const char* name : tools::kReferenceModels) {
    const Model model = tools::load_reference_model(name);
    Engine engine(std::make_shared<const Model>(model), EngineOptions{args.threads});
    float_top1[name] = tools::fmnist_test_top1(
        [&](const Tensor& images) { return engine.run({images}).at(0); }, kBatch);
    for (int bits : kWeightBits)
      for (const char* rounding : kRoundings) {
        const std::string key = std::string(name) + " W" + std::to_string(bits) + " " + rounding;
        results[key] = measure(model, bits, rounding, args);
        std::fprintf(stderr, "%s: A32 %.2f, A8 %.2f, %.1f s\n", key.c_str(), results[key].a32,
                     results[key].a8, results[key].seconds);
      }
  }
  std::ostringstream md;
  md << "| weights, activations | rounding | resnet_fmnist | mobilenet_fmnist |\n"
     << "|---|---|---|---|\n"
     << "| float | - | " << points(float_top1["resnet_fmnist"], float_top1["resnet_fmnist"])
     << " | " << points(float_top1["mobilenet_fmnist"], float_top1["mobilenet_fmnist"]) << " |\n";
  bool pass = true;
  for (const char* activations : {"A32", "A8"})
    for (int bits : kWeightBits)
      for (const char* rounding : kRoundings) {
        md << "| W" << bits << activations << " per-channel | " << rounding;
        for (const char* name : tools::kReferenceModels) {
          const std::string key = std::string(name) + " W" + std::to_string(bits) + " ";
          const Result& r = results[key + rounding];
          const double top1 = std::string(activations) == "A8" ? r.a8 : r.a32;
          md << " | " << points(top1, float_top1[name]);
          if (bits == 4 && std::string(activations) == "A8" && std::string(rounding) == "AdaRound")
            pass = pass && top1 >= float_top1[name] - kAllowedLoss &&
                   top1 > results[key + "nearest"].a8;
        }
        md << " |\n";
      }
  md << "\nAdaRound / AdaQuant wall seconds (" << args.threads << " thread(s), " << args.iterations
     << " AdaRound iterations, " << args.samples << " samples):";
  for (const char* name : tools::kReferenceModels)
    for (int bits : kWeightBits)
      for (const char* rounding : {"AdaRound", "AdaQuant"}) {
        const std::string key = std::string(name) + " W" + std::to_string(bits) + " " + rounding;
        char text[96];
        std::snprintf(text, sizeof text, " %s %.1f;", key.c_str(), results[key].seconds);
        md << text;
      }
  md << "\n\nAdaRound W4A8 within " << kAllowedLoss << " points of float and above nearest on "
     << "both models: " << (pass ? "yes" : "NO") << "\n";
  std::fputs(md.str().c_str(), stdout);
  if (!args.out.empty()) write_file_atomically(args.out, md.str());
  return pass ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  return tools::run_tool("qsim_adaround_table", [&] { return run(parse_args(argc, argv)); });
}
