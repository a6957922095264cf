// Calls to the hookrun API from the page: the acting user, errors with their codes, an API out of reach.

export const session = { mode: "local", user: "admin", api: null };

export class ApiError extends Error {
  constructor(status, code, message) {
    super(message);
    this.status = status;
    this.code = code;
  }
}

export class Unreachable extends Error {}

export async function loadSession() {
  const response = await fetch("/ui/session.json", { cache: "no-store" });
  const found = await response.json();
  session.mode = found.mode === "signed" ? "signed" : "local";
  session.api = found.api || null;
  const stored = session.mode === "local" ? localStorage.getItem("hookrun.user") : null;
  session.user = stored || found.defaultUser || null;
}

export function setUser(user) {
  session.user = user;
  localStorage.setItem("hookrun.user", user);
}

// One call; resolves to the JSON answer ({} for 204). Throws ApiError or Unreachable.
export async function api(path, { method = "GET", body } = {}) {
  const headers = { Accept: "application/json", "X-Hookrun-Ui": "1" };
  if (session.mode === "local" && session.user) headers["X-Hookrun-User"] = session.user;
  if (body !== undefined) headers["Content-Type"] = "application/json";
  let response;
  try {
    response = await fetch(path, {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      cache: "no-store",
    });
  } catch {
    throw new Unreachable("The hookrun API cannot be reached.");
  }
  if (response.status === 204) return {};
  let data = null;
  try {
    data = await response.json();
  } catch {
    data = null;
  }
  const found = data && typeof data === "object" ? data : {};
  if (response.status === 502 && found.code === "API_UNREACHABLE") throw new Unreachable(found.message);
  if (!response.ok) {
    const code = found.code || `HTTP_${response.status}`;
    throw new ApiError(response.status, code, found.message || found.Message || response.statusText);
  }
  return found;
}

export const q = encodeURIComponent;
