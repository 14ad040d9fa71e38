/* qsim_export: the files, the options, and failures that leave nothing behind. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "capi_tests.h"

#define RESNET "resnet_fmnist.onnx"

static const char* kAllFiles[] = {"model.encodings.fbs", "model.encodings.json",
                                  "model.encodings.v1.json", "model.onnx", "model.qdq.onnx"};

static long file_size(const char* path) {
  struct stat st;
  return stat(path, &st) == 0 ? (long)st.st_size : -1;
}

/* One calibrated ResNet session for the whole group. */
static int setup_session(void** state) {
  qsim_session* session = open_model(RESNET, NULL);
  calibrate_default(session);
  *state = session;
  return 0;
}

static int teardown_session(void** state) {
  qsim_destroy(*state);
  return 0;
}

static void test_export_all(void** state) {
  qsim_session* session = *state;
  char* dir = make_temp_dir();
  const char* out = join_path(dir, "a/b/c"); /* missing folders are created */
  char out_dir[1024];
  snprintf(out_dir, sizeof out_dir, "%s", out);
  assert_int_equal(qsim_export(session, out_dir, NULL), QSIM_OK);
  assert_int_equal(count_entries(out_dir), 5);
  for (size_t i = 0; i < 5; ++i) assert_true(file_size(join_path(out_dir, kAllFiles[i])) > 0);
  /* Again into the same folder: replaced, nothing else appears. */
  assert_int_equal(qsim_export(session, out_dir, NULL), QSIM_OK);
  assert_int_equal(count_entries(out_dir), 5);
  char* notes = NULL;
  assert_int_equal(qsim_get_notes(session, &notes), QSIM_OK);
  qsim_free(notes);
  remove_temp_dir(dir);
}

static void test_export_chosen_formats(void** state) {
  qsim_session* session = *state;
  char* dir = make_temp_dir();
  qsim_export_options options;
  assert_int_equal(qsim_export_options_init(&options, sizeof(qsim_export_options)), QSIM_OK);
  assert_int_equal(options.formats, QSIM_EXPORT_ALL);
  assert_string_equal(options.basename, "model");
  options.formats = QSIM_EXPORT_ENCODINGS_FBS | QSIM_EXPORT_AIMET_JSON_1_0_0;
  options.basename = "net";
  assert_int_equal(qsim_export(session, dir, &options), QSIM_OK);
  assert_int_equal(count_entries(dir), 2);
  assert_true(file_exists(dir, "net.encodings.fbs"));
  assert_true(file_exists(dir, "net.encodings.v1.json"));
  /* QDQ with int8 activations. */
  options.formats = QSIM_EXPORT_ONNX_QDQ;
  options.qdq_int8_activations = 1;
  assert_int_equal(qsim_export(session, dir, &options), QSIM_OK);
  assert_true(file_exists(dir, "net.qdq.onnx"));
  remove_temp_dir(dir);
}

