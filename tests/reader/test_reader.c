/* The C encodings reader on a file written by qsim's C++ writer (tests/reader/make_fixture.cpp):
 * it must read back exactly the values the writer was given, and reject truncated, corrupt,
 * foreign and out-of-rule buffers without reading outside them (run under ASan by
 * scripts/test: every damaged buffer is its own exactly-sized allocation).
 *
 * Usage: qsim_reader_tests FIXTURE_DIR */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* cmocka.h needs the headers above first. */
#include <cmocka.h>

#include "qsim_encodings_reader.h"

typedef struct {
  float scale;
  int32_t offset;
  float min;
  float max;
} expected_channel;

typedef struct {
  char* name;
  size_t name_length;
  int role, dtype, bitwidth, symmetry, axis;
  unsigned channel_count;
  expected_channel* channels;
} expected_tensor;

typedef struct {
  char* producer;
  char* fingerprint;
  int target;
  unsigned tensor_count;
  expected_tensor* tensors;
} expected_file;

static const char* fixture_dir;
static uint8_t* file_bytes;
static size_t file_size;
static expected_file expected;

/* --- fixture loading ----------------------------------------------------------------------- */

static uint8_t* read_all(const char* path, size_t* size) {
  FILE* f = fopen(path, "rb");
  uint8_t* bytes;
  long length;
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  length = ftell(f);
  fseek(f, 0, SEEK_SET);
  bytes = malloc((size_t)length + 1);
  *size = fread(bytes, 1, (size_t)length, f);
  fclose(f);
  return bytes;
}

static int hex_digit(char c) {
  return c >= 'a' ? c - 'a' + 10 : c - '0';
}

/* Decodes the fixture's hex strings ("-" is the empty string). */
static char* unhex(const char* hex, size_t* length) {
  size_t n = strcmp(hex, "-") == 0 ? 0 : strlen(hex) / 2, i;
  char* out = malloc(n + 1);
  for (i = 0; i < n; ++i) out[i] = (char)(hex_digit(hex[2 * i]) * 16 + hex_digit(hex[2 * i + 1]));
  out[n] = '\0';
  if (length) *length = n;
  return out;
}

static void read_expected(const char* path) {
  static char word[4096];
  unsigned t, c;
  FILE* f = fopen(path, "r");
  assert_non_null(f);
  assert_int_equal(fscanf(f, " producer %4095s", word), 1);
  expected.producer = unhex(word, NULL);
  assert_int_equal(fscanf(f, " fingerprint %4095s", word), 1);
  expected.fingerprint = unhex(word, NULL);
  assert_int_equal(fscanf(f, " target %d", &expected.target), 1);
  assert_int_equal(fscanf(f, " tensors %u", &expected.tensor_count), 1);
  expected.tensors = calloc(expected.tensor_count, sizeof(expected_tensor));
  for (t = 0; t < expected.tensor_count; ++t) {
    expected_tensor* e = &expected.tensors[t];
    assert_int_equal(fscanf(f, " tensor %4095s %d %d %d %d %d %u", word, &e->role, &e->dtype,
                            &e->bitwidth, &e->symmetry, &e->axis, &e->channel_count),
                     7);
    e->name = unhex(word, &e->name_length);
    e->channels = calloc(e->channel_count + 1, sizeof(expected_channel));
    for (c = 0; c < e->channel_count; ++c) {
      expected_channel* ch = &e->channels[c];
      /* scanf's %f reads C99 hex floats exactly. */
      assert_int_equal(
          fscanf(f, " channel %f %d %f %f", &ch->scale, &ch->offset, &ch->min, &ch->max), 4);
    }
  }
  fclose(f);
}

static int load_fixture(void** state) {
  char path[4096];
  (void)state;
  snprintf(path, sizeof path, "%s/fixture.qsenc", fixture_dir);
  file_bytes = read_all(path, &file_size);
  if (!file_bytes) return -1;
  snprintf(path, sizeof path, "%s/fixture_expected.txt", fixture_dir);
  read_expected(path);
  return 0;
}

