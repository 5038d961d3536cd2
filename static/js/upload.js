/* Uploads with their own progress bar (pick or drop a file, post it with XHR); Try it now then follows the job live. */
(function () {
  "use strict";

  const STATUS_MESSAGES = {
    401: "Your session has ended. Please log in again.",
    403: "The page is out of date (security check failed). Reload it and try again.",
    413: "This file is too large.",
    429: "Too many uploads right now. Please wait a little.",
  };

  function formatBytes(bytes) {
    if (bytes < 1024 * 1024) return Math.max(1, Math.round(bytes / 1024)) + " KB";
    return (bytes / (1024 * 1024)).toFixed(1) + " MB";
  }

  function errorMessage(xhr, messages) {
    try {
      const body = JSON.parse(xhr.responseText);
      if (body && body.error) return body.error;
    } catch (error) {
      // Not JSON (a proxy's page, for instance): fall back on the status below.
    }
    return messages[xhr.status] || "The upload failed (" + (xhr.status || "no connection") + "). Please try again.";
  }

  /**
   * Wire an upload form: choose a file by picker or drop, post it with its progress shown, say why it was refused.
   * options: fields (names of the form's other fields to send), emptyText, checkingText, messages (by HTTP status,
   * over the defaults) and onCreated(body), called with the parsed 201 answer. Returns { reset, focus }.
   */
  function setUp(form, options) {
    const messages = Object.assign({}, STATUS_MESSAGES, options.messages || {});
    const input = form.querySelector("[data-file-input]");
    const dropzone = form.querySelector("[data-dropzone]");
    const title = form.querySelector("[data-dropzone-title]");
    const button = form.querySelector("[data-upload-button]");
    const progress = form.querySelector("[data-upload-progress]");
    const progressBar = progress.querySelector(".progress");
    const progressFill = progress.querySelector(".progress-fill");
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
      if (chosen) {
        title.textContent = chosen.name + " · " + formatBytes(chosen.size);
      } else {
        title.innerHTML = initialTitle;
      }
      button.disabled = !chosen;
    }

    function setUploadProgress(fraction, text) {
      const value = Math.round(fraction * 100);
      progressFill.style.width = value + "%";
      progressBar.setAttribute("aria-valuenow", String(value));
      status.textContent = text;
    }

    function refused(text) {
      button.disabled = false;
      progress.hidden = true;
      showError(text);
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
      const file = event.dataTransfer.files[0];
      if (file) choose(file);
    });

    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!chosen) {
        showError(options.emptyText);
        return;
      }
      const data = new FormData();
      data.append("file", chosen, chosen.name);
      // A field the page does not show (no model select without installed models) is left to the server's default.
      for (const name of options.fields || []) if (form.elements[name]) data.append(name, form.elements[name].value);

      const xhr = new XMLHttpRequest();
      xhr.open("POST", form.action);
      xhr.setRequestHeader("X-CSRFToken", form.elements.csrfmiddlewaretoken.value);
      xhr.setRequestHeader("Accept", "application/json");
      xhr.upload.addEventListener("progress", (progressEvent) => {
        if (progressEvent.lengthComputable) {
          const fraction = progressEvent.loaded / progressEvent.total;
          setUploadProgress(fraction, "Uploading… " + formatBytes(progressEvent.loaded) + " of " + formatBytes(progressEvent.total));
        }
      });
      xhr.upload.addEventListener("load", () => setUploadProgress(1, options.checkingText));
      xhr.addEventListener("load", () => {
        if (xhr.status !== 201) {
          refused(errorMessage(xhr, messages));
          return;
        }
        button.disabled = false;
        progress.hidden = true;
        options.onCreated(JSON.parse(xhr.responseText));
      });
      xhr.addEventListener("error", () => refused("The upload did not reach the server. Check your connection and try again."));

      showError("");
      button.disabled = true;
      progress.hidden = false;
      setUploadProgress(0, "Uploading…");
      xhr.send(data);
    });

    return {
      reset() {
        form.reset();
        choose(null);
      },
      focus: () => input.focus(),
    };
  }

  window.GenrecUpload = { setUp };

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.querySelector("[data-upload-form]");
    if (!form) return;
    const panel = document.querySelector("[data-job-panel]");
    const another = document.querySelector("[data-another]");
    const tryUrl = window.location.pathname;
    const tryTitle = document.title;
    let view = null;

    const upload = setUp(form, {
      fields: ["every_n_frames", "model"],
      emptyText: "Choose an image or a video first.",
      checkingText: "Uploaded. Checking the file…",
      onCreated(body) {
        const job = body.job;
        form.hidden = true;
        another.hidden = false;
        view = window.GenrecJob.follow(panel, job);
        // The address becomes the job's own page, so a reload or a shared link shows this job.
        window.history.pushState({ job: job.id }, "", job.urls.page);
        // Keyboard and screen-reader users land on the result, whose heading names the file.
        panel.querySelector("#job-title").focus({ preventScroll: true });
        panel.scrollIntoView({ behavior: "smooth", block: "start" });
      },
    });

    // Back and forward move between Try it now and a job's page: let the server render the address.
    window.addEventListener("popstate", () => window.location.reload());

    another.querySelector("[data-another-button]").addEventListener("click", () => {
      if (window.location.pathname !== tryUrl) window.history.pushState(null, "", tryUrl);
      if (view) view.stop();
      view = null;
      panel.hidden = true;
      another.hidden = true;
      document.title = tryTitle;
      upload.reset();
      form.hidden = false;
      upload.focus();
    });
  });
})();
