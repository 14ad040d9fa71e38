// qsim_export: every file is built in memory first, then all are written at once, so a
// failure at any step leaves the output folder as it was.
#include <filesystem>

#include "capi/guard.h"
#include "capi/options.h"
#include "capi/session.h"
#include "graph/onnx_export.h"
#include "io/encodings_fbs.h"
#include "io/encodings_json.h"
#include "io/output_files.h"
#include "quant/qdq_export.h"

using namespace qsim;
using qsim::capi::guard;
using qsim::capi::require_arg;

namespace {

qsim_export_options default_export_options() {
  qsim_export_options defaults{};
  defaults.struct_size = sizeof defaults;
  defaults.formats = QSIM_EXPORT_ALL;
  defaults.basename = "model";
  defaults.qdq_int8_activations = 0;
  return defaults;
}

qsim_export_options read_export_options(const qsim_export_options* options) {
  qsim_export_options resolved = capi::read_versioned(
      options, default_export_options(), "qsim_export_options", "QSIM_EXPORT_OPTIONS_INIT");
  require(resolved.formats != 0 && (resolved.formats & ~uint32_t{QSIM_EXPORT_ALL}) == 0,
          ErrorCode::kInvalidArgument,
          "qsim_export_options.formats is " + std::to_string(resolved.formats) +
              "; give one or more qsim_export_format bits");
  require(resolved.basename != nullptr, ErrorCode::kInvalidArgument,
          "qsim_export_options.basename is NULL");
  const std::string basename = resolved.basename;
  require(!basename.empty() && basename.find('/') == std::string::npos, ErrorCode::kInvalidArgument,
          "qsim_export_options.basename '" + basename +
              "' must be a non-empty file name stem without '/'");
  return resolved;
}

std::vector<OutputFile> build_files(const QuantSim& sim, const qsim_export_options& options,
                                    std::vector<std::string>& warnings) {
  const EncodingSet set = sim.encodings();
  const std::string base = options.basename;
  std::vector<OutputFile> files;
  if (options.formats & QSIM_EXPORT_ENCODINGS_FBS)
    files.push_back({base + ".encodings.fbs", encodings_fbs_bytes(set, qsim_version())});
  if (options.formats & QSIM_EXPORT_AIMET_JSON_0_6_1)
    files.push_back({base + ".encodings.json", encodings_json_text(set, AimetJsonVersion::k0_6_1)});
  if (options.formats & QSIM_EXPORT_AIMET_JSON_1_0_0)
    files.push_back(
        {base + ".encodings.v1.json", encodings_json_text(set, AimetJsonVersion::k1_0_0)});
  if (options.formats & QSIM_EXPORT_ONNX_ROUNDED)
    files.push_back({base + ".onnx",
                     serialize_onnx(sim.prepared_model(),
                                    {{kTechniquesMetadataKey, technique_names(set.techniques)}})});
  if (options.formats & QSIM_EXPORT_ONNX_QDQ) {
    QdqOptions qdq;
    qdq.activation_dtype =
        options.qdq_int8_activations ? ActivationDType::kInt8 : ActivationDType::kUInt8;
    QdqModel model = build_qdq_model(sim.float_model(), set, qdq);
    for (const std::string& w : model.report.warnings) warnings.push_back("export: " + w);
    files.push_back({base + ".qdq.onnx", serialize_onnx(model.model)});
  }
  return files;
}

// An export named like the model, into the model's folder, must not replace the model.
void check_not_the_model(const qsim_session& s, const std::string& out_dir,
                         const std::vector<OutputFile>& files) {
  namespace fs = std::filesystem;
  const std::string& model_path = s.model->source_path;
  if (model_path.empty()) return;
  for (const OutputFile& f : files) {
    std::error_code ec;
    require(!fs::equivalent(fs::path(out_dir) / f.name, model_path, ec),
            ErrorCode::kInvalidArgument,
            "qsim_export: '" + (fs::path(out_dir) / f.name).string() +
                "' is the session's model; choose another folder or basename");
  }
}

}  // namespace

extern "C" {

qsim_status qsim_export_options_init(qsim_export_options* options, uint32_t struct_size) {
  return guard([&] {
    require_arg(options, "qsim_export_options_init", "options");
    capi::write_versioned(options, struct_size, default_export_options(),
                          "qsim_export_options_init");
  });
}

qsim_status qsim_export(qsim_session* session, const char* out_dir,
                        const qsim_export_options* options) {
  return guard([&] {
    require_arg(session, "qsim_export", "session");
    require_arg(out_dir, "qsim_export", "out_dir");
    const qsim_export_options resolved = read_export_options(options);
    require(session->has_encodings && session->quantsim->ready(), ErrorCode::kState,
            "qsim_export: not every quantized tensor has an encoding yet; calibrate (or load "
            "encodings for every tensor) first");
    std::vector<std::string> warnings;
    std::vector<OutputFile> files = build_files(*session->quantsim, resolved, warnings);
    check_not_the_model(*session, out_dir, files);
    write_files_all_or_nothing(out_dir, files);
    session->export_notes = std::move(warnings);
  });
}

}  // extern "C"
