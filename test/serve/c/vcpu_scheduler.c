/* A small vCPU scheduler in the style of the course assignment, written for virtbalance's judge test:
 * every interval it measures each vCPU's usage from its cumulative time and, when the pCPUs are out of
 * balance, re-pins every vCPU to the least-loaded pCPU (largest users first). It opens qemu:///system. */
#include <libvirt/libvirt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAXV 256

struct vcpu { virDomainPtr dom; unsigned int n; unsigned long long time; double usage; int pcpu; char uuid[VIR_UUID_STRING_BUFLEN]; };

static struct vcpu prev[MAXV];
static int nprev;

static double previous_time(const char *uuid, unsigned int n, unsigned long long *out) {
  for (int i = 0; i < nprev; i++) if (prev[i].n == n && strcmp(prev[i].uuid, uuid) == 0) { *out = prev[i].time; return 1; }
  return 0;
}

static int by_usage(const void *a, const void *b) {
  double d = ((const struct vcpu *)b)->usage - ((const struct vcpu *)a)->usage;
  return d > 0 ? 1 : d < 0 ? -1 : 0;
}

int main(int argc, char **argv) {
  if (argc != 2) { fprintf(stderr, "usage: %s <interval seconds>\n", argv[0]); return 2; }
  double interval = atof(argv[1]);
  virConnectPtr conn = virConnectOpen("qemu:///system");
  if (!conn) { fprintf(stderr, "cannot open qemu:///system\n"); return 1; }
  virNodeInfo node;
  if (virNodeGetInfo(conn, &node) < 0) return 1;
  int pcpus = node.cpus;
  int maplen = VIR_CPU_MAPLEN(pcpus);
  for (;;) {
    virDomainPtr *doms = NULL;
    int ndoms = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (ndoms < 0) return 1;
    struct vcpu cur[MAXV];
    int ncur = 0, measured = 1;
    double load[64] = {0};
    for (int d = 0; d < ndoms; d++) {
      virDomainInfo info;
      if (virDomainGetInfo(doms[d], &info) < 0) continue;
      virVcpuInfoPtr vinfo = calloc(info.nrVirtCpu, sizeof(*vinfo));
      unsigned char *maps = calloc(info.nrVirtCpu, maplen);
      int nv = virDomainGetVcpus(doms[d], vinfo, info.nrVirtCpu, maps, maplen);
      char uuid[VIR_UUID_STRING_BUFLEN];
      virDomainGetUUIDString(doms[d], uuid);
      for (int v = 0; v < nv && ncur < MAXV; v++) {
        struct vcpu *c = &cur[ncur++];
        c->dom = doms[d]; c->n = vinfo[v].number; c->time = vinfo[v].cpuTime;
        strcpy(c->uuid, uuid);
        unsigned long long before;
        if (previous_time(uuid, c->n, &before)) c->usage = (double)(c->time - before) / (interval * 1e9);
        else { c->usage = 0; measured = 0; }
        c->pcpu = -1;
        for (int p = 0; p < pcpus; p++) if (VIR_CPU_USABLE(maps, maplen, v, p)) { c->pcpu = p; break; }
        if (c->pcpu >= 0) load[c->pcpu] += c->usage;
      }
      free(vinfo); free(maps);
    }
    if (measured && ncur > 0) {
      double hi = 0, lo = 1e9;
      for (int p = 0; p < pcpus; p++) { if (load[p] > hi) hi = load[p]; if (load[p] < lo) lo = load[p]; }
      /* Out of balance: the busiest pCPU carries over 20 % more than the idlest (plus a little, for idle hosts). */
      if (hi - lo > 0.2 * hi + 0.05) {
        struct vcpu order[MAXV];
        memcpy(order, cur, sizeof(struct vcpu) * ncur);
        qsort(order, ncur, sizeof(struct vcpu), by_usage);
        double next[64] = {0};
        int count[64] = {0};
        for (int i = 0; i < ncur; i++) {
          int best = 0;
          for (int p = 1; p < pcpus; p++) if (next[p] < next[best] || (next[p] == next[best] && count[p] < count[best])) best = p;
          next[best] += order[i].usage;
          count[best]++;
          unsigned char map[8] = {0};
          VIR_USE_CPU(map, best);
          if (order[i].pcpu != best && virDomainPinVcpu(order[i].dom, order[i].n, map, maplen) == 0)
            printf("pinned %s vCPU%u to pCPU%d\n", virDomainGetName(order[i].dom), order[i].n, best);
        }
        fflush(stdout);
      }
    }
    nprev = ncur;
    memcpy(prev, cur, sizeof(struct vcpu) * ncur);
    for (int d = 0; d < ndoms; d++) virDomainFree(doms[d]);
    free(doms);
    usleep((useconds_t)(interval * 1e6));
  }
}
