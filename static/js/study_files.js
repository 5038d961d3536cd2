/* Deepfake study of loose videos: pick or drop files or folders, label each (from its FakeAVCeleb path, or by
   hand), then send them one by one to the staff member's draft study and run it. */
(function () {
  "use strict";

  const VIDEO_SUFFIXES = [".mp4", ".webm", ".avi", ".mov"];
  const GENDER_KEYS = { men: "male", man: "male", male: "male", women: "female", woman: "female", female: "female" };
  const LABELS = ["category", "ethnicity", "gender"];

  // Letters only, lower case: 'Asian_East', 'Asian (East)' and 'asian-east' share one key (as layout.py does).
  const nameKey = (name) => name.toLowerCase().replace(/[^a-z]/g, "");

  function isVideo(name) {
    const lower = name.toLowerCase();
    return VIDEO_SUFFIXES.some((suffix) => lower.endsWith(suffix)) && !lower.split("/").pop().startsWith("._");
  }

  /** Labels read from a FakeAVCeleb path ({Category}/{Ethnicity}/{men|women}/[id/]file), as study_video_from_path. */
  function labelsFromPath(path, choices) {
    const parts = path.split("/");
    const categories = new Map(choices.categories.map((name) => [nameKey(name), name]));
    const ethnicities = new Map(choices.ethnicities.map((name) => [nameKey(name), name]));
    const start = parts.slice(0, -1).findIndex((part) => categories.has(nameKey(part)));
    if (start < 0 || parts.length - start < 4) return {};
    const ethnicity = ethnicities.get(nameKey(parts[start + 1]));
    const gender = GENDER_KEYS[nameKey(parts[start + 2])];
    if (!ethnicity || !gender) return { category: categories.get(nameKey(parts[start])) };
    return { category: categories.get(nameKey(parts[start])), ethnicity: ethnicity, gender: gender };
  }

  /** Every file under dropped items, folders walked, with its path relative to what was dropped. */
  async function droppedFiles(items) {
    const files = [];
    async function walk(entry, prefix) {
      if (entry.isFile) {
        const file = await new Promise((resolve, reject) => entry.file(resolve, reject));
        files.push({ file: file, path: prefix + file.name });
      } else if (entry.isDirectory) {
        const reader = entry.createReader();
        let batch;
        do {
          batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject));
          for (const child of batch) await walk(child, prefix + entry.name + "/");
        } while (batch.length);
      }
    }
    const entries = [...items].map((item) => item.webkitGetAsEntry && item.webkitGetAsEntry()).filter(Boolean);
    for (const entry of entries) await walk(entry, "");
    return files;
  }

  function select(name, label, options, value) {
    const element = document.createElement("select");
    element.name = name;
    element.setAttribute("aria-label", label);
    element.required = true;
    element.add(new Option("Choose…", ""));
    for (const [optionValue, text] of options) element.add(new Option(text, optionValue));
    element.value = value || "";
    return element;
  }

  function setUp(form, choices) {
    const tableWrap = form.querySelector("[data-files-table-wrap]");
    const body = form.querySelector("[data-files-table] tbody");
    const button = form.querySelector("[data-run-button]");
    const status = form.querySelector("[data-files-status]");
    const errorBox = form.querySelector("[data-files-error]");
    const dropzone = form.querySelector("[data-files-dropzone]");
    const options = {
      category: choices.categories.map((name) => [name, name]),
      ethnicity: choices.ethnicities.map((name) => [name, name]),
      gender: choices.genders,
    };
    const rows = []; // { file, path, tr, selects, sent }
    let draft = "";
    let busy = false;

    function showError(text) {
      errorBox.textContent = text;
      errorBox.hidden = !text;
    }

    function missingText() {
      if (!rows.length) return "Choose videos first";
      const missing = LABELS.map((label) => [label, rows.filter((row) => !row.selects[label].value).length]);
      const parts = missing
        .filter(([, count]) => count)
        .map(([label, count]) => `the ${label} of ${count} video${count > 1 ? "s" : ""}`);
      return parts.length ? "Set " + parts.join(", ") : "";
    }

    function refresh() {
      const missing = missingText();
      tableWrap.hidden = !rows.length;
      for (const row of rows) {
        for (const label of LABELS) row.selects[label].classList.toggle("is-missing", !row.selects[label].value);
      }
      button.disabled = busy || Boolean(missing);
      button.textContent = missing || `Run the study on ${rows.length} video${rows.length > 1 ? "s" : ""}`;
    }

    function addRow(file, path) {
      const labels = labelsFromPath(path, choices);
      const tr = document.createElement("tr");
      const nameCell = document.createElement("th");
      nameCell.scope = "row";
      const code = document.createElement("code");
      code.textContent = path;
      nameCell.append(code);
      tr.append(nameCell);
      const selects = {};
      for (const label of LABELS) {
        selects[label] = select(label, `${label[0].toUpperCase() + label.slice(1)} of ${path}`, options[label], labels[label]);
        selects[label].addEventListener("change", refresh);
        const cell = document.createElement("td");
        cell.append(selects[label]);
        tr.append(cell);
      }
      const state = document.createElement("td");
      state.dataset.fileState = "";
      state.textContent = "waiting";
      const remove = document.createElement("button");
      remove.type = "button";
      remove.className = "button button-quiet button-small";
      remove.textContent = "Remove";
      remove.setAttribute("aria-label", "Remove " + path);
      const row = { file: file, path: path, tr: tr, selects: selects, state: state, sent: false };
      remove.addEventListener("click", () => {
        rows.splice(rows.indexOf(row), 1);
        tr.remove();
        refresh();
      });
      const removeCell = document.createElement("td");
      removeCell.append(remove);
      tr.append(state, removeCell);
      body.append(tr);
      rows.push(row);
    }

    function addFiles(items) {
      showError("");
      const known = new Set(rows.map((row) => row.path));
      const skipped = items.filter((item) => !isVideo(item.path)).length;
      for (const item of items) {
        if (isVideo(item.path) && !known.has(item.path)) addRow(item.file, item.path);
      }
      status.textContent = skipped ? `${skipped} file(s) that are not videos were left out.` : "";
      refresh();
    }

    function post(url, data) {
      return fetch(url, {
        method: "POST",
        body: data,
        headers: { "X-CSRFToken": form.elements.csrfmiddlewaretoken.value, Accept: "application/json" },
        credentials: "same-origin",
      }).then(async (response) => {
        let answer = {};
        try {
          answer = await response.json();
        } catch (error) {
          // Not JSON (a proxy's page): the status says enough.
        }
        if (!response.ok) throw new Error(answer.error || `The server answered ${response.status}. Please try again.`);
        return answer;
      });
    }

    async function sendRow(row, number) {
      status.textContent = `Sending video ${number} of ${rows.length}: ${row.path}…`;
      row.state.textContent = "sending…";
      const data = new FormData();
      data.append("file", row.file, row.file.name);
      data.append("path", row.path);
      data.append("draft", draft);
      for (const label of LABELS) data.append(label, row.selects[label].value);
      try {
        const answer = await post(form.action, data);
        draft = answer.draft;
        row.sent = true;
        row.state.textContent = "checked";
        for (const label of LABELS) row.selects[label].disabled = true;
        row.tr.querySelector("button").hidden = true;
      } catch (error) {
        row.state.textContent = "refused";
        throw new Error(`${row.path}: ${error.message}`);
      }
    }

    async function run() {
      busy = true;
      refresh();
      showError("");
      try {
        for (const [index, row] of rows.entries()) {
          if (!row.sent) await sendRow(row, index + 1);
        }
        status.textContent = "Every video was checked. Starting the study…";
        const data = new FormData();
        data.append("draft", draft);
        for (const name of ["name", "every_n_frames", "max_frames"]) data.append(name, form.elements[name].value);
        const answer = await post(form.dataset.runUrl, data);
        window.location.assign(answer.page);
      } catch (error) {
        status.textContent = "";
        showError(error.message + " Fix or remove it, then press the button again: the videos already checked stay.");
        busy = false;
        refresh();
      }
    }

    for (const input of form.querySelectorAll("[data-files-input]")) {
      input.addEventListener("change", () => {
        addFiles([...input.files].map((file) => ({ file: file, path: file.webkitRelativePath || file.name })));
        input.value = "";
      });
    }
    for (const name of ["dragenter", "dragover"]) {
      dropzone.addEventListener(name, (event) => {
        event.preventDefault();
        dropzone.classList.add("is-dragging");
      });
    }
    for (const name of ["dragleave", "dragend"]) dropzone.addEventListener(name, () => dropzone.classList.remove("is-dragging"));
    dropzone.addEventListener("drop", async (event) => {
      event.preventDefault();
      dropzone.classList.remove("is-dragging");
      addFiles(await droppedFiles(event.dataTransfer.items));
    });
    form.addEventListener("submit", (event) => {
      event.preventDefault();
      if (!busy && !missingText()) run();
    });
    refresh();
  }

  document.addEventListener("DOMContentLoaded", () => {
    const form = document.querySelector("[data-study-files-form]");
    const choices = document.getElementById("study-label-choices");
    if (form && choices) setUp(form, JSON.parse(choices.textContent));
  });
})();
