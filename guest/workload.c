// vb-workload: the program the lab's guests run (static, no libraries beyond libc).
//
// CPU: one thread per online vCPU, pinned to it, busy for `duty` of every period (100 ms unless
// told: `duty@ms` gives a vCPU its own period, 10 ms to 60 s), clock-bound: the rest of a period is
// slept relative to when its burst began, so a burst kept waiting is never made up.
// Memory: allocates, touches and frees 1 MiB chunks to move toward a target at a rate,
// holds, then releases, following a schedule.
// Disk: reads the guest's virtio disk (/dev/vda, opened once at start and kept open: Linux drops a
// block device's page cache when its last opener closes it) with buffered pread, so what is read
// lands in the page cache as file data does: a one-time scan of data never read before (cold), and
// a hot set re-read every few seconds. The hot set is the last MiB of the disk, scans walk the rest.
// Control: reads one-line commands from the virtio-serial port named org.virtbalance.workload
// and answers each with one line. The kernel command line sets the initial workload:
//   vb.cpu=0.8            duty for every vCPU (or 0.8,0.2 per vCPU; 0.4@50 = 40 % of every 50 ms)
//   vb.mem=rate=40,target=900,hold=10,release=0
// Protocol (a request may start with `#<id> `; the reply then starts with the same id):
//   cpu <duty>[@<ms>][,<duty>[@<ms>]...]   -> ok cpu=...   (period 100 ms where no @<ms>; shown only when not 100)
//   mem rate=<MiB/s> target=<MiB> [hold=<s>] [release=<MiB/s>]   -> ok mem ...
//   mem release                     -> ok mem ...
//   scan <MiB> [rate=<MiB/s>]       -> ok <status>   read MiB of fresh data once (rate 0/absent = flat out)
//   scan stop                       -> ok <status>
//   hot <MiB> every=<s> [rate=<MiB/s>] -> ok <status>  re-read the hot set every s seconds
//   hot off                         -> ok <status>
//   drop                            -> ok <status>   drop the guest's clean page cache (drop_caches)
//   probe on | probe off            -> ok <status>   latency probe: wake every 10 ms (clock_nanosleep,
//                                                    absolute deadlines, SCHED_FIFO when allowed) and
//                                                    record how late each wake-up is; `on` starts afresh;
//                                                    status reports p50/p99/max lateness since then
//   status                          -> ok <key=value ...>
//   ping                            -> ok pong
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <linux/fs.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#define PORT_NAME "org.virtbalance.workload"
#define MAX_CPUS 256
#define DEFAULT_PERIOD_US 100000L
#define MIN_PERIOD_MS 10.0
#define MAX_PERIOD_MS 60000.0
// A burner sleeps at most this long at once, so a new duty or period takes hold within it.
#define SLICE_NS 100000000LL
#define CHUNK_BYTES (1024L * 1024L)
#define MAX_CHUNKS (1024 * 1024)
#define DISK_PATH "/dev/vda"
#define READ_BYTES (1024L * 1024L)
#define MIB (1024L * 1024L)

static int ncpus;
// Duty per vCPU in millionths and period per vCPU in µs; read lock-free by the burner threads.
static _Atomic long duty_ppm[MAX_CPUS];
static _Atomic long period_us[MAX_CPUS];
// Bumped by every `cpu` command: a burner in the middle of a (long) period starts a new one.
static _Atomic unsigned cpu_generation;

enum phase { PHASE_IDLE, PHASE_GROW, PHASE_HOLD, PHASE_RELEASE };
static const char *phase_names[] = {"idle", "grow", "hold", "release"};

static pthread_mutex_t mem_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  double rate;          // MiB/s toward target
  long target;          // MiB
  double hold;          // seconds to hold at target, <0 = until told
  double release_rate;  // MiB/s when releasing, 0 = at once
  enum phase phase;
  double hold_until;    // monotonic seconds
  double budget;        // MiB we may still move this tick (fractional carry)
} mem = {0, 0, -1, 0, PHASE_IDLE, 0, 0};
static void **chunks;
static long nchunks;
static long peak_chunks;

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

// Notes go to the console so the lab's console log tells what the guest did.
static void note(const char *fmt, ...) {
  char buf[512];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  fprintf(stderr, "vb-workload: %s\n", buf);
}

// Latency probe: wake-up lateness in µs since the last `probe on` (the newest PROBE_MAX if more).
#define PROBE_PERIOD_NS 10000000LL
#define PROBE_MAX 120000
static pthread_mutex_t probe_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t probe_cond = PTHREAD_COND_INITIALIZER;
static int probe_on;
static unsigned probe_generation;
static int *probe_samples;
static long probe_count;  // samples taken since `probe on` (the ring keeps the newest PROBE_MAX)

