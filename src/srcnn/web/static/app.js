// srcnn serve: the page's behaviour. No frameworks, no inline code (the CSP allows only this file).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    drop: $("drop"), file: $("file"), thumb: $("thumb"), dropIcon: $("drop-icon"),
    dropTitle: $("drop-title"), dropHint: $("drop-hint"), where: $("where"),
    model: $("model"), modelPurpose: $("model-purpose"), scale: $("scale"), selfcheck: $("selfcheck"), go: $("go"), madeFor: $("model-made-for"),
    details: $("model-details"), modelName: $("model-name"), modelState: $("model-state"),
    modelSummary: $("model-summary"), modelMetrics: $("model-metrics"), plan: $("plan"),
    status: $("status"), stop: $("stop"), progress: $("progress"), bar: $("bar"), spinner: $("spinner"), statusText: $("status-text"),
    announce: $("announce"), error: $("error"), result: $("result"), resultTitle: $("result-title"),
    info: $("result-info"), download: $("download"),
    stageWrap: $("stage-wrap"), stage: $("stage"), before: $("before"), after: $("after"), divider: $("divider"),
    beforeTag: $("before-tag"), afterTag: $("after-tag"), loupe: $("loupe"), lensBefore: $("lens-before"),
    lensAfter: $("lens-after"), lensBeforeTag: $("lens-before-tag"), lensAfterTag: $("lens-after-tag"),
    loupeOn: $("loupe-on"), zoom: $("zoom"), slider: $("slider"), sliderWrap: $("slider-wrap"),
    scBox: $("selfcheck-box"), scModelName: $("sc-model-name"), scModel: $("sc-model"), scBicubic: $("sc-bicubic"),
    scGain: $("sc-gain"), scVerdict: $("sc-verdict"), scTry: $("sc-try"), scExplain: $("sc-explain"),
    scMethod: $("sc-method"),
    folder: $("folder"), format: $("format"), quality: $("quality"), qualityField: $("quality-field"),
    qualityValue: $("quality-value"), formatNote: $("format-note"), formatWarn: $("format-warn"),
    queueCard: $("queue-card"), queueTitle: $("queue-title"), queueSummary: $("queue-summary"), zip: $("zip"),
    queue: $("queue"), resultFormat: $("result-format"),
    skipped: $("skipped"), skippedTitle: $("skipped-title"), skippedList: $("skipped-list"),
  };

  let models = [];
  let limits = null;
  let chosen = null; // the File to send
  let dims = null; // {w, h} of the chosen photo as the browser sees it (EXIF orientation applied), or null
  let thumbUrl = null; // object URL of the chosen file: the preview, and the "before" side of the comparison
  let resultUrls = [];
  let busy = false;
  let timer = null;
  let current = null; // the running job: {id, xhr, stopped}
  // The picked files, in order: one is the single-photo flow above; several are a queue, run one at a time.
  // Each: {file, dir, label, sniff: {format, alpha, bits}, state, error, res, url, filename, row, ...}.
  let items = [];
  let queueStop = false; // Stop was pressed: the running file stops, the waiting ones are not started
  const SLIDER_THUMB = 22; // px, the range thumb's width in style.css
  const SELECT_ARROW = 24; // px, about what Chromium's closed select keeps for its arrow, right of the padding

  // ---------------------------------------------------------------- helpers
  const fmtBytes = (n) => (n >= 1048576 ? `${parseFloat((n / 1048576).toFixed(1))} MB`
    : `${Math.max(1, Math.round(n / 1024))} kB`);
  const fmtSize = (text) => (text || "").replace("x", " × ");
  const fmtDb = (v) => (v === null || v === undefined ? "identical" : `${v.toFixed(2)} dB`);
  const fmtScale = (s) => `${parseFloat(Number(s).toFixed(3))}×`;
  const fmtSecs = (s) => (s < 10 ? `${s.toFixed(1)} s` : s < 120 ? `${Math.round(s)} s`
    : `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, "0")} s`);
  const outLen = (n, s) => Math.ceil(n * s - 1e-9); // as the server's resize.output_size
  // A model's name in a sentence: "with the real model", never a bare "with real".
  const byModel = (name) => (name === "bicubic" ? "plain bicubic" : `the ${name} model`);

  function announce(text) {
    // The one live region: phase changes only (uploading, enhancing, done), never a ticking clock.
    el.announce.textContent = text;
  }

  function showError(message) {
    el.error.textContent = message;
    el.error.hidden = !message;
    if (message) {
      el.error.scrollIntoView({ block: "center" });
      el.error.focus({ preventScroll: true });
    }
  }

  function setStatus(text, fraction) {
    el.status.hidden = false;
    el.statusText.textContent = text;
    if (fraction === null) {
      el.progress.classList.add("indeterminate");
      el.bar.style.width = "";
      el.spinner.hidden = false;
    } else {
      el.progress.classList.remove("indeterminate");
      el.bar.style.width = `${Math.round(fraction * 100)}%`;
      el.spinner.hidden = true;
    }
  }

  function stopStatus() {
    if (timer) clearInterval(timer);
    timer = null;
    el.status.hidden = true;
  }

  const batchMode = () => items.length > 1;
  const todo = () => items.filter((it) => it.state !== "done" && !it.refused);

  function updateGo() {
    if (batchMode()) {
      const n = todo().length;
      el.go.disabled = busy || !models.length || n === 0;
      el.go.textContent = n ? `Enhance ${n} photo${n === 1 ? "" : "s"}` : "Enhance";
    } else {
      el.go.disabled = busy || !chosen || !models.length || planProblem() !== null;
      el.go.textContent = "Enhance";
    }
    // The options of a running queue stay as they were when it started.
    for (const c of [el.model, el.format, el.quality]) c.disabled = busy;
    el.scale.disabled = busy || el.scale.options.length < 2;
    el.zip.disabled = !items.some((it) => it.state === "done");
  }

  // ---------------------------------------------------------------- models, their scales and limits
  async function loadMeta() {
    try {
      const [m, l] = await Promise.all([fetch("/api/models"), fetch("/api/limits")]);
      if (!m.ok || !l.ok) throw new Error(`HTTP ${m.ok ? l.status : m.status}`);
      models = await m.json();
      limits = await l.json();
    } catch (err) {
      showError(`Cannot reach the server (${err.message}). Is srcnn serve still running?`);
      return;
    }
    // The default first, the bicubic baseline last; each shown by what it is for.
    models.sort((a, b) => (b.default - a.default) || ((a.name === "bicubic") - (b.name === "bicubic")));
    el.model.textContent = "";
    for (const m of models) {
      const opt = document.createElement("option");
      opt.value = m.name;
      opt.textContent = purposeOf(m);
      if (m.default) opt.selected = true;
      el.model.append(opt);
    }
    el.dropHint.textContent = `or click to choose one · JPEG, PNG, WebP, TIFF… up to ${fmtBytes(limits.max_upload_bytes)}`;
    onModelChange();
  }

  function purposeOf(m) {
    const text = (m.purpose || m.summary || m.name).replace(/[.\s]+$/, "");
    return text.charAt(0).toUpperCase() + text.slice(1);
  }

  function currentModel() {
    return models.find((m) => m.name === el.model.value) || models[0];
  }

  function allows(m, s) {
    const r = m.scales;
    if (Array.isArray(r)) return r.some((v) => Math.abs(v - s) < 1e-9);
    if (r && typeof r.min === "number") return s >= r.min - 1e-9 && s <= r.max + 1e-9;
    return Math.abs(m.scale - s) < 1e-9;
  }

  function scaleChoices(m) {
    const out = (limits ? limits.scales : [m.scale]).filter((s) => allows(m, s));
    if (Array.isArray(m.scales)) for (const v of m.scales) if (!out.some((s) => Math.abs(s - v) < 1e-9)) out.push(v);
    return out.sort((a, b) => a - b);
  }

  function madeForText(m) {
    const r = m.scales;
    if (Array.isArray(r)) {
      const list = r.map(fmtScale);
      return `Made for ${list.length > 1 ? `${list.slice(0, -1).join(", ")} or ${list[list.length - 1]}` : `${list[0]} only`}.`;
    }
    return r && typeof r.min === "number" ? `Works at any scale from ${fmtScale(r.min)} to ${fmtScale(r.max)}.` : "";
  }

  function onModelChange() {
    const m = currentModel();
    if (!m) return;
    el.scale.textContent = "";
    for (const s of scaleChoices(m)) {
      const opt = document.createElement("option");
      opt.value = String(s);
      opt.textContent = fmtScale(s);
      el.scale.append(opt);
    }
    el.scale.value = String(m.scale); // the scale it was trained for
    if (!el.scale.value && el.scale.options.length) el.scale.selectedIndex = 0;
    el.scale.disabled = el.scale.options.length < 2;
    let text = madeForText(m);
    if (models.length === 1) text += " No trained model ships with this version yet, so only the baseline is offered.";
    el.madeFor.textContent = text;
    fitModelText();
    el.modelName.textContent = m.name;
    el.modelState.textContent = m.state || (m.name === "bicubic" ? "no training" : "");
    el.modelSummary.textContent = m.summary ? `${m.summary.charAt(0).toUpperCase()}${m.summary.slice(1)}.`.replace(/\.\.$/, ".") : "";
    el.modelMetrics.textContent = "";
    for (const [k, v] of Object.entries(m.metrics || {})) {
      const dt = document.createElement("dt");
      dt.textContent = k;
      const dd = document.createElement("dd");
      dd.textContent = typeof v === "string" ? v : JSON.stringify(v);
      el.modelMetrics.append(dt, dd);
    }
    updatePlan();
  }

  // A purpose too long for the closed select (a phone) is shown in full below it, not cut off.
  const measure = document.createElement("canvas").getContext("2d");
  function fitModelText() {
    const opt = el.model.selectedOptions[0];
    const s = getComputedStyle(el.model);
    measure.font = `${s.fontWeight} ${s.fontSize} ${s.fontFamily}`;
    const room = el.model.clientWidth - parseFloat(s.paddingLeft) - parseFloat(s.paddingRight) - SELECT_ARROW;
    const fits = !opt || measure.measureText(opt.textContent).width <= room;
    el.modelPurpose.textContent = fits ? "" : `${opt.textContent}.`;
    el.modelPurpose.hidden = fits;
  }
  window.addEventListener("resize", fitModelText);

  // ---------------------------------------------------------------- the plan: output size and limits, before starting
  function planProblem() {
    if (!chosen || !dims || !limits) return null;
    const s = parseFloat(el.scale.value);
    if (dims.w * dims.h > limits.max_pixels) {
      return `This photo has ${(dims.w * dims.h / 1e6).toFixed(1)} megapixels; this server takes up to ${(limits.max_pixels / 1e6).toFixed(1)}.`;
    }
    if (outLen(dims.w, s) * outLen(dims.h, s) > limits.max_output_pixels) {
      const fits = scaleChoices(currentModel()).filter((c) => outLen(dims.w, c) * outLen(dims.h, c) <= limits.max_output_pixels);
      const best = fits.length ? fits[fits.length - 1] : null;
      return `At ${fmtScale(s)} the result would have ${(outLen(dims.w, s) * outLen(dims.h, s) / 1e6).toFixed(1)} megapixels; `
        + `this server makes up to ${(limits.max_output_pixels / 1e6).toFixed(1)}.`
        + (best ? ` The largest scale that fits is ${fmtScale(best)}.` : " Choose another model or a smaller photo.");
    }
    return null;
  }

  let planSeq = 0;
  async function updatePlan() {
    updateGo();
    updateFormatNote();
    if (batchMode()) {
      const total = items.reduce((n, it) => n + it.file.size, 0);
      const m = currentModel();
      el.plan.hidden = false;
      el.plan.classList.remove("bad");
      el.plan.textContent = `${items.length} photos, ${fmtBytes(total)} in all · each ${fmtScale(el.scale.value)}`
        + (m ? ` with ${byModel(m.name)}` : "") + " · one after the other, each with its own progress below.";
      return;
    }
    if (!chosen || !dims) { el.plan.hidden = true; return; }
    const s = parseFloat(el.scale.value);
    const problem = planProblem();
    el.plan.hidden = false;
    el.plan.classList.toggle("bad", problem !== null);
    const w = outLen(dims.w, s);
    const h = outLen(dims.h, s);
    const base = `Result: ${w} × ${h} px (${(w * h / 1e6).toFixed(1)} MP)`;
    if (problem) { el.plan.textContent = `${base}. ${problem}`; return; }
    el.plan.textContent = `${base}.`;
    const seq = ++planSeq;
    try {
      const q = new URLSearchParams({ model: currentModel().name, width: dims.w, height: dims.h, scale: s });
      const r = await fetch(`/api/estimate?${q}`);
      if (!r.ok || seq !== planSeq) return;
      const est = await r.json();
      el.plan.textContent = `${base} · about ${fmtSecs(est.seconds)} on this server (${est.tiles} tile${est.tiles === 1 ? "" : "s"}; measured ${est.measured_on}).`;
    } catch (_) { /* no estimate: the size alone */ }
  }

  // ---------------------------------------------------------------- picking a photo
  function clearResult() {
    // Nothing old may stay on screen or behind the Download button.
    el.result.hidden = true;
    el.download.removeAttribute("href");
    el.before.removeAttribute("src");
    el.after.removeAttribute("src");
    el.scBox.hidden = true;
    hideLoupe();
    for (const u of resultUrls) URL.revokeObjectURL(u);
    resultUrls = [];
  }

  function resetPick() {
    chosen = null;
    dims = null;
    el.file.value = "";
    if (thumbUrl) URL.revokeObjectURL(thumbUrl);
    thumbUrl = null;
    el.thumb.hidden = true;
    el.thumb.removeAttribute("src");
    el.dropIcon.hidden = false;
    el.dropTitle.textContent = "Drop photos or a folder here";
    el.dropHint.textContent = dropHint();
    el.plan.hidden = true;
  }

  function dropHint() {
    return limits ? `or click to choose · JPEG, PNG, WebP, TIFF… up to ${fmtBytes(limits.max_upload_bytes)} each`
      : "or click to choose · JPEG, PNG, WebP, TIFF…";
  }

  function pick(file) {
    if (!file || busy) return;
    clearResult();
    showError("");
    showSkipped([]);
    resetItems();
    if (limits && file.size > limits.max_upload_bytes) {
      resetPick();
      updateGo();
      showError(`${file.name} is ${fmtBytes(file.size)}; this server accepts up to ${fmtBytes(limits.max_upload_bytes)}. Choose a smaller file.`);
      return;
    }
    if (thumbUrl) URL.revokeObjectURL(thumbUrl);
    chosen = file;
    dims = null;
    items = [newItem(file, "")];
    sniffAll();
    el.dropTitle.textContent = file.name;
    el.dropHint.textContent = `${fmtBytes(file.size)} · click or drop to choose another`;
    thumbUrl = URL.createObjectURL(file);
    el.thumb.onload = () => {
      if (chosen !== file) return;
      dims = { w: el.thumb.naturalWidth, h: el.thumb.naturalHeight };
      el.dropHint.textContent = `${dims.w} × ${dims.h} px · ${fmtBytes(file.size)} · click or drop to choose another`;
      updatePlan();
    };
    el.thumb.onerror = () => { el.thumb.hidden = true; el.dropIcon.hidden = false; }; // e.g. TIFF: no preview
    el.thumb.src = thumbUrl;
    el.thumb.hidden = false;
    el.dropIcon.hidden = true;
    updatePlan();
  }

  // ---------------------------------------------------------------- several photos or a folder: the queue
  const PICTURE_NAME = /\.(jpe?g|jpe|jfif|png|webp|tiff?|bmp|gif|tga|ppm|pgm|pbm|pnm|ico|psd|jp2|j2k|jpx|avif|heic)$/i;
  const isPicture = (f) => !f.name.startsWith(".") && ((f.type || "").startsWith("image/") || PICTURE_NAME.test(f.name));
  function skipReason(f) {
    if (f.name.startsWith(".")) return "a hidden file";
    const ext = /\.([^./]{1,12})$/.exec(f.name);
    return `not a picture (${ext ? `.${ext[1].toLowerCase()}` : "no file type"})`;
  }

  // The files a folder or a drop brought that are not pictures: listed by name with why, never dropped silently.
  const SKIPPED_SHOWN = 500;
  function showSkipped(list) {
    el.skippedList.textContent = "";
    el.skipped.hidden = !list.length;
    if (!list.length) return;
    el.skippedTitle.textContent = `${list.length} file${list.length === 1 ? "" : "s"} left out (not pictures)`;
    for (const s of list.slice(0, SKIPPED_SHOWN)) {
      const li = document.createElement("li");
      const name = document.createElement("span");
      name.className = "s-name";
      name.textContent = s.label;
      const why = document.createElement("span");
      why.className = "s-why";
      why.textContent = ` · skipped: ${s.reason}`;
      li.append(name, why);
      el.skippedList.append(li);
    }
    if (list.length > SKIPPED_SHOWN) {
      const li = document.createElement("li");
      li.textContent = `… and ${list.length - SKIPPED_SHOWN} more`;
      el.skippedList.append(li);
    }
    el.skipped.open = list.length <= 12; // a few: shown at once; many: one click away
  }

  function newItem(file, dir) {
    return { file, dir, label: dir + file.name, sniff: null, state: "waiting", error: "", res: null, url: null,
      filename: "", srcUrl: null, refused: false, row: null };
  }

  function resetItems() {
    for (const it of items) {
      if (it.url) URL.revokeObjectURL(it.url);
      if (it.srcUrl) URL.revokeObjectURL(it.srcUrl);
    }
    items = [];
    el.queue.textContent = "";
    el.queueCard.hidden = true;
  }

  // picked: [{file, dir}] from the file input, the folder input or a drop.
  function pickMany(picked) {
    if (busy) return;
    const pictures = picked.length === 1 ? picked : picked.filter((p) => isPicture(p.file)); // one: as chosen
    const others = picked.length - pictures.length;
    const skipped = picked.filter((p) => !pictures.includes(p))
      .map((p) => ({ label: p.dir + p.file.name, reason: skipReason(p.file) }))
      .sort((a, b) => a.label.localeCompare(b.label, undefined, { numeric: true }));
    if (pictures.length <= 1) {
      if (pictures.length) { pick(pictures[0].file); showSkipped(skipped); return; }
      if (picked.length) {
        clearResult();
        resetItems();
        resetPick();
        updatePlan();
        showError(`No pictures found there (${others} other file${others === 1 ? "" : "s"}, listed above). Choose JPEG, PNG, WebP, TIFF… files.`);
        showSkipped(skipped);
      }
      return;
    }
    clearResult();
    showError("");
    resetItems();
    resetPick();
    pictures.sort((a, b) => (a.dir + a.file.name).localeCompare(b.dir + b.file.name, undefined, { numeric: true }));
    items = pictures.map((p) => newItem(p.file, p.dir));
    for (const it of items) {
      if (limits && it.file.size > limits.max_upload_bytes) {
        it.refused = true;
        it.state = "failed";
        it.error = `${fmtBytes(it.file.size)}: this server accepts up to ${fmtBytes(limits.max_upload_bytes)}`;
      }
    }
    const total = items.reduce((n, it) => n + it.file.size, 0);
    el.dropTitle.textContent = `${items.length} photos`;
    el.dropHint.textContent = `${fmtBytes(total)} in all${others ? ` · ${others} other file${others === 1 ? "" : "s"} left out (listed below)` : ""}`
      + " · click or drop to choose others";
    el.queue.textContent = "";
    for (const it of items) el.queue.append(makeRow(it));
    el.queueCard.hidden = false;
    showSkipped(skipped);
    updateQueueSummary();
    updatePlan();
    sniffAll();
  }

  function node(tag, className, text) {
    const made = document.createElement(tag);
    made.className = className;
    if (text !== undefined) made.textContent = text;
    return made;
  }

  function makeRow(it) {
    const li = node("li", "q-item");
    const head = node("div", "q-head");
    const name = node("span", "q-name", it.label);
    const state = node("span", "q-state");
    head.append(name, state);
    const bar = node("progress", "q-bar");
    bar.max = 1;
    bar.value = 0;
    bar.setAttribute("aria-label", `${it.label}: progress`);
    const info = node("p", "q-info muted small");
    const error = node("p", "q-error small");
    const actions = node("div", "q-actions");
    const download = node("a", "button small-button", "Download");
    const compareButton = node("button", "button small-button", "Compare");
    compareButton.type = "button";
    compareButton.addEventListener("click", () => compare(it));
    actions.append(download, compareButton);
    li.append(head, bar, info, error, actions);
    it.row = { li, state, bar, info, error, download, compare: compareButton };
    renderItem(it);
    return li;
  }

  const STATE_WORDS = { waiting: "Waiting", running: "Running", done: "Done", failed: "Failed", stopped: "Stopped" };

  function renderItem(it, detail) {
    const r = it.row;
    if (!r) return;
    r.li.dataset.state = it.state;
    r.state.textContent = STATE_WORDS[it.state] + (it.state === "running" && detail ? ` · ${detail}` : "");
    r.bar.hidden = it.state !== "running";
    if (it.state !== "running") r.bar.value = it.state === "done" ? 1 : 0;
    r.error.hidden = !it.error;
    r.error.textContent = it.error;
    const s = it.sniff;
    const what = s && s.format ? ` · ${FORMAT_WORDS[s.format] || s.format}${s.bits === 16 ? ", 16-bit" : ""}${s.alpha ? ", transparent" : ""}` : "";
    if (it.res) {
      const fmt = it.res.header("X-Srcnn-Format") || "";
      const q = it.res.header("X-Srcnn-Quality");
      const note = it.res.header("X-Srcnn-Format-Note");
      r.info.textContent = `${fmtBytes(it.file.size)}${what} → ${FORMAT_WORDS[fmt] || fmt}${q ? ` q${q}` : ""}, `
        + `${fmtBytes(it.res.blob.size)} · ${fmtSize(it.res.header("X-Srcnn-Output-Size"))} px${note ? ` · ${note}` : ""}`;
      r.download.href = it.url;
      r.download.download = it.filename;
      r.download.setAttribute("aria-label", `Download ${it.filename}`);
      r.compare.setAttribute("aria-label", `Compare ${it.label} before and after`);
    } else {
      r.info.textContent = `${fmtBytes(it.file.size)}${what}`;
      r.download.removeAttribute("href");
    }
    r.download.hidden = r.compare.hidden = !it.res;
  }

  function updateQueueSummary() {
    const count = (st) => items.filter((it) => it.state === st).length;
    const parts = ["done", "running", "waiting", "failed", "stopped"].filter(count).map((st) => `${count(st)} ${st}`);
    el.queueSummary.textContent = `${items.length} photos · ${parts.join(" · ")}`;
    updateGo();
  }

  function setItemState(it, state, error) {
    it.state = state;
    it.error = error || "";
    renderItem(it);
    updateQueueSummary();
  }

  // A new model, scale or format makes the finished files stale: they go back to waiting.
  function optionsChanged() {
    clearResult();
    for (const it of items) {
      if (it.state === "done" || it.state === "stopped" || (it.state === "failed" && !it.refused)) {
        if (it.url) URL.revokeObjectURL(it.url);
        it.url = null;
        it.res = null;
        it.state = "waiting";
        it.error = "";
        renderItem(it);
      }
    }
    if (batchMode()) updateQueueSummary();
  }

  async function filesFromDrop(dt) {
    // Entries must be taken during the drop event itself; a folder is walked afterwards.
    const flat = Array.from(dt.files || []).map((file) => ({ file, dir: "" }));
    const entries = [];
    for (const item of Array.from(dt.items || [])) {
      const entry = item.kind === "file" && item.webkitGetAsEntry ? item.webkitGetAsEntry() : null;
      if (entry) entries.push(entry);
    }
    if (!entries.some((e) => e.isDirectory)) return flat;
    const out = [];
    const walk = async (entry, dir) => {
      if (entry.isFile) {
        out.push({ file: await new Promise((resolve, reject) => entry.file(resolve, reject)), dir });
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        for (;;) { // readEntries answers in batches until an empty one
          const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
          if (!batch.length) break;
          for (const e of batch) await walk(e, `${dir}${entry.name}/`);
        }
      }
    };
    for (const e of entries) await walk(e, "");
    return out;
  }

  el.file.addEventListener("change", () => pickMany(Array.from(el.file.files, (file) => ({ file, dir: "" }))));
  el.folder.addEventListener("change", () => {
    pickMany(Array.from(el.folder.files, (file) => {
      const path = file.webkitRelativePath || file.name;
      return { file, dir: path.slice(0, path.length - file.name.length) };
    }));
    el.folder.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    el.drop.addEventListener(type, (e) => { e.preventDefault(); el.drop.classList.add("dragging"); });
  }
  for (const type of ["dragleave", "drop"]) {
    el.drop.addEventListener(type, () => el.drop.classList.remove("dragging"));
  }
  el.drop.addEventListener("drop", async (e) => {
    e.preventDefault();
    if (!e.dataTransfer || busy) return;
    try {
      pickMany(await filesFromDrop(e.dataTransfer));
    } catch (err) {
      showError(`Could not read what was dropped (${err.message}).`);
    }
  });
  // A photo dropped anywhere else on the page should not navigate away from it.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  el.model.addEventListener("change", () => { optionsChanged(); onModelChange(); });
  el.scale.addEventListener("change", () => { optionsChanged(); updatePlan(); });
  el.format.addEventListener("change", () => { optionsChanged(); updatePlan(); });
  el.quality.addEventListener("input", () => { el.qualityValue.textContent = el.quality.value; updateFormatNote(); });
  el.quality.addEventListener("change", () => { optionsChanged(); updatePlan(); });

  // ---------------------------------------------------------------- what comes back: format, transparency, depth
  const FORMAT_WORDS = { JPEG: "JPEG", PNG: "PNG", WEBP: "WebP", TIFF: "TIFF", BMP: "BMP", GIF: "GIF" };
  const MAX_SIDE = { JPEG: 65500, WEBP: 16383 };

  // The photo's format (from its first bytes, as the server decides: never the name), transparency and depth
  // where the header says so; null where it cannot be told from the header.
  async function sniff(file) {
    let b;
    try { b = new Uint8Array(await file.slice(0, 65536).arrayBuffer()); } catch (_) { return { format: "", alpha: null, bits: null }; }
    const text = (i, n) => String.fromCharCode(...b.subarray(i, i + n));
    const u16 = (i, le) => (le ? b[i] | (b[i + 1] << 8) : (b[i] << 8) | b[i + 1]);
    const u32 = (i, le) => (le ? u16(i, true) + u16(i + 2, true) * 65536 : u16(i) * 65536 + u16(i + 2));
    if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return { format: "JPEG", alpha: false, bits: 8 };
    if (b.length >= 26 && text(1, 3) === "PNG") {
      let alpha = b[25] === 4 || b[25] === 6; // gray + alpha, RGBA
      for (let i = 8; i + 8 <= b.length; i += 12 + u32(i)) { // a tRNS chunk before the image data: transparency
        const type = text(i + 4, 4);
        if (type === "tRNS") alpha = true;
        if (type === "IDAT" || type === "IEND") break;
      }
      return { format: "PNG", alpha, bits: b[24] === 16 ? 16 : 8 };
    }
    if (b.length >= 30 && text(0, 4) === "RIFF" && text(8, 4) === "WEBP") {
      const kind = text(12, 4);
      return { format: "WEBP", alpha: kind === "VP8X" ? (b[20] & 0x10) !== 0 : kind === "VP8L" && (b[24] & 0x10) !== 0, bits: 8 };
    }
    if (b.length >= 8 && (text(0, 4) === "II*\0" || text(0, 4) === "MM\0*")) {
      const le = b[0] === 0x49;
      const ifd = u32(4, le);
      let alpha = null;
      let bits = null;
      if (ifd + 2 <= b.length) {
        alpha = false;
        for (let k = 0, n = u16(ifd, le); k < n && ifd + 14 + 12 * k <= b.length; k++) {
          const e = ifd + 2 + 12 * k;
          const tag = u16(e, le);
          if (tag === 258) { // BitsPerSample: inline when it fits in 4 bytes
            const at = u32(e + 4, le) <= 2 ? e + 8 : u32(e + 8, le);
            if (at + 2 <= b.length) bits = u16(at, le) > 8 ? 16 : 8;
          } else if (tag === 338) alpha = true; // ExtraSamples
        }
      }
      return { format: "TIFF", alpha, bits };
    }
    if (text(0, 2) === "BM") return { format: "BMP", alpha: null, bits: 8 };
    if (text(0, 4) === "GIF8") return { format: "GIF", alpha: null, bits: 8 };
    return { format: "", alpha: null, bits: null };
  }

  async function sniffAll() {
    const mine = items;
    for (const it of mine) {
      it.sniff = await sniff(it.file);
      if (items !== mine) return; // another pick meanwhile
      renderItem(it);
    }
    updateFormatNote();
  }

  const outFormat = (choice, inFormat) => (choice === "keep" ? (inFormat === "JPEG" ? "JPEG" : "PNG")
    : { png: "PNG", jpeg: "JPEG", webp: "WEBP" }[choice]);
  const have = (n) => (items.length === 1 ? "This photo has" : `${n} of the photos ${n === 1 ? "has" : "have"}`);

  function updateFormatNote() {
    const choice = el.format.value;
    const q = el.quality.value;
    el.qualityField.hidden = choice !== "jpeg" && choice !== "webp";
    el.qualityValue.textContent = q;
    const lossy = choice === "webp" && q === "100" ? "lossless" : `quality ${q}`;
    const keeps = {
      keep: "JPEG stays JPEG (quality 95), PNG stays PNG; WebP, TIFF, BMP and other formats come back as PNG.",
      png: "Lossless; keeps transparency and 16-bit depth.",
      jpeg: "Smaller files, but no transparency (it becomes white) and 8 bits per channel.",
      webp: `Keeps transparency; 8 bits per channel; at most 16,383 px a side${q === "100" ? "" : "; quality 100 is lossless"}.`,
    }[choice];
    const general = {
      keep: `Same as the photo: ${keeps}`, png: `PNG: ${keeps}`, jpeg: `JPEG at ${lossy}: ${keeps}`, webp: `WebP at ${lossy}: ${keeps}`,
    }[choice];
    const known = items.filter((it) => it.sniff && it.sniff.format);
    const warn = [];
    let note = general;
    if (known.length) {
      const outs = {};
      for (const it of known) { const f = outFormat(choice, it.sniff.format); outs[f] = (outs[f] || 0) + 1; }
      const list = Object.entries(outs).map(([f, n]) => (items.length > 1 ? `${n} ${FORMAT_WORDS[f]}` : FORMAT_WORDS[f]));
      note = `Comes back as ${list.join(" and ")}${choice === "jpeg" || choice === "webp" ? ` (${lossy})` : ""}. ${keeps}`;
      if (choice === "keep") {
        const changed = known.filter((it) => !["JPEG", "PNG"].includes(it.sniff.format));
        if (changed.length) {
          const kinds = [...new Set(changed.map((it) => FORMAT_WORDS[it.sniff.format] || it.sniff.format))].join("/");
          note = `Comes back as ${list.join(" and ")}: ${items.length === 1 ? `your ${kinds} photo becomes PNG`
            : `the ${changed.length} ${kinds} photo${changed.length === 1 ? "" : "s"} become${changed.length === 1 ? "s" : ""} PNG`}`
            + " (lossless). Choose WebP or JPEG under “Save as” to get those instead.";
        }
      }
      const out = (it) => outFormat(choice, it.sniff.format);
      const clear = known.filter((it) => it.sniff.alpha && out(it) === "JPEG");
      if (clear.length) warn.push(`${have(clear.length)} transparency; JPEG has none, so it becomes white. Choose PNG or WebP to keep it.`);
      const deep = known.filter((it) => it.sniff.bits === 16 && (out(it) === "JPEG" || out(it) === "WEBP"));
      if (deep.length) warn.push(`${have(deep.length)} 16 bits per channel; ${FORMAT_WORDS[out(deep[0])]} stores 8, so depth is lost. Choose PNG to keep it.`);
      const s = parseFloat(el.scale.value);
      const f = items.length === 1 && items[0].sniff ? out(items[0]) : "";
      if (dims && MAX_SIDE[f] && Math.max(outLen(dims.w, s), outLen(dims.h, s)) > MAX_SIDE[f]) {
        warn.push(`At this scale the result is larger than ${FORMAT_WORDS[f]} allows (${MAX_SIDE[f].toLocaleString("en")} px a side): it will come back as PNG.`);
      }
    }
    el.formatNote.textContent = note;
    el.formatWarn.textContent = warn.join(" ");
    el.formatWarn.hidden = !warn.length;
  }

  const output = () => ({ format: el.format.value, quality: el.format.value === "jpeg" || el.format.value === "webp" ? el.quality.value : "" });

  // ---------------------------------------------------------------- talking to the API
  // POST the photo; resolves {ok, status, blob, header(name)}. onUpload(fraction) reports upload progress.
  function newJobId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes); // works on plain http too (randomUUID needs a secure context)
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function send(file, model, scale, selfcheck, onUpload, onProcessing, job, out) {
    return new Promise((resolve, reject) => {
      const form = new FormData();
      form.append("file", file, file.name);
      form.append("model", model);
      form.append("scale", scale);
      form.append("selfcheck", selfcheck ? "true" : "false");
      if (job) form.append("job", job.id);
      if (out && out.format) form.append("format", out.format);
      if (out && out.quality) form.append("quality", out.quality);
      const xhr = new XMLHttpRequest();
      if (job) job.xhr = xhr;
      xhr.open("POST", "/api/enhance");
      xhr.responseType = "blob";
      xhr.upload.onprogress = (e) => { if (e.lengthComputable && onUpload) onUpload(e.loaded / e.total); };
      xhr.upload.onload = () => { if (onProcessing) onProcessing(); };
      xhr.onload = () => resolve({
        ok: xhr.status >= 200 && xhr.status < 300,
        status: xhr.status,
        blob: xhr.response,
        header: (name) => xhr.getResponseHeader(name),
      });
      xhr.onerror = () => reject(new Error("the connection failed (is the photo too large, or the server stopped?)"));
      xhr.onabort = () => reject(new Error("stopped"));
      xhr.ontimeout = () => reject(new Error("the server took too long"));
      xhr.send(form);
    });
  }

  async function errorText(res) {
    let msg = `HTTP ${res.status}`;
    try {
      const body = JSON.parse(await res.blob.text());
      if (body && body.error) msg = body.error;
    } catch (_) { /* not JSON */ }
    if (res.status === 503) {
      const wait = res.header("Retry-After");
      msg += wait ? ` (try again in about ${wait} s)` : "";
    }
    return msg;
  }

  function processing(label, job, onTick) {
    const t0 = performance.now();
    setStatus(`${label}…`, null);
    if (timer) clearInterval(timer);
    let asking = false;
    timer = setInterval(async () => {
      const spent = (performance.now() - t0) / 1000;
      if (!job) { el.statusText.textContent = `${label}… ${fmtSecs(spent)}`; return; }
      if (asking) return;
      asking = true;
      try { // the server's own count of finished tiles
        const r = await fetch(`/api/jobs/${job.id}`, { cache: "no-store" });
        if (!r.ok || job.stopped || current !== job) return;
        const p = await r.json();
        if (onTick) onTick(p);
        if (p.state === "queued") {
          setStatus(`${label}: waiting for a free worker… ${fmtSecs(spent)}`, null);
        } else if (p.total) {
          const left = p.remaining === null ? "" : ` · about ${fmtSecs(p.remaining)} left`;
          setStatus(`${label}: ${p.done} of ${p.total} tiles · ${fmtSecs(p.elapsed)} elapsed${left}`, p.done / p.total);
        }
      } catch (_) { /* keep the last status */ } finally { asking = false; }
    }, 400);
  }

  function stopJob(job, viaBeacon) {
    if (!job || job.stopped) return;
    job.stopped = true;
    const url = `/api/jobs/${job.id}`;
    if (viaBeacon && navigator.sendBeacon) navigator.sendBeacon(`${url}/cancel`);
    else fetch(url, { method: "DELETE" }).catch(() => {});
    if (job.xhr) job.xhr.abort();
  }
  el.stop.addEventListener("click", () => { queueStop = true; stopJob(current, false); });
  // Closing or leaving the page stops the work on the server too (the dropped connection alone would, later).
  window.addEventListener("pagehide", () => stopJob(current, true));

  async function run() {
    if (!chosen || busy || planProblem() !== null) return;
    busy = true;
    updateGo();
    clearResult();
    showError("");
    const model = el.model.value;
    const scale = el.scale.value;
    const wantCheck = el.selfcheck.checked;
    const file = chosen;
    const canShowOriginal = dims !== null; // the browser decodes it: the "before" side needs no second request
    const t0 = performance.now();
    const job = { id: newJobId(), xhr: null, stopped: false };
    current = job;
    try {
      announce("Uploading your photo.");
      setStatus("Uploading… 0%", 0);
      const main = await send(file, model, scale, wantCheck,
        (f) => setStatus(`Uploading… ${Math.round(f * 100)}%`, f),
        () => { announce(`Uploaded. Enhancing with ${byModel(model)}.`); processing(`Enhancing with ${byModel(model)}`, job); }, job,
        output());
      if (!main.ok) {
        const refused = new Error(await errorText(main));
        if (main.status === 415) refused.hint = `${file.name} is no picture this server can read. Choose a photo: JPEG, PNG, WebP, TIFF…`;
        throw refused;
      }
      let before = null;
      if (!canShowOriginal && model !== "bicubic") {
        processing("Making the bicubic comparison (your browser cannot show this file type)");
        before = await send(file, "bicubic", scale, false, null, null);
        if (!before.ok) throw new Error(await errorText(before));
      }
      if (chosen !== file) return; // a new photo was picked meanwhile: this result is stale
      stopStatus();
      await show(main, before, model, (performance.now() - t0) / 1000, thumbUrl);
      announce(`Done. The result is shown below, as ${FORMAT_WORDS[main.header("X-Srcnn-Format")] || "an image"}.`);
    } catch (err) {
      clearResult();
      stopStatus();
      if (job.stopped) {
        announce("Stopped. Nothing was made.");
        showError("Stopped: the server has stopped working on this photo. Press Enhance to start again.");
      } else {
        announce("");
        showError(`Could not enhance the photo: ${String(err.message).replace(/\.$/, "")}.${err.hint ? ` ${err.hint}` : ""}`);
      }
    } finally {
      if (current === job) current = null;
      stopStatus();
      busy = false;
      updateGo();
    }
  }
  el.go.addEventListener("click", () => (batchMode() ? runQueue() : run()));

  // The queue: one file at a time, each announced once per state change (running, done, failed, stopped).
  async function runQueue() {
    if (busy || !batchMode()) return;
    const list = todo();
    if (!list.length) return;
    busy = true;
    queueStop = false;
    clearResult();
    showError("");
    for (const it of list) { it.error = ""; it.state = "waiting"; renderItem(it); }
    updateQueueSummary();
    const opts = { model: el.model.value, scale: el.scale.value, selfcheck: el.selfcheck.checked, out: output() };
    let n = 0;
    let said = null; // how the last file ended, said together with the next file's start (one live update)
    try {
      for (const it of list) {
        if (queueStop) break;
        n += 1;
        said = await runItem(it, opts, n, list.length, said);
      }
      if (said) announce(`${said} ${finishedText()}`);
      const notRun = list.filter((it) => it.state === "waiting" || it.state === "stopped");
      if (queueStop) {
        for (const it of notRun) if (it.state === "waiting") setItemState(it, "stopped");
        announce(`Stopped: ${notRun.map((it) => it.label).join(", ")} not made. ${finishedText()}`);
      }
    } finally {
      busy = false;
      current = null;
      stopStatus();
      updateQueueSummary();
    }
    el.queueCard.scrollIntoView({ block: "start" });
    el.queueTitle.focus({ preventScroll: true });
  }

  function finishedText() {
    const done = items.filter((it) => it.state === "done").length;
    const failed = items.filter((it) => it.state === "failed").length;
    return `${done} of ${items.length} done${failed ? `, ${failed} failed` : ""}.`
      + (done ? " Download each below, or all as one zip." : "");
  }

  // Runs one file; returns how it ended, to be announced (null when it was stopped: the queue says that once).
  async function runItem(it, opts, n, total, previous) {
    const job = { id: newJobId(), xhr: null, stopped: false };
    current = job;
    const label = `Photo ${n} of ${total} (${it.label})`;
    setItemState(it, "running");
    announce(`${previous ? `${previous} ` : ""}${it.label}: running, ${n} of ${total}.`);
    const row = (fraction, text) => { if (it.row) { it.row.bar.value = fraction; renderItem(it, text); } };
    setStatus(`${label}: uploading… 0%`, 0);
    try {
      const res = await send(it.file, opts.model, opts.scale, opts.selfcheck,
        (f) => { setStatus(`${label}: uploading… ${Math.round(f * 100)}%`, f); row(0.1 * f, `uploading ${Math.round(f * 100)}%`); },
        () => {
          row(0.1, "enhancing");
          processing(label, job, (p) => {
            if (p.state === "queued") row(0.1, "waiting for a free worker");
            else if (p.total) row(0.1 + 0.9 * (p.done / p.total), `${p.done} of ${p.total} tiles`);
          });
        }, job, opts.out);
      if (!res.ok) throw new Error(await errorText(res));
      it.res = res;
      it.url = URL.createObjectURL(res.blob);
      it.filename = filenameOf(res, `${it.file.name}.png`);
      setItemState(it, "done");
      const fmt = FORMAT_WORDS[res.header("X-Srcnn-Format")] || "an image";
      return `${it.label}: done, ${n} of ${total}, as ${fmt}.`;
    } catch (err) {
      if (job.stopped) { setItemState(it, "stopped"); return null; }
      const message = String(err.message || err).split("\n")[0];
      setItemState(it, "failed", message);
      return `${it.label}: failed: ${message}`;
    } finally {
      if (timer) clearInterval(timer);
      timer = null;
      if (current === job) current = null;
    }
  }

  // Compare one finished file of the queue (its original, when the browser can show it; else a bicubic enlargement).
  async function compare(it) {
    if (!it.res) return;
    showError("");
    if (!it.srcUrl) it.srcUrl = URL.createObjectURL(it.file);
    const viewable = await new Promise((resolve) => {
      const probe = new Image();
      probe.onload = () => resolve(true);
      probe.onerror = () => resolve(false);
      probe.src = it.srcUrl;
    });
    let before = null;
    const model = it.res.header("X-Srcnn-Model") || el.model.value;
    if (!viewable && model !== "bicubic") {
      if (busy) { showError(`Your browser cannot show ${it.label} itself; compare it when the queue has finished.`); return; }
      busy = true;
      updateGo();
      try {
        processing("Making the bicubic comparison (your browser cannot show this file type)");
        before = await send(it.file, "bicubic", it.res.header("X-Srcnn-Scale") || el.scale.value, false, null, null);
        if (!before.ok) throw new Error(await errorText(before));
      } catch (err) {
        showError(`Could not make the comparison: ${err.message}`);
        return;
      } finally {
        stopStatus();
        busy = false;
        updateGo();
      }
    }
    await show(it.res, before, model, null, it.srcUrl, it.label);
  }

  // ---------------------------------------------------------------- "Download all": one zip, built here
  // A stored (uncompressed) zip: the results are PNG/JPEG/WebP, compressed already, so deflate would gain little.
  // Built in the browser because the results are here already and the server keeps nothing.
  const CRC_TABLE = (() => {
    const t = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      t[n] = c >>> 0;
    }
    return t;
  })();

  function crc32(bytes) {
    let c = 0xffffffff;
    for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
    return (c ^ 0xffffffff) >>> 0;
  }

  async function makeZip(entries) { // [{name, blob}] -> Blob (application/zip)
    const utf8 = new TextEncoder();
    const now = new Date();
    const time = (now.getHours() << 11) | (now.getMinutes() << 5) | (now.getSeconds() >> 1);
    const date = (Math.max(0, now.getFullYear() - 1980) << 9) | ((now.getMonth() + 1) << 5) | now.getDate();
    const parts = [];
    const central = [];
    let offset = 0;
    if (entries.length > 0xffff) throw new Error("a zip holds at most 65,535 files");
    for (const e of entries) {
      const name = utf8.encode(e.name);
      const size = e.blob.size;
      const crc = crc32(new Uint8Array(await e.blob.arrayBuffer()));
      if (offset + 30 + name.length + size > 0xffffffff) throw new Error("the files add up to more than 4 GB, too much for one zip");
      const local = new DataView(new ArrayBuffer(30));
      const head = new DataView(new ArrayBuffer(46));
      local.setUint32(0, 0x04034b50, true); // local file header
      head.setUint32(0, 0x02014b50, true); // central directory header
      head.setUint16(4, 20, true); // made by: version 2.0
      for (const [view, at] of [[local, 4], [head, 6]]) {
        view.setUint16(at, 20, true); // version needed: 2.0
        view.setUint16(at + 2, 0x0800, true); // flags: UTF-8 names
        view.setUint16(at + 4, 0, true); // method: stored
        view.setUint16(at + 6, time, true);
        view.setUint16(at + 8, date, true);
        view.setUint32(at + 10, crc, true);
        view.setUint32(at + 14, size, true); // compressed size
        view.setUint32(at + 18, size, true); // size
        view.setUint16(at + 22, name.length, true);
      }
      head.setUint32(42, offset, true); // where its local header is
      parts.push(local.buffer, name, e.blob);
      central.push(head.buffer, name);
      offset += 30 + name.length + size;
    }
    const dirSize = central.reduce((n, part) => n + part.byteLength, 0);
    const end = new DataView(new ArrayBuffer(22));
    end.setUint32(0, 0x06054b50, true); // end of central directory
    end.setUint16(8, entries.length, true);
    end.setUint16(10, entries.length, true);
    end.setUint32(12, dirSize, true);
    end.setUint32(16, offset, true);
    return new Blob([...parts, ...central, end.buffer], { type: "application/zip" });
  }

  function zipName(name, taken) { // "a/b.png", then "a/b-2.png", ...
    let out = name;
    for (let k = 2; taken.has(out.toLowerCase()); k++) out = name.replace(/(\.[^./]*)?$/, `-${k}$1`);
    taken.add(out.toLowerCase());
    return out;
  }

  el.zip.addEventListener("click", async () => {
    const done = items.filter((it) => it.state === "done" && it.res);
    if (!done.length) return;
    el.zip.disabled = true;
    try {
      const taken = new Set();
      const blob = await makeZip(done.map((it) => ({ name: zipName(it.dir + it.filename, taken), blob: it.res.blob })));
      const url = URL.createObjectURL(blob);
      const a = document.createElement("a");
      a.href = url;
      a.download = `srcnn-${done.length}-photos.zip`;
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 60000);
      announce(`The zip of ${done.length} photos (${fmtBytes(blob.size)}) is downloading.`);
    } catch (err) {
      showError(`Could not make the zip: ${err.message}. Download the files one by one instead.`);
    } finally {
      updateGo();
    }
  });

  // ---------------------------------------------------------------- showing the result
  function filenameOf(res, fallback) {
    const cd = res.header("Content-Disposition") || "";
    const m = /filename="([^"]+)"/.exec(cd);
    return m ? m[1] : fallback;
  }

  function loaded(img) {
    return img.complete && img.naturalWidth ? Promise.resolve() : new Promise((resolve, reject) => {
      img.onload = () => resolve();
      img.onerror = () => reject(new Error("the browser cannot display the result"));
    });
  }

  async function show(main, before, model, totalSecs, original, name) {
    clearResult();
    const afterUrl = URL.createObjectURL(main.blob);
    resultUrls = [afterUrl];
    let beforeUrl = original;
    const scale = parseFloat(main.header("X-Srcnn-Scale") || "1");
    let beforeLabel = scale === 1 ? "Original" : "Original, resized";
    el.before.alt = scale === 1 ? "Before: your photo as it is" : "Before: your photo, resized by the browser to the same size";
    if (before) {
      beforeUrl = URL.createObjectURL(before.blob);
      resultUrls.push(beforeUrl);
      beforeLabel = "Bicubic";
      el.before.alt = "Before: the photo enlarged with plain bicubic";
    }
    el.stage.classList.toggle("smooth-before", scale !== 1 && !before);
    el.before.src = beforeUrl;
    el.after.src = afterUrl;
    el.beforeTag.textContent = el.lensBeforeTag.textContent = beforeLabel;
    el.afterTag.textContent = el.lensAfterTag.textContent = model === "bicubic" ? "Bicubic" : "Enhanced";
    el.download.href = afterUrl;
    el.download.download = filenameOf(main, "enhanced.png");
    const kind = (main.blob.type || "").replace("image/", "").toUpperCase() || "image";
    const secs = parseFloat(main.header("X-Srcnn-Seconds") || "0");
    el.info.textContent = `${name ? `${name} · ` : ""}${fmtSize(main.header("X-Srcnn-Input-Size"))} → ${fmtSize(main.header("X-Srcnn-Output-Size"))}`
      + ` px · ${fmtScale(scale)} with ${byModel(model)} · ${kind}, ${fmtBytes(main.blob.size)}`
      + ` · ${fmtSecs(secs)} on the server${totalSecs === null ? "" : `, ${fmtSecs(totalSecs)} in all`}`;
    const fmt = main.header("X-Srcnn-Format") || "";
    const inFmt = main.header("X-Srcnn-Input-Format") || "";
    const q = main.header("X-Srcnn-Quality");
    const note = main.header("X-Srcnn-Format-Note");
    el.resultFormat.textContent = `Saved as ${FORMAT_WORDS[fmt] || fmt || kind}${q ? ` (quality ${q})` : ""}`
      + `${inFmt && inFmt !== "unknown" ? ` from ${FORMAT_WORDS[inFmt] || inFmt}` : ""}${note ? `. ${note.charAt(0).toUpperCase()}${note.slice(1)}.` : "."}`;
    el.resultFormat.classList.toggle("warn", Boolean(note));
    showSelfcheck(main.header("X-Srcnn-Selfcheck"));
    el.result.hidden = false;
    await Promise.all([loaded(el.before), loaded(el.after)]);
    fitStage();
    setPosition(50);
    lensPoint = { fx: 0.5, fy: 0.5 };
    el.result.scrollIntoView({ block: "start" });
    el.resultTitle.focus({ preventScroll: true });
  }

  function showSelfcheck(raw) {
    el.scTry.hidden = true;
    if (!raw) { el.scBox.hidden = true; return; }
    let sc;
    try { sc = JSON.parse(raw); } catch (_) { el.scBox.hidden = true; return; }
    el.scBox.hidden = false;
    el.scGain.parentElement.classList.remove("up", "down");
    el.scExplain.textContent = sc.scale > 1
      ? "How to read it: we shrank a piece of your photo, let the model and plain bicubic enlarge it back, and "
        + "measured (PSNR, in dB) how close each came to your original; higher is closer, and a difference under "
        + "about 0.1 dB is not visible."
      : "How to read it: we JPEG-compressed a piece of your photo, let the model and plain bicubic restore it, and "
        + "measured (PSNR, in dB) how close each came to your original; higher is closer, and a difference under "
        + "about 0.1 dB is not visible.";
    if (!sc.applicable) {
      el.scModel.textContent = el.scBicubic.textContent = el.scGain.textContent = "–";
      el.scVerdict.textContent = `Not measured: ${sc.reason}.`;
      el.scMethod.textContent = "";
      return;
    }
    el.scModelName.textContent = sc.model === "bicubic" ? "Bicubic" : `${sc.model} model`;
    el.scModel.textContent = fmtDb(sc.psnr_model);
    el.scBicubic.textContent = fmtDb(sc.psnr_bicubic);
    const gain = sc.gain_db;
    el.scGain.textContent = gain === null ? "–" : `${gain >= 0 ? "+" : "−"}${Math.abs(gain).toFixed(2)} dB`;
    if (sc.model === "bicubic") {
      el.scVerdict.textContent = "This is the baseline itself, so there is nothing to gain; pick a trained model to compare.";
    } else if (gain === null) {
      el.scVerdict.textContent = "One of the results is identical to the original crop.";
    } else if (gain > 0.05) {
      el.scGain.parentElement.classList.add("up");
      el.scVerdict.textContent = `Yes: ${byModel(sc.model)} came closer to your photo than plain bicubic.`;
    } else if (gain < -0.05) {
      el.scGain.parentElement.classList.add("down");
      el.scVerdict.textContent = `No: plain bicubic came closer to your photo than ${byModel(sc.model)}.`;
      el.scTry.textContent = suggestion(sc.model, sc.scale);
      el.scTry.hidden = false;
    } else {
      el.scVerdict.textContent = "About the same as plain bicubic on this photo.";
    }
    el.scMethod.textContent = `Measured on ${sc.method}, compared with the crop itself (PSNR on luma).`;
  }

  function suggestion(model, scale) {
    const others = models.filter((m) => m.name !== model && m.name !== "bicubic" && allows(m, scale));
    const list = others.map((m) => `“${purposeOf(m)}” (${m.name})`);
    const alt = list.length ? `Try ${list.join(" or ")} at ${fmtScale(scale)}, or ` : "Try ";
    const tail = scale === 1
      ? "keep your original: it may have no JPEG blocks worth removing."
      : "plain bicubic (the last choice in the list): on this photo it keeps more of what is there.";
    return `What to try instead: ${alt}${tail}`;
  }

  // ---------------------------------------------------------------- before/after slider and loupe
  function fitStage() {
    const w = el.after.naturalWidth;
    const h = el.after.naturalHeight;
    if (!w || !h) return;
    const maxW = el.stageWrap.clientWidth;
    const maxH = Math.max(200, window.innerHeight * 0.7);
    const k = Math.min(maxW / w, maxH / h);
    const sw = Math.max(1, Math.floor(w * k));
    el.stage.style.width = `${sw}px`;
    el.stage.style.height = `${Math.max(1, Math.floor(h * k))}px`;
    // The range input spans the picture, so that its thumb sits on the divider at every position.
    el.sliderWrap.style.width = `${sw + SLIDER_THUMB}px`;
  }
  window.addEventListener("resize", fitStage);

  let position = 50;
  function setPosition(p) {
    position = Math.min(100, Math.max(0, p));
    el.after.style.clipPath = `inset(0 0 0 ${position}%)`;
    el.divider.style.left = `${position}%`;
    el.slider.value = String(position);
  }
  el.slider.addEventListener("input", () => setPosition(parseFloat(el.slider.value)));
  function keyStep(e) {
    const big = e.shiftKey ? 10 : 1;
    return { ArrowLeft: -big, ArrowDown: -big, ArrowRight: big, ArrowUp: big, PageDown: -10, PageUp: 10 }[e.key];
  }
  el.slider.addEventListener("keydown", (e) => {
    let p = null;
    const step = keyStep(e);
    if (step !== undefined) p = position + step;
    else if (e.key === "Home") p = 0;
    else if (e.key === "End") p = 100;
    if (p === null) return;
    e.preventDefault();
    setPosition(p);
  });

  function stagePoint(e) {
    const r = el.stage.getBoundingClientRect();
    return { x: e.clientX - r.left, y: e.clientY - r.top, w: r.width, h: r.height };
  }

  let dragging = false;
  let pointerAt = -Infinity; // when a pointer last went down or up on the picture
  el.stage.addEventListener("pointerdown", (e) => {
    dragging = true;
    pointerAt = performance.now();
    el.stage.setPointerCapture(e.pointerId);
    onPointer(e);
  });
  el.stage.addEventListener("pointermove", onPointer);
  el.stage.addEventListener("pointerup", (e) => {
    dragging = false;
    pointerAt = performance.now();
    if (e.pointerType !== "mouse") hideLoupe();
  });
  el.stage.addEventListener("pointercancel", () => { dragging = false; hideLoupe(); });
  el.stage.addEventListener("pointerleave", () => { if (!dragging) hideLoupe(); });

  function onPointer(e) {
    const p = stagePoint(e);
    if (el.loupeOn.checked) {
      if (e.pointerType === "mouse" || dragging) {
        if (p.x < 0 || p.y < 0 || p.x > p.w || p.y > p.h) { hideLoupe(); return; }
        lensPoint = { fx: p.x / p.w, fy: p.y / p.h };
        moveLoupe(e.pointerType);
      }
      return;
    }
    if (dragging) setPosition((p.x / p.w) * 100);
  }

  // The loupe: two lenses side by side, the same image spot in both (before | after), above the pointer;
  // below it when there is no room above (a finger near the top edge).
  let lensPoint = { fx: 0.5, fy: 0.5 };
  function paintLens(lens, img, ix, iy, zoom, nw, nh) {
    const size = lens.clientWidth;
    lens.style.backgroundImage = `url("${img.src}")`;
    lens.style.backgroundSize = `${nw * zoom}px ${nh * zoom}px`;
    lens.style.backgroundPosition = `${size / 2 - ix * zoom}px ${size / 2 - iy * zoom}px`;
  }

  function moveLoupe(pointerType) {
    const sw = el.stage.clientWidth;
    const sh = el.stage.clientHeight;
    const nw = el.after.naturalWidth;
    const nh = el.after.naturalHeight;
    if (!nw || !nh || !sw) return;
    el.loupe.hidden = false;
    const zoom = parseFloat(el.zoom.value);
    const ix = lensPoint.fx * nw; // the result's pixel under the pointer; the before side is shown at the same size
    const iy = lensPoint.fy * nh;
    paintLens(el.lensBefore, el.before, ix, iy, zoom, nw, nh);
    paintLens(el.lensAfter, el.after, ix, iy, zoom, nw, nh);
    const lw = el.loupe.offsetWidth;
    const lh = el.loupe.offsetHeight;
    const px = lensPoint.fx * sw;
    const py = lensPoint.fy * sh;
    const gap = pointerType === "mouse" || pointerType === "key" ? 18 : 48; // keep it clear of a finger
    let top = py - gap - lh;
    const below = top < 0;
    if (below) top = py + gap;
    el.loupe.classList.toggle("below", below);
    el.loupe.style.left = `${Math.min(Math.max(0, px - lw / 2), Math.max(0, sw - lw))}px`;
    el.loupe.style.top = `${Math.min(Math.max(0, top), Math.max(0, sh - lh))}px`;
  }

  function hideLoupe() { el.loupe.hidden = true; }

  // Keyboard: the picture is focusable; arrows move the divider, or the loupe when it is on (Shift: 10x).
  el.stage.tabIndex = 0;
  el.stage.addEventListener("keydown", (e) => {
    const step = keyStep(e);
    if (step === undefined && e.key !== "Escape") return;
    if (e.key === "Escape") { hideLoupe(); return; }
    e.preventDefault();
    if (!el.loupeOn.checked) { setPosition(position + step); return; }
    const d = step / 100;
    const horizontal = e.key === "ArrowLeft" || e.key === "ArrowRight";
    lensPoint = {
      fx: Math.min(1, Math.max(0, lensPoint.fx + (horizontal ? d : 0))),
      fy: Math.min(1, Math.max(0, lensPoint.fy + (horizontal ? 0 : -d))),
    };
    moveLoupe("key");
  });
  // Focus from a tap (the compatibility mousedown after a finger lifts) must not bring the loupe back.
  el.stage.addEventListener("focus", () => {
    if (el.loupeOn.checked && performance.now() - pointerAt > 1000) moveLoupe("key");
  });
  el.stage.addEventListener("blur", hideLoupe);
  el.zoom.addEventListener("change", () => { if (!el.loupe.hidden) moveLoupe("key"); });

  el.loupeOn.addEventListener("change", () => {
    el.stage.classList.toggle("loupe-mode", el.loupeOn.checked);
    if (!el.loupeOn.checked) hideLoupe();
  });

  // ---------------------------------------------------------------- where the photo goes, in plain words
  const local = ["127.0.0.1", "localhost", "[::1]", "::1"].includes(location.hostname);
  el.where.textContent = local ? "Here that server is this computer." : `That server is ${location.host}.`;

  loadMeta();
})();
