/* A small memory coordinator in the style of the course assignment, written for virtbalance's judge
 * test: every interval it enables balloon stats, reads each guest's used memory (actual - unused) and
 * moves its balloon toward used + floor, plus twice what it grew since last time; never past the
 * guest's maximum, never taking the host below its reserve. It opens qemu:///system. */
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define FLOOR_KIB (256 * 1024ULL)
#define RESERVE_KIB (512 * 1024ULL)
#define MAXD 64

static char names[MAXD][128];
static unsigned long long last_used[MAXD];
static int known;

static unsigned long long *previous_used(const char *name) {
  for (int i = 0; i < known; i++) if (strcmp(names[i], name) == 0) return &last_used[i];
  if (known == MAXD) return NULL;
  snprintf(names[known], sizeof names[known], "%s", name);
  last_used[known] = 0;
  return &last_used[known++];
}

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: %s <interval seconds>\n", argv[0]); return 2; }
  double interval = atof(argv[1]);
  virConnectPtr conn = virConnectOpen("qemu:///system");
  if (!conn) { fprintf(stderr, "cannot open qemu:///system\n"); return 1; }
  for (;;) {
    virDomainPtr *doms = NULL;
    int ndoms = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (ndoms < 0) return 1;
    long long hostFreeKiB = (long long)(virNodeGetFreeMemory(conn) / 1024) - (long long)RESERVE_KIB;
    for (int d = 0; d < ndoms; d++) {
      virDomainSetMemoryStatsPeriod(doms[d], 1, VIR_DOMAIN_AFFECT_LIVE);
      virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
      int n = virDomainMemoryStats(doms[d], stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
      unsigned long long actual = 0, unused = 0;
      int have_unused = 0;
      for (int i = 0; i < n; i++) {
        if (stats[i].tag == VIR_DOMAIN_MEMORY_STAT_ACTUAL_BALLOON) actual = stats[i].val;
        if (stats[i].tag == VIR_DOMAIN_MEMORY_STAT_UNUSED) { unused = stats[i].val; have_unused = 1; }
      }
      if (!have_unused || actual == 0) continue;
      unsigned long long used = actual > unused ? actual - unused : 0;
      unsigned long long *before = previous_used(virDomainGetName(doms[d]));
      unsigned long long growth = before && *before && used > *before ? used - *before : 0;
      if (before) *before = used;
      unsigned long long target = used + FLOOR_KIB + 2 * growth;
      unsigned long long max = virDomainGetMaxMemory(doms[d]);
      if (target > max) target = max;
      if (target > actual && (long long)(target - actual) > hostFreeKiB) target = actual + (hostFreeKiB > 0 ? hostFreeKiB : 0);
      long long change = (long long)target - (long long)actual;
      /* Small changes are noise, but the last step to the maximum is not: a guest short of memory just below it is starving. */
      if (change > 32 * 1024 || change < -32 * 1024 || (change > 0 && target == max)) {
        if (virDomainSetMemory(doms[d], target) == 0) {
          if (change > 0) hostFreeKiB -= change;
          printf("%s: balloon %llu -> %llu MiB (used %llu MiB)\n", virDomainGetName(doms[d]), actual / 1024, target / 1024, used / 1024);
        }
      }
    }
    fflush(stdout);
    for (int d = 0; d < ndoms; d++) virDomainFree(doms[d]);
    free(doms);
    usleep((useconds_t)(interval * 1e6));
  }
}
