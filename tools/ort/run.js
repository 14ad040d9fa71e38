#!/usr/bin/env node
// Reference runtime for qsim's tests and benchmarks: ONNX Runtime (npm
// onnxruntime-node, CPU execution provider).
//
//   node tools/ort/run.js run MODEL --input [NAME=]FILE.npy [...] --output DIR
//                         [--threads N] [--optimized-model PATH]
//   node tools/ort/run.js fmnist MODEL --output FILE.npy [--batch 64] [--threads N] [--limit N]
//                         [--optimized-model PATH]
//   node tools/ort/run.js bench MODEL --batch B --threads T [--iters N] [--warmup W]
//
// Sessions use graphOptimizationLevel 'all', intraOpNumThreads N (default 1),
// interOpNumThreads 1.  `run` writes one .npy per model output into DIR, named
// after the output with every character outside [A-Za-z0-9._-] replaced by '_'.
// `fmnist` feeds the Fashion-MNIST test set (pixel / 255, [B,1,28,28] float32),
// writes the outputs stacked on the batch axis and, for [B, classes] logits, prints
// "accuracy: XX.XX".  `bench` prints one JSON line.
// Any error: one line "run.js: <message>" on stderr, exit status 1.
'use strict';
const fs = require('fs');
const path = require('path');
const zlib = require('zlib');
const ort = require('onnxruntime-node');

const FMNIST = '/usr/share/datasets/fashion-mnist';

// ------------------------------------------------------------------ .npy I/O
// dtype descr -> [ORT tensor type, typed array constructor]
const DTYPES = {
  '<f4': ['float32', Float32Array],
  '<f8': ['float64', Float64Array],
  '|u1': ['uint8', Uint8Array],
  '|i1': ['int8', Int8Array],
  '<i4': ['int32', Int32Array],
  '<i8': ['int64', BigInt64Array],
};

function readNpy(file) {
  const buf = fs.readFileSync(file);
  if (buf.length < 10 || buf.toString('latin1', 0, 6) !== '\x93NUMPY') {
    throw new Error(`${file}: not a .npy file`);
  }
  const major = buf[6];
  let headerLen, start;
  if (major === 1) { headerLen = buf.readUInt16LE(8); start = 10; }
  else if (major === 2 || major === 3) { headerLen = buf.readUInt32LE(8); start = 12; }
  else throw new Error(`${file}: unsupported .npy version ${major}.${buf[7]}`);
  const header = buf.toString('latin1', start, start + headerLen);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header);
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header);
  const shape = /'shape'\s*:\s*\(([^)]*)\)/.exec(header);
  if (!descr || !fortran || !shape) throw new Error(`${file}: malformed .npy header`);
  if (fortran[1] === 'True') throw new Error(`${file}: fortran_order=True is not supported (C order only)`);
  const dt = DTYPES[descr[1]];
  if (!dt) throw new Error(`${file}: unsupported dtype '${descr[1]}'`);
  const dims = shape[1].split(',').map((s) => s.trim()).filter((s) => s !== '')
    .map((s) => parseInt(s, 10));
  if (dims.some((d) => !(d >= 0))) throw new Error(`${file}: bad shape (${shape[1]})`);
  const count = dims.reduce((a, b) => a * b, 1);
  const offset = start + headerLen;
  const nbytes = count * dt[1].BYTES_PER_ELEMENT;
  if (buf.length < offset + nbytes) throw new Error(`${file}: truncated data`);
  // Copy into a fresh (aligned) ArrayBuffer.
  const ab = buf.buffer.slice(buf.byteOffset + offset, buf.byteOffset + offset + nbytes);
  return new ort.Tensor(dt[0], new dt[1](ab), dims);
}

