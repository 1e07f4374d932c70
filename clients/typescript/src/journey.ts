// What a frontend does with the gateway, written against the types generated from its
// OpenAPI document (src/api.d.ts, by `npm run types`). `tsc --strict` proves the document
// describes every body and answer used here; running it (`npm run journey`) proves the
// gateway answers as described. The seed README's Next.js integration (a full sync with
// X-API-Key, its status polled with ?api_key=, its logs), the admin settings and webhooks,
// the Hytale device flow, and the gateway's own account flows.
import createClient from "openapi-fetch";
import type { paths } from "./api.js";

type Api = ReturnType<typeof createClient<paths>>;

function must<T>(data: T | undefined, error: unknown, what: string): T {
  if (data === undefined) {
    throw new Error(`${what} failed: ${JSON.stringify(error)}`);
  }
  return data;
}

export async function triggerFullSync(api: Api, apiKey: string, requestedBy: string): Promise<string> {
  const { data, error } = await api.POST("/api/v1/sync/full", {
    headers: { "X-API-Key": apiKey },
    body: { requested_by: requestedBy, skip_users: false },
  });
  return must(data, error, "triggering a full sync").data.sync_log_id;
}

// The README polls with the key in the query (`?api_key=`, the ApiKeyQuery scheme): a
// client whose every request carries it there.
export function keyInQuery(baseUrl: string, apiKey: string): Api {
  const api = createClient<paths>({ baseUrl });
  api.use({
    onRequest({ request }) {
      const url = new URL(request.url);
      url.searchParams.set("api_key", apiKey);
      return new Request(url, request);
    },
  });
  return api;
}

export async function syncStatus(polling: Api, syncLogId: string): Promise<string> {
  const { data, error } = await polling.GET("/api/v1/sync/status/{log_id}", {
    params: { path: { log_id: syncLogId } },
  });
  return must(data, error, "reading a sync's status").data.status;
}

export async function latestSyncLogs(api: Api, apiKey: string): Promise<string[]> {
  const { data, error } = await api.GET("/api/v1/sync/logs", {
    headers: { "X-API-Key": apiKey },
    params: { query: { limit: 5 } },
  });
  return must(data, error, "reading sync logs").data.map((log) => log.status);
}

export async function panelUrl(api: Api, apiKey: string): Promise<string | null | undefined> {
  const { data, error } = await api.GET("/api/admin/settings", { headers: { "X-API-Key": apiKey } });
  return must(data, error, "reading the admin settings").data.pterodactylUrl;
}

export async function webhookRoundTrip(api: Api, apiKey: string, url: string): Promise<number> {
  const headers = { "X-API-Key": apiKey };
  const made = await api.POST("/api/admin/settings/webhooks", {
    headers,
    body: { name: "typed client", webhookUrl: url, type: "SYSTEM", scope: "ADMIN" },
  });
  const hook = must(made.data, made.error, "creating a webhook").data;
  const tested = await api.PATCH("/api/admin/settings/webhooks", { headers, body: { id: hook.id } });
  must(tested.data, tested.error, "sending a webhook its test message");
  const changed = await api.PUT("/api/admin/settings/webhooks", {
    headers,
    body: { id: hook.id, enabled: false },
  });
  must(changed.data, changed.error, "disabling a webhook");
  const listed = await api.GET("/api/admin/settings/webhooks", {
    headers,
    params: { query: { type: "SYSTEM" } },
  });
  const count = must(listed.data, listed.error, "listing webhooks").data.length;
  const gone = await api.DELETE("/api/admin/settings/webhooks", {
    headers,
    params: { query: { id: hook.id } },
  });
  must(gone.data, gone.error, "deleting a webhook");
  return count;
}

export async function hytaleDeviceCode(api: Api, apiKey: string): Promise<string> {
  const { data, error } = await api.POST("/api/v1/hytale/oauth/device-code", {
    headers: { "X-API-Key": apiKey },
    body: {},
  });
  const code = must(data, error, "starting the Hytale device flow").data;
  const polled = await api.POST("/api/v1/hytale/oauth/token", {
    headers: { "X-API-Key": apiKey },
    body: { device_code: code.device_code },
  });
  // not yet approved upstream: 202, poll again after `interval` (RFC 8628)
  const poll = must(polled.data, polled.error, "polling for the device's tokens").data;
  if (poll.status !== "authorization_pending") {
    throw new Error(`an unapproved device code answered ${poll.status}`);
  }
  return `${code.user_code} (poll every ${poll.interval} s)`;
}

export async function register(api: Api, email: string, password: string): Promise<boolean> {
  const { data, error } = await api.POST("/api/v1/auth/register", {
    body: { email, password, confirmPassword: password, firstName: "Typed" },
  });
  return must(data, error, "registering").data.verificationRequired;
}

// A verified account signs in, renews its tokens and reads itself.
export async function signedInJourney(api: Api, email: string, password: string): Promise<string> {
  const login = await api.POST("/api/v1/auth/login", { body: { email, password } });
  const tokens = must(login.data, login.error, "signing in").data;
  const refreshed = await api.POST("/api/v1/auth/refresh", {
    body: { refreshToken: tokens.refreshToken },
  });
  const renewed = must(refreshed.data, refreshed.error, "refreshing").data;
  const me = await api.GET("/api/v1/dashboard/account", {
    headers: { Authorization: `Bearer ${renewed.accessToken}` },
  });
  return must(me.data, me.error, "reading the account").data.email;
}

async function main(): Promise<void> {
  const baseUrl = process.env.GATEWAY_URL ?? "http://127.0.0.1:8080";
  const apiKey = process.env.BACKEND_API_KEY ?? "";
  const api = createClient<paths>({ baseUrl });
  const polling = keyInQuery(baseUrl, apiKey);
  const syncLogId = await triggerFullSync(api, apiKey, "typed client");
  let status = await syncStatus(polling, syncLogId);
  for (let polls = 0; status !== "COMPLETED" && status !== "FAILED" && polls < 300; polls++) {
    await new Promise((done) => setTimeout(done, 200));
    status = await syncStatus(polling, syncLogId);
  }
  const report = {
    syncStatus: status,
    logs: await latestSyncLogs(api, apiKey),
    panelUrl: await panelUrl(api, apiKey),
    webhooksListed: await webhookRoundTrip(api, apiKey, process.env.WEBHOOK_URL ?? ""),
    hytaleUserCode: await hytaleDeviceCode(api, apiKey),
    verificationRequired: await register(
      api,
      process.env.NEW_ACCOUNT_EMAIL ?? "typed@example.com",
      process.env.ACCOUNT_PASSWORD ?? "",
    ),
    account: await signedInJourney(
      api,
      process.env.ACCOUNT_EMAIL ?? "",
      process.env.ACCOUNT_PASSWORD ?? "",
    ),
  };
  console.log(JSON.stringify(report));
}

await main();
