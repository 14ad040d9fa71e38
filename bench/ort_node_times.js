#!/usr/bin/env node
// ONNX Runtime's time per node of the graph it runs (after its own rewrites), from its
// profiler, for comparison with bench_node_times:
//
//   node bench/ort_node_times.js MODEL.onnx [--batch 64] [--threads 1] [--runs 200]
//
// Same session options as tools/ort/run.js (graph optimization level "all"). Prints, per
// node, the 10th percentile of its kernel time over the runs, then the sum.
'use strict';
const fs = require('fs');
const os = require('os');
const path = require('path');
const ort = require(path.join(__dirname, '..', 'tools', 'ort', 'node_modules', 'onnxruntime-node'));

async function main() {
  const args = process.argv.slice(2);
  const option = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? parseInt(args[i + 1], 10) : fallback;
  };
  const model = args[0];
  if (!model) throw new Error('usage: ort_node_times.js MODEL.onnx [--batch B] [--threads T] [--runs N]');
  const batch = option('batch', 64), threads = option('threads', 1), runs = option('runs', 200);
  const prefix = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'ort-prof-')), 'profile');
  const session = await ort.InferenceSession.create(model, {
    graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1,
    enableProfiling: true, profileFilePrefix: prefix,
  });
  // The model's input shape with the batch axis set (any other symbolic axis is an error).
  const dims = session.inputMetadata[0].shape.map((d, i) => {
    if (typeof d === 'number' && d >= 0) return d;
    if (i === 0) return batch;
    throw new Error(`input '${session.inputNames[0]}' has a symbolic axis ${i} ('${d}')`);
  });
  const x = new Float32Array(dims.reduce((a, b) => a * b, 1));
  for (let i = 0; i < x.length; i++) x[i] = Math.random();
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', x, dims) };
  for (let i = 0; i < runs; i++) await session.run(feeds);
  session.endProfiling();
  const dir = path.dirname(prefix);
  const file = path.join(dir, fs.readdirSync(dir)[0]);
  const times = new Map();
  for (const e of JSON.parse(fs.readFileSync(file, 'utf8'))) {
    if (e.cat !== 'Node' || !e.name.endsWith('_kernel_time')) continue;
    const name = e.name.slice(0, -'_kernel_time'.length);
    if (!times.has(name)) times.set(name, []);
    times.get(name).push(e.dur);
  }
  fs.rmSync(dir, { recursive: true });
  let total = 0;
  for (const [name, us] of times) {
    us.sort((a, b) => a - b);
    const t = us[Math.floor(us.length / 10)];
    total += t;
    console.log(`${t.toFixed(1).padStart(10)} us  ${name}`);
  }
  console.log(`${total.toFixed(1).padStart(10)} us  total`);
}

main().catch((e) => { console.error(`ort_node_times.js: ${e.message}`); process.exit(1); });
