// ort-time.js MODEL.onnx IMAGES THREADS [BATCH] [SIZE]: ONNX Runtime (onnxruntime-node through
// NODE_PATH, all graph optimizations, CPU) on BATCH (default 1) SIZExSIZE (default 224) images per
// run, random input; after 3 warm-up runs prints "cpu_ms X wall_ms Y bytes Z" per image (CPU
// time of the whole process).
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [path, imagesText, threadsText, batchText, sizeText] = process.argv.slice(2);
  const threads = Number(threadsText || 1);
  const batch = Number(batchText || 1);
  const size = Number(sizeText || 224);
  const runs = Math.max(1, Math.round(Number(imagesText || 30) / batch));
  const images = runs * batch;
  const session = await ort.InferenceSession.create(path, {
    graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const x = new Float32Array(batch * 3 * size * size);
  let seed = 1;
  for (let i = 0; i < x.length; i++) { seed = (seed * 1103515245 + 12345) & 0x7fffffff; x[i] = seed / 0x7fffffff * 2 - 1; }
  const feed = { image: new ort.Tensor('float32', x, [batch, 3, size, size]) };
  for (let i = 0; i < 3; i++) await session.run(feed);
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < runs; i++) await session.run(feed);
  const wall = Number(process.hrtime.bigint() - t0) / 1e6;
  const cpu = process.cpuUsage(c0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(`cpu_ms ${(cpuMs / images).toFixed(2)} wall_ms ${(wall / images).toFixed(2)} bytes ${fs.statSync(path).size}`);
}
main().catch((e) => { console.error(e && e.message ? e.message : e); process.exit(1); });
