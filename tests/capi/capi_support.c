/* Shared pieces of the C API tests (capi_tests.h). */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
/* cmocka.h needs the headers above. */
#include <cmocka.h>

#include "capi_tests.h"

#define FMNIST_DIR "/usr/share/datasets/fashion-mnist/"
#define IDX_IMAGE_HEADER 16

/* The first `count` images of an IDX image file, scaled to [0, 1]. */
static float* read_fmnist(const char* file, size_t count) {
  char command[512];
  snprintf(command, sizeof command, "gzip -dc '%s%s'", FMNIST_DIR, file);
  FILE* pipe = popen(command, "r");
  assert_non_null(pipe);
  unsigned char header[IDX_IMAGE_HEADER];
  unsigned char* pixels = malloc(count * FMNIST_PIXELS);
  float* images = malloc(count * FMNIST_PIXELS * sizeof(float));
  assert_non_null(pixels);
  assert_non_null(images);
  assert_int_equal(fread(header, 1, sizeof header, pipe), sizeof header);
  assert_int_equal(header[2], 0x08); /* unsigned bytes */
  assert_int_equal(header[3], 3);    /* [N, 28, 28] */
  assert_int_equal(fread(pixels, 1, count * FMNIST_PIXELS, pipe), count * FMNIST_PIXELS);
  pclose(pipe); /* gzip stops on the closed pipe; its status does not matter */
  for (size_t i = 0; i < count * FMNIST_PIXELS; ++i) images[i] = (float)pixels[i] / 255.0f;
  free(pixels);
  return images;
}

/* Loaded once; the tests only read them. */
static float* g_calib_images;
static float* g_eval_images;

const float* calib_images(void) {
  if (g_calib_images == NULL)
    g_calib_images = read_fmnist("train-images-idx3-ubyte.gz", CALIB_IMAGES);
  return g_calib_images;
}

const float* eval_images(void) {
  if (g_eval_images == NULL) g_eval_images = read_fmnist("t10k-images-idx3-ubyte.gz", EVAL_IMAGES);
  return g_eval_images;
}

const char* model_path(const char* file) {
  static _Thread_local char path[1024];
  snprintf(path, sizeof path, "%s/models/%s", QSIM_SOURCE_DIR, file);
  return path;
}

qsim_options test_options(void) {
  qsim_options options;
  assert_int_equal(qsim_options_init(&options, sizeof(qsim_options)), QSIM_OK);
  options.num_threads = 1;
  return options;
}

qsim_session* open_model(const char* file, const qsim_options* options) {
  qsim_options defaults = test_options();
  qsim_session* session = NULL;
  qsim_status status = qsim_create(model_path(file), options ? options : &defaults, &session);
  if (status != QSIM_OK) fail_msg("qsim_create(%s): %s", file, qsim_last_error());
  assert_non_null(session);
  return session;
}

batch_source make_source(const float* images, size_t count, size_t batch) {
  batch_source source;
  memset(&source, 0, sizeof source);
  source.images = images;
  source.count = count;
  source.batch = batch;
  return source;
}

static void image_tensor(qsim_tensor* t, const void* data, size_t count) {
  t->dtype = QSIM_DTYPE_FLOAT32;
  t->rank = 4;
  t->shape[0] = (int64_t)count;
  t->shape[1] = 1;
  t->shape[2] = 28;
  t->shape[3] = 28;
  t->data = (void*)data;
  t->size_bytes = count * FMNIST_PIXELS * sizeof(float);
}

int read_source(void* user, qsim_tensor* inputs, size_t num_inputs) {
  static const uint8_t kBytes[FMNIST_PIXELS] = {0};
  batch_source* source = user;
  assert_int_equal(num_inputs, 1);
  if (source->next >= source->count) return 0;
  const int batch_number = source->batches_given + 1;
  const int faulty = source->fault != SOURCE_OK && batch_number == source->fault_batch;
  if (faulty && source->fault == SOURCE_ERROR) return -1;
  size_t count =
      source->count - source->next < source->batch ? source->count - source->next : source->batch;
  image_tensor(&inputs[0], source->images + source->next * FMNIST_PIXELS, count);
  if (faulty && source->fault == SOURCE_BAD_SHAPE) inputs[0].shape[2] = 27;
  if (faulty && source->fault == SOURCE_BAD_DTYPE) {
    inputs[0].dtype = QSIM_DTYPE_UINT8;
    inputs[0].shape[0] = 1;
    inputs[0].data = (void*)kBytes;
    inputs[0].size_bytes = sizeof kBytes;
  }
  if (faulty && source->fault == SOURCE_BAD_NAME) inputs[0].name = "nope";
  source->next += count;
  source->batches_given = batch_number;
  return 1;
}

int record_progress(void* user, int64_t done, int64_t total, const char* message) {
  progress_log* log = user;
  assert_non_null(message);
  assert_true(done == log->last_done + 1); /* once per batch, in order */
  log->calls++;
  log->last_done = done;
  log->last_total = total;
  return log->cancel_at > 0 && done == log->cancel_at;
}

qsim_encoding_info encoding_info(const qsim_session* session, size_t index) {
  qsim_encoding_info info;
  info.struct_size = sizeof info;
  qsim_status status = qsim_get_encoding(session, index, &info);
  if (status != QSIM_OK) fail_msg("qsim_get_encoding(%zu): %s", index, qsim_last_error());
  return info;
}

void calibrate_default(qsim_session* session) {
  batch_source source = make_source(calib_images(), CALIB_IMAGES, CALIB_BATCH);
  qsim_status status = qsim_calibrate(session, read_source, &source, NULL, NULL);
  if (status != QSIM_OK) fail_msg("qsim_calibrate: %s", qsim_last_error());
}

qsim_status run_logits(qsim_session* session, qsim_run_mode mode, const float* images, size_t count,
                       float* logits) {
  qsim_tensor in, out;
  memset(&in, 0, sizeof in);
  memset(&out, 0, sizeof out);
  image_tensor(&in, images, count);
  out.data = logits;
  out.size_bytes = count * 10 * sizeof(float);
  return qsim_run(session, mode, &in, 1, &out, 1);
}

char* make_temp_dir(void) {
  char* path = strdup("/tmp/qsim_capi_XXXXXX");
  assert_non_null(path);
  assert_non_null(mkdtemp(path));
  return path;
}

static int remove_entry(const char* path, const struct stat* st, int flag, struct FTW* ftw) {
  (void)st;
  (void)flag;
  (void)ftw;
  return remove(path);
}

void remove_temp_dir(char* path) {
  nftw(path, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
  free(path);
}

int count_entries(const char* dir) {
  DIR* d = opendir(dir);
  if (d == NULL) return -1;
  int count = 0;
  struct dirent* e;
  while ((e = readdir(d)) != NULL)
    if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) count++;
  closedir(d);
  return count;
}

int file_exists(const char* dir, const char* name) {
  return access(join_path(dir, name), F_OK) == 0;
}

const char* join_path(const char* dir, const char* name) {
  static _Thread_local char path[2048];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  return path;
}

void assert_error_mentions(const char* text) {
  if (strstr(qsim_last_error(), text) == NULL)
    fail_msg("last error '%s' does not mention '%s'", qsim_last_error(), text);
}

void assert_session_error_mentions(const qsim_session* session, const char* text) {
  const char* message = qsim_session_last_error(session);
  if (strstr(message, text) == NULL)
    fail_msg("session's last error '%s' does not mention '%s'", message, text);
}
