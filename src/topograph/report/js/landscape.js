/* Plotly traces of a landscape for any display setting, and each view's (views.VIEWS) traces and layout by its
   renderer; shared by the run and the compare page. A landscape is page_data.landscape_json(): grids (the loss and
   each metric) are rows of y (Plotly's z order), null where not finite. */
const Topo = (() => {
  'use strict';
  const SCALES = JSON.parse(document.getElementById('topograph-colorscales').textContent);
  /* style.CAMERA, LIFT and SEGMENT_POINTS (page_data.drawing_json()) */
  const DRAWING = JSON.parse(document.getElementById('topograph-drawing').textContent);

  /* every plot's Plotly config; the wheel zooms once the plot is clicked (wheelScrollsPage()) */
  const config = {responsive: true, displaylogo: false, scrollZoom: true};

  const cache = new Map();
  const cached = (key, make) => { if (!cache.has(key)) cache.set(key, make()); return cache.get(key); };

  function readSettings(form, defaults) {
    const s = {...defaults};
    for (const input of form.elements) {
      if (!(input.name in s)) continue;
      if (input.type === 'checkbox') s[input.name] = input.checked;
      else if (input.name === 'cap') s.cap = Number.isFinite(parseFloat(input.value)) ? parseFloat(input.value) : null;
      else if (typeof defaults[input.name] === 'number') s[input.name] = parseFloat(input.value);
      else s[input.name] = input.value;
    }
    return s;
  }

  /* the array drawn: the chosen quantity, or the loss where the landscape has none (grid.display() in Python) */
  const field = (ls, s) => (Object.hasOwn(ls.grids, s.field) ? s.field : 'loss');
  const finiteOf = (grid) => grid.flat().filter((v) => v !== null);

  /* the colour bar's title of a quantity's label (style.colour_title()) */
  const uncapped = (label, s) => (s.relative ? `${label} − value at center` : label);
  const capText = (s) => (s.cap === null ? '' : `, capped at ${s.cap}`);
  const titled = (label, s) => `${uncapped(label, s)}${capText(s)}`;

  const title = (ls, s) => titled(ls.labels[field(ls, s)], s);

  /* The quantity's value at the center (0, 0), bilinear (along α for a line), where the grid holds it, else its
     lowest value: grid.center_value(). */
  function centerValue(ls, s) {
    const raw = ls.grids[field(ls, s)];
    const inside = ls.x[0] <= 0 && 0 <= ls.x[ls.x.length - 1] && ls.y[0] <= 0 && 0 <= ls.y[ls.y.length - 1];
    const at = ls.dimensions === 1 ? () => along(ls, raw[0], 0) : () => interpolate(ls, raw, 0, 0);
    return (inside ? at() : null) ?? Math.min(...finiteOf(raw));
  }

  /* The quantity's values, less its value at the center where s.relative: grid.field_values(). */
  function values(ls, s) {
    return cached(['values', ls.key, field(ls, s), s.relative].join('|'), () => {
      const raw = ls.grids[field(ls, s)];
      if (!s.relative) return raw;
      const center = centerValue(ls, s);
      return raw.map((row) => row.map((v) => (v === null ? null : v - center)));
    });
  }

  /* whether the drawn quantity is one where higher is better (style.HIGHER_IS_BETTER), as R² */
  const higher = (ls, s) => ls.higher.includes(field(ls, s));

  /* log where asked (auto: not for the bounded metrics, style.BOUNDED, nor for L - L(center)) */
  const wantsLog = (ls, s) => s.scale === 'log'
    || (s.scale === 'auto' && !ls.bounded.includes(field(ls, s)) && !s.relative);

  /* numpy.percentile's default (linear) of sorted numbers */
  function percentile(sorted, q) {
    const at = (q / 100) * (sorted.length - 1), low = Math.floor(at), high = Math.min(low + 1, sorted.length - 1);
    return sorted[low] + (at - low) * (sorted[high] - sorted[low]);
  }

  /* The colour range [low, high] of the landscapes drawn on one scale (grid.shared_display() in Python), clipped
     on the side away from the optimum: from the lowest value to the cap, or to the percentile of all their values;
     where higher is better, from the cap or the (100 - percentile)th percentile to the highest. Log where wanted
     and every value is positive; min/max: the values' own; capped/floored: some value lies above/below the range;
     zmin/zmax: the range as plotted (log10 where log). */
  function range(shown, s) {
    const all = shown.flatMap((ls) => finiteOf(values(ls, s))).sort((a, b) => a - b);
    const best = shown.length > 0 && higher(shown[0], s);
    if (!all.length) return {low: 0, high: 1, min: 0, max: 1, log: false, capped: false, floored: false, zmin: 0,
                             zmax: 1, higher: best};
    const min = all[0], max = all[all.length - 1];
    let low = min, high = max;
    if (best) {
      low = s.cap !== null ? s.cap : percentile(all, 100 - s.percentile);
      if (!(low < max)) low = min;
    } else {
      high = s.cap !== null ? s.cap : percentile(all, s.percentile);
      if (!(high > min)) high = max;
    }
    if (!(high > low)) high = low + Math.max(Math.abs(low) * 1e-6, 1e-12);
    const log = wantsLog(shown[0], s) && low > 0, to = log ? Math.log10 : (v) => v;
    return {low, high, min, max, log, capped: max > high, floored: min < low, zmin: to(low), zmax: to(high),
            higher: best};
  }

  /* The plotted grid: the values, those beyond an end of the range at that end, log10 where the range is log. */
  function display(ls, s, r = range([ls], s)) {
    const to = r.log ? Math.log10 : (v) => v;
    return cached(['display', ls.key, field(ls, s), s.relative, r.low, r.high, r.log].join('|'), () => values(ls, s)
      .map((row) => row.map((v) => (v === null ? null : to(Math.min(Math.max(v, r.low), r.high))))));
  }

  /* a round step near size: 1, 2, 2.5 or 5 times a power of ten */
  function niceStep(size) {
    const power = 10 ** Math.floor(Math.log10(size));
    return power * [1, 2, 2.5, 5, 10].find((m) => m * power >= size);
  }

  /* a number in 3 significant digits, a power of ten written short where it is large or small: 0.0401, 1000,
     1.23e4, 1.45e14 (style.compact()) */
  function short(v) {
    const rounded = Number(v.toPrecision(3));
    if (rounded === 0 || (Math.abs(rounded) >= 1e-3 && Math.abs(rounded) < 1e4)) return String(rounded);
    const [mantissa, exponent] = rounded.toExponential(2).split('e');
    return `${mantissa.replace(/\.?0+$/, '')}e${Number(exponent)}`;
  }
  /* the colour range's clipped end, beside its control: '= 0.563 (log scale)'; where higher is better its bottom */
  const topText = (r) => (r.higher ? `: bottom ${short(r.low)}, higher is better` : `= ${short(r.high)}`)
    + (r.log ? ' (log scale)' : '');

  /* round values in [low, high]: multiples of a step of 1, 2, 2.5 or 5 times a power of ten, three to seven */
  function roundTicks(low, high) {
    const step = niceStep((high - low) / 6), vals = [];
    for (let k = Math.ceil(low / step - 1e-9); k * step <= high + 1e-9 * step; k++) {
      vals.push(Number((k * step).toPrecision(12)));
    }
    return vals;
  }

  /* 1, 2, 5 (or, where more than eight of those, 1, 3) times powers of ten in [low, high]; over many decades
     powers of ten only, at most eight of them (as plots.colour_ticks()) */
  function logTicks(low, high) {
    const found = (digits) => {
      const vals = [];
      for (let e = Math.floor(Math.log10(low)); e <= Math.ceil(Math.log10(high)); e++) {
        for (const v of digits.map((m) => Number(`${m}e${e}`))) if (v >= low && v <= high) vals.push(v);
      }
      return vals;
    };
    const vals = [[1, 2, 5], [1, 3]].map(found).find((each) => each.length <= 8);
    if (vals) return vals;
    const powers = found([1]), every = Math.ceil(powers.length / 8);
    return powers.filter((v, i) => i % every === 0);
  }

  /* The colour bar's (and 3-D z axis') ticks, in the quantity's own units: on a log range logTicks(), on a linear
     one (or a log one spanning too little for three of those) round steps; a clipped end marked ≥ (the top) or ≤
     (the bottom). */
  function ticks(r) {
    const to = r.log ? Math.log10 : (v) => v, room = 0.05 * (r.zmax - r.zmin);
    let vals = r.log ? logTicks(r.low, r.high) : [];
    if (vals.length < 3) vals = roundTicks(r.low, r.high);
    vals = vals.filter((v) => (!r.capped || r.zmax - to(v) > room) && (!r.floored || to(v) - r.zmin > room));
    const text = vals.map(short);
    if (r.floored) { vals.unshift(r.low); text.unshift(`≤ ${short(r.low)}`); }
    if (r.capped) { vals.push(r.high); text.push(`≥ ${short(r.high)}`); }
    return {tickmode: 'array', tickvals: vals.map(to), ticktext: text};
  }

  function colorbar(ls, s, r, length) {
    return {title: {text: plain(title(ls, s)), side: 'right'}, len: length, ...ticks(r)};
  }

  /* what the values span, for a view's heading: 'loss 0.0401 to 0.0563', 'loss 0.067 to 7.83, capped at 1' */
  const spanText = (ls, s, r) => `${uncapped(ls.labels[field(ls, s)], s)} ${short(r.min)} to ${short(r.max)}`
    + capText(s);

  /* count contour lines evenly spaced strictly between the range's ends (as plotted) */
  function levels(r, count) {
    const size = (r.zmax - r.zmin) / (count + 1);
    return {start: r.zmin + size, end: r.zmin + (count + 0.5) * size, size};
  }

  /* Plotly's z contours of a surface: count lines evenly spaced strictly inside the range r, as levels() */
  const surfaceLines = (r, count) => ({z: {show: true, ...levels(r, count), color: 'rgba(0,0,0,0.45)', width: 1}});

  /* Plotly reads tags in text (<b>, <a href>...): names and labels are shown as plain text */
  const plain = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const number = (v) => (v === null || v === undefined ? '–' : Number(v).toPrecision(4));
  const percent = (v) => (v === null || v === undefined ? '–' : `${(100 * v).toFixed(1)} %`);
  /* a value of the array name: fractions as percent (labels.quantity_text()) */
  const valueText = (ls, name, v) => (ls.percent.includes(name) ? percent(v) : number(v));
  const names = (ls) => Object.keys(ls.grids);

  const two = (v) => String(Number(v.toPrecision(2)));

  /* a value and, where stored, its standard error: '0.532 ± 0.0041', '93.1 % ± 1.6 %' */
  function withError(ls, name, j, i) {
    const value = valueText(ls, name, ls.grids[name][j][i]), error = ls.errors[name]?.[j][i];
    if (error === undefined || error === null) return value;
    return `${value} ± ${ls.percent.includes(name) ? `${two(100 * error)} %` : two(error)}`;
  }

  /* where the run page gives it (kept sample losses): the rise over the center, ± its paired standard error */
  function pairedText(ls, j, i, center) {
    const error = ls.paired?.[j][i], value = ls.grids.loss[j][i];
    if (error === undefined || error === null || value === null) return '';
    return `<br>L − L(center) ${number(value - center)} ± ${two(error)} (paired)`;
  }

  function hoverText(ls) {
    return cached(`hover|${ls.key}`, () => {
      const center = ls.paired ? centerValue(ls, {field: 'loss'}) : null;
      return ls.grids.loss.map((row, j) => row.map((_, i) => names(ls).map((name) =>
        `${plain(ls.labels[name])} ${withError(ls, name, j, i)}${name === 'loss' ? pairedText(ls, j, i, center) : ''}`)
        .join('<br>')));
    });
  }

  /* The uncertainty map: the field's standard error (the loss's where it has none) as % of the field's range
     (plots.uncertainty_figure()), filled contours on their own scale. */
  function uncertainty(ls, s) {
    const name = Object.hasOwn(ls.errors, s.field) ? s.field : 'loss', finite = finiteOf(ls.grids[name]);
    const span = Math.max(...finite) - Math.min(...finite);
    const z = ls.errors[name].map((row) => row.map((v) => (v === null || !(span > 0) ? null : 100 * v / span)));
    return {type: 'contour', name: plain(ls.name), x: ls.x, y: ls.y, z, text: hoverText(ls), hovertemplate: HOVER,
            colorscale: SCALES[s.cmap], ncontours: s.levels, showlegend: false, line: {width: 0.5},
            colorbar: {title: {text: plain(`standard error of the ${ls.labels[name]}, % of its range`),
                               side: 'right'}, len: 0.9}};
  }

  const HALO = '0 0 3px #fff, 0 0 3px #fff, 0 0 2px #fff';  /* a label's text readable over any colour */
  const HOVER = 'x %{x:.3f}<br>y %{y:.3f}<br>%{text}<extra>%{fullData.name}</extra>';

  /* r: the colour range (range()) the landscape is drawn on */
  function contour(ls, s, r, fill, showscale = true) {
    const lv = levels(r, s.levels);
    return {
      type: 'contour', name: plain(ls.name), x: ls.x, y: ls.y, z: display(ls, s, r), text: hoverText(ls),
      hovertemplate: HOVER, colorscale: SCALES[s.cmap], zauto: false, zmin: r.zmin, zmax: r.zmax, showlegend: false,
      autocontour: false, contours: {start: lv.start, end: lv.end, size: lv.size, coloring: fill ? 'fill' : 'lines'},
      line: fill ? {width: 0.6, color: 'rgba(0,0,0,0.35)', smoothing: 0.8} : {width: 1.6, smoothing: 0.8},
      showscale, colorbar: colorbar(ls, s, r, 0.9),
    };
  }

  function surface(ls, s, r, extra = {}) {
    return {
      type: 'surface', name: plain(ls.name), x: ls.x, y: ls.y, z: display(ls, s, r), text: hoverText(ls),
      hovertemplate: HOVER, colorscale: SCALES[s.cmap], cmin: r.zmin, cmax: r.zmax, opacity: s.opacity,
      showlegend: false, colorbar: colorbar(ls, s, r, 0.8), ...extra,
    };
  }

  /* The track between checkpoints, finely sampled; t counts checkpoints (2.5 = halfway from the 3rd to the 4th). */
  function densify(track, perSegment = DRAWING.segment_points) {
    const x = [], y = [], t = [];
    for (let i = 0; i + 1 < track.x.length; i++) {
      for (let k = 0; k < perSegment; k++) {
        const f = k / perSegment;
        x.push(track.x[i] + f * (track.x[i + 1] - track.x[i]));
        y.push(track.y[i] + f * (track.y[i + 1] - track.y[i]));
        t.push(i + f);
      }
    }
    x.push(track.x[track.x.length - 1]);
    y.push(track.y[track.y.length - 1]);
    t.push(track.x.length - 1);
    return {x, y, t};
  }

  function locate(axis, v) {
    const last = axis.length - 1;
    if (v <= axis[0]) return [0, 0];
    if (v >= axis[last]) return [last - 1, 1];
    let i = 0;
    while (axis[i + 1] < v) i++;
    return [i, (v - axis[i]) / (axis[i + 1] - axis[i])];
  }

  /* Bilinear interpolation of a z grid over the cell's corners that hold a value, their weights renormalised;
     null where none does (grid.surface_at() in Python, for the track's heights in the page data and figures). */
  function interpolate(ls, z, x, y) {
    const [i, fx] = locate(ls.x, x), [j, fy] = locate(ls.y, y);
    let sum = 0, weight = 0;
    for (const [row, column, w] of [[j, i, (1 - fx) * (1 - fy)], [j, i + 1, fx * (1 - fy)],
                                    [j + 1, i, (1 - fx) * fy], [j + 1, i + 1, fx * fy]]) {
      const v = z[row][column];
      if (v !== null && w > 0) { sum += w * v; weight += w; }
    }
    return weight > 0 ? sum / weight : null;
  }

  /* run: the run's name, for one of several tracks */
  function checkpointHover(ls, run = null) {
    const onPlane = names(ls).map((name, k) => `<br>${plain(ls.labels[name])} on the plane %{customdata[${k + 3}]}`);
    const who = run === null ? '' : `run ${plain(run)}<br>`;
    return `${who}${ls.unit} %{customdata[0]}<br>training loss %{customdata[1]}${onPlane.join('')}`
      + '<br>off-plane distance %{customdata[2]}<extra></extra>';
  }

  function checkpointData(ls, track) {
    return track.step.map((step, i) => [step, number(track.train_loss[i]), number(track.residual[i]),
                                        ...names(ls).map((name) => valueText(ls, name, track.surface[name][i]))]);
  }

  /* the height of the points over the 3-D surface drawn with the range r */
  const surfaceLift = (r) => DRAWING.lift * (r.zmax - r.zmin);
  const START = '#1a9850', END = '#d73027';  /* the track's first and last checkpoint, whatever the colour map */

  /* What lies on the map: the track(s), or the center of a landscape with neither track nor marks; then the marks.
     Lifted onto the surface (drawn with the range r) when lift is a number. play: {shown: dense points drawn (all
     if undefined), cursor: whether to mark the last one}, for a single track. */
  function overlays(ls, s, play, r, lift = null) {
    const flat = lift === null;
    const height = (x, y) => interpolate(ls, display(ls, s, r), x, y) + lift;
    const point = (x, y) => (flat ? {x, y, type: 'scatter'}
      : {x, y, z: x.map((xi, i) => height(xi, y[i])), type: 'scatter3d'});
    let drawn = [];
    if (ls.tracks.length === 1) drawn = singleTrack(ls, s, play, point, flat);
    else if (ls.tracks.length) drawn = ls.tracks.flatMap((track) => runTrack(ls, s, track, point, flat));
    else if (!ls.marks.label.length) {
      drawn = [{...point([0], [0]), mode: 'markers', name: 'center: final weights',
                marker: {symbol: 'diamond', size: flat ? 16 : 8, color: '#fff', line: {color: '#111', width: 3}},
                hovertemplate: `center: the final weights (${ls.unit} ${ls.center_step})${centerText(ls)}`
                  + '<extra></extra>'}];
    }
    return ls.marks.label.length ? [...drawn, markTrace(ls, point, flat)] : drawn;
  }

  /* each quantity at the center, for the center marker's hover (it hides the map's hover there) */
  const centerText = (ls) => names(ls).map((name) => `<br>${plain(ls.labels[name])} `
    + valueText(ls, name, interpolate(ls, ls.grids[name], 0, 0))).join('');

  /* the track's first and last checkpoint, each its own legend entry */
  function ends(ls, track, point, flat, group = {}) {
    const last = track.x.length - 1;
    const end = (i, name, symbol, color) => ({
      ...point([track.x[i]], [track.y[i]]), mode: 'markers', name, ...group, hoverinfo: 'skip',
      marker: {symbol, size: flat ? 15 : 7, color, line: {color: '#fff', width: 2}}});
    return [end(0, `start (${ls.unit} ${track.step[0]})`, flat ? 'circle' : 'circle', START),
            end(last, `end (${ls.unit} ${track.step[last]})`, flat ? 'star' : 'diamond', END)];
  }

  function singleTrack(ls, s, play, point, flat) {
    const track = ls.tracks[0], path = densify(track), shown = Math.min(play.shown ?? path.x.length, path.x.length);
    const last = Math.max(shown - 1, 0), cursor = play.cursor ? [path.x[last]] : [];
    return [
      {...point(path.x.slice(0, shown), path.y.slice(0, shown)), mode: 'lines', name: 'track', hoverinfo: 'skip',
       line: {color: s.track_color, width: flat ? s.track_width : 2 * s.track_width}},
      {...point(track.x, track.y), mode: 'markers+text', name: 'checkpoints', showlegend: false,
       text: track.step.map(String), textposition: 'top center',
       textfont: {size: flat ? 13 : 15, color: '#111', ...(flat ? {shadow: HALO} : {})},
       customdata: checkpointData(ls, track), hovertemplate: checkpointHover(ls),
       marker: {size: flat ? 9 : 4, color: '#fff', line: {color: s.track_color, width: 2}}},
      ...ends(ls, track, point, flat),
      {...point(cursor, play.cursor ? [path.y[last]] : []), mode: 'markers', name: 'now', hoverinfo: 'skip',
       showlegend: Boolean(play.cursor),
       marker: {size: flat ? 15 : 8, color: s.track_color, line: {color: '#000', width: 1.5}}},
    ];
  }

  /* One of several runs' tracks, in its colour, named in the legend: on a map one trace through its checkpoints;
     in 3-D the path finely sampled to follow the surface, and its checkpoints (one legend entry for all). */
  function runTrack(ls, s, track, point, flat) {
    const name = plain(track.run), hover = {customdata: checkpointData(ls, track),
                                            hovertemplate: checkpointHover(ls, track.run)};
    const line = {color: track.color, width: flat ? s.track_width : 2 * s.track_width};
    const marker = {size: flat ? 7 : 4, color: track.color, line: {color: '#fff', width: 1}};
    const group = {legendgroup: name}, quiet = {...group, showlegend: false};
    const path = densify(track);
    const own = flat ? [{...point(track.x, track.y), mode: 'lines+markers', name, ...group, line, marker, ...hover}]
      : [{...point(path.x, path.y), mode: 'lines', name, ...group, line, hoverinfo: 'skip'},
         {...point(track.x, track.y), mode: 'markers', name, ...quiet, marker, ...hover}];
    return [...own, ...ends(ls, track, point, flat, quiet)];
  }

  /* the landscape's labelled points (e.g. the checkpoints A, B, C of a plane through three) */
  function markTrace(ls, point, flat) {
    return {...point(ls.marks.x, ls.marks.y), mode: 'markers+text', name: 'marks', showlegend: false,
            text: ls.marks.label.map(plain), textposition: 'bottom center',
            textfont: {size: flat ? 13 : 15, color: '#111', ...(flat ? {shadow: HALO} : {})},
            hovertemplate: '%{text}<extra></extra>',
            marker: {symbol: 'square', size: flat ? 11 : 6, color: '#111', line: {color: '#fff', width: 2}}};
  }

  /* where the animation is: the checkpoint index t (2.5 = halfway from the 3rd to the 4th checkpoint) and the
     position in the landscape's unit */
  function position(ls, shown) {
    const track = ls.tracks[0], path = densify(track), t = path.t[Math.min(Math.max(shown, 1), path.t.length) - 1];
    const i = Math.floor(t), steps = track.step, next = steps[Math.min(i + 1, steps.length - 1)];
    return {t, step: steps[i] + (t - i) * (next - steps[i])};
  }

  /* A 1-D landscape's curve of the field (less its center value where s.relative), capped at s.cap on the side
     away from the optimum (grid.line_values() in Python does the same) */
  function lineValues(ls, s) {
    const clip = s.cap === null ? null : (higher(ls, s) ? (v) => Math.max(v, s.cap) : (v) => Math.min(v, s.cap));
    return values(ls, s)[0].map((v) => (v !== null && clip ? clip(v) : v));
  }

  /* linear interpolation of a curve at x over the neighbours that hold a value (grid.line_at() in Python) */
  function along(ls, curve, x) {
    const [i, f] = locate(ls.x, x);
    let sum = 0, weight = 0;
    for (const [v, w] of [[curve[i], 1 - f], [curve[i + 1], f]]) {
      if (v !== null && w > 0) { sum += w * v; weight += w; }
    }
    return weight > 0 ? sum / weight : null;
  }

  /* The curve of a 1-D landscape and its marks on it. look: {name, color} of one curve among several (compare);
     alone, the curve is drawn in the track's colour and width. */
  function lineTraces(ls, s, look = {}) {
    const name = field(ls, s), curve = lineValues(ls, s), raw = ls.grids[name][0], label = plain(ls.labels[name]);
    const color = look.color ?? s.track_color, group = look.name ?? ls.name;
    const line = {type: 'scatter', mode: 'lines', name: plain(group), legendgroup: group, x: ls.x, y: curve,
                  text: raw.map((v) => valueText(ls, name, v)), line: {color, width: look.color ? 2.5 : s.track_width},
                  hovertemplate: `α %{x:.3f}<br>${label} %{text}<extra>${plain(group)}</extra>`};
    if (!ls.marks.label.length) return [line];
    return [line, {type: 'scatter', mode: 'markers+text', name: 'marks', legendgroup: group, showlegend: false,
                   x: ls.marks.x, y: ls.marks.x.map((x) => along(ls, curve, x)), text: ls.marks.label.map(plain),
                   textposition: 'top center', cliponaxis: false, textfont: {size: 12, color: '#111', shadow: HALO},
                   hovertemplate: 'α %{x:.3f}<br>%{text}<extra></extra>',
                   marker: {symbol: 'diamond', size: 10, color, line: {color: '#111', width: 1.5}}}];
  }

  /* The layout of the curves of the 1-D landscapes shown: a log y axis where wanted and every value is positive
     (grid.line_values()), a dotted vertical line at each mark. yLabel: the y axis' title, by default the first
     landscape's quantity. */
  function layoutLine(shown, heading, s, yLabel = shown[0].labels[field(shown[0], s)]) {
    const all = shown.flatMap((ls) => lineValues(ls, s)).filter((v) => v !== null);
    const log = wantsLog(shown[0], s) && all.length > 0 && all.every((v) => v > 0);
    const marks = [...new Set(shown.flatMap((ls) => ls.marks.x))];
    return {
      ...layout2d(shown[0], heading, {...s, aspect: 'stretch'}), showlegend: shown.length > 1,
      xaxis: {title: {text: plain(shown[0].xlabel)}, zeroline: false, gridcolor: '#eee'},
      yaxis: {title: {text: plain(titled(yLabel, s))},
              type: log ? 'log' : 'linear', gridcolor: '#eee'},
      shapes: marks.map((x) => ({type: 'line', xref: 'x', yref: 'paper', x0: x, x1: x, y0: 0, y1: 1,
                                 line: {color: '#888', width: 1, dash: 'dot'}})),
    };
  }

  /* A map's layout: one unit as long on both axes unless s.aspect is 'stretch'; the legend above the map. */
  function layout2d(ls, heading, s) {
    const equal = s.aspect !== 'stretch' ? {scaleanchor: 'x', scaleratio: 1, constrain: 'domain'} : {};
    return {
      title: {text: plain(heading), font: {size: 15}, x: 0.01, xanchor: 'left', y: 0.985, yanchor: 'top'},
      margin: {l: 64, r: 12, t: 64, b: 52}, showlegend: true,
      legend: {orientation: 'h', x: 0, xanchor: 'left', y: 1.0, yanchor: 'bottom', bgcolor: 'rgba(255,255,255,0)',
               font: {size: 12}},
      hovermode: 'closest', uirevision: ls.key, paper_bgcolor: '#fff', plot_bgcolor: '#fff',
      xaxis: {title: {text: plain(ls.xlabel)}, showgrid: false, zeroline: false, constrain: 'domain'},
      yaxis: {title: {text: plain(ls.ylabel)}, showgrid: false, zeroline: false, ...equal},
    };
  }

  /* A 3-D map's layout, seen from the landscape's camera (camera.py chose it to show the track and the center);
     r: the colour range, for the z axis' ticks in the quantity's units. zTitle: the z axis' title. */
  function layout3d(ls, heading, s, r, showlegend = true, zTitle = title(ls, s)) {
    const axis = (text) => ({title: {text: plain(text), font: {size: 15}}, tickfont: {size: 12}});
    const camera = ls.camera ?? DRAWING.camera;
    return {
      title: {text: plain(heading), font: {size: 15}, x: 0.01, xanchor: 'left'}, margin: {l: 0, r: 0, t: 42, b: 0},
      showlegend, uirevision: `scene-${ls.key}`, legend: {x: 0, y: 1, font: {size: 12}},
      scene: {xaxis: axis(ls.xlabel), yaxis: axis(ls.ylabel), zaxis: {...axis(zTitle), ...ticks(r)},
              aspectmode: 'manual', aspectratio: {...camera.aspectratio}, camera: {eye: {...camera.eye}}},
    };
  }

  /* What draws each view (views.VIEWS: its renderer and options) of a landscape, on the colour range r (range()):
     its traces, its layout under a heading, and whether that heading says what the colours span. more: {play:
     the animation (overlays()), surface: more of a 3-D surface trace (surface())}. */
  const RENDERERS = {
    map: {spans: true, layout: (ls, heading, s) => layout2d(ls, heading, s),
          traces: (view, ls, s, r, more) => [contour(ls, s, r, view.options.filled),
                                              ...overlays(ls, s, more.play ?? {}, r)]},
    surface: {spans: true, layout: (ls, heading, s, r) => layout3d(ls, heading, s, r),
              traces: (view, ls, s, r, more) => [surface(ls, s, r, more.surface),
                                                  ...overlays(ls, s, more.play ?? {}, r, surfaceLift(r))]},
    uncertainty: {spans: false, layout: (ls, heading, s) => layout2d(ls, heading, s),
                  traces: (view, ls, s, r, more) => [uncertainty(ls, s), ...overlays(ls, s, more.play ?? {}, r)]},
    line: {spans: false, layout: (ls, heading, s) => layoutLine([ls], heading, s),
           traces: (view, ls, s) => lineTraces(ls, s)},
  };

  const traces = (view, ls, s, r, more = {}) => RENDERERS[view.renderer].traces(view, ls, s, r, more);
  const viewLayout = (view, ls, heading, s, r) => RENDERERS[view.renderer].layout(ls, heading, s, r);
  /* the view's own heading; a map's says what the colours span: 'Isoline map · loss 0.0401 to 0.0563' */
  const viewHeading = (view, ls, s, r) => (RENDERERS[view.renderer].spans
    ? `${view.heading} · ${spanText(ls, s, r)}` : view.heading);

  /* The wheel over a plot scrolls the page, unless the plot was clicked since the pointer came in. */
  function wheelScrollsPage(element) {
    element.addEventListener('pointerdown', () => { element.dataset.focused = 'yes'; });
    element.addEventListener('pointerleave', () => { delete element.dataset.focused; });
    element.addEventListener('wheel', (event) => { if (!element.dataset.focused) event.stopPropagation(); },
                             {capture: true});
  }

  return {config, readSettings, plain, title, titled, centerValue, range, display, surface, surfaceLines, densify, interpolate, position,
          lineTraces, layout3d, layoutLine, traces, viewLayout, viewHeading, wheelScrollsPage, topText, surfaceLift};
})();
