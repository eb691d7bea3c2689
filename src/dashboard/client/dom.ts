/** A tiny DOM builder and the form pieces every page uses: labelled fields with an error slot beside them. */

export type Child = Node | string | number | false | null | undefined | Child[];
type Attrs = Record<string, string | number | boolean | ((e: Event) => void) | undefined>;

let nextId = 0;

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === false) continue;
    if (typeof v === "function") el.addEventListener(k.slice(2), v);
    else if (v === true) el.setAttribute(k, "");
    else el.setAttribute(k, String(v));
  }
  append(el, children);
  return el;
}

function append(el: Element, children: Child[]): void {
  for (const c of children) {
    if (c === false || c === null || c === undefined) continue;
    if (Array.isArray(c)) append(el, c);
    else el.append(typeof c === "object" ? c : String(c));
  }
}

export function uid(prefix: string): string {
  nextId += 1;
  return `${prefix}-${nextId}`;
}

export type Control = HTMLInputElement | HTMLSelectElement | HTMLTextAreaElement;

/**
 * A label tied to its control, an optional hint and an error slot (`aria-describedby`), marked with the
 * API field path it edits (`data-field="server_port"`), so an API error can be put next to it.
 */
export function field(
  label: string,
  control: Control,
  options: { field?: string; hint?: string; warning?: boolean } = {},
): HTMLElement {
  const id = control.id || uid("f");
  control.id = id;
  const errorId = `${id}-error`;
  const hintId = `${id}-hint`;
  control.setAttribute("aria-describedby", options.hint ? `${hintId} ${errorId}` : errorId);
  if (options.field) control.dataset.field = options.field;
  return h(
    "div",
    { class: "field" },
    h("label", { for: id }, label),
    control,
    options.hint ? h("small", { id: hintId, class: options.warning ? "hint warning" : "hint" }, options.hint) : null,
    h("p", { id: errorId, class: "error", role: "alert", hidden: true }),
  );
}

export function input(attrs: Attrs = {}): HTMLInputElement {
  return h("input", { type: "text", ...attrs });
}

export function select(options: [string, string][], value?: string, attrs: Attrs = {}): HTMLSelectElement {
  const el = h("select", attrs, ...options.map(([v, text]) => h("option", { value: v }, text)));
  if (value !== undefined) el.value = value;
  return el;
}

export function button(text: string, onclick: (e: Event) => void, attrs: Attrs = {}): HTMLButtonElement {
  return h("button", { type: "button", ...attrs, onclick }, text);
}

/** `invalid "upstream.nodes.0.port": …` or `unknown field "x"` → the field path the API names */
export function fieldOf(message: string): string | undefined {
  return /^(?:invalid|unknown field) "([^"]+)"/.exec(message)?.[1];
}

/** clears earlier errors in the form */
export function clearErrors(form: HTMLElement): void {
  for (const el of form.querySelectorAll<HTMLElement>(".error")) {
    el.hidden = true;
    el.textContent = "";
  }
  for (const el of form.querySelectorAll("[aria-invalid]")) el.removeAttribute("aria-invalid");
}

/**
 * Shows an API error beside the control for the field it names (the longest matching path prefix),
 * or at the top of the form; nothing the user typed is touched.
 */
export function showError(form: HTMLElement, message: string): void {
  clearErrors(form);
  const path = fieldOf(message);
  let target: HTMLElement | undefined;
  if (path) {
    const controls = [...form.querySelectorAll<HTMLElement>("[data-field]")];
    let best = -1;
    for (const c of controls) {
      const f = c.dataset.field!;
      if ((path === f || path.startsWith(`${f}.`)) && f.length > best) {
        best = f.length;
        target = c;
      }
    }
  }
  const slot = target
    ? document.getElementById(`${target.id}-error`)
    : form.querySelector<HTMLElement>(":scope > .form-error");
  if (!slot) return;
  slot.textContent = message;
  slot.hidden = false;
  if (target) {
    target.setAttribute("aria-invalid", "true");
    target.focus();
  }
}

export function formError(): HTMLElement {
  return h("p", { class: "error form-error", role: "alert", hidden: true });
}

export function when(iso: string | null | undefined): string {
  if (!iso) return "—";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}
