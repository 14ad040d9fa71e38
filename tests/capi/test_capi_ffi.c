/* What callers through FFI (Python, Rust, Go) rely on: per-session error messages, the
   integer version, the library's data sources, callback status codes, re-entrancy, the
   thread callbacks run on, the encoding name lifetime, and OpenBLAS's thread count. */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "capi_tests.h"

#define RESNET "resnet_fmnist.onnx"

/* OpenBLAS's process-wide thread count, which qsim must leave as it found it. */
int openblas_get_num_threads(void);
void openblas_set_num_threads(int num_threads);

static void test_version_number(void** state) {
  (void)state;
  assert_int_equal(qsim_version_number(), QSIM_VERSION_NUMBER);
  char text[32];
  snprintf(text, sizeof text, "%d.%d.%d", QSIM_VERSION_MAJOR, QSIM_VERSION_MINOR,
           QSIM_VERSION_PATCH);
  assert_string_equal(qsim_version(), text);
  assert_string_equal(qsim_status_name(QSIM_ERR_CALLBACK), "QSIM_ERR_CALLBACK");
}

/* Each session keeps its own last message, whichever thread reads it. */
typedef struct failing_call {
  qsim_session* session;
  const char* path;
  qsim_status status;
} failing_call;

static void* load_missing(void* user) {
  failing_call* call = user;
  call->status = qsim_load_encodings(call->session, call->path);
  return NULL;
}

static void test_session_last_error(void** state) {
  (void)state;
  qsim_session* a = open_model(RESNET, NULL);
  qsim_session* b = open_model(RESNET, NULL);
  assert_string_equal(qsim_session_last_error(a), "");
  assert_string_equal(qsim_session_last_error(NULL), "");
  failing_call calls[2] = {{a, "/nonexistent/for-a.json", QSIM_OK},
                           {b, "/nonexistent/for-b.json", QSIM_OK}};
  pthread_t threads[2];
  for (int i = 0; i < 2; ++i)
    assert_int_equal(pthread_create(&threads[i], NULL, load_missing, &calls[i]), 0);
  for (int i = 0; i < 2; ++i) pthread_join(threads[i], NULL);
  /* Read on this thread, which made neither call. */
  assert_int_equal(calls[0].status, QSIM_ERR_IO);
  assert_int_equal(calls[1].status, QSIM_ERR_IO);
  assert_non_null(strstr(qsim_session_last_error(a), "for-a.json"));
  assert_non_null(strstr(qsim_session_last_error(b), "for-b.json"));
  assert_string_equal(qsim_last_error(), "");
  /* A success clears the session's message. */
  size_t count = 0;
  assert_int_equal(qsim_io_count(a, QSIM_INPUT, &count), QSIM_OK);
  assert_string_equal(qsim_session_last_error(a), "");
  assert_non_null(strstr(qsim_session_last_error(b), "for-b.json"));
  qsim_destroy(a);
  qsim_destroy(b);
}

/* A little-endian float32 .npy of `count` training images [count,1,28,28]. */
static void write_calib_npy(const char* path, size_t count) {
  char header[128];
  int length =
      snprintf(header, sizeof header,
               "{'descr': '<f4', 'fortran_order': False, 'shape': (%zu, 1, 28, 28), }", count);
  while ((length + 10 + 1) % 64 != 0) header[length++] = ' ';
  header[length++] = '\n';
  FILE* f = fopen(path, "wb");
  assert_non_null(f);
  unsigned char preamble[10] = {0x93,
                                'N',
                                'U',
                                'M',
                                'P',
                                'Y',
                                1,
                                0,
                                (unsigned char)(length & 0xff),
                                (unsigned char)(length >> 8)};
  assert_int_equal(fwrite(preamble, 1, 10, f), 10);
  assert_int_equal(fwrite(header, 1, (size_t)length, f), (size_t)length);
  assert_int_equal(fwrite(calib_images(), sizeof(float) * FMNIST_PIXELS, count, f), count);
  fclose(f);
}

static size_t all_scales(const qsim_session* session, float* scales, size_t capacity) {
  size_t count = 0, written = 0;
  assert_int_equal(qsim_encoding_count(session, &count), QSIM_OK);
  for (size_t i = 0; i < count; ++i) {
    qsim_encoding_info info = encoding_info(session, i);
    if (!info.quantized) continue;
    assert_true(written + info.num_channels <= capacity);
    int32_t offsets[512];
    assert_int_equal(qsim_get_encoding_channels(session, i, scales + written, offsets, 512),
                     QSIM_OK);
    written += info.num_channels;
  }
  return written;
}

/* .npy files and copied memory give what the caller's own reader gives; every call starts a
   source from its first sample, so one source serves calibration and AdaRound. */
