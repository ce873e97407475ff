/*
 * trail's native front: `trail status` and `trail snapshot` answered by a running `trail watch`
 * without starting Node.js. Everything else, and every case this file is not sure of, is
 * handed to the Node.js command unchanged (execv), which then does exactly what it does
 * without this front. See README.md beside this file for the contract.
 *
 * Why it exists: the daemon answers a status in ~2 ms and commits a one-file snapshot in
 * ~17 ms (3k files), but a Node.js command needs ~30 ms to start before it asks; `git status`
 * takes ~19 ms there. This front starts in ~1 ms.
 *
 * It never renders anything itself: the daemon renders the command's output with the same
 * code the Node.js command uses (src/cli/front-answers.ts), so the two cannot drift apart.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#ifndef TRAIL_VERSION
#error "TRAIL_VERSION must be defined by the build (packaging/native.mjs)"
#endif
/* The protocol of src/host/watcher-socket.ts (WATCHER_PROTOCOL). */
#define PROTOCOL 1
/* The Node.js command this front hands over to. Absolute in the Debian package; otherwise
 * bin/trail.js beside the folder this program is in (dist/trail → bin/trail.js), run by the
 * first node on PATH, as bin/trail.js's own `#!/usr/bin/env node` would be. */
#ifndef NODE_PATH
#define NODE_PATH "node"
#endif

/* How long the daemon has to take the question, and to answer it (ask-watcher.ts). */
#define ACK_MS 1000
#define ANSWER_MS 120000
/* An answer larger than this is not trail's (a status of every file of 200k is ~20 MB). */
#define MAX_ANSWER (256u << 20)

static char **g_argv;
static int g_argc;

/* Hands the whole command to Node.js. Never returns. */
static void hand_over(void) {
  char js[PATH_MAX];
#ifdef TRAIL_JS
  snprintf(js, sizeof js, "%s", TRAIL_JS);
#else
  char self[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n <= 0) {
    fprintf(stderr, "trail: cannot find itself (/proc/self/exe): %s\n", strerror(errno));
    exit(1);
  }
  self[n] = '\0';
  /* dist/trail → the package's folder */
  for (int up = 0; up < 2; up++) {
    char *slash = strrchr(self, '/');
    if (slash) *slash = '\0';
  }
  if (snprintf(js, sizeof js, "%s/bin/trail.js", self) >= (int)sizeof js) {
    fprintf(stderr, "trail: path too long\n");
    exit(1);
  }
#endif
  char **args = calloc((size_t)g_argc + 2, sizeof *args);
  if (!args) exit(1);
  args[0] = (char *)"node";
  args[1] = js;
  for (int i = 1; i < g_argc; i++) args[i + 1] = g_argv[i];
  if (strchr(NODE_PATH, '/'))
    execv(NODE_PATH, args);
  else
    execvp(NODE_PATH, args);
  fprintf(stderr, "trail: cannot run %s: %s\n", NODE_PATH, strerror(errno));
  exit(1);
}

/* A growing byte buffer. */
struct buf {
  char *p;
  size_t len, cap;
};

static void put(struct buf *b, const char *s, size_t n) {
  if (b->len + n + 1 > b->cap) {
    size_t cap = b->cap ? b->cap : 256;
    while (cap < b->len + n + 1) cap *= 2;
    char *p = realloc(b->p, cap);
    if (!p) hand_over();
    b->p = p;
    b->cap = cap;
  }
  memcpy(b->p + b->len, s, n);
  b->len += n;
  b->p[b->len] = '\0';
}

static void puts_(struct buf *b, const char *s) { put(b, s, strlen(s)); }

/* Whether s is well-formed UTF-8: Node.js reads argv and paths as UTF-8, and replaces what
 * is not; the front hands such text over rather than send other bytes than Node would. */
static int utf8_ok(const unsigned char *s) {
  while (*s) {
    unsigned c = *s, n;
    if (c < 0x80) n = 0;
    else if ((c & 0xe0) == 0xc0 && c >= 0xc2) n = 1;
    else if ((c & 0xf0) == 0xe0) n = 2;
    else if ((c & 0xf8) == 0xf0 && c <= 0xf4) n = 3;
    else return 0;
    unsigned long cp = c & (0x3f >> n);
    for (unsigned i = 1; i <= n; i++) {
      if ((s[i] & 0xc0) != 0x80) return 0;
      cp = (cp << 6) | (s[i] & 0x3f);
    }
    if ((n == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) || (n == 3 && (cp < 0x10000 || cp > 0x10ffff)))
      return 0;
    s += n + 1;
  }
  return 1;
}

