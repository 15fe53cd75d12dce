/* The run page: one landscape at a time in the views of views.VIEWS that draw it (page.views: a plane's isoline,
   topographic and 3-D maps, a line's curve), live display settings, the training-loss curve (and the buttons)
   choosing the landscape, and the track's animation (a landscape with a single track). */
(() => {
  'use strict';
  const page = JSON.parse(document.getElementById('run-data').textContent);
  const form = document.getElementById('settings');
  const config = {responsive: true, displaylogo: false};
  const state = {index: 0, view: 'all', play: {}, playing: null};
  const playButton = document.getElementById('play');
  const status = document.getElementById('play-status');

  /* The traces of each view, by its key in views.VIEWS. */
  const TRACES = {
    isoline: (ls, s, range) => [Topo.contour(ls, s, range, false), ...Topo.overlays(ls, s, state.play)],
    topographic: (ls, s, range) => [Topo.contour(ls, s, range, true), ...Topo.overlays(ls, s, state.play)],
    surface3d: (ls, s, range) => [Topo.surface(ls, s, range),
                                  ...Topo.overlays(ls, s, state.play, 0.015 * (range.max - range.min))],
    line: (ls, s) => Topo.lineTraces(ls, s),
  };

  /* the 3-D scene (a WebGL context, slow to create without a GPU) waits until the page has painted once and
     the loss curve is drawn */
  const idle = window.requestIdleCallback || ((callback) => setTimeout(callback, 0));
  const painted = new Promise((resolve) => requestAnimationFrame(() => idle(resolve, {timeout: 1000})));
  const current = () => page.landscapes[state.index];
  const box = (view) => document.getElementById(`view-${view.key}`);
  const views = page.views.filter(box);  /* those that draw one of this run's landscapes */
  const applies = (view) => view.landscape_dims === current().dimensions;
  const shown = (view) => applies(view) && (state.view === 'all' || state.view === view.key);

  function layout(view, ls, s) {
    if (view.dims === 3) return Topo.layout3d(ls, view.heading, s);
    return view.landscape_dims === 1 ? Topo.layoutLine([ls], view.heading, s) : Topo.layout2d(ls, view.heading);
  }

  function render() {
    const ls = current();
    document.getElementById('views').hidden = !ls.drawable;
    if (!ls.drawable) return Promise.resolve();
    const s = Topo.readSettings(form, page.defaults), range = Topo.span([Topo.display(ls, s)]);
    return Promise.all(views.filter(shown).map((view) => {
      const draw = () => Plotly.react(box(view), TRACES[view.key](ls, s, range), layout(view, ls, s), config);
      return view.dims === 3 ? painted.then(draw) : draw();
    }));
  }

  function press(selector, chosen) {
    document.querySelectorAll(selector).forEach((b) => b.setAttribute('aria-pressed', String(b === chosen)));
  }

  /* the view buttons and boxes of the current landscape's views; 'All' where it has more than one */
  function showViews() {
    const own = views.filter(applies);
    if (!own.some((view) => view.key === state.view)) state.view = 'all';
    document.querySelectorAll('#view-switch button').forEach((b) => {
      b.hidden = b.dataset.view === 'all' ? own.length < 2 : !own.some((view) => view.key === b.dataset.view);
      const pressed = b.dataset.view === state.view || (own.length === 1 && !b.hidden);
      b.setAttribute('aria-pressed', String(pressed));
    });
    const element = document.getElementById('views');
    element.dataset.view = state.view;
    element.dataset.dimensions = String(current().dimensions);
    for (const view of views) box(view).hidden = !shown(view);
  }

  function highlightInterval(name) {
    for (const doc of (window.Bokeh ? Bokeh.documents : [])) {
      for (const ls of page.landscapes) {
        const interval = doc.get_model_by_name(`interval-${ls.name}`);
        if (interval) interval.fill_alpha = ls.name === name ? 0.45 : 0.12;
      }
    }
  }

  function select(name) {
    const index = page.landscapes.findIndex((ls) => ls.name === name);
    if (index < 0) return;
    stop();
    state.index = index;
    state.play = {};
    press('#landscapes button', document.querySelector(`#landscapes button[data-index="${index}"]`));
    document.querySelectorAll('[data-landscape-index]').forEach((e) => {
      e.hidden = e.dataset.landscapeIndex !== String(index);
    });
    playButton.disabled = current().tracks.length !== 1 || !current().drawable;
    playButton.title = current().tracks.length > 1 ? 'the animation follows a single track' : '';
    status.textContent = '';
    highlightInterval(name);
    showViews();
    render();
  }

  function setView(key) {
    state.view = key;
    showViews();
    render().then(() => views.filter(shown).forEach((view) => Plotly.Plots.resize(box(view))));
  }

  function stop() {
    state.playing = null;
    playButton.textContent = '▶ Play';
  }

  /* The descent: the track drawn point by point with a marker at its head, in every view shown, one second
     per checkpoint; a frame that draws slowly (3-D without a GPU) makes the next one skip ahead. */
  function play() {
    if (state.playing) return stop();
    const ls = current(), run = {}, started = performance.now(), track = ls.tracks[0];
    const total = Topo.densify(track).x.length, duration = 1000 * (track.x.length - 1);
    state.playing = run;
    playButton.textContent = '❚❚ Pause';
    const frame = () => {
      if (state.playing !== run) return;
      const drawn = Math.min(total, 1 + Math.round((total - 1) * (performance.now() - started) / duration));
      state.play = {shown: drawn, cursor: true};
      status.textContent = `${ls.unit} ${Topo.position(ls, drawn).toFixed(1)}`;
      render().then(() => {
        if (drawn < total) requestAnimationFrame(frame);
        else if (state.playing === run) stop();
      });
    };
    requestAnimationFrame(frame);
  }

  window.topographSelect = select;
  document.querySelectorAll('#landscapes button').forEach((b) => b.addEventListener('click', () =>
    select(page.landscapes[Number(b.dataset.index)].name)));
  document.querySelectorAll('#view-switch button').forEach((b) => {
    b.addEventListener('click', () => setView(b.dataset.view));
  });
  playButton.addEventListener('click', play);
  form.addEventListener('input', (event) => {
    const output = form.querySelector(`output[for="${event.target.id}"]`);
    if (output) output.value = event.target.value;
    render();
  });
  form.addEventListener('submit', (event) => event.preventDefault());
  select(page.landscapes.length ? page.landscapes[0].name : '');
})();
