/* Separate sessions on separate threads: nothing shared, identical results, and the last
   error belongs to its thread. No cmocka assertions run off the main thread. */
#define _XOPEN_SOURCE 700
#include <dirent.h>
#include <pthread.h>
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

#define THREADS 2

typedef struct worker {
  const char* model;
  qsim_status status;
  char error[512];
  float logits[EVAL_IMAGES * 10];
} worker;

static void* quantize_and_run(void* arg) {
  worker* w = arg;
  qsim_options options;
  qsim_options_init(&options, sizeof options);
  options.num_threads = 1;
  qsim_session* session = NULL;
  w->status = qsim_create(w->model, &options, &session);
  batch_source source = make_source(calib_images(), CALIB_IMAGES, CALIB_BATCH);
  if (w->status == QSIM_OK) w->status = qsim_calibrate(session, read_source, &source, NULL, NULL);
  if (w->status == QSIM_OK)
    w->status = run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, w->logits);
  snprintf(w->error, sizeof w->error, "%s", qsim_last_error());
  qsim_destroy(session);
  return NULL;
}

static void run_workers(worker* workers, size_t count) {
  pthread_t threads[THREADS];
  for (size_t i = 0; i < count; ++i)
    assert_int_equal(pthread_create(&threads[i], NULL, quantize_and_run, &workers[i]), 0);
  for (size_t i = 0; i < count; ++i) assert_int_equal(pthread_join(threads[i], NULL), 0);
  for (size_t i = 0; i < count; ++i)
    if (workers[i].status != QSIM_OK) fail_msg("worker %zu: %s", i, workers[i].error);
}

static void test_two_threads_identical(void** state) {
  (void)state;
  calib_images(); /* loaded once, before the threads read them */
  eval_images();
  static worker workers[THREADS], alone;
  char model[1024];
  snprintf(model, sizeof model, "%s", model_path("resnet_fmnist.onnx"));
  for (size_t i = 0; i < THREADS; ++i) workers[i].model = model;
  alone.model = model;
  run_workers(workers, THREADS);
  run_workers(&alone, 1);
  for (size_t i = 0; i < THREADS; ++i)
    assert_memory_equal(workers[i].logits, alone.logits, sizeof alone.logits);
}

/* A failure on one thread is not another thread's last error. */
static void* fail_once(void* arg) {
  worker* w = arg;
  qsim_session* session = NULL;
  w->status = qsim_create(w->model, NULL, &session);
  snprintf(w->error, sizeof w->error, "%s", qsim_last_error());
  return NULL;
}

static void test_last_error_is_per_thread(void** state) {
  (void)state;
  qsim_session* session = NULL;
  assert_int_equal(qsim_create("/nonexistent/main-thread.onnx", NULL, &session), QSIM_ERR_IO);
  static worker w;
  w.model = "/nonexistent/other-thread.onnx";
  pthread_t thread;
  assert_int_equal(pthread_create(&thread, NULL, fail_once, &w), 0);
  assert_int_equal(pthread_join(thread, NULL), 0);
  assert_int_equal(w.status, QSIM_ERR_IO);
  assert_non_null(strstr(w.error, "other-thread"));
  assert_error_mentions("main-thread");
}

/* ---- 8 sessions calibrating, running AdaRound and exporting at once --------------------- */

#define FULL_WORKERS 8
#define FULL_CALIB_IMAGES 64
#define MAX_EXPORT_FILES 8

typedef struct export_file {
  char name[256];
  unsigned char* bytes;
  size_t size;
} export_file;

typedef struct full_worker {
  const char* model;
  qsim_status status;
  const char* step; /* the call that failed */
  char error[512];
  export_file files[MAX_EXPORT_FILES];
  int file_count;
} full_worker;

static int compare_names(const void* a, const void* b) {
  return strcmp(((const export_file*)a)->name, ((const export_file*)b)->name);
}

/* Reads every file of `dir` into w->files (sorted by name), then removes them and `dir`. */
static int collect_files(full_worker* w, const char* dir) {
  DIR* d = opendir(dir);
  if (d == NULL) return -1;
  struct dirent* e;
  int ok = 0;
  while ((e = readdir(d)) != NULL) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (w->file_count == MAX_EXPORT_FILES) {
      ok = -1;
      break;
    }
    export_file* f = &w->files[w->file_count++];
    snprintf(f->name, sizeof f->name, "%s", e->d_name);
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
    FILE* in = fopen(path, "rb");
    if (in == NULL) {
      ok = -1;
      break;
    }
    fseek(in, 0, SEEK_END);
    f->size = (size_t)ftell(in);
    fseek(in, 0, SEEK_SET);
    f->bytes = malloc(f->size + 1);
    if (f->bytes == NULL || fread(f->bytes, 1, f->size, in) != f->size) ok = -1;
    fclose(in);
    remove(path);
    if (ok != 0) break;
  }
  closedir(d);
  rmdir(dir);
  qsort(w->files, (size_t)w->file_count, sizeof w->files[0], compare_names);
  return ok;
}