/* A JSON string; hands over when s is not UTF-8. */
static void put_json_string(struct buf *b, const char *s) {
  if (!utf8_ok((const unsigned char *)s)) hand_over();
  puts_(b, "\"");
  for (; *s; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') {
      char e[3] = {'\\', (char)c, 0};
      puts_(b, e);
    } else if (c < 0x20) {
      char e[8];
      snprintf(e, sizeof e, "\\u%04x", c);
      puts_(b, e);
    } else
      put(b, (const char *)&c, 1);
  }
  puts_(b, "\"");
}

/* --- Reading the daemon's header lines: flat JSON objects of scalars. ---------------------- */

/* The raw text of key's value in a flat JSON object (a string with its quotes, a number,
 * true, false, null), or 0 when it is absent or the line is no such object. */
static int json_field(const char *line, const char *key, char *val, size_t cap) {
  const char *p = line;
  while (*p == ' ') p++;
  if (*p++ != '{') return 0;
  for (;;) {
    while (*p == ' ') p++;
    if (*p == '}') return 0;
    if (*p != '"') return 0;
    const char *k = ++p;
    while (*p && *p != '"') {
      if (*p == '\\' && p[1]) p++;
      p++;
    }
    if (!*p) return 0;
    size_t klen = (size_t)(p - k);
    p++;
    while (*p == ' ') p++;
    if (*p++ != ':') return 0;
    while (*p == ' ') p++;
    const char *v = p;
    if (*p == '"') {
      p++;
      while (*p && *p != '"') {
        if (*p == '\\' && p[1]) p++;
        p++;
      }
      if (!*p) return 0;
      p++;
    } else if (*p == '{' || *p == '[') {
      return 0; /* not flat: not a line this front reads */
    } else {
      while (*p && *p != ',' && *p != '}' && *p != ' ') p++;
    }
    size_t vlen = (size_t)(p - v);
    if (klen == strlen(key) && !strncmp(k, key, klen)) {
      if (vlen + 1 > cap || vlen == 0) return 0;
      memcpy(val, v, vlen);
      val[vlen] = '\0';
      return 1;
    }
    while (*p == ' ') p++;
    if (*p == ',') p++;
    else if (*p == '}') return 0;
    else return 0;
  }
}

static int field_is(const char *line, const char *key, const char *want) {
  char v[128];
  return json_field(line, key, v, sizeof v) && !strcmp(v, want);
}

/* A non-negative integer field, or -1. */
static long long field_count(const char *line, const char *key) {
  char v[32];
  if (!json_field(line, key, v, sizeof v)) return -1;
  char *end;
  errno = 0;
  long long n = strtoll(v, &end, 10);
  if (errno || *end || n < 0) return -1;
  return n;
}

/* --- The connection. ----------------------------------------------------------------------- */

static long long now_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (long long)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* Reads from fd into b until it holds `want` bytes (or a newline, when want is 0), EOF, or
 * the deadline. Returns 1 when it got what it wanted. */
