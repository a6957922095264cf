// The run viewer: pipelines, a pipeline's runs, a run with its stages and job output, deliveries.
// Reads only hookrun's /api; every page refreshes itself while it is open.

import { AnsiUp } from "../vendor/ansi_up.js";
import { ApiError, Unreachable, api, loadSession, q, session, setUser } from "./api.js";
import {
  CUT_MARKER,
  FINISHED,
  badge,
  elapsed,
  durationText,
  h,
  shortRun,
  triggerText,
  when,
} from "./format.js";

const view = document.getElementById("view");
const banner = document.getElementById("banner");
const crumbs = document.getElementById("crumbs");
const PAGE_SIZE = 20;
const VIEW_ROLE = "a role on the pipeline (viewer, runner or owner)";
const CONTROL_ROLE = "the runner or owner role on the pipeline";

let generation = 0; // a new page stops the refresh loops of the one before

// Run `step` now and again every `intervalMs` while it returns anything but false and the page is open.
// An API out of reach (or busy: 503) is said in the banner and retried with backoff; other errors end the loop.
function live(step, intervalMs, onError) {
  const mine = generation;
  let timer = null;
  let busy = false;
  let pending = false; // asked for while a step was running: run again right after it
  let failures = 0;
  async function tick() {
    if (mine !== generation) return;
    if (busy) {
      pending = true;
      return;
    }
    clearTimeout(timer);
    busy = true;
    let again;
    try {
      again = await step();
      failures = 0;
      hideBanner();
    } catch (error) {
      busy = false;
      if (mine !== generation) return;
      if (error instanceof Unreachable || (error instanceof ApiError && error.status === 503)) {
        failures += 1;
        const wait = Math.min(10_000, 1000 * 2 ** (failures - 1));
        showUnreachable(error, wait, failures);
        timer = setTimeout(tick, wait);
        return;
      }
      onError(error);
      return;
    }
    busy = false;
    if (mine !== generation) return;
    if (pending) {
      pending = false;
      timer = setTimeout(tick, 0);
    } else if (again !== false) {
      timer = setTimeout(tick, intervalMs);
    }
  }
  tick();
  return { now: tick };
}

function showUnreachable(error, wait, attempt) {
  const where = session.api ? ` at ${session.api}` : "";
  const what = error instanceof Unreachable ? `Cannot reach the hookrun API${where}.` : `The hookrun API is busy (${error.code}).`;
  banner.replaceChildren(
    h("strong", {}, what),
    ` Retrying in ${Math.round(wait / 1000)} s (attempt ${attempt}). The page keeps its last data meanwhile.`,
  );
  banner.hidden = false;
}

function hideBanner() {
  banner.hidden = true;
  banner.replaceChildren();
}

// What the person can do about an error: the role it needs, the user to pick, or the API's own words.
function explain(error, role) {
  if (!(error instanceof ApiError)) return h("p", {}, String(error.message || error));
  const lines = [h("p", { class: "error-code" }, `${error.status} ${error.code}`), h("p", {}, error.message)];
  const unseen = error.status === 404 && ["PIPELINE_NOT_FOUND", "RUN_NOT_FOUND"].includes(error.code);
  if (error.status === 403 || unseen) {
    const need = unseen ? `If it exists, you hold no role on it: seeing it needs ${role}` : `This needs ${role}`;
    lines.push(
      h("p", { class: "hint" }, `${need}. Ask a pipeline owner for it${session.user ? ` for user ${session.user}` : ""}, or act as another user.`),
    );
  } else if (error.status === 401) {
    lines.push(
      h(
        "p",
        { class: "hint" },
        session.mode === "local"
          ? "Pick the acting user at the top of the page."
          : "Your AWS identity is not mapped to a hookrun user; ask a hookrun admin to add its ARN to your user.",
      ),
    );
  }
  return lines;
}

function errorPanel(error, role) {
  return h("section", { class: "panel error-panel", role: "alert" }, h("h2", {}, "Cannot show this"), explain(error, role));
}

function showError(error, role = VIEW_ROLE) {
  view.replaceChildren(errorPanel(error, role));
}