static void *probe_loop(void *arg) {
  (void)arg;
  struct sched_param sp = {.sched_priority = 50};
  if (pthread_setschedparam(pthread_self(), SCHED_FIFO, &sp) != 0) note("probe: SCHED_FIFO not allowed, runs at normal priority");
  for (;;) {
    pthread_mutex_lock(&probe_lock);
    while (!probe_on) pthread_cond_wait(&probe_cond, &probe_lock);
    unsigned generation = probe_generation;
    pthread_mutex_unlock(&probe_lock);
    long long next = now_ns() + PROBE_PERIOD_NS;
    for (;;) {
      struct timespec ts = {next / 1000000000LL, next % 1000000000LL};
      while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &ts, NULL) == EINTR) {}
      long long late = now_ns() - next;
      pthread_mutex_lock(&probe_lock);
      int still = probe_on && probe_generation == generation;
      if (still) probe_samples[probe_count++ % PROBE_MAX] = (int)(late / 1000 > 2000000000LL ? 2000000000LL : late / 1000);
      pthread_mutex_unlock(&probe_lock);
      if (!still) break;
      // A wake-up later than a whole period skips the deadlines it missed (each is counted once, as its lateness).
      next += PROBE_PERIOD_NS;
      long long now = now_ns();
      if (next <= now) next += ((now - next) / PROBE_PERIOD_NS + 1) * PROBE_PERIOD_NS;
    }
  }
  return NULL;
}

static int set_probe(const char *spec, char *err, size_t errlen) {
  int on = strcmp(spec, "on") == 0;
  if (!on && strcmp(spec, "off") != 0) {
    snprintf(err, errlen, "probe takes on or off");
    return -1;
  }
  pthread_mutex_lock(&probe_lock);
  if (on) {
    probe_count = 0;
    probe_generation++;
  }
  probe_on = on;
  pthread_cond_broadcast(&probe_cond);
  pthread_mutex_unlock(&probe_lock);
  note("probe %s", on ? "on" : "off");
  return 0;
}

static int compare_int(const void *a, const void *b) {
  int x = *(const int *)a, y = *(const int *)b;
  return (x > y) - (x < y);
}

// p50, p99 and max lateness (µs) of the samples kept; -1 when there are none.
static void probe_figures(long *count, int *on, long *p50, long *p99, long *max) {
  static int sorted[PROBE_MAX];
  pthread_mutex_lock(&probe_lock);
  *count = probe_count;
  *on = probe_on;
  long n = probe_count < PROBE_MAX ? probe_count : PROBE_MAX;
  memcpy(sorted, probe_samples, n * sizeof *sorted);
  pthread_mutex_unlock(&probe_lock);
  *p50 = *p99 = *max = -1;
  if (n == 0) return;
  qsort(sorted, n, sizeof *sorted, compare_int);
  *p50 = sorted[(n - 1) / 2];
  *p99 = sorted[(long)((n - 1) * 0.99)];
  *max = sorted[n - 1];
}

static void *burn(void *arg) {
  long cpu = (long)arg;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  sched_setaffinity(0, sizeof set, &set);
  volatile unsigned long sink = 0;
  for (;;) {
    unsigned generation = atomic_load(&cpu_generation);
    long long start = now_ns();
    long long period = atomic_load(&period_us[cpu]) * 1000LL;
    long long busy = atomic_load(&duty_ppm[cpu]) * period / 1000000;
    while (now_ns() - start < busy && atomic_load(&cpu_generation) == generation) {
      for (int i = 0; i < 10000; i++) sink += i;
    }
    // The rest of the period, from when the burst began (not from when it ended).
    for (;;) {
      long long rest = period - (now_ns() - start);
      if (rest <= 0 || atomic_load(&cpu_generation) != generation) break;
      if (rest > SLICE_NS) rest = SLICE_NS;
      struct timespec ts = {rest / 1000000000LL, rest % 1000000000LL};
      nanosleep(&ts, NULL);
    }
  }
  return NULL;
}

static int grow_one(void) {
  if (nchunks >= MAX_CHUNKS) return 0;
  void *p = mmap(NULL, CHUNK_BYTES, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) return 0;
  // Touch every page so the memory is really used, with non-zero data so nothing can share it.
  for (long off = 0; off < CHUNK_BYTES; off += 4096) ((volatile char *)p)[off] = (char)(off >> 12 | 1);
  chunks[nchunks++] = p;
  if (nchunks > peak_chunks) peak_chunks = nchunks;
  return 1;
}

static void shrink_one(void) {
  if (nchunks == 0) return;
  munmap(chunks[--nchunks], CHUNK_BYTES);
}

static void sample_rates(void);

