// `npm run bench`: runs every benchmark in turn.
import { runPlacementBench } from './placement.js';
import { runRpcBench } from './rpc.js';

await runRpcBench();
await runPlacementBench();