function setCrumbs(...parts) {
  const items = [h("a", { href: "/ui/" }, "Pipelines")];
  for (const [text, href] of parts) items.push(h("span", { class: "sep" }, "›"), href ? h("a", { href }, text) : h("span", {}, text));
  crumbs.replaceChildren(...items);
}

function rememberUsers(userIds) {
  const list = document.getElementById("known-users");
  const known = new Set([...list.options].map((option) => option.value));
  for (const id of userIds) if (!known.has(id)) list.append(h("option", { value: id }));
}

// Pipelines

function filtersText(source) {
  if (!source) return "";
  const events = (source.events || []).join(" and ") || "no events";
  const branches = (source.branches || []).join(", ");
  const tags = (source.tags || []).join(", ");
  return `${events}; branches ${branches || "none"}; tags ${tags || "none"}`;
}

function concurrencyText(concurrency) {
  return concurrency.group ? `${concurrency.mode}, group ${concurrency.group}` : concurrency.mode || "";
}

function webhookBlock(pipeline, webhook, details) {
  const state = webhook.enabled
    ? h("span", { class: "pill on" }, "webhook enabled")
    : h("span", { class: "pill off" }, "webhook disabled");
  const runAs = webhook.runAs ? h("span", {}, "runs as ", h("strong", {}, webhook.runAs)) : null;
  const signed = details && details.webhook && details.webhook.signed ? h("span", { class: "pill" }, "signed") : null;
  const block = [h("div", { class: "webhook" }, state, runAs, signed)];
  if (webhook.problem === "RUN_AS_LOST_PERMISSION") {
    block.push(
      h(
        "div",
        { class: "warning", role: "status", "data-problem": webhook.problem },
        h("strong", {}, "RUN_AS_LOST_PERMISSION: "),
        `the webhook runs as ${webhook.runAs}, who can no longer run this pipeline, so every call is refused with 403 INSUFFICIENT_PERMISSIONS. `,
        h("br"),
        "Remedy: disable the webhook (",
        h("code", {}, `hookrun webhook disable ${pipeline.id}`),
        "), then have a user who can run the pipeline (runner or owner) enable it again (",
        h("code", {}, `hookrun webhook enable ${pipeline.id}`),
        "). The URL stays the same.",
      ),
    );
  }
  return block;
}

function renderPipelines() {
  setCrumbs();
  const list = h("div", { class: "cards" });
  view.replaceChildren(h("h1", {}, "Pipelines"), list);
  live(
    async () => {
      const { pipelines } = await api("/api/pipelines");
      const cards = await Promise.all(
        pipelines.map(async (pipeline) => {
          const path = `/api/pipelines/${q(pipeline.id)}`;
          const [details, runs] = await Promise.all([api(path), api(`${path}/runs?limit=1`)]);
          rememberUsers((details.members || []).map((member) => member.userId));
          const last = runs.runs[0];
          const lastRun = last
            ? h("a", { href: `/ui/runs/${q(last.runId)}`, class: "last-run" }, badge(last.status, last.reason), " ", when(last.createdAt))
            : h("span", { class: "muted" }, "no runs yet");
          return h(
            "article",
            { class: "card pipeline", "data-pipeline": pipeline.id },
            h("div", { class: "card-head" }, h("h2", {}, h("a", { href: `/ui/pipelines/${q(pipeline.id)}` }, pipeline.name)), h("code", { class: "muted" }, pipeline.id)),
            h("div", { class: "row" }, h("span", { class: "label" }, "last run"), lastRun),
            webhookBlock(pipeline, pipeline.webhook, details),
            h("div", { class: "row" }, h("span", { class: "label" }, "source filters"), h("span", { class: "filters" }, filtersText(details.pipeline && details.pipeline.source))),
            details.pipeline && details.pipeline.concurrency
              ? h("div", { class: "row" }, h("span", { class: "label" }, "concurrency"), concurrencyText(details.pipeline.concurrency))
              : null,
            h("div", { class: "links" }, h("a", { href: `/ui/pipelines/${q(pipeline.id)}` }, "Runs"), h("a", { href: `/ui/pipelines/${q(pipeline.id)}/deliveries` }, "Deliveries")),
          );
        }),
      );
      list.replaceChildren(
        ...(cards.length ? cards : [h("p", { class: "muted" }, `No pipelines that ${session.user || "you"} may see. Apply one with hookrun pipelines apply -f FILE, or act as another user.`)]),
      );
    },
    5000,
    (error) => showError(error),
  );
}

