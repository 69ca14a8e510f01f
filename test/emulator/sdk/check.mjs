// The emulator's Anthropic API endpoints (emu_anthropic.py) as Anthropic's
// official TypeScript SDK sees them: answers it parses, errors it classifies
// (class, status, type, request id), retries it makes (retry-after, 529).
// Run by test/emulator/test_sdk_anthropic.py; ends with "N passed, M failed".
import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import Anthropic from '@anthropic-ai/sdk';

const here = path.dirname(fileURLToPath(import.meta.url));
const emulatorPath = path.join(here, '..', 'bedrock_emulator.py');
const KEY = process.env.EMU_ANTHROPIC_KEY;
let passed = 0;
let failed = 0;

function ok(cond, name, detail) {
  if (cond) {
    passed++;
    console.log(`ok - sdk: ${name}`);
  } else {
    failed++;
    console.log(`not ok - sdk: ${name}`);
    if (detail !== undefined) console.log(`    # ${String(detail).slice(0, 400)}`);
  }
}

function startEmulator() {
  return new Promise((resolve, reject) => {
    const proc = spawn('python3', [emulatorPath, '--port', '0'], {
      stdio: ['ignore', 'pipe', 'inherit'], env: { ...process.env, EMU_ANTHROPIC_BATCH_DELAY_MS: '500' } });
    const lines = createInterface({ input: proc.stdout });
    lines.once('line', (line) => {
      const m = /http=(\d+)/.exec(line);
      if (!m) reject(new Error(`emulator did not start: ${line}`));
      else resolve({ proc, url: `http://127.0.0.1:${m[1]}` });
    });
    proc.once('error', reject);
  });
}

async function control(url, route, payload) {
  const r = await fetch(`${url}/_emulator/${route}`, {
    method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(payload),
  });
  return r.json();
}

async function failure(promise) {
  try {
    await promise;
    return null;
  } catch (e) {
    return e;
  }
}

