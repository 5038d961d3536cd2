/* The P(female) timeline of a video job, drawn in SVG: one smoothed curve per person once the job has finished
   (persons_timeline: {track_id: [[frame_index, time_seconds, p_female_smoothed], ...]}), or the raw per-frame
   points [frame_index, time_seconds, mean p_female of the frame's faces|null, n_faces] while it runs or on request. */
(function () {
  "use strict";

  const SVG_NS = "http://www.w3.org/2000/svg";
  const HEIGHT = 180;
  const MIN_WIDTH = 320;
  // The right margin holds the "female" and "male" band labels, outside the plot where the curve cannot cover them.
  const PAD = { left: 40, right: 56, top: 12, bottom: 28 };
  const PLOT_H = HEIGHT - PAD.top - PAD.bottom;
  const PERSON_COLOURS = 4; // person curves cycle through the CSS classes person-0 .. person-3
  // A person's curve breaks where they were not seen for more than this many analysed frames.
  const CURVE_BREAK_FRAMES = 5;

  function element(name, attributes, text) {
    const node = document.createElementNS(SVG_NS, name);
    for (const [key, value] of Object.entries(attributes || {})) node.setAttribute(key, value);
    if (text !== undefined) node.textContent = text;
    return node;
  }

  /** One piece of a curve: a polyline, or a dot when it is a single point; ``extra`` adds a class. */
  function drawSegment(svg, segment, extra) {
    const suffix = extra ? " " + extra : "";
    if (segment.length === 1) {
      svg.appendChild(element("circle", { cx: segment[0][0], cy: segment[0][1], r: 2.5, class: "series-dot" + suffix }));
    } else if (segment.length > 1) {
      svg.appendChild(element("polyline", { points: segment.map((pt) => pt.join(",")).join(" "), class: "series" + suffix }));
    }
  }

  function formatSeconds(seconds) {
    if (seconds < 60) return seconds.toFixed(seconds < 10 ? 1 : 0) + " s";
    const minutes = Math.floor(seconds / 60);
    return minutes + ":" + String(Math.round(seconds % 60)).padStart(2, "0");
  }

  class Timeline {
    constructor(svg) {
      this.svg = svg;
      this.points = new Map(); // frame_index -> [time_seconds, p_female|null, n_faces]
      this.persons = {}; // track_id -> [[frame_index, time_seconds, p_female_smoothed], ...]
      this.showRaw = false;
      this.everyN = 1;
      this.framesTotal = 0;
      this.fps = 0;
      this.pending = false;
      // Drawn at the element's own pixel width, so text stays crisp and unstretched at any size.
      if (window.ResizeObserver) new window.ResizeObserver(() => this.scheduleDraw()).observe(svg);
    }

    /** Replace every point (a snapshot), the persons' smoothed curves and the video's length. */
    reset(points, framesTotal, fps, persons, everyN) {
      this.points.clear();
      this.persons = persons || {};
      this.everyN = everyN || 1;
      this.framesTotal = framesTotal || 0;
      this.fps = fps || 0;
      this.add(points || []);
    }

    /** The colour class of the n-th person's curve (the legend uses it too). */
    static personClass(order) {
      return "person-" + (order % PERSON_COLOURS);
    }

    /** Whether there are smoothed curves to show (only once the job has finished). */
    hasPersons() {
      return Object.keys(this.persons).length > 0;
    }

    /** Show the raw per-frame values (true) or the persons' smoothed curves (false). */
    setRaw(showRaw) {
      this.showRaw = Boolean(showRaw);
      this.scheduleDraw();
    }

    /** Add points as they arrive; frames already known are overwritten, so a resync never doubles a point. */
    add(points) {
      for (const [index, time, pFemale, faces] of points) this.points.set(index, [time, pFemale, faces]);
      this.scheduleDraw();
    }

    scheduleDraw() {
      if (this.pending) return;
      this.pending = true;
      window.requestAnimationFrame(() => {
        this.pending = false;
        this.draw();
      });
    }

    lastFrame() {
      let last = 0;
      for (const index of this.points.keys()) last = Math.max(last, index);
      return Math.max(last + 1, this.framesTotal);
    }

    draw() {
      const svg = this.svg;
      while (svg.firstChild) svg.removeChild(svg.firstChild);
      const width = Math.max(MIN_WIDTH, Math.round(svg.clientWidth || 640));
      const plotWidth = width - PAD.left - PAD.right;
      svg.setAttribute("viewBox", "0 0 " + width + " " + HEIGHT);
      const span = this.lastFrame();
      const x = (index) => PAD.left + (span > 1 ? (index / (span - 1)) * plotWidth : plotWidth / 2);
      const y = (p) => PAD.top + (1 - p) * PLOT_H;

      svg.appendChild(element("rect", { x: PAD.left, y: y(1), width: plotWidth, height: PLOT_H / 2, class: "band-female" }));
      svg.appendChild(element("rect", { x: PAD.left, y: y(0.5), width: plotWidth, height: PLOT_H / 2, class: "band-male" }));
      svg.appendChild(element("line", { x1: PAD.left, x2: PAD.left + plotWidth, y1: y(0.5), y2: y(0.5), class: "midline" }));
      svg.appendChild(element("line", { x1: PAD.left, x2: PAD.left + plotWidth, y1: y(0), y2: y(0), class: "axis" }));
      for (const [p, label] of [[1, "1.0"], [0.5, "0.5"], [0, "0.0"]]) {
        svg.appendChild(element("text", { x: PAD.left - 6, y: y(p) + 4, "text-anchor": "end", class: "axis-text" }, label));
      }
      const bandLabelX = PAD.left + plotWidth + 8;
      svg.appendChild(element("text", { x: bandLabelX, y: y(0.75) + 4, class: "axis-text band-label-female" }, "female"));
      svg.appendChild(element("text", { x: bandLabelX, y: y(0.25) + 4, class: "axis-text band-label-male" }, "male"));
      const endLabel = this.fps > 0 ? formatSeconds(span / this.fps) : "frame " + span;
      svg.appendChild(element("text", { x: PAD.left, y: HEIGHT - 8, class: "axis-text" }, this.fps > 0 ? "0 s" : "frame 0"));
      svg.appendChild(element("text", { x: PAD.left + plotWidth, y: HEIGHT - 8, "text-anchor": "end", class: "axis-text" }, endLabel));

      const lastIndex = this.showRaw || !this.hasPersons() ? this.drawRaw(x, y) : this.drawPersons(x, y);
      if (lastIndex >= 0 && lastIndex + 1 < span) {
        const cursor = x(lastIndex);
        svg.appendChild(element("line", { x1: cursor, x2: cursor, y1: y(1), y2: y(0), class: "cursor" }));
      }
    }

    /** The mean P(female) of each frame's faces, one value per pixel column; returns the last frame index. */
    drawRaw(x, y) {
      const svg = this.svg;
      // One value per pixel column: a long video stays cheap to redraw however many frames it has.
      const columns = new Map();
      const gaps = new Set();
      let lastIndex = -1;
      for (const [index, [, pFemale]] of this.points) {
        const column = Math.round(x(index));
        lastIndex = Math.max(lastIndex, index);
        if (pFemale === null || pFemale === undefined) {
          gaps.add(column);
          continue;
        }
        const sum = columns.get(column) || [0, 0];
        columns.set(column, [sum[0] + pFemale, sum[1] + 1]);
      }
      for (const column of gaps) {
        if (!columns.has(column)) svg.appendChild(element("line", { x1: column, x2: column, y1: y(0) - 6, y2: y(0), class: "gap-tick" }));
      }
      const ordered = [...columns.entries()].sort((a, b) => a[0] - b[0]);
      // A segment breaks where frames without faces separate the columns with values.
      let segment = [];
      const flush = () => {
        drawSegment(svg, segment);
        segment = [];
      };
      let previousColumn = null;
      for (const [column, [sum, count]] of ordered) {
        if (previousColumn !== null) {
          for (let between = previousColumn + 1; between < column; between++) {
            if (gaps.has(between)) {
              flush();
              break;
            }
          }
        }
        segment.push([column, y(sum / count).toFixed(1)]);
        previousColumn = column;
      }
      flush();
      return lastIndex;
    }

    /** One smoothed line per person (a dot where a piece is a single frame), frames without faces ticked. */
    drawPersons(x, y) {
      const svg = this.svg;
      let lastIndex = -1;
      const gaps = new Set();
      for (const [index, [, pFemale]] of this.points) {
        lastIndex = Math.max(lastIndex, index);
        if (pFemale === null || pFemale === undefined) gaps.add(Math.round(x(index)));
      }
      for (const column of gaps) svg.appendChild(element("line", { x1: column, x2: column, y1: y(0) - 6, y2: y(0), class: "gap-tick" }));
      Object.keys(this.persons).forEach((trackId, order) => {
        const colour = Timeline.personClass(order);
        let segment = [];
        let previous = null;
        const flush = () => {
          drawSegment(svg, segment, colour);
          segment = [];
        };
        for (const [index, , pSmoothed] of this.persons[trackId]) {
          if (previous !== null && index - previous > CURVE_BREAK_FRAMES * this.everyN) flush();
          segment.push([x(index).toFixed(1), y(pSmoothed).toFixed(1)]);
          previous = index;
          lastIndex = Math.max(lastIndex, index);
        }
        flush();
      });
      return lastIndex;
    }
  }

  window.GenrecTimeline = Timeline;
})();
