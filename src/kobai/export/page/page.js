// kobai's web page, 3 of 3: the drawing pad, the preview, the bar chart and window.kobai.
"use strict";
(() => {
  const model = JSON.parse(document.getElementById("kobai-model").textContent);
  const net = kobaiNetwork(model, document.getElementById("kobai-weights").textContent);
  const { predict, logits } = net;
  const INPUTS = 784;

  const pad = document.getElementById("pad");
  const ctx = pad.getContext("2d", { willReadFrequently: true });
  const seen = document.getElementById("seen").getContext("2d");
  const answer = document.getElementById("answer");
  const bars = document.getElementById("bars");
  const STROKE = 20;

  function clearPad() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, pad.width, pad.height);
    seen.fillStyle = "#000";
    seen.fillRect(0, 0, 28, 28);
    show(null);
  }

  function preprocess() {  // the canvas as the network's 784 inputs, or null when blank
    const { width, height } = pad;
    const rgba = ctx.getImageData(0, 0, width, height).data;
    const gray = new Float64Array(width * height);  // integers 0-255
    for (let i = 0; i < gray.length; i++) {  // Pillow's convert("L")
      const o = 4 * i;
      gray[i] = Math.floor((rgba[o] * 299 + rgba[o + 1] * 587 + rgba[o + 2] * 114) / 1000);
    }
    return kobaiPrepare(gray, height, width);
  }

  const rows = model.labels.map((label) => {
    const name = document.createElement("span");
    name.textContent = label;
    const bar = document.createElement("div");
    bar.className = "bar";
    const fill = document.createElement("div");
    bar.appendChild(fill);
    const pct = document.createElement("span");
    pct.className = "pct";
    bars.append(name, bar, pct);
    return { cells: [name, bar, pct], fill, pct };
  });

  function show(result) {
    answer.textContent = result ? `${result.label} (${(100 * result.probability).toFixed(1)} %)`
                                  + (result.marks > 1 ? ` \u2014 ${result.marks} separate marks:`
                                     + " the pad reads one digit, draw one at a time" : "")
                                : "Draw something.";
    const best = result ? result.index : -1;
    rows.forEach((row, k) => {
      const p = result ? result.probabilities[k] : 0;
      row.fill.style.width = `${(100 * p).toFixed(2)}%`;
      row.pct.textContent = result ? `${(100 * p).toFixed(1)}\u00a0%` : "";
      for (const cell of row.cells) cell.classList.toggle("top", k === best);
    });
  }

  function classify() {  // preprocess, predict, show; the result or null when blank
    const pixels = preprocess();
    const image = seen.createImageData(28, 28);
    for (let i = 0; i < INPUTS; i++) {
      const v = pixels ? Math.round(255 * pixels[i]) : 0;
      image.data.set([v, v, v, 255], 4 * i);
    }
    seen.putImageData(image, 0, 0);
    if (pixels === null) { show(null); return null; }
    const probabilities = predict(pixels);
    let index = 0;
    probabilities.forEach((p, k) => { if (p > probabilities[index]) index = k; });
    const result = { index, label: model.labels[index], probability: probabilities[index],
                     probabilities, marks: pixels.marks };
    show(result);
    return result;
  }

  let last = null, pending = false;
  const point = (e) => {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.width / r.width,
            (e.clientY - r.top) * pad.height / r.height];
  };
  const later = () => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => { pending = false; classify(); });
  };
  function line(a, b) {
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = STROKE;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0] + (a === b ? 0.01 : 0), b[1]);
    ctx.stroke();
  }
  pad.addEventListener("pointerdown", (e) => {
    e.preventDefault();
    pad.setPointerCapture(e.pointerId);
    last = point(e);
    line(last, last);
    later();
  });
  pad.addEventListener("pointermove", (e) => {
    if (last === null) return;
    const p = point(e);
    line(last, p);
    last = p;
    later();
  });
  const end = () => { if (last !== null) { last = null; classify(); } };
  pad.addEventListener("pointerup", end);
  pad.addEventListener("pointercancel", end);
  document.getElementById("clear").addEventListener("click", clearPad);

  const kB = (4 * model.n_weights / 1000).toFixed(0);
  document.getElementById("about").textContent =
    `${model.network}: input (${model.input_shape.join(", ")}), ${model.output_size} classes, ` +
    `${model.n_weights.toLocaleString("en")} weights (${kB} kB of float32), ` +
    `${model.steps.map((s) => s.op).join(" \u2192 ")} \u2192 softmax. Made with kobai.`;
  clearPad();

  window.kobai = {
    predict,
    logits,
    preprocess,
    classify,
    clear: clearPad,
    labels: model.labels.slice(),
    model: { network: model.network, input_shape: model.input_shape.slice(),
             output_size: model.output_size, ops: model.steps.map((s) => s.op) },
  };
})();
