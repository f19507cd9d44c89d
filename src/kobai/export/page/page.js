// kobai's web page: the forward pass of kobai.export.graph's steps, and the drawing pad.
// The model (steps, shapes, labels) is JSON in #kobai-model; the weights are float32,
// little-endian, base64 in #kobai-weights. Everything is computed in float64.
"use strict";
(function () {
  const model = JSON.parse(document.getElementById("kobai-model").textContent);
  const weights = decodeFloat32(document.getElementById("kobai-weights").textContent);
  const INPUTS = 784;

  function decodeFloat32(text) {
    const bin = atob(text.replace(/\s+/g, ""));
    const bytes = new Uint8Array(bin.length);
    for (let i = 0; i < bin.length; i++) bytes[i] = bin.charCodeAt(i);
    const view = new DataView(bytes.buffer);
    const out = new Float64Array(bytes.length >> 2);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(4 * i, true);
    return out;
  }

  function array(step, key) {
    const a = step.arrays[key];
    const size = a.shape.reduce((p, n) => p * n, 1);
    return weights.subarray(a.offset, a.offset + size);
  }

  const size = (shape) => shape.reduce((p, n) => p * n, 1);

  // -- the ops: each builds, once, a function from its input to its (reused) output --------

  const OPS = {
    flatten: () => (x) => x,

    // y[j] = b[j] + sum_i x[i] W[i, j], W as kobai keeps it, (in, out)
    linear(step) {
      const W = array(step, "W"), b = array(step, "b");
      const n = step.in_shape[0], m = step.out_shape[0];
      const y = new Float64Array(m);
      return (x) => {
        y.set(b);
        for (let i = 0; i < n; i++) {
          const xi = x[i];
          if (xi === 0) continue;  // MNIST is mostly background
          const row = i * m;
          for (let j = 0; j < m; j++) y[j] += xi * W[row + j];
        }
        return y;
      };
    },

    // cross-correlation, zero padding: y[f, oy, ox] = b[f] +
    //   sum_{ky, kx, c} W[f, c, ky, kx] x[c, oy*s + ky - p, ox*s + kx - p]
    // Direct loops, channels last: the input is copied once into a zero-padded (H, W, C)
    // image and W into (KH, KW, C, F), so the innermost loop runs over the F filters with
    // both arrays contiguous, tests nothing, and is skipped for an input of 0 (padding,
    // ReLU's zeros); the output goes back to (F, OH, OW) at the end.
    conv(step) {
      const [C, H, Wd] = step.in_shape, [F, OH, OW] = step.out_shape;
      const [, , KH, KW] = step.arrays.W.shape;
      const s = step.attrs.stride, p = step.attrs.pad;
      const W = array(step, "W"), b = array(step, "b");
      const Wt = new Float64Array(W.length);
      for (let f = 0; f < F; f++) {
        for (let c = 0; c < C; c++) {
          for (let k = 0; k < KH * KW; k++) Wt[(k * C + c) * F + f] = W[(f * C + c) * KH * KW + k];
        }
      }
      const HP = H + 2 * p, WP = Wd + 2 * p;
      const padded = new Float64Array(HP * WP * C);  // the border stays 0
      const acc = new Float64Array(OH * OW * F), y = new Float64Array(F * OH * OW);
      return (x) => {
        for (let c = 0; c < C; c++) {
          for (let iy = 0; iy < H; iy++) {
            const from = (c * H + iy) * Wd, into = ((iy + p) * WP + p) * C + c;
            for (let ix = 0; ix < Wd; ix++) padded[into + ix * C] = x[from + ix];
          }
        }
        for (let pix = 0; pix < OH * OW; pix++) acc.set(b, pix * F);
        for (let oy = 0; oy < OH; oy++) {
          for (let ox = 0; ox < OW; ox++) {
            const o = (oy * OW + ox) * F;
            for (let ky = 0; ky < KH; ky++) {
              const row = ((oy * s + ky) * WP + ox * s) * C;
              for (let kx = 0; kx < KW; kx++) {
                const i = row + kx * C, wk = (ky * KW + kx) * C * F;
                for (let c = 0; c < C; c++) {
                  const v = padded[i + c];
                  if (v === 0) continue;
                  const wc = wk + c * F;
                  for (let f = 0; f < F; f++) acc[o + f] += v * Wt[wc + f];
                }
              }
            }
          }
        }
        const plane = OH * OW;
        for (let pix = 0; pix < plane; pix++) {
          for (let f = 0; f < F; f++) y[f * plane + pix] = acc[pix * F + f];
        }
        return y;
      };
    },

    // max over pool_h x pool_w windows; padding never wins
    maxpool(step) {
      const [C, H, Wd] = step.in_shape, [, OH, OW] = step.out_shape;
      const { pool_h: PH, pool_w: PW, stride: s, pad: p } = step.attrs;
      const y = new Float64Array(C * OH * OW);
      return (x) => {
        let o = 0;
        for (let c = 0; c < C; c++) {
          const ib = c * H * Wd;
          for (let oy = 0; oy < OH; oy++) {
            const iy0 = Math.max(0, oy * s - p), iy1 = Math.min(H, oy * s - p + PH);
            for (let ox = 0; ox < OW; ox++) {
              const ix0 = Math.max(0, ox * s - p), ix1 = Math.min(Wd, ox * s - p + PW);
              let m = -Infinity;
              for (let iy = iy0; iy < iy1; iy++) {
                const row = ib + iy * Wd;
                for (let ix = ix0; ix < ix1; ix++) if (x[row + ix] > m) m = x[row + ix];
              }
              y[o++] = m;
            }
          }
        }
        return y;
      };
    },

    relu: (step) => elementwise(step, (v) => (v > 0 ? v : 0)),
    sigmoid: (step) => elementwise(step, (v) => 1 / (1 + Math.exp(-v))),
    tanh: (step) => elementwise(step, Math.tanh),

    // per element of the sample, as the book normalizes: (x - mean) / std * gamma + beta
    batchnorm(step) {
      const mean = array(step, "mean"), std = array(step, "std");
      const gamma = array(step, "gamma"), beta = array(step, "beta");
      const y = new Float64Array(size(step.in_shape));
      return (x) => {
        for (let i = 0; i < y.length; i++) y[i] = (x[i] - mean[i]) / std[i] * gamma[i] + beta[i];
        return y;
      };
    },

    // inverted dropout scales while training: evaluation is the identity; else x (1 - ratio)
    dropout(step) {
      if (step.attrs.inverted) return (x) => x;
      const keep = 1 - step.attrs.ratio;
      return elementwise(step, (v) => v * keep);
    },
  };

  function elementwise(step, fn) {
    const y = new Float64Array(size(step.in_shape));
    return (x) => {
      for (let i = 0; i < y.length; i++) y[i] = fn(x[i]);
      return y;
    };
  }

  const layers = model.steps.map((step) => {
    const op = OPS[step.op];
    if (!op) throw new Error(`kobai: the page has no JavaScript for the op ${step.op}`);
    return op(step);
  });

  function logits(pixels) {
    if (!pixels || pixels.length !== INPUTS) {
      throw new Error(`kobai.predict takes ${INPUTS} pixels (28x28, MNIST's layout), got ` +
                      (pixels ? pixels.length : pixels));
    }
    let x = Float64Array.from(pixels);
    for (const layer of layers) x = layer(x);
    return Array.from(x);
  }

  function softmax(z) {
    const m = Math.max(...z);
    const e = z.map((v) => Math.exp(v - m));
    const total = e.reduce((a, v) => a + v, 0);
    return e.map((v) => v / total);
  }

  const predict = (pixels) => softmax(logits(pixels));

  // -- preprocessing, as kobai.images.to_mnist_layout -----------------------------------

  const MIN_CONTRAST = 32, CROP_TAIL = 0.005;

  // The pad's grey levels are integers 0-255, so every statistic of kobai.images is taken
  // over the 256 levels, each counted as often as it occurs, and the result is a table of
  // the ink's level per grey level.

  // numpy's quantile (linear interpolation) of values[k] counted counts[k] times
  function quantile(values, counts, q) {
    const order = values.map((v, k) => k).filter((k) => counts[k] > 0)
      .sort((a, b) => values[a] - values[b]);
    const n = order.reduce((a, k) => a + counts[k], 0);
    const pos = q * (n - 1), lo = Math.floor(pos);
    const at = (i) => {  // the value at sorted position i
      let seen = 0;
      for (const k of order) if ((seen += counts[k]) > i) return values[k];
      return values[order[order.length - 1]];
    };
    const a = at(lo);
    return pos === lo ? a : a + (at(lo + 1) - a) * (pos - lo);
  }

  function otsu(levels, counts) {  // kobai.images.otsu_threshold of levels counted counts
    const hist = new Float64Array(256);
    let n = 0;
    levels.forEach((v, k) => {
      hist[Math.min(255, Math.max(0, roundHalfEven(v)))] += counts[k];
      n += counts[k];
    });
    let omega = 0, mu = 0, muT = 0, best = 0, bestK = 0;
    for (let k = 0; k < 256; k++) muT += k * hist[k] / n;
    for (let k = 0; k < 255; k++) {
      omega += hist[k] / n;
      mu += k * hist[k] / n;
      const denom = omega * (1 - omega);
      const sigma = denom > 1e-12 ? (muT * omega - mu) ** 2 / denom : 0;
      if (sigma > best) { best = sigma; bestK = k; }
    }
    return bestK;
  }

  // white ink on black, in [0, 255], as a table by grey level, or null when nothing stands
  // out (kobai.images._ink_image); hist[k] counts the pixels of grey level k
  function inkTable(hist) {
    const grey = Array.from({ length: 256 }, (v, k) => k);
    const level = quantile(grey, hist, 0.5);
    const noise = 1.4826 * quantile(grey.map((k) => Math.abs(k - level)), hist, 0.5);
    let lighter = 0, darker = 0;
    for (let k = 0; k < 256; k++) {
      lighter += hist[k] * Math.max(0, k - level - 3 * noise);
      darker += hist[k] * Math.max(0, level - 3 * noise - k);
    }
    const ink = grey.map((k) => Math.min(255, Math.max(0, lighter >= darker ? k - level : level - k)));
    const black = 3 * noise;
    const only = (keep) => grey.map((k) => (keep(ink[k]) ? hist[k] : 0));
    const candidates = only((v) => v > black);
    if (candidates.every((c) => c === 0)) return null;
    const t = otsu(ink, candidates) + 0.5;
    let strokes = only((v) => v > black && v > t);
    const isInk = strokes.some((c) => c > 0) ? (v) => v > black && v > t : (v) => v > black;
    if (strokes.every((c) => c === 0)) strokes = candidates;
    const count = strokes.reduce((a, c) => a + c, 0);
    const contrast = strokes.reduce((a, c, k) => a + c * ink[k], 0) / count - black;
    if (contrast < MIN_CONTRAST) return null;
    const white = quantile(ink, strokes, 0.95);
    if (white <= black) return ink.map((v) => (isInk(v) ? 255 : 0));
    return ink.map((v) => Math.min(255, Math.max(0, (v - black) * 255 / (white - black))));
  }

  function inkSpan(mass) {  // [start, stop) holding all but CROP_TAIL of the ink each side
    const c = [];
    let total = 0;
    for (const m of mass) c.push(total += m);
    let start = c.findIndex((v) => v > CROP_TAIL * total);
    let stop = c.findIndex((v) => v >= (1 - CROP_TAIL) * total) + 1;
    if (start < 0) start = c.length - 1;
    if (stop <= 0) stop = c.length;
    return [start, Math.max(stop, start + 1)];
  }

  const roundHalfEven = (v) => {  // Python's round
    const r = Math.round(v);
    return Math.abs(v % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
  };

  function lanczos(x) {
    const sinc = (t) => (t === 0 ? 1 : Math.sin(Math.PI * t) / (Math.PI * t));
    return x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0;
  }

  // one pass of Pillow's resampling along one axis (rounded and clipped to 8 bits between
  // passes, as Pillow does): `lines` lines of n samples each become lines of `out`;
  // sample i of line l is src[at(l, i)], and output o of line l goes to dst[to(l, o)]
  function resample(src, n, out, lines, at, to) {
    const scale = n / out, fscale = Math.max(scale, 1), support = 3 * fscale;
    const taps = [];
    for (let o = 0; o < out; o++) {
      const centre = (o + 0.5) * scale;
      const lo = Math.max(0, Math.trunc(centre - support + 0.5));
      const hi = Math.min(n, Math.trunc(centre + support + 0.5));
      const w = [];
      let total = 0;
      for (let i = lo; i < hi; i++) {
        const v = lanczos((i - centre + 0.5) / fscale);
        w.push(v);
        total += v;
      }
      taps.push([lo, total === 0 ? w : w.map((v) => v / total)]);
    }
    const dst = new Float64Array(out * lines);
    for (let l = 0; l < lines; l++) {
      for (let o = 0; o < out; o++) {
        const [lo, w] = taps[o];
        let acc = 0;
        for (let t = 0; t < w.length; t++) acc += w[t] * src[at(l, lo + t)];
        dst[to(l, o)] = Math.min(255, Math.max(0, Math.floor(acc + 0.5)));
      }
    }
    return dst;
  }

  // Pillow's Image.resize((nw, nh), LANCZOS) of an h x w image, row-major
  function resize(img, h, w, nh, nw) {
    let x = img;
    if (nw !== w) {  // horizontally first, as Pillow
      x = resample(x, w, nw, h, (row, i) => row * w + i, (row, o) => row * nw + o);
    }
    if (nh !== h) {
      x = resample(x, h, nh, nw, (col, i) => i * nw + col, (col, o) => o * nw + col);
    }
    return x;
  }

  function toMnistLayout(gray, height, width) {
    const hist = new Float64Array(256);
    for (const v of gray) hist[v] += 1;
    const table = inkTable(hist);
    if (table === null) return null;
    const img = gray.map((v) => table[v]);
    const rows = new Float64Array(height), cols = new Float64Array(width);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) { rows[y] += img[y * width + x]; cols[x] += img[y * width + x]; }
    }
    const [y0, y1] = inkSpan(rows), [x0, x1] = inkSpan(cols);
    const h = y1 - y0, w = x1 - x0;
    const crop = new Float64Array(h * w);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) crop[y * w + x] = Math.trunc(img[(y0 + y) * width + x0 + x]);  // astype(uint8)
    }
    const scale = 20 / Math.max(h, w);
    const sw = Math.max(1, roundHalfEven(w * scale)), sh = Math.max(1, roundHalfEven(h * scale));
    const small = resize(crop, h, w, sh, sw);
    const out = new Float64Array(INPUTS);
    const top = (28 - sh) >> 1, left = (28 - sw) >> 1;
    let total = 0, my = 0, mx = 0;
    for (let y = 0; y < sh; y++) {
      for (let x = 0; x < sw; x++) {
        const v = small[y * sw + x];
        out[(top + y) * 28 + left + x] = v;
        total += v; my += (top + y) * v; mx += (left + x) * v;
      }
    }
    if (total === 0) return Array.from(out);
    // shift the centre of mass to the centre, wrapping around as np.roll
    const dy = roundHalfEven(13.5 - my / total), dx = roundHalfEven(13.5 - mx / total);
    const shifted = new Array(INPUTS).fill(0);
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const v = out[y * 28 + x];
        shifted[((y + dy) % 28 + 28) % 28 * 28 + ((x + dx) % 28 + 28) % 28] = Math.min(1, Math.max(0, v / 255));
      }
    }
    return shifted;
  }

  // -- the page --------------------------------------------------------------------------

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
      gray[i] = Math.floor((rgba[4 * i] * 299 + rgba[4 * i + 1] * 587 + rgba[4 * i + 2] * 114) / 1000);
    }
    return toMnistLayout(gray, height, width);
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
                                : "Draw something.";
    const best = result ? result.index : -1;
    rows.forEach((row, k) => {
      const p = result ? result.probabilities[k] : 0;
      row.fill.style.width = `${(100 * p).toFixed(2)}%`;
      row.pct.textContent = result ? `${(100 * p).toFixed(1)} %` : "";
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
                     probabilities };
    show(result);
    return result;
  }

  let last = null, pending = false;
  const point = (e) => {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * pad.width / r.width, (e.clientY - r.top) * pad.height / r.height];
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