/* One session's whole life on one thread: create, calibrate, AdaRound, export. */
static void* calibrate_adaround_export(void* arg) {
  full_worker* w = arg;
  qsim_options options;
  qsim_options_init(&options, sizeof options);
  options.num_threads = 1;
  qsim_session* session = NULL;
  w->step = "qsim_create";
  w->status = qsim_create(w->model, &options, &session);
  if (w->status == QSIM_OK) {
    w->step = "qsim_calibrate";
    batch_source source = make_source(calib_images(), FULL_CALIB_IMAGES, 32);
    w->status = qsim_calibrate(session, read_source, &source, NULL, NULL);
  }
  if (w->status == QSIM_OK) {
    w->step = "qsim_adaround";
    qsim_adaround_options ada;
    qsim_adaround_options_init(&ada, sizeof(qsim_adaround_options));
    ada.num_iterations = 4;
    ada.num_samples = 32;
    batch_source source = make_source(calib_images(), FULL_CALIB_IMAGES, 32);
    w->status = qsim_adaround(session, read_source, &source, &ada, NULL, NULL);
  }
  char dir[] = "/tmp/qsim_threads_XXXXXX";
  if (w->status == QSIM_OK) {
    w->step = "qsim_export";
    if (mkdtemp(dir) == NULL) {
      w->status = QSIM_ERR_IO;
      snprintf(w->error, sizeof w->error, "mkdtemp failed");
      qsim_destroy(session);
      return NULL;
    }
    w->status = qsim_export(session, dir, NULL);
  }
  snprintf(w->error, sizeof w->error, "%s", qsim_last_error());
  if (w->status == QSIM_OK && collect_files(w, dir) != 0) {
    w->status = QSIM_ERR_IO;
    snprintf(w->error, sizeof w->error, "cannot read back the files exported into %s", dir);
  }
  qsim_destroy(session);
  return NULL;
}

static void run_full_workers(full_worker* workers, size_t count) {
  pthread_t threads[FULL_WORKERS];
  for (size_t i = 0; i < count; ++i)
    assert_int_equal(pthread_create(&threads[i], NULL, calibrate_adaround_export, &workers[i]), 0);
  for (size_t i = 0; i < count; ++i) assert_int_equal(pthread_join(threads[i], NULL), 0);
  for (size_t i = 0; i < count; ++i)
    if (workers[i].status != QSIM_OK)
      fail_msg("worker %zu: %s: %s", i, workers[i].step, workers[i].error);
}

static void free_files(full_worker* w) {
  for (int f = 0; f < w->file_count; ++f) free(w->files[f].bytes);
  w->file_count = 0;
}

/* Eight sessions on eight threads, all at once, export the same bytes as the same work alone. */
/* The process's thread count, from /proc/self/status. */
static int process_threads(void) {
  FILE* f = fopen("/proc/self/status", "r");
  assert_non_null(f);
  char line[256];
  int threads = -1;
  while (fgets(line, sizeof line, f) != NULL)
    if (sscanf(line, "Threads: %d", &threads) == 1) break;
  fclose(f);
  return threads;
}

/* The most threads the process had at any AdaRound progress call. */
static int most_threads_during(void* user, int64_t done, int64_t total, const char* message) {
  (void)done;
  (void)total;
  (void)message;
  int* most = user;
  const int now = process_threads();
  if (now > *most) *most = now;
  return 0;
}

/* One pool of workers per session: the session's float engine and its simulation's engines
   (made by the first calibration, and again by every commit) share it, and so does AdaRound
   with the session's thread count, so calibrating, running the simulation and AdaRound start
   no thread. */
static void test_one_pool_per_session(void** state) {
  (void)state;
  qsim_options options = test_options();
  options.num_threads = 4;
  const int before = process_threads();
  qsim_session* session = open_model("resnet_fmnist.onnx", &options);
  const int with_session = process_threads();
  assert_true(with_session > before);
  calibrate_default(session);
  static float logits[EVAL_IMAGES * 10];
  assert_int_equal(run_logits(session, QSIM_RUN_QUANTIZED, eval_images(), EVAL_IMAGES, logits),
                   QSIM_OK);
  assert_int_equal(run_logits(session, QSIM_RUN_FLOAT, eval_images(), EVAL_IMAGES, logits),
                   QSIM_OK);
  assert_int_equal(process_threads(), with_session);
  qsim_adaround_options adaround;
  qsim_adaround_options_init(&adaround, sizeof(qsim_adaround_options));
  adaround.num_iterations = 20;
  adaround.num_samples = 32;
  int most = 0;
  batch_source source = make_source(calib_images(), 32, CALIB_BATCH);
  assert_int_equal(
      qsim_adaround(session, read_source, &source, &adaround, most_threads_during, &most), QSIM_OK);
  assert_int_equal(most, with_session);
  qsim_destroy(session);
  assert_int_equal(process_threads(), before);
}

static void test_eight_sessions_adaround_export(void** state) {
  (void)state;
  calib_images();
  static full_worker workers[FULL_WORKERS], alone;
  char model[1024];
  snprintf(model, sizeof model, "%s", model_path("mobilenet_fmnist.onnx"));
  for (size_t i = 0; i < FULL_WORKERS; ++i) workers[i].model = model;
  alone.model = model;
  run_full_workers(&alone, 1);
  assert_int_equal(alone.file_count, 5); /* QSIM_EXPORT_ALL */
  run_full_workers(workers, FULL_WORKERS);
  for (size_t i = 0; i < FULL_WORKERS; ++i) {
    assert_int_equal(workers[i].file_count, alone.file_count);
    for (int f = 0; f < alone.file_count; ++f) {
      assert_string_equal(workers[i].files[f].name, alone.files[f].name);
      assert_int_equal(workers[i].files[f].size, alone.files[f].size);
      if (memcmp(workers[i].files[f].bytes, alone.files[f].bytes, alone.files[f].size) != 0)
        fail_msg("worker %zu: %s differs from the same work run alone", i, alone.files[f].name);
    }
    free_files(&workers[i]);
  }
  free_files(&alone);
}

int run_thread_tests(void) {
  const struct CMUnitTest tests[] = {
      cmocka_unit_test(test_two_threads_identical),
      cmocka_unit_test(test_last_error_is_per_thread),
      cmocka_unit_test(test_eight_sessions_adaround_export),
      cmocka_unit_test(test_one_pool_per_session),
  };
  return cmocka_run_group_tests_name("threads", tests, NULL, NULL);
}
