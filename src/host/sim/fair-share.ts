// How the simulated host scheduler shares pCPUs: weighted max-min fairness subject to affinity.
// Every vCPU gets min(demand, weight·λ) for the highest common level λ the pCPUs can carry; a vCPU
// that cannot grow because every pCPU it may use is full stops there and the others keep rising.
// This is what CFS with load balancing approximates: nothing pinned spreads work over all pCPUs;
// vCPUs pinned together split their pCPU in proportion to weight, each capped at its demand.

export interface ShareProblem {
  /** Per vCPU, 0..1 of a pCPU. */
  demands: number[];
  /** Per vCPU, > 0. */
  weights: number[];
  /** Per vCPU, the pCPUs it may run on (non-empty, each < pcpus). */
  affinity: number[][];
  pcpus: number;
}

export interface ShareResult {
  /** Per vCPU, the pCPU time it gets (0..demand). */
  received: number[];
  /** Per vCPU, per pCPU: the part of `received` it gets on that pCPU. */
  placement: number[][];
}

const EPS = 1e-12;

/**
 * Weighted water-filling of `capacity` over the given vCPUs: the level λ at which
 * Σ min(d_i, w_i·λ) = capacity, or Infinity when every demand fits.
 */
export function waterLevel(demands: number[], weights: number[], capacity: number): number {
  const order = demands.map((_, i) => i).sort((a, b) => demands[a]! / weights[a]! - demands[b]! / weights[b]!);
  let remaining = capacity;
  let weightLeft = 0;
  for (const i of order) weightLeft += weights[i]!;
  for (const i of order) {
    const d = demands[i]!;
    const w = weights[i]!;
    if ((d / w) * weightLeft <= remaining + EPS) {
      remaining -= d;
      weightLeft -= w;
    } else {
      return Math.max(0, remaining) / weightLeft;
    }
  }
  return Infinity;
}

/** Splits rates (each ≤ 1, sum ≤ pCPUs) over the given pCPUs by McNaughton's wrap-around rule. */
function wrapAround(members: number[], received: number[], pcpuList: number[], placement: number[][]): void {
  let slot = 0;
  let used = 0;
  for (const v of members) {
    let left = received[v]!;
    while (left > EPS && slot < pcpuList.length) {
      const take = Math.min(left, 1 - used);
      placement[v]![pcpuList[slot]!]! += take;
      left -= take;
      used += take;
      if (1 - used <= EPS) {
        slot++;
        used = 0;
      }
    }
  }
}

/** Affinity sets that are pairwise identical or disjoint split into independent groups. */
function partitionGroups(affinity: number[][]): Map<string, number[]> | null {
  const groups = new Map<string, number[]>();
  const owner = new Map<number, string>();
  let previous: readonly number[] | undefined;
  let previousKey = '';
  for (let v = 0; v < affinity.length; v++) {
    // Neighbouring vCPUs mostly share an affinity: reuse its key instead of joining it again.
    const set = affinity[v]!;
    const key = previous !== undefined && sameList(set, previous) ? previousKey : set.join(',');
    previous = set;
    previousKey = key;
    let members = groups.get(key);
    if (!members) {
      for (const p of affinity[v]!) {
        if (owner.has(p)) return null;
        owner.set(p, key);
      }
      members = [];
      groups.set(key, members);
    }
    members.push(v);
  }
  return groups;
}

function sameList(a: readonly number[], b: readonly number[]): boolean {
  if (a === b) return true;
  if (a.length !== b.length) return false;
  for (let k = 0; k < a.length; k++) if (a[k] !== b[k]) return false;
  return true;
}

function solvePartition(problem: ShareProblem, groups: Map<string, number[]>): ShareResult {
  const { demands, weights, affinity, pcpus } = problem;
  const received = new Array<number>(demands.length).fill(0);
  const placement = demands.map(() => new Array<number>(pcpus).fill(0));
  for (const members of groups.values()) {
    const set = affinity[members[0]!]!;
    const level = waterLevel(members.map((v) => demands[v]!), members.map((v) => weights[v]!), set.length);
    for (const v of members) received[v] = Math.min(demands[v]!, weights[v]! * level);
    wrapAround(members, received, set, placement);
  }
  return { received, placement };
}

