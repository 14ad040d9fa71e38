/* C API tests: the public header and libqsim.so only. This file holds main() and the tests
   of the float calls; the other test_capi_*.c files hold one group each (capi_tests.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "capi_tests.h"

#define RELU_MODEL \
  "/usr/share/libonnx-testdata/data/node/test_relu/model.onnx" /* x: float[3,4,5] */

static qsim_session* open_relu(void) {
  qsim_options options;
  assert_int_equal(qsim_options_init(&options, sizeof(qsim_options)), QSIM_OK);
  options.num_threads = 1;
  qsim_session* session = NULL;
  assert_int_equal(qsim_create(RELU_MODEL, &options, &session), QSIM_OK);
  assert_non_null(session);
  return session;
}

static qsim_tensor float_tensor(float* data, int64_t d0, int64_t d1, int64_t d2) {
  qsim_tensor t;
  memset(&t, 0, sizeof t);
  t.dtype = QSIM_DTYPE_FLOAT32;
  t.rank = 3;
  t.shape[0] = d0;
  t.shape[1] = d1;
  t.shape[2] = d2;
  t.data = data;
  t.size_bytes = (size_t)(d0 * d1 * d2) * sizeof(float);
  return t;
}

static void test_version(void** state) {
  (void)state;
  char expected[32];
  snprintf(expected, sizeof expected, "%d.%d.%d", QSIM_VERSION_MAJOR, QSIM_VERSION_MINOR,
           QSIM_VERSION_PATCH);
  assert_string_equal(qsim_version(), expected);
  assert_string_equal(qsim_status_name(QSIM_ERR_PARSE), "QSIM_ERR_PARSE");
}

/* The kernel path: a known name, a report that starts with it, and the QSIM_MAX_ISA cap the
   suite runs under (ctest runs the C API tests with QSIM_MAX_ISA unset, baseline and avx2). */
static void test_kernel_path(void** state) {
  (void)state;
  const char* name = NULL;
  const char* report = NULL;
  assert_int_equal(qsim_kernel_path(NULL, &report), QSIM_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(qsim_last_error(), "out_name"));
  assert_int_equal(qsim_kernel_path(&name, NULL), QSIM_OK);
  assert_true(strcmp(name, "baseline") == 0 || strcmp(name, "avx2") == 0 ||
              strcmp(name, "avx512") == 0);
  assert_int_equal(qsim_kernel_path(&name, &report), QSIM_OK);
  assert_int_equal(strncmp(report, name, strlen(name)), 0);
  const char* cap = getenv("QSIM_MAX_ISA");
  if (cap != NULL && (strcmp(cap, "baseline") == 0 || strcmp(cap, "avx2") == 0)) {
    assert_string_equal(name, cap);
  }
}