const HELLO = { max_tokens: 50, messages: [{ role: 'user', content: 'Hello there' }] };
const emu = await startEmulator();
try {
  const client = new Anthropic({ apiKey: KEY, baseURL: emu.url, maxRetries: 0 });

  const msg = await client.messages.create({ ...HELLO, model: 'claude-haiku-4-5-20251001' });
  ok(msg.type === 'message' && msg.role === 'assistant' && msg.content[0]?.type === 'text'
     && msg.content[0].text.length > 0, 'messages.create returns a Message with text', JSON.stringify(msg));
  ok(msg.model === 'claude-haiku-4-5-20251001' && /^msg_/.test(msg.id) && !/bdrk/.test(msg.id),
     'the message names the API model and has an API message id', `${msg.model} ${msg.id}`);
  ok(Number.isInteger(msg.usage.input_tokens) && msg.usage.output_tokens > 0 && msg.stop_reason,
     'usage and stop_reason are there', JSON.stringify(msg.usage));
  ok(/^req_/.test(msg._request_id ?? ''), 'the request-id header is the SDK\'s _request_id', msg._request_id);

  const count = await client.messages.countTokens({ model: 'claude-haiku-4-5-20251001', messages: HELLO.messages });
  ok(Number.isInteger(count.input_tokens) && count.input_tokens > 0, 'messages.countTokens counts', JSON.stringify(count));

  const geo = await client.messages.create({ ...HELLO, model: 'claude-opus-4-6', inference_geo: 'us' });
  ok(geo.type === 'message', 'inference_geo "us" is accepted for Opus 4.6');
  let e = await failure(client.messages.create({ ...HELLO, model: 'claude-haiku-4-5-20251001', inference_geo: 'us' }));
  ok(e instanceof Anthropic.BadRequestError && e.error?.error?.type === 'invalid_request_error',
     'inference_geo "us" for an older model is a BadRequestError', e);

  const bad = new Anthropic({ apiKey: 'sk-ant-wrong', baseURL: emu.url, maxRetries: 0 });
  e = await failure(bad.messages.create({ ...HELLO, model: 'claude-haiku-4-5-20251001' }));
  ok(e instanceof Anthropic.AuthenticationError && e.status === 401 && /^req_/.test(e.requestID ?? ''),
     'a wrong key is an AuthenticationError with the request id', e);

  e = await failure(client.messages.create({ ...HELLO, model: 'claude-no-such-model' }));
  ok(e instanceof Anthropic.NotFoundError && e.error?.error?.type === 'not_found_error', 'an unknown model is a NotFoundError', e);
  e = await failure(client.messages.create({ ...HELLO, model: 'claude-sonnet-4-5-20250929' }));
  ok(e instanceof Anthropic.NotFoundError, 'Sonnet 4.5, retired on the API, is a NotFoundError', e);

  const v2 = new Anthropic({ apiKey: KEY, baseURL: emu.url, maxRetries: 0,
    defaultHeaders: { 'anthropic-version': '2026-10-21' } });
  e = await failure(v2.messages.create({ ...HELLO, model: 'claude-haiku-4-5-20251001', temperature: 0.5 }));
  ok(e instanceof Anthropic.BadRequestError, 'version 2026-10-21 refuses temperature', e);
  const v2ok = await v2.messages.create({ ...HELLO, model: 'claude-haiku-4-5-20251001' });
  ok(v2ok.type === 'message', 'version 2026-10-21 answers without sampling settings');
  const old = new Anthropic({ apiKey: KEY, baseURL: emu.url, maxRetries: 0,
    defaultHeaders: { 'anthropic-version': '2020-01-01' } });
  e = await failure(old.messages.create({ ...HELLO, model: 'claude-haiku-4-5-20251001' }));
  ok(e instanceof Anthropic.BadRequestError, 'an unknown anthropic-version is refused', e);

  await control(emu.url, 'faults', { fault: 'throttle', count: 1 });
  const retrying = new Anthropic({ apiKey: KEY, baseURL: emu.url, maxRetries: 1 });
  const t0 = Date.now();
  const after = await retrying.messages.create({ ...HELLO, model: 'claude-haiku-4-5-20251001' });
  const waited = Date.now() - t0;
  ok(after.type === 'message' && waited >= 900, 'a 429 is retried by the SDK after its retry-after', `${waited} ms`);

  await control(emu.url, 'faults', { fault: 'throttle', count: 1 });
  e = await failure(client.messages.create({ ...HELLO, model: 'claude-haiku-4-5-20251001' }));
  ok(e instanceof Anthropic.RateLimitError && e.headers?.get('retry-after') && e.error?.error?.type === 'rate_limit_error',
     'a 429 is a RateLimitError with retry-after', e);

  await control(emu.url, 'faults', { fault: 'error', status: 529, count: 1 });
  e = await failure(client.messages.create({ ...HELLO, model: 'claude-haiku-4-5-20251001' }));
  ok(e instanceof Anthropic.InternalServerError && e.status === 529 && e.error?.error?.type === 'overloaded_error',
     '529 is an overloaded_error the SDK classes as a server error', e);
  await control(emu.url, 'faults', { fault: 'error', status: 529, count: 1 });
  const again = await retrying.messages.create({ ...HELLO, model: 'claude-haiku-4-5-20251001' });
  ok(again.type === 'message', 'and is retried by the SDK');

  // Message Batches: answered by the same rules, shown once the processing delay has passed
  const model = 'claude-haiku-4-5-20251001';
  const created = await client.messages.batches.create({ requests: [
    { custom_id: 'good-1', params: { ...HELLO, model } },
    { custom_id: 'bad-2', params: { ...HELLO, model: 'claude-no-such-model' } },
  ] });
  ok(/^msgbatch_/.test(created.id) && created.type === 'message_batch' && created.processing_status === 'in_progress'
     && created.request_counts.processing === 2 && created.results_url === null,
     'batches.create returns an in_progress MessageBatch', JSON.stringify(created));
  e = await failure(client.messages.batches.results(created.id));
  ok(e !== null, 'batches.results refuses a batch still in progress', e);
  let batch = created;
  for (let i = 0; i < 50 && batch.processing_status !== 'ended'; i++) {
    await new Promise((r) => setTimeout(r, 100));
    batch = await client.messages.batches.retrieve(created.id);
  }
  ok(batch.processing_status === 'ended' && batch.request_counts.succeeded === 1
     && batch.request_counts.errored === 1 && batch.ended_at && batch.results_url,
     'batches.retrieve shows it ended, with its counts and results_url', JSON.stringify(batch));
  const results = {};
  for await (const r of await client.messages.batches.results(created.id)) results[r.custom_id] = r.result;
  ok(results['good-1']?.type === 'succeeded' && results['good-1'].message.content[0].text.length > 0,
     'batches.results streams a succeeded result with its Message', JSON.stringify(results['good-1']));
  ok(results['bad-2']?.type === 'errored' && results['bad-2'].error.error.type === 'not_found_error',
     'and an errored one with the API error', JSON.stringify(results['bad-2']));
  const listed = [];
  for await (const b of client.messages.batches.list()) listed.push(b.id);
  ok(listed.includes(created.id), 'batches.list lists it', listed.join(','));
  const second = await client.messages.batches.create({ requests: [{ custom_id: 'c1', params: { ...HELLO, model } }] });
  const canceled = await client.messages.batches.cancel(second.id);
  ok(canceled.cancel_initiated_at && canceled.processing_status === 'ended' && canceled.request_counts.canceled === 1,
     'batches.cancel ends a batch in progress, its requests canceled', JSON.stringify(canceled));
  const deleted = await client.messages.batches.delete(created.id);
  ok(deleted.type === 'message_batch_deleted' && deleted.id === created.id, 'batches.delete deletes an ended batch');
  e = await failure(client.messages.batches.retrieve(created.id));
  ok(e instanceof Anthropic.NotFoundError, 'a deleted batch is a NotFoundError', e);
  e = await failure(client.messages.batches.create({ requests: [
    { custom_id: 'same', params: { ...HELLO, model } }, { custom_id: 'same', params: { ...HELLO, model } }] }));
  ok(e instanceof Anthropic.BadRequestError, 'a custom_id given twice is refused', e);
} catch (err) {
  ok(false, 'the checks ran to the end', err?.stack ?? err);
} finally {
  emu.proc.kill();
}
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
