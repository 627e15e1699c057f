// srcnn serve: the page's behaviour. No frameworks, no inline code (the CSP allows only this file).
"use strict";

(() => {
  const $ = (id) => document.getElementById(id);
  const el = {
    drop: $("drop"), file: $("file"), thumb: $("thumb"), dropIcon: $("drop-icon"),
    dropTitle: $("drop-title"), dropHint: $("drop-hint"),
    model: $("model"), scale: $("scale"), selfcheck: $("selfcheck"), go: $("go"), summary: $("model-summary"),
    status: $("status"), progress: $("progress"), bar: $("bar"), spinner: $("spinner"), statusText: $("status-text"),
    error: $("error"), result: $("result"), info: $("result-info"), download: $("download"),
    stageWrap: $("stage-wrap"), stage: $("stage"), before: $("before"), after: $("after"), divider: $("divider"),
    afterTag: $("after-tag"), loupe: $("loupe"), loupeOn: $("loupe-on"), zoom: $("zoom"), slider: $("slider"),
    scBox: $("selfcheck-box"), scModelName: $("sc-model-name"), scModel: $("sc-model"), scBicubic: $("sc-bicubic"),
    scGain: $("sc-gain"), scVerdict: $("sc-verdict"), scMethod: $("sc-method"),
  };

  let models = [];
  let limits = null;
  let chosen = null; // the File to send
  let thumbUrl = null;
  let resultUrls = [];
  let busy = false;
  let timer = null;

  // ---------------------------------------------------------------- helpers
  const fmtBytes = (n) => (n >= 1048576 ? `${parseFloat((n / 1048576).toFixed(1))} MB`
    : `${Math.max(1, Math.round(n / 1024))} kB`);
  const fmtSize = (text) => (text || "").replace("x", " × ");
  const fmtDb = (v) => (v === null || v === undefined ? "identical" : `${v.toFixed(2)} dB`);

  function showError(message) {
    el.error.textContent = message;
    el.error.hidden = !message;
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
    el.go.disabled = busy || !chosen || !models.length;
  }

  // ---------------------------------------------------------------- models and limits
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
    el.model.textContent = "";
    for (const m of models) {
      const opt = document.createElement("option");
      opt.value = m.name;
      opt.textContent = m.name === "bicubic" ? "bicubic (baseline)" : `${m.name} · ${m.task === "jpeg" ? "JPEG repair" : `${m.scale}×`}`;
      if (m.default) opt.selected = true;
      el.model.append(opt);
    }
    el.dropHint.textContent = `or click to choose one · JPEG, PNG, WebP, TIFF… up to ${fmtBytes(limits.max_upload_bytes)}`;
    onModelChange();
    updateGo();
  }

  function currentModel() {
    return models.find((m) => m.name === el.model.value) || models[0];
  }

  function onModelChange() {
    const m = currentModel();
    if (!m) return;
    el.scale.value = String(m.scale);
    const parts = [m.summary ? m.summary.charAt(0).toUpperCase() + m.summary.slice(1) : ""];
    if (models.length === 1) parts.push("No trained model ships with this version yet, so only the baseline is offered.");
    el.summary.textContent = parts.filter(Boolean).map((t) => (/[.!?]$/.test(t) ? t : `${t}.`)).join(" ");
  }

  // ---------------------------------------------------------------- picking a photo
  function pick(file) {
    if (!file) return;
    showError("");
    if (limits && file.size > limits.max_upload_bytes) {
      showError(`${file.name} is ${fmtBytes(file.size)}; this server accepts up to ${fmtBytes(limits.max_upload_bytes)}.`);
      return;
    }
    chosen = file;
    el.dropTitle.textContent = file.name;
    el.dropHint.textContent = `${fmtBytes(file.size)} · click or drop to choose another`;
    if (thumbUrl) URL.revokeObjectURL(thumbUrl);
    thumbUrl = URL.createObjectURL(file);
    el.thumb.src = thumbUrl;
    el.thumb.hidden = false;
    el.dropIcon.hidden = true;
    el.thumb.onerror = () => { el.thumb.hidden = true; el.dropIcon.hidden = false; }; // e.g. TIFF: no preview
    updateGo();
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
  el.model.addEventListener("change", onModelChange);

  // ---------------------------------------------------------------- talking to the API
  // POST the photo; resolves {ok, status, blob, header(name)}. onUpload(fraction) reports upload progress.
  function send(file, model, scale, selfcheck, onUpload, onProcessing) {
    return new Promise((resolve, reject) => {
      const form = new FormData();
      form.append("file", file, file.name);
      form.append("model", model);
      form.append("scale", scale);
      form.append("selfcheck", selfcheck ? "true" : "false");
      const xhr = new XMLHttpRequest();
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

  function processing(label) {
    const t0 = performance.now();
    setStatus(`${label}…`, null);
    if (timer) clearInterval(timer);
    timer = setInterval(() => {
      el.statusText.textContent = `${label}… ${((performance.now() - t0) / 1000).toFixed(0)} s`;
    }, 500);
  }

  async function run() {
    if (!chosen || busy) return;
    busy = true;
    updateGo();
    showError("");
    const model = el.model.value;
    const scale = el.scale.value;
    const wantCheck = el.selfcheck.checked;
    try {
      setStatus("Uploading… 0%", 0);
      const main = await send(chosen, model, scale, wantCheck,
        (f) => setStatus(`Uploading… ${Math.round(f * 100)}%`, f),
        () => processing(`Enhancing with ${model}`));
      if (!main.ok) throw new Error(await errorText(main));
      let before = main;
      if (model !== "bicubic") {
        processing("Making the bicubic comparison");
        before = await send(chosen, "bicubic", scale, false, null, null);
        if (!before.ok) throw new Error(await errorText(before));
      }
      await show(main, before, model);
    } catch (err) {
      showError(`Could not enhance the photo: ${err.message}`);
    } finally {
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

  async function show(main, before, model) {
    for (const u of resultUrls) URL.revokeObjectURL(u);
    const afterUrl = URL.createObjectURL(main.blob);
    const beforeUrl = before === main ? afterUrl : URL.createObjectURL(before.blob);
    resultUrls = [afterUrl, beforeUrl];
    el.before.src = beforeUrl;
    el.after.src = afterUrl;
    el.afterTag.textContent = model === "bicubic" ? "Bicubic" : model;
    el.download.href = afterUrl;
    el.download.download = filenameOf(main, "enhanced.png");
    const secs = parseFloat(main.header("X-Srcnn-Seconds") || "0");
    el.info.textContent = `${fmtSize(main.header("X-Srcnn-Input-Size"))} → ${fmtSize(main.header("X-Srcnn-Output-Size"))}`
      + ` px · ${main.header("X-Srcnn-Scale")}× with ${model} · ${fmtBytes(main.blob.size)} · ${secs.toFixed(1)} s`;
    showSelfcheck(main.header("X-Srcnn-Selfcheck"));
    el.result.hidden = false;
    await Promise.all([loaded(el.before), loaded(el.after)]);
    fitStage();
    setPosition(50);
    el.result.scrollIntoView({ behavior: "smooth", block: "start" });
  }

  function showSelfcheck(raw) {
    if (!raw) { el.scBox.hidden = true; return; }
    let sc;
    try { sc = JSON.parse(raw); } catch (_) { el.scBox.hidden = true; return; }
    el.scBox.hidden = false;
    el.scGain.parentElement.classList.remove("up", "down");
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
    } else {
      el.scVerdict.textContent = "About the same as plain bicubic on this photo.";
    }
    el.scMethod.textContent = `Measured on ${sc.method}, compared with the crop itself (PSNR on luma; higher is better).`;
  }

  // ---------------------------------------------------------------- before/after slider and loupe
  function fitStage() {
    const w = el.after.naturalWidth;
    const h = el.after.naturalHeight;
    if (!w || !h) return;
    const maxW = el.stageWrap.clientWidth;
    const maxH = Math.max(240, window.innerHeight * 0.72);
    const k = Math.min(maxW / w, maxH / h);
    el.stage.style.width = `${Math.max(1, Math.floor(w * k))}px`;
    el.stage.style.height = `${Math.max(1, Math.floor(h * k))}px`;
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
      if (e.pointerType === "mouse" || dragging) moveLoupe(p, e.pointerType);
      return;
    }
    if (dragging) setPosition((p.x / p.w) * 100);
  }

  function moveLoupe(p, pointerType) {
    if (p.x < 0 || p.y < 0 || p.x > p.w || p.y > p.h) { hideLoupe(); return; }
    const img = (p.x / p.w) * 100 < position ? el.before : el.after;
    const zoom = parseFloat(el.zoom.value);
    const nw = img.naturalWidth;
    const nh = img.naturalHeight;
    const size = el.loupe.offsetWidth || 180;
    const r = size / 2;
    const ix = (p.x / p.w) * nw; // the image pixel under the pointer
    const iy = (p.y / p.h) * nh;
    el.loupe.hidden = false;
    el.loupe.style.backgroundImage = `url("${img.src}")`;
    el.loupe.style.backgroundSize = `${nw * zoom}px ${nh * zoom}px`;
    el.loupe.style.backgroundPosition = `${r - ix * zoom}px ${r - iy * zoom}px`;
    const lift = pointerType === "mouse" ? 0 : r + 24; // keep it above a finger
    el.loupe.style.left = `${p.x - r}px`;
    el.loupe.style.top = `${p.y - r - lift}px`;
  }

  function hideLoupe() { el.loupe.hidden = true; }

  el.loupeOn.addEventListener("change", () => {
    el.stage.classList.toggle("loupe-mode", el.loupeOn.checked);
    if (!el.loupeOn.checked) hideLoupe();
  });

  loadMeta();
})();
