// Options every baseline is given for a scenario: the same floors, reserve and minimum sizes ours gets.
export interface BaselineOptions {
  floorsKiB: Record<string, number>;
  /** The host reserve the scorer checks against, KiB. */
  reserveKiB: number;
  /** The lowest balloon a baseline may set per guest (its configured minimum), KiB. */
  minKiB: Record<string, number>;
}
