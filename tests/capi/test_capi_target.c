/* Export targets: qsim_target_from_name, qsim_options.target, the target in every exported
   file and what loading such a file tells the session. */
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

#define RESNET "resnet_fmnist.onnx"
#define BASENAME "resnet"

static const char* const kExports[] = {BASENAME ".encodings.fbs", BASENAME ".encodings.json",
                                       BASENAME ".encodings.v1.json"};

/* The whole file; *size its length. Free with free(). */
static char* read_whole(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  assert_non_null(f);
  fseek(f, 0, SEEK_END);
  long length = ftell(f);
  fseek(f, 0, SEEK_SET);
  char* bytes = malloc((size_t)length + 1);
  assert_non_null(bytes);
  assert_int_equal(fread(bytes, 1, (size_t)length, f), (size_t)length);
  bytes[length] = '\0';
  fclose(f);
  *size = (size_t)length;
  return bytes;
}

/* Whether `text` (binary, NUL bytes allowed) holds `needle`. */
static int file_contains(const char* path, const char* needle) {
  size_t size, n = strlen(needle), i;
  char* bytes = read_whole(path, &size);
  int found = 0;
  for (i = 0; !found && i + n <= size; ++i) found = memcmp(bytes + i, needle, n) == 0;
  free(bytes);
  return found;
}

static char* notes_of(qsim_session* session) {
  char* notes = NULL;
  assert_int_equal(qsim_get_notes(session, &notes), QSIM_OK);
  return notes;
}

static qsim_options options_for(qsim_target target) {
  qsim_options options = test_options();
  options.per_channel = 1;
  options.target = target;
  return options;
}

/* Calibrates a ResNet session with `options` and exports every format into `dir`. */
static qsim_session* export_resnet(const qsim_options* options, const char* dir) {
  qsim_session* session = open_model(RESNET, options);
  calibrate_default(session);
  qsim_export_options export_options;
  qsim_export_options_init(&export_options, sizeof(qsim_export_options));
  export_options.basename = BASENAME;
  assert_int_equal(qsim_export(session, dir, &export_options), QSIM_OK);
  return session;
}

static void test_target_names(void** state) {
  (void)state;
  qsim_target target = (qsim_target)42;
  assert_int_equal(qsim_target_from_name("exact", &target), QSIM_OK);
  assert_int_equal(target, QSIM_TARGET_EXACT);
  assert_int_equal(qsim_target_from_name("ort-avx2", &target), QSIM_OK);
  assert_int_equal(target, QSIM_TARGET_ORT_AVX2);
  assert_int_equal(qsim_target_from_name("avx2", &target), QSIM_ERR_INVALID_ARGUMENT);
  assert_string_equal(qsim_last_error(), "unknown target 'avx2' (valid: exact, ort-avx2)");
  assert_int_equal(target, QSIM_TARGET_ORT_AVX2); /* untouched on failure */
  assert_int_equal(qsim_target_from_name(NULL, &target), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("name");
  assert_int_equal(qsim_target_from_name("exact", NULL), QSIM_ERR_INVALID_ARGUMENT);
  assert_error_mentions("out_target");
}

static void test_bad_target_values(void** state) {
  (void)state;
  const int32_t bad[] = {2, -1, 0x7FFFFFFF};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; ++i) {
    qsim_options options = options_for((qsim_target)bad[i]);
    qsim_session* session = (qsim_session*)0x1;
    assert_int_equal(qsim_create(model_path(RESNET), &options, &session),
                     QSIM_ERR_INVALID_ARGUMENT);
    assert_null(session);
    assert_error_mentions("qsim_options.target is ");
    assert_error_mentions("not a qsim_target (QSIM_TARGET_EXACT 0, QSIM_TARGET_ORT_AVX2 1)");
  }
  qsim_options defaults;
  qsim_options_init(&defaults, sizeof(qsim_options));
  assert_int_equal(defaults.target, QSIM_TARGET_EXACT);
}