/* --- helpers ------------------------------------------------------------------------------- */

/* An exactly-sized heap copy, so that ASan flags any read past `size`. */
static uint8_t* copy_of(const uint8_t* bytes, size_t size) {
  uint8_t* copy = malloc(size ? size : 1);
  memcpy(copy, bytes, size);
  return copy;
}

static int floats_identical(float a, float b) {
  return memcmp(&a, &b, sizeof a) == 0;
}

static void check_tensor_matches(const qsim_enc_tensor* t, const expected_tensor* e) {
  uint32_t c;
  assert_int_equal(t->name_length, e->name_length);
  assert_memory_equal(t->name, e->name, e->name_length + 1); /* including the NUL */
  assert_int_equal(t->role, e->role);
  assert_int_equal(t->dtype, e->dtype);
  assert_int_equal(t->bitwidth, e->bitwidth);
  assert_int_equal(t->symmetry, e->symmetry);
  assert_int_equal(t->axis, e->axis);
  assert_int_equal(t->channel_count, e->channel_count);
  for (c = 0; c < t->channel_count; ++c) {
    qsim_enc_channel ch;
    assert_int_equal(qsim_enc_get_channel(t, c, &ch), QSIM_ENC_OK);
    assert_true(floats_identical(ch.scale, e->channels[c].scale));
    assert_int_equal(ch.offset, e->channels[c].offset);
    assert_true(floats_identical(ch.min, e->channels[c].min));
    assert_true(floats_identical(ch.max, e->channels[c].max));
  }
}

static void check_file_matches(const qsim_enc_file* file) {
  uint32_t i;
  assert_int_equal(qsim_enc_schema_version(file), QSIM_ENC_SCHEMA_VERSION);
  assert_string_equal(qsim_enc_producer_version(file), expected.producer);
  assert_string_equal(qsim_enc_model_fingerprint(file), expected.fingerprint);
  assert_int_equal(qsim_enc_get_target(file), expected.target);
  assert_int_equal(qsim_enc_tensor_count(file), expected.tensor_count);
  for (i = 0; i < expected.tensor_count; ++i) {
    qsim_enc_tensor t;
    assert_int_equal(qsim_enc_get_tensor(file, i, &t), QSIM_ENC_OK);
    check_tensor_matches(&t, &expected.tensors[i]);
  }
}

/* Reads every tensor and channel of an opened file: must stay inside the buffer. */
static void read_everything(const qsim_enc_file* file) {
  uint32_t i, c;
  volatile float sink = 0.0f;
  for (i = 0; i < qsim_enc_tensor_count(file); ++i) {
    qsim_enc_tensor t;
    assert_int_equal(qsim_enc_get_tensor(file, i, &t), QSIM_ENC_OK);
    sink += (float)strlen(t.name);
    for (c = 0; c < t.channel_count; ++c) {
      qsim_enc_channel ch;
      assert_int_equal(qsim_enc_get_channel(&t, c, &ch), QSIM_ENC_OK);
      sink += ch.scale + ch.min + ch.max + (float)ch.offset;
    }
  }
  sink += (float)strlen(qsim_enc_producer_version(file)) +
          (float)strlen(qsim_enc_model_fingerprint(file));
  (void)sink;
}

static uint32_t u32_at(const uint8_t* p) {
  return (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24);
}

static void put_u32(uint8_t* p, uint32_t v) {
  p[0] = (uint8_t)v;
  p[1] = (uint8_t)(v >> 8);
  p[2] = (uint8_t)(v >> 16);
  p[3] = (uint8_t)(v >> 24);
}

/* Position of the root table's schema_version field, found through its vtable. */
/* Position of field `slot` of the root table (FlatBuffers: root offset, then its vtable). */
static size_t root_field_position(const uint8_t* bytes, unsigned slot) {
  uint32_t root = u32_at(bytes);
  uint32_t vtable = root - u32_at(bytes + root);
  uint32_t entry = 4u + 2u * slot;
  uint32_t field = (uint32_t)bytes[vtable + entry] | ((uint32_t)bytes[vtable + entry + 1] << 8);
  assert_true(entry + 2u <= ((uint32_t)bytes[vtable] | ((uint32_t)bytes[vtable + 1] << 8)));
  assert_int_not_equal(field, 0);
  return root + field;
}

