// A whole session through the TypeScript client @hey-api/openapi-ts generates from the served
// document (tests/e2e/test_typescript_client.py generates it into ./client beside this file,
// type-checks this file with tsc --strict and runs it with Node against a live server).
// Every request is a generated SDK function: no hand-written request, no `any`, no cast.
import {
  createTodo,
  createUser,
  deleteTodo,
  downloadExport,
  getJob,
  getMe,
  getTodo,
  listChanges,
  listTodos,
  logIn,
  logOut,
  refreshTokens,
  startExport,
  updateTodo,
} from './client';
import { client } from './client/client.gen';
import type { ChangesPage, Job, ProblemTypeUri, Todo, TokenPair } from './client';

function check(condition: boolean, what: string): asserts condition {
  if (!condition) {
    throw new Error(`session: ${what}`);
  }
}

const baseUrl = process.env['BASE_URL'];
check(baseUrl !== undefined, 'BASE_URL is not set');
const username = `ts_${Date.now()}`;
const password = 'correct horse battery';

async function logInto(): Promise<TokenPair> {
  const created = await createUser({ body: { username, password } });
  check(created.response.status === 201, `register: ${created.response.status}`);
  check(created.data?.username === username, 'register: the new user');
  check(created.response.headers.get('Location') === created.data.url, 'register: Location');
  // HTTP Basic through the generated basicAuth scheme: the auth value is "user:password"
  const login = await logIn({ auth: `${username}:${password}` });
  check(login.data !== undefined, `log in: ${login.response.status}`);
  check(login.response.headers.get('Cache-Control') === 'no-store', 'log in: not cacheable');
  return login.data;
}

async function createSome(names: string[]): Promise<Todo[]> {
  const made: Todo[] = [];
  for (const name of names) {
    const result = await createTodo({ body: { name, tags: ['ts'] } });
    check(result.response.status === 201 && result.data !== undefined, `create ${name}`);
    check(result.response.headers.get('Location') === result.data.url, 'create: Location');
    check(result.response.headers.get('ETag') !== null, 'create: ETag');
    made.push(result.data);
  }
  return made;
}

async function pageThrough(): Promise<string[]> {
  // the first page names the listing; every next page is its cursor alone
  let page = await listTodos({ query: { sort: 'name', tag: 'ts', limit: 2, count: true } });
  check(page.data !== undefined, `list: ${page.response.status}`);
  check(page.data.page.total === 5, 'list: total');
  check((page.response.headers.get('Link') ?? '').includes('rel="next"'), 'list: Link');
  const seen = page.data.items.map((todo) => todo.name);
  let cursor = page.data.page.next_cursor;
  while (cursor) {
    page = await listTodos({ query: { cursor } });
    check(page.data !== undefined, `next page: ${page.response.status}`);
    check(page.data.page.limit === 2, 'next page: the same limit');
    seen.push(...page.data.items.map((todo) => todo.name));
    cursor = page.data.page.next_cursor;
  }
  return seen;
}

async function conditionalRequests(todo: Todo): Promise<void> {
  const read = await getTodo({ path: { todo_id: todo.id } });
  const etag = read.response.headers.get('ETag');
  check(read.data !== undefined && etag !== null, 'get: body and ETag');

  // the ETag still current: 304, no body, the same ETag
  const same = await getTodo({ path: { todo_id: todo.id }, headers: { 'If-None-Match': etag } });
  check(same.response.status === 304, `304: got ${same.response.status}`);
  check(same.data === undefined, '304: no body');
  check(same.response.headers.get('ETag') === etag, '304: its ETag');

  // PATCH with If-Match: one field changes, the others stay
  const patched = await updateTodo({
    path: { todo_id: todo.id }, body: { done: true }, headers: { 'If-Match': etag },
  });
  check(patched.data !== undefined, `patch: ${patched.response.status}`);
  check(patched.data.done && patched.data.name === todo.name, 'patch: one field');
  check(patched.response.headers.get('ETag') !== etag, 'patch: a new ETag');

  // the old ETag is stale now: 412, typed as a Problem of a documented type
  const stale = await updateTodo({
    path: { todo_id: todo.id }, body: { name: 'lost update' }, headers: { 'If-Match': etag },
  });
  check(stale.response.status === 412 && stale.error !== undefined, '412 on a stale ETag');
  const expected: ProblemTypeUri = '/api/v1/problems/precondition-failed';
  check(stale.error.type === expected, `412: ${stale.error.type}`);
}

const pause = (ms: number): Promise<void> => new Promise((done) => setTimeout(done, ms));

