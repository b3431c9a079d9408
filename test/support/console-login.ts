/**
 * Posts the console's login form at `base` (the console's URL) as a browser does (form-encoded, redirects
 * not followed), with user `operator` unless `username` is given and the extra `headers` (X-Forwarded-For,
 * Origin…). The answer as the server gave it: 303 and a session cookie on success.
 */
export function consoleLogin(base: string, password: string, headers: Record<string, string> = {}, username = 'operator'): Promise<Response> {
  return fetch(`${base}/login`, {
    method: 'POST',
    redirect: 'manual',
    headers: { 'content-type': 'application/x-www-form-urlencoded', ...headers },
    body: new URLSearchParams({ username, password }).toString(),
  });
}

/** The session cookie (`name=value`) of a login answer. */
export function sessionCookie(res: Response): string {
  return (res.headers.get('set-cookie') ?? '').split(';')[0];
}

/** The CSRF token of the session of `cookie` (`name=value`), as the dashboard's forms carry it. */
export async function consoleCsrf(base: string, cookie: string): Promise<string> {
  const page = await (await fetch(base, { headers: { cookie } })).text();
  return /name="csrf" value="([^"]+)"/.exec(page)?.[1] ?? '';
}

/**
 * Posts the search box's form (`q`, with the session's CSRF token unless `csrf` is given) as a browser does,
 * redirects not followed: 303 to the operation's page when it finds one, else the page listing what it found.
 */
export async function consoleLookup(base: string, cookie: string, q: string, csrf?: string): Promise<Response> {
  return fetch(`${base}/lookup`, {
    method: 'POST',
    redirect: 'manual',
    headers: { cookie, 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ csrf: csrf ?? (await consoleCsrf(base, cookie)), q }).toString(),
  });
}
