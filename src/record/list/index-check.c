// The stat index checked in C (a Node-API addon, built to dist/index-check.node by
// packaging/native.mjs): the same question as checkPaths() in index-check.ts — is every
// indexed path still there with the same dev, ino, size, mtime and ctime? — asked where git
// asks it, without a JavaScript object per path.
//
// Why: at 50k files `trail status` without a daemon spent ~230 ms on two threads in Node's
// lstatSync (a Stats object and four Dates per path, their garbage collection, a reader
// thread that takes ~65 ms to start), where this loop takes ~85 ms. The answer must be the
// JavaScript check's, number for number:
//   - the numbers are libuv's: statx(AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT), st_dev as
//     makedev(major, minor), and milliseconds as Node computes them (sec * 1000 + nsec / 1e6,
//     in doubles, with no fused multiply-add: the build passes -ffp-contract=off);
//   - paths are looked up relative to the root's folder (opened once) rather than as
//     root + '/' + path: the same lookup, one path walk shorter;
//   - any failure (a path gone, unreadable, too long, a thread that cannot start for
//     the first piece) is "differs" or fewer threads, never "same": a wrong "differs" costs a
//     listing, a wrong "same" would hide a change. The tests compare both checks on trees
//     changed at random (test/record/model/stat-index.test.ts).
//
// check(root: string, names: Buffer (NUL-separated, count of them), count: number,
//       stats: Float64Array (5 per path), threads: number)
//   -> Promise<[files, dirs, bytes] | null>      null: some path differs
// It runs on libuv's thread pool (the event loop goes on: the daemon checks too) and starts
// threads - 1 more threads of its own.
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <errno.h>
#include <fcntl.h>
#include <node_api.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

enum { FIELDS = 5, PIECE = 512, MAX_THREADS = 64 };

typedef struct {
  napi_async_work work;
  napi_deferred deferred;
  char *root;
  char *names;      // the names, each NUL-terminated (a copy: nothing JavaScript can move)
  char **paths;     // count pointers into names
  double *stats;    // a copy of the index's numbers
  size_t count;
  int threads;
  int dir;          // the root's folder, O_PATH
  atomic_size_t next;
  atomic_int differs;
  atomic_uint_fast64_t files, dirs, bytes;
} Job;

static double ms(int64_t sec, uint32_t nsec) {
  return (double)sec * 1000.0 + (double)nsec / 1000000.0;
}

static int same(Job *j, size_t i) {
  const char *p = j->paths[i];
  // Indexed paths are relative to the root; an absolute one would make statx ignore the
  // root's folder and look outside it (the JavaScript check would look at root + "//…").
  if (*p == '/') return 0;
  struct statx sx;
  int flags = AT_SYMLINK_NOFOLLOW | AT_STATX_SYNC_AS_STAT | (*p ? 0 : AT_EMPTY_PATH);
  if (statx(j->dir, p, flags, STATX_BASIC_STATS, &sx) != 0) return 0;
  const double *o = j->stats + i * FIELDS;
  if (o[0] != (double)makedev(sx.stx_dev_major, sx.stx_dev_minor) || o[1] != (double)sx.stx_ino ||
      o[2] != (double)sx.stx_size || o[3] != ms(sx.stx_mtime.tv_sec, sx.stx_mtime.tv_nsec) ||
      o[4] != ms(sx.stx_ctime.tv_sec, sx.stx_ctime.tv_nsec))
    return 0;
  if (S_ISREG(sx.stx_mode)) {
    atomic_fetch_add_explicit(&j->files, 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&j->bytes, sx.stx_size, memory_order_relaxed);
  } else if (S_ISDIR(sx.stx_mode))
    atomic_fetch_add_explicit(&j->dirs, 1, memory_order_relaxed);
  return 1;
}

static void *worker(void *arg) {
  Job *j = arg;
  for (;;) {
    size_t from = atomic_fetch_add(&j->next, PIECE);
    if (from >= j->count) break;
    size_t to = from + PIECE < j->count ? from + PIECE : j->count;
    for (size_t i = from; i < to; i++) {
      if (atomic_load_explicit(&j->differs, memory_order_relaxed)) return NULL;
      if (!same(j, i)) {
        atomic_store(&j->differs, 1);
        return NULL;
      }
    }
  }
  return NULL;
}

static void execute(napi_env env, void *data) {
  (void)env;
  Job *j = data;
  j->dir = open(j->root, O_PATH | O_DIRECTORY | O_CLOEXEC);
  if (j->dir < 0) {
    atomic_store(&j->differs, 1);
    return;
  }
  pthread_t extra[MAX_THREADS];
  int started = 0;
  while (started < j->threads - 1 && pthread_create(&extra[started], NULL, worker, j) == 0) started++;
  worker(j);
  for (int k = 0; k < started; k++) pthread_join(extra[k], NULL);
  close(j->dir);
}

