// A staff app's day, written against the types openapi-typescript generates from openapi.json
// (default options) and called through openapi-fetch: `tsc --strict` must find no error. Every
// operation of the document is used here (tests/contract/test_typescript.py checks that).
import createClient from "openapi-fetch";
import type { components, paths } from "./generated/api";

type Schemas = components["schemas"];

const api = createClient<paths>({ baseUrl: "http://127.0.0.1:8000" });

function must<T>(value: T | undefined, what: string): T {
  if (value === undefined) throw new Error(`no ${what}`);
  return value;
}

function bearer(token: string): { Authorization: string } {
  return { Authorization: `Bearer ${token}` };
}

export async function staffDay(): Promise<void> {
  await api.GET("/healthz");
  await api.GET("/readyz");

  const registered = must(
    (
      await api.POST("/api/v1/auth/register", {
        body: {
          restaurantName: "Chez Contract",
          timezone: "Europe/Paris",
          email: "owner@example.com",
          password: "correct horse battery",
          fullName: "Olive Owner",
        },
      })
    ).data,
    "session",
  );
  const restaurant: Schemas["Restaurant"] = registered.restaurant;
  let tokens = {
    access: registered.accessToken,
    refresh: registered.refreshToken,
  };
  const login = must(
    (
      await api.POST("/api/v1/auth/login", {
        body: { email: "owner@example.com", password: "correct horse battery" },
      })
    ).data,
    "login",
  );
  tokens = { access: login.accessToken, refresh: login.refreshToken };
  const form = await api.POST("/api/v1/auth/token", {
    body: { username: "owner@example.com", password: "correct horse battery" },
    bodySerializer: (body) => new URLSearchParams(body as Record<string, string>),
  });
  const oauth: string = must(form.data, "token").access_token;
  const refreshed = must(
    (await api.POST("/api/v1/auth/refresh", { body: { refreshToken: tokens.refresh } })).data,
    "refresh",
  );
  tokens = { access: refreshed.accessToken, refresh: refreshed.refreshToken };
  const headers = bearer(tokens.access);
  const me = must((await api.GET("/api/v1/auth/me", { headers })).data, "me");
  const myRole: Schemas["User"]["role"] = me.user.role;

  // Settings, with service hours as objects.
  await api.GET("/api/v1/restaurant", { headers });
  await api.PATCH("/api/v1/restaurant", {
    headers,
    body: {
      tableAfterGuestLeaves: "dirty",
      serviceHours: {
        mon: [
          { open: "11:30", close: "14:30" },
          { open: "17:00", close: "22:00" },
        ],
      },
    },
  });

  // Staff.
  const host = must(
    (
      await api.POST("/api/v1/users", {
        headers,
        body: {
          email: "host@example.com",
          password: "another long one",
          fullName: "Harry Host",
          role: "host",
        },
      })
    ).data,
    "user",
  );
  await api.GET("/api/v1/users", { headers, params: { query: { limit: 50 } } });
  await api.GET("/api/v1/users/{user_id}", { headers, params: { path: { user_id: host.id } } });
  await api.PATCH("/api/v1/users/{user_id}", {
    headers,
    params: { path: { user_id: host.id } },
    body: { fullName: "Harriet Host" },
  });
  await api.DELETE("/api/v1/users/{user_id}", { headers, params: { path: { user_id: host.id } } });

  // Tables.
  const table = must(
    (
      await api.POST("/api/v1/tables", {
        headers,
        body: { tableNumber: "12", capacity: 4, section: "Terrace" },
      })
    ).data,
    "table",
  );
  const page = must(
    (await api.GET("/api/v1/tables", { headers, params: { query: { status: ["available"] } } })).data,
    "tables",
  );
  const nextTables: string | null = page.nextCursor;
  await api.GET("/api/v1/tables/{table_id}", { headers, params: { path: { table_id: table.id } } });
  // A floor-plan position cleared: null has a meaning here.
  await api.PATCH("/api/v1/tables/{table_id}", {
    headers,
    params: { path: { table_id: table.id } },
    body: { posX: null, posY: null },
  });

  // The waitlist: seat, move back to the list (unseat), seat, complete.
  const guest = must(
    (
      await api.POST("/api/v1/guests", {
        headers: { ...headers, "Idempotency-Key": "walk-in-1" },
        body: { name: "Ana", partySize: 2, phone: "+33612345678" },
      })
    ).data,
    "guest",
  );
  const waiting: Schemas["Guest"]["status"] = guest.status;
  await api.GET("/api/v1/guests", {
    headers,
    params: { query: { status: ["waiting", "seated"], limit: 20 } },
  });
  await api.GET("/api/v1/guests/{guest_id}", { headers, params: { path: { guest_id: guest.id } } });
  const seated = must(
    (
      await api.POST("/api/v1/guests/{guest_id}/seat", {
        headers,
        params: { path: { guest_id: guest.id } },
        body: { tableId: table.id },
      })
    ).data,
    "seated guest",
  );
  const unseated = await api.PATCH("/api/v1/guests/{guest_id}", {
    headers,
    params: { path: { guest_id: seated.id } },
    body: { tableId: null },
  });
  const tableIdAfter: number | null = must(unseated.data, "unseated guest").tableId;
  const cleared = await api.PATCH("/api/v1/guests/{guest_id}", {
    headers,
    params: { path: { guest_id: guest.id } },
    body: { clear: ["phone", "quotedWaitMinutes"] },
  });
  const phoneAfter: string | null = must(cleared.data, "cleared guest").phone;
  await api.POST("/api/v1/guests/{guest_id}/seat", {
    headers,
    params: { path: { guest_id: guest.id } },
    body: { tableId: table.id, allowOverCapacity: true },
  });
  await api.POST("/api/v1/guests/{guest_id}/complete", {
    headers,
    params: { path: { guest_id: guest.id } },
  });

  // An error, handled by its code.
  const other = must(
    (await api.POST("/api/v1/guests", { headers, body: { name: "Bo", partySize: 3 } })).data,
    "guest",
  );
  const refused = await api.POST("/api/v1/guests/{guest_id}/seat", {
    headers,
    params: { path: { guest_id: other.id } },
    body: { tableId: 999999 },
  });
  if (refused.error !== undefined) {
    const code: Schemas["ErrorCode"] = refused.error.error.code;
    if (code === "table_occupied" || code === "not_found") {
      console.log(refused.error.error.message);
    }
  }
  await api.DELETE("/api/v1/guests/{guest_id}", {
    headers,
    params: { path: { guest_id: other.id } },
  });

  // Reservations and check-in.
  const availability = must(
    (
      await api.GET("/api/v1/reservations/availability", {
        headers,
        params: { query: { date: "2030-06-03", partySize: 2 } },
      })
    ).data,
    "availability",
  );
  const firstSlot: string | undefined = availability.slots[0]?.startsAt;
  const booking = must(
    (
      await api.POST("/api/v1/reservations", {
        headers,
        body: { guestName: "Chen", partySize: 2, startsAt: "2030-06-03T19:30:00+02:00" },
      })
    ).data,
    "reservation",
  );
  await api.GET("/api/v1/reservations", {
    headers,
    params: { query: { date: "2030-06-03", status: ["booked"] } },
  });
  await api.GET("/api/v1/reservations/{reservation_id}", {
    headers,
    params: { path: { reservation_id: booking.id } },
  });
  await api.PATCH("/api/v1/reservations/{reservation_id}", {
    headers: { ...headers, "If-Match": `"${booking.version}"` },
    params: { path: { reservation_id: booking.id } },
    body: { status: "confirmed", notes: "window seat" },
  });
  const checkedIn = must(
    (
      await api.POST("/api/v1/reservations/{reservation_id}/check-in", {
        headers,
        params: { path: { reservation_id: booking.id } },
        body: {},
      })
    ).data,
    "checked-in reservation",
  );
  const guestOfBooking: number | null = checkedIn.guestId;
  const cancelled = must(
    (
      await api.POST("/api/v1/reservations", {
        headers,
        body: { guestName: "Dee", partySize: 4, startsAt: "2030-06-04T20:00:00Z" },
      })
    ).data,
    "reservation",
  );
  await api.DELETE("/api/v1/reservations/{reservation_id}", {
    headers,
    params: { path: { reservation_id: cancelled.id } },
  });

  // The dashboard, full and minimal: two types, each decoded as sent.
  const full = must(
    (await api.GET("/api/v1/dashboard/data", { headers })).data,
    "dashboard",
  );
  const cursor: string = full.cursor;
  const minimal = must(
    (
      await api.GET("/api/v1/dashboard/data", {
        headers,
        params: { query: { since: cursor, minimal: true } },
      })
    ).data,
    "minimal dashboard",
  );
  for (const row of minimal.guests) {
    const name: string = row.name;
    const status: Schemas["GuestStatus"] = row.status;
    console.log(name, status);
  }
  await api.GET("/api/v1/dashboard/data", {
    headers: { ...headers, "If-None-Match": '"etag"' },
    params: { query: { since: cursor } },
  });

  // A batch: create, update, delete, and the answer's minimal rows.
  const batch = must(
    (
      await api.POST("/api/v1/batch/update", {
        headers,
        body: {
          tables: [{ op: "update", id: table.id, status: "available" }],
          guests: [
            { op: "create", clientId: "tmp-1", name: "Eve", partySize: 2 },
            { op: "update", id: guest.id, notes: "regular" },
            { op: "delete", id: seated.id },
          ],
          reservations: [],
        },
      })
    ).data,
    "batch",
  );
  const created: number | undefined = batch.results.guests[0]?.id;
  const adopt: boolean = batch.previousCursor === cursor;
  const minimalTable: Schemas["MinimalTable"] | undefined = batch.tables[0];

  await api.DELETE("/api/v1/tables/{table_id}", {
    headers,
    params: { path: { table_id: table.id } },
  });
  await api.POST("/api/v1/auth/logout", { headers, body: { refreshToken: tokens.refresh } });
  console.log(restaurant, oauth, myRole, nextTables, waiting, tableIdAfter, phoneAfter, firstSlot);
  console.log(guestOfBooking, created, adopt, minimalTable);
}
