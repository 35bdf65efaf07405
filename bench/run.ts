// `npm run bench`: runs every benchmark in turn.
import { runJudgeBench } from './judge.js';
import { runLabBench } from './lab.js';
import { runLatencyBench } from './latency.js';
import { runLeversBench } from './levers.js';
import { runMemoryBench } from './memory.js';
import { runMixBench } from './mixes.js';
import { runPlacementBench } from './placement.js';
import { runRpcBench } from './rpc.js';

await runRpcBench();
await runPlacementBench();
await runLeversBench();
await runMemoryBench();
await runLabBench();
await runLatencyBench();
await runJudgeBench();
await runMixBench();
