// Free page reporting (virtio-balloon `free-page-reporting`, Linux ≥ 5.7's page_reporting): the guest
// tells the host which of its free pages it may take back, and the host drops them from the QEMU
// process's resident set, without a balloon move. Linux's reporting worker runs a delay after free
// pages build up (PAGE_REPORTING_DELAY, 2 s) and then reports what is free; page cache is not free,
// so it is never reported. Modelled as a pass every REPORTING_PERIOD_SECONDS that returns the
// resident memory that was free at the previous pass and still is: memory freed now leaves within
// 2-4 s. Calibrated on a lab guest at its 2048 MiB maximum: touching 1.1 GiB and freeing it, its
// QEMU process fell from 1,375 to 241 MiB by itself (test/host/sim/free-page-reporting.test.ts).
// Not modelled: Linux reports only free blocks of 2 MiB and more (pageblock order), so a fragmented
// guest returns somewhat less.

export const REPORTING_PERIOD_SECONDS = 2;
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
  const returnedKiB = Math.min(freeKiB, r.freeAtLastPassKiB);
  r.freeAtLastPassKiB = freeKiB - returnedKiB;
  r.lastPassNs = nowNs;
  return rssKiB - returnedKiB;
}