static void release(Job *j) {
  free(j->root);
  free(j->names);
  free(j->paths);
  free(j->stats);
  free(j);
}

static void complete(napi_env env, napi_status status, void *data) {
  Job *j = data;
  napi_value result;
  if (status != napi_ok || atomic_load(&j->differs)) {
    napi_get_null(env, &result);
  } else {
    napi_create_array_with_length(env, 3, &result);
    uint64_t v[3] = {atomic_load(&j->files), atomic_load(&j->dirs), atomic_load(&j->bytes)};
    for (uint32_t k = 0; k < 3; k++) {
      napi_value n;
      napi_create_double(env, (double)v[k], &n);
      napi_set_element(env, result, k, n);
    }
  }
  napi_resolve_deferred(env, j->deferred, result);
  napi_delete_async_work(env, j->work);
  release(j);
}

static napi_value fail(napi_env env, const char *message) {
  napi_throw_type_error(env, NULL, message);
  return NULL;
}

static napi_value check(napi_env env, napi_callback_info info) {
  size_t argc = 5;
  napi_value argv[5];
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc != 5)
    return fail(env, "check(root, names, count, stats, threads)");

  size_t rootLength;
  if (napi_get_value_string_utf8(env, argv[0], NULL, 0, &rootLength) != napi_ok) return fail(env, "root: a string");
  void *names;
  size_t namesLength;
  bool isBuffer;
  if (napi_is_buffer(env, argv[1], &isBuffer) != napi_ok || !isBuffer ||
      napi_get_buffer_info(env, argv[1], &names, &namesLength) != napi_ok)
    return fail(env, "names: a Buffer");
  int64_t count, threads;
  if (napi_get_value_int64(env, argv[2], &count) != napi_ok || count < 0) return fail(env, "count: a number");
  napi_typedarray_type type;
  size_t length;
  void *stats;
  bool isTyped;
  if (napi_is_typedarray(env, argv[3], &isTyped) != napi_ok || !isTyped ||
      napi_get_typedarray_info(env, argv[3], &type, &length, &stats, NULL, NULL) != napi_ok ||
      type != napi_float64_array || length != (size_t)count * FIELDS)
    return fail(env, "stats: a Float64Array of 5 numbers per path");
  if (napi_get_value_int64(env, argv[4], &threads) != napi_ok) return fail(env, "threads: a number");

  Job *j = calloc(1, sizeof *j);
  if (!j) return fail(env, "out of memory");
  j->count = (size_t)count;
  j->threads = threads < 1 ? 1 : threads > MAX_THREADS ? MAX_THREADS : (int)threads;
  j->root = malloc(rootLength + 1);
  j->names = malloc(namesLength + 1);
  j->paths = malloc((j->count ? j->count : 1) * sizeof *j->paths);
  j->stats = malloc((j->count ? j->count : 1) * FIELDS * sizeof(double));
  if (!j->root || !j->names || !j->paths || !j->stats) {
    release(j);
    return fail(env, "out of memory");
  }
  napi_get_value_string_utf8(env, argv[0], j->root, rootLength + 1, &rootLength);
  // (An empty Buffer or array may have no data pointer: memcpy must not be given it.)
  if (namesLength) memcpy(j->names, names, namesLength);
  j->names[namesLength] = 0;
  if (j->count) memcpy(j->stats, stats, j->count * FIELDS * sizeof(double));
  // Split at the NULs: exactly count names, or the index is not what it says (differs).
  size_t n = 0;
  if (j->count) {
    j->paths[n++] = j->names;
    for (size_t k = 0; k < namesLength; k++)
      if (j->names[k] == 0) {
        if (n == j->count) {
          n++;
          break;
        }
        j->paths[n++] = j->names + k + 1;
      }
  } else if (namesLength)
    n = 1;
  if (n != j->count) atomic_store(&j->differs, 1);

  napi_value promise, name;
  napi_create_promise(env, &j->deferred, &promise);
  napi_create_string_utf8(env, "trail index check", NAPI_AUTO_LENGTH, &name);
  if (napi_create_async_work(env, NULL, name, execute, complete, j, &j->work) != napi_ok ||
      napi_queue_async_work(env, j->work) != napi_ok) {
    release(j);
    return fail(env, "cannot queue the check");
  }
  return promise;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "check", NAPI_AUTO_LENGTH, check, NULL, &fn);
  napi_set_named_property(env, exports, "check", fn);
  return exports;
}
