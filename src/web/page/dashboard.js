// virtbalance live dashboard. Plain script, no build step: uPlot (global `uPlot`) draws the charts.
// Data: GET api/state for the history, then server-sent events from `events` (hello, header,
// interval, status, ping). Everything from the host (domain names, reasons) goes in as text, never as HTML.
(() => {
  'use strict';

  const PCPU_COLORS = ['#5aa9ff', '#ffa657', '#7ee787', '#ff7b72', '#d2a8ff', '#f2cc60', '#56d4dd', '#ff9bce', '#a5d6ff', '#bdc96a', '#e0a370', '#9fa8ff'];
  const VM_COLORS = ['#4e9cf5', '#f28e2b', '#59c15f', '#e15759', '#b07aa1', '#edc948', '#76b7b2', '#ff9da7', '#9c755f', '#c9b3ff', '#8cd17d', '#f1ce63'];
  const CSS = getComputedStyle(document.documentElement);
  const color = (name) => CSS.getPropertyValue(name).trim();
  const LOG_LIMIT = 600;
  const HISTORY_LIMIT = 3600; // intervals kept for the charts (2 h at 2 s)
  const STALE_MS = 20000;

  const store = {
    runKey: undefined,
    header: undefined,
    status: undefined,
    intervals: [], // sorted by interval number
    numbers: new Set(),
    lastEventMs: Date.now(),
    trials: undefined, // the vCPU scheduler's trials over the whole run, as the server tallies them (src/score/trials.ts)
  };
  const vmColors = new Map();
  const logFilters = { trial: true, pin: true, weight: true, balloon: true, stats: true, notice: true, failure: true };
  let logRendered = -1; // highest interval already in the decision log
  let logNeedsRebuild = true;
  let renderQueued = false;

  // ---- helpers -------------------------------------------------------------------------------

  const $ = (id) => document.getElementById(id);
  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'class') el.className = v;
      else if (k === 'style') for (const [p, val] of Object.entries(v)) el.style.setProperty(p, val);
      else if (k.startsWith('data-')) el.setAttribute(k, String(v));
      else el[k] = v;
    }
    for (const c of children.flat()) if (c !== undefined && c !== null && c !== false) el.append(c instanceof Node ? c : String(c));
    return el;
  }
  const pct = (v, digits = 0) => (v === undefined || v === null || !Number.isFinite(v) ? '–' : `${(v * 100).toFixed(digits)} %`);
  function mib(kib) {
    if (kib === undefined || kib === null) return '–';
    const m = kib / 1024;
    return Math.abs(m) >= 10240 ? `${(m / 1024).toFixed(1)} GiB` : `${Math.round(m)} MiB`;
  }
  function clock(seconds) {
    if (!Number.isFinite(seconds)) return '–';
    const s = Math.max(0, Math.round(seconds));
    const hh = Math.floor(s / 3600), mm = Math.floor((s % 3600) / 60), ss = s % 60;
    return hh > 0 ? `${hh}:${String(mm).padStart(2, '0')}:${String(ss).padStart(2, '0')}` : `${mm}:${String(ss).padStart(2, '0')}`;
  }
  function vmColor(name) {
    if (!vmColors.has(name)) vmColors.set(name, VM_COLORS[vmColors.size % VM_COLORS.length]);
    return vmColors.get(name);
  }
  const latest = () => store.intervals[store.intervals.length - 1];
  const marginPoints = () => store.header?.options?.cpu?.marginPoints ?? 10;
  const { BALANCE_BAND_POINTS, crowdedPcpus, sharedSplit } = globalThis.virtbalanceRules;

  // ---- data in -------------------------------------------------------------------------------

  function resetRun(header) {
    store.runKey = header ? `${header.target}|${header.startedAt}` : undefined;
    store.header = header;
    store.intervals = [];
    store.numbers = new Set();
    store.trials = undefined;
    vmColors.clear();
    logRendered = -1;
    logNeedsRebuild = true;
    charts.destroyAll();
  }

  function acceptHeader(header) {
    if (!header) return;
    const key = `${header.target}|${header.startedAt}`;
    if (key !== store.runKey) resetRun(header);
    store.header = header;
  }

  /** The server's tally of trials; a newer one (counted through a later interval) replaces an older. */
  function acceptTrials(trials) {
    if (!trials) return;
    if (!store.trials || (trials.throughInterval ?? -1) >= (store.trials.throughInterval ?? -1)) store.trials = trials;
  }

  function addInterval(entry) {
    if (store.numbers.has(entry.interval)) return;
    store.numbers.add(entry.interval);
    const last = latest();
    if (!last || entry.interval > last.interval) store.intervals.push(entry);
    else {
      store.intervals.push(entry);
      store.intervals.sort((a, b) => a.interval - b.interval);
      logNeedsRebuild = true;
    }
    for (const d of entry.domains) vmColor(d);
    if (store.intervals.length > HISTORY_LIMIT) {
      for (const old of store.intervals.splice(0, store.intervals.length - HISTORY_LIMIT)) store.numbers.delete(old.interval);
    }
  }

  async function refill(missing) {
    const query = missing !== undefined && missing > 0 ? `?last=${missing}` : '';
    try {
      const res = await fetch(`api/state${query}`, { cache: 'no-store' });
      if (!res.ok) return;
      const snapshot = await res.json();
      acceptHeader(snapshot.header);
      if (snapshot.status) store.status = snapshot.status;
      for (const entry of snapshot.intervals) addInterval(entry);
      acceptTrials(snapshot.trials);
      scheduleRender();
    } catch {
      // The stream's own reconnect will try again.
    }
  }

  function connect() {
    const events = new EventSource('events');
    const heard = () => { store.lastEventMs = Date.now(); };
    events.addEventListener('open', () => { heard(); setStream('live'); });
    events.addEventListener('error', () => setStream(events.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'));
    events.addEventListener('hello', (e) => {
      heard();
      const hello = JSON.parse(e.data);
      const sameRun = hello.header && store.runKey === `${hello.header.target}|${hello.header.startedAt}`;
      acceptHeader(hello.header);
      store.status = hello.status;
      acceptTrials(hello.trials);
      const have = latest()?.interval ?? -1;
      const missing = sameRun && hello.lastInterval !== undefined ? hello.lastInterval - have : undefined;
      if (hello.lastInterval !== undefined && (missing === undefined || missing > 0)) refill(missing);
      scheduleRender();
    });
    events.addEventListener('header', (e) => { heard(); acceptHeader(JSON.parse(e.data)); scheduleRender(); });
    events.addEventListener('status', (e) => { heard(); store.status = JSON.parse(e.data); scheduleRender(); });
    events.addEventListener('interval', (e) => { heard(); addInterval(JSON.parse(e.data)); scheduleRender(); });
    events.addEventListener('trials', (e) => { heard(); acceptTrials(JSON.parse(e.data)); scheduleRender(); });
    events.addEventListener('ping', () => { heard(); if (streamState === 'stale') setStream('live'); });
    setInterval(() => {
      if (streamState === 'live' && Date.now() - store.lastEventMs > STALE_MS) setStream('stale');
    }, 2000);
  }

  let streamState = 'connecting';
  function setStream(state) {
    streamState = state;
    const pill = $('stream-pill');
    pill.dataset.state = state;
    pill.querySelector('.label').textContent = `stream: ${state === 'stale' ? 'no data for a while' : state}`;
  }

  // ---- charts ----------------------------------------------------------------------------------

  const axisStyle = () => ({ stroke: color('--muted'), grid: { stroke: color('--grid'), width: 1 }, ticks: { stroke: color('--grid'), width: 1, size: 4 }, font: '11px system-ui, sans-serif' });
  // Whole-second steps, so short intervals never label two ticks with the same m:ss.
  const TIME_STEPS = [1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 14400, 28800, 86400];
  const timeAxis = () => ({ ...axisStyle(), incrs: TIME_STEPS, values: (u, splits) => splits.map((s) => clock(s)) });

  const charts = {
    cpu: undefined,
    mem: new Map(), // domain (or '#host') -> { plot, card, vals }
    memYMax: 0,
    destroyAll() {
      this.cpu?.destroy();
      this.cpu = undefined;
      for (const m of this.mem.values()) { m.plot.destroy(); m.card.remove(); }
      this.mem.clear();
      $('cpu-chart').replaceChildren();
      $('mem-grid').replaceChildren();
    },
  };

  /** Small uPlot plugin: a triangle on top of the plot at every interval with a pin change. */
  function pinMarkers(getTimes) {
    return {
      hooks: {
        draw: [(u) => {
          const { ctx } = u;
          const top = u.bbox.top;
          ctx.save();
          ctx.fillStyle = color('--text');
          ctx.globalAlpha = 0.75;
          for (const t of getTimes()) {
            const x = Math.round(u.valToPos(t, 'x', true));
            if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) continue;
            const s = 5 * devicePixelRatio;
            ctx.beginPath();
            ctx.moveTo(x - s, top);
            ctx.lineTo(x + s, top);
            ctx.lineTo(x, top + s * 1.3);
            ctx.closePath();
            ctx.fill();
          }
          ctx.restore();
        }],
      },
    };
  }

  let pinTimes = [];

  function cpuSeries() {
    const rows = store.intervals.filter((e) => e.cpu && e.cpu.elapsedNs > 0 && !e.cpu.shortWindow);
    const pcpus = Math.max(store.header?.pcpus ?? 0, ...rows.map((e) => e.cpu.pcpuUsage.length));
    const x = rows.map((e) => e.timeMs / 1000);
    const lines = [];
    for (let p = 0; p < pcpus; p++) lines.push(rows.map((e) => (e.cpu.pcpuUsage[p] === undefined ? null : e.cpu.pcpuUsage[p] * 100)));
    const half = BALANCE_BAND_POINTS / 2;
    const mean = rows.map((e) => (e.cpu.pcpuUsage.reduce((a, b) => a + b, 0) / Math.max(1, e.cpu.pcpuUsage.length)) * 100);
    return { pcpus, data: [x, ...lines, mean.map((m) => m + half), mean.map((m) => Math.max(0, m - half))] };
  }

  function drawCpu() {
    const { pcpus, data } = cpuSeries();
    const el = $('cpu-chart');
    const width = el.clientWidth || 600;
    if (charts.cpu && charts.cpu.series.length !== pcpus + 3) { charts.cpu.destroy(); charts.cpu = undefined; el.replaceChildren(); }
    if (!charts.cpu) {
      const series = [{ label: 't', value: (u, v) => (v === null ? '–' : clock(v)) }];
      for (let p = 0; p < pcpus; p++) {
        series.push({ label: `pCPU${p}`, stroke: PCPU_COLORS[p % PCPU_COLORS.length], width: 2, value: (u, v) => (v === null ? '–' : `${v.toFixed(1)} %`), points: { show: false } });
      }
      const band = color('--good');
      series.push({ label: `band ±${BALANCE_BAND_POINTS / 2}`, stroke: band + '88', width: 1, dash: [4, 4], value: (u, v) => (v === null ? '–' : `${v.toFixed(1)}`), points: { show: false } });
      series.push({ label: '', stroke: band + '88', width: 1, dash: [4, 4], points: { show: false }, value: () => '' });
      charts.cpu = new uPlot({
        width,
        height: 300,
        series,
        bands: [{ series: [pcpus + 1, pcpus + 2], fill: band + '22' }],
        scales: { x: { time: false }, y: { range: (u, min, max) => [0, Math.max(100, Math.ceil((max ?? 100) / 10) * 10)] } },
        axes: [timeAxis(), { ...axisStyle(), size: 46, values: (u, splits) => splits.map((s) => `${s} %`) }],
        class: 'cpu-plot',
        legend: { live: true },
        cursor: { points: { size: 6 } },
        plugins: [pinMarkers(() => pinTimes)],
      }, data, el);
    } else charts.cpu.setData(data);
    $('cpu-hint').textContent = `band: mean ± ${BALANCE_BAND_POINTS / 2} pts (spread ≤ ${BALANCE_BAND_POINTS} counts as balanced, as in the score and report) · ▼ pin change`;
  }

  /** Tick steps in MiB that read well in GiB too (0.25, 0.5, 1, 2 …). */
  const MEM_STEPS = [16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072, 262144, 524288];

  /** MiB ticks, in GiB once the axis reaches 1 GiB, so one axis never mixes the two. */
  function memTicks(u, splits) {
    const max = u.scales.y.max ?? 0;
    if (max < 1024) return splits.map((s) => `${s} MiB`);
    const digits = splits.every((s) => Number.isInteger(s / 1024)) ? 0 : splits.every((s) => Number.isInteger((s / 1024) * 10)) ? 1 : 2;
    return splits.map((s) => (s === 0 ? '0' : `${(s / 1024).toFixed(digits)} GiB`));
  }

  function memChart(key, title, seriesSpec, height, bands = []) {
    const existing = charts.mem.get(key);
    if (existing) return existing;
    const vals = h('span', { class: 'vals' });
    const cacheVals = h('div', { class: 'cache-vals', hidden: true });
    const deviceVals = h('div', { class: 'device-vals', hidden: true });
    const chartEl = h('div', { class: 'mem-chart' });
    const card = h('div', { class: `mem-card${key === '#host' ? ' host' : ''}`, 'data-domain': key === '#host' ? undefined : key, style: key === '#host' ? {} : { '--vm': vmColor(key) } },
      h('div', { class: 'mem-head' }, h('b', {}, title), vals), deviceVals, cacheVals, chartEl);
    const grid = $('mem-grid');
    if (key === '#host') grid.prepend(card); else grid.append(card);
    const plot = new uPlot({
      width: Math.max(200, chartEl.clientWidth || 320),
      height,
      series: [{}, ...seriesSpec.map((s) => ({ label: s.label, stroke: s.stroke, fill: s.fill, width: s.width ?? 1.6, dash: s.dash, points: { show: false } }))],
      bands,
      scales: { x: { time: false }, y: { range: key === '#host' ? (u, min, max) => [0, Math.max(1, max ?? 1) * 1.08] : () => [0, charts.memYMax || 1] } },
      axes: [timeAxis(), { ...axisStyle(), size: 58, incrs: MEM_STEPS, values: (u, splits) => memTicks(u, splits) }],
      legend: { show: false },
      cursor: { points: { size: 5 } },
    }, [[], ...seriesSpec.map(() => [])], chartEl);
    const entry = { plot, card, vals, cacheVals, deviceVals };
    charts.mem.set(key, entry);
    return entry;
  }

  function drawMemory() {
    const rows = store.intervals.filter((e) => e.memory);
    const x = rows.map((e) => e.timeMs / 1000);
    const domains = [];
    for (const e of rows) for (const g of e.memory.guests) if (!domains.includes(g.domain)) domains.push(g.domain);
    const current = new Set((latest()?.memory?.guests ?? []).map((g) => g.domain));
    let yMax = 0;
    for (const e of rows) for (const g of e.memory.guests) yMax = Math.max(yMax, g.maximumKiB / 1024, g.actualKiB / 1024);
    // A virtio-mem guest can grow to boot + the device's size: the common scale has room for it.
    for (const e of rows) for (const d of Object.values(e.memoryDevices ?? {})) yMax = Math.max(yMax, (d.bootKiB + d.sizeKiB) / 1024);
    charts.memYMax = Math.ceil((yMax * 1.05) / 256) * 256;

    const host = memChart('#host', 'host free', [
      { label: 'free', stroke: color('--free'), width: 2 },
      { label: 'reserve', stroke: color('--reserve'), dash: [6, 4], width: 1.3 },
    ], 160);
    host.plot.setData([x, rows.map((e) => e.memory.hostFreeKiB / 1024), rows.map((e) => e.memory.reserveKiB / 1024)]);
    const lastMem = rows[rows.length - 1]?.memory;
    host.vals.replaceChildren();
    if (lastMem) {
      const below = lastMem.hostFreeKiB < lastMem.reserveKiB;
      host.vals.append(h('em', { class: below ? 'warn' : '' }, mib(lastMem.hostFreeKiB)), ` · reserve ${mib(lastMem.reserveKiB)}`, below ? h('span', { class: 'warn' }, ' BELOW RESERVE') : '');
    }

    for (const d of domains) {
      const m = memChart(d, d, [
        { label: 'actual', stroke: color('--actual'), width: 2.2 },
        { label: 'used', stroke: color('--used'), width: 1.6 },
        { label: 'unused', stroke: color('--unused'), width: 1.6 },
        { label: 'floor', stroke: color('--floor'), dash: [6, 4], width: 1.2 },
        { label: 'maximum', stroke: color('--maximum'), dash: [3, 4], width: 1.2 },
        // Guests that report MemAvailable: used stacked as anon (filled to 0), hot cache up to the
        // anon + hot line, cold cache from there up to used (the two bands).
        { label: 'anon', stroke: color('--anon'), fill: color('--anon') + '40', width: 1.2 },
        { label: 'anon + hot cache', stroke: color('--hot'), width: 1 },
        // A guest with virtio-mem: what it can have without its balloon, boot + plugged.
        { label: 'boot + plugged', stroke: color('--plugged'), dash: [5, 3], width: 1.4 },
      ], 160, [
        { series: [7, 6], fill: color('--hot') + '66' },
        { series: [2, 7], fill: color('--cold') + '66' },
      ]);
      const pick = (f) => rows.map((e) => {
        const g = e.memory.guests.find((q) => q.domain === d);
        const v = g ? f(g) : undefined;
        return v === undefined ? null : v / 1024;
      });
      m.plot.setData([
        x, pick((g) => g.actualKiB), pick((g) => g.usedKiB), pick((g) => g.unusedKiB), pick((g) => g.floorKiB), pick((g) => g.maximumKiB),
        pick((g) => g.anonKiB), pick((g) => (g.anonKiB === undefined || g.cacheKiB === undefined ? undefined : g.anonKiB + cacheHeld(g).hotKiB)),
        rows.map((e) => { const dev = e.memoryDevices?.[d]; return dev ? (dev.bootKiB + dev.pluggedKiB) / 1024 : null; }),
      ]);
      m.card.classList.toggle('gone', !current.has(d));
      const g = lastMem?.guests.find((q) => q.domain === d);
      m.vals.replaceChildren();
      if (g) {
        m.vals.append(h('em', { title: 'balloon actual' }, mib(g.actualKiB)), h('span', { title: 'used · unused' }, ` · ${mib(g.usedKiB)} used · ${mib(g.unusedKiB)} free`), g.fresh ? '' : h('span', { class: 'warn', title: 'balloon stats did not advance: the coordinator leaves this guest alone' }, ' · stale'));
      } else m.vals.append('gone');
      drawCacheVals(m.cacheVals, g);
      drawDeviceVals(m.deviceVals, g ? rows[rows.length - 1]?.memoryDevices?.[d] : undefined);
    }
    $('cache-key').hidden = !rows.some((e) => e.memory.guests.some((g) => g.cacheKiB !== undefined));
    $('device-key').hidden = !rows.some((e) => e.memoryDevices && Object.keys(e.memoryDevices).length > 0);
  }

  /** One line under a virtio-mem guest's title: boot, plugged of the device's size, and the request while it differs. */
  function drawDeviceVals(el, dev) {
    el.hidden = !dev;
    if (!dev) { el.replaceChildren(); return; }
    el.dataset.bootKib = String(dev.bootKiB);
    el.dataset.sizeKib = String(dev.sizeKiB);
    el.dataset.requestedKib = String(dev.requestedKiB);
    el.dataset.pluggedKib = String(dev.pluggedKiB);
    const moving = dev.requestedKiB > dev.pluggedKiB ? 'plugging' : dev.requestedKiB < dev.pluggedKiB ? 'unplugging' : '';
    // One unit for all, named once at the end, so the line fits a narrow panel (as the cache line).
    const gib = Math.max(dev.bootKiB, dev.sizeKiB) >= 10 * 1024 * 1024;
    const num = (kib) => (gib ? (kib / 1048576).toFixed(1) : String(Math.round(kib / 1024)));
    const unit = gib ? 'GiB' : 'MiB';
    el.replaceChildren(
      h('span', { class: 'plugged', title: 'virtio-mem: memory plugged into the guest / the most its device can plug' }, `plugged ${num(dev.pluggedKiB)}/${num(dev.sizeKiB)}`),
      ` · boot ${num(dev.bootKiB)}`,
      moving ? h('span', { class: 'requested', 'data-moving': moving, title: `requested: what the host asked the device to plug; the guest is ${moving} toward it, or stopped short` }, ` · asked ${num(dev.requestedKiB)}`) : '',
      ` ${unit}`,
    );
  }

  /** Hot and cold cache held; the coordinator's remembered hot size may exceed the cache while the guest reads it back. */
  function cacheHeld(g) {
    const hotKiB = Math.min(Math.max(0, g.hotKiB ?? 0), g.cacheKiB);
    return { hotKiB, coldKiB: Math.max(0, g.cacheKiB - hotKiB) };
  }

  /** One line under a guest's title: what it cannot drop, its hot and cold cache, its disk reads. */
  function drawCacheVals(el, g) {
    const show = !!g && g.cacheKiB !== undefined && g.anonKiB !== undefined;
    el.hidden = !show;
    if (!show) { el.replaceChildren(); return; }
    const { hotKiB, coldKiB } = cacheHeld(g);
    el.dataset.anonKib = String(g.anonKiB);
    el.dataset.hotKib = String(hotKiB);
    el.dataset.coldKib = String(coldKiB);
    // One unit for the three, named once at the end, so the line fits a narrow panel.
    const gib = Math.max(g.anonKiB, hotKiB, coldKiB) >= 10 * 1024 * 1024;
    const num = (kib) => (gib ? (kib / 1048576).toFixed(1) : String(Math.round(kib / 1024)));
    const rate = g.readKiBps === undefined ? undefined : g.readKiBps / 1024;
    const reads = rate === undefined ? '' : ` · reads ${rate < 0.05 ? '0' : rate < 10 ? rate.toFixed(1) : Math.round(rate)} MiB/s`;
    el.replaceChildren(
      h('span', { class: 'anon', title: 'anonymous memory and kernel: what the guest cannot drop' }, `anon ${num(g.anonKiB)}`), ' · ',
      h('span', { class: 'hot', title: 'hot page cache: re-read, part of its need' }, `hot ${num(hotKiB)}`), ' · ',
      h('span', { class: 'cold', title: 'cold page cache: read once, taken back gradually' }, `cold ${num(coldKiB)}`), ` ${gib ? 'GiB' : 'MiB'}`, reads,
    );
  }

  // ---- vCPU map ----------------------------------------------------------------------------------

  function drawMap() {
    const entry = [...store.intervals].reverse().find((e) => e.cpu && e.cpu.elapsedNs > 0 && !e.cpu.shortWindow);
    const mapEl = $('vcpu-map');
    if (!entry) {
      mapEl.replaceChildren(h('p', { class: 'empty' }, 'Waiting for the second observation (usage is measured between two).'));
      return;
    }
    // Pins decided in the newest interval have not been measured yet: show where the vCPU goes.
    const newest = latest();
    const failed = new Set((newest?.failures ?? []).map((f) => f.action));
    const moving = new Map();
    for (const a of newest?.actions ?? []) {
      if (a.kind === 'pin' && !failed.has(a) && a.pcpus.length === 1) moving.set(`${a.domain.name}:${a.vcpu}`, a.pcpus[0]);
    }
    const pcpus = Math.max(store.header?.pcpus ?? 0, entry.cpu.pcpuUsage.length);
    const columns = [];
    const floating = [];
    for (let p = 0; p < pcpus; p++) columns.push([]);
    // A vCPU allowed on several pCPUs shows on each where its usage counts (pcpuUsage pours it over
    // its set), with that part, so a column's chips add up to its figure; an idle one where it is now.
    const split = sharedSplit(entry.cpu.vcpus, entry.cpu.pcpuUsage);
    entry.cpu.vcpus.forEach((v, i) => {
      const parts = [...(split[i] ?? [])].filter(([p, part]) => part >= 0.001 && p < pcpus);
      if (parts.length > 0) for (const [p, part] of parts) columns[p].push({ ...v, usage: part, shared: { total: v.usage } });
      else if (v.pcpu === undefined || v.pcpu >= pcpus) floating.push(v);
      else columns[v.pcpu].push(split[i] ? { ...v, usage: 0, shared: { total: v.usage } } : v);
    });
    const dry = !!store.status?.dryRun;
    const chip = (v) => {
      const key = `${v.domain}:${v.vcpu}`;
      const to = moving.get(key);
      const movingAway = to !== undefined && to !== v.pcpu;
      return h('div', {
        class: `chip${movingAway ? ' moved' : ''}`,
        'data-vcpu': key,
        'data-domain': v.domain,
        'data-usage': String(v.usage),
        style: { '--vm': vmColor(v.domain) },
        title: v.shared
          ? `${v.domain} vCPU${v.vcpu}: ran ${pct(v.shared.total, 1)} of a pCPU over [${v.affinity.join(',')}], ${pct(v.usage, 1)} of it counted on this pCPU; wanted ${pct(v.demand, 1)}`
          : `${v.domain} vCPU${v.vcpu}: ran ${pct(v.usage, 1)} of a pCPU, wanted ${pct(v.demand, 1)}; allowed on [${v.affinity.join(',')}]`,
        ...(v.shared ? { 'data-shared': v.affinity.join(',') } : {}),
      },
      h('span', { class: 'vm-dot' }),
      h('span', { class: 'name' }, v.domain, h('small', {}, v.shared ? `vCPU${v.vcpu} · on ${v.affinity.join(',')}` : `vCPU${v.vcpu}`)),
      h('span', { class: 'use' }, pct(v.usage)),
      h('span', { class: 'bar' }, h('span', { style: { width: `${Math.min(100, v.usage * 100)}%` } }),
        !v.shared && v.demand > v.usage + 0.05 ? h('i', { title: `wants ${pct(v.demand)}`, style: { left: `${Math.min(99, v.demand * 100)}%` } }) : ''),
      movingAway ? h('span', { class: 'move', 'data-to': to }, `${dry ? 'would go' : '→'} pCPU${to}`) : '');
    };
    const crowding = crowdedPcpus(entry.cpu.pcpuUsage, entry.cpu.pcpuDemand ?? entry.cpu.pcpuUsage);
    const cols = columns.map((vs, p) => {
      const usage = entry.cpu.pcpuUsage[p] ?? 0;
      const demand = entry.cpu.pcpuDemand?.[p] ?? usage;
      const crowd = crowding[p];
      vs.sort((a, b) => b.usage - a.usage);
      return h('div', { class: `pcpu${vs.length === 0 ? ' free' : ''}`, 'data-pcpu': p, 'data-usage': String(usage) },
        h('div', { class: 'pcpu-head' }, h('b', {}, `pCPU${p}`), h('span', { class: 'pct', title: `ran ${pct(usage, 1)}, its vCPUs wanted ${pct(demand, 1)}` }, pct(usage))),
        h('div', { class: `meter${demand > 1.02 ? ' over' : ''}`, style: { '--c': PCPU_COLORS[p % PCPU_COLORS.length] } }, h('span', { style: { width: `${Math.min(100, usage * 100)}%` } })),
        crowd?.crowded ? h('div', { class: 'wants' }, `crowded: its vCPUs want ${pct(demand)}, its fair part is ${pct(crowd.fair)}`) : '',
        h('div', { class: 'chips' }, vs.map(chip)));
    });
    if (floating.length) cols.push(h('div', { class: 'pcpu', 'data-pcpu': 'none' }, h('div', { class: 'pcpu-head' }, h('b', {}, 'not placed')), h('div', { class: 'chips' }, floating.map(chip))));
    mapEl.classList.toggle('compact', pcpus > 8);
    mapEl.replaceChildren(...cols);
    $('map-hint').textContent = `measured in interval ${entry.interval} · ${entry.cpu.vcpus.length} vCPUs`;
  }

  // ---- guests: weight, prediction error, dedicated pCPUs ---------------------------------------------

  const clockBoundMeaning =
    'Learned from prediction errors: beside a busy vCPU it got less than it asked, because its busy windows end by the clock ' +
    '(bursty) and the host shares a pCPU equally only while both are runnable. The scheduler now predicts its share with that ' +
    'clock-bound model and may keep it apart from busy vCPUs.';

  /** "bursty (clock-bound)" after a guest's name when the scheduler learned some of its vCPUs clock-bound; null otherwise. */
  function clockBoundTag(g) {
    if (g.clockBound.length === 0) return null;
    const which = g.clockBound.length === g.vcpus ? '' : ` vCPU${g.clockBound.length > 1 ? 's' : ''} ${g.clockBound.join(',')}`;
    return h('span', { class: 'tag clock-bound', title: `${g.vcpus > 1 ? (which ? which.trim() : 'Every vCPU') : 'Its vCPU'} learned clock-bound. ${clockBoundMeaning}` }, `bursty (clock-bound)${which}`);
  }

  function drawGuests() {
    const entry = [...store.intervals].reverse().find((e) => e.cpu && e.cpu.elapsedNs > 0 && !e.cpu.shortWindow);
    const rows = $('guest-rows');
    if (!entry) {
      rows.replaceChildren();
      $('guests-hint').textContent = 'measuring…';
      return;
    }
    const cpu = entry.cpu;
    const guests = new Map();
    for (const v of cpu.vcpus) {
      const g = guests.get(v.domain) ?? { vcpus: 0, usage: 0, weight: v.weight ?? 1, clockBound: [] };
      g.vcpus++;
      g.usage += v.usage;
      if (v.clockBound) g.clockBound.push(v.vcpu);
      guests.set(v.domain, g);
    }
    const grants = new Map((cpu.dedicated ?? []).map((g) => [g.domain, g]));
    const refused = new Set(cpu.dedicatedRefused ?? []);
    const marked = new Set(store.header?.options?.cpu?.dedicated ?? []);
    const errors = cpu.domainPredictionError ?? {};
    const names = [...guests.keys()].sort((a, b) => a.localeCompare(b, undefined, { numeric: true }));
    rows.replaceChildren(...names.map((name) => {
      const g = guests.get(name);
      const err = errors[name];
      const grant = grants.get(name);
      let dedicated = h('span', { class: 'muted' }, marked.has(name) ? 'shares (idle or not yet busy long enough)' : '–');
      if (grant) dedicated = `pCPU${grant.pcpus.length > 1 ? 's' : ''} ${grant.pcpus.join(',')} since #${grant.sinceInterval} (${clock((grant.sinceMs ?? entry.timeMs) / 1000)})`;
      else if (refused.has(name)) dedicated = 'cannot be met: it would leave no pCPU for the others';
      return h('tr', { 'data-domain': name },
        h('td', { class: 'vm', style: { '--vm': vmColor(name) }, 'data-clock-bound': g.clockBound.join(',') }, name, clockBoundTag(g)),
        h('td', {}, String(g.vcpus)),
        h('td', {}, pct(g.usage)),
        h('td', { 'data-weight': g.weight }, String(Math.round(g.weight * 100) / 100)),
        h('td', { 'data-prediction-error': err === undefined ? '' : err }, err === undefined ? '–' : `${(err * 100).toFixed(1)} pts`),
        h('td', { 'data-dedicated': grant ? grant.pcpus.join(',') : '', 'data-held': grant ? 'yes' : 'no', 'data-refused': refused.has(name) ? 'yes' : 'no' }, dedicated));
    }));
    const mean = cpu.predictionError;
    $('guests-hint').textContent = `interval ${entry.interval}${mean === undefined ? '' : ` · host prediction error ${(mean * 100).toFixed(1)} pts (mean over vCPUs)`}`;
  }

  // ---- trials: every placement change is measured, then kept or reverted (src/cpu/trials.ts) ---------

  const HOLD_TEXT = {
    'one-trial-per-epoch': 'one trial per demand epoch',
    'placement-left-before': 'the placement in force was left once before in this epoch',
    'measured-worse-before': 'the proposed placement was measured worse before',
    'backing-off': 'a trial lost recently: backing off',
    'nothing-to-gain': 'the placement in force is as fair as a trial could measure',
  };
  const fairPct = (outcome) => (outcome && Number.isFinite(outcome.worstFraction) ? `${Math.round(outcome.worstFraction * 100)} %` : '–');
  /** Why a trial was abandoned in this interval (the trace's cpu.trial.abandoned), when one was. */
  const abandonedBecause = (trial) => trial?.abandoned?.because;
  const TRIAL_MEANING = 'Each placement change is a trial: after a settling interval, what every vCPU receives is measured for a few intervals and '
    + 'compared with what the placement before delivered (worst-served vCPU\'s share of its max-min fair share). Measured worse: the moved vCPUs go back.';

  function drawTrials() {
    const el = $('cpu-trial');
    const t = store.trials;
    const decided = [...store.intervals].reverse().find((e) => e.cpu?.decision);
    el.hidden = !t && !decided;
    if (el.hidden) return;
    const last = t?.last;
    const outcome = t?.lastOutcome;
    const inProgress = t && t.openEpoch !== undefined && last && (last.trial.event === 'started' || last.trial.event === 'measuring');
    let state = 'none', badge = 'TRIAL', text = 'no trial yet: the scheduler tries a placement change when its model proposes one', when;
    if (inProgress) {
      const p = last.trial.progress;
      state = 'in-progress';
      badge = 'TRIAL';
      text = `trial in progress (${p ? `${p[0]} of ${p[1]} measured` : 'settling'}), before: worst ${fairPct(last.trial.baseline)} of fair share`;
      when = last;
    } else if (outcome) {
      const o = outcome.trial;
      state = o.event;
      when = outcome;
      if (o.event === 'kept') { badge = 'KEPT'; text = `kept: ${fairPct(o.measured)} vs ${fairPct(o.baseline)}`; }
      else if (o.event === 'reverted') { badge = 'REVERTED'; text = `reverted: ${fairPct(o.measured)} vs ${fairPct(o.baseline)}`; }
      else { badge = 'ABANDONED'; text = `abandoned: demands changed before it was measured (before: worst ${fairPct(o.baseline)} of fair share)`; }
    } else if (last?.trial.event === 'held') {
      state = 'held';
      badge = 'HELD';
      text = `held: ${HOLD_TEXT[last.trial.rule] ?? 'a proposal not tried'}`;
      when = last;
    }
    el.dataset.state = state;
    el.title = TRIAL_MEANING;
    $('trial-badge').textContent = badge;
    $('trial-text').textContent = text;
    const measuredOutcome = state === 'kept' || state === 'reverted';
    $('trial-when').textContent = [
      measuredOutcome ? 'worst fraction of fair share, tried vs before' : '',
      when ? `#${when.interval}` : '',
    ].filter(Boolean).join(' · ');
    const heldNow = last?.trial.event === 'held' && state !== 'held';
    $('trial-held').hidden = !heldNow;
    $('trial-held').textContent = heldNow ? `held: ${HOLD_TEXT[last.trial.rule] ?? 'a proposal not tried'} (#${last.interval})` : '';
    const meta = [];
    if (t?.epoch !== undefined) meta.push(`demand epoch ${t.epoch}`);
    if (t) {
      const counts = [`${t.started} started`, `${t.kept} kept`, `${t.reverted} reverted`];
      if (t.abandoned) counts.push(`${t.abandoned} abandoned`);
      meta.push(`trials: ${counts.join(', ')}`);
      if (t.held) meta.push(`${t.held} proposal${t.held === 1 ? '' : 's'} held`);
    }
    $('trial-meta').textContent = meta.join(' · ');
    $('trial-decision').textContent = decided ? `#${decided.interval} decision: ${decided.cpu.decision}` : '';
    $('trial-decision').title = decided ? decided.cpu.decision : '';
  }

  /** A trial's log items: abandoned (the trace says so), started, kept or reverted. */
  function trialItems(entry) {
    const items = [];
    const tr = entry.cpu?.trial;
    const why = abandonedBecause(tr);
    if (tr?.event === 'abandoned' || tr?.abandoned) {
      items.push({ kind: 'trial', attrs: { 'data-outcome': 'abandoned' }, badge: 'ABANDONED', what: ['trial abandoned'], why: `demands changed before it was measured: ${why ?? 'a new demand epoch began'}` });
    }
    // Started with a measured figure: it replaces a trial measured worse (trials.ts redirect, releaseInstead).
    if (tr?.event === 'started' && tr.measured) {
      items.push({ kind: 'trial', attrs: { 'data-outcome': 'reverted' }, badge: 'REVERTED', what: [`trial measured worse: ${fairPct(tr.measured)} vs ${fairPct(tr.baseline)}`], why: 'another placement tried instead of going back' });
    }
    if (tr?.event === 'started') {
      items.push({ kind: 'trial', attrs: { 'data-outcome': 'started' }, badge: 'TRIAL', what: [`trial started, epoch ${tr.epoch}`, h('span', { class: 'arrow' }, ` · before ${fairPct(tr.baseline)}`)], why: tr.text ?? 'a placement change, to be measured' });
    } else if (tr?.event === 'kept' || tr?.event === 'reverted') {
      items.push({ kind: 'trial', attrs: { 'data-outcome': tr.event }, badge: tr.event === 'kept' ? 'KEPT' : 'REVERTED',
        what: [`trial ${tr.event}: ${fairPct(tr.measured)} vs ${fairPct(tr.baseline)}`], why: tr.text ?? '' });
    }
    return items;
  }

  // ---- decision log ----------------------------------------------------------------------------------

  function logItems(entry) {
    const items = [];
    const when = `#${entry.interval} · ${clock(entry.timeMs / 1000)}`;
    const failed = new Map(entry.failures.map((f) => [f.action, f.error]));
    const dry = !!store.status?.dryRun;
    const vm = (name) => h('span', { class: 'vm', style: { '--vm': vmColor(name) } }, name);
    // A trial first: it reads above the pins it made (or the revert's pins back).
    items.push(...trialItems(entry));
    for (const a of entry.actions) {
      if (a.kind === 'pin') {
        items.push({ kind: 'pin', attrs: { 'data-domain': a.domain.name, 'data-vcpu': a.vcpu, 'data-to': a.pcpus.join(',') }, badge: 'PIN',
          what: [vm(a.domain.name), ` vCPU${a.vcpu} `, h('span', { class: 'arrow' }, `[${a.previous.join(',')}] → `), `pCPU${a.pcpus.length === 1 ? a.pcpus[0] : `[${a.pcpus.join(',')}]`}`], why: a.reason });
      } else if (a.kind === 'set-memory') {
        const delta = (a.targetKiB - a.fromKiB) / 1024;
        items.push({ kind: 'balloon', attrs: { 'data-domain': a.domain.name, 'data-direction': delta >= 0 ? 'up' : 'down' }, badge: delta >= 0 ? 'GROW' : 'SHRINK',
          what: [vm(a.domain.name), ` ${mib(a.fromKiB)} `, h('span', { class: 'arrow' }, '→ '), `${mib(a.targetKiB)} (${delta >= 0 ? '+' : '−'}${Math.abs(Math.round(delta))})`], why: a.reason });
      } else if (a.kind === 'set-cpu-weight') {
        items.push({ kind: 'weight', attrs: { 'data-domain': a.domain.name, 'data-weight': a.weight }, badge: 'WEIGHT',
          what: [vm(a.domain.name), ` weight ${a.previous} `, h('span', { class: 'arrow' }, '→ '), String(a.weight)], why: a.reason });
      } else if (a.kind === 'set-stats-period') {
        items.push({ kind: 'stats', attrs: { 'data-domain': a.domain.name }, badge: 'STATS', what: [vm(a.domain.name), ` stats every ${a.seconds} s`], why: a.reason });
      }
      if (failed.has(a)) items.push({ kind: 'failure', attrs: { 'data-domain': a.domain.name }, badge: 'FAILED', what: [vm(a.domain.name), ` ${a.kind}`], why: failed.get(a) });
    }
    for (const n of entry.notices) items.push({ kind: 'notice', attrs: { 'data-domain': n.domain }, badge: 'NOTE', what: n.domain ? [vm(n.domain)] : ['host'], why: n.message });
    for (const k of entry.oomKills ?? []) items.push({ kind: 'failure', attrs: { 'data-domain': k.domain }, badge: 'OOM', what: [vm(k.domain), ' OOM kill'], why: `killed ${k.process} (pid ${k.pid}), seen on the guest's console` });
    for (const o of entry.truth?.oomEvents ?? []) items.push({ kind: 'failure', attrs: { 'data-domain': o.domain }, badge: 'OOM', what: [vm(o.domain), ' OOM kill'], why: `wanted ${mib(o.demandKiB)}, had ${mib(o.actualKiB)}` });
    // Newest first within the interval too, so the whole list reads top-down from now.
    return items.reverse().map((it) => h('li', { 'data-kind': it.kind, 'data-interval': entry.interval, ...it.attrs, hidden: !logFilters[it.kind] },
      h('span', { class: 'when' }, when), h('span', { class: 'badge' }, it.badge), h('span', { class: 'what' }, ...it.what), h('span', { class: 'why' }, it.why)));
  }

  function drawLog() {
    const list = $('decision-log');
    if (logNeedsRebuild) {
      list.replaceChildren();
      logRendered = -1;
      logNeedsRebuild = false;
    }
    const fresh = [];
    for (const e of store.intervals) if (e.interval > logRendered) fresh.push(...logItems(e).map((li) => ({ li, interval: e.interval })));
    if (fresh.length) {
      const first = logRendered >= 0;
      const nodes = fresh.reverse().map(({ li }) => { if (first) li.classList.add('fresh'); return li; });
      list.prepend(...nodes);
      logRendered = latest().interval;
      while (list.childElementCount > LOG_LIMIT) list.lastElementChild.remove();
    }
    const total = list.childElementCount;
    const pins = list.querySelectorAll('li[data-kind="pin"]').length;
    const balloons = list.querySelectorAll('li[data-kind="balloon"]').length;
    const counts = [];
    if (store.header?.controllers?.cpu) counts.push(`${pins} pin change${pins === 1 ? '' : 's'}`);
    if (store.header?.controllers?.memory) counts.push(`${balloons} balloon change${balloons === 1 ? '' : 's'}`);
    if (store.status?.dryRun) counts.push('dry run: decided, not applied');
    if (total >= LOG_LIMIT) counts.push(`newest ${LOG_LIMIT} shown`);
    $('log-count').textContent = total ? counts.join(' · ') : '';
    $('log-empty').hidden = total > 0;
  }

  function buildFilters() {
    const names = { trial: 'trials', pin: 'pins', weight: 'weights', balloon: 'balloon', stats: 'stats period', notice: 'notes', failure: 'failures' };
    $('log-filters').replaceChildren(...Object.entries(names).map(([kind, label]) => {
      const box = h('input', { type: 'checkbox', checked: logFilters[kind] });
      box.addEventListener('change', () => {
        logFilters[kind] = box.checked;
        for (const li of $('decision-log').querySelectorAll(`li[data-kind="${kind}"]`)) li.hidden = !box.checked;
      });
      return h('label', {}, box, label);
    }));
  }

  // ---- header and tiles ----------------------------------------------------------------------------------

  function tile(label, value, unit, sub, tone, id) {
    return h('div', { class: 'tile', 'data-tone': tone, 'data-tile': id }, h('div', { class: 'label' }, label), h('div', { class: 'value' }, value, unit ? h('small', {}, unit) : ''), h('div', { class: 'sub' }, sub));
  }

  function drawTiles() {
    const header = store.header;
    const tiles = [];
    const last = latest();
    const lastCpu = [...store.intervals].reverse().find((e) => e.cpu && e.cpu.elapsedNs > 0 && !e.cpu.shortWindow)?.cpu;
    let pins = 0, balloons = 0, failures = 0, lastPin, lastBalloon, lastFailure;
    for (const e of store.intervals) {
      const failed = new Set(e.failures.map((f) => f.action));
      for (const a of e.actions) {
        if (failed.has(a)) continue;
        if (a.kind === 'pin') { pins++; lastPin = e; }
        if (a.kind === 'set-memory') { balloons++; lastBalloon = { e, a }; }
      }
      failures += e.failures.length;
      if (e.failures.length) lastFailure = e.failures[e.failures.length - 1];
    }
    const dry = store.status?.dryRun ? ' (dry run)' : '';
    if (header?.controllers?.cpu) {
      if (lastCpu) {
        const u = lastCpu.pcpuUsage;
        const mean = u.reduce((a, b) => a + b, 0) / Math.max(1, u.length);
        const busiest = u.indexOf(Math.max(...u));
        const idlest = u.indexOf(Math.min(...u));
        tiles.push(tile('balance', lastCpu.balanced ? 'balanced' : 'unbalanced', '', `demand spread ${lastCpu.spreadPoints.toFixed(0)} pts · margin ${marginPoints()}`, lastCpu.balanced ? 'good' : 'warn', 'balance'));
        tiles.push(tile('pCPU load', (mean * 100).toFixed(0), '% mean', `max pCPU${busiest} ${pct(u[busiest])} · min pCPU${idlest} ${pct(u[idlest])}`, 'accent', 'load'));
      } else tiles.push(tile('balance', '–', '', 'measuring…', undefined, 'balance'));
      if (lastCpu?.predictionError !== undefined) {
        const worst = Object.entries(lastCpu.domainPredictionError ?? {}).sort((a, b) => b[1] - a[1])[0];
        tiles.push(tile('prediction error', (lastCpu.predictionError * 100).toFixed(1), 'pts', worst ? `mean |predicted − ran| · worst ${worst[0]} ${(worst[1] * 100).toFixed(1)}` : 'mean |predicted − ran|', lastCpu.predictionError > 0.1 ? 'warn' : 'good', 'prediction'));
      }
      const held = lastCpu?.dedicated ?? [];
      if (held.length || lastCpu?.dedicatedRefused?.length || store.header?.options?.cpu?.dedicated?.length) {
        const refusedNow = lastCpu?.dedicatedRefused ?? [];
        tiles.push(tile('dedicated', String(held.reduce((n, g) => n + g.pcpus.length, 0)), 'pCPUs', held.map((g) => `${g.domain}: ${g.pcpus.join(',')}`).concat(refusedNow.map((d) => `${d}: cannot be met`)).join(' · ') || 'none held', refusedNow.length ? 'warn' : undefined, 'dedicated'));
      }
      tiles.push(tile('pin changes', String(pins), dry, lastPin ? `last at #${lastPin.interval} (${clock(lastPin.timeMs / 1000)})` : 'none yet', undefined, 'pins'));
    }
    if (header?.controllers?.memory) {
      const mem = [...store.intervals].reverse().find((e) => e.memory)?.memory;
      if (mem) {
        const below = mem.hostFreeKiB < mem.reserveKiB;
        const total = mem.guests.reduce((a, g) => a + g.actualKiB, 0);
        tiles.push(tile('host free', mib(mem.hostFreeKiB).split(' ')[0], mib(mem.hostFreeKiB).split(' ')[1], `reserve ${mib(mem.reserveKiB)}${below ? ' · BELOW' : ''} · guests hold ${mib(total)}`, below ? 'bad' : 'good', 'host-free'));
      }
      const lb = lastBalloon ? `last: ${lastBalloon.a.domain.name} ${lastBalloon.a.targetKiB >= lastBalloon.a.fromKiB ? '+' : '−'}${Math.abs(Math.round((lastBalloon.a.targetKiB - lastBalloon.a.fromKiB) / 1024))} MiB at #${lastBalloon.e.interval}` : 'none yet';
      tiles.push(tile('balloon changes', String(balloons), dry, lb, undefined, 'balloons'));
    }
    tiles.push(tile('failed calls', String(failures), '', lastFailure ? lastFailure.error : 'none', failures ? 'bad' : 'good', 'failures'));
    if (last) tiles.push(tile('guests', String(last.domains.length), 'running', last.domains.slice(0, 6).join(', ') + (last.domains.length > 6 ? ' …' : ''), undefined, 'guests'));
    $('tiles').replaceChildren(...tiles);
  }

  function drawTopbar() {
    const header = store.header;
    const status = store.status;
    const last = latest();
    $('run-target').textContent = header ? header.target : status?.uri ?? 'connecting…';
    const meta = [];
    if (header) {
      if (header.scenario && !header.target.includes(header.scenario)) meta.push(h('span', {}, header.scenario));
      meta.push(h('span', {}, `every ${header.intervalSeconds} s`));
      meta.push(h('span', {}, [header.controllers.cpu ? 'vCPU scheduler' : '', header.controllers.memory ? 'memory coordinator' : ''].filter(Boolean).join(' + ')));
      meta.push(h('span', {}, `${header.pcpus} pCPUs`));
    }
    if (status?.dryRun) meta.push(h('span', { class: 'tag warn' }, 'DRY RUN: nothing is changed'));
    if (status?.pace) meta.push(h('span', { class: 'tag' }, `simulated, ${status.pace} interval${status.pace === 1 ? '' : 's'}/s`));
    $('run-meta').replaceChildren(...meta);

    const hostPill = $('host-pill');
    const conn = status?.connection ?? 'connecting';
    const uri = status?.uri ?? header?.target ?? '';
    hostPill.dataset.state = conn;
    hostPill.title = status?.connectionError ? `last error: ${status.connectionError}` : uri;
    hostPill.querySelector('.label').textContent = conn === 'reconnecting'
      ? `host: reconnecting (${status.failedObservations} failed) · ${uri}`
      : `host: ${conn} · ${uri}`;

    const phase = $('phase-pill');
    phase.hidden = !(status && (status.phase === 'finished' || status.phase === 'stopped'));
    phase.dataset.state = status?.phase ?? '';
    phase.querySelector('.label').textContent = status?.phase === 'finished' ? 'run finished' : 'run stopped';

    const planned = status?.plannedIntervals;
    $('clock-interval').textContent = last ? `interval ${last.interval}${planned ? ` / ${planned}` : ''}` : 'interval –';
    $('clock-time').textContent = last ? `t ${clock(last.timeMs / 1000)}` : 't –';
    document.body.dataset.lastInterval = String(last?.interval ?? -1);
    document.title = last ? `virtbalance · ${header?.target ?? ''} · #${last.interval}` : 'virtbalance';
  }

  // ---- render ----------------------------------------------------------------------------------

  function scheduleRender() {
    if (renderQueued) return;
    renderQueued = true;
    requestAnimationFrame(() => {
      renderQueued = false;
      render();
    });
  }

  function render() {
    const header = store.header;
    pinTimes = [];
    for (const e of store.intervals) if (e.actions.some((a) => a.kind === 'pin')) pinTimes.push(e.timeMs / 1000);
    drawTopbar();
    drawTiles();
    const hasCpu = !!header?.controllers?.cpu;
    const hasMem = store.intervals.some((e) => e.memory);
    $('cpu-section').hidden = !hasCpu;
    $('guests-section').hidden = !hasCpu;
    $('memory-section').hidden = !hasMem;
    if (hasCpu) { drawTrials(); drawCpu(); drawMap(); drawGuests(); }
    if (hasMem) drawMemory();
    drawLog();
  }

  function resize() {
    if (charts.cpu) charts.cpu.setSize({ width: $('cpu-chart').clientWidth, height: 300 });
    for (const m of charts.mem.values()) {
      const el = m.card.querySelector('.mem-chart');
      m.plot.setSize({ width: Math.max(200, el.clientWidth), height: m.plot.height });
    }
  }

  buildFilters();
  let resizeTimer;
  window.addEventListener('resize', () => { clearTimeout(resizeTimer); resizeTimer = setTimeout(resize, 100); });
  refill();
  connect();
  render();
})();
