// srcnn serve: the page's behaviour. No frameworks, no inline code (the CSP allows only this file).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    drop: $("drop"), file: $("file"), thumb: $("thumb"), dropIcon: $("drop-icon"),
    dropTitle: $("drop-title"), dropHint: $("drop-hint"), where: $("where"),
    model: $("model"), scale: $("scale"), selfcheck: $("selfcheck"), go: $("go"), madeFor: $("model-made-for"),
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
  const SLIDER_THUMB = 22; // px, the range thumb's width in style.css

  // ---------------------------------------------------------------- helpers
  const fmtBytes = (n) => (n >= 1048576 ? `${parseFloat((n / 1048576).toFixed(1))} MB`
    : `${Math.max(1, Math.round(n / 1024))} kB`);
  const fmtSize = (text) => (text || "").replace("x", " × ");
  const fmtDb = (v) => (v === null || v === undefined ? "identical" : `${v.toFixed(2)} dB`);
  const fmtScale = (s) => `${parseFloat(Number(s).toFixed(3))}×`;
  const fmtSecs = (s) => (s < 10 ? `${s.toFixed(1)} s` : s < 120 ? `${Math.round(s)} s`
    : `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, "0")} s`);
  const outLen = (n, s) => Math.ceil(n * s - 1e-9); // as the server's resize.output_size

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

  function updateGo() {
    el.go.disabled = busy || !chosen || !models.length || planProblem() !== null;
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
    el.dropTitle.textContent = "Drop a photo here";
    el.dropHint.textContent = limits ? `or click to choose one · JPEG, PNG, WebP, TIFF… up to ${fmtBytes(limits.max_upload_bytes)}`
      : "or click to choose one · JPEG, PNG, WebP, TIFF…";
    el.plan.hidden = true;
  }

  function pick(file) {
    if (!file || busy) return;
    clearResult();
    showError("");
    if (limits && file.size > limits.max_upload_bytes) {
      resetPick();
      updateGo();
      showError(`${file.name} is ${fmtBytes(file.size)}; this server accepts up to ${fmtBytes(limits.max_upload_bytes)}. Choose a smaller file.`);
      return;
    }
    if (thumbUrl) URL.revokeObjectURL(thumbUrl);
    chosen = file;
    dims = null;
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

  el.file.addEventListener("change", () => pick(el.file.files[0]));
  for (const type of ["dragenter", "dragover"]) {
    el.drop.addEventListener(type, (e) => { e.preventDefault(); el.drop.classList.add("dragging"); });
  }
  for (const type of ["dragleave", "drop"]) {
    el.drop.addEventListener(type, () => el.drop.classList.remove("dragging"));
  }
  el.drop.addEventListener("drop", (e) => {
    e.preventDefault();
    if (e.dataTransfer && e.dataTransfer.files.length) pick(e.dataTransfer.files[0]);
  });
  // A photo dropped anywhere else on the page should not navigate away from it.
  window.addEventListener("dragover", (e) => e.preventDefault());
  window.addEventListener("drop", (e) => e.preventDefault());
  el.model.addEventListener("change", () => { clearResult(); onModelChange(); });
  el.scale.addEventListener("change", () => { clearResult(); updatePlan(); });

  // ---------------------------------------------------------------- talking to the API
  // POST the photo; resolves {ok, status, blob, header(name)}. onUpload(fraction) reports upload progress.
  function newJobId() {
    const bytes = new Uint8Array(12);
    crypto.getRandomValues(bytes); // works on plain http too (randomUUID needs a secure context)
    return Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function send(file, model, scale, selfcheck, onUpload, onProcessing, job) {
    return new Promise((resolve, reject) => {
      const form = new FormData();
      form.append("file", file, file.name);
      form.append("model", model);
      form.append("scale", scale);
      form.append("selfcheck", selfcheck ? "true" : "false");
      if (job) form.append("job", job.id);
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

  function processing(label, job) {
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
  el.stop.addEventListener("click", () => stopJob(current, false));
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
        () => { announce(`Uploaded. Enhancing with ${model}.`); processing(`Enhancing with ${model}`, job); }, job);
      if (!main.ok) throw new Error(await errorText(main));
      let before = null;
      if (!canShowOriginal && model !== "bicubic") {
        processing("Making the bicubic comparison (your browser cannot show this file type)");
        before = await send(file, "bicubic", scale, false, null, null);
        if (!before.ok) throw new Error(await errorText(before));
      }
      if (chosen !== file) return; // a new photo was picked meanwhile: this result is stale
      stopStatus();
      await show(main, before, model, (performance.now() - t0) / 1000);
      announce("Done. The result is shown below.");
    } catch (err) {
      clearResult();
      stopStatus();
      if (job.stopped) {
        announce("Stopped. Nothing was made.");
        showError("Stopped: the server has stopped working on this photo. Press Enhance to start again.");
      } else {
        announce("");
        showError(`Could not enhance the photo: ${err.message}`);
      }
    } finally {
      if (current === job) current = null;
      stopStatus();
      busy = false;
      updateGo();
    }
  }
  el.go.addEventListener("click", run);

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

  async function show(main, before, model, totalSecs) {
    const afterUrl = URL.createObjectURL(main.blob);
    resultUrls = [afterUrl];
    let beforeUrl = thumbUrl;
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
    el.afterTag.textContent = el.lensAfterTag.textContent = model === "bicubic" ? "Bicubic" : model;
    el.download.href = afterUrl;
    el.download.download = filenameOf(main, "enhanced.png");
    const kind = (main.blob.type || "").replace("image/", "").toUpperCase() || "image";
    const secs = parseFloat(main.header("X-Srcnn-Seconds") || "0");
    el.info.textContent = `${fmtSize(main.header("X-Srcnn-Input-Size"))} → ${fmtSize(main.header("X-Srcnn-Output-Size"))}`
      + ` px · ${fmtScale(scale)} with ${model} · ${kind}, ${fmtBytes(main.blob.size)}`
      + ` · ${fmtSecs(secs)} on the server, ${fmtSecs(totalSecs)} in all`;
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
    el.scModelName.textContent = sc.model;
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
      el.scVerdict.textContent = `Yes: ${sc.model} came closer to your photo than plain bicubic.`;
    } else if (gain < -0.05) {
      el.scGain.parentElement.classList.add("down");
      el.scVerdict.textContent = `No: plain bicubic came closer to your photo than ${sc.model}.`;
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
  el.stage.addEventListener("pointerdown", (e) => {
    dragging = true;
    el.stage.setPointerCapture(e.pointerId);
    onPointer(e);
  });
  el.stage.addEventListener("pointermove", onPointer);
  el.stage.addEventListener("pointerup", (e) => { dragging = false; if (e.pointerType !== "mouse") hideLoupe(); });
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
  el.stage.addEventListener("focus", () => { if (el.loupeOn.checked) moveLoupe("key"); });
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
