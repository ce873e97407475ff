/*
 * libFuzzer harness for the parts of src/cli/front/front.c that read the daemon's bytes: the
 * header lines (json_field, field_is, field_count) and the "FD LENGTH\n" records (records).
 * The input is a whole reply as main reads it: two lines, then the records. Not part of
 * npm test; how to run it: README.md beside this file.
 */
#define main front_main
#include "../../../src/cli/front/front.c"
#undef main
#include <fcntl.h>
#include <stdint.h>

/* A copy in a block of exactly its size, so that AddressSanitizer sees a read past it. */
static char *exact(const char *p, size_t n) {
  char *c = malloc(n + 1);
  if (!c) abort();
  memcpy(c, p, n);
  c[n] = '\0';
  return c;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  static int devnull = -1;
  if (devnull < 0) devnull = open("/dev/null", O_WRONLY);
  struct buf in = {0}, line = {0};
  put(&in, (const char *)data, size);
  for (int k = 0; k < 2 && memchr(in.p, '\n', in.len); k++) {
    take_line(&in, &line);
    char *l = exact(line.p, line.len);
    (void)field_is(l, "trail", "1");
    (void)field_is(l, "version", "\"" TRAIL_VERSION "\"");
    (void)field_is(l, "accepted", "true");
    (void)field_is(l, "ok", "true");
    (void)field_count(l, "exit");
    (void)field_count(l, "bytes");
    free(l);
  }
  /* records never reads past len: the copy has no NUL after it */
  char *body = malloc(in.len ? in.len : 1);
  if (!body) abort();
  memcpy(body, in.p, in.len);
  if (records(body, in.len, -1, -1)) records(body, in.len, devnull, devnull);
  free(body);
  free(in.p);
  free(line.p);
  return 0;
}