/* A caller built before the field: whatever lies beyond its struct, the target is exact. */
static void test_old_struct_size_means_exact(void** state) {
  (void)state;
  char* dir = make_temp_dir();
  qsim_options options = options_for((qsim_target)99);
  options.struct_size = (uint32_t)offsetof(qsim_options, target);
  qsim_destroy(export_resnet(&options, dir));
  assert_true(file_contains(join_path(dir, BASENAME ".encodings.json"), "\"target\": \"exact\""));
  assert_true(file_contains(join_path(dir, BASENAME ".qdq.onnx"), "qsim.target"));
  remove_temp_dir(dir);
}

static void test_target_in_every_export(void** state) {
  (void)state;
  char* dir = make_temp_dir();
  const qsim_options avx2 = options_for(QSIM_TARGET_ORT_AVX2);
  qsim_session* source = export_resnet(&avx2, dir);
  float expected[EVAL_IMAGES * 10], got[EVAL_IMAGES * 10];
  assert_int_equal(run_logits(source, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, expected),
                   QSIM_OK);
  assert_true(
      file_contains(join_path(dir, BASENAME ".encodings.json"), "\"target\": \"ort-avx2\""));
  assert_true(
      file_contains(join_path(dir, BASENAME ".encodings.v1.json"), "\"target\": \"ort-avx2\""));
  assert_true(file_contains(join_path(dir, BASENAME ".qdq.onnx"), "qsim.target"));
  assert_true(file_contains(join_path(dir, BASENAME ".qdq.onnx"), "ort-avx2"));

  const qsim_options exact = options_for(QSIM_TARGET_EXACT);
  for (size_t f = 0; f < sizeof kExports / sizeof kExports[0]; ++f) {
    qsim_session* loaded = open_model(RESNET, &exact);
    const char* path = join_path(dir, kExports[f]);
    assert_int_equal(qsim_load_encodings(loaded, path), QSIM_OK);
    char* notes = notes_of(loaded);
    char expected_note[4096];
    snprintf(expected_note, sizeof expected_note,
             "%s: encodings made for target 'ort-avx2', this session's target is 'exact'; the "
             "simulation and exports use the file's grids\n",
             path);
    assert_non_null(strstr(notes, expected_note));
    qsim_free(notes);
    /* The file's 7-bit weight grids are what the session now simulates. */
    size_t count, weights = 0;
    assert_int_equal(qsim_encoding_count(loaded, &count), QSIM_OK);
    for (size_t i = 0; i < count; ++i) {
      const qsim_encoding_info info = encoding_info(loaded, i);
      if (info.role != QSIM_ROLE_WEIGHT) continue;
      assert_int_equal(info.bitwidth, 7);
      ++weights;
    }
    assert_true(weights > 0);
    assert_int_equal(run_logits(loaded, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, got),
                     QSIM_OK);
    assert_memory_equal(got, expected, sizeof expected);
    /* Exported again, the files still say ort-avx2: the encodings were made for it. */
    char* again = make_temp_dir();
    qsim_export_options export_options;
    qsim_export_options_init(&export_options, sizeof(qsim_export_options));
    export_options.formats = QSIM_EXPORT_AIMET_JSON_0_6_1;
    export_options.basename = BASENAME;
    assert_int_equal(qsim_export(loaded, again, &export_options), QSIM_OK);
    assert_true(
        file_contains(join_path(again, BASENAME ".encodings.json"), "\"target\": \"ort-avx2\""));
    remove_temp_dir(again);
    qsim_destroy(loaded);
  }

  /* A session made for the file's target gets no such note. */
  qsim_session* same = open_model(RESNET, &avx2);
  assert_int_equal(qsim_load_encodings(same, join_path(dir, kExports[0])), QSIM_OK);
  char* notes = notes_of(same);
  assert_null(strstr(notes, "made for target"));
  qsim_free(notes);
  qsim_destroy(same);
  qsim_destroy(source);
  remove_temp_dir(dir);
}

int run_target_tests(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_target_names),
      cmocka_unit_test(test_bad_target_values),
      cmocka_unit_test(test_old_struct_size_means_exact),
      cmocka_unit_test(test_target_in_every_export),
  };
  return cmocka_run_group_tests_name("target", tests, NULL, NULL);
}