/** Max-flow network source → vCPU (capacity = its rate) → allowed pCPU → sink (capacity 1). */
class Network {
  readonly n: number;
  readonly source = 0;
  readonly sink: number;
  // Edges in typed arrays (edge e and its reverse e ^ 1): the solver runs many max flows per step.
  private readonly head: Int32Array;
  private readonly to: Int32Array;
  private readonly cap: Float64Array;
  private readonly next: Int32Array;
  private edges = 0;
  private readonly sourceEdge: number[] = [];
  /** Per vCPU, the id of its edge to its first allowed pCPU (the others follow, two ids apart). */
  private readonly firstPcpuEdge: Int32Array;
  /** Capacities as built, restored before each run. */
  private readonly original: Float64Array;
  private readonly level: Int32Array;
  private readonly iter: Int32Array;
  private readonly queue: Int32Array;

  constructor(
    private readonly vcpus: number,
    pcpus: number,
    private readonly affinity: number[][],
  ) {
    this.n = vcpus + pcpus + 2;
    this.sink = this.n - 1;
    let edgeCount = vcpus + pcpus;
    for (let v = 0; v < vcpus; v++) edgeCount += affinity[v]!.length;
    this.head = new Int32Array(this.n).fill(-1);
    this.to = new Int32Array(2 * edgeCount);
    this.cap = new Float64Array(2 * edgeCount);
    this.next = new Int32Array(2 * edgeCount);
    for (let v = 0; v < vcpus; v++) this.sourceEdge.push(this.addEdge(this.source, 1 + v, 0));
    this.firstPcpuEdge = new Int32Array(vcpus);
    for (let v = 0; v < vcpus; v++) {
      this.firstPcpuEdge[v] = this.edges;
      for (const p of affinity[v]!) this.addEdge(1 + v, 1 + vcpus + p, Infinity);
    }
    for (let p = 0; p < pcpus; p++) this.addEdge(1 + vcpus + p, this.sink, 1);
    this.original = this.cap.slice();
    this.level = new Int32Array(this.n);
    this.iter = new Int32Array(this.n);
    this.queue = new Int32Array(this.n);
  }

  private addEdge(from: number, to: number, cap: number): number {
    const id = this.edges;
    this.edges += 2;
    this.to[id] = to;
    this.to[id + 1] = from;
    this.cap[id] = cap;
    this.cap[id + 1] = 0;
    this.next[id] = this.head[from]!;
    this.next[id + 1] = this.head[to]!;
    this.head[from] = id;
    this.head[to] = id + 1;
    return id;
  }

  /** Dinic's max flow for the given source capacities; returns the total flow. */
  run(rates: number[]): number {
    this.cap.set(this.original);
    for (let v = 0; v < this.vcpus; v++) this.cap[this.sourceEdge[v]!] = rates[v]!;
    let total = 0;
    const { level, iter, queue, head, next, to, cap } = this;
    for (;;) {
      level.fill(-1);
      level[this.source] = 0;
      let tail = 0;
      queue[tail++] = this.source;
      for (let qi = 0; qi < tail; qi++) {
        const u = queue[qi]!;
        for (let e = head[u]!; e !== -1; e = next[e]!) {
          const w = to[e]!;
          if (cap[e]! > EPS && level[w] === -1) {
            level[w] = level[u]! + 1;
            queue[tail++] = w;
          }
        }
      }
      if (level[this.sink] === -1) return total;
      iter.set(head);
      for (let f = this.push(this.source, Infinity); f > EPS; f = this.push(this.source, Infinity)) total += f;
    }
  }

  /** One augmenting path from u in the level graph, at most `limit`; returns what it carried. */
  private push(u: number, limit: number): number {
    if (u === this.sink) return limit;
    const { level, iter, next, to, cap } = this;
    for (; iter[u] !== -1; iter[u] = next[iter[u]!]!) {
      const e = iter[u]!;
      const w = to[e]!;
      if (cap[e]! > EPS && level[w] === level[u]! + 1) {
        const got = this.push(w, Math.min(limit, cap[e]!));
        if (got > EPS) {
          cap[e] = cap[e]! - got;
          cap[e ^ 1] = cap[e ^ 1]! + got;
          return got;
        }
      }
    }
    return 0;
  }