// A pipeline's runs, newest first, a page at a time

const sourceVariables = new Map(); // runId -> variables of a source run (its branch and commit never change)

async function variablesOf(runs) {
  const missing = runs.filter((run) => run.trigger && run.trigger.kind === "source" && !sourceVariables.has(run.runId));
  await Promise.all(
    missing.map(async (run) => {
      const detail = await api(`/api/runs/${q(run.runId)}`);
      sourceVariables.set(run.runId, detail.variables || {});
    }),
  );
}

function pager(onNewer, onOlder) {
  const newer = h("button", { type: "button", class: "secondary", onclick: onNewer }, "‹ Newer");
  const older = h("button", { type: "button", class: "secondary", onclick: onOlder }, "Older ›");
  const where = h("span", { class: "muted" });
  return { element: h("div", { class: "pager" }, newer, where, older), newer, older, where };
}

function pipelineTabs(pipelineId, active) {
  const tab = (name, href) => h("a", { href, class: active === name ? "tab active" : "tab" }, name);
  return h("nav", { class: "tabs" }, tab("Runs", `/ui/pipelines/${q(pipelineId)}`), tab("Deliveries", `/ui/pipelines/${q(pipelineId)}/deliveries`));
}

// A paginated, self-refreshing table; `row(item)` draws one item, `fetchPage(cursor)` answers {items, nextCursor}.
function pagedTable({ headings, fetchPage, row, empty, key }) {
  const cursors = [null];
  let index = 0;
  let seen = null;
  const body = h("tbody");
  const controls = pager(
    () => {
      if (index > 0) index -= 1;
      loop.now();
    },
    () => {
      if (cursors[index + 1]) index += 1;
      loop.now();
    },
  );
  const table = h("table", { class: "list" }, h("thead", {}, h("tr", {}, headings.map((text) => h("th", {}, text)))), body);
  const loop = live(
    async () => {
      const { items, nextCursor } = await fetchPage(cursors[index]);
      cursors[index + 1] = nextCursor;
      cursors.length = index + 2;
      const rows = items.map((item) => {
        const tr = row(item);
        tr.dataset.key = key(item);
        if (seen && !seen.has(key(item))) tr.classList.add("fresh");
        return tr;
      });
      seen = new Set([...(seen || []), ...items.map(key)]);
      body.replaceChildren(...(rows.length ? rows : [h("tr", {}, h("td", { colspan: headings.length, class: "muted" }, empty))]));
      controls.newer.disabled = index === 0;
      controls.older.disabled = !nextCursor;
      controls.where.textContent = `page ${index + 1}`;
    },
    2000,
    (error) => showError(error),
  );
  return h("div", {}, h("div", { class: "table-wrap" }, table), controls.element);
}

function cell(label, ...content) {
  return h("td", { "data-label": label }, ...content);
}

function renderRuns(pipelineId) {
  setCrumbs([pipelineId, null], ["Runs", null]);
  const headings = ["Run", "Status", "Trigger", "Run as", "Started", "Duration"];
  const table = pagedTable({
    headings,
    key: (run) => run.runId,
    empty: "No runs yet. Trigger the webhook: the run appears here.",
    fetchPage: async (cursor) => {
      const answer = await api(`/api/pipelines/${q(pipelineId)}/runs?limit=${PAGE_SIZE}${cursor ? `&cursor=${q(cursor)}` : ""}`);
      await variablesOf(answer.runs);
      return { items: answer.runs, nextCursor: answer.nextCursor };
    },
    row: (run) =>
      h(
        "tr",
        { class: "run-row", "data-run": run.runId, "data-status": run.status },
        cell("Run", h("a", { href: `/ui/runs/${q(run.runId)}`, class: "mono" }, shortRun(run.runId))),
        cell("Status", badge(run.status, run.reason)),
        cell("Trigger", triggerText(run, sourceVariables.get(run.runId))),
        cell("Run as", run.trigger ? run.trigger.runAs : ""),
        cell("Started", h("span", { title: run.startedAt || run.createdAt || "" }, when(run.startedAt || run.createdAt))),
        cell("Duration", elapsed(run.startedAt, run.finishedAt)),
      ),
  });
  view.replaceChildren(h("h1", {}, `Runs of ${pipelineId}`), pipelineTabs(pipelineId, "Runs"), table);
}