function writeNpy(file, data, dims) {
  const descr = Object.keys(DTYPES).find((k) => data instanceof DTYPES[k][1]);
  if (!descr) throw new Error(`${file}: cannot write ${data.constructor.name} as .npy`);
  const shape = dims.length === 1 ? `(${dims[0]},)` : `(${dims.join(', ')})`;
  let header = `{'descr': '${descr}', 'fortran_order': False, 'shape': ${shape}, }`;
  const pad = (pre) => header + ' '.repeat(63 - ((pre + header.length) % 64)) + '\n';  // align data to 64
  const version = pad(10).length > 65535 ? 2 : 1;
  const pre = version === 1 ? 10 : 12;
  header = pad(pre);
  const head = Buffer.alloc(pre);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = version; head[7] = 0;
  if (version === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  const body = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  fs.writeFileSync(file, Buffer.concat([head, Buffer.from(header, 'latin1'), body]));
}

// ------------------------------------------------------------ command line
function parseArgs(argv, flags, repeated = []) {
  const opts = { _: [] };
  for (const r of repeated) opts[r] = [];
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) { opts._.push(a); continue; }
    const name = a.slice(2);
    if (!flags.includes(name) && !repeated.includes(name)) throw new Error(`unknown option ${a}`);
    if (i + 1 >= argv.length) throw new Error(`option ${a} needs a value`);
    if (repeated.includes(name)) opts[name].push(argv[++i]);
    else opts[name] = argv[++i];
  }
  return opts;
}

function intOpt(opts, name, dflt) {
  if (opts[name] === undefined) return dflt;
  const v = Number(opts[name]);
  if (!Number.isInteger(v) || v < 0) throw new Error(`--${name} needs a non-negative integer, got '${opts[name]}'`);
  return v;
}

function oneModel(opts, cmd) {
  if (opts._.length !== 1) throw new Error(`${cmd}: expected exactly one MODEL argument`);
  return opts._[0];
}

async function openSession(model, threads, optimizedModel) {
  if (!fs.existsSync(model)) throw new Error(`${model}: no such file`);
  const options = {
    executionProviders: ['cpu'],
    graphOptimizationLevel: 'all',
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    logSeverityLevel: 3,
  };
  if (optimizedModel) options.optimizedModelFilePath = optimizedModel;
  return ort.InferenceSession.create(model, options);
}

// ---------------------------------------------------------------- commands
async function cmdRun(argv) {
  const opts = parseArgs(argv, ['output', 'threads', 'optimized-model'], ['input']);
  const model = oneModel(opts, 'run');
  if (!opts.output) throw new Error('run: --output DIR is required');
  if (opts.input.length === 0) throw new Error('run: at least one --input is required');
  const session = await openSession(model, intOpt(opts, 'threads', 1), opts['optimized-model']);
  const feeds = {};
  for (const spec of opts.input) {
    // NAME=FILE binds to input NAME; a bare FILE binds to the first input.
    const eq = spec.indexOf('=');
    let [name, file] = [session.inputNames[0], spec];
    if (eq >= 0 && (session.inputNames.includes(spec.slice(0, eq)) || !fs.existsSync(spec))) {
      [name, file] = [spec.slice(0, eq), spec.slice(eq + 1)];
      if (!session.inputNames.includes(name)) {
        throw new Error(`model has no input '${name}' (inputs: ${session.inputNames.join(', ')})`);
      }
    }
    if (feeds[name]) throw new Error(`input '${name}' given twice`);
    feeds[name] = readNpy(file);
  }
  const results = await session.run(feeds);
  fs.mkdirSync(opts.output, { recursive: true });
  for (const name of session.outputNames) {
    const t = results[name];
    const file = path.join(opts.output, name.replace(/[^A-Za-z0-9._-]/g, '_') + '.npy');
    writeNpy(file, t.data, t.dims);
    console.log(`${name}: ${t.type} [${t.dims.join(',')}] -> ${file}`);
  }
}

function readIdx(file, magic) {
  const buf = zlib.gunzipSync(fs.readFileSync(file));
  if (buf.readUInt32BE(0) !== magic) throw new Error(`${file}: bad idx magic`);
  const ndim = magic & 0xff;
  const dims = [];
  for (let i = 0; i < ndim; i++) dims.push(buf.readUInt32BE(4 + 4 * i));
  return { dims, data: buf.subarray(4 + 4 * ndim) };
}

