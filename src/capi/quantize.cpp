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

// Turns the caller's reader into QuantSim's: every batch is bound like qsim_run's inputs
// and must match the dtype the model declares, as the observers read it before the engine
// checks it.
BatchReader batch_reader(const qsim_session& s, qsim_data_reader_fn reader, void* reader_data,
                         std::vector<qsim_tensor>& slots) {
  return [&s, reader, reader_data, &slots, batch = int64_t{0}](std::vector<Tensor>& out) mutable {
    ++batch;
    std::fill(slots.begin(), slots.end(), qsim_tensor{});
    const int got = reader(reader_data, slots.data(), slots.size());
    if (got == 0) return false;
    require(got > 0, ErrorCode::kIo,
            "qsim_calibrate: the data reader returned " + std::to_string(got) + " for batch " +
                std::to_string(batch) + "; encodings unchanged");
    out = capi::bind_inputs(s, slots.data(), slots.size());
    const auto& declared = s.model->graph.inputs;
    for (size_t i = 0; i < out.size(); ++i)
      require(declared[i].dtype == DType::kUndefined || out[i].dtype() == declared[i].dtype,
              ErrorCode::kInvalidArgument,
              "qsim_calibrate: batch " + std::to_string(batch) + ": input '" + declared[i].name +
                  "' is " + dtype_name(out[i].dtype()) + ", the model takes " +
                  dtype_name(declared[i].dtype));
    return true;
  };
}

ProgressFn progress_fn(qsim_progress_fn progress, void* progress_data) {
  if (progress == nullptr) return nullptr;
  return [progress, progress_data](int64_t done, int64_t total, const std::string& message) {
    return progress(progress_data, done, total, message.c_str()) == 0;
  };
}

// FlatBuffers files carry their identifier at bytes 4 to 8; anything else is taken as JSON.
bool is_flatbuffers_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  require(static_cast<bool>(in), ErrorCode::kIo,
          "cannot open encodings file '" + path + "': " + std::strerror(errno));
  char head[8] = {};
  in.read(head, sizeof head);
  return in.gcount() == sizeof head && std::memcmp(head + 4, kEncodingsFileIdentifier, 4) == 0;
}

std::vector<std::string> notes_of(const qsim_session& s) {
  std::vector<std::string> notes = s.quantsim->notes();
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
  return guard([&] {
    require_arg(session, "qsim_calibrate", "session");
    require(reader != nullptr, ErrorCode::kInvalidArgument, "qsim_calibrate: reader is NULL");
    QuantSim& sim = session->quant();
    std::vector<qsim_tensor> slots(session->model->graph.inputs.size());
    sim.calibrate(batch_reader(*session, reader, reader_data, slots),
                  progress_fn(progress, progress_data));
    session->refresh_encodings();
  });
}

qsim_status qsim_load_encodings(qsim_session* session, const char* path) {
  return guard([&] {
    require_arg(session, "qsim_load_encodings", "session");
    require_arg(path, "qsim_load_encodings", "path");
    EncodingSet file =
        is_flatbuffers_file(path) ? read_encodings_fbs(path) : read_encodings_json(path);
    session->quant().load_encodings(file);
    session->refresh_encodings();
  });
}

qsim_status qsim_get_notes(qsim_session* session, char** out_text) {
  return guard([&] {
    require_arg(out_text, "qsim_get_notes", "out_text");
    *out_text = nullptr;
    require_arg(session, "qsim_get_notes", "session");
    session->quant();
    std::string text;
    for (const std::string& note : notes_of(*session)) text += note + "\n";
    *out_text = capi::copy_to_c(text);
  });
}

}  // extern "C"
