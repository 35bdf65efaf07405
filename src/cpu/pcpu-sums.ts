// Adding an amount to every pCPU of a vCPU's affinity, cheaply when the affinity is a range.
//
// An unpinned vCPU (or one released to every pCPU) is allowed on 0..P−1: adding its fragment to
// each pCPU costs P additions, and 4,000 released vCPUs on 256 pCPUs cost a million per sum. A
// contiguous affinity instead adds to a difference array at its two ends; the sums are taken once
// at the end. Results equal the direct additions up to floating-point rounding (~1e−15).

/** Affinities shorter than this are added directly (two writes plus a prefix pass would not pay). */
const rangeFrom = 8;

export class PcpuSums {
  private readonly direct: Float64Array;
  private readonly steps: Float64Array;
  private ranged = false;

  constructor(readonly pcpus: number) {
    this.direct = new Float64Array(pcpus);
    this.steps = new Float64Array(pcpus + 1);
  }

  /** Adds `amount` to each pCPU in `where` (sorted, unique, valid indices). */
  add(where: readonly number[], amount: number): void {
    const n = where.length;
    if (n >= rangeFrom && where[n - 1]! - where[0]! === n - 1) {
      this.steps[where[0]!] = this.steps[where[0]!]! + amount;
      this.steps[where[n - 1]! + 1] = this.steps[where[n - 1]! + 1]! - amount;
      this.ranged = true;
      return;
    }
    for (let k = 0; k < n; k++) this.direct[where[k]!] = this.direct[where[k]!]! + amount;
  }

  /** The sum per pCPU. */
  values(): number[] {
    const out = new Array<number>(this.pcpus);
    let level = 0;
    for (let p = 0; p < this.pcpus; p++) {
      if (this.ranged) level += this.steps[p]!;
      out[p] = this.direct[p]! + level;
    }
    return out;
  }
}
