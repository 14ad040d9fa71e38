/* Replays saved inputs through a fuzz target without libFuzzer, so that every build (g++,
   release or ASan + UBSan) runs the committed reproducers and seed corpus as a regression
   test (ctest fuzz_replay_<target>). Arguments: files, or folders whose files are replayed
   (names starting with '.' and README files skipped). Exit 0 when every input ran; a crash or
   a sanitizer report ends the process as it would under libFuzzer. */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);
int LLVMFuzzerInitialize(int* argc, char*** argv) __attribute__((weak));

static int replay_file(const char* path) {
  FILE* f = fopen(path, "rb");
  if (f == NULL) {
    fprintf(stderr, "replay: cannot open %s\n", path);
    return 1;
  }
  uint8_t* data = NULL;
  size_t size = 0, capacity = 0;
  for (;;) {
    if (size == capacity) {
      capacity = capacity == 0 ? 4096 : 2 * capacity;
      uint8_t* grown = realloc(data, capacity);
      if (grown == NULL) {
        fprintf(stderr, "replay: out of memory reading %s\n", path);
        free(data);
        fclose(f);
        return 1;
      }
      data = grown;
    }
    const size_t n = fread(data + size, 1, capacity - size, f);
    if (n == 0) break;
    size += n;
  }
  fclose(f);
  LLVMFuzzerTestOneInput(data, size);
  free(data);
  return 0;
}

static int skipped(const char* name) {
  return name[0] == '.' || strncmp(name, "README", 6) == 0;
}

int main(int argc, char** argv) {
  if (LLVMFuzzerInitialize != NULL) LLVMFuzzerInitialize(&argc, &argv);
  int failures = 0, replayed = 0;
  for (int a = 1; a < argc; ++a) {
    struct stat st;
    if (stat(argv[a], &st) != 0) continue; /* a target may have no reproducers yet */
    if (!S_ISDIR(st.st_mode)) {
      failures += replay_file(argv[a]);
      ++replayed;
      continue;
    }
    DIR* dir = opendir(argv[a]);
    if (dir == NULL) continue;
    for (struct dirent* e = readdir(dir); e != NULL; e = readdir(dir)) {
      if (skipped(e->d_name)) continue;
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", argv[a], e->d_name);
      if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) continue;
      failures += replay_file(path);
      ++replayed;
    }
    closedir(dir);
  }
  printf("replayed %d inputs\n", replayed);
  return failures == 0 ? 0 : 1;
}
