// kobai's web page, 2 of 3: a drawing as the network's 784 inputs, as kobai.images'
// to_mnist_layout prepares an image: threshold, a box drawn round the digit left out
// (kobai.images_marks), crop to the ink, the longer side scaled to 20 pixels (Pillow's
// Lanczos), centred in 28x28 by the centre of mass.
// kobaiPrepare(gray, height, width) -> 784 numbers in [0, 1] with a property `marks` (the
// number of separate marks: several digits side by side), or null when nothing is drawn.
// (The pad is opaque and evenly black: kobai.images' shading fit and transparency do not
// apply to it.)
"use strict";
const kobaiPrepare = (() => {
  const INPUTS = 784;
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
    const side = lighter >= darker ? 1 : -1;  // dark strokes on a light ground are inverted
    const ink = grey.map((k) => Math.min(255, Math.max(0, side * (k - level))));
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

  // kobai.images_marks.find_marks: the components of the ink on a mask of at most MAX_SIDE
  // pixels a side; a frame enclosing the rest is blacked out (in place); the number of marks
  const MAX_SIDE = 128, FRAME_SIDES = 0.6, ENCLOSED = 0.05, NEAR = 0.15, SPECK = 0.25;
  const INKED = 255 / 4;
  function findMarks(img, h, w) {
    const block = Math.max(1, Math.ceil(Math.max(h, w) / MAX_SIDE));
    const gh = Math.ceil(h / block), gw = Math.ceil(w / block);
    const mass = new Float64Array(gh * gw), peak = new Float64Array(gh * gw);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const v = img[y * w + x], c = Math.floor(y / block) * gw + Math.floor(x / block);
        mass[c] += v;
        if (v > peak[c]) peak[c] = v;
      }
    }
    const parent = new Int32Array(gh * gw).fill(-1);  // union-find over the inked cells
    const root = (i) => { while (parent[i] !== i) i = parent[i] = parent[parent[i]]; return i; };
    for (let y = 0; y < gh; y++) {
      for (let x = 0; x < gw; x++) {
        const i = y * gw + x;
        if (peak[i] < INKED) continue;
        parent[i] = i;
        for (const [dy, dx] of [[0, -1], [-1, -1], [-1, 0], [-1, 1]]) {  // 8-neighbours
          const yy = y + dy, xx = x + dx;
          if (yy < 0 || xx < 0 || xx >= gw || parent[yy * gw + xx] < 0) continue;
          const a = root(i), b = root(yy * gw + xx);
          if (a !== b) parent[Math.max(a, b)] = Math.min(a, b);
        }
      }
    }
    const lab = new Int32Array(gh * gw).fill(-1), byRoot = new Map();
    let parts = [];  // in the order of their first cell, as numpy's unique labels
    for (let i = 0; i < gh * gw; i++) {
      if (parent[i] < 0) continue;
      const r = root(i);
      if (!byRoot.has(r)) {
        byRoot.set(r, parts.length);
        parts.push({ label: parts.length, mass: 0, box: [gh, 0, gw, 0] });
      }
      const part = parts[byRoot.get(r)], y = Math.floor(i / gw), x = i % gw;
      lab[i] = part.label;
      part.mass += mass[i];
      part.box = [Math.min(part.box[0], y), Math.max(part.box[1], y + 1),
                  Math.min(part.box[2], x), Math.max(part.box[3], x + 1)];
    }
    let total = parts.reduce((a, p) => a + p.mass, 0);
    const isFrame = (part) => {
      const [y0, y1, x0, x1] = part.box;
      const others = parts.filter((p) => p !== part);
      const inside = others.filter((p) => y0 < p.box[0] && p.box[1] < y1 && x0 < p.box[2]
                                          && p.box[3] < x1);
      if (inside.length !== others.length
          || inside.reduce((a, p) => a + p.mass, 0) < ENCLOSED * total) return false;
      const by = Math.max(1, Math.floor((y1 - y0) / 10));
      const bx = Math.max(1, Math.floor((x1 - x0) / 10));
      const on = (y, x) => lab[y * gw + x] === part.label;
      const covered = (n, hit) => {  // share of n positions with a hit
        let k = 0;
        for (let i = 0; i < n; i++) if (hit(i)) k++;
        return k / n;
      };
      const any = (from, to, f) => { for (let j = from; j < to; j++) if (f(j)) return true;
                                     return false; };
      return [covered(x1 - x0, (i) => any(y0, y0 + by, (y) => on(y, x0 + i))),
              covered(x1 - x0, (i) => any(y1 - by, y1, (y) => on(y, x0 + i))),
              covered(y1 - y0, (i) => any(x0, x0 + bx, (x) => on(y0 + i, x))),
              covered(y1 - y0, (i) => any(x1 - bx, x1, (x) => on(y0 + i, x)))]
        .every((share) => share >= FRAME_SIDES);
    };
    for (const part of parts.slice()) {
      if (parts.length > 1 && isFrame(part)) {
        for (let y = 0; y < h; y++) {
          for (let x = 0; x < w; x++) {
            if (lab[Math.floor(y / block) * gw + Math.floor(x / block)] === part.label) {
              img[y * w + x] = 0;
            }
          }
        }
        parts = parts.filter((p) => p !== part);
        total -= part.mass;
      }
    }
    // marks: parts whose columns, widened by NEAR of the tallest part's height, overlap
    const gap = NEAR * Math.max(0, ...parts.map((p) => p.box[1] - p.box[0]));
    const spans = parts.map((p) => [p.box[2], p.box[3], p.mass]).sort((a, b) => a[0] - b[0]);
    const groups = [];
    for (const [x0, x1, m] of spans) {  // sorted by left edge: a sweep finds the groups
      const g = groups[groups.length - 1];
      if (g && x0 - gap < g.x1) { g.x1 = Math.max(g.x1, x1); g.mass += m; }
      else groups.push({ x1, mass: m });
    }
    const largest = Math.max(0, ...groups.map((g) => g.mass));
    return groups.filter((g) => g.mass >= SPECK * largest).length;
  }

  function toMnistLayout(gray, height, width) {
    const hist = new Float64Array(256);
    for (const v of gray) hist[v] += 1;
    const table = inkTable(hist);
    if (table === null) return null;
    const img = gray.map((v) => table[v]);
    const marks = findMarks(img, height, width);
    const rows = new Float64Array(height), cols = new Float64Array(width);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        rows[y] += img[y * width + x];
        cols[x] += img[y * width + x];
      }
    }
    const [y0, y1] = inkSpan(rows), [x0, x1] = inkSpan(cols);
    const h = y1 - y0, w = x1 - x0;
    const crop = new Float64Array(h * w);
    for (let y = 0; y < h; y++) {
      // truncated to integers, as astype(np.uint8)
      for (let x = 0; x < w; x++) crop[y * w + x] = Math.trunc(img[(y0 + y) * width + x0 + x]);
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
    if (total === 0) return Object.assign(Array.from(out), { marks });
    // shift the centre of mass to the centre, wrapping around as np.roll
    const dy = roundHalfEven(13.5 - my / total), dx = roundHalfEven(13.5 - mx / total);
    const shifted = new Array(INPUTS).fill(0);
    for (let y = 0; y < 28; y++) {
      for (let x = 0; x < 28; x++) {
        const v = out[y * 28 + x];
        const to = ((y + dy + 28) % 28) * 28 + (x + dx + 28) % 28;
        shifted[to] = Math.min(1, Math.max(0, v / 255));
      }
    }
    return Object.assign(shifted, { marks });
  }

  return toMnistLayout;
})();
