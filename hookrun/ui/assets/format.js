// Small pure helpers: elements, statuses, times, durations, triggers.

export const FINISHED = new Set(["SUCCEEDED", "FAILED", "CANCELLED", "SKIPPED"]);

// h("a", {href: "/ui/"}, "text", child): an element; strings become text nodes, never HTML.
export function h(tag, attributes = {}, ...children) {
  const element = document.createElement(tag);
  for (const [name, value] of Object.entries(attributes)) {
    if (value === null || value === undefined || value === false) continue;
    if (name === "class") element.className = value;
    else if (name.startsWith("on")) element.addEventListener(name.slice(2), value);
    else element.setAttribute(name, value === true ? "" : String(value));
  }
  for (const child of children.flat()) {
    if (child === null || child === undefined || child === false) continue;
    element.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return element;
}

export function statusLabel(status, reason) {
  return status === "CANCELLED" && reason === "SUPERSEDED" ? "CANCELLED · SUPERSEDED" : status || "UNKNOWN";
}

export function badge(status, reason) {
  const known = status ? status.toLowerCase() : "unknown";
  return h("span", { class: `badge status-${known}`, "data-status": status || "" }, statusLabel(status, reason));
}

const pad = (n) => String(n).padStart(2, "0");

export function when(timestamp) {
  if (!timestamp) return "";
  const at = new Date(timestamp);
  if (Number.isNaN(at.getTime())) return timestamp;
  return `${at.getFullYear()}-${pad(at.getMonth() + 1)}-${pad(at.getDate())} ${pad(at.getHours())}:${pad(at.getMinutes())}:${pad(at.getSeconds())}`;
}

export function durationText(milliseconds) {
  if (milliseconds === null || milliseconds === undefined || milliseconds < 0) return "";
  if (milliseconds < 1000) return `${milliseconds} ms`;
  if (milliseconds < 60_000) return `${(milliseconds / 1000).toFixed(1)} s`;
  const seconds = Math.floor(milliseconds / 1000);
  return `${Math.floor(seconds / 60)} min ${pad(seconds % 60)} s`;
}

// From start to finish, or to now while it runs.
export function elapsed(startedAt, finishedAt) {
  if (!startedAt) return "";
  const end = finishedAt ? Date.parse(finishedAt) : Date.now();
  return durationText(end - Date.parse(startedAt));
}

// "webhook", "push main @ 1a2b3c4", "tag v1.2 @ 1a2b3c4" or "re-run of run-…", from a run (and its variables).
export function triggerText(run, variables = {}) {
  const trigger = run.trigger || {};
  const rerunOf = run.rerunOf || trigger.rerunOf;
  if (trigger.kind === "rerun" || rerunOf) return rerunOf ? `re-run of ${shortRun(rerunOf)}` : "re-run";
  if (trigger.kind === "source") {
    const ref = variables.HOOKRUN_TAG ? `tag ${variables.HOOKRUN_TAG}` : variables.HOOKRUN_BRANCH || "";
    const sha = (variables.HOOKRUN_COMMIT_SHA || "").slice(0, 7);
    const source = variables.HOOKRUN_SOURCE || "source";
    return [source, variables.HOOKRUN_EVENT || "event", ref, sha && `@ ${sha}`].filter(Boolean).join(" ");
  }
  return trigger.kind || "";
}

export function shortRun(runId) {
  return runId && runId.length > 16 ? `${runId.slice(0, 12)}…${runId.slice(-4)}` : runId || "";
}

export const CUT_MARKER = "[hookrun: output cut";