static void *memory_loop(void *arg) {
  (void)arg;
  const double tick = 0.1;
  for (;;) {
    pthread_mutex_lock(&mem_lock);
    double t = now_s();
    switch (mem.phase) {
      case PHASE_IDLE:
        break;
      case PHASE_GROW: {
        mem.budget += mem.rate > 0 ? mem.rate * tick : 1e12;
        while (mem.budget >= 1 && nchunks != mem.target) {
          if (nchunks < mem.target) {
            if (!grow_one()) break;
          } else {
            shrink_one();
          }
          mem.budget -= 1;
        }
        if (nchunks == mem.target) {
          mem.budget = 0;
          if (mem.hold < 0) {
            mem.phase = PHASE_HOLD;
            mem.hold_until = -1;
          } else {
            mem.phase = PHASE_HOLD;
            mem.hold_until = t + mem.hold;
          }
          note("reached %ld MiB", nchunks);
        }
        break;
      }
      case PHASE_HOLD:
        if (mem.hold_until >= 0 && t >= mem.hold_until) {
          mem.phase = PHASE_RELEASE;
          mem.budget = 0;
          note("hold over, releasing %ld MiB", nchunks);
        }
        break;
      case PHASE_RELEASE:
        mem.budget += mem.release_rate > 0 ? mem.release_rate * tick : 1e12;
        while (mem.budget >= 1 && nchunks > 0) {
          shrink_one();
          mem.budget -= 1;
        }
        if (nchunks == 0) {
          mem.phase = PHASE_IDLE;
          mem.budget = 0;
          note("released");
        }
        break;
    }
    pthread_mutex_unlock(&mem_lock);
    sample_rates();
    struct timespec ts = {0, (long)(tick * 1e9)};
    nanosleep(&ts, NULL);
  }
  return NULL;
}


// ---- disk reads ----
static int disk_fd = -1;
static long long disk_bytes;
static _Atomic long long read_total;     // bytes this program read (from cache or disk)

enum scan_phase { SCAN_IDLE, SCAN_RUN, SCAN_DONE };
static const char *scan_names[] = {"idle", "run", "done"};
static pthread_mutex_t disk_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
  long target;           // MiB of this scan
  double rate;           // MiB/s, 0 = flat out
  long done;             // MiB read of this scan
  enum scan_phase phase;
  long long cursor;      // next never-read byte of the scan area
  double budget;         // MiB we may read now at the rate
  double refilled_at;    // when the budget was last topped up, monotonic seconds
} scan = {0, 0, 0, SCAN_IDLE, 0, 0, 0};
static struct {
  long size;             // MiB, 0 = off
  double every;          // s between the starts of two passes
  double rate;           // MiB/s, 0 = flat out
  long passes;           // completed passes
  double last_pass_s;    // duration of the last pass
} hot = {0, 0, 0, 0, 0};
// Rates over the last second, updated by the sampler in memory_loop.
static double read_rate_mibps, disk_rate_mibps;
static long long disk_read_sectors_seen;

static void open_disk(void) {
  disk_fd = open(DISK_PATH, O_RDONLY | O_CLOEXEC);
  if (disk_fd < 0) {
    note("no disk (%s: %s): scan and hot are unavailable", DISK_PATH, strerror(errno));
    return;
  }
  unsigned long long size = 0;
  if (ioctl(disk_fd, BLKGETSIZE64, &size) < 0 || size < (unsigned long long)MIB) {
    note("%s: cannot read its size", DISK_PATH);
    close(disk_fd);
    disk_fd = -1;
    return;
  }
  disk_bytes = (long long)size;
  note("disk %s: %lld MiB, kept open", DISK_PATH, disk_bytes / MIB);
}

// Sectors the guest kernel read from vda (its own block statistics), -1 if unknown.
static long long disk_sectors_read(void) {
  FILE *f = fopen("/sys/block/vda/stat", "r");
  if (!f) return -1;
  long long ios, merges, sectors;
  int n = fscanf(f, "%lld %lld %lld", &ios, &merges, &sectors);
  fclose(f);
  return n == 3 ? sectors : -1;
}

static char *read_buffer(void) {
  static __thread char *buf;
  if (!buf) buf = malloc(READ_BYTES);
  return buf;
}

// Reads one MiB at `offset`; returns 0 on success.
static int read_mib(long long offset) {
  char *buf = read_buffer();
  if (!buf) return -1;
  long done = 0;
  while (done < READ_BYTES) {
    ssize_t n = pread(disk_fd, buf + done, READ_BYTES - done, offset + done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      note("read at %lld MiB: %s", (offset + done) / MIB, n < 0 ? strerror(errno) : "end of disk");
      return -1;
    }
    done += n;
    atomic_fetch_add(&read_total, n);
  }
  return 0;
}

static long long hot_bytes_locked(void) { return (long long)hot.size * MIB; }

