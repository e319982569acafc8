// Sign-in with the authorization code flow and PKCE (S256 via WebCrypto). Tokens are kept
// in memory only; the rotating refresh token renews them before they expire.

const enc = new TextEncoder();

function b64url(bytes) {
  return btoa(String.fromCharCode(...new Uint8Array(bytes)))
    .replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

function randomString(size = 32) {
  return b64url(crypto.getRandomValues(new Uint8Array(size)));
}

async function challengeFor(verifier) {
  return b64url(await crypto.subtle.digest("SHA-256", enc.encode(verifier)));
}

function claimsOf(jwt) {
  const part = jwt.split(".")[1].replace(/-/g, "+").replace(/_/g, "/");
  return JSON.parse(decodeURIComponent(escape(atob(part))));
}

export class Auth {
  constructor(config, onChange) {
    this.config = config;
    this.onChange = onChange;
    this.tokens = null;
    this.renewTimer = null;
    this.renewing = null;
  }

  get signedIn() { return this.tokens !== null; }
  get accessToken() { return this.tokens?.access_token; }
  get scopes() { return new Set((this.tokens?.scope || "").split(" ").filter(Boolean)); }
  get profile() { return this.tokens?.id_token ? claimsOf(this.tokens.id_token) : {}; }
  has(scope) {
    const claims = this.tokens ? claimsOf(this.tokens.access_token) : {};
    return this.scopes.has(scope) || (claims.permissions || []).includes(scope);
  }

  async signIn({ silent = false } = {}) {
    const verifier = randomString(48);
    const state = randomString(24);
    const nonce = randomString(16);
    sessionStorage.setItem("ts.pkce", JSON.stringify({ verifier, state, nonce, silent, back: location.pathname + location.search }));
    const params = new URLSearchParams({
      response_type: "code",
      client_id: this.config.client_id,
      redirect_uri: this.config.redirect_uri,
      scope: this.config.scope,
      audience: this.config.audience,
      state,
      nonce,
      code_challenge: await challengeFor(verifier),
      code_challenge_method: "S256",
    });
    if (silent) params.set("prompt", "none");
    location.assign(`${this.config.authorization_endpoint}?${params}`);
  }

  // Returns the path to show after a redirect back from the authorization server.
  async completeSignIn() {
    const query = new URLSearchParams(location.search);
    const saved = JSON.parse(sessionStorage.getItem("ts.pkce") || "null");
    sessionStorage.removeItem("ts.pkce");
    if (!saved || query.get("state") !== saved.state) {
      throw new Error("The sign-in answer did not match this browser's request. Please sign in again.");
    }
    if (query.get("error")) {
      if (saved.silent && ["login_required", "consent_required"].includes(query.get("error"))) return null;
      throw new Error(query.get("error_description") || query.get("error"));
    }
    const tokens = await this.tokenRequest({
      grant_type: "authorization_code",
      code: query.get("code"),
      redirect_uri: this.config.redirect_uri,
      code_verifier: saved.verifier,
    });
    if (tokens.id_token && claimsOf(tokens.id_token).nonce !== saved.nonce) {
      throw new Error("The sign-in answer was not for this request. Please sign in again.");
    }
    this.store(tokens);
    return saved.back && saved.back !== "/callback" ? saved.back : "/week";
  }

  async tokenRequest(form) {
    const response = await fetch(this.config.token_endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-www-form-urlencoded" },
      body: new URLSearchParams({ ...form, client_id: this.config.client_id }),
    });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) throw new Error(body.error_description || `Sign-in failed (${response.status})`);
    return body;
  }

  store(tokens) {
    const previous = this.tokens;
    this.tokens = { ...tokens, id_token: tokens.id_token || previous?.id_token };
    clearTimeout(this.renewTimer);
    const lead = Math.min(30, tokens.expires_in / 4);
    if (tokens.refresh_token) {
      this.renewTimer = setTimeout(() => this.renew().catch(() => this.expire()), (tokens.expires_in - lead) * 1000);
    }
    this.onChange();
  }

  // One renewal at a time: a refresh token is single use, and a second use of it revokes
  // the whole sign-in (RFC 9700 §4.14.2), so the timer and refused API calls share one.
  renew() {
    this.renewing ??= this.renewOnce().finally(() => { this.renewing = null; });
    return this.renewing;
  }

  async renewOnce() {
    if (!this.tokens?.refresh_token) throw new Error("no refresh token");
    const tokens = await this.tokenRequest({ grant_type: "refresh_token", refresh_token: this.tokens.refresh_token });
    this.store(tokens);
  }

  expire() {
    this.tokens = null;
    clearTimeout(this.renewTimer);
    this.onChange();
  }

  async signOut() {
    const refresh = this.tokens?.refresh_token;
    const idToken = this.tokens?.id_token;
    this.expire();
    if (refresh) {
      await fetch(this.config.revocation_endpoint, {
        method: "POST",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams({ token: refresh, client_id: this.config.client_id }),
      }).catch(() => {});
    }
    // With the ID token as hint the session ends without asking (RP-Initiated Logout 1.0 §2).
    const params = new URLSearchParams({ client_id: this.config.client_id, post_logout_redirect_uri: this.config.post_logout_redirect_uri });
    if (idToken) params.set("id_token_hint", idToken);
    location.assign(`${this.config.end_session_endpoint}?${params}`);
  }
}
