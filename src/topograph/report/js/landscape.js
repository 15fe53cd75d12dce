/* Plotly traces of a landscape for any display setting; shared by the run and the compare page.
   A landscape is page_data.landscape_json(): grids (the loss and each metric) are rows of y (Plotly's z order),
   null where not finite. */
const Topo = (() => {
  'use strict';
  const SCALES = JSON.parse(document.getElementById('topograph-colorscales').textContent);
  const CAMERA = JSON.parse(document.getElementById('topograph-camera').textContent);  /* style.CAMERA */
  const displays = new Map();
  const hoverTexts = new Map();

  function readSettings(form, defaults) {
    const s = {...defaults};
    for (const input of form.elements) {
      if (!(input.name in s)) continue;
      if (input.name === 'log') s.log = input.value === 'true';
      else if (input.name === 'cap') s.cap = Number.isFinite(parseFloat(input.value)) ? parseFloat(input.value) : null;
      else if (typeof defaults[input.name] === 'number') s[input.name] = parseFloat(input.value);
      else s[input.name] = input.value;
    }
    return s;
  }

  /* the array drawn: the chosen quantity, or the loss where the landscape has none (grid.display_values()) */
  const field = (ls, s) => (Object.hasOwn(ls.grids, s.field) ? s.field : 'loss');

  /* the colour bar's title of a quantity's label (style.colour_title()) */
  function title(label, s) {
    const name = s.log ? `log10(${label})` : label;
    return s.cap === null ? name : `${name}, capped at ${s.cap}`;
  }

  function minPositive(grid) {
    let low = Infinity;
    for (const row of grid) for (const v of row) if (v !== null && v > 0 && v < low) low = v;
    return low === Infinity ? 1e-12 : low;
  }

  /* The plotted grid: the field, capped, then log10 (views.display_values() in Python does the same). */
  function display(ls, s) {
    const key = [ls.key, field(ls, s), s.log, s.cap].join('|');
    if (!displays.has(key)) {
      const raw = ls.grids[field(ls, s)], floor = minPositive(raw);
      let min = Infinity, max = -Infinity;
      const z = raw.map((row) => row.map((v) => {
        if (v === null) return null;
        if (s.cap !== null && v > s.cap) v = s.cap;
        if (s.log) v = Math.log10(Math.max(v, floor));
        min = Math.min(min, v);
        max = Math.max(max, v);
        return v;
      }));
      displays.set(key, {z, min, max});
    }
    return displays.get(key);
  }

  function span(shown) {
    const min = Math.min(...shown.map((d) => d.min)), max = Math.max(...shown.map((d) => d.max));
    return {min, max: max > min ? max : min + 1e-9};
  }

  /* count contour lines evenly spaced strictly between the lowest and the highest value */
  function levels(range, count) {
    const size = (range.max - range.min) / (count + 1);
    return {start: range.min + size, end: range.min + (count + 0.5) * size, size};
  }

  /* Plotly reads tags in text (<b>, <a href>...): names and labels are shown as plain text */
  const plain = (text) => String(text).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
  const number = (v) => (v === null || v === undefined ? '–' : Number(v).toPrecision(4));
  const percent = (v) => (v === null || v === undefined ? '–' : `${(100 * v).toFixed(1)} %`);
  /* a value of the array name: fractions as percent (labels.quantity_text()) */
  const valueText = (ls, name, v) => (ls.percent.includes(name) ? percent(v) : number(v));
  const names = (ls) => Object.keys(ls.grids);

  function hoverText(ls) {
    if (!hoverTexts.has(ls.key)) {
      hoverTexts.set(ls.key, ls.grids.loss.map((row, j) => row.map((_, i) => names(ls).map((name) =>
        `${plain(ls.labels[name])} ${valueText(ls, name, ls.grids[name][j][i])}`).join('<br>'))));
    }
    return hoverTexts.get(ls.key);
  }

  const HALO = '0 0 3px #fff, 0 0 3px #fff, 0 0 2px #fff';  /* a label's text readable over any colour */
  const HOVER = 'x %{x:.3f}<br>y %{y:.3f}<br>%{text}<extra>%{fullData.name}</extra>';

  function contour(ls, s, range, fill, showscale = true) {
    const lv = levels(range, s.levels);
    return {
      type: 'contour', name: plain(ls.name), x: ls.x, y: ls.y, z: display(ls, s).z, text: hoverText(ls),
      hovertemplate: HOVER, colorscale: SCALES[s.cmap], zauto: false, zmin: range.min, zmax: range.max,
      autocontour: false, contours: {start: lv.start, end: lv.end, size: lv.size, coloring: fill ? 'fill' : 'lines'},
      line: fill ? {width: 0.6, color: 'rgba(0,0,0,0.35)', smoothing: 0.8} : {width: 1.6, smoothing: 0.8},
      showscale, colorbar: {title: {text: plain(title(ls.labels[field(ls, s)], s)), side: 'right'}, len: 0.9},
    };
  }

  function surface(ls, s, range, extra = {}) {
    return {
      type: 'surface', name: plain(ls.name), x: ls.x, y: ls.y, z: display(ls, s).z, text: hoverText(ls),
      hovertemplate: HOVER, colorscale: SCALES[s.cmap], cmin: range.min, cmax: range.max, opacity: s.opacity,
      colorbar: {title: {text: plain(title(ls.labels[field(ls, s)], s)), side: 'right'}, len: 0.8}, ...extra,
    };
  }

  /* The track between checkpoints, finely sampled; t counts checkpoints (2.5 = halfway from the 3rd to the 4th). */
  function densify(track, perSegment = 24) {
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

  /* What lies on the map: the track(s), or the center of a landscape with neither track nor marks; then the marks.
     Lifted onto the surface when lift is a number. play: {shown: dense points drawn (all if undefined), cursor:
     whether to mark the last one}, for a single track. */
  function overlays(ls, s, play, lift = null) {
    const flat = lift === null;
    const height = (x, y) => interpolate(ls, display(ls, s).z, x, y) + lift;
    const point = (x, y) => (flat ? {x, y, type: 'scatter'}
      : {x, y, z: x.map((xi, i) => height(xi, y[i])), type: 'scatter3d'});
    let drawn = [];
    if (ls.tracks.length === 1) drawn = singleTrack(ls, s, play, point, flat);
    else if (ls.tracks.length) drawn = ls.tracks.flatMap((track) => runTrack(ls, s, track, point, flat));
    else if (!ls.marks.label.length) {
      drawn = [{...point([0], [0]), mode: 'markers', name: 'center',
                marker: {symbol: 'diamond', size: flat ? 16 : 7, color: '#fff', line: {color: s.track_color, width: 3}},
                hovertemplate: `center: the final weights (${ls.unit} ${ls.center_step})<extra></extra>`}];
    }
    return ls.marks.label.length ? [...drawn, markTrace(ls, point, flat)] : drawn;
  }

  function singleTrack(ls, s, play, point, flat) {
    const track = ls.tracks[0], path = densify(track), shown = Math.min(play.shown ?? path.x.length, path.x.length);
    const last = Math.max(shown - 1, 0), cursor = play.cursor ? [path.x[last]] : [];
    return [
      {...point(path.x.slice(0, shown), path.y.slice(0, shown)), mode: 'lines', name: 'track', hoverinfo: 'skip',
       line: {color: s.track_color, width: flat ? s.track_width : 2 * s.track_width}},
      {...point(track.x, track.y), mode: 'markers+text', name: 'checkpoints', text: track.step.map(String),
       textposition: 'top center', textfont: {size: flat ? 13 : 16, color: '#111'},
       customdata: checkpointData(ls, track), hovertemplate: checkpointHover(ls),
       marker: {size: flat ? 10 : 5, color: '#fff', line: {color: s.track_color, width: 2}}},
      {...point(cursor, play.cursor ? [path.y[last]] : []), mode: 'markers', name: 'now', hoverinfo: 'skip',
       marker: {size: flat ? 15 : 8, color: s.track_color, line: {color: '#000', width: 1.5}}},
    ];
  }

  /* One of several runs' tracks, in its colour, named in the legend: on a map one trace through its checkpoints;
     in 3-D the path finely sampled to follow the surface, and its checkpoints (one legend entry for both). */
  function runTrack(ls, s, track, point, flat) {
    const name = plain(track.run), hover = {customdata: checkpointData(ls, track),
                                            hovertemplate: checkpointHover(ls, track.run)};
    const line = {color: track.color, width: flat ? s.track_width : 2 * s.track_width};
    const marker = {size: flat ? 7 : 4, color: track.color, line: {color: '#fff', width: 1}};
    if (flat) return [{...point(track.x, track.y), mode: 'lines+markers', name, line, marker, ...hover}];
    const path = densify(track), group = {name, legendgroup: name};
    return [{...point(path.x, path.y), mode: 'lines', ...group, line, hoverinfo: 'skip'},
            {...point(track.x, track.y), mode: 'markers', ...group, showlegend: false, marker, ...hover}];
  }

  /* the landscape's labelled points (e.g. the checkpoints A, B, C of a plane through three) */
  function markTrace(ls, point, flat) {
    return {...point(ls.marks.x, ls.marks.y), mode: 'markers+text', name: 'marks', showlegend: false,
            text: ls.marks.label.map(plain), textposition: 'bottom center',
            textfont: {size: flat ? 13 : 15, color: '#111', shadow: HALO}, hovertemplate: '%{text}<extra></extra>',
            marker: {symbol: 'square', size: flat ? 11 : 6, color: '#111', line: {color: '#fff', width: 2}}};
  }

  /* where the animation is, in the landscape's unit (7.5 = halfway from the 7th to the 8th epoch's checkpoint) */
  function position(ls, shown) {
    const track = ls.tracks[0], path = densify(track), t = path.t[Math.min(shown, path.t.length) - 1];
    const i = Math.floor(t), steps = track.step, next = steps[Math.min(i + 1, steps.length - 1)];
    return steps[i] + (t - i) * (next - steps[i]);
  }

  /* A 1-D landscape's curve of the field, capped (grid.line_values() in Python does the same) */
  function lineValues(ls, s) {
    return ls.grids[field(ls, s)][0].map((v) => (v !== null && s.cap !== null && v > s.cap ? s.cap : v));
  }

  /* linear interpolation of a curve at x over the neighbours that hold a value (grid.line_at() in Python) */
  function along(ls, values, x) {
    const [i, f] = locate(ls.x, x);
    let sum = 0, weight = 0;
    for (const [v, w] of [[values[i], 1 - f], [values[i + 1], f]]) {
      if (v !== null && w > 0) { sum += w * v; weight += w; }
    }
    return weight > 0 ? sum / weight : null;
  }

  /* The curve of a 1-D landscape and its marks on it. look: {name, color} of one curve among several (compare);
     alone, the curve is drawn in the track's colour and width. */
  function lineTraces(ls, s, look = {}) {
    const name = field(ls, s), values = lineValues(ls, s), raw = ls.grids[name][0], label = plain(ls.labels[name]);
    const color = look.color ?? s.track_color, group = look.name ?? ls.name;
    const curve = {type: 'scatter', mode: 'lines', name: plain(group), legendgroup: group, x: ls.x, y: values,
                   text: raw.map((v) => valueText(ls, name, v)), line: {color, width: look.color ? 2.5 : s.track_width},
                   hovertemplate: `α %{x:.3f}<br>${label} %{text}<extra>${plain(group)}</extra>`};
    if (!ls.marks.label.length) return [curve];
    return [curve, {type: 'scatter', mode: 'markers+text', name: 'marks', legendgroup: group, showlegend: false,
                    x: ls.marks.x, y: ls.marks.x.map((x) => along(ls, values, x)), text: ls.marks.label.map(plain),
                    textposition: 'top center', cliponaxis: false, textfont: {size: 12, color: '#111', shadow: HALO},
                    hovertemplate: 'α %{x:.3f}<br>%{text}<extra></extra>',
                    marker: {symbol: 'diamond', size: 10, color, line: {color: '#111', width: 1.5}}}];
  }

  /* The layout of the curves of the 1-D landscapes shown: a log y axis where asked and every value is positive
     (grid.line_values()), a dotted vertical line at each mark. yLabel: the y axis' title, by default the first
     landscape's quantity. */
  function layoutLine(shown, heading, s, yLabel = shown[0].labels[field(shown[0], s)]) {
    const values = shown.flatMap((ls) => lineValues(ls, s)).filter((v) => v !== null);
    const log = s.log && values.length > 0 && values.every((v) => v > 0);
    const marks = [...new Set(shown.flatMap((ls) => ls.marks.x))];
    return {
      ...layout2d(shown[0], heading), showlegend: shown.length > 1,
      xaxis: {title: {text: plain(shown[0].xlabel)}, zeroline: false, gridcolor: '#eee'},
      yaxis: {title: {text: plain(s.cap === null ? yLabel : `${yLabel}, capped at ${s.cap}`)},
              type: log ? 'log' : 'linear', gridcolor: '#eee'},
      shapes: marks.map((x) => ({type: 'line', xref: 'x', yref: 'paper', x0: x, x1: x, y0: 0, y1: 1,
                                 line: {color: '#888', width: 1, dash: 'dot'}})),
    };
  }

  function layout2d(ls, heading) {
    return {
      title: {text: plain(heading), font: {size: 15}, x: 0.01, xanchor: 'left'}, margin: {l: 64, r: 12, t: 42, b: 52},
      showlegend: ls.tracks.length > 1, legend: {x: 0.01, y: 0.99, bgcolor: 'rgba(255,255,255,0.75)'},
      hovermode: 'closest', uirevision: ls.key, paper_bgcolor: '#fff', plot_bgcolor: '#fff',
      xaxis: {title: {text: plain(ls.xlabel)}, showgrid: false, zeroline: false},
      yaxis: {title: {text: plain(ls.ylabel)}, showgrid: false, zeroline: false},
    };
  }

  /* zTitle: the z axis' title, by default the landscape's quantity (title()) */
  function layout3d(ls, heading, s, showlegend = ls.tracks.length > 1, zTitle = title(ls.labels[field(ls, s)], s)) {
    return {
      title: {text: plain(heading), font: {size: 15}, x: 0.01, xanchor: 'left'}, margin: {l: 0, r: 0, t: 42, b: 0},
      showlegend,
      uirevision: 'scene',
      legend: {x: 0, y: 1},
      scene: {xaxis: {title: {text: plain(ls.xlabel)}}, yaxis: {title: {text: plain(ls.ylabel)}},
              zaxis: {title: {text: plain(zTitle)}},
              aspectmode: 'manual', aspectratio: {...CAMERA.aspectratio}, camera: {eye: {...CAMERA.eye}}},
    };
  }

  return {readSettings, plain, title, display, span, contour, surface, overlays, densify, interpolate, position,
          lineTraces, layout2d, layout3d, layoutLine};
})();