static void *scan_loop(void *arg) {
  (void)arg;
  const double tick = 0.1;
  for (;;) {
    double t0 = now_s();
    for (;;) {
      pthread_mutex_lock(&disk_lock);
      if (scan.phase != SCAN_RUN) {
        pthread_mutex_unlock(&disk_lock);
        break;
      }
      if (scan.done >= scan.target) {
        scan.phase = SCAN_DONE;
        pthread_mutex_unlock(&disk_lock);
        note("scan done: %ld MiB", scan.done);
        break;
      }
      if (scan.rate > 0 && scan.budget < 1) {
        pthread_mutex_unlock(&disk_lock);
        break;
      }
      long long area = disk_bytes - hot_bytes_locked();
      if (scan.cursor + READ_BYTES > area) {
        note("scan wrapped at %lld MiB (the disk's scan area is used up): data from here on was read before", scan.cursor / MIB);
        scan.cursor = 0;
      }
      long long offset = scan.cursor;
      scan.cursor += READ_BYTES;
      if (scan.rate > 0) scan.budget -= 1;
      pthread_mutex_unlock(&disk_lock);
      int bad = read_mib(offset);
      pthread_mutex_lock(&disk_lock);
      if (bad) scan.phase = SCAN_DONE;
      else scan.done++;
      pthread_mutex_unlock(&disk_lock);
      if (scan.rate <= 0 && now_s() - t0 >= tick) break;
    }
    pthread_mutex_lock(&disk_lock);
    if (scan.phase == SCAN_RUN && scan.rate > 0) {
      // By the time that really passed, so a guest slowed down by a busy host keeps its rate.
      double t = now_s();
      scan.budget += scan.rate * (t - scan.refilled_at);
      scan.refilled_at = t;
      if (scan.budget > scan.rate + 1) scan.budget = scan.rate + 1;  // no burst after a stall beyond 1 s
    }
    int running = scan.phase == SCAN_RUN && scan.rate <= 0;
    pthread_mutex_unlock(&disk_lock);
    if (!running) {
      struct timespec ts = {0, (long)(tick * 1e9)};
      nanosleep(&ts, NULL);
    }
  }
  return NULL;
}

static void *hot_loop(void *arg) {
  (void)arg;
  double next = 0;
  for (;;) {
    pthread_mutex_lock(&disk_lock);
    long size = hot.size;
    double every = hot.every, rate = hot.rate;
    pthread_mutex_unlock(&disk_lock);
    double t = now_s();
    if (size <= 0 || t < next) {
      usleep(50000);
      continue;
    }
    next = t + every;
    long long base = disk_bytes - (long long)size * MIB;
    for (long i = 0; i < size; i++) {
      pthread_mutex_lock(&disk_lock);
      int still = hot.size == size;
      pthread_mutex_unlock(&disk_lock);
      if (!still) break;
      if (read_mib(base + (long long)i * MIB)) break;
      if (rate > 0) {
        double due = t + (i + 1) / rate;
        double wait = due - now_s();
        if (wait > 0) usleep((useconds_t)(wait * 1e6));
      }
    }
    pthread_mutex_lock(&disk_lock);
    if (hot.size == size) {
      hot.passes++;
      hot.last_pass_s = now_s() - t;
    }
    pthread_mutex_unlock(&disk_lock);
  }
  return NULL;
}

// Once a second: read rates over the last second.
static void sample_rates(void) {
  static double last_t;
  static long long last_read;
  double t = now_s();
  if (last_t > 0 && t - last_t < 1) return;
  long long r = atomic_load(&read_total);
  long long s = disk_sectors_read();
  if (last_t > 0) {
    double dt = t - last_t;
    read_rate_mibps = (r - last_read) / dt / MIB;
    disk_rate_mibps = s >= 0 && disk_read_sectors_seen >= 0 ? (s - disk_read_sectors_seen) * 512.0 / dt / MIB : 0;
  }
  last_t = t;
  last_read = r;
  disk_read_sectors_seen = s;
}

static int no_disk(char *err, size_t errlen) {
  if (disk_fd >= 0) return 0;
  snprintf(err, errlen, "this guest has no disk (%s)", DISK_PATH);
  return -1;
}

// "1536 rate=50" or "stop".
static int set_scan(char *spec, char *err, size_t errlen) {
  while (*spec == ' ') spec++;
  if (no_disk(err, errlen)) return -1;
  if (strncmp(spec, "stop", 4) == 0 && (spec[4] == 0 || spec[4] == ' ' || spec[4] == '\n')) {
    pthread_mutex_lock(&disk_lock);
    if (scan.phase == SCAN_RUN) scan.phase = SCAN_DONE;
    pthread_mutex_unlock(&disk_lock);
    note("scan stopped");
    return 0;
  }
  char *end;
  double mib = strtod(spec, &end);
  double rate = 0;
  if (end == spec || mib < 1) goto bad;
  for (char *p = end; *p;) {
    while (*p == ' ' || *p == ',' || *p == '\n') p++;
    if (!*p) break;
    if (strncmp(p, "rate=", 5) != 0) goto bad;
    rate = strtod(p + 5, &end);
    if (end == p + 5 || rate < 0) goto bad;
    p = end;
  }
  pthread_mutex_lock(&disk_lock);
  scan.target = (long)mib;
  scan.rate = rate;
  scan.done = 0;
  scan.budget = 0;
  scan.refilled_at = now_s();
  scan.phase = SCAN_RUN;
  pthread_mutex_unlock(&disk_lock);
  note("scan %ld MiB at %s", (long)mib, rate > 0 ? "a rate" : "full speed");
  return 0;
bad:
  snprintf(err, errlen, "scan takes <MiB> [rate=<MiB/s>] or 'stop'");
  return -1;
}