static size_t schema_version_position(const uint8_t* bytes) {
  return root_field_position(bytes, 0);
}

static qsim_enc_status open_patched_u32(size_t position, uint32_t value) {
  qsim_enc_file file;
  qsim_enc_status status;
  uint8_t* copy = copy_of(file_bytes, file_size);
  put_u32(copy + position, value);
  status = qsim_enc_open(&file, copy, file_size);
  free(copy);
  return status;
}

/* --- tests --------------------------------------------------------------------------------- */

static void reads_every_value_the_cpp_writer_wrote(void** state) {
  qsim_enc_file file;
  (void)state;
  assert_true(expected.tensor_count > 60);
  assert_int_equal(qsim_enc_open(&file, file_bytes, file_size), QSIM_ENC_OK);
  check_file_matches(&file);
}

static void reads_from_a_misaligned_buffer(void** state) {
  qsim_enc_file file;
  uint8_t* shifted = malloc(file_size + 3);
  (void)state;
  memcpy(shifted + 3, file_bytes, file_size);
  assert_int_equal(qsim_enc_open(&file, shifted + 3, file_size), QSIM_ENC_OK);
  check_file_matches(&file);
  free(shifted);
}

static void finds_tensors_by_name(void** state) {
  qsim_enc_file file;
  qsim_enc_tensor t;
  unsigned i;
  (void)state;
  assert_int_equal(qsim_enc_open(&file, file_bytes, file_size), QSIM_ENC_OK);
  for (i = 0; i < expected.tensor_count; ++i) {
    if (strlen(expected.tensors[i].name) != expected.tensors[i].name_length)
      continue; /* embedded NUL */
    assert_int_equal(qsim_enc_find_tensor(&file, expected.tensors[i].name, &t), QSIM_ENC_OK);
    check_tensor_matches(&t, &expected.tensors[i]);
  }
  assert_int_equal(qsim_enc_find_tensor(&file, "no such tensor", &t), QSIM_ENC_ERR_NOT_FOUND);
  assert_int_equal(qsim_enc_find_tensor(&file, "inp", &t),
                   QSIM_ENC_ERR_NOT_FOUND); /* a prefix of "input" */
  assert_int_equal(qsim_enc_find_tensor(&file, "input0", &t), QSIM_ENC_ERR_NOT_FOUND);
}

static void rejects_bad_arguments_and_indices(void** state) {
  qsim_enc_file file;
  qsim_enc_tensor t;
  qsim_enc_channel ch;
  size_t size;
  (void)state;
  assert_int_equal(qsim_enc_open(NULL, file_bytes, file_size), QSIM_ENC_ERR_ARGUMENT);
  assert_int_equal(qsim_enc_open(&file, NULL, file_size), QSIM_ENC_ERR_ARGUMENT);
  for (size = 0; size < 8; ++size)
    assert_int_equal(qsim_enc_open(&file, file_bytes, size), QSIM_ENC_ERR_TOO_SMALL);
  assert_int_equal(qsim_enc_open(&file, file_bytes, file_size), QSIM_ENC_OK);
  assert_int_equal(qsim_enc_get_tensor(&file, expected.tensor_count, &t), QSIM_ENC_ERR_RANGE);
  assert_int_equal(qsim_enc_get_tensor(NULL, 0, &t), QSIM_ENC_ERR_ARGUMENT);
  assert_int_equal(qsim_enc_get_tensor(&file, 0, NULL), QSIM_ENC_ERR_ARGUMENT);
  assert_int_equal(qsim_enc_find_tensor(&file, NULL, &t), QSIM_ENC_ERR_ARGUMENT);
  assert_int_equal(qsim_enc_get_tensor(&file, 0, &t), QSIM_ENC_OK);
  assert_int_equal(qsim_enc_get_channel(&t, t.channel_count, &ch), QSIM_ENC_ERR_RANGE);
  assert_int_equal(qsim_enc_get_channel(NULL, 0, &ch), QSIM_ENC_ERR_ARGUMENT);
  assert_int_equal(qsim_enc_get_channel(&t, 0, NULL), QSIM_ENC_ERR_ARGUMENT);
  assert_int_equal(qsim_enc_tensor_count(NULL), 0);
  assert_string_equal(qsim_enc_producer_version(NULL), "");
  assert_string_equal(qsim_enc_status_string(QSIM_ENC_ERR_CORRUPT),
                      "corrupt or truncated encodings file");
}

