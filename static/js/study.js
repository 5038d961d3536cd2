/* Deepfake study (staff): upload a ZIP with its own progress bar, then follow the batch live until its report. */
(function () {
  "use strict";

  // Close codes the server uses to refuse a socket: retrying cannot help.
  const REFUSED_CODES = new Set([4401, 4403, 4404]);
  const MAX_BACKOFF_MS = 15000;
  const ACTIVE = new Set(["PENDING", "RUNNING"]);
  const STATUS_NAMES = { PENDING: "Pending", RUNNING: "Running", SUCCEEDED: "Succeeded", FAILED: "Failed", CANCELLED: "Cancelled" };

  function setBar(bar, fraction) {
    const value = Math.max(0, Math.min(100, Math.round(fraction * 100)));
    bar.querySelector(".progress-fill").style.width = value + "%";
    bar.setAttribute("aria-valuenow", String(value));
  }

  /** The upload form: one ZIP and the sampling options, posted with its own progress; then the study's page. */
  function setUpUpload(form) {
    window.GenrecUpload.setUp(form, {
      fields: ["every_n_frames", "max_frames", "model"],
      emptyText: "Choose a ZIP archive first.",
      checkingText: "Uploaded. Checking the archive and every video in it…",
      messages: {
        403: "Only staff members can run the deepfake study, or the page is out of date: reload it and try again.",
        413: "This archive is too large.",
        429: "Too many jobs right now. Please wait a little.",
      },
      onCreated: (body) => window.location.assign(body.page),
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