// "600 every=10 rate=0" or "off".
static int set_hot(char *spec, char *err, size_t errlen) {
  while (*spec == ' ') spec++;
  if (no_disk(err, errlen)) return -1;
  if (strncmp(spec, "off", 3) == 0 && (spec[3] == 0 || spec[3] == ' ' || spec[3] == '\n')) {
    pthread_mutex_lock(&disk_lock);
    hot.size = 0;
    pthread_mutex_unlock(&disk_lock);
    note("hot set off");
    return 0;
  }
  char *end;
  double mib = strtod(spec, &end);
  double every = -1, rate = 0;
  if (end == spec || mib < 0) goto bad;
  for (char *p = end; *p;) {
    while (*p == ' ' || *p == ',' || *p == '\n') p++;
    if (!*p) break;
    double *field = strncmp(p, "every=", 6) == 0 ? &every : strncmp(p, "rate=", 5) == 0 ? &rate : NULL;
    if (!field) goto bad;
    p = strchr(p, '=') + 1;
    *field = strtod(p, &end);
    if (end == p || *field < 0) goto bad;
    p = end;
  }
  if (mib > 0 && !(every > 0)) goto bad;
  if ((long long)mib * MIB > disk_bytes / 2) {
    snprintf(err, errlen, "hot set of %ld MiB is more than half the %lld MiB disk", (long)mib, disk_bytes / MIB);
    return -1;
  }
  pthread_mutex_lock(&disk_lock);
  hot.size = (long)mib;
  hot.every = every;
  hot.rate = rate;
  hot.passes = 0;
  pthread_mutex_unlock(&disk_lock);
  note("hot set %ld MiB every %.1f s", (long)mib, every);
  return 0;
bad:
  snprintf(err, errlen, "hot takes <MiB> every=<s> [rate=<MiB/s>] or 'off'");
  return -1;
}

static int drop_caches(char *err, size_t errlen) {
  sync();
  int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
  if (fd < 0 || write(fd, "3\n", 2) != 2) {
    snprintf(err, errlen, "drop_caches: %s", strerror(errno));
    if (fd >= 0) close(fd);
    return -1;
  }
  close(fd);
  note("page cache dropped");
  return 0;
}

// Sets duties from "0.8" (all vCPUs) or "0.8,0.2" (per vCPU; missing ones get the last value),
// each optionally with its period in ms: "0.4@50" (absent: 100 ms).
static int set_cpu(const char *spec, char *err, size_t errlen) {
  long values[MAX_CPUS], periods[MAX_CPUS];
  int n = 0;
  const char *p = spec;
  while (*p && n < MAX_CPUS) {
    char *end;
    double d = strtod(p, &end);
    if (end == p || d < 0 || d > 1) {
      snprintf(err, errlen, "duty must be a number from 0 to 1, got '%s'", spec);
      return -1;
    }
    double ms = DEFAULT_PERIOD_US / 1000.0;
    if (*end == '@') {
      const char *q = end + 1;
      ms = strtod(q, &end);
      if (end == q || !(ms >= MIN_PERIOD_MS && ms <= MAX_PERIOD_MS)) {
        snprintf(err, errlen, "period must be a number of ms from %.0f to %.0f, got '%s'", MIN_PERIOD_MS, MAX_PERIOD_MS, spec);
        return -1;
      }
    }
    values[n] = (long)(d * 1000000 + 0.5);
    periods[n++] = (long)(ms * 1000 + 0.5);
    p = end;
    if (*p == ',') p++;
    else if (*p && *p != ' ' && *p != '\n') {
      snprintf(err, errlen, "bad duty list '%s'", spec);
      return -1;
    }
    else break;
  }
  if (n == 0) {
    snprintf(err, errlen, "cpu needs a duty");
    return -1;
  }
  for (int i = 0; i < ncpus; i++) {
    atomic_store(&duty_ppm[i], values[i < n ? i : n - 1]);
    atomic_store(&period_us[i], periods[i < n ? i : n - 1]);
  }
  atomic_fetch_add(&cpu_generation, 1);
  return 0;
}

// "0.80" for the default period, "0.40@50" (or "0.40@12.5") otherwise.
static void format_cpu(char *out, size_t len) {
  size_t used = 0;
  for (int i = 0; i < ncpus && used < len; i++) {
    used += snprintf(out + used, len - used, "%s%.2f", i ? "," : "", atomic_load(&duty_ppm[i]) / 1e6);
    long us = atomic_load(&period_us[i]);
    if (us == DEFAULT_PERIOD_US || used >= len) continue;
    char ms[32];
    snprintf(ms, sizeof ms, "%ld.%03ld", us / 1000, us % 1000);
    char *e = ms + strlen(ms) - 1;
    while (*e == '0') *e-- = 0;  // 50.000 -> 50., 12.500 -> 12.5
    if (*e == '.') *e = 0;
    used += snprintf(out + used, len - used, "@%s", ms);
  }
}

