// Calibration, loading encodings, and the session's notes.
#include <cstring>
#include <fstream>

#include "capi/guard.h"
#include "capi/session.h"
#include "io/encodings_fbs.h"
#include "io/encodings_json.h"

using namespace qsim;
using qsim::capi::guard;
using qsim::capi::require_arg;

namespace {

// FlatBuffers files carry their identifier at bytes 4 to 8; anything else is taken as JSON.
bool is_flatbuffers_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(static_cast<bool>(in), ErrorCode::kIo,
          "cannot open encodings file '" + path + "': " + std::strerror(errno));
  char head[8] = {};
  in.read(head, sizeof head);
  return in.gcount() == sizeof head && std::memcmp(head + 4, kEncodingsFileIdentifier, 4) == 0;
}

// "techniques applied, in order: bn_fold (17 entries), cle (pairs 10, steps 12, ...)"; a
// technique with many options (one per folded BatchNormalization) shows their count, the
// encodings files hold them all.
std::string techniques_note(const std::vector<AppliedTechnique>& techniques) {
  constexpr size_t kMaxListed = 6;
  std::string note = "techniques applied, in order:";
  if (techniques.empty()) return note + " none";
  for (size_t i = 0; i < techniques.size(); ++i) {
    const AppliedTechnique& t = techniques[i];
    note += (i == 0 ? " " : ", ") + t.name;
    if (t.options.empty()) continue;
    if (t.options.size() > kMaxListed) {
      note += " (" + std::to_string(t.options.size()) + " entries)";
      continue;
    }
    std::string listed;
    for (const auto& [key, value] : t.options)
      listed += (listed.empty() ? "" : ", ") + key + " " + value;
    note += " (" + listed + ")";
  }
  return note;
}

std::vector<std::string> notes_of(const qsim_session& s) {
  std::vector<std::string> notes = {techniques_note(s.quantsim->applied_techniques())};
  const std::vector<std::string> session_notes = s.quantsim->notes();
  notes.insert(notes.end(), session_notes.begin(), session_notes.end());
  for (const auto& [tensor, count] : s.quantsim->calibration_report().nan_inf_counts)
    notes.push_back("calibration: tensor '" + tensor + "' held " + std::to_string(count) +
                    " NaN/Inf value(s), left out of its statistics");
  if (const int64_t dropped = s.quantsim->calibration_report().dropped_samples; dropped > 0)
    notes.push_back("calibration: " + std::to_string(dropped) +
                    " sample(s) with NaN/Inf in a model input were left out");
  notes.insert(notes.end(), s.export_notes.begin(), s.export_notes.end());
  return notes;
}

}  // namespace

extern "C" {

qsim_status qsim_calibrate(qsim_session* session, qsim_data_reader_fn reader, void* reader_data,
                           qsim_progress_fn progress, void* progress_data) {
  return capi::guard_session(session, "qsim_calibrate", capi::SessionAccess::kWrite, [&] {
    require(reader != nullptr, ErrorCode::kInvalidArgument, "qsim_calibrate: reader is NULL");
    session->quant().calibrate(capi::batch_reader(*session, reader, reader_data, "qsim_calibrate"),
                               capi::progress_fn(progress, progress_data));
    session->has_encodings = true;
  });
}

qsim_status qsim_load_encodings(qsim_session* session, const char* path) {
  return capi::guard_session(session, "qsim_load_encodings", capi::SessionAccess::kWrite, [&] {
    require_arg(path, "qsim_load_encodings", "path");
    EncodingSet file =
        is_flatbuffers_file(path) ? read_encodings_fbs(path) : read_encodings_json(path);
    session->quant().load_encodings(file, path);
    session->has_encodings = true;
  });
}

qsim_status qsim_get_notes(qsim_session* session, char** out_text) {
  if (out_text != nullptr) *out_text = nullptr;
  return capi::guard_session(session, "qsim_get_notes", capi::SessionAccess::kWrite, [&] {
    require_arg(out_text, "qsim_get_notes", "out_text");
    session->quant();
    std::string text;
    for (const std::string& note : notes_of(*session)) text += note + "\n";
    *out_text = capi::copy_to_c(text);
  });
}

}  // extern "C"
