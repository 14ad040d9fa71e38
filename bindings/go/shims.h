/* Shims between Go and the qsim C API, included by the cgo preambles.
 *
 * Each shim makes one qsim call and, when it fails, copies the call's error message into a
 * malloc'ed string before returning: the message is read inside the same cgo call, on the
 * same OS thread, so a goroutine that moves to another thread before its next cgo call still
 * gets its own message. Session calls copy qsim_session_last_error(session); calls without a
 * session copy the thread-local qsim_last_error(). The Go side frees the copy. */
#ifndef QSIM_GO_SHIMS_H
#define QSIM_GO_SHIMS_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "qsim/qsim.h"

/* The Go callbacks (callbacks.go); user_data carries a runtime/cgo.Handle. */
extern int qsimGoRead(uintptr_t handle, qsim_tensor* inputs, size_t num_inputs);
extern int qsimGoProgress(uintptr_t handle, int64_t done, int64_t total, char* message);

static inline int qsimgo_read(void* handle, qsim_tensor* inputs, size_t num_inputs) {
  return qsimGoRead((uintptr_t)handle, inputs, num_inputs);
}

static inline int qsimgo_progress(void* handle, int64_t done, int64_t total, const char* message) {
  return qsimGoProgress((uintptr_t)handle, done, total, (char*)message);
}

/* NULL when out of memory: Go then reports the status without its message. */
static inline char* qsimgo_copy(const char* text) {
  size_t size = strlen(text) + 1;
  char* copy = malloc(size);
  if (copy != NULL) memcpy(copy, text, size);
  return copy;
}

static inline qsim_status qsimgo_thread_result(qsim_status status, char** error) {
  if (status != QSIM_OK) *error = qsimgo_copy(qsim_last_error());
  return status;
}

static inline qsim_status qsimgo_session_result(const qsim_session* session, qsim_status status,
                                                char** error) {
  if (status != QSIM_OK) *error = qsimgo_copy(qsim_session_last_error(session));
  return status;
}

/* ---- Calls without a session ---------------------------------------------------------- */

static inline qsim_status qsimgo_create(const char* path, const qsim_options* options,
                                        qsim_session** out, char** error) {
  return qsimgo_thread_result(qsim_create(path, options, out), error);
}

static inline qsim_status qsimgo_create_from_memory(const void* data, size_t size,
                                                    const qsim_options* options,
                                                    qsim_session** out, char** error) {
  return qsimgo_thread_result(qsim_create_from_memory(data, size, options, out), error);
}

static inline qsim_status qsimgo_kernel_path(const char** name, const char** report,
                                             char** error) {
  return qsimgo_thread_result(qsim_kernel_path(name, report), error);
}

static inline qsim_status qsimgo_calibration_method_from_name(const char* name,
                                                              qsim_calibration_method* out,
                                                              char** error) {
  return qsimgo_thread_result(qsim_calibration_method_from_name(name, out), error);
}

static inline qsim_status qsimgo_target_from_name(const char* name, qsim_target* out,
                                                  char** error) {
  return qsimgo_thread_result(qsim_target_from_name(name, out), error);
}

static inline qsim_status qsimgo_describe_model(const char* path, qsim_text_format format,
                                                char** out_text, char** error) {
  return qsimgo_thread_result(qsim_describe_model(path, format, out_text), error);
}

static inline qsim_status qsimgo_options_init(qsim_options* options, char** error) {
  return qsimgo_thread_result(qsim_options_init(options, sizeof *options), error);
}

static inline qsim_status qsimgo_adaround_options_init(qsim_adaround_options* options,
                                                       char** error) {
  return qsimgo_thread_result(qsim_adaround_options_init(options, sizeof *options), error);
}

static inline qsim_status qsimgo_smooth_quant_options_init(qsim_smooth_quant_options* options,
                                                           char** error) {
  return qsimgo_thread_result(qsim_smooth_quant_options_init(options, sizeof *options), error);
}

static inline qsim_status qsimgo_export_options_init(qsim_export_options* options,
                                                     char** error) {
  return qsimgo_thread_result(qsim_export_options_init(options, sizeof *options), error);
}

static inline qsim_status qsimgo_data_source_from_npy(const char* const* paths, size_t count,
                                                      int64_t batch_size,
                                                      qsim_data_source** out, char** error) {
  return qsimgo_thread_result(qsim_data_source_from_npy(paths, count, batch_size, out), error);
}

static inline qsim_status qsimgo_data_source_from_memory(const qsim_tensor* arrays,
                                                         size_t count, int64_t batch_size,
                                                         qsim_data_source** out, char** error) {
  return qsimgo_thread_result(qsim_data_source_from_memory(arrays, count, batch_size, out),
                              error);
}

static inline qsim_status qsimgo_data_source_samples(const qsim_data_source* source,
                                                     int64_t* out, char** error) {
  return qsimgo_thread_result(qsim_data_source_samples(source, out), error);
}