  /** vCPUs reachable from the source in the residual network (the source side of a min cut). */
  sourceSideVcpus(): number[] {
    const seen = new Array<boolean>(this.n).fill(false);
    seen[this.source] = true;
    const queue = [this.source];
    for (let qi = 0; qi < queue.length; qi++) {
      const u = queue[qi]!;
      for (let e = this.head[u]!; e !== -1; e = this.next[e]!) {
        const w = this.to[e]!;
        if (this.cap[e]! > 1e-9 && !seen[w]) {
          seen[w] = true;
          queue.push(w);
        }
      }
    }
    const out: number[] = [];
    for (let v = 0; v < this.vcpus; v++) if (seen[1 + v]) out.push(v);
    return out;
  }

  /** Per vCPU: whether more flow could reach the sink from it (it is not boxed in by full pCPUs). */
  canGrow(): boolean[] {
    const reaches = new Array<boolean>(this.n).fill(false);
    reaches[this.sink] = true;
    // Backward search: u reaches the sink if some residual edge u→w leads to a node that does.
    const queue = [this.sink];
    for (let qi = 0; qi < queue.length; qi++) {
      const w = queue[qi]!;
      for (let e = this.head[w]!; e !== -1; e = this.next[e]!) {
        const u = this.to[e]!;
        // e is w→u; its pair e^1 is u→w.
        if (this.cap[e ^ 1]! > 1e-9 && !reaches[u]) {
          reaches[u] = true;
          queue.push(u);
        }
      }
    }
    return Array.from({ length: this.vcpus }, (_, v) => reaches[1 + v]!);
  }

  placement(pcpus: number): number[][] {
    const rows: number[][] = [];
    for (let v = 0; v < this.vcpus; v++) {
      const row = new Array<number>(pcpus).fill(0);
      let e = this.firstPcpuEdge[v]!;
      for (const p of this.affinity[v]!) {
        row[p] = this.cap[e ^ 1]!;
        e += 2;
      }
      rows.push(row);
    }
    return rows;
  }
}

function solveGeneral(problem: ShareProblem): ShareResult {
  const { demands, weights, affinity, pcpus } = problem;
  const count = demands.length;
  const net = new Network(count, pcpus, affinity);
  const frozen = new Array<boolean>(count).fill(false);
  const rate = new Array<number>(count).fill(0);
  const ratesAt = (level: number): number[] => rate.map((r, v) => (frozen[v] ? r : Math.min(demands[v]!, weights[v]! * level)));
  const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);

  for (let round = 0; round <= count && frozen.some((f) => !f); round++) {
    // Newton-style descent: start where every demand is met, lower λ to each violated cut's level.
    let level = 0;
    for (let v = 0; v < count; v++) if (!frozen[v]) level = Math.max(level, demands[v]! / weights[v]!);
    let rates = ratesAt(level);
    for (let iteration = 0; iteration <= 2 * count + 2; iteration++) {
      const flow = net.run(rates);
      if (flow >= sum(rates) - 1e-9) break;
      const cut = net.sourceSideVcpus();
      const reachable = new Set<number>();
      for (const v of cut) for (const p of affinity[v]!) reachable.add(p);
      const open = cut.filter((v) => !frozen[v]);
      const fixed = sum(cut.filter((v) => frozen[v]).map((v) => rate[v]!));
      if (open.length === 0) break;
      const next = waterLevel(open.map((v) => demands[v]!), open.map((v) => weights[v]!), reachable.size - fixed);
      if (!(next < level)) break;
      level = next;
      rates = ratesAt(level);
    }
    const growable = net.canGrow();
    let newlyFrozen = 0;
    for (let v = 0; v < count; v++) {
      if (frozen[v]) continue;
      if (demands[v]! <= weights[v]! * level + 1e-12 || !growable[v]) {
        frozen[v] = true;
        rate[v] = rates[v]!;
        newlyFrozen++;
      }
    }
    if (newlyFrozen === 0) {
      for (let v = 0; v < count; v++) if (!frozen[v]) (frozen[v] = true), (rate[v] = rates[v]!);
    }
  }
  net.run(rate);
  return { received: rate, placement: net.placement(pcpus) };
}

/** Shares the pCPUs among the vCPUs (see the module comment). */
export function fairShare(problem: ShareProblem): ShareResult {
  const groups = partitionGroups(problem.affinity);
  return groups ? solvePartition(problem, groups) : solveGeneral(problem);
}

/** Same as fairShare but always through the general max-flow solver (for checking the fast path). */
export function fairShareGeneral(problem: ShareProblem): ShareResult {
  return solveGeneral(problem);
}
