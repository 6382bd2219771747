// ort-infer.js MODEL.onnx C H W BATCH THREADS SECONDS: ONNX Runtime (onnxruntime-node through
// NODE_PATH, all graph optimizations, CPU) on a random [BATCH, C, H, W] input "image"; after 3
// warm-up runs, runs for SECONDS and prints "RESULT impl=ort batch=… threads=… ips=… cpu_ms=…"
// (images per wall second, CPU milliseconds of the whole process per image).
'use strict';
const ort = require('onnxruntime-node');

async function main() {
  const [path, c, h, w, batch, threads, seconds] = process.argv.slice(2).map((v, i) => (i ? Number(v) : v));
  const session = await ort.InferenceSession.create(path, {
    graphOptimizationLevel: 'all', intraOpNumThreads: threads, interOpNumThreads: 1,
    executionMode: 'sequential',
  });
  const x = new Float32Array(batch * c * h * w);
  let seed = 1;
  for (let i = 0; i < x.length; i++) { seed = (seed * 1103515245 + 12345) & 0x7fffffff; x[i] = seed / 0x7fffffff; }
  const feed = { image: new ort.Tensor('float32', x, [batch, c, h, w]) };
  for (let i = 0; i < 3; i++) await session.run(feed);
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  let images = 0;
  let wall = 0;
  do {
    await session.run(feed);
    images += batch;
    wall = Number(process.hrtime.bigint() - t0) / 1e9;
  } while (wall < seconds);
  const cpu = process.cpuUsage(c0);
  const cpuMs = (cpu.user + cpu.system) / 1000;
  console.log(`RESULT impl=ort batch=${batch} threads=${threads} ips=${(images / wall).toFixed(0)} ` +
              `cpu_ms=${(cpuMs / images).toFixed(4)}`);
}
main().catch((e) => { console.error(e && e.message ? e.message : e); process.exit(1); });