async function exportAndDownload(): Promise<void> {
  // start an export of the open 'ts' todos: 202, the job, its url in Location
  const started = await startExport({ body: { format: 'ndjson', filter: { tag: 'ts', done: false } } });
  check(started.response.status === 202 && started.data !== undefined, 'export: 202');
  check(started.response.headers.get('Location') === started.data.url, 'export: Location');
  let job: Job = started.data;
  for (let polls = 0; job.status === 'queued' || job.status === 'running'; polls += 1) {
    check(polls < 600, 'export: still running');
    await pause(50);
    const polled = await getJob({ path: { job_id: job.id } });
    check(polled.data !== undefined, `poll: ${polled.response.status}`);
    job = polled.data;
  }
  check(job.status === 'succeeded' && job.result !== null, `export: ${job.status}`);
  // typed: result.download_url is the URL of downloadExport with this job's id
  const url = job.result.download_url ?? '';
  check(url.endsWith(`/exports/${job.id}/download`), `export: ${url}`);
  // the file's bytes whatever its format ("auto" would parse a json export as JSON)
  const file = await downloadExport({ path: { job_id: job.id }, parseAs: 'blob' });
  check(file.response.status === 200 && file.data !== undefined, 'download: 200');
  check((file.response.headers.get('Content-Type') ?? '').startsWith('application/x-ndjson'),
    'download: NDJSON');
  const lines = (await file.data.text()).split('\n').filter((line) => line !== '');
  check(lines.length === job.result.count && lines.length === 4, `download: ${lines.length}`);
  check(file.data.size === job.result.bytes, 'download: its size');
}

async function syncAll(since: string | null, copy: Map<string, boolean>): Promise<string> {
  let token = since;
  for (;;) {
    const answer = await listChanges({ query: { limit: 2, ...(token ? { since: token } : {}) } });
    check(answer.data !== undefined, `changes: ${answer.response.status}`);
    const page: ChangesPage = answer.data;
    for (const change of page.items) {
      if (change.deleted) {
        copy.delete(change.id);
      } else {
        copy.set(change.id, change['done'] === true);
      }
    }
    token = page.since;
    if (!page.has_more) {
      return token;
    }
  }
}

async function sync(made: Todo[]): Promise<void> {
  // a full sync, then an incremental one after an edit and a deletion
  const copy = new Map<string, boolean>();
  const since = await syncAll(null, copy);
  check(made.every((todo) => copy.has(todo.id)), 'full sync: every todo');
  const [kept, gone] = made.slice(1);
  check(kept !== undefined && gone !== undefined, 'two todos');
  const edited = await updateTodo({
    path: { todo_id: kept.id }, body: { done: true }, headers: { 'If-Match': kept.etag },
  });
  check(edited.response.status === 200, `sync: edit ${edited.response.status}`);
  const deleted = await deleteTodo({ path: { todo_id: gone.id } });
  check(deleted.response.status === 204, `sync: delete ${deleted.response.status}`);
  const before = copy.size;
  const next = await syncAll(since, copy);
  check(next !== since, 'incremental sync: a new token');
  check(copy.get(kept.id) === true && !copy.has(gone.id), 'incremental sync: both changes');
  check(copy.size === before - 1, 'incremental sync: nothing else');
}

async function main(): Promise<void> {
  client.setConfig({ baseUrl });
  let tokens = await logInto();
  // the access token for every call whose scheme is bearerAuth
  client.setConfig({ baseUrl, auth: () => tokens.access_token });

  const names = ['delta', 'alpha', 'echo', 'charlie', 'bravo'];
  const made = await createSome(names);
  const seen = await pageThrough();
  check(JSON.stringify(seen) === JSON.stringify([...names].sort()), `pages: ${seen.join(',')}`);
  const first = made[0];
  check(first !== undefined, 'a todo');
  await conditionalRequests(first);
  await exportAndDownload();
  await sync(made);

  // refreshTokens uses the refreshAuth scheme: the call's auth is the refresh token
  const refreshed = await refreshTokens({ auth: tokens.refresh_token });
  check(refreshed.data !== undefined, `refresh: ${refreshed.response.status}`);
  tokens = refreshed.data;
  const me = await getMe();
  check(me.data?.username === username, 'the new access token works');

  const out = await logOut();
  check(out.response.status === 204, `log out: ${out.response.status}`);
  const after = await getMe();
  check(after.response.status === 401 && after.error !== undefined, 'logged out: 401');
  check(after.error.type === '/api/v1/problems/token-revoked', `logged out: ${after.error.type}`);
  console.log('session: ok');
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
