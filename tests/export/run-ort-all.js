// run-ort-all.js MODEL.onnx INPUT_NAME INPUT.bin D0,D1,... DIR: one run of MODEL in ONNX Runtime
// (onnxruntime-node, through NODE_PATH) on a float32 input; every output goes to DIR/NAME.bin
// (float32) and DIR/outputs.json lists them in the model's order with their shapes.
'use strict';
const fs = require('fs');
const path = require('path');
const ort = require('onnxruntime-node');

async function main() {
  const [modelPath, inputName, inputPath, shapeText, dir] = process.argv.slice(2);
  const shape = shapeText.split(',').map(Number);
  const buf = fs.readFileSync(inputPath);
  const x = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
  const session = await ort.InferenceSession.create(modelPath);
  const out = await session.run({ [inputName]: new ort.Tensor('float32', x, shape) });
  const list = [];
  for (const name of session.outputNames) {
    const file = `output-${list.length}.bin`;
    const d = out[name].data;
    fs.writeFileSync(path.join(dir, file), Buffer.from(d.buffer, d.byteOffset, d.byteLength));
    list.push({ name, file, dims: out[name].dims });
  }
  fs.writeFileSync(path.join(dir, 'outputs.json'), JSON.stringify(list));
}
main().catch((e) => { console.error(e && e.message ? e.message : e); process.exit(1); });