// Deliveries

function renderDeliveries(pipelineId) {
  setCrumbs([pipelineId, `/ui/pipelines/${q(pipelineId)}`], ["Deliveries", null]);
  const headings = ["Received", "Source", "Event", "Delivery id", "Outcome", "Reason", "Run", "Run as"];
  const table = pagedTable({
    headings,
    key: (delivery) => `${delivery.receivedAt}|${delivery.deliveryId}|${delivery.outcome}`,
    empty: "No deliveries in the last 30 days.",
    fetchPage: async (cursor) => {
      const answer = await api(`/api/pipelines/${q(pipelineId)}/deliveries?limit=${PAGE_SIZE}${cursor ? `&cursor=${q(cursor)}` : ""}`);
      return { items: answer.deliveries, nextCursor: answer.nextCursor };
    },
    row: (delivery) =>
      h(
        "tr",
        { class: "delivery-row", "data-outcome": delivery.outcome },
        cell("Received", when(delivery.receivedAt)),
        cell("Source", delivery.source),
        cell("Event", delivery.event || ""),
        cell("Delivery id", h("span", { class: "mono" }, delivery.deliveryId || "")),
        cell("Outcome", h("span", { class: `outcome outcome-${(delivery.outcome || "").toLowerCase()}` }, delivery.outcome)),
        cell("Reason", delivery.reason ? h("code", {}, delivery.reason) : ""),
        cell("Run", delivery.runId ? h("a", { href: `/ui/runs/${q(delivery.runId)}`, class: "mono" }, shortRun(delivery.runId)) : ""),
        cell("Run as", delivery.runAs || ""),
      ),
  });
  view.replaceChildren(h("h1", {}, `Deliveries of ${pipelineId}`), pipelineTabs(pipelineId, "Deliveries"), table);
}

// A run

async function findDelivery(pipelineId, runId) {
  let cursor = null;
  for (let page = 0; page < 3; page += 1) {
    const answer = await api(`/api/pipelines/${q(pipelineId)}/deliveries?limit=100${cursor ? `&cursor=${q(cursor)}` : ""}`);
    const mine = answer.deliveries.filter((delivery) => delivery.runId === runId);
    if (mine.length) return mine.find((delivery) => delivery.outcome === "RUN_STARTED") || mine[mine.length - 1];
    cursor = answer.nextCursor;
    if (!cursor) break;
  }
  return null;
}

// Whether the acting user may cancel and re-run on this pipeline, as its member list tells.
async function mayControl(pipelineId) {
  if (session.mode === "signed" && !session.user) return true; // unknown identity: the API decides and says why
  try {
    const { members } = await api(`/api/pipelines/${q(pipelineId)}/members`);
    const mine = members.find((member) => member.userId === session.user);
    if (mine) return mine.role === "owner" || mine.role === "runner";
    return true; // sees the run without a role on its pipeline: a hookrun admin
  } catch (error) {
    if (error instanceof ApiError) return false;
    throw error;
  }
}

function splitCut(output) {
  if (!output.startsWith(CUT_MARKER)) return [null, output];
  const end = output.indexOf("\n");
  return end < 0 ? [output, ""] : [output.slice(0, end), output.slice(end + 1)];
}

function jobKey(stageIndex, job) {
  return `${stageIndex}/${job.name}`;
}

function pickJob(run, current) {
  const jobs = run.stages.flatMap((stage, index) => stage.jobs.map((job) => [jobKey(index, job), job]));
  if (current && jobs.some(([key]) => key === current)) return current;
  const by = (status) => jobs.find(([, job]) => job.status === status);
  const chosen = by("FAILED") || by("RUNNING") || jobs.find(([, job]) => job.output) || jobs[0];
  return chosen ? chosen[0] : null;
}

function fact(label, ...value) {
  return [h("dt", {}, label), h("dd", {}, ...value)];
}

