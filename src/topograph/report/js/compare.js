/* The compare page: the result landscapes of several runs, tiled with one colour scale (isoline, topographic or
   3-D tiles, the 3-D ones in one box and turned together) or overlaid in one 3-D scene, each less its value at the
   center if asked (L − L0); the runs' radial profiles; each run toggled by its checkbox; and every interpolation of
   the runs, one curve each in one plot. Runs of different quantities (cross-entropy, MSE) are never drawn on one
   scale: each has its own colour range, box, profile plot and interpolation plot, and no overlay. */
(() => {
  'use strict';
  const page = JSON.parse(document.getElementById('compare-data').textContent);
  const form = document.getElementById('settings');
  const config = Topo.config;
  const state = {mode: 'tile', tiles: page.tile};
  const LIGHTING = {ambient: 0.55, diffuse: 0.7, specular: 0.15};
  /* the kinds of tile (views.TILES), by key */
  const VIEWS = Object.fromEntries(page.views.map((view) => [view.key, view]));
  /* why a control does nothing in a layout, on its label while it is disabled there */
  const IDLE = {
    cmap: () => state.mode === 'overlay' && 'The overlay draws each run in its colour; the colour map is for tiles',
    opacity: () => state.mode === 'tile' && VIEWS[state.tiles].dims !== 3 && 'Opacity is of the 3-D surfaces',
  };

  const checked = (i) => document.getElementById(`run-${i}`).checked;
  const tile = (i) => document.getElementById(`tile-${i}`);

  function render() {
    const s = Topo.readSettings(form, page.defaults);
    return Promise.all([page.runs.length ? renderResults(s) : null, page.lines.length ? renderLines(s) : null]);
  }

  /* the interpolations' curves, one plot per quantity drawn (stacked()) */
  function renderLines(s) {
    const found = groups(s, page.lines);
    const parts = found.map((group) => ({
      traces: group.runs.flatMap((line) => Topo.lineTraces(line.landscape, s, line)),
      layout: Topo.layoutLine(group.runs.map((line) => line.landscape), 'Interpolations · hover for α and the value',
                              s, group.title)}));
    const {traces, layout} = stacked(parts, 'lines', 480);
    return Plotly.react('lines', traces, layout, config).then(fitted);
  }

  function renderResults(s) {
    const shown = page.runs.filter((run, i) => checked(i));
    document.getElementById('nothing-shown').hidden = shown.length > 0;
    if (!allowOverlay(groups(s, shown)) && state.mode === 'overlay') return setMode('tile');
    const drawn = state.mode === 'tile' ? renderTiles(s, shown) : renderOverlay(s);
    return Promise.all([drawn, renderProfile(s, shown)]);
  }

  /* One scene puts its runs on one axis: no overlay of runs of different quantities (its button says why). */
  function allowOverlay(found) {
    const button = document.querySelector('#mode-switch button[data-mode=overlay]');
    button.disabled = found.length > 1;
    button.title = button.disabled ? `The runs shown draw different quantities (${found.map((g) => g.title)
      .join(', ')}): one scene would put them on one axis; tiles give each its own colour range` : '';
    return !button.disabled;
  }

  /* Plotly sizes a plot to its box when it first draws it: a box grown or shrunk since (stacked()) is followed. */
  const fitted = (gd) => (Math.abs(gd._fullLayout.height - gd.clientHeight) > 1 ? Plotly.Plots.resize(gd) : gd);

  /* The plots of several groups (parts: [{traces, layout}], each with its own xaxis, yaxis and shapes on them)
     stacked in one figure, a row each, the box id as tall as rows of height px (one: its own height). */
  function stacked(parts, id, height) {
    document.getElementById(id).style.height = parts.length > 1 ? `${height * parts.length}px` : '';
    if (parts.length === 1) return parts[0];
    const axis = (k) => (k ? String(k + 1) : '');
    const layout = {...parts[0].layout, grid: {rows: parts.length, columns: 1, pattern: 'independent'}, shapes: []};
    const traces = parts.flatMap((part, k) => {
      const x = `x${axis(k)}`, y = `y${axis(k)}`;
      layout[`xaxis${axis(k)}`] = part.layout.xaxis;
      layout[`yaxis${axis(k)}`] = part.layout.yaxis;
      layout.shapes.push(...(part.layout.shapes ?? []).map((shape) => ({...shape, xref: x, yref: `${y} domain`})));
      return part.traces.map((trace) => ({...trace, xaxis: x, yaxis: y}));
    });
    return {traces, layout};
  }

  /* A tile: the view of the kind of tile chosen, on the colour range r its group shares, titled by the run; a 3-D
     surface with its contour lines, in the box its group shares (box()) and one camera for all tiles: the first
     run's, until one is turned. */
  function renderTile(run, i, s, r, scene) {
    const view = VIEWS[state.tiles], more = {surface: {contours: Topo.surfaceLines(r, s.levels)}};
    const traces = Topo.traces(view, run.landscape, s, r, more);
    const layout = Topo.viewLayout(view, run.landscape, run.name, s, r);
    if (view.dims === 3) {
      const axes = Object.fromEntries(Object.entries(scene).map(([k, v]) => [k, {...layout.scene[k], ...v}]));
      layout.scene = {...layout.scene, ...axes, camera: state.camera ?? {eye: {...page.runs[0].landscape.camera.eye}}};
    }
    return Plotly.react(tile(i), traces, layout, config).then((gd) => (view.dims === 3 ? linkCamera(gd) : gd));
  }

  /* The 3-D box of the runs of one range r: one x and y range over their grids and one z range, the colour
     range as drawn with room for the lifted track, so a height reads alike on every tile. */
  function box(runs, r) {
    const ends = (axis) => runs.flatMap((run) => [run.landscape[axis][0], run.landscape[axis].at(-1)]);
    const span = (axis) => ({range: [Math.min(...ends(axis)), Math.max(...ends(axis))], autorange: false});
    const z = {range: [r.zmin, r.zmax + Topo.surfaceLift(r)], autorange: false};
    return {xaxis: span('x'), yaxis: span('y'), zaxis: z};
  }

  /* the quantity a landscape draws: 'loss (cross-entropy)', 'loss (MSE)', 'accuracy' */
  const quantity = (ls, s) => ls.labels[s.field] ?? ls.labels.loss;

  /* The runs (or lines) shown, in groups of one quantity drawn (its title): runs of different quantities never
     share a colour range, a 3-D box, a profile axis or an interpolation's axis. */
  function groups(s, shown) {
    const found = new Map();
    for (const run of shown) {
      const title = quantity(run.landscape, s);
      found.set(title, [...(found.get(title) ?? []), run]);
    }
    return [...found].map(([title, runs]) => ({title, runs}));
  }

  /* One colour range per group of the runs shown, its top the percentile of all their values (one run's outliers
     do not wash out the others); a hidden tile collapses, its plot purged (a 3-D tile holds a WebGL context). */
  function renderTiles(s, shown) {
    const found = groups(s, shown).map((group) => {
      const r = Topo.range(group.runs.map((run) => run.landscape), s);
      return {...group, r, scene: box(group.runs, r)};
    });
    showTop(found);
    return Promise.all(page.runs.map((run, i) => {
      tile(i).hidden = !checked(i);
      if (tile(i).hidden) return purgeTile(i);
      const group = found.find((g) => g.runs.includes(run));
      return renderTile(run, i, s, group.r, group.scene);
    }));
  }

  /* Rotating (or zooming) one 3-D tile turns all others alike: the camera a tile's relayout reports goes to the
     others, whose own relayouts, while it does, go nowhere. */
  let turning = false;
  function linkCamera(gd) {
    if (gd.dataset.cameraLinked) return gd;
    gd.on('plotly_relayout', (change) => {
      const camera = change['scene.camera'];
      if (turning || !camera) return;
      state.camera = camera;
      turning = true;
      const others = page.runs.map((run, i) => tile(i)).filter((other) => other !== gd && other.dataset.cameraLinked);
      Promise.all(others.map((other) => Plotly.relayout(other, {'scene.camera': camera})))
        .finally(() => { turning = false; });
    });
    gd.dataset.cameraLinked = 'yes';
    return gd;
  }

  function purgeTile(i) {
    delete tile(i).dataset.cameraLinked;
    return Plotly.purge(tile(i));
  }

  /* the colour range's clipped end beside its control; one per group, each named, where there are several */
  function showTop(found) {
    const top = document.getElementById('top-value');
    if (!top) return;
    top.textContent = found.length === 1 ? Topo.topText(found[0].r)
      : found.map((group) => `${group.title} ${Topo.topText(group.r)}`).join('; ');
  }

  function purgeTiles() {
    page.runs.forEach((run, i) => purgeTile(i));
  }

  function overlaySurface(run, i, s, r) {
    return Topo.surface(run.landscape, s, r, {
      name: Topo.plain(run.name), visible: checked(i), showlegend: true, showscale: false, lighting: LIGHTING,
      colorscale: [[0, run.color], [1, run.color]], contours: Topo.surfaceLines(r, s.levels),
    });
  }

  function overlayLayout(s, r) {
    const ls = page.runs[0].landscape, quantity = Topo.title(ls, s);
    const heading = s.relative ? 'Result landscapes in one scene, centres aligned' : 'Result landscapes in one scene';
    const zTitle = s.relative ? `${quantity}: L − L0, each run less its value at the center (0, 0)` : quantity;
    return Topo.layout3d(ls, heading, s, r, true, zTitle);
  }

  /* the runs' surfaces in one scene on one range; with s.relative, each less its value at the center: aligned */
  function renderOverlay(s) {
    const r = Topo.range(page.runs.filter((run, i) => checked(i)).map((run) => run.landscape), s);
    showTop([{r}]);
    const traces = page.runs.map((run, i) => overlaySurface(run, i, s, r));
    return Plotly.react('overlay', traces, overlayLayout(s, r), config).then(linkLegend);
  }

  /* a click on the overlay's legend ticks the run's checkbox */
  function linkLegend(scene) {
    if (scene.dataset.legendLinked) return;
    scene.on('plotly_legendclick', (event) => { toggle(event.curveNumber); return false; });
    scene.on('plotly_legenddoubleclick', () => false);
    scene.dataset.legendLinked = 'yes';
  }

  /* the mean of the quantity (less its value at the center where s.relative) against the distance from the
     center, one line per run shown, in its colour */
  function profileTrace(run, s) {
    const profile = run.profile[s.field] ?? run.profile.loss, name = Topo.plain(run.name);
    const label = Topo.plain(profileLabel(quantity(run.landscape, s), s));
    const center = s.relative ? Topo.centerValue(run.landscape, s) : 0;
    const hover = `r %{x:.3f}<br>mean ${label} %{y:.4g}<br>over %{customdata} grid points<extra>${name}</extra>`;
    return {type: 'scatter', mode: 'lines+markers', name, x: profile.radius,
            y: profile.mean.map((v) => (v === null ? null : v - center)),
            customdata: profile.count, line: {color: run.color, width: 2.5}, marker: {color: run.color, size: 6},
            hovertemplate: hover};
  }

  /* the profile's quantity: 'loss (cross-entropy)', 'loss (cross-entropy) − value at center' */
  const profileLabel = (label, s) => Topo.titled(label, {...s, cap: null});

  function profileLayout(label, s) {
    return {
      title: {text: 'Radial profile', font: {size: 15}, x: 0.01, xanchor: 'left'},
      margin: {l: 64, r: 12, t: 42, b: 52}, showlegend: true, legend: {x: 0.01, y: 0.99},
      hovermode: 'closest', paper_bgcolor: '#fff', plot_bgcolor: '#fff',
      xaxis: {title: {text: 'distance from the center, √(x² + y²)'}, zeroline: false, gridcolor: '#eee'},
      yaxis: {title: {text: `mean ${Topo.plain(profileLabel(label, s))}`}, gridcolor: '#eee'},
    };
  }

  /* one plot of the profiles per quantity drawn (stacked()) */
  function renderProfile(s, shown) {
    const found = shown.length ? groups(s, shown) : [{title: page.labels[s.field] ?? 'loss', runs: []}];
    const parts = found.map((group) => ({traces: group.runs.map((run) => profileTrace(run, s)),
                                         layout: profileLayout(group.title, s)}));
    const {traces, layout} = stacked(parts, 'profile', 400);
    return Plotly.react('profile', traces, layout, config).then(fitted);
  }

  /* the tiles left grow into the room of those hidden (Plotly follows the window's size only) */
  function resize() {
    const boxes = state.mode === 'tile' ? page.runs.map((run, i) => tile(i)).filter((box) => !box.hidden) : [];
    return Promise.all(boxes.map((box) => Plotly.Plots.resize(box)));
  }

  /* a control that does nothing in this layout is disabled, its label saying why */
  function disableIdle() {
    for (const [name, why] of Object.entries(IDLE)) {
      const input = document.getElementById(`set-${name}`), reason = why();
      if (!input) continue;
      input.disabled = Boolean(reason);
      input.closest('label').title = reason || '';
    }
  }

  function toggle(index) {
    const box = document.getElementById(`run-${index}`);
    box.checked = !box.checked;
    render().then(resize);
  }

  function press(selector, key, value) {
    document.querySelectorAll(selector).forEach((b) => {
      b.setAttribute('aria-pressed', String(b.dataset[key] === value));
    });
  }

  function setMode(mode) {
    state.mode = mode;
    press('#mode-switch button', 'mode', mode);
    document.getElementById('tiles').hidden = mode !== 'tile';
    document.getElementById('tiles-group').hidden = mode !== 'tile';
    document.getElementById('overlay').hidden = mode !== 'overlay';
    if (mode === 'tile') {  /* free the WebGL context */
      Plotly.purge('overlay');
      delete document.getElementById('overlay').dataset.legendLinked;
    } else {
      purgeTiles();
    }
    disableIdle();
    return render().then(resize);
  }

  /* a new kind of tile starts from a bare box: no 3-D scene (a WebGL context) is left behind */
  function setTiles(kind) {
    state.tiles = kind;
    press('#tiles-switch button', 'tiles', kind);
    purgeTiles();
    disableIdle();
    render();
  }

  document.querySelectorAll('#mode-switch button').forEach((b) => {
    b.addEventListener('click', () => setMode(b.dataset.mode));
  });
  document.querySelectorAll('#tiles-switch button').forEach((b) => {
    b.addEventListener('click', () => setTiles(b.dataset.tiles));
  });
  form.addEventListener('input', (event) => {
    const output = form.querySelector(`output[for="${event.target.id}"]`);
    if (output) output.value = event.target.value;
    render().then(() => (event.target.id.startsWith('run-') ? resize() : null));
  });
  form.addEventListener('submit', (event) => event.preventDefault());
  if (page.runs.length) disableIdle();
  document.querySelectorAll('.tile, #overlay, #profile, #lines').forEach(Topo.wheelScrollsPage);
  render();
})();