static int read_until(int fd, struct buf *b, size_t want, long long deadline) {
  for (;;) {
    if (want ? b->len >= want : (b->p && memchr(b->p, '\n', b->len) != NULL)) return 1;
    long long left = deadline - now_ms();
    if (left <= 0) return 0;
    struct pollfd pfd = {.fd = fd, .events = POLLIN};
    int r = poll(&pfd, 1, (int)(left > INT_MAX ? INT_MAX : left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) return 0;
    char chunk[65536];
    ssize_t n = read(fd, chunk, sizeof chunk);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return 0;
    if (b->len + (size_t)n > MAX_ANSWER) return 0;
    put(b, chunk, (size_t)n);
  }
}

/* Takes the first line out of b into line (NUL-terminated, without its newline). */
static void take_line(struct buf *b, struct buf *line) {
  char *nl = memchr(b->p, '\n', b->len);
  size_t n = (size_t)(nl - b->p);
  line->len = 0;
  put(line, b->p, n);
  memmove(b->p, nl + 1, b->len - n - 1);
  b->len -= n + 1;
  b->p[b->len] = '\0';
}

/* Writes all of p. To the daemon's socket with MSG_NOSIGNAL (a daemon that closed is no
 * reason to die of SIGPIPE: the command is handed over) and until `deadline` only: a daemon
 * that does not read is given up on, as Node.js's client gives up on it. To stdout and stderr
 * (deadline -1) until all is written: a descriptor another program left non-blocking says
 * EAGAIN when full, which is a reason to wait, not to drop the rest. */
static int write_all(int fd, const char *p, size_t n, int sock, long long deadline) {
  while (n) {
    ssize_t w = sock ? send(fd, p, n, MSG_NOSIGNAL) : write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
      long long left = deadline < 0 ? -1 : deadline - now_ms();
      if (deadline >= 0 && left <= 0) return 0;
      struct pollfd pfd = {.fd = fd, .events = POLLOUT};
      if (poll(&pfd, 1, left < 0 ? -1 : (int)(left > INT_MAX ? INT_MAX : left)) < 0 && errno != EINTR) return 0;
      continue;
    }
    if (w <= 0) return 0;
    p += w;
    n -= (size_t)w;
  }
  return 1;
}

/* An absolute path without "." or ".." segments: Node.js resolves those lexically, the kernel
 * after following symlinks, so only a plain path is certain to name the same folder. And
 * UTF-8: Node.js reads the environment as UTF-8 and replaces what is not, so it looks for
 * another folder than these bytes name. */
static int plain_path(const char *p) {
  if (p[0] != '/' || !utf8_ok((const unsigned char *)p)) return 0;
  for (const char *s = p; (s = strchr(s, '/')); s++) {
    const char *seg = s + 1;
    size_t n = strcspn(seg, "/");
    if ((n == 1 && seg[0] == '.') || (n == 2 && seg[0] == '.' && seg[1] == '.')) return 0;
  }
  return 1;
}

/* Whether body's len bytes are whole records "FD LENGTH\n" + LENGTH bytes, FD 1 or 2, LENGTH
 * decimal digits; with out >= 0, also writes each record's bytes to out (FD 1) or err (FD 2),
 * in order. Reads nothing past len (no NUL is needed or trusted: output may hold any byte). */
static int records(const char *body, size_t len, int out, int err) {
  size_t at = 0;
  while (at < len) {
    /* the shortest record is "1 0\n" */
    if (len - at < 4 || (body[at] != '1' && body[at] != '2') || body[at + 1] != ' ') return 0;
    size_t i = at + 2, n = 0;
    if (body[i] < '0' || body[i] > '9') return 0;
    while (i < len && body[i] >= '0' && body[i] <= '9') {
      n = n * 10 + (size_t)(body[i++] - '0');
      if (n > len) return 0; /* longer than the answer; and n * 10 cannot overflow */
    }
    if (i >= len || body[i] != '\n' || n > len - i - 1) return 0;
    /* A reader that went away (`| head`) is not an error of trail's. */
    if (out >= 0) write_all(body[at] == '1' ? out : err, body + i + 1, n, 0, -1);
    at = i + 1 + n;
  }
  return 1;
}

/* Where trail watch answers (src/host/watcher-socket.ts, watcherSocketDir); 0 when this
 * front would not find it the same way, and hands over. */
static int socket_dir(char *dir, size_t cap) {
  const char *home = getenv("TRAIL_HOME");
  int n;
  if (home && *home) {
    if (!plain_path(home)) return 0;
    n = snprintf(dir, cap, "%s/run", home);
  } else if (geteuid() == 0) {
    n = snprintf(dir, cap, "/run/trail");
  } else {
    const char *data = getenv("XDG_DATA_HOME"), *h = getenv("HOME");
    if (data && *data) {
      if (!plain_path(data)) return 0;
      n = snprintf(dir, cap, "%s/trail/run", data);
    } else if (h && plain_path(h)) {
      n = snprintf(dir, cap, "%s/.local/share/trail/run", h);
    } else
      return 0;
  }
  if (n <= 0 || (size_t)n >= cap) return 0;
  /* "/etc/" and "/etc" are one folder to Node; the socket path is built the same way. */
  while (n > 1 && dir[n - 1] == '/') dir[--n] = '\0';
  return 1;
}

