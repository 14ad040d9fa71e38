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
  defaults.qdq_wide_form = QSIM_QDQ_WIDE_MICROSOFT;
  return defaults;
}

qsim_export_options read_export_options(const qsim_export_options* options) {
  qsim_export_options resolved = capi::read_versioned(
      options, default_export_options(), "qsim_export_options", "qsim_export_options_init(&o, sizeof o)");
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
  require(resolved.qdq_wide_form == QSIM_QDQ_WIDE_MICROSOFT ||
              resolved.qdq_wide_form == QSIM_QDQ_WIDE_OPSET21,
          ErrorCode::kInvalidArgument,
          "qsim_export_options.qdq_wide_form is " + std::to_string(resolved.qdq_wide_form) +
              "; give QSIM_QDQ_WIDE_MICROSOFT or QSIM_QDQ_WIDE_OPSET21");
  return resolved;
}

// What every export format is built from.
struct ExportSource {
  const QuantSim& sim;
  const EncodingSet& set;  // sim.encodings(), made once for all formats
  const qsim_export_options& options;
  std::vector<std::string>& warnings;  // what a format could not write as asked
};

// One export format: its qsim_export_format bit, the file name's ending after the basename,
// and the file's bytes. Adding a format is a bit in qsim.h and a row in kFormats.
struct ExportFormat {
  uint32_t flag;
  const char* suffix;
  std::string (*bytes)(const ExportSource&);
};

std::string qdq_bytes(const ExportSource& s) {
  QdqOptions qdq;
  qdq.activation_sign =
      s.options.qdq_int8_activations ? ActivationSign::kSigned : ActivationSign::kUnsigned;
  qdq.wide_form = s.options.qdq_wide_form == QSIM_QDQ_WIDE_OPSET21 ? WideQdqForm::kOpset21
                                                                   : WideQdqForm::kMicrosoftDomain;
  QdqModel model = build_qdq_model(s.sim.float_model(), s.set, qdq);
  for (const std::string& w : model.report.warnings) s.warnings.push_back("export: " + w);
  return serialize_onnx(model.model);
}

constexpr ExportFormat kFormats[] = {
    {QSIM_EXPORT_ENCODINGS_FBS, ".encodings.fbs",
     [](const ExportSource& s) { return encodings_fbs_bytes(s.set, qsim_version()); }},
    {QSIM_EXPORT_AIMET_JSON_0_6_1, ".encodings.json",
     [](const ExportSource& s) { return encodings_json_text(s.set, AimetJsonVersion::k0_6_1); }},
    {QSIM_EXPORT_AIMET_JSON_1_0_0, ".encodings.v1.json",
     [](const ExportSource& s) { return encodings_json_text(s.set, AimetJsonVersion::k1_0_0); }},
    {QSIM_EXPORT_ONNX_ROUNDED, ".onnx",
     [](const ExportSource& s) {
       return serialize_onnx(s.sim.prepared_model(),
                             {{kTechniquesMetadataKey, technique_names(s.set.techniques)}});
     }},
    {QSIM_EXPORT_ONNX_QDQ, ".qdq.onnx", qdq_bytes},
};

constexpr uint32_t all_format_flags() {
  uint32_t flags = 0;
  for (const ExportFormat& format : kFormats) flags |= format.flag;
  return flags;
}
static_assert(all_format_flags() == QSIM_EXPORT_ALL, "kFormats and qsim_export_format differ");

std::vector<OutputFile> build_files(const QuantSim& sim, const qsim_export_options& options,
                                    std::vector<std::string>& warnings) {
  const EncodingSet set = sim.encodings();
  const ExportSource source{sim, set, options, warnings};
  std::vector<OutputFile> files;
  for (const ExportFormat& format : kFormats)
    if (options.formats & format.flag)
      files.push_back({options.basename + std::string(format.suffix), format.bytes(source)});
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
  return capi::guard_session(session, "qsim_export", capi::SessionAccess::kWrite, [&] {
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