static void rejects_a_foreign_file_identifier(void** state) {
  qsim_enc_file file;
  uint8_t* copy = copy_of(file_bytes, file_size);
  (void)state;
  copy[7] = 'X';
  assert_int_equal(qsim_enc_open(&file, copy, file_size), QSIM_ENC_ERR_IDENTIFIER);
  free(copy);
}

static void rejects_other_schema_versions(void** state) {
  size_t position = schema_version_position(file_bytes);
  (void)state;
  assert_int_equal(u32_at(file_bytes + position), QSIM_ENC_SCHEMA_VERSION);
  assert_int_equal(open_patched_u32(position, 2), QSIM_ENC_ERR_VERSION);
  assert_int_equal(open_patched_u32(position, 0), QSIM_ENC_ERR_VERSION);
}

/* The root's target (slot 7, a byte): the fixture says ort-avx2; unknown values are INVALID. */
static void reads_the_target_and_rejects_unknown_ones(void** state) {
  size_t position = root_field_position(file_bytes, 7);
  qsim_enc_file file;
  uint8_t* copy = copy_of(file_bytes, file_size);
  (void)state;
  assert_int_equal(file_bytes[position], QSIM_ENC_TARGET_ORT_AVX2);
  assert_int_equal(qsim_enc_get_target(NULL), QSIM_ENC_TARGET_EXACT);
  copy[position] = QSIM_ENC_TARGET_EXACT;
  assert_int_equal(qsim_enc_open(&file, copy, file_size), QSIM_ENC_OK);
  assert_int_equal(qsim_enc_get_target(&file), QSIM_ENC_TARGET_EXACT);
  copy[position] = 2;
  assert_int_equal(qsim_enc_open(&file, copy, file_size), QSIM_ENC_ERR_INVALID);
  copy[position] = 0xff; /* -1 as the schema's signed byte */
  assert_int_equal(qsim_enc_open(&file, copy, file_size), QSIM_ENC_ERR_INVALID);
  free(copy);
}

/* Cutting the file anywhere loses data it refers to, except trailing alignment padding. */
static void rejects_every_truncation(void** state) {
  size_t length, accepted = 0;
  (void)state;
  for (length = 0; length < file_size; ++length) {
    qsim_enc_file file;
    uint8_t* copy = copy_of(file_bytes, length);
    if (qsim_enc_open(&file, copy, length) == QSIM_ENC_OK) {
      assert_true(length > file_size - 8);
      check_file_matches(&file);
      ++accepted;
    }
    free(copy);
  }
  print_message("truncation: %zu of %zu lengths rejected (%zu only cut trailing padding)\n",
                file_size - accepted, file_size, accepted);
}

/* Damage every byte three ways: each result is rejected, or opens and reads within bounds. */
static void survives_every_corrupted_byte(void** state) {
  static const uint8_t masks[] = {0xff, 0x01, 0x80};
  size_t position, m, rejected = 0, tried = 0;
  (void)state;
  for (position = 0; position < file_size; ++position) {
    for (m = 0; m < sizeof masks; ++m) {
      qsim_enc_file file;
      uint8_t* copy = copy_of(file_bytes, file_size);
      copy[position] ^= masks[m];
      ++tried;
      if (qsim_enc_open(&file, copy, file_size) == QSIM_ENC_OK)
        read_everything(&file);
      else
        ++rejected;
      if (position < 8) assert_true(qsim_enc_open(&file, copy, file_size) != QSIM_ENC_OK);
      free(copy);
    }
  }
  print_message("corruption: %zu of %zu damaged buffers rejected, the rest read within bounds\n",
                rejected, tried);
}

