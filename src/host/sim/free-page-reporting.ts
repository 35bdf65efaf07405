// Free page reporting (virtio-balloon `free-page-reporting`, Linux ≥ 5.7's page_reporting): the guest
// tells the host which of its free pages it may take back, and the host drops them from the QEMU
// process's resident set, without a balloon move. Linux's reporting worker runs a delay after free
// pages build up (PAGE_REPORTING_DELAY, 2 s) and then reports part of what is free, a budget per
// pass; page cache is not free, so it is never reported. Modelled as a pass every
// REPORTING_PERIOD_SECONDS that returns the resident memory that was free at the previous pass and
// still is, at most REPORTED_PER_PASS_KIB: 1 GiB freed now leaves in 2-10 s. Calibrated on lab guests
// at their 2048 MiB maximum: touching 1.1 GiB and freeing it, a QEMU process fell from 1,375 to 241
// MiB by itself (issue #18); touching 1 GiB and freeing it, another fell 1259 → 1009 → 753 → 497 →
// 285 MiB, a step every 2 s from 2-3 s after the free (test/lab/free-page-reporting-e2e.test.ts;
// test/host/sim/free-page-reporting.test.ts).
// Not modelled: Linux reports only free blocks of 2 MiB and more (pageblock order), so a fragmented
// guest returns somewhat less.

export const REPORTING_PERIOD_SECONDS = 2;
/** What one pass returns at most: the lab guest's steps were 250-256 MiB. */
export const REPORTED_PER_PASS_KIB = 256 * 1024;
const NS_PER_S = 1e9;

export interface FreePageReporting {
  /** When the last pass ran, ns. */
  lastPassNs: number;
  /** Resident but free memory at the last pass that it did not return, KiB. */
  freeAtLastPassKiB: number;
}

export function startReporting(nowNs: number): FreePageReporting {
  return { lastPassNs: nowNs, freeAtLastPassKiB: 0 };
}

/** The resident set after the passes due by `nowNs`; `inUseKiB` is what the guest holds (anonymous + page cache). */
export function reportFreePages(r: FreePageReporting, rssKiB: number, inUseKiB: number, nowNs: number): number {
  const periodNs = REPORTING_PERIOD_SECONDS * NS_PER_S;
  if (nowNs - r.lastPassNs < periodNs) return rssKiB;
  const freeKiB = Math.max(0, rssKiB - inUseKiB);
  const returnedKiB = Math.min(freeKiB, r.freeAtLastPassKiB, REPORTED_PER_PASS_KIB);
  r.freeAtLastPassKiB = freeKiB - returnedKiB;
  r.lastPassNs = nowNs;
  return rssKiB - returnedKiB;
}
