import { BalloonWorld, MiB, consumer } from './balloon-driver.js';
const rate = Number(process.argv[2] ?? 40), interval = Number(process.argv[3] ?? 1), reserved = Number(process.argv[4] ?? 0);
const w = new BalloonWorld([
  { name: 'a', actualMiB: 512, maximumMiB: 2048, used: consumer(150, 10, rate, 1900, 60), reservedMiB: reserved },
  { name: 'b', actualMiB: 512, maximumMiB: 2048, used: () => 150, reservedMiB: reserved },
], 8192, undefined, interval);
let line = '';
for (let i = 0; i < 100 / interval; i++) {
  const r = w.step();
  line += `${r.t}:${(r.actual.a! / MiB).toFixed(0)}/${(r.used.a! / MiB).toFixed(0)} `;
}
console.log(line);
console.log('oom', w.oomEvents, 'minUnused', w.guests.map((g) => (g.minUnusedKiB / MiB).toFixed(0)));
