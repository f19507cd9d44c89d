// kobai's web page, 1 of 3: the forward pass of kobai.export.graph's steps, then softmax.
// kobaiNetwork(model, weightsBase64) -> {predict, logits}: the model is the page's JSON
// (steps, shapes, labels), the weights float32, little-endian, base64. Everything is
// computed in float64 (JavaScript's numbers) from the float32 weights.
"use strict";
const kobaiNetwork = (model, weightsBase64) => {
  const weights = decodeFloat32(weightsBase64);
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

  return { predict, logits };
};
