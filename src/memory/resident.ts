/**
 * What the host holds of a guest's memory: its QEMU process's resident set, at most its balloon
 * size (QEMU's own pages beyond the guest's memory are not the guest's to give back). Without a
 * resident set, the balloon size.
 */
export function heldByHostKiB(residentKiB: number | undefined, actualKiB: number): number {
  return Math.min(residentKiB ?? actualKiB, actualKiB);
}
