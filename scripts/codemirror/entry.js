// The one CodeMirror 6 bundle the console's editors load (window.CM).
// Rebuild: cd scripts/codemirror && npm ci && npm run build && node licences.mjs
import { basicSetup } from "codemirror";
import { EditorView, keymap } from "@codemirror/view";
import { EditorState, Compartment } from "@codemirror/state";
import { StreamLanguage } from "@codemirror/language";
import { html } from "@codemirror/lang-html";
import { jinja } from "@codemirror/lang-jinja";
import { toml } from "@codemirror/legacy-modes/mode/toml";
import { lintGutter, setDiagnostics, forceLinting } from "@codemirror/lint";

const languages = {
  html: () => jinja({ base: html() }),
  text: () => jinja(),
  toml: () => StreamLanguage.define(toml),
};

window.CM = {
  EditorView, EditorState, Compartment, keymap, basicSetup, lintGutter, setDiagnostics,
  forceLinting, languages,
};
