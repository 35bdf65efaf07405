/* Calls what a typical course solution calls, through libvirt's C library, and prints each answer as
 * one "key value..." line for test/serve/conformance.test.ts to check against the simulator's truth.
 * Usage: conformance URI DOMAIN PCPU MEMORY_KIB PERIOD */
#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int fail(const char *what) {
  virErrorPtr e = virGetLastError();
  fprintf(stderr, "%s failed: %s\n", what, e && e->message ? e->message : "?");
  return 1;
}

int main(int argc, char **argv) {
  if (argc != 6) { fprintf(stderr, "usage: conformance URI DOMAIN PCPU MEMORY_KIB PERIOD\n"); return 2; }
  virConnectPtr conn = virConnectOpen(argv[1]);
  if (!conn) return fail("virConnectOpen");

  virDomainPtr *doms = NULL;
  int n = virConnectListAllDomains(conn, &doms, VIR_CONNECT_LIST_DOMAINS_ACTIVE | VIR_CONNECT_LIST_DOMAINS_RUNNING);
  if (n < 0) return fail("virConnectListAllDomains");
  for (int i = 0; i < n; i++) {
    char uuid[VIR_UUID_STRING_BUFLEN];
    virDomainGetUUIDString(doms[i], uuid);
    printf("domain %s %s %d\n", virDomainGetName(doms[i]), uuid, (int)virDomainGetID(doms[i]));
    virDomainFree(doms[i]);
  }
  free(doms);

  virDomainPtr dom = virDomainLookupByName(conn, argv[2]);
  if (!dom) return fail("virDomainLookupByName");
  char uuid[VIR_UUID_STRING_BUFLEN];
  virDomainGetUUIDString(dom, uuid);
  virDomainPtr again = virDomainLookupByUUIDString(conn, uuid);
  if (!again) return fail("virDomainLookupByUUIDString");
  printf("lookup %s %s\n", uuid, virDomainGetName(again));
  virDomainFree(again);

  virDomainInfo info;
  if (virDomainGetInfo(dom, &info) < 0) return fail("virDomainGetInfo");
  printf("info %d %lu %lu %d %llu\n", info.state, info.maxMem, info.memory, info.nrVirtCpu, info.cpuTime);

  virNodeInfo node;
  if (virNodeGetInfo(conn, &node) < 0) return fail("virNodeGetInfo");
  printf("node %s %lu %u %u\n", node.model, node.memory, node.cpus, node.mhz);

  int maplen = VIR_CPU_MAPLEN(node.cpus);
  virVcpuInfoPtr vcpus = calloc(info.nrVirtCpu, sizeof(*vcpus));
  unsigned char *maps = calloc(info.nrVirtCpu, maplen);
  int nv = virDomainGetVcpus(dom, vcpus, info.nrVirtCpu, maps, maplen);
  if (nv < 0) return fail("virDomainGetVcpus");
  for (int v = 0; v < nv; v++) {
    printf("vcpu %u %d %llu", vcpus[v].number, vcpus[v].cpu, vcpus[v].cpuTime);
    for (unsigned p = 0; p < node.cpus; p++) if (VIR_CPU_USABLE(maps, maplen, v, p)) printf(" %u", p);
    printf("\n");
  }

  unsigned char map[8] = {0};
  VIR_USE_CPU(map, atoi(argv[3]));
  if (virDomainPinVcpu(dom, 0, map, maplen) < 0) return fail("virDomainPinVcpu");
  printf("pinned 0 %s\n", argv[3]);

  virDomainMemoryStatStruct stats[VIR_DOMAIN_MEMORY_STAT_NR];
  int ns = virDomainMemoryStats(dom, stats, VIR_DOMAIN_MEMORY_STAT_NR, 0);
  if (ns < 0) return fail("virDomainMemoryStats");
  for (int i = 0; i < ns; i++) printf("memstat %d %llu\n", stats[i].tag, stats[i].val);

  if (virDomainSetMemoryStatsPeriod(dom, atoi(argv[5]), VIR_DOMAIN_AFFECT_LIVE) < 0) return fail("virDomainSetMemoryStatsPeriod");
  if (virDomainSetMemory(dom, strtoul(argv[4], NULL, 10)) < 0) return fail("virDomainSetMemory");
  printf("setmem %s period %s\n", argv[4], argv[5]);

  int nparams = 0;
  if (virNodeGetCPUStats(conn, VIR_NODE_CPU_STATS_ALL_CPUS, NULL, &nparams, 0) < 0 || nparams <= 0) return fail("virNodeGetCPUStats (count)");
  virNodeCPUStatsPtr cpu = calloc(nparams, sizeof(*cpu));
  if (virNodeGetCPUStats(conn, VIR_NODE_CPU_STATS_ALL_CPUS, cpu, &nparams, 0) < 0) return fail("virNodeGetCPUStats");
  for (int i = 0; i < nparams; i++) printf("nodecpu %s %llu\n", cpu[i].field, cpu[i].value);

  unsigned long long freeBytes = virNodeGetFreeMemory(conn);
  if (freeBytes == 0) return fail("virNodeGetFreeMemory");
  printf("freemem %llu\n", freeBytes);

  virDomainStatsRecordPtr *records = NULL;
  int nr = virConnectGetAllDomainStats(conn, VIR_DOMAIN_STATS_STATE | VIR_DOMAIN_STATS_VCPU | VIR_DOMAIN_STATS_BALLOON, &records, VIR_CONNECT_GET_ALL_DOMAINS_STATS_ACTIVE);
  if (nr < 0) return fail("virConnectGetAllDomainStats");
  for (int i = 0; i < nr; i++) {
    int state = -1;
    unsigned long long current = 0, time0 = 0;
    unsigned int vcpuCurrent = 0;
    virTypedParamsGetInt(records[i]->params, records[i]->nparams, "state.state", &state);
    virTypedParamsGetULLong(records[i]->params, records[i]->nparams, "balloon.current", &current);
    virTypedParamsGetULLong(records[i]->params, records[i]->nparams, "vcpu.0.time", &time0);
    virTypedParamsGetUInt(records[i]->params, records[i]->nparams, "vcpu.current", &vcpuCurrent);
    printf("stats %s %d %llu %llu %u\n", virDomainGetName(records[i]->dom), state, current, time0, vcpuCurrent);
  }
  virDomainStatsRecordListFree(records);

  virDomainFree(dom);
  if (virConnectClose(conn) < 0) return fail("virConnectClose");
  printf("closed\n");
  return 0;
}