// Parses "rate=40 target=900 hold=10 release=0" (space or comma separated) or "release".
static int set_mem(char *spec, char *err, size_t errlen) {
  while (*spec == ' ') spec++;
  pthread_mutex_lock(&mem_lock);
  if (strncmp(spec, "release", 7) == 0 && (spec[7] == 0 || spec[7] == ' ' || spec[7] == '\n')) {
    char *rest = spec + 7;
    double r = 0;
    if (sscanf(rest, " rate=%lf", &r) == 1) mem.release_rate = r;
    mem.phase = nchunks > 0 ? PHASE_RELEASE : PHASE_IDLE;
    mem.budget = 0;
    pthread_mutex_unlock(&mem_lock);
    note("release requested");
    return 0;
  }
  double rate = mem.rate, hold = -1, release = 0;
  long target = -1;
  char *save = NULL;
  for (char *tok = strtok_r(spec, " ,\n", &save); tok; tok = strtok_r(NULL, " ,\n", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq) goto bad;
    *eq = 0;
    char *end;
    double v = strtod(eq + 1, &end);
    if (end == eq + 1 || *end || v < 0) goto bad;
    if (strcmp(tok, "rate") == 0) rate = v;
    else if (strcmp(tok, "target") == 0) target = (long)v;
    else if (strcmp(tok, "hold") == 0) hold = v;
    else if (strcmp(tok, "release") == 0) release = v;
    else goto bad;
  }
  if (target < 0) {
    pthread_mutex_unlock(&mem_lock);
    snprintf(err, errlen, "mem needs target=<MiB>");
    return -1;
  }
  mem.rate = rate;
  mem.target = target;
  mem.hold = hold;
  mem.release_rate = release;
  mem.phase = PHASE_GROW;
  mem.budget = 0;
  pthread_mutex_unlock(&mem_lock);
  note("mem rate=%.1f target=%ld hold=%.1f release=%.1f", rate, target, hold, release);
  return 0;
bad:
  pthread_mutex_unlock(&mem_lock);
  snprintf(err, errlen, "mem takes rate=<MiB/s> target=<MiB> [hold=<s>] [release=<MiB/s>] or 'release'");
  return -1;
}

static long meminfo_kib(const char *key) {
  FILE *f = fopen("/proc/meminfo", "r");
  if (!f) return -1;
  char line[256];
  long value = -1;
  size_t klen = strlen(key);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, key, klen) == 0 && line[klen] == ':') {
      value = strtol(line + klen + 1, NULL, 10);
      break;
    }
  }
  fclose(f);
  return value;
}

static void format_status(char *out, size_t len) {
  char cpu[MAX_CPUS * 16];
  format_cpu(cpu, sizeof cpu);
  pthread_mutex_lock(&mem_lock);
  long held = nchunks, target = mem.target, peak = peak_chunks;
  enum phase ph = mem.phase;
  pthread_mutex_unlock(&mem_lock);
  pthread_mutex_lock(&disk_lock);
  long scan_done = scan.done, scan_target = scan.target, hot_size = hot.size, hot_passes = hot.passes;
  double hot_every = hot.every, hot_last = hot.last_pass_s;
  enum scan_phase sp = scan.phase;
  pthread_mutex_unlock(&disk_lock);
  long long sectors = disk_sectors_read();
  long probe_n, p50, p99, pmax;
  int pon;
  probe_figures(&probe_n, &pon, &p50, &p99, &pmax);
  struct timespec up;
  clock_gettime(CLOCK_BOOTTIME, &up);
  snprintf(out, len,
           "vcpus=%d cpu=%s mem_mib=%ld mem_target_mib=%ld mem_peak_mib=%ld mem_phase=%s "
           "memtotal_kib=%ld memfree_kib=%ld memavailable_kib=%ld cached_kib=%ld buffers_kib=%ld "
           "disk_mib=%lld scan_mib=%ld scan_target_mib=%ld scan_phase=%s hot_mib=%ld hot_every_s=%.1f "
           "hot_passes=%ld hot_pass_s=%.2f read_mib=%.1f read_mibps=%.1f disk_read_mib=%.1f disk_read_mibps=%.1f "
           "probe=%s probe_samples=%ld probe_p50_us=%ld probe_p99_us=%ld probe_max_us=%ld "
           "uptime_s=%ld pid=%d",
           ncpus, cpu, held, target, peak, phase_names[ph], meminfo_kib("MemTotal"),
           meminfo_kib("MemFree"), meminfo_kib("MemAvailable"), meminfo_kib("Cached"), meminfo_kib("Buffers"),
           disk_fd >= 0 ? disk_bytes / MIB : 0, scan_done, scan_target, scan_names[sp], hot_size, hot_every,
           hot_passes, hot_last, atomic_load(&read_total) / (double)MIB, read_rate_mibps,
           sectors >= 0 ? sectors * 512.0 / MIB : 0.0, disk_rate_mibps, pon ? "on" : "off", probe_n, p50, p99, pmax,
           (long)up.tv_sec, (int)getpid());
}

