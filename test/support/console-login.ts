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