function renderRun(runId) {
  setCrumbs(["Run", null], [shortRun(runId), null]);
  const head = h("section", { class: "run-head" });
  const actions = h("div", { class: "actions" });
  const notice = h("div", { class: "notice", role: "status", hidden: true });
  const graph = h("section", { class: "graph", "aria-label": "Stages and jobs" });
  const outputHead = h("div", { class: "output-head" });
  const cutMarker = h("div", { class: "cut-marker", hidden: true });
  const output = h("pre", { class: "output", tabindex: "0" });
  const outputPanel = h("section", { class: "panel output-panel" }, outputHead, cutMarker, output);
  const facts = h("dl", { class: "facts" });
  const variables = h("tbody");
  const side = h(
    "section",
    { class: "panel details" },
    h("h2", {}, "Trigger"),
    facts,
    h("h2", {}, "Variables"),
    h("table", { class: "variables" }, h("thead", {}, h("tr", {}, h("th", {}, "name"), h("th", {}, "value"))), variables),
  );
  view.replaceChildren(head, actions, notice, graph, h("div", { class: "run-body" }, outputPanel, side));

  const state = { selected: null, picked: false, shownOutput: null, shownJob: null, delivery: undefined, lookups: 0, control: null, routesMissing: false, run: null };

  function say(text, kind = "info") {
    notice.className = `notice ${kind}`;
    notice.replaceChildren(...(Array.isArray(text) ? text : [text]));
    notice.hidden = false;
  }

  async function control(kind) {
    const run = state.run;
    const path = kind === "cancel" ? `/api/runs/${q(runId)}/cancel` : `/api/runs/${q(runId)}/rerun${kind === "rerun-failed" ? "?from=failed" : ""}`;
    const doing = kind === "cancel" ? "Cancelling" : "Re-running";
    try {
      const answer = await api(path, { method: "POST" });
      if (kind === "cancel") {
        say("Cancel requested; the run stops in a moment.");
        loop.now();
      } else if (answer.runId) {
        navigate(`/ui/runs/${q(answer.runId)}`);
      }
    } catch (error) {
      if (!(error instanceof ApiError)) {
        say(`${doing} failed: ${error.message}`, "error");
      } else if (error.status === 405 || (error.status === 404 && error.code !== "RUN_NOT_FOUND") || (error.status === 403 && error.code === "HTTP_403")) {
        state.routesMissing = true;
        drawActions(run);
        say("This hookrun stack has no cancel and re-run routes yet: update the stack to use them.", "error");
      } else if (error.status === 403) {
        say([`${doing} needs ${CONTROL_ROLE} ${run.pipelineId}. `, error.message], "error");
      } else {
        say(`${error.code}: ${error.message}`, "error");
      }
    }
  }

  function drawActions(run) {
    const buttons = [];
    if (state.control && !state.routesMissing) {
      if (!FINISHED.has(run.status)) buttons.push(h("button", { type: "button", class: "danger", "data-action": "cancel", onclick: () => control("cancel") }, "Cancel"));
      if (FINISHED.has(run.status)) buttons.push(h("button", { type: "button", "data-action": "rerun", onclick: () => control("rerun") }, "Re-run"));
      if (run.status === "FAILED") buttons.push(h("button", { type: "button", class: "secondary", "data-action": "rerun-failed", onclick: () => control("rerun-failed") }, "Re-run from failed stage"));
    }
    actions.replaceChildren(...buttons);
  }

  function drawHead(run) {
    const pipeline = run.pipelineId ? h("a", { href: `/ui/pipelines/${q(run.pipelineId)}` }, run.pipelineName || run.pipelineId) : h("span", { class: "muted" }, "waiting to be recorded");
    head.replaceChildren(
      h("div", { class: "title" }, h("h1", {}, "Run ", h("span", { class: "mono run-id" }, runId)), badge(run.status, run.reason)),
      h(
        "div",
        { class: "summary" },
        h("span", {}, "pipeline ", pipeline),
        run.trigger ? h("span", {}, "run as ", h("strong", {}, run.trigger.runAs)) : null,
        run.startedAt ? h("span", {}, "started ", when(run.startedAt)) : null,
        run.startedAt ? h("span", {}, "duration ", h("strong", {}, elapsed(run.startedAt, run.finishedAt))) : null,
      ),
    );
  }

  function drawFacts(run) {
    const delivery = state.delivery;
    const link = (id) => h("a", { href: `/ui/runs/${q(id)}`, class: "mono" }, shortRun(id));
    facts.replaceChildren(
      ...fact("trigger", run.trigger ? triggerText(run, run.variables) : "webhook (accepted)"),
      ...(delivery
        ? fact(
            "delivery id",
            delivery.deliveryId
              ? h("span", { class: "mono", "data-delivery": delivery.deliveryId }, delivery.deliveryId)
              : h("span", { class: "muted" }, "none: sent without an Idempotency-Key"),
          )
        : []),
      ...(run.rerunOf ? fact("re-run of", link(run.rerunOf)) : []),
      ...(run.reason ? fact("reason", h("code", {}, run.reason)) : []),
      ...(run.supersededBy ? fact("superseded by", link(run.supersededBy)) : []),
      ...(run.cancelledBy ? fact("cancelled by", `${run.cancelledBy}${run.cancelledAt ? ` at ${when(run.cancelledAt)}` : ""}`) : []),
      ...fact("created", when(run.createdAt) || "—"),
      ...(run.finishedAt ? fact("finished", when(run.finishedAt)) : []),
    );
    const names = Object.keys(run.variables || {}).sort();
    variables.replaceChildren(
      ...(names.length
        ? names.map((name) => h("tr", {}, h("td", { class: "mono" }, name), h("td", { class: run.variables[name] === "***" ? "mono secret" : "mono" }, run.variables[name])))
        : [h("tr", {}, h("td", { colspan: 2, class: "muted" }, run.pipelineId ? "none" : "not recorded yet"))]),
    );
  }

  function drawGraph(run) {
    if (!run.stages.length) {
      graph.replaceChildren(h("p", { class: "muted waiting" }, run.status === "QUEUED" ? "Queued: waiting to start…" : "No stages."));
      return;
    }
    state.selected = pickJob(run, state.picked ? state.selected : null);
    const columns = [];
    run.stages.forEach((stage, index) => {
      if (index > 0) columns.push(h("div", { class: "connector", "aria-hidden": "true" }));
      columns.push(
        h(
          "div",
          { class: `stage status-${stage.status.toLowerCase()}`, "data-stage": stage.name },
          h("div", { class: "stage-head" }, h("span", { class: "stage-name" }, stage.name), badge(stage.status)),
          stage.reusedFrom ? h("div", { class: "muted small" }, "reused from ", shortRun(stage.reusedFrom)) : null,
          stage.jobs.map((job) => {
            const key = jobKey(index, job);
            const meta = [durationText(job.durationMs) || (job.status === "RUNNING" ? elapsed(job.startedAt, null) : ""), job.exitCode !== null && job.exitCode !== undefined ? `exit ${job.exitCode}` : ""].filter(Boolean).join(" · ");
            return h(
              "button",
              {
                type: "button",
                class: `job status-${job.status.toLowerCase()}${key === state.selected ? " selected" : ""}`,
                "data-job": job.name,
                "data-status": job.status,
                "aria-pressed": key === state.selected ? "true" : "false",
                onclick: () => {
                  state.selected = key;
                  state.picked = true;
                  drawGraph(run);
                  drawOutput(run);
                },
              },
              h("span", { class: "dot", "aria-hidden": "true" }),
              h("span", { class: "job-name" }, job.name),
              h("span", { class: "job-meta" }, meta || job.status.toLowerCase()),
            );
          }),
        ),
      );
    });
    graph.replaceChildren(...columns);
  }

  function drawOutput(run) {
    const found = run.stages.flatMap((stage, index) => stage.jobs.map((job) => [jobKey(index, job), stage, job])).find(([key]) => key === state.selected);
    if (!found) {
      outputPanel.hidden = !run.stages.length;
      return;
    }
    outputPanel.hidden = false;
    const [key, stage, job] = found;
    const exit = job.exitCode !== null && job.exitCode !== undefined ? h("span", { class: `exit-code${job.exitCode ? " nonzero" : ""}` }, `exit code ${job.exitCode}`) : null;
    outputHead.replaceChildren(
      ...[
      h("span", { class: "output-title" }, `${stage.name} / ${job.name}`),
      badge(job.status),
      exit,
      job.durationMs !== null && job.durationMs !== undefined ? h("span", { class: "muted" }, durationText(job.durationMs)) : null,
      job.status === "RUNNING" ? h("span", { class: "live" }, "● live") : null,
      job.reason ? h("code", { class: "reason" }, job.reason) : null,
      ].filter(Boolean),
    );
    const text = job.output || "";
    if (key === state.shownJob && text === state.shownOutput) return;
    const following = key !== state.shownJob || output.scrollTop + output.clientHeight >= output.scrollHeight - 16;
    const [marker, rest] = splitCut(text);
    cutMarker.hidden = marker === null;
    cutMarker.textContent = marker || "";
    if (rest) {
      const ansi = new AnsiUp();
      ansi.use_classes = true; // the 16 colours come from style.css, readable on the dark output
      output.innerHTML = ansi.ansi_to_html(rest); // ansi_up escapes the text; only its colour spans are HTML
    } else {
      output.replaceChildren(h("span", { class: "muted" }, job.status === "RUNNING" || job.status === "PENDING" ? "(no output yet)" : "(no output)"));
    }
    state.shownJob = key;
    state.shownOutput = text;
    if (following) output.scrollTop = output.scrollHeight;
  }

  const loop = live(
    async () => {
      const run = await api(`/api/runs/${q(runId)}`);
      run.stages = run.stages || [];
      state.run = run;
      if (run.pipelineId && state.control === null) state.control = await mayControl(run.pipelineId);
      const fromDelivery = run.pipelineId && run.trigger && run.trigger.kind !== "rerun" && !run.rerunOf;
      if (fromDelivery && !state.delivery && state.lookups < 5) {
        state.lookups += 1;
        state.delivery = await findDelivery(run.pipelineId, runId);
      }
      drawHead(run);
      drawActions(run);
      drawGraph(run);
      drawOutput(run);
      drawFacts(run);
      return !FINISHED.has(run.status) || (fromDelivery && !state.delivery && state.lookups < 5);
    },
    1500,
    (error) => showError(error),
  );
}