/* ---- Session calls -------------------------------------------------------------------- */

static inline qsim_status qsimgo_io_count(const qsim_session* s, qsim_io_kind kind, size_t* out,
                                          char** error) {
  return qsimgo_session_result(s, qsim_io_count(s, kind, out), error);
}

static inline qsim_status qsimgo_io_info(const qsim_session* s, qsim_io_kind kind, size_t index,
                                         qsim_tensor* out, char** error) {
  return qsimgo_session_result(s, qsim_io_info(s, kind, index, out), error);
}

static inline qsim_status qsimgo_infer_shapes(qsim_session* s, const qsim_tensor* inputs,
                                              size_t num_inputs, qsim_tensor* outputs,
                                              size_t num_outputs, char** error) {
  return qsimgo_session_result(
      s, qsim_infer_shapes(s, inputs, num_inputs, outputs, num_outputs), error);
}

static inline qsim_status qsimgo_run(qsim_session* s, qsim_run_mode mode,
                                     const qsim_tensor* inputs, size_t num_inputs,
                                     qsim_tensor* outputs, size_t num_outputs, char** error) {
  return qsimgo_session_result(s, qsim_run(s, mode, inputs, num_inputs, outputs, num_outputs),
                               error);
}

/* The reader of a quantization call: the library's own for a data source, else the Go
   reader behind `handle`. */
static inline qsim_data_reader_fn qsimgo_reader(const qsim_data_source* source) {
  return source != NULL ? qsim_data_source_read : qsimgo_read;
}

static inline void* qsimgo_reader_data(qsim_data_source* source, uintptr_t handle) {
  return source != NULL ? (void*)source : (void*)handle;
}

static inline qsim_progress_fn qsimgo_progress_fn(int32_t with_progress) {
  return with_progress ? qsimgo_progress : NULL;
}

static inline qsim_status qsimgo_calibrate(qsim_session* s, qsim_data_source* source,
                                           uintptr_t handle, int32_t with_progress, char** error) {
  return qsimgo_session_result(
      s,
      qsim_calibrate(s, qsimgo_reader(source), qsimgo_reader_data(source, handle),
                     qsimgo_progress_fn(with_progress), (void*)handle),
      error);
}

static inline qsim_status qsimgo_smooth_quant(qsim_session* s, qsim_data_source* source,
                                              uintptr_t handle,
                                              const qsim_smooth_quant_options* options,
                                              int32_t with_progress, char** error) {
  return qsimgo_session_result(
      s,
      qsim_smooth_quant(s, qsimgo_reader(source), qsimgo_reader_data(source, handle), options,
                        qsimgo_progress_fn(with_progress), (void*)handle),
      error);
}

static inline qsim_status qsimgo_adaround(qsim_session* s, qsim_data_source* source,
                                          uintptr_t handle, const qsim_adaround_options* options,
                                          int32_t with_progress, char** error) {
  return qsimgo_session_result(
      s,
      qsim_adaround(s, qsimgo_reader(source), qsimgo_reader_data(source, handle), options,
                    qsimgo_progress_fn(with_progress), (void*)handle),
      error);
}

static inline qsim_status qsimgo_load_encodings(qsim_session* s, const char* path,
                                                char** error) {
  return qsimgo_session_result(s, qsim_load_encodings(s, path), error);
}

static inline qsim_status qsimgo_encoding_count(const qsim_session* s, size_t* out,
                                                char** error) {
  return qsimgo_session_result(s, qsim_encoding_count(s, out), error);
}

static inline qsim_status qsimgo_get_encoding(const qsim_session* s, size_t index,
                                              qsim_encoding_info* out, char** error) {
  out->struct_size = sizeof *out;
  return qsimgo_session_result(s, qsim_get_encoding(s, index, out), error);
}

static inline qsim_status qsimgo_get_encoding_channels(const qsim_session* s, size_t index,
                                                       float* scales, int32_t* offsets,
                                                       size_t capacity, char** error) {
  return qsimgo_session_result(
      s, qsim_get_encoding_channels(s, index, scales, offsets, capacity), error);
}

static inline qsim_status qsimgo_get_notes(qsim_session* s, char** out_text, char** error) {
  return qsimgo_session_result(s, qsim_get_notes(s, out_text), error);
}

static inline qsim_status qsimgo_export(qsim_session* s, const char* out_dir,
                                        const qsim_export_options* options, char** error) {
  return qsimgo_session_result(s, qsim_export(s, out_dir, options), error);
}

static inline qsim_status qsimgo_exported_formats(qsim_session* s, uint32_t* out_formats,
                                                  char** error) {
  return qsimgo_session_result(s, qsim_exported_formats(s, out_formats), error);
}

#endif /* QSIM_GO_SHIMS_H */