async function cmdFmnist(argv) {
  const opts = parseArgs(argv, ['output', 'batch', 'threads', 'limit', 'optimized-model']);
  const model = oneModel(opts, 'fmnist');
  if (!opts.output) throw new Error('fmnist: --output FILE.npy is required');
  const batch = intOpt(opts, 'batch', 64);
  if (batch < 1) throw new Error('--batch must be at least 1');
  const images = readIdx(`${FMNIST}/t10k-images-idx3-ubyte.gz`, 0x803);
  const labels = readIdx(`${FMNIST}/t10k-labels-idx1-ubyte.gz`, 0x801);
  const [total, rows, cols] = images.dims;
  const n = Math.min(intOpt(opts, 'limit', total), total);
  const pix = rows * cols;
  const session = await openSession(model, intOpt(opts, 'threads', 1), opts['optimized-model']);
  const inName = session.inputNames[0];
  const outName = session.outputNames[0];
  // The output of any shape [B, ...] (logits [B, classes], a mask [B, 1, H, W], ...) is
  // stacked along the batch axis; the accuracy line is printed for [B, classes] logits only.
  let logits = null;
  let classes = 0;
  let itemDims = [0];
  for (let s = 0; s < n; s += batch) {
    const b = Math.min(batch, n - s);
    const x = new Float32Array(b * pix);
    for (let i = 0; i < b * pix; i++) x[i] = images.data[s * pix + i] / 255.0;
    const out = (await session.run({ [inName]: new ort.Tensor('float32', x, [b, 1, rows, cols]) }))[outName];
    if (!logits) {
      itemDims = out.dims.slice(1);
      classes = itemDims.reduce((a, c) => a * c, 1);
      logits = new Float32Array(n * classes);
    }
    logits.set(out.data, s * classes);
  }
  writeNpy(opts.output, logits || new Float32Array(0), [n, ...itemDims]);
  if (itemDims.length !== 1) return;
  let correct = 0;
  for (let i = 0; i < n; i++) {
    const row = logits.subarray(i * classes, (i + 1) * classes);
    let best = 0;
    for (let c = 1; c < classes; c++) if (row[c] > row[best]) best = c;
    if (best === labels.data[i]) correct++;
  }
  console.log(`accuracy: ${(100 * correct / Math.max(n, 1)).toFixed(2)}`);
}

async function cmdBench(argv) {
  const opts = parseArgs(argv, ['batch', 'threads', 'iters', 'warmup']);
  const model = oneModel(opts, 'bench');
  const batch = intOpt(opts, 'batch', 1);
  const threads = intOpt(opts, 'threads', 1);
  const iters = intOpt(opts, 'iters', 50);
  const warmup = intOpt(opts, 'warmup', 5);
  if (iters < 1) throw new Error('--iters must be at least 1');
  const session = await openSession(model, threads);
  let seed = 12345;  // LCG (Numerical Recipes constants), values in [0,1)
  const rand = () => { seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0; return seed / 4294967296; };
  const feeds = {};
  for (const meta of session.inputMetadata) {
    if (!meta.isTensor || meta.type !== 'float32') throw new Error(`bench: input '${meta.name}' is not a float32 tensor`);
    const dims = meta.shape.map((d, i) => {
      if (typeof d === 'number' && d >= 0) return d;
      if (i === 0) return batch;
      throw new Error(`bench: input '${meta.name}' has a symbolic dimension '${d}' at axis ${i}`);
    });
    const x = new Float32Array(dims.reduce((a, b) => a * b, 1));
    for (let i = 0; i < x.length; i++) x[i] = rand();
    feeds[meta.name] = new ort.Tensor('float32', x, dims);
  }
  for (let i = 0; i < warmup; i++) await session.run(feeds);
  const times = [];
  for (let i = 0; i < iters; i++) {
    const t0 = process.hrtime.bigint();
    await session.run(feeds);
    times.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  times.sort((a, b) => a - b);
  const mid = times.length >> 1;
  const median = times.length % 2 ? times[mid] : (times[mid - 1] + times[mid]) / 2;
  const r3 = (v) => Math.round(v * 1000) / 1000;
  console.log(JSON.stringify({ model, batch, threads, median_ms: r3(median), min_ms: r3(times[0]), iters }));
}

async function main() {
  const [cmd, ...argv] = process.argv.slice(2);
  const commands = { run: cmdRun, fmnist: cmdFmnist, bench: cmdBench };
  if (!commands[cmd]) throw new Error(`usage: run.js {run|fmnist|bench} MODEL [options] (got '${cmd || ''}')`);
  await commands[cmd](argv);
}

main().catch((e) => {
  const msg = (e && e.message ? e.message : String(e)).replace(/\s*\n\s*/g, ' ').trim();
  process.stderr.write(`run.js: ${msg}\n`);
  process.exit(1);
});
