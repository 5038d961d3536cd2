/* Deepfake study (staff): upload a ZIP with its own progress bar, then follow the batch live until its report. */
(function () {
  "use strict";

  // Close codes the server uses to refuse a socket: retrying cannot help.
  const REFUSED_CODES = new Set([4401, 4403, 4404]);
  const MAX_BACKOFF_MS = 15000;
  const ACTIVE = new Set(["PENDING", "RUNNING"]);
  const STATUS_NAMES = { PENDING: "Pending", RUNNING: "Running", SUCCEEDED: "Succeeded", FAILED: "Failed", CANCELLED: "Cancelled" };
  const STATUS_MESSAGES = {
    401: "Your session has ended. Please log in again.",
    403: "Only staff members can run the deepfake study, or the page is out of date: reload it and try again.",
    413: "This archive is too large.",
    429: "Too many jobs right now. Please wait a little.",
  };

  function formatBytes(bytes) {
    if (bytes < 1024 * 1024) return Math.max(1, Math.round(bytes / 1024)) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function errorMessage(xhr) {
    try {
      const body = JSON.parse(xhr.responseText);
      if (body && body.error) return body.error;
    } catch (error) {
      // Not JSON (a proxy's page, for instance): fall back on the status below.
    }
    return STATUS_MESSAGES[xhr.status] || "The upload failed (" + (xhr.status || "no connection") + "). Please try again.";
  }

  function setBar(bar, fraction) {
    const value = Math.max(0, Math.min(100, Math.round(fraction * 100)));
    bar.querySelector(".progress-fill").style.width = value + "%";
    bar.setAttribute("aria-valuenow", String(value));
  }

  /** The upload form: one ZIP and the sampling options, posted with XHR so its progress shows. */
  function setUpUpload(form) {
    const input = form.querySelector("[data-file-input]");
    const dropzone = form.querySelector("[data-dropzone]");
    const title = form.querySelector("[data-dropzone-title]");
    const button = form.querySelector("[data-upload-button]");
    const progress = form.querySelector("[data-upload-progress]");
    const status = form.querySelector("[data-upload-status]");
    const errorBox = form.querySelector("[data-upload-error]");
    const initialTitle = title.innerHTML;
    let chosen = null;

    function showError(text) {
      errorBox.textContent = text;
      errorBox.hidden = !text;
    }

    function choose(file) {
      chosen = file || null;
      showError("");
      dropzone.classList.toggle("has-file", Boolean(chosen));
      if (chosen) title.textContent = chosen.name + " · " + formatBytes(chosen.size);
      else title.innerHTML = initialTitle;
      button.disabled = !chosen;
    }

    input.addEventListener("change", () => choose(input.files[0]));
    for (const name of ["dragenter", "dragover"]) {
      dropzone.addEventListener(name, (event) => {
        event.preventDefault();
        dropzone.classList.add("is-dragging");
      });
    }
    for (const name of ["dragleave", "dragend"]) dropzone.addEventListener(name, () => dropzone.classList.remove("is-dragging"));
    dropzone.addEventListener("drop", (event) => {
      event.preventDefault();
      dropzone.classList.remove("is-dragging");
      if (event.dataTransfer.files[0]) choose(event.dataTransfer.files[0]);
    });

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!chosen) {
        showError("Choose a ZIP archive first.");
        return;
      }
      const data = new FormData();
      data.append("file", chosen, chosen.name);
      data.append("every_n_frames", form.elements.every_n_frames.value);
      data.append("max_frames", form.elements.max_frames.value);
      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-CSRFToken", form.elements.csrfmiddlewaretoken.value);
      xhr.setRequestHeader("Accept", "application/json");
      const bar = progress.querySelector(".progress");
      xhr.upload.addEventListener("progress", (progressEvent) => {
        if (!progressEvent.lengthComputable) return;
        setBar(bar, progressEvent.loaded / progressEvent.total);
        status.textContent = "Uploading… " + formatBytes(progressEvent.loaded) + " of " + formatBytes(progressEvent.total);
      });
      xhr.upload.addEventListener("load", () => {
        setBar(bar, 1);
        status.textContent = "Uploaded. Checking the archive and every video in it…";
      });
      xhr.addEventListener("load", () => {
        if (xhr.status === 201) {
          window.location.assign(JSON.parse(xhr.responseText).page);
          return;
        }
        button.disabled = false;
        progress.hidden = true;
        showError(errorMessage(xhr));
      });
      xhr.addEventListener("error", () => {
        button.disabled = false;
        progress.hidden = true;
        showError("The upload did not reach the server. Check your connection and try again.");
      });
      showError("");
      button.disabled = true;
      progress.hidden = false;
      setBar(bar, 0);
      status.textContent = "Uploading…";
      xhr.send(data);
    });
  }

  /** A study's page: videos done / total and the current video's frames, live; the report once it ends. */
  function follow(panel, job) {
    const field = (name) => panel.querySelector('[data-field="' + name + '"]');
    const overall = panel.querySelector("[data-progress]");
    const current = panel.querySelector("[data-current-video]");
    const videoBar = panel.querySelector("[data-video-progress]");
    let backoff = 1000;

    function showCounters(done, total, faces) {
      setBar(overall, total ? done / total : 0);
      field("videos").textContent = done + " / " + total + " videos";
      field("faces").textContent = faces + " faces found";
    }

    function showStatus(status) {
      const badge = field("status");
      badge.dataset.status = status;
      badge.textContent = STATUS_NAMES[status] || status;
      overall.dataset.state = status;
    }

    function showVideo(video) {
      current.hidden = false;
      field("video-name").textContent = "video " + video.number + ": " + video.name;
      setBar(videoBar, video.frames_total ? video.frames_done / video.frames_total : 0);
      field("video-frames").textContent =
        video.frames_done + (video.frames_total ? " / " + video.frames_total : "") + " frames analysed";
    }

    function onMessage(message) {
      if (message.type === "snapshot" || message.type === "finished") {
        const snapshot = message.job;
        showStatus(snapshot.status);
        showCounters(snapshot.frames_done, snapshot.frames_total, snapshot.faces_found);
        // The report is rendered by the server: a study that ended (here or while away) reloads its page.
        if (!ACTIVE.has(snapshot.status) && ACTIVE.has(job.status)) window.location.reload();
      } else if (message.type === "progress") {
        showStatus("RUNNING");
        showCounters(message.frames_done, message.frames_total, message.faces_found);
        if (message.video && message.video.name) showVideo(message.video);
      }
    }

    function connect() {
      const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      const socket = new WebSocket(scheme + window.location.host + job.urls.socket);
      socket.addEventListener("open", () => {
        backoff = 1000;
        field("connection").textContent = "live";
      });
      socket.addEventListener("message", (event) => onMessage(JSON.parse(event.data)));
      socket.addEventListener("close", (event) => {
        if (REFUSED_CODES.has(event.code)) {
          field("connection").textContent = "not available";
          return;
        }
        field("connection").textContent = "reconnecting…";
        window.setTimeout(connect, backoff);
        backoff = Math.min(backoff * 2, MAX_BACKOFF_MS);
      });
    }

    connect();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.querySelector("[data-study-form]");
    if (form) setUpUpload(form);
    const panel = document.querySelector("[data-study-panel]");
    const snapshotScript = document.getElementById("study-snapshot");
    if (panel && snapshotScript) {
      const job = JSON.parse(snapshotScript.textContent);
      if (ACTIVE.has(job.status)) follow(panel, job);
    }
    for (const confirmForm of document.querySelectorAll("form[data-confirm]")) {
      confirmForm.addEventListener("submit", (event) => {
        if (!window.confirm(confirmForm.dataset.confirm)) event.preventDefault();
      });
    }
  });
})();