static void test_export_bad_options(void** state) {
  qsim_session* session = *state;
  char* dir = make_temp_dir();
  const char* out = join_path(dir, "out");
  char out_dir[1024];
  snprintf(out_dir, sizeof out_dir, "%s", out);
  qsim_export_options options;
  qsim_export_options_init(&options, sizeof(qsim_export_options));
  options.struct_size = 0;
  assert_int_equal(qsim_export(session, out_dir, &options), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("qsim_export_options_init");
  assert_int_equal(qsim_export_options_init(&options, 0), QSIM_ERR_INVALID_ARGUMENT);
  const uint32_t bad_formats[] = {0, 64, QSIM_EXPORT_ALL + 1};
  for (size_t i = 0; i < 3; ++i) {
    qsim_export_options_init(&options, sizeof(qsim_export_options));
    options.formats = bad_formats[i];
    assert_int_equal(qsim_export(session, out_dir, &options), QSIM_ERR_INVALID_ARGUMENT);
    assert_error_mentions("formats");
  }
  qsim_export_options_init(&options, sizeof(qsim_export_options));
  options.basename = NULL;
  assert_int_equal(qsim_export(session, out_dir, &options), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("basename");
  options.basename = "sub/model";
  assert_int_equal(qsim_export(session, out_dir, &options), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("sub/model");
  options.basename = "";
  assert_int_equal(qsim_export(session, out_dir, &options), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(count_entries(dir), 0);
  remove_temp_dir(dir);
}

/* A folder that cannot be made: a path through a regular file, or in /proc. */
static void test_export_unwritable_folder(void** state) {
  qsim_session* session = *state;
  char* dir = make_temp_dir();
  FILE* f = fopen(join_path(dir, "plain_file"), "w");
  assert_non_null(f);
  fclose(f);
  char out_dir[1024];
  snprintf(out_dir, sizeof out_dir, "%s/plain_file/out", dir);
  assert_int_equal(qsim_export(session, out_dir, NULL), QSIM_ERR_IO);
  assert_error_mentions("plain_file/out");
  assert_int_equal(count_entries(dir), 1);
  assert_int_equal(qsim_export(session, "/proc/qsim-cannot-write", NULL), QSIM_ERR_IO);
  assert_error_mentions("/proc/qsim-cannot-write");
  remove_temp_dir(dir);
}

/* The last file cannot be renamed into place (a folder holds its name): every file written
   before it is removed again. */
static void test_export_failure_at_last_file(void** state) {
  qsim_session* session = *state;
  char* dir = make_temp_dir();
  assert_int_equal(mkdir(join_path(dir, "model.qdq.onnx"), 0755), 0);
  assert_int_equal(qsim_export(session, dir, NULL), QSIM_ERR_IO);
  assert_error_mentions("model.qdq.onnx");
  assert_int_equal(count_entries(dir), 1); /* only the folder that was there */
  remove_temp_dir(dir);
}

/* A file name too long for the file system, after two files were staged in folders the
   call created: the staged files and the folders go. */
static void test_export_failure_removes_created_folders(void** state) {
  qsim_session* session = *state;
  char* dir = make_temp_dir();
  char out_dir[1024];
  snprintf(out_dir, sizeof out_dir, "%s/new/sub", dir);
  char basename[233];
  memset(basename, 'm', sizeof basename - 1);
  basename[sizeof basename - 1] = '\0';
  qsim_export_options options;
  qsim_export_options_init(&options, sizeof(qsim_export_options));
  options.basename = basename; /* ".<basename>.encodings.v1.json.XXXXXX" exceeds 255 bytes */
  assert_int_equal(qsim_export(session, out_dir, &options), QSIM_ERR_IO);
  assert_error_mentions("encodings.v1.json");
  assert_int_equal(count_entries(dir), 0);
  remove_temp_dir(dir);
}

/* An export named like the model into the model's folder must not replace it. */
static void test_export_never_replaces_the_model(void** state) {
  (void)state;
  char* dir = make_temp_dir();
  char model_copy[1024];
  snprintf(model_copy, sizeof model_copy, "%s/model.onnx", dir);
  FILE* in = fopen(model_path(RESNET), "rb");
  FILE* out = fopen(model_copy, "wb");
  assert_non_null(in);
  assert_non_null(out);
  char buffer[65536];
  size_t n;
  while ((n = fread(buffer, 1, sizeof buffer, in)) > 0)
    assert_int_equal(fwrite(buffer, 1, n, out), n);
  fclose(in);
  fclose(out);
  const long size = file_size(model_copy);

  qsim_options options = test_options();
  qsim_session* session = NULL;
  assert_int_equal(qsim_create(model_copy, &options, &session), QSIM_OK);
  calibrate_default(session);
  assert_int_equal(qsim_export(session, dir, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("is the session's model");
  assert_int_equal(count_entries(dir), 1);
  assert_int_equal(file_size(model_copy), size);
  qsim_destroy(session);
  remove_temp_dir(dir);
}

/* A session made from memory quantizes and exports like one made from a file. */
static void test_export_from_memory(void** state) {
  (void)state;
  FILE* f = fopen(model_path(RESNET), "rb");
  assert_non_null(f);
  static char bytes[1 << 20];
  size_t size = fread(bytes, 1, sizeof bytes, f);
  fclose(f);
  assert_true(size > 0 && size < sizeof bytes);
  qsim_options options = test_options();
  qsim_session* session = NULL;
  assert_int_equal(qsim_create_from_memory(bytes, size, &options, &session), QSIM_OK);
  calibrate_default(session);
  char* dir = make_temp_dir();
  assert_int_equal(qsim_export(session, dir, NULL), QSIM_OK);
  assert_int_equal(count_entries(dir), 5);
  qsim_destroy(session);
  remove_temp_dir(dir);
}

static qsim_session* calibrated_with_activation_bits(int32_t bits) {
  qsim_options options = test_options();
  options.activation_bits = bits;
  qsim_session* session = NULL;
  assert_int_equal(qsim_create(model_path(RESNET), &options, &session), QSIM_OK);
  calibrate_default(session);
  return session;
}

/* W8A16: every format carries 16-bit activations; the QDQ model in either 16-bit form. */
static void test_export_16bit_activations(void** state) {
  (void)state;
  qsim_session* session = calibrated_with_activation_bits(16);
  char* dir = make_temp_dir();
  qsim_export_options options;
  qsim_export_options_init(&options, sizeof(qsim_export_options));
  assert_int_equal(options.qdq_wide_form, QSIM_QDQ_WIDE_MICROSOFT);
  assert_int_equal(qsim_export(session, dir, &options), QSIM_OK);
  assert_int_equal(count_entries(dir), 5);
  options.qdq_wide_form = QSIM_QDQ_WIDE_OPSET21;
  options.formats = QSIM_EXPORT_ONNX_QDQ;
  options.basename = "opset21";
  assert_int_equal(qsim_export(session, dir, &options), QSIM_OK);
  assert_int_equal(count_entries(dir), 6);
  options.qdq_wide_form = (qsim_qdq_wide_form)7;
  options.basename = "bad";
  assert_int_equal(qsim_export(session, dir, &options), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("qdq_wide_form");
  assert_int_equal(count_entries(dir), 6);
  qsim_destroy(session);
  remove_temp_dir(dir);
}

/* 12-bit activations: the encodings files carry them, the QDQ model cannot (a uint16
   QuantizeLinear saturates at 65535, not 4095). Asked for all formats, the other four are
   written and the QDQ model is skipped, by name and with the reason. */
static void test_export_12bit_activations(void** state) {
  (void)state;
  qsim_session* session = calibrated_with_activation_bits(12);
  char* dir = make_temp_dir();
  uint32_t written = 99;
  assert_int_equal(qsim_exported_formats(session, &written), QSIM_OK);
  assert_int_equal(written, 0); /* before any export */
  assert_int_equal(qsim_export(session, dir, NULL), QSIM_ERR_INCOMPLETE);
  assert_session_error_mentions(session, "skipped model.qdq.onnx (ONNX QDQ model)");
  assert_session_error_mentions(session, "12-bit");
  assert_session_error_mentions(session, "'input'");
  assert_session_error_mentions(session, "wrote model.encodings.fbs, model.encodings.json");
  assert_int_equal(count_entries(dir), 4);
  for (size_t i = 0; i < 4; ++i) assert_true(file_size(join_path(dir, kAllFiles[i])) > 0);
  assert_int_equal(file_size(join_path(dir, "model.qdq.onnx")), -1);
  assert_int_equal(qsim_exported_formats(session, &written), QSIM_OK);
  assert_int_equal(written, QSIM_EXPORT_ENCODINGS_FBS | QSIM_EXPORT_AIMET_JSON_0_6_1 |
                                QSIM_EXPORT_AIMET_JSON_1_0_0 | QSIM_EXPORT_ONNX_ROUNDED);
  char* notes = NULL;
  assert_int_equal(qsim_get_notes(session, &notes), QSIM_OK);
  assert_non_null(strstr(notes, "export: skipped model.qdq.onnx (ONNX QDQ model): "));
  qsim_free(notes);
  /* Only the QDQ model asked for: nothing can be written, the call fails with its error. */
  char* other = make_temp_dir();
  const char* qdq_dir = join_path(other, "qdq");
  qsim_export_options options;
  qsim_export_options_init(&options, sizeof(qsim_export_options));
  options.formats = QSIM_EXPORT_ONNX_QDQ;
  assert_int_equal(qsim_export(session, qdq_dir, &options), QSIM_ERR_UNSUPPORTED);
  assert_session_error_mentions(session, "nothing was written");
  assert_int_equal(count_entries(other), 0); /* not even the folder */
  assert_int_equal(qsim_exported_formats(session, &written), QSIM_OK);
  assert_int_equal(written, 0);
  /* The four that can be built, asked for alone: QSIM_OK. */
  options.formats = QSIM_EXPORT_ENCODINGS_FBS | QSIM_EXPORT_AIMET_JSON_0_6_1 |
                    QSIM_EXPORT_AIMET_JSON_1_0_0 | QSIM_EXPORT_ONNX_ROUNDED;
  assert_int_equal(qsim_export(session, other, &options), QSIM_OK);
  assert_int_equal(count_entries(other), 4);
  assert_int_equal(qsim_exported_formats(session, NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_int_equal(qsim_exported_formats(NULL, &written), QSIM_ERR_INVALID_ARGUMENT);
  qsim_destroy(session);
  remove_temp_dir(dir);
  remove_temp_dir(other);
}

int run_export_tests(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_export_all),
      cmocka_unit_test(test_export_chosen_formats),
      cmocka_unit_test(test_export_bad_options),
      cmocka_unit_test(test_export_unwritable_folder),
      cmocka_unit_test(test_export_failure_at_last_file),
      cmocka_unit_test(test_export_failure_removes_created_folders),
      cmocka_unit_test(test_export_never_replaces_the_model),
      cmocka_unit_test(test_export_from_memory),
      cmocka_unit_test(test_export_16bit_activations),
      cmocka_unit_test(test_export_12bit_activations),
  };
  return cmocka_run_group_tests_name("export", tests, setup_session, teardown_session);
}
