// Memory units. libvirt speaks KiB; people (options, reasons) speak MiB.

export const KIB_PER_MIB = 1024;

export function mibToKiB(mib: number): number {
  return Math.round(mib * KIB_PER_MIB);
}

/** Whole MiB for reasons and notices. */
export function mib(kib: number): number {
  return Math.round(kib / KIB_PER_MIB);
}

/** MiB/s with one decimal for reasons. */
export function mibPerSecond(kibPerSecond: number): string {
  const value = kibPerSecond / KIB_PER_MIB;
  return Number.isInteger(value) ? String(value) : value.toFixed(1);
}

/** `512 MiB` for people; `missing` when there is no figure. */
export function formatMiB(kib: number | undefined, missing = '-'): string {
  return kib === undefined ? missing : `${mib(kib)} MiB`;
}
