/* The run page: one landscape at a time in the views of views.VIEWS that draw it (page.views: a plane's isoline,
   topographic and 3-D maps, a line's curve), live display settings, the training-loss curve (and the buttons)
   choosing the landscape, and the track's animation (a landscape with a single track). */
(() => {
  'use strict';
  const page = JSON.parse(document.getElementById('run-data').textContent);
  const form = document.getElementById('settings');
  const config = Topo.config;
  const state = {index: 0, view: 'all', play: {}, playing: null};
  const playButton = document.getElementById('play');
  const scrubber = document.getElementById('scrub');
  const speed = document.getElementById('speed');
  const status = document.getElementById('play-status');
  const topValue = document.getElementById('top-value');

  /* the 3-D scene (a WebGL context, slow to create without a GPU) waits until the page has painted once and
     the loss curve is drawn */
  const idle = window.requestIdleCallback || ((callback) => setTimeout(callback, 0));
  const painted = new Promise((resolve) => requestAnimationFrame(() => idle(resolve, {timeout: 1000})));
  const current = () => page.landscapes[state.index];
  const box = (view) => document.getElementById(`view-${view.key}`);
  const views = page.views.filter(box);  /* those that draw one of this run's landscapes */
  const applies = (view) => view.landscape_dims === current().dimensions
    && (!view.needs_errors || Object.keys(current().errors).length > 0);
  const shown = (view) => applies(view) && (state.view === 'all' ? view.in_all : state.view === view.key);

  function render() {
    const ls = current();
    document.getElementById('views').hidden = !ls.drawable;
    if (!ls.drawable) return Promise.resolve();
    const s = Topo.readSettings(form, page.defaults), r = Topo.range([ls], s);
    topValue.textContent = Topo.topText(r);
    return Promise.all(views.filter(shown).filter(drawnNow).map((view) => {
      const draw = () => Plotly.react(box(view), Topo.traces(view, ls, s, r, {play: state.play}),
                                      Topo.viewLayout(view, ls, Topo.viewHeading(view, ls, s, r), s, r), config);
      return view.dims === 3 ? painted.then(draw) : draw();
    }));
  }

  /* while Play runs, a 3-D scene (slow to paint without a GPU) is drawn at each checkpoint only, so the maps
     beside it show every frame */
  const drawnNow = (view) => view.dims !== 3 || !state.playing
    || Number.isInteger(Topo.position(current(), state.play.shown).t);

  function press(selector, chosen) {
    document.querySelectorAll(selector).forEach((b) => b.setAttribute('aria-pressed', String(b === chosen)));
  }

  /* the view buttons and boxes of the current landscape's views; 'All' where more than one is in_all */
  function showViews() {
    const own = views.filter(applies);
    if (!own.some((view) => view.key === state.view)) state.view = 'all';
    document.querySelectorAll('#view-switch button').forEach((b) => {
      const all = own.filter((view) => view.in_all).length;
      b.hidden = b.dataset.view === 'all' ? all < 2 : !own.some((view) => view.key === b.dataset.view);
      const pressed = b.dataset.view === state.view || (own.length === 1 && !b.hidden);
      b.setAttribute('aria-pressed', String(pressed));
    });
    const element = document.getElementById('views');
    element.dataset.view = state.view;
    element.dataset.dimensions = String(current().dimensions);
    for (const view of views) box(view).hidden = !shown(view);
    showSettings();
  }

  /* the controls that a view shown reads (views.View.settings): the contour lines and the 3-D opacity not beside
     a line's curve */
  function showSettings() {
    const read = new Set(views.filter(shown).flatMap((view) => view.settings));
    for (const input of form.elements) {
      const label = input.closest('label');
      if (label && input.name) label.hidden = !read.has(input.name);
    }
    topValue.hidden = !read.has('percentile');
  }

  /* the shown landscape's interval: darker on the loss curve, or its button pressed where no curve was recorded */
  function highlightInterval(name) {
    document.querySelectorAll('#no-curve button').forEach((b) => {
      b.setAttribute('aria-pressed', String(b.dataset.landscape === name));
    });
    for (const doc of (window.Bokeh ? Bokeh.documents : [])) {
      for (const ls of page.landscapes) {
        const interval = doc.get_model_by_name(`interval-${ls.name}`);
        if (interval) interval.fill_alpha = page.highlight[ls.name === name ? 'selected' : 'other'];
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
    const playable = current().tracks.length === 1 && current().drawable;
    playButton.disabled = scrubber.disabled = !playable;
    playButton.title = current().tracks.length > 1 ? 'the animation follows a single track' : '';
    scrubber.value = scrubber.max;
    status.textContent = '';
    moveCursor(null);
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

  /* the vertical line on the training-loss curve at the optimizer step of a checkpoint index t (2.5: halfway from
     the 3rd to the 4th checkpoint), or hidden */
  function moveCursor(t) {
    const steps = t === null ? [] : current().tracks[0].global_step, i = Math.floor(t);
    for (const doc of (window.Bokeh ? Bokeh.documents : [])) {
      const cursor = doc.get_model_by_name('play-cursor');
      if (!cursor) continue;
      cursor.visible = steps.length > 0;
      if (steps.length) cursor.location = steps[i] + (t - i) * (steps[Math.min(i + 1, steps.length - 1)] - steps[i]);
    }
  }

  /* draw the track up to dense point `drawn` of `total`, with the cursors on the maps, the scrubber and the curve */
  function show(drawn, total) {
    const ls = current(), at = Topo.position(ls, drawn);
    state.play = {shown: drawn, cursor: true};
    scrubber.value = String(Math.round(Number(scrubber.max) * (drawn - 1) / Math.max(total - 1, 1)));
    status.textContent = `${ls.unit} ${at.step.toFixed(1)}`;
    moveCursor(at.t);
    return render();
  }

  /* The descent: the track drawn point by point with a marker at its head, in every view shown, one second per
     checkpoint at 1x, from where the scrubber is (the start, if at its end); every point is drawn, the animation
     slower than that where drawing takes longer. */
  function play() {
    if (state.playing) {
      stop();
      return render();  /* the 3-D scene too where the track is now */
    }
    const track = current().tracks[0], run = {}, total = Topo.densify(track).x.length;
    const at = Number(scrubber.value) / Number(scrubber.max);
    const interval = 1000 * (track.x.length - 1) / Number(speed.value) / Math.max(total - 1, 1);
    let drawn = at >= 1 ? 0 : Math.round((total - 1) * at), due = performance.now();
    state.playing = run;
    playButton.textContent = '❚❚ Pause';
    const frame = (now) => {
      if (state.playing !== run) return;
      if (now < due) return requestAnimationFrame(frame);
      due += interval;
      drawn += 1;
      show(drawn, total).then(() => {
        if (drawn < total) requestAnimationFrame(frame);
        else if (state.playing === run) stop();
      });
    };
    requestAnimationFrame(frame);
  }

  function scrub() {
    stop();
    const total = Topo.densify(current().tracks[0]).x.length;
    show(1 + Math.round((total - 1) * Number(scrubber.value) / Number(scrubber.max)), total);
  }

  /* the arrow keys move the scrubber to the next or the previous checkpoint (its own step, a thousandth of the
     track, moved nothing one could see) */
  function stepScrubber(event) {
    const direction = {ArrowRight: 1, ArrowUp: 1, ArrowLeft: -1, ArrowDown: -1}[event.key];
    if (!direction) return;
    event.preventDefault();
    const last = current().tracks[0].x.length - 1, at = last * Number(scrubber.value) / Number(scrubber.max);
    const unit = last / Number(scrubber.max);  /* a checkpoint's position is rounded to the scrubber's unit */
    const next = direction > 0 ? Math.floor(at + unit) + 1 : Math.ceil(at - unit) - 1;
    scrubber.value = String(Math.round(Number(scrubber.max) * Math.min(Math.max(next, 0), last) / Math.max(last, 1)));
    scrub();
  }

  /* report.html#landscape=<name> opens that landscape */
  function fromHash() {
    const name = new URLSearchParams(window.location.hash.slice(1)).get('landscape');
    return page.landscapes.some((ls) => ls.name === name) ? name : null;
  }

  window.topographSelect = select;
  document.querySelectorAll('#landscapes button').forEach((b) => b.addEventListener('click', () =>
    select(page.landscapes[Number(b.dataset.index)].name)));
  document.querySelectorAll('#no-curve button').forEach((b) => {
    b.addEventListener('click', () => select(b.dataset.landscape));
  });
  document.querySelectorAll('#view-switch button').forEach((b) => {
    b.addEventListener('click', () => setView(b.dataset.view));
  });
  playButton.addEventListener('click', play);
  scrubber.addEventListener('input', scrub);
  scrubber.addEventListener('keydown', stepScrubber);
  views.forEach((view) => Topo.wheelScrollsPage(box(view)));
  window.addEventListener('hashchange', () => { if (fromHash()) select(fromHash()); });
  form.addEventListener('input', (event) => {
    const output = form.querySelector(`output[for="${event.target.id}"]`);
    if (output) output.value = event.target.value;
    render();
  });
  form.addEventListener('submit', (event) => event.preventDefault());
  select(fromHash() ?? (page.landscapes.length ? page.landscapes[0].name : ''));
})();
