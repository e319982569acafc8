// Calls to the Timesheets API with the in-memory access token; errors become sentences.

export class ApiError extends Error {}

function describe(status, body) {
  if (body?.errors?.length) return body.errors.map((e) => `${e.field}: ${e.message}`).join("; ");
  if (status === 401) return "Your session has ended. Please sign in again.";
  if (status === 403) return "You are not allowed to do that.";
  if (status === 404) return "That entry no longer exists.";
  if (status === 409) return body?.message || "That entry can no longer be changed.";
  if (status >= 500) return "Timesheets is having trouble right now. Please try again in a moment.";
  return body?.message || `Request failed (${status}).`;
}

export class Api {
  constructor(baseUrl, auth) {
    this.baseUrl = baseUrl;
    this.auth = auth;
  }

  async call(method, path, body, retried = false) {
    const used = this.auth.accessToken;
    let response;
    try {
      response = await fetch(this.baseUrl + path, {
        method,
        headers: {
          Authorization: `Bearer ${this.auth.accessToken}`,
          ...(body !== undefined ? { "Content-Type": "application/json" } : {}),
        },
        body: body !== undefined ? JSON.stringify(body) : undefined,
      });
    } catch {
      throw new ApiError("Cannot reach Timesheets. Check your connection and try again.");
    }
    if (response.status === 401 && !retried && this.auth.tokens?.refresh_token) {
      // Renewed meanwhile (by the timer or another call): retry with the new token.
      if (this.auth.accessToken === used) await this.auth.renew();
      return this.call(method, path, body, true);
    }
    const data = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) throw new ApiError(describe(response.status, data));
    return { data, total: Number(response.headers.get("X-Total-Count") || 0) };
  }

  list(params) { return this.call("GET", `/timesheets?${new URLSearchParams(params)}`); }
  create(entry) { return this.call("POST", "/timesheets", entry); }
  remove(id) { return this.call("DELETE", `/timesheets/${encodeURIComponent(id)}`); }
  pending() { return this.call("GET", "/approvals?limit=200"); }
  decide(id, decision) { return this.call("PUT", `/approvals/${encodeURIComponent(id)}`, decision); }
}
