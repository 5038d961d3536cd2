/* Follows one job live: renders its snapshot, applies websocket progress, reconnects with backoff and resyncs. */
(function () {
  "use strict";

  const FINAL = new Set(["SUCCEEDED", "FAILED", "CANCELLED"]);
  const STATUS_TEXT = { PENDING: "Waiting", RUNNING: "Running", SUCCEEDED: "Done", FAILED: "Failed", CANCELLED: "Cancelled" };
  const BACKOFF_FIRST_MS = 500;
  const BACKOFF_MAX_MS = 30000;
  // Close codes the server uses to refuse a socket: retrying cannot help.
  const REFUSED_CODES = new Set([4401, 4403, 4404]);

  /** "every frame", "every 2nd frame", "every 10th frame": what a video's result says was analysed. */
  function samplingText(n) {
    if (!n || n === 1) return "every frame";
    const teen = n % 100 >= 10 && n % 100 <= 20;
    const suffix = teen ? "th" : { 1: "st", 2: "nd", 3: "rd" }[n % 10] || "th";
    return "every " + n + suffix + " frame";
  }

  const percent = (value) => (value === null || value === undefined ? "—" : Math.round(value * 100) + "%");
  const fixed = (value, digits) => (value === null || value === undefined ? "—" : Number(value).toFixed(digits));
  const SITE_NAME = "GEN_REC";

  /** "Done", "Running 40%": the job's state in the words the page shows (the tab title names it too). */
  function stateText(job) {
    const word = STATUS_TEXT[job.status] || job.status;
    return job.status === "RUNNING" ? word + " " + (job.progress || 0) + "%" : word;
  }

  /** "Image · 512 × 512", "Video · 1280 × 720 · every 2nd frame": only the parts the job has, one separator each. */
  function metaText(job) {
    const parts = [job.kind === "video" ? "Video" : "Image"];
    if (job.width && job.height) parts.push(job.width + " × " + job.height);
    if (job.kind === "video") parts.push(samplingText(job.every_n_frames));
    return parts.join(" · ");
  }

  /** "female, 90%": a label and its confidence, as a sentence reads them. */
  const verdict = (label, confidence) => (label || "no label") + ", " + percent(confidence);
  const plural = (count, word) => count + " " + word + (count === 1 ? "" : "s");

  /** The outcome of an ended job in words, for the live region: "1 face found: female, 90%". */
  function outcomeText(job) {
    if (job.status === "FAILED") return "The analysis failed: " + (job.error || "no reason was recorded.");
    if (job.status === "CANCELLED") return "The analysis was cancelled.";
    if (job.kind !== "video") {
      const faces = job.latest_faces || [];
      if (!faces.length) return "No face found in this image.";
      return plural(faces.length, "face") + " found: " + faces.map((face) => verdict(face.label, face.confidence)).join("; ");
    }
    const summary = job.summary || {};
    const frames = plural(summary.frames_analyzed ?? job.frames_done ?? 0, "frame") + " analysed";
    if (!summary.label) return "No face found: " + frames + ".";
    const persons = plural((summary.persons || []).length, "person");
    const confidence = summary.confidence ?? summary.mean_confidence;
    const whose = (summary.persons || []).length ? ", the person on screen longest; " : ", from the faces found; ";
    return "Video: " + verdict(summary.label, confidence) + whose + persons + ", " + frames + ".";
  }

  /** "0.4 s", or the frame number when the video's rate is unknown. */
  const whenText = (seconds, frame) => (seconds !== null && seconds !== undefined ? fixed(seconds, 1) + " s" : "frame " + frame);

  /** The sentence under a video's summary: whose label the video's is. */
  function mainPersonText(summary) {
    const tracks = (summary.persons || []).concat(summary.fragments || []);
    const main = tracks.find((track) => track.track_id === summary.main_track_id);
    if (!main) return summary.label ? "No face was seen at one place in 3 frames: the label is the mean over all faces." : "";
    const who = main.is_person === false ? "the longest track (too short to count as a person)" : "the person on screen longest";
    return (
      "The video's label is that of " + who + ", #" + main.track_id + " (seen in " +
      plural(main.frames_seen, "analysed frame") + "): P(female) " + fixed(main.p_female, 2) +
      ", 95% interval " + fixed(main.p_female_low, 2) + " – " + fixed(main.p_female_high, 2) + "."
    );
  }

  /** What the Persons table leaves out, in words: tracks too short to be a person, detections never confirmed. */
  function fragmentsText(summary) {
    const fragments = (summary.fragments || []).length;
    const unconfirmed = summary.unconfirmed_faces || 0;
    const parts = [];
    if (fragments) parts.push(plural(fragments, "short track") + " (never seen in more than 2 frames in a row)");
    if (unconfirmed) parts.push(plural(unconfirmed, "detection") + " not seen at the same place in 3 frames");
    if (!parts.length) return "";
    return (
      "Not listed as persons: " + parts.join(" and ") + ", such as false faces or glimpses. " +
      "result.json and result.csv keep them, marked as fragment or unconfirmed."
    );
  }

  function labelCell(label) {
    const cell = document.createElement("td");
    const span = document.createElement("span");
    span.className = label === "female" ? "label-female" : label === "male" ? "label-male" : "muted";
    span.textContent = label ? label.charAt(0).toUpperCase() + label.slice(1) : "—";
    cell.appendChild(span);
    return cell;
  }

  function textCell(text, numeric) {
    const cell = document.createElement("td");
    cell.textContent = text;
    if (numeric) cell.className = "num";
    return cell;
  }

  function headerRow(names) {
    const row = document.createElement("tr");
    for (const [name, numeric] of names) {
      const th = document.createElement("th");
      th.scope = "col";
      th.textContent = name;
      if (numeric) th.className = "num";
      row.appendChild(th);
    }
    return row;
  }

  class JobView {
    constructor(panel, job) {
      this.panel = panel;
      this.job = job;
      this.socket = null;
      this.attempt = 0;
      this.retryTimer = null;
      this.stopped = false;
      const svg = panel.querySelector("[data-timeline]");
      this.timeline = svg && window.GenrecTimeline ? new window.GenrecTimeline(svg) : null;
      const raw = panel.querySelector("[data-timeline-raw]");
      if (raw && this.timeline) {
        raw.checked = false;
        raw.addEventListener("change", () => {
          this.timeline.setRaw(raw.checked);
          this.renderLegend();
        });
      }
    }

    $(selector) {
      return this.panel.querySelector(selector);
    }

    field(name) {
      return this.panel.querySelector('[data-field="' + name + '"]');
    }

    start() {
      this.panel.hidden = false;
      this.field("announcement").textContent = "";
      this.renderAll();
      if (!FINAL.has(this.job.status)) this.connect();
    }

    stop() {
      this.stopped = true;
      window.clearTimeout(this.retryTimer);
      if (this.socket) this.socket.close();
    }

    connect() {
      if (this.stopped) return;
      const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
      const socket = new WebSocket(scheme + window.location.host + this.job.urls.socket);
      this.socket = socket;
      this.setConnection("Connecting…");
      socket.addEventListener("open", () => {
        this.attempt = 0;
        this.setConnection("Live");
      });
      socket.addEventListener("message", (event) => this.onMessage(JSON.parse(event.data)));
      socket.addEventListener("close", (event) => this.onClose(event));
    }

    onMessage(message) {
      if (message.type === "snapshot" || message.type === "finished") {
        this.job = message.job;
        if (message.type === "finished" || FINAL.has(this.job.status)) this.finish();
        this.renderAll();
      } else if (message.type === "progress") {
        this.applyProgress(message);
      }
    }

    applyProgress(message) {
      const job = this.job;
      job.frames_done = Math.max(job.frames_done || 0, message.frames_done);
      job.frames_total = message.frames_total || job.frames_total;
      job.faces_found = message.faces_found;
      job.status = job.status === "PENDING" ? "RUNNING" : job.status;
      job.progress = job.frames_total ? Math.min(100, Math.round((100 * job.frames_done) / job.frames_total)) : 0;
      if (message.latest_faces) job.latest_faces = message.latest_faces;
      if (this.timeline && message.points && message.points.length) {
        this.timeline.framesTotal = job.frames_total;
        this.timeline.add(message.points);
      }
      this.renderProgress();
      if (message.latest_frame_url) this.showLatestFrame(message.latest_frame_url);
    }

    finish() {
      if (!this.stopped) this.field("announcement").textContent = outcomeText(this.job);
      this.stopped = true;
      this.setConnection("");
      if (this.socket && this.socket.readyState <= WebSocket.OPEN) this.socket.close();
    }

    onClose(event) {
      this.socket = null;
      if (this.stopped) return;
      if (REFUSED_CODES.has(event.code)) {
        this.setConnection("");
        this.showError("Live updates are not available for this job. Reload the page; you may need to log in again.");
        return;
      }
      this.attempt += 1;
      const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (this.attempt - 1)) * (0.75 + Math.random() * 0.5);
      this.setConnection("Reconnecting in " + Math.ceil(delay / 1000) + " s…");
      this.retryTimer = window.setTimeout(() => this.resync(), delay);
    }

    /** Ask the database for the truth before reopening the socket, so nothing missed while away is lost. */
    async resync() {
      try {
        const response = await fetch(this.panel.dataset.apiBase + this.job.id + "/", {
          headers: { Accept: "application/json" },
          credentials: "same-origin",
        });
        if (response.status === 401 || response.status === 404) {
          this.stopped = true;
          this.setConnection("");
          this.showError("This job is no longer available to you. Log in again, or it may have been deleted.");
          return;
        }
        if (response.ok) {
          this.job = (await response.json()).job;
          this.renderAll();
          if (FINAL.has(this.job.status)) {
            this.finish();
            return;
          }
        }
      } catch (error) {
        // Offline for now: the socket attempt below backs off again.
      }
      this.connect();
    }

    /** The legend says what the timeline shows: persons' smoothed curves, or the raw values (always while live). */
    renderLegend() {
      const persons = this.timeline.hasPersons();
      const raw = !persons || this.timeline.showRaw;
      this.$("[data-timeline-toggle]").hidden = !persons;
      this.$("[data-legend-raw]").hidden = !raw;
      this.$("[data-legend-persons]").hidden = raw;
      this.$("[data-legend-raw-text]").textContent = persons
        ? "mean P(female) of the frame's faces, raw (result.csv and result.json keep every face's raw value)"
        : "mean P(female) of the frame's faces, raw (live: each person's smoothed curve comes when the analysis ends)";
      const list = this.$("[data-legend-persons-list]");
      list.replaceChildren();
      Object.keys(this.timeline.persons).forEach((trackId, order) => {
        const swatch = document.createElement("span");
        swatch.className = "legend-line " + window.GenrecTimeline.personClass(order);
        list.append(swatch, " #" + trackId + " ");
      });
    }

    setConnection(text) {
      const node = this.field("connection");
      if (node) node.textContent = text;
    }

    showError(text) {
      const node = this.field("error");
      node.textContent = text;
      node.hidden = !text;
    }

    renderAll() {
      const job = this.job;
      this.field("original_name").textContent = job.original_name;
      this.field("meta").textContent = metaText(job);
      for (const link of this.panel.querySelectorAll("[data-link]")) {
        const url = job.urls[link.dataset.link];
        if (url) link.setAttribute("href", url);
      }
      for (const form of this.panel.querySelectorAll("form[data-action]")) {
        const url = job.urls[form.dataset.action];
        if (url) form.setAttribute("action", url);
      }
      this.$('form[data-action="cancel"]').hidden = FINAL.has(job.status);
      if (this.timeline) {
        this.timeline.reset(job.timeline, job.frames_total, job.fps, job.persons_timeline, job.every_n_frames);
        this.renderLegend();
      }
      this.$("[data-timeline-block]").hidden = job.kind !== "video";
      this.showError(job.status === "FAILED" ? "This job failed: " + (job.error || "no reason was recorded.") : "");
      this.renderProgress();
      const frames = job.result_frames || [];
      if (frames.length && !FINAL.has(job.status)) this.showLatestFrame(frames[frames.length - 1].url);
      this.renderResults();
    }

    renderProgress() {
      const job = this.job;
      const status = this.field("status");
      status.textContent = STATUS_TEXT[job.status] || job.status;
      status.dataset.status = job.status;
      document.title = job.original_name + " · " + stateText(job) + " · " + SITE_NAME;
      const value = job.status === "SUCCEEDED" ? 100 : job.progress || 0;
      const bar = this.$("[data-progress]");
      bar.setAttribute("aria-valuenow", String(value));
      bar.dataset.state = job.status;
      bar.querySelector(".progress-fill").style.width = value + "%";
      this.field("progress").textContent = value + "%";
      const unit = job.kind === "video" ? " frames analysed" : job.frames_total === 1 ? " image" : " frames";
      this.field("frames").textContent = (job.frames_done || 0) + " / " + (job.frames_total || "?") + unit;
      this.field("faces").textContent = (job.faces_found || 0) + (job.faces_found === 1 ? " face" : " faces") + " found";
    }

    showLatestFrame(url) {
      const figure = this.$("[data-latest-frame]");
      const image = this.$("[data-latest-frame-img]");
      if (image.getAttribute("src") !== url) image.setAttribute("src", url);
      // The caption names the frame shown, which is not always the last one analysed.
      const match = /\/frames\/(\d+)\.jpg$/.exec(url);
      const where = match && this.job.fps ? " · frame " + match[1] + " at " + (match[1] / this.job.fps).toFixed(1) + " s" : "";
      this.$("[data-latest-frame-caption]").textContent = "Latest annotated frame" + where;
      figure.hidden = FINAL.has(this.job.status);
    }

    renderResults() {
      const job = this.job;
      const done = job.status === "SUCCEEDED";
      this.$("[data-results]").hidden = !done;
      if (!done) return;
      this.$("[data-latest-frame]").hidden = true;
      this.renderSummary();
      this.renderFaces();
      this.renderGallery();
    }

    renderSummary() {
      const job = this.job;
      const summary = job.summary || {};
      const list = this.$("[data-summary]");
      list.replaceChildren();
      const add = (term, value) => {
        const item = document.createElement("div");
        item.className = "stat";
        const dt = document.createElement("dt");
        dt.textContent = term;
        const dd = document.createElement("dd");
        dd.textContent = value;
        // Words in a box sized for numbers would wrap: they get a smaller face.
        if (value.length > 8) dd.className = "stat-text";
        item.append(dt, dd);
        list.appendChild(item);
      };
      const label = summary.label || (job.faces_found ? null : "no face");
      add(job.kind === "video" ? "Video label" : "Faces", job.kind === "video" ? label || "—" : String(job.faces_found || 0));
      const note = this.$("[data-summary-note]");
      note.textContent = job.kind === "video" ? mainPersonText(summary) : "";
      note.hidden = !note.textContent;
      if (job.kind === "video") {
        if (summary.confidence !== null && summary.confidence !== undefined) add("Its confidence", percent(summary.confidence));
        add("Mean confidence, all faces", percent(summary.mean_confidence));
        add("Std. of confidence", percent(summary.std_confidence));
        add("Frames analysed", String(summary.frames_analyzed ?? job.frames_done));
        add("Frames with faces", String(summary.frames_with_faces ?? "—"));
        add("What was analysed", samplingText(job.every_n_frames));
      }
      if (job.duration_seconds !== null && job.duration_seconds !== undefined) add("Took", fixed(job.duration_seconds, 1) + " s");
    }

    renderFaces() {
      const job = this.job;
      const table = this.$("[data-faces-table]");
      const head = table.querySelector("thead");
      const body = table.querySelector("tbody");
      head.replaceChildren();
      body.replaceChildren();
      const summary = job.summary || {};
      const persons = summary.persons || [];
      const heading = this.$("[data-faces-heading]");
      const fragments = this.$("[data-fragments-note]");
      fragments.textContent = job.kind === "video" ? fragmentsText(summary) : "";
      fragments.hidden = !fragments.textContent;
      if (job.kind === "video") {
        heading.textContent = "Persons (faces followed across frames)";
        head.appendChild(headerRow([["Person"], ["Label"], ["Confidence", true], ["P(female), 95% interval", true], ["Frames seen", true], ["On screen", true]]));
        for (const person of persons) {
          const row = document.createElement("tr");
          const main = person.track_id === summary.main_track_id ? " (on screen longest)" : "";
          row.append(
            textCell("#" + person.track_id + main),
            labelCell(person.label),
            textCell(percent(person.confidence), true),
            textCell(fixed(person.p_female, 2) + " (" + fixed(person.p_female_low, 2) + " – " + fixed(person.p_female_high, 2) + ")", true),
            textCell(String(person.frames_seen), true),
            textCell(whenText(person.first_time_seconds, person.first_frame) + " – " + whenText(person.last_time_seconds, person.last_frame), true),
          );
          row.dataset.trackId = String(person.track_id);
          body.appendChild(row);
        }
      } else {
        heading.textContent = "Faces";
        head.appendChild(headerRow([["Face"], ["Label"], ["Confidence", true], ["P(female)", true], ["Box (x, y, w, h)", true]]));
        // An image is a single analysed frame: its faces are the latest ones.
        const faces = job.latest_faces || [];
        faces.forEach((face, position) => {
          const row = document.createElement("tr");
          const box = Array.isArray(face.box) ? face.box : [face.box.x, face.box.y, face.box.w, face.box.h];
          row.append(
            textCell("#" + (position + 1)),
            labelCell(face.label),
            textCell(percent(face.confidence), true),
            textCell(fixed(face.p_female, 3), true),
            textCell(box.join(", "), true),
          );
          body.appendChild(row);
        });
      }
      if (!body.children.length) {
        const row = document.createElement("tr");
        const empty = !job.faces_found
          ? "No face was found in the analysed frames."
          : "No face was seen in more than 2 frames in a row: no person to list.";
        const cell = textCell(job.kind === "video" ? empty : "No face was found in this image.");
        cell.colSpan = head.querySelectorAll("th").length || 1;
        cell.className = "muted";
        row.appendChild(cell);
        body.appendChild(row);
      }
    }

    renderGallery() {
      const job = this.job;
      const gallery = this.$("[data-gallery]");
      const frames = job.result_frames || [];
      gallery.replaceChildren();
      gallery.classList.toggle("gallery-single", job.kind !== "video");
      this.$("[data-gallery-heading]").textContent = job.kind === "video" ? "Annotated frames" : "Annotated image";
      this.$("[data-gallery-heading]").hidden = !frames.length;
      for (const frame of frames) {
        const figure = document.createElement("figure");
        const link = document.createElement("a");
        link.href = frame.url;
        const image = document.createElement("img");
        image.src = frame.url;
        image.alt = job.kind === "video" ? "Annotated frame " + frame.index : "Annotated image";
        link.appendChild(image);
        figure.appendChild(link);
        if (job.kind === "video") {
          const caption = document.createElement("figcaption");
          caption.textContent = "Frame " + frame.index + (job.fps ? " · " + (frame.index / job.fps).toFixed(1) + " s" : "");
          figure.appendChild(caption);
        }
        gallery.appendChild(figure);
      }
    }
  }

  window.GenrecJob = {
    /** Show a job in a panel and follow it until it ends; returns the view (call .stop() to leave it). */
    follow(panel, job) {
      const view = new JobView(panel, job);
      view.start();
      return view;
    },
  };

  // Destructive forms ask first; one listener serves every panel, however often it is reused.
  document.addEventListener("submit", (event) => {
    const form = event.target;
    if (form.dataset && form.dataset.confirm && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  // The job page: start from the snapshot rendered into the page.
  document.addEventListener("DOMContentLoaded", () => {
    const data = document.getElementById("job-snapshot");
    const panel = document.querySelector("[data-job-panel]");
    if (data && panel) window.GenrecJob.follow(panel, JSON.parse(data.textContent));
  });
})();
