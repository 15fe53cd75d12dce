/* The compare page: the result landscapes of several runs, tiled with one colour scale (isoline, topographic or
   3-D tiles) or overlaid in one 3-D scene, their centres aligned if asked; the runs' radial profiles; each run
   toggled by its checkbox; and every interpolation of the runs, one curve each in one plot. */
(() => {
  'use strict';
  const page = JSON.parse(document.getElementById('compare-data').textContent);
  const form = document.getElementById('settings');
  const config = {responsive: true, displaylogo: false};
  const state = {mode: 'tile', tiles: 'topographic'};
  const LIFT = 0.015;  /* the track above a 3-D tile's surface, as a share of the colour range (as the run page) */
  const LIGHTING = {ambient: 0.55, diffuse: 0.7, specular: 0.15};
  const LINES = {color: 'rgba(0,0,0,0.45)', width: 1};  /* the contour lines on a 3-D surface */
  /* why a control does nothing in a layout, on its label while it is disabled there */
  const IDLE = {
    cmap: () => state.mode === 'overlay' && 'The overlay draws each run in its colour; the colour map is for tiles',
    opacity: () => state.mode === 'tile' && state.tiles !== 'surface3d' && 'Opacity is of the 3-D surfaces',
  };

  const checked = (i) => document.getElementById(`run-${i}`).checked;
  const tile = (i) => document.getElementById(`tile-${i}`);
  const aligned = () => state.mode === 'overlay' && document.getElementById('align').checked;

  function render() {
    const s = Topo.readSettings(form, page.defaults);
    return Promise.all([page.runs.length ? renderResults(s) : null, page.lines.length ? renderLines(s) : null]);
  }

  function renderLines(s) {
    const shown = page.lines.map((line) => line.landscape);
    const traces = page.lines.flatMap((line) => Topo.lineTraces(line.landscape, s, line));
    const layout = Topo.layoutLine(shown, 'Interpolations · hover for α and the value', s, page.labels[s.field]);
    return Plotly.react('lines', traces, layout, config);
  }

  function renderResults(s) {
    const shown = page.runs.filter((run, i) => checked(i));
    document.getElementById('nothing-shown').hidden = shown.length > 0;
    const drawn = state.mode === 'tile' ? renderTiles(s, shown) : renderOverlay(s);
    return Promise.all([drawn, renderProfile(s, shown)]);
  }

  /* Plotly's z contours of a surface: count lines evenly spaced strictly inside the range (Topo's contour levels) */
  function surfaceLines(range, count) {
    const size = (range.max - range.min) / (count + 1);
    return {z: {show: true, start: range.min + size, end: range.min + (count + 0.5) * size, size, ...LINES}};
  }

  /* A tile's traces by the kind of tile, on the one colour range all tiles share. */
  const TILES = {
    isoline: (ls, s, range) => [Topo.contour(ls, s, range, false), ...Topo.overlays(ls, s, {})],
    topographic: (ls, s, range) => [Topo.contour(ls, s, range, true), ...Topo.overlays(ls, s, {})],
    surface3d: (ls, s, range) => [Topo.surface(ls, s, range, {contours: surfaceLines(range, s.levels)}),
                                  ...Topo.overlays(ls, s, {}, LIFT * (range.max - range.min))],
  };

  function tileLayout(run, s) {
    const ls = run.landscape;
    return state.tiles === 'surface3d' ? Topo.layout3d(ls, run.name, s) : Topo.layout2d(ls, run.name);
  }

  /* One colour range over the runs shown; a hidden tile collapses, its plot purged (a 3-D tile holds a WebGL
     context). */
  function renderTiles(s, shown) {
    const range = shown.length ? Topo.span(shown.map((run) => Topo.display(run.landscape, s))) : {min: 0, max: 1};
    return Promise.all(page.runs.map((run, i) => {
      tile(i).hidden = !checked(i);
      if (tile(i).hidden) return Plotly.purge(tile(i));
      return Plotly.react(tile(i), TILES[state.tiles](run.landscape, s, range), tileLayout(run, s), config);
    }));
  }

  function purgeTiles() {
    page.runs.forEach((run, i) => Plotly.purge(tile(i)));
  }

  /* A run's displayed grid {z, min, max}; with the centres aligned, less its value at the center (0, 0). */
  function overlayGrid(ls, s) {
    const grid = Topo.display(ls, s), center = aligned() ? Topo.interpolate(ls, grid.z, 0, 0) : null;
    if (center === null) return grid;
    return {z: grid.z.map((row) => row.map((v) => (v === null ? null : v - center))),
            min: grid.min - center, max: grid.max - center};
  }

  function overlaySurface(run, i, grid, s, range) {
    return {...Topo.surface(run.landscape, s, range, {
      name: Topo.plain(run.name), visible: checked(i), showlegend: true, showscale: false, lighting: LIGHTING,
      colorscale: [[0, run.color], [1, run.color]], contours: surfaceLines(range, s.levels),
    }), z: grid.z};
  }

  function overlayLayout(s) {
    const quantity = Topo.title(page.labels[s.field], s);
    const heading = aligned() ? 'Result landscapes in one scene, centres aligned' : 'Result landscapes in one scene';
    const zTitle = aligned() ? `${quantity} − its value at the center (0, 0): L − L0` : quantity;
    return Topo.layout3d(page.runs[0].landscape, heading, s, true, zTitle);
  }

  function renderOverlay(s) {
    const grids = page.runs.map((run) => overlayGrid(run.landscape, s));
    const shown = grids.filter((grid, i) => checked(i));
    const range = shown.length ? Topo.span(shown) : {min: 0, max: 1};
    const traces = page.runs.map((run, i) => overlaySurface(run, i, grids[i], s, range));
    return Plotly.react('overlay', traces, overlayLayout(s), config).then(linkLegend);
  }

  /* a click on the overlay's legend ticks the run's checkbox */
  function linkLegend(scene) {
    if (scene.dataset.legendLinked) return;
    scene.on('plotly_legendclick', (event) => { toggle(event.curveNumber); return false; });
    scene.on('plotly_legenddoubleclick', () => false);
    scene.dataset.legendLinked = 'yes';
  }

  /* the mean of the quantity against the distance from the center, one line per run shown, in its colour */
  function profileTrace(run, s) {
    const profile = run.profile[s.field] ?? run.profile.loss, name = Topo.plain(run.name);
    const label = Topo.plain(page.labels[s.field] ?? 'loss');
    const hover = `r %{x:.3f}<br>mean ${label} %{y:.4g}<br>over %{customdata} grid points<extra>${name}</extra>`;
    return {type: 'scatter', mode: 'lines+markers', name, x: profile.radius, y: profile.mean,
            customdata: profile.count, line: {color: run.color, width: 2.5}, marker: {color: run.color, size: 6},
            hovertemplate: hover};
  }

  function renderProfile(s, shown) {
    const label = page.labels[s.field] ?? 'loss';
    const layout = {
      title: {text: 'Radial profile', font: {size: 15}, x: 0.01, xanchor: 'left'},
      margin: {l: 64, r: 12, t: 42, b: 52}, showlegend: true, legend: {x: 0.01, y: 0.99},
      hovermode: 'closest', paper_bgcolor: '#fff', plot_bgcolor: '#fff',
      xaxis: {title: {text: 'distance from the center, √(x² + y²)'}, zeroline: false, gridcolor: '#eee'},
      yaxis: {title: {text: `mean ${Topo.plain(label)}`}, gridcolor: '#eee'},
    };
    return Plotly.react('profile', shown.map((run) => profileTrace(run, s)), layout, config);
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
    document.getElementById('align-group').hidden = mode !== 'overlay';
    if (mode === 'tile') {  /* free the WebGL context */
      Plotly.purge('overlay');
      delete document.getElementById('overlay').dataset.legendLinked;
    } else {
      purgeTiles();
    }
    disableIdle();
    render().then(resize);
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
  document.getElementById('align')?.addEventListener('change', render);
  form.addEventListener('input', (event) => {
    const output = form.querySelector(`output[for="${event.target.id}"]`);
    if (output) output.value = event.target.value;
    render().then(() => (event.target.id.startsWith('run-') ? resize() : null));
  });
  form.addEventListener('submit', (event) => event.preventDefault());
  if (page.runs.length) disableIdle();
  render();
})();
