// qsim_export: every file is built in memory first, each format on its own (one that cannot
// be built is skipped and named; it never keeps the others out), then all that were built are
// written at once, so a failure to write leaves the output folder as it was.
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
  qsim_export_options resolved =
      capi::read_versioned(options, default_export_options(), "qsim_export_options",
                           "qsim_export_options_init(&o, sizeof o)");
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
// what it is (for messages), and the file's bytes. Adding a format is a bit in qsim.h and a
// row in kFormats.
struct ExportFormat {
  uint32_t flag;
  const char* suffix;
  const char* what;
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
    {QSIM_EXPORT_ENCODINGS_FBS, ".encodings.fbs", "FlatBuffers encodings",
     [](const ExportSource& s) { return encodings_fbs_bytes(s.set, qsim_version()); }},
    {QSIM_EXPORT_AIMET_JSON_0_6_1, ".encodings.json", "AIMET 0.6.1 JSON encodings",
     [](const ExportSource& s) { return encodings_json_text(s.set, AimetJsonVersion::k0_6_1); }},
    {QSIM_EXPORT_AIMET_JSON_1_0_0, ".encodings.v1.json", "AIMET 1.0.0 JSON encodings",
     [](const ExportSource& s) { return encodings_json_text(s.set, AimetJsonVersion::k1_0_0); }},
    {QSIM_EXPORT_ONNX_ROUNDED, ".onnx", "ONNX model with rounded weights",
     [](const ExportSource& s) {
       return serialize_onnx(s.sim.prepared_model(),
                             {{kTechniquesMetadataKey, technique_names(s.set.techniques)}});
     }},
    {QSIM_EXPORT_ONNX_QDQ, ".qdq.onnx", "ONNX QDQ model", qdq_bytes},
};

constexpr uint32_t all_format_flags() {
  uint32_t flags = 0;
  for (const ExportFormat& format : kFormats) flags |= format.flag;
  return flags;
}
static_assert(all_format_flags() == QSIM_EXPORT_ALL, "kFormats and qsim_export_format differ");

// A format that could not be built: why, and the error its building threw.
struct SkippedFormat {
  std::string file;
  std::string what;
  ErrorCode code;
  std::string reason;
};

// What the formats asked for gave: the files built, and those skipped.
struct BuiltFiles {
  std::vector<OutputFile> files;
  uint32_t flags = 0;  // of the files built
  std::vector<SkippedFormat> skipped;
};

// Builds each chosen format on its own. A format whose building fails is skipped, with its
// reason; running out of memory is not a property of one format and fails the whole call
// (as a cancellation would), so nothing is written then.
BuiltFiles build_files(const QuantSim& sim, const qsim_export_options& options,
                       std::vector<std::string>& warnings) {
  const EncodingSet set = sim.encodings();
  const ExportSource source{sim, set, options, warnings};
  BuiltFiles built;
  for (const ExportFormat& format : kFormats) {
    if (!(options.formats & format.flag)) continue;
    const std::string file = options.basename + std::string(format.suffix);
    try {
      built.files.push_back({file, format.bytes(source)});
      built.flags |= format.flag;
    } catch (const Error& e) {
      if (e.code() == ErrorCode::kOutOfMemory || e.code() == ErrorCode::kCancelled) throw;
      built.skipped.push_back({file, format.what, e.code(), e.what()});
    }
  }
  return built;
}

// "model.qdq.onnx (ONNX QDQ model): <reason>" for each skipped format, joined by "; ".
std::string skipped_list(const std::vector<SkippedFormat>& skipped) {
  std::string text;
  for (const SkippedFormat& s : skipped)
    text += (text.empty() ? "" : "; ") + s.file + " (" + s.what + "): " + s.reason;
  return text;
}

std::string file_list(const std::vector<OutputFile>& files) {
  std::string text;
  for (const OutputFile& f : files) text += (text.empty() ? "" : ", ") + f.name;
  return text;
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
    session->exported_formats = 0;
    std::vector<std::string> warnings;
    BuiltFiles built = build_files(*session->quantsim, resolved, warnings);
    if (built.files.empty()) {
      const SkippedFormat& first = built.skipped.front();
      fail(first.code, "qsim_export: nothing was written; skipped " + skipped_list(built.skipped));
    }
    check_not_the_model(*session, out_dir, built.files);
    write_files_all_or_nothing(out_dir, built.files);
    session->exported_formats = built.flags;
    for (const SkippedFormat& s : built.skipped)
      warnings.push_back("export: skipped " + s.file + " (" + s.what + "): " + s.reason);
    session->export_notes = std::move(warnings);
    if (!built.skipped.empty())
      fail(ErrorCode::kIncomplete, "qsim_export: wrote " + file_list(built.files) + " into '" +
                                       out_dir + "'; skipped " + skipped_list(built.skipped));
  });
}

qsim_status qsim_exported_formats(qsim_session* session, uint32_t* out_formats) {
  if (out_formats != nullptr) *out_formats = 0;
  return capi::guard_session(session, "qsim_exported_formats", capi::SessionAccess::kRead, [&] {
    require_arg(out_formats, "qsim_exported_formats", "out_formats");
    *out_formats = session->exported_formats;
  });
}

}  // extern "C"
