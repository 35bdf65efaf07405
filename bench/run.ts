// `npm run bench`: runs every benchmark in turn.
import { runRpcBench } from './rpc.js';

await runRpcBench();