// Handles one request line; writes the reply (without newline) into out.
static void handle(char *line, char *out, size_t len) {
  char id[32] = "";
  char *nl = strchr(line, '\n');
  if (nl) *nl = 0;
  while (*line == ' ') line++;
  if (line[0] == '#') {
    size_t n = strcspn(line, " ");
    if (n >= sizeof id) n = sizeof id - 1;
    memcpy(id, line, n);
    id[n] = 0;
    line += strcspn(line, " ");
    while (*line == ' ') line++;
  }
  char err[200];
  char body[MAX_CPUS * 16 + 2048];
  size_t idlen = id[0] ? strlen(id) + 1 : 0;
  if (idlen) snprintf(out, len, "%s ", id);
  char *o = out + idlen;
  size_t olen = len - idlen;
  if (strncmp(line, "cpu ", 4) == 0) {
    if (set_cpu(line + 4, err, sizeof err) < 0) { snprintf(o, olen, "err %s", err); return; }
    format_cpu(body, sizeof body);
    note("cpu=%s", body);
    snprintf(o, olen, "ok cpu=%s", body);
  } else if (strncmp(line, "mem ", 4) == 0) {
    if (set_mem(line + 4, err, sizeof err) < 0) { snprintf(o, olen, "err %s", err); return; }
    format_status(body, sizeof body);
    snprintf(o, olen, "ok %s", body);
  } else if (strncmp(line, "scan ", 5) == 0 || strncmp(line, "hot ", 4) == 0 || strcmp(line, "drop") == 0) {
    int r = line[0] == 's' ? set_scan(line + 5, err, sizeof err) : line[0] == 'h' ? set_hot(line + 4, err, sizeof err) : drop_caches(err, sizeof err);
    if (r < 0) { snprintf(o, olen, "err %s", err); return; }
    format_status(body, sizeof body);
    snprintf(o, olen, "ok %s", body);
  } else if (strncmp(line, "probe ", 6) == 0) {
    if (set_probe(line + 6, err, sizeof err) < 0) { snprintf(o, olen, "err %s", err); return; }
    format_status(body, sizeof body);
    snprintf(o, olen, "ok %s", body);
  } else if (strcmp(line, "status") == 0) {
    format_status(body, sizeof body);
    snprintf(o, olen, "ok %s", body);
  } else if (strcmp(line, "ping") == 0) {
    snprintf(o, olen, "ok pong");
  } else {
    snprintf(o, olen, "err unknown command '%.60s' (cpu, mem, scan, hot, drop, probe, status, ping)", line);
  }
}

// Finds /dev/vportNpM whose /sys/class/virtio-ports/<port>/name is PORT_NAME.
static int find_port(char *path, size_t len) {
  DIR *d = opendir("/sys/class/virtio-ports");
  if (!d) return -1;
  struct dirent *e;
  int found = -1;
  while ((e = readdir(d))) {
    if (e->d_name[0] == '.') continue;
    char p[512], name[128] = "";
    snprintf(p, sizeof p, "/sys/class/virtio-ports/%s/name", e->d_name);
    FILE *f = fopen(p, "r");
    if (!f) continue;
    if (fgets(name, sizeof name, f)) name[strcspn(name, "\n")] = 0;
    fclose(f);
    if (strcmp(name, PORT_NAME) == 0) {
      snprintf(path, len, "/dev/%s", e->d_name);
      found = 0;
      break;
    }
  }
  closedir(d);
  return found;
}

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

// Writes a whole reply to the non-blocking port. The port's buffers fill while the guest is busy
// (allocating memory, say) and write() then fails with EAGAIN: wait for room rather than lose the
// reply, but only for a while, and never once the host side hung up, so a reply is dropped rather
// than delivered to whoever connects next.
#define REPLY_TIMEOUT_MS 3000
static void write_reply(int fd, const char *data, size_t len) {
  long deadline = now_ms() + REPLY_TIMEOUT_MS;
  size_t done = 0;
  while (done < len) {
    ssize_t n = write(fd, data + done, len - done);
    if (n > 0) {
      done += (size_t)n;
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
      note("write: %s (reply dropped after %zu of %zu bytes)", strerror(errno), done, len);
      return;
    }
    long left = deadline - now_ms();
    if (left <= 0) {
      note("reply dropped after %zu of %zu bytes: port not writable for %d ms", done, len, REPLY_TIMEOUT_MS);
      return;
    }
    struct pollfd pfd = {fd, POLLOUT, 0};
    int r = poll(&pfd, 1, (int)left);
    if (r < 0 && errno != EINTR) {
      note("poll: %s (reply dropped)", strerror(errno));
      return;
    }
    if (r > 0 && (pfd.revents & (POLLHUP | POLLERR)) && !(pfd.revents & POLLOUT)) return;  // host gone
  }
}