/* The socket of the watched directory named, or of the only one answering; 0: hand over
 * (none, several and no --name: the Node.js command says which or why). */
static int socket_path(const char *name, struct sockaddr_un *addr) {
  char dir[PATH_MAX];
  if (!socket_dir(dir, sizeof dir)) return 0;
  char file[NAME_MAX + 1];
  if (name) {
    if (!*name || strchr(name, '/') || strlen(name) + 5 >= sizeof file) return 0;
    snprintf(file, sizeof file, "%s.sock", name);
  } else {
    DIR *d = opendir(dir);
    if (!d) return 0;
    int found = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
      size_t l = strlen(e->d_name);
      if (l > 5 && !strcmp(e->d_name + l - 5, ".sock") && e->d_type != DT_DIR) {
        if (found++) break;
        snprintf(file, sizeof file, "%s", e->d_name);
      }
    }
    closedir(d);
    if (found != 1) return 0;
  }
  memset(addr, 0, sizeof *addr);
  addr->sun_family = AF_UNIX;
  /* sockaddr_un holds 108 bytes with the NUL (socketPathFits). */
  int n = snprintf(addr->sun_path, sizeof addr->sun_path, "%s/%s", dir, file);
  return n > 0 && (size_t)n < sizeof addr->sun_path;
}

/* TRAIL_WATCHER_TIMEOUT_MS as ask-watcher.ts reads it, `Number(v) || 1000`: unset, empty or
 * 0 is 1 s, digits are milliseconds. Any other text (-1, 1e3, 0x10, " 5") and any number
 * setTimeout does not take (over 2^31-1 ms: Node.js warns and waits 1 ms) Node.js reads its
 * own way: handed over. (atoll took "1e3" for 1 ms and "-1" for 1 s, and overflowed the
 * deadline with 20 digits.) */
static long long ack_timeout(void) {
  const char *t = getenv("TRAIL_WATCHER_TIMEOUT_MS");
  long long ms = 0;
  for (const char *c = t ? t : ""; *c; c++) {
    if (*c < '0' || *c > '9') hand_over();
    ms = ms * 10 + (*c - '0');
    if (ms > INT_MAX) hand_over();
  }
  return ms ? ms : ACK_MS;
}

/* The person running this command, as invokingUser() in src/util/accounts.ts: the sudo
 * caller, else the audit login uid's name, else the effective user's. */
static const char *invoking_user(char *scratch, size_t cap) {
  const char *sudo = getenv("SUDO_USER");
  if (sudo && *sudo) return sudo;
  FILE *f = fopen("/proc/self/loginuid", "r");
  if (f) {
    unsigned long auid;
    int got = fscanf(f, "%lu", &auid);
    fclose(f);
    if (got == 1 && auid != 4294967295UL) {
      struct passwd *pw = getpwuid((uid_t)auid);
      if (pw && pw->pw_name) return pw->pw_name;
    }
  }
  struct passwd *pw = getpwuid(geteuid());
  if (pw && pw->pw_name) return pw->pw_name;
  snprintf(scratch, cap, "uid%u", (unsigned)geteuid());
  return scratch;
}

