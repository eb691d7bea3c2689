/** A form that sends one API request: the API's error beside its field, or a success note; typed input stays. */
import type { ApiResult } from "./api.ts";
import { type Child, clearErrors, formError, h, showError } from "./dom.ts";

export interface ApiFormOptions<T> {
  title?: string;
  level?: "h1" | "h2" | "h3" | "h4";
  /** `card` (default), `subform`, or more classes */
  className?: string;
  body: Child[];
  submit: string;
  /** buttons after the submit button */
  buttons?: Child[];
  send(): Promise<ApiResult<T>>;
  /** after success: a note for the status line, or nothing when the page moves on */
  done(result: T): string | Node | undefined;
}

export function apiForm<T>(options: ApiFormOptions<T>): HTMLFormElement {
  const status = h("p", { class: "saved", role: "status" });
  const form = h(
    "form",
    { class: options.className ?? "card", novalidate: true },
    options.title ? h(options.level ?? "h2", {}, options.title) : null,
    formError(),
    ...options.body,
    h(
      "div",
      { class: "buttons" },
      h("button", { type: "submit", class: "primary" }, options.submit),
      ...(options.buttons ?? []),
      status,
    ),
  );
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    status.textContent = "";
    const r = await options.send();
    if (!r.ok) return showError(form, r.body.error_msg ?? `HTTP ${r.status}`);
    clearErrors(form);
    const note = options.done(r.body);
    if (note !== undefined) status.replaceChildren(note);
  });
  return form;
}
