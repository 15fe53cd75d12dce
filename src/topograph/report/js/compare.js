/* The compare page: the result landscapes of several runs, tiled with one colour scale or overlaid in one
   3-D scene, each run toggled by its checkbox; and every interpolation of the runs, one curve each in one plot. */
(() => {
  'use strict';
  const page = JSON.parse(document.getElementById('compare-data').textContent);
  const form = document.getElementById('settings');
  const config = {responsive: true, displaylogo: false};
  const state = {mode: 'tile'};

  const checked = (i) => document.getElementById(`run-${i}`).checked;

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
    const range = shown.length ? Topo.span(shown.map((run) => Topo.display(run.landscape, s))) : {min: 0, max: 1};
    return state.mode === 'tile' ? renderTiles(s, range) : renderOverlay(s, range);
  }

  function renderTiles(s, range) {
    return Promise.all(page.runs.map((run, i) => {
      const tile = document.getElementById(`tile-${i}`);
      tile.hidden = !checked(i);
      if (tile.hidden) return null;
      const data = [Topo.contour(run.landscape, s, range, true), ...Topo.overlays(run.landscape, s, {})];
      return Plotly.react(tile, data, Topo.layout2d(run.landscape, run.name), config);
    }));
  }

  function renderOverlay(s, range) {
    const traces = page.runs.map((run, i) => Topo.surface(run.landscape, s, range, {
      name: Topo.plain(run.name), visible: checked(i), showlegend: true, showscale: false,
      colorscale: [[0, run.color], [1, run.color]], lighting: {ambient: 0.55, diffuse: 0.7, specular: 0.15},
    }));
    const layout = Topo.layout3d(page.runs[0].landscape, 'Result landscapes in one scene', s, true,
                                 Topo.title(page.labels[s.field], s));
    return Plotly.react('overlay', traces, layout, config).then((scene) => {
      if (!scene.dataset.legendLinked) {  /* a click on the legend ticks the run's checkbox */
        scene.on('plotly_legendclick', (event) => { toggle(event.curveNumber); return false; });
        scene.on('plotly_legenddoubleclick', () => false);
        scene.dataset.legendLinked = 'yes';
      }
    });
  }

  function toggle(index) {
    const box = document.getElementById(`run-${index}`);
    box.checked = !box.checked;
    render();
  }

  function setMode(mode) {
    state.mode = mode;
    document.querySelectorAll('#mode-switch button').forEach((b) => {
      b.setAttribute('aria-pressed', String(b.dataset.mode === mode));
    });
    document.getElementById('tiles').hidden = mode !== 'tile';
    document.getElementById('overlay').hidden = mode !== 'overlay';
    if (mode === 'tile') {  /* free the WebGL context */
      Plotly.purge('overlay');
      delete document.getElementById('overlay').dataset.legendLinked;
    }
    render();
  }

  document.querySelectorAll('#mode-switch button').forEach((b) => {
    b.addEventListener('click', () => setMode(b.dataset.mode));
  });
  form.addEventListener('input', (event) => {
    const output = form.querySelector(`output[for="${event.target.id}"]`);
    if (output) output.value = event.target.value;
    render();
  });
  form.addEventListener('submit', (event) => event.preventDefault());
  render();
})();