int main(int argc, char **argv) {
  g_argc = argc;
  g_argv = argv;
  const char *cmd = NULL, *name = NULL, *message = NULL;
  int json = 0;
  /* Only the exact forms below; anything else (help, --full, a typo) is Node's to read. */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--json"))
      json = 1;
    else if (!strcmp(a, "--name") && i + 1 < argc)
      name = argv[++i];
    else if (!strncmp(a, "--name=", 7))
      name = a + 7;
    else if (!cmd && (!strcmp(a, "status") || !strcmp(a, "snapshot")))
      cmd = a;
    else if (cmd && !strcmp(cmd, "snapshot") && !message && (!strcmp(a, "-m") || !strcmp(a, "--message")) &&
             i + 1 < argc)
      message = argv[++i];
    else if (cmd && !strcmp(cmd, "snapshot") && !message && !strncmp(a, "--message=", 10))
      message = a + 10;
    else if (cmd && !strcmp(cmd, "snapshot") && !message && !strncmp(a, "-m", 2) && a[2])
      message = a + 2;
    else
      hand_over();
  }
  if (!cmd) hand_over();
  const char *no = getenv("TRAIL_NO_WATCHER");
  if (no && !strcmp(no, "1")) hand_over();
  /* A value that looks like an option is left to commander's rules. */
  if ((name && name[0] == '-') || (message && message[0] == '-')) hand_over();

  struct sockaddr_un addr;
  if (!socket_path(name, &addr)) hand_over();
  /* The daemon has ack_ms to take the question, from the connection on, as in Node.js's
   * client. Non-blocking: a daemon whose queue of connections is full (stopped, stuck) makes
   * connect() fail with EAGAIN at once, where a blocking one waited for ever. */
  long long ack_ms = ack_timeout();
  long long ack_deadline = now_ms() + ack_ms;
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
  if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) hand_over();

  char cwd[PATH_MAX];
  if (!getcwd(cwd, sizeof cwd)) hand_over();
  /* Colour as makeOut() in src/cli/output.ts decides it. */
  const char *nocolor = getenv("NO_COLOR"), *term = getenv("TERM");
  int color = isatty(1) && !(nocolor && *nocolor) && !(term && !strcmp(term, "dumb"));

  struct buf req = {0};
  puts_(&req, "{\"trail\":1,\"version\":");
  put_json_string(&req, TRAIL_VERSION);
  puts_(&req, ",\"op\":");
  put_json_string(&req, cmd);
  if (!strcmp(cmd, "snapshot")) {
    char scratch[32];
    puts_(&req, ",\"actor\":{\"name\":");
    put_json_string(&req, invoking_user(scratch, sizeof scratch));
    puts_(&req, "}");
    if (message) {
      puts_(&req, ",\"message\":");
      put_json_string(&req, message);
    }
  }
  puts_(&req, ",\"render\":{\"json\":");
  puts_(&req, json ? "true" : "false");
  puts_(&req, ",\"color\":");
  puts_(&req, color ? "true" : "false");
  puts_(&req, ",\"cwd\":");
  put_json_string(&req, cwd);
  if (name) {
    puts_(&req, ",\"name\":");
    put_json_string(&req, name);
  }
  puts_(&req, "}}\n");
  if (!write_all(fd, req.p, req.len, 1, ack_deadline)) hand_over();

  struct buf in = {0}, line = {0};
  /* The first line: will it answer? (another version or protocol, a refusal: hand over) */
  if (!read_until(fd, &in, 0, ack_deadline)) hand_over();
  take_line(&in, &line);
  char want[64];
  snprintf(want, sizeof want, "\"%s\"", TRAIL_VERSION);
  if (!field_is(line.p, "trail", "1") || !field_is(line.p, "version", want) || !field_is(line.p, "accepted", "true"))
    hand_over();
  /* The second: the command's exit code and the size of its output, which follows as
   * records "FD LENGTH\n" + LENGTH bytes, in the order the command wrote them. */
  long long deadline = now_ms() + ANSWER_MS;
  if (!read_until(fd, &in, 0, deadline)) hand_over();
  take_line(&in, &line);
  long long code = field_count(line.p, "exit"), bytes = field_count(line.p, "bytes");
  if (!field_is(line.p, "ok", "true") || code < 0 || code > 255 || bytes < 0 || (unsigned long long)bytes > MAX_ANSWER)
    hand_over();
  if (!read_until(fd, &in, (size_t)bytes, deadline)) hand_over();
  close(fd);
  /* Checked whole before anything is written: a garbled answer is handed over, not half
   * printed. Then written, and handed over no more: SIGPIPE is ignored from there on, as
   * Node.js ignores it, so that a reader that went away (`| head`) makes the writes to it
   * fail and the command still exits with its own code, not killed by the signal. */
  if (!records(in.p, (size_t)bytes, -1, -1)) hand_over();
  signal(SIGPIPE, SIG_IGN);
  records(in.p, (size_t)bytes, 1, 2);
  return (int)code;
}