static void test_data_sources(void** state) {
  (void)state;
  enum { kCapacity = 4096 };
  char* dir = make_temp_dir();
  const char* npy = join_path(dir, "calib.npy");
  write_calib_npy(npy, CALIB_IMAGES);
  char npy_path[1024];
  snprintf(npy_path, sizeof npy_path, "%s", npy);

  qsim_session* reference = open_model(RESNET, NULL);
  calibrate_default(reference);
  static float expected[kCapacity], got[kCapacity];
  const size_t count = all_scales(reference, expected, kCapacity);
  qsim_destroy(reference);

  qsim_data_source* from_file = NULL;
  const char* paths[] = {npy_path};
  assert_int_equal(qsim_data_source_from_npy(paths, 1, CALIB_BATCH, &from_file), QSIM_OK);
  int64_t samples = 0;
  assert_int_equal(qsim_data_source_samples(from_file, &samples), QSIM_OK);
  assert_int_equal(samples, CALIB_IMAGES);

  qsim_tensor array = {0};
  array.dtype = QSIM_DTYPE_FLOAT32;
  array.rank = 4;
  int64_t shape[4] = {CALIB_IMAGES, 1, 28, 28};
  memcpy(array.shape, shape, sizeof shape);
  size_t bytes = sizeof(float) * FMNIST_PIXELS * CALIB_IMAGES;
  float* copy = malloc(bytes);
  memcpy(copy, calib_images(), bytes);
  array.data = copy;
  array.size_bytes = bytes;
  qsim_data_source* from_memory = NULL;
  assert_int_equal(qsim_data_source_from_memory(&array, 1, CALIB_BATCH, &from_memory), QSIM_OK);
  memset(copy, 0, bytes); /* the source holds its own copy */
  free(copy);

  qsim_data_source* sources[] = {from_file, from_memory};
  for (int s = 0; s < 2; ++s) {
    qsim_session* session = open_model(RESNET, NULL);
    assert_int_equal(qsim_calibrate(session, qsim_data_source_read, sources[s], NULL, NULL),
                     QSIM_OK);
    assert_int_equal(all_scales(session, got, kCapacity), count);
    assert_memory_equal(got, expected, count * sizeof(float));
    /* The same source again, already drained by the calibration. */
    qsim_adaround_options ada;
    qsim_adaround_options_init(&ada, sizeof ada);
    ada.mode = QSIM_BIAS_CORRECTION;
    ada.num_samples = 64;
    assert_int_equal(qsim_adaround(session, qsim_data_source_read, sources[s], &ada, NULL, NULL),
                     QSIM_OK);
    qsim_destroy(session);
  }

  /* Bad input names what is at fault. */
  qsim_data_source* bad = NULL;
  const char* missing[] = {"/nonexistent/samples.npy"};
  assert_int_equal(qsim_data_source_from_npy(missing, 1, 8, &bad), QSIM_ERR_IO);
  assert_error_mentions("/nonexistent/samples.npy");
  assert_null(bad);
  assert_int_equal(qsim_data_source_from_npy(paths, 1, 0, &bad), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("batch_size");
  const char* truncated_path = join_path(dir, "truncated.npy");
  FILE* f = fopen(truncated_path, "wb");
  fwrite("\x93NUMPY\x01\x00", 1, 8, f);
  fclose(f);
  const char* truncated[] = {truncated_path};
  assert_int_equal(qsim_data_source_from_npy(truncated, 1, 8, &bad), QSIM_ERR_PARSE);
  assert_error_mentions("truncated.npy");
  /* A source of two inputs for a model of one. */
  const char* two[] = {npy_path, npy_path};
  assert_int_equal(qsim_data_source_from_npy(two, 2, 8, &bad), QSIM_OK);
  qsim_session* session = open_model(RESNET, NULL);
  assert_int_equal(qsim_calibrate(session, qsim_data_source_read, bad, NULL, NULL),
                   QSIM_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(qsim_session_last_error(session), "data source"));
  qsim_destroy(session);
  qsim_data_source_destroy(bad);
  qsim_data_source_destroy(from_file);
  qsim_data_source_destroy(from_memory);
  qsim_data_source_destroy(NULL);
  remove_temp_dir(dir);
}

/* A negative answer from a callback is the callback's failure, not a cancellation. */
static int failing_progress(void* user, int64_t done, int64_t total, const char* message) {
  (void)user, (void)done, (void)total, (void)message;
  return -1;
}

static void test_callback_failures(void** state) {
  (void)state;
  qsim_session* session = open_model(RESNET, NULL);
  batch_source source = make_source(calib_images(), CALIB_IMAGES, CALIB_BATCH);
  assert_int_equal(qsim_calibrate(session, read_source, &source, failing_progress, NULL),
                   QSIM_ERR_CALLBACK);
  assert_non_null(strstr(qsim_session_last_error(session), "progress callback returned -1"));
  source = make_source(calib_images(), CALIB_IMAGES, CALIB_BATCH);
  source.fault = SOURCE_ERROR;
  source.fault_batch = 1;
  assert_int_equal(qsim_calibrate(session, read_source, &source, NULL, NULL), QSIM_ERR_CALLBACK);
  size_t count = 1;
  assert_int_equal(qsim_encoding_count(session, &count), QSIM_OK);
  assert_int_equal(count, 0);
  qsim_destroy(session);
}

/* Callbacks run on the calling thread; calling back into the running session is refused
   without harming the call; other sessions and session-less calls work. */
typedef struct reentrant_probe {
  qsim_session* session;
  qsim_session* other;
  pthread_t caller;
  int calls, on_caller_thread;
  qsim_status inner_notes, inner_count, inner_other;
} reentrant_probe;

static int reentrant_progress(void* user, int64_t done, int64_t total, const char* message) {
  (void)done, (void)total, (void)message;
  reentrant_probe* probe = user;
  ++probe->calls;
  probe->on_caller_thread += pthread_equal(pthread_self(), probe->caller) ? 1 : 0;
  char* notes = NULL;
  probe->inner_notes = qsim_get_notes(probe->session, &notes);
  qsim_free(notes);
  size_t count = 0;
  probe->inner_count = qsim_encoding_count(probe->session, &count);
  probe->inner_other = qsim_io_count(probe->other, QSIM_INPUT, &count);
  return 0;
}

static void test_callbacks_thread_and_reentrancy(void** state) {
  (void)state;
  qsim_options options = test_options();
  options.num_threads = 2;
  reentrant_probe probe = {open_model(RESNET, &options),
                           open_model(RESNET, NULL),
                           pthread_self(),
                           0,
                           0,
                           QSIM_OK,
                           QSIM_OK,
                           QSIM_OK};
  batch_source source = make_source(calib_images(), CALIB_IMAGES, CALIB_BATCH);
  assert_int_equal(qsim_calibrate(probe.session, read_source, &source, reentrant_progress, &probe),
                   QSIM_OK);
  assert_true(probe.calls > 0);
  assert_int_equal(probe.on_caller_thread, probe.calls);
  assert_int_equal(probe.inner_notes, QSIM_ERR_STATE);
  assert_int_equal(probe.inner_count, QSIM_ERR_STATE);
  assert_int_equal(probe.inner_other, QSIM_OK);
  /* The session works on after the refused calls. */
  assert_string_equal(qsim_session_last_error(probe.session), "");
  char* notes = NULL;
  assert_int_equal(qsim_get_notes(probe.session, &notes), QSIM_OK);
  qsim_free(notes);
  qsim_destroy(probe.session);
  qsim_destroy(probe.other);
}

/* qsim_encoding_info.name lives as long as the session, through AdaRound's new encodings. */
static void test_encoding_name_lifetime(void** state) {
  (void)state;
  qsim_session* session = open_model(RESNET, NULL);
  calibrate_default(session);
  qsim_encoding_info first = encoding_info(session, 0);
  char copy[256];
  snprintf(copy, sizeof copy, "%s", first.name);
  qsim_adaround_options ada;
  qsim_adaround_options_init(&ada, sizeof ada);
  ada.mode = QSIM_BIAS_CORRECTION;
  ada.num_samples = 32;
  batch_source source = make_source(calib_images(), CALIB_IMAGES, CALIB_BATCH);
  assert_int_equal(qsim_adaround(session, read_source, &source, &ada, NULL, NULL), QSIM_OK);
  calibrate_default(session);
  (void)encoding_info(session, 0);
  assert_string_equal(first.name, copy); /* ASan sees a use after free otherwise */
  qsim_destroy(session);
}

/* OpenBLAS has one thread count per process: qsim's calls must leave it as they found it. */
static void test_openblas_threads_restored(void** state) {
  (void)state;
  const int before = openblas_get_num_threads();
  openblas_set_num_threads(2);
  assert_int_equal(openblas_get_num_threads(), 2); /* the probe can see a change */
  qsim_options options = test_options();
  options.num_threads = 2;
  qsim_session* session = open_model(RESNET, &options);
  assert_int_equal(openblas_get_num_threads(), 2);
  calibrate_default(session);
  assert_int_equal(openblas_get_num_threads(), 2);
  float logits[EVAL_IMAGES * 10];
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, logits),
                   QSIM_OK);
  qsim_adaround_options ada;
  qsim_adaround_options_init(&ada, sizeof ada);
  ada.num_iterations = 20;
  ada.num_samples = 32;
  batch_source source = make_source(calib_images(), CALIB_IMAGES, CALIB_BATCH);
  assert_int_equal(qsim_adaround(session, read_source, &source, &ada, NULL, NULL), QSIM_OK);
  assert_int_equal(openblas_get_num_threads(), 2);
  qsim_destroy(session);
  assert_int_equal(openblas_get_num_threads(), 2);
  openblas_set_num_threads(before);
}

int run_ffi_tests(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_version_number),
      cmocka_unit_test(test_session_last_error),
      cmocka_unit_test(test_data_sources),
      cmocka_unit_test(test_callback_failures),
      cmocka_unit_test(test_callbacks_thread_and_reentrancy),
      cmocka_unit_test(test_encoding_name_lifetime),
      cmocka_unit_test(test_openblas_threads_restored),
  };
  return cmocka_run_group_tests_name("ffi", tests, NULL, NULL);
}