static void serve_port(void) {
  char path[300];
  for (int tries = 0; find_port(path, sizeof path) < 0; tries++) {
    if (tries == 50) note("no virtio-serial port named %s yet; still looking", PORT_NAME);
    usleep(100000);
  }
  int fd;
  while ((fd = open(path, O_RDWR | O_NONBLOCK)) < 0) {
    note("cannot open %s: %s", path, strerror(errno));
    sleep(1);
  }
  note("ready on %s", path);
  char buf[4096];
  size_t have = 0;
  for (;;) {
    struct pollfd pfd = {fd, POLLIN, 0};
    int r = poll(&pfd, 1, 1000);
    if (r <= 0) continue;
    if (!(pfd.revents & POLLIN)) {
      // No host side connected: the port reports a hang-up until one connects.
      have = 0;
      usleep(50000);
      continue;
    }
    ssize_t n = read(fd, buf + have, sizeof buf - 1 - have);
    if (n <= 0) {
      usleep(50000);
      continue;
    }
    have += n;
    buf[have] = 0;
    char *start = buf;
    char *nl;
    while ((nl = strchr(start, '\n'))) {
      *nl = 0;
      char reply[MAX_CPUS * 16 + 2200];
      handle(start, reply, sizeof reply - 1);
      size_t rl = strlen(reply);
      reply[rl++] = '\n';
      write_reply(fd, reply, rl);
      start = nl + 1;
    }
    have = strlen(start);
    memmove(buf, start, have);
    if (have == sizeof buf - 1) have = 0;  // an over-long line: drop it
  }
}

// Applies vb.cpu=, vb.mem=, vb.scan= and vb.hot= from a kernel command line.
static void apply_cmdline_text(char *line) {
  char *save = NULL;
  char err[200];
  for (char *tok = strtok_r(line, " \n", &save); tok; tok = strtok_r(NULL, " \n", &save)) {
    if (strncmp(tok, "vb.cpu=", 7) == 0) {
      if (set_cpu(tok + 7, err, sizeof err) < 0) note("kernel command line: %s", err);
      else note("initial cpu=%s", tok + 7);
    } else if (strncmp(tok, "vb.mem=", 7) == 0) {
      if (set_mem(tok + 7, err, sizeof err) < 0) note("kernel command line: %s", err);
    } else if (strncmp(tok, "vb.scan=", 8) == 0) {
      if (set_scan(tok + 8, err, sizeof err) < 0) note("kernel command line: %s", err);
    } else if (strncmp(tok, "vb.hot=", 7) == 0) {
      if (set_hot(tok + 7, err, sizeof err) < 0) note("kernel command line: %s", err);
    }
  }
}

static void apply_cmdline(void) {
  FILE *f = fopen("/proc/cmdline", "r");
  if (!f) return;
  char line[4096] = "";
  if (!fgets(line, sizeof line, f)) line[0] = 0;
  fclose(f);
  apply_cmdline_text(line);
}

// A test mode for the host (no threads, no port, no disk): `vb-workload --test NCPUS [--cmdline TEXT]
// [REQUEST...]` applies TEXT as the kernel command line, then handles each request as the channel
// would and prints each reply on a line. test/lab/workload-c.test.ts builds and runs it.
static int test_mode(int argc, char **argv) {
  ncpus = atoi(argv[2]);
  if (ncpus < 1 || ncpus > MAX_CPUS) return 2;
  int i = 3;
  if (i + 1 < argc && strcmp(argv[i], "--cmdline") == 0) {
    char line[4096];
    snprintf(line, sizeof line, "%s", argv[i + 1]);
    apply_cmdline_text(line);
    i += 2;
  }
  for (; i < argc; i++) {
    char line[4096], reply[MAX_CPUS * 16 + 2200];
    snprintf(line, sizeof line, "%s", argv[i]);
    handle(line, reply, sizeof reply);
    printf("%s\n", reply);
  }
  return 0;
}

int main(int argc, char **argv) {
  for (int i = 0; i < MAX_CPUS; i++) atomic_store(&period_us[i], DEFAULT_PERIOD_US);
  chunks = calloc(MAX_CHUNKS, sizeof *chunks);
  probe_samples = calloc(PROBE_MAX, sizeof *probe_samples);
  if (!chunks || !probe_samples) return 1;
  if (argc >= 3 && strcmp(argv[1], "--test") == 0) return test_mode(argc, argv);
  ncpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (ncpus < 1) ncpus = 1;
  if (ncpus > MAX_CPUS) ncpus = MAX_CPUS;
  open_disk();
  apply_cmdline();
  pthread_t t;
  if (disk_fd >= 0) {
    pthread_create(&t, NULL, scan_loop, NULL);
    pthread_create(&t, NULL, hot_loop, NULL);
  }
  for (long i = 0; i < ncpus; i++) pthread_create(&t, NULL, burn, (void *)i);
  pthread_create(&t, NULL, memory_loop, NULL);
  pthread_create(&t, NULL, probe_loop, NULL);
  note("started on %d vCPUs", ncpus);
  serve_port();
  return 0;
}