// Routing: /ui/, /ui/pipelines/<id>, /ui/pipelines/<id>/deliveries, /ui/runs/<runId>

const ROUTES = [
  [/^\/ui\/?$/, () => renderPipelines()],
  [/^\/ui\/pipelines\/([^/]+)\/?$/, (id) => renderRuns(decodeURIComponent(id))],
  [/^\/ui\/pipelines\/([^/]+)\/deliveries\/?$/, (id) => renderDeliveries(decodeURIComponent(id))],
  [/^\/ui\/runs\/([^/]+)\/?$/, (id) => renderRun(decodeURIComponent(id))],
];

function route() {
  generation += 1;
  hideBanner();
  for (const [pattern, render] of ROUTES) {
    const found = location.pathname.match(pattern);
    if (found) {
      render(...found.slice(1));
      return;
    }
  }
  setCrumbs();
  view.replaceChildren(h("section", { class: "panel" }, h("h2", {}, "No such page"), h("p", {}, h("a", { href: "/ui/" }, "See the pipelines."))));
}

function navigate(href) {
  history.pushState(null, "", href);
  route();
  window.scrollTo(0, 0);
}

document.addEventListener("click", (event) => {
  const link = event.target.closest("a[href^='/ui/']");
  if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey || event.shiftKey) return;
  event.preventDefault();
  navigate(link.getAttribute("href"));
});
window.addEventListener("popstate", route);

async function start() {
  await loadSession();
  const input = document.getElementById("user");
  if (session.mode === "local") {
    document.getElementById("acting").hidden = false;
    input.value = session.user || "";
    input.addEventListener("change", () => {
      const user = input.value.trim();
      if (!user) return;
      setUser(user);
      route();
    });
  } else {
    const signedAs = document.getElementById("signed-as");
    signedAs.textContent = `signed with your AWS credentials${session.user ? ` (${session.user})` : ""}`;
    signedAs.hidden = false;
  }
  route();
}

start().catch((error) => showError(error));