static void test_null_arguments(void** state) {
  (void)state;
  qsim_session* session = (qsim_session*)0x1;
  assert_int_equal(qsim_create(NULL, NULL, &session), QSIM_ERR_INVALID_ARGUMENT);
  assert_null(session);
  assert_non_null(strstr(qsim_last_error(), "model_path"));
  assert_int_equal(qsim_create(RELU_MODEL, NULL, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_create_from_memory(NULL, 10, NULL, &session), QSIM_ERR_INVALID_ARGUMENT);
  size_t count;
  assert_int_equal(qsim_io_count(NULL, QSIM_INPUT, &count), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_run(NULL, QSIM_RUN_FLOAT, NULL, 0, NULL, 0), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_options_init(NULL, sizeof(qsim_options)), QSIM_ERR_INVALID_ARGUMENT);
  char* text = NULL;
  assert_int_equal(qsim_describe_model(NULL, QSIM_FORMAT_TEXT, &text), QSIM_ERR_INVALID_ARGUMENT);
  qsim_destroy(NULL); /* allowed */
}

static void test_bad_models(void** state) {
  (void)state;
  qsim_session* session = NULL;
  assert_int_equal(qsim_create("/nonexistent/model.onnx", NULL, &session), QSIM_ERR_IO);
  assert_non_null(strstr(qsim_last_error(), "/nonexistent/model.onnx"));
  const char garbage[] = "this is not an onnx model at all, just text";
  assert_int_equal(qsim_create_from_memory(garbage, sizeof garbage, NULL, &session),
                   QSIM_ERR_PARSE);
  assert_null(session);
}

static void test_options_struct_size(void** state) {
  (void)state;
  qsim_options options;
  qsim_options_init(&options, sizeof(qsim_options));
  assert_int_equal(options.struct_size, sizeof(qsim_options));
  assert_int_equal(options.weight_bits, 8);
  options.struct_size = 0;
  qsim_session* session = NULL;
  assert_int_equal(qsim_create(RELU_MODEL, &options, &session), QSIM_ERR_INVALID_ARGUMENT);
  /* An older caller whose struct ends before num_threads gets the defaults for the rest. */
  qsim_options_init(&options, sizeof(qsim_options));
  options.struct_size = (uint32_t)offsetof(qsim_options, num_threads);
  options.num_threads = -5; /* beyond the old struct: ignored */
  assert_int_equal(qsim_create(RELU_MODEL, &options, &session), QSIM_OK);
  qsim_destroy(session);
  qsim_options_init(&options, sizeof(qsim_options));
  options.num_threads = -1;
  assert_int_equal(qsim_create(RELU_MODEL, &options, &session), QSIM_ERR_INVALID_ARGUMENT);
}

static void test_io_info_and_run(void** state) {
  (void)state;
  qsim_session* session = open_relu();
  size_t inputs = 0, outputs = 0;
  assert_int_equal(qsim_io_count(session, QSIM_INPUT, &inputs), QSIM_OK);
  assert_int_equal(qsim_io_count(session, QSIM_OUTPUT, &outputs), QSIM_OK);
  assert_int_equal(inputs, 1);
  assert_int_equal(outputs, 1);
  qsim_tensor info;
  assert_int_equal(qsim_io_info(session, QSIM_INPUT, 0, &info), QSIM_OK);
  assert_string_equal(info.name, "x");
  assert_int_equal(info.rank, 3);
  assert_int_equal(info.shape[2], 5);
  assert_int_equal(qsim_io_info(session, QSIM_INPUT, 1, &info), QSIM_ERR_INVALID_ARGUMENT);

  float x[60], y[60];
  for (int i = 0; i < 60; ++i) x[i] = (float)(i - 30);
  qsim_tensor in = float_tensor(x, 3, 4, 5);
  qsim_tensor out = float_tensor(y, 0, 0, 0);
  assert_int_equal(qsim_infer_shapes(session, &in, 1, &out, 1), QSIM_OK);
  assert_int_equal(out.size_bytes, sizeof y);
  out.data = y;
  assert_int_equal(qsim_run(session, QSIM_RUN_FLOAT, &in, 1, &out, 1), QSIM_OK);
  for (int i = 0; i < 60; ++i) assert_true(y[i] == (x[i] > 0 ? x[i] : 0.0f));
  assert_int_equal(out.rank, 3);
  assert_int_equal(out.shape[0], 3);

  /* A short buffer reports the size needed and leaves the buffer alone. */
  out.size_bytes = 8;
  assert_int_equal(qsim_run(session, QSIM_RUN_FLOAT, &in, 1, &out, 1), QSIM_ERR_BUFFER_TOO_SMALL);
  assert_int_equal(out.size_bytes, sizeof y);

  /* A named input that does not exist, and a wrong shape. */
  in.name = "nope";
  out.size_bytes = sizeof y;
  assert_int_equal(qsim_run(session, QSIM_RUN_FLOAT, &in, 1, &out, 1), QSIM_ERR_INVALID_ARGUMENT);
  assert_non_null(strstr(qsim_last_error(), "nope"));
  in.name = "x";
  in.shape[2] = 4;
  in.size_bytes = 48 * sizeof(float);
  assert_int_equal(qsim_run(session, QSIM_RUN_FLOAT, &in, 1, &out, 1), QSIM_ERR_SHAPE);

  /* Quantized inference needs encodings first. */
  in = float_tensor(x, 3, 4, 5);
  assert_int_equal(qsim_run(session, QSIM_RUN_QUANTIZED, &in, 1, &out, 1), QSIM_ERR_STATE);
  qsim_destroy(session);
}

static void test_describe(void** state) {
  (void)state;
  char* text = NULL;
  assert_int_equal(qsim_describe_model(RELU_MODEL, QSIM_FORMAT_JSON, &text), QSIM_OK);
  assert_non_null(strstr(text, "\"Relu\": 1"));
  assert_non_null(strstr(text, "\"unsupported_ops\": {}"));
  qsim_free(text);
  assert_int_equal(qsim_describe_model(RELU_MODEL, (qsim_text_format)7, &text),
                   QSIM_ERR_INVALID_ARGUMENT);
}

/* An optional argument runs only the tests whose names match it ("test_nan*"). */
int main(int argc, char** argv) {
  if (argc > 1) cmocka_set_test_filter(argv[1]);
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_version),
      cmocka_unit_test(test_kernel_path),
      cmocka_unit_test(test_null_arguments),
      cmocka_unit_test(test_bad_models),
      cmocka_unit_test(test_options_struct_size),
      cmocka_unit_test(test_io_info_and_run),
      cmocka_unit_test(test_describe),
  };
  int failed = cmocka_run_group_tests_name("float", tests, NULL, NULL);
  failed += run_option_tests();
  failed += run_calibrate_tests();
  failed += run_encodings_tests();
  failed += run_export_tests();
  failed += run_thread_tests();
  failed += run_adaround_tests();
  failed += run_target_tests();
  failed += run_ffi_tests();
  return failed;
}
