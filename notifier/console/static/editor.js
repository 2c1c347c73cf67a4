// The console's editors: CodeMirror (window.CM, vendor/codemirror) over each
// textarea[data-editor], kept in sync with it so the form posts what is typed; problems
// sent with a preview (script#editor-problems: {file: [{line, message}]}) go to the lint
// gutter of the file's editor. Forms with class "editor" get a "draft-changed" event on
// every edit, which their hx-trigger debounces into a preview.
(function () {
  "use strict";
  const views = new Map();   // textarea name -> EditorView
  let quiet = false;         // set while the server's text is put in (no echo request)

  function changed(area) {
    const form = area.form;
    if (form && !quiet) form.dispatchEvent(new CustomEvent("draft-changed", { bubbles: true }));
  }

  function attach(area) {
    if (views.has(area.name) || !window.CM) return;
    const language = CM.languages[area.dataset.editor] || CM.languages.text;
    const view = new CM.EditorView({
      doc: area.value,
      extensions: [
        CM.basicSetup, language(), CM.lintGutter(), CM.EditorView.lineWrapping,
        CM.EditorView.contentAttributes.of({ "aria-label": area.labels[0] ? area.labels[0].textContent.trim() : area.name,
                                             "data-name": area.name }),
        CM.EditorView.updateListener.of(function (update) {
          if (!update.docChanged) return;
          area.value = update.state.doc.toString();
          changed(area);
          area.dispatchEvent(new Event("editor-input", { bubbles: true }));
        }),
      ],
    });
    view.dom.dataset.name = area.name;
    area.hidden = true;
    area.after(view.dom);
    views.set(area.name, view);
  }

  function setText(name, text) {
    const view = views.get(name);
    if (!view) return;
    const area = document.querySelector(`textarea[name="${CSS.escape(name)}"]`);
    const old = view.state.doc.toString();
    if (old === text) return;
    let at = 0;  // the first changed character: shown, so a field edit is seen in the TOML
    while (at < old.length && at < text.length && old[at] === text[at]) at++;
    quiet = true;
    try {
      view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: text },
                      effects: CM.EditorView.scrollIntoView(Math.min(at, text.length), { y: "center" }) });
      if (area) area.value = text;
    } finally { quiet = false; }
  }

  function showProblems() {
    const data = document.getElementById("editor-problems");
    if (!data) return;
    let problems = {};
    try { problems = JSON.parse(data.textContent || "{}"); } catch (e) { problems = {}; }
    views.forEach(function (view, name) {
      const doc = view.state.doc;
      const found = (problems[name] || []).map(function (p) {
        const line = doc.line(Math.min(Math.max(1, p.line || 1), doc.lines));
        return { from: line.from, to: line.to, severity: "error", message: p.message };
      });
      view.dispatch(CM.setDiagnostics(view.state, found));
      view.dom.classList.toggle("has-problems", found.length > 0);
    });
  }

  function showLocale(form, locale) {
    form.querySelectorAll("[data-locale]").forEach(function (box) {
      box.hidden = box.dataset.locale !== locale;
    });
  }

  // The rule editor: a field edit answers with the new TOML and the problems by field.
  function syncRule() {
    const fresh = document.getElementById("rule-toml-new");
    if (fresh) {
      setText("toml", JSON.parse(fresh.textContent));
      fresh.remove();
    }
    const byField = document.getElementById("rule-field-problems");
    if (!byField) return;
    const problems = JSON.parse(byField.textContent || "{}");
    document.querySelectorAll("#rule-fields [data-field]").forEach(function (box) {
      const found = problems[box.dataset.field] || [];
      box.classList.toggle("has-problem", found.length > 0);
      const note = box.querySelector(".field-problem");
      if (note) note.textContent = found.join("; ");
    });
  }

  function init(root) {
    root.querySelectorAll("textarea[data-editor]").forEach(attach);
    syncRule();
    showProblems();
  }

  document.addEventListener("DOMContentLoaded", function () {
    init(document);
    document.querySelectorAll("form.editor").forEach(function (form) {
      form.addEventListener("change", function (event) {
        const target = event.target;
        if (target.name === "locale") showLocale(form, target.value);
        if (target.name === "locale" || target.name === "sample") changed(target);
      });
    });
    document.addEventListener("click", function (event) {
      const pick = event.target.closest("button.pick");
      if (!pick) return;
      const select = document.getElementById("sample");
      let option = Array.from(select.options).find(function (o) { return o.value === pick.dataset.sample; });
      if (!option) {
        option = new Option(pick.dataset.label, pick.dataset.sample);
        select.add(option);
      }
      select.value = pick.dataset.sample;
      select.dispatchEvent(new Event("change", { bubbles: true }));
    });
  });
  document.addEventListener("htmx:afterSettle", function (event) { init(event.target); });
  window.NotifierEditor = { views: views, setText: setText, showProblems: showProblems };
})();
