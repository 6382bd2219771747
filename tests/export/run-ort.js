// run-ort.js MODEL.onnx INPUT.bin N,C,H,W OUT.bin: runs MODEL in ONNX Runtime (onnxruntime-node,
// found through NODE_PATH) on the little-endian float32 batch INPUT.bin, once image by image and
// once as the whole batch, and writes both outputs ("probabilities") one after the other to OUT.bin;
// when the model has an "unknown_score" output, its batch values go to OUT.bin.unknown.
// Prints the runtime's version.
'use strict';
const fs = require('fs');
const ort = require('onnxruntime-node');

async function main() {
  const [modelPath, inputPath, shapeText, outPath] = process.argv.slice(2);
  const shape = shapeText.split(',').map(Number);
  const buf = fs.readFileSync(inputPath);
  const x = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const session = await ort.InferenceSession.create(modelPath, { graphOptimizationLevel: 'all' });
  const plane = shape.slice(1).reduce((a, b) => a * b, 1);
  const parts = [];
  for (let i = 0; i < shape[0]; i++) {
    const one = new ort.Tensor('float32', x.slice(i * plane, (i + 1) * plane), [1, ...shape.slice(1)]);
    parts.push((await session.run({ image: one })).probabilities.data);
  }
  const batch = new ort.Tensor('float32', x.slice(0, shape[0] * plane), shape);
  const whole = await session.run({ image: batch });
  parts.push(whole.probabilities.data);
  if (whole.unknown_score) {
    const u = whole.unknown_score.data;
    fs.writeFileSync(outPath + '.unknown', Buffer.from(u.buffer, u.byteOffset, u.byteLength));
  }
  const total = parts.reduce((n, p) => n + p.length, 0);
  const out = new Float32Array(total);
  let at = 0;
  for (const p of parts) { out.set(p, at); at += p.length; }
  fs.writeFileSync(outPath, Buffer.from(out.buffer));
  const version = require('onnxruntime-node/package.json').version;
  console.log(`onnxruntime-node ${version}`);
}
main().catch((e) => { console.error(e && e.message ? e.message : e); process.exit(1); });