/* Values FlatBuffers cannot judge but qsim's rules can: a NaN, zero or negative scale, an
 * offset off the tensor's grid. */
static void rejects_values_that_break_the_rules(void** state) {
  qsim_enc_file file;
  qsim_enc_tensor t;
  (void)state;
  assert_int_equal(qsim_enc_open(&file, file_bytes, file_size), QSIM_ENC_OK);
  assert_int_equal(qsim_enc_get_tensor(&file, 0, &t), QSIM_ENC_OK); /* "input": 8-bit asymmetric */
  assert_int_equal(t.symmetry, QSIM_ENC_ASYMMETRIC);
  /* The private positions of the arrays locate the values to damage. */
  assert_int_equal(open_patched_u32(t.scales_ + 4, 0x7fc00000u), QSIM_ENC_ERR_INVALID); /* NaN */
  assert_int_equal(open_patched_u32(t.scales_ + 4, 0x7f800000u), QSIM_ENC_ERR_INVALID); /* +Inf */
  assert_int_equal(open_patched_u32(t.scales_ + 4, 0), QSIM_ENC_ERR_INVALID);
  assert_int_equal(open_patched_u32(t.scales_ + 4, 0xbf800000u), QSIM_ENC_ERR_INVALID); /* -1 */
  assert_int_equal(open_patched_u32(t.scales_ + 4, 0x7f7fffffu),
                   QSIM_ENC_ERR_INVALID); /* grid beyond float */
  assert_int_equal(open_patched_u32(t.scales_ + 4, 0x00000001u),
                   QSIM_ENC_OK); /* subnormal is fine */
  assert_int_equal(open_patched_u32(t.offsets_ + 4, 1), QSIM_ENC_ERR_INVALID);
  assert_int_equal(open_patched_u32(t.offsets_ + 4, (uint32_t)-256), QSIM_ENC_ERR_INVALID);
  assert_int_equal(open_patched_u32(t.offsets_ + 4, (uint32_t)-255), QSIM_ENC_OK);
  assert_int_equal(open_patched_u32(t.scales_, 2), QSIM_ENC_ERR_INVALID); /* 2 scales, 1 offset */
  assert_int_equal(qsim_enc_find_tensor(&file, "/act/bw8/symmetric", &t), QSIM_ENC_OK);
  assert_int_equal(open_patched_u32(t.offsets_ + 4, (uint32_t)-127), QSIM_ENC_ERR_INVALID);
  assert_int_equal(qsim_enc_find_tensor(&file, "/act/bw8/strict_symmetric", &t), QSIM_ENC_OK);
  assert_int_equal(open_patched_u32(t.offsets_ + 4, (uint32_t)-128), QSIM_ENC_ERR_INVALID);
}

int main(int argc, char** argv) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(reads_every_value_the_cpp_writer_wrote),
      cmocka_unit_test(reads_from_a_misaligned_buffer),
      cmocka_unit_test(finds_tensors_by_name),
      cmocka_unit_test(rejects_bad_arguments_and_indices),
      cmocka_unit_test(rejects_a_foreign_file_identifier),
      cmocka_unit_test(rejects_other_schema_versions),
      cmocka_unit_test(reads_the_target_and_rejects_unknown_ones),
      cmocka_unit_test(rejects_every_truncation),
      cmocka_unit_test(survives_every_corrupted_byte),
      cmocka_unit_test(rejects_values_that_break_the_rules),
  };
  if (argc != 2) {
    fprintf(stderr, "usage: %s FIXTURE_DIR\n", argv[0]);
    return 2;
  }
  fixture_dir = argv[1];
  return cmocka_run_group_tests(tests, load_fixture, NULL);
}
