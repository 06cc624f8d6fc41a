// anthropic.test.mjs - the official Anthropic SDK against `arouter proxy`'s
// /v1/messages, to Anthropic (native), OpenAI and Gemini (translated)
// upstreams played by tests/fake-upstream.
//
// Run by tests/sdk.bats (one bats test per test here, by name); by hand:
//   PROXY_URL=http://127.0.0.1:PORT node --test tests/sdk/anthropic.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import Anthropic from '@anthropic-ai/sdk';

import {
	ANSWER, ANTHROPIC_MODEL, CLIENT_KEY, COMPLETION_TOKENS, FAKE_SIGNATURE, GEMINI_MODEL, OPENAI_MODEL,
	PROMPT_TOKENS, PROXY_URL, TOOL2, WEATHER_ARGS, lastUpstreamRequest,
} from './common.mjs';

const client = new Anthropic({ baseURL: PROXY_URL, apiKey: CLIENT_KEY, maxRetries: 0, timeout: 20000 });

const WEATHER_TOOL = {
	name: 'get_weather',
	description: 'The current weather in a city.',
	input_schema: {
		type: 'object',
		properties: { location: { type: 'string' } },
		required: ['location'],
	},
};

const hi = (model, extra = {}) => ({ model, max_tokens: 64, messages: [{ role: 'user', content: 'hi' }], ...extra });

// Anthropic's input_tokens excludes cache reads: the canonical prompt count
// is their sum, whichever upstream answered.
function assertUsage(usage) {
	assert.ok(usage, 'usage is present');
	assert.equal((usage.input_tokens ?? 0) + (usage.cache_read_input_tokens ?? 0), PROMPT_TOKENS,
		`usage: ${JSON.stringify(usage)}`);
	assert.equal(usage.output_tokens, COMPLETION_TOKENS);
}

function assertAnswer(message) {
	assert.equal(message.type, 'message');
	assert.equal(message.role, 'assistant');
	assert.equal(typeof message.id, 'string');
	assert.equal(typeof message.model, 'string');
	assert.deepEqual(message.content.map((b) => b.type), ['text']);
	assert.equal(message.content[0].text, ANSWER);
	assert.equal(message.stop_reason, 'end_turn');
	assertUsage(message.usage);
}

function assertToolUse(message) {
	assert.equal(message.stop_reason, 'tool_use');
	const uses = message.content.filter((b) => b.type === 'tool_use');
	assert.equal(uses.length, 2, `content: ${JSON.stringify(message.content)}`);
	for (const use of uses) {
		assert.equal(typeof use.id, 'string');
		assert.ok(use.id.length > 0, 'a tool_use block has an id');
		assert.equal(use.name, 'get_weather');
	}
	assert.notEqual(uses[0].id, uses[1].id);
	assert.deepEqual(uses.map((u) => u.input), WEATHER_ARGS);
}

function assertUpstream(path, model) {
	const req = lastUpstreamRequest();
	if (req === null)
		return;
	assert.equal(req.path, path);
	assert.ok(!JSON.stringify(req).includes(CLIENT_KEY), 'the client key reached the upstream');
	if (model !== undefined && req.body)
		assert.equal(JSON.parse(req.body).model, model);
}

async function streamText(params) {
	const stream = client.messages.stream(params);
	let text = '';
	const types = [];
	stream.on('text', (delta) => { text += delta; });
	stream.on('streamEvent', (event) => { types.push(event.type); });
	const message = await stream.finalMessage();
	return { text, types, message };
}

function assertStreamed({ text, types, message }) {
	assert.equal(text, ANSWER);
	assert.equal(types[0], 'message_start', `events: ${types.join(' ')}`);
	assert.equal(types[types.length - 1], 'message_stop', `events: ${types.join(' ')}`);
	assert.ok(types.includes('content_block_start') && types.includes('content_block_stop'), `events: ${types.join(' ')}`);
	assert.equal(types.filter((t) => t === 'message_delta').length, 1, `events: ${types.join(' ')}`);
	assertAnswer(message);
}

test('messages.create to anthropic/claude-x (native)', async () => {
	const message = await client.messages.create(hi(ANTHROPIC_MODEL, { system: 'be brief' }));
	assertAnswer(message);
	assertUpstream('/v1/messages', ANTHROPIC_MODEL.replace(/^[^/]*\//, ''));
	const req = lastUpstreamRequest();
	if (req !== null) {
		// Same dialect: the SDK's own anthropic-version is forwarded.
		assert.match(req.headers['anthropic-version'], /^\d{4}-\d{2}-\d{2}$/);
		assert.equal(JSON.parse(req.body).system, 'be brief');
	}
});

test('messages.create to openai/gpt-4o (translated)', async () => {
	const message = await client.messages.create(hi(OPENAI_MODEL, { system: 'be brief' }));
	assertAnswer(message);
	assertUpstream('/v1/chat/completions', OPENAI_MODEL.replace(/^[^/]*\//, ''));
	const req = lastUpstreamRequest();
	if (req !== null)
		assert.deepEqual(JSON.parse(req.body).messages[0], { role: 'system', content: 'be brief' });
});

test('messages.create to google/gemini-2.5-flash (translated)', async () => {
	const message = await client.messages.create(hi(GEMINI_MODEL));
	assertAnswer(message);
	assertUpstream(`/v1beta/models/${GEMINI_MODEL.replace(/^[^/]*\//, '')}:generateContent`);
});

test('messages.stream from anthropic/claude-x (native)', async () => {
	assertStreamed(await streamText(hi(ANTHROPIC_MODEL)));
});

test('messages.stream from openai/gpt-4o (translated)', async () => {
	assertStreamed(await streamText(hi(OPENAI_MODEL)));
});

test('messages.stream from google/gemini-2.5-flash (translated)', async () => {
	assertStreamed(await streamText(hi(GEMINI_MODEL)));
});

test('create with stream: true yields the raw events', async () => {
	const stream = await client.messages.create(hi(OPENAI_MODEL, { stream: true }));
	let text = '';
	let stop = null;
	for await (const event of stream) {
		if (event.type === 'content_block_delta' && event.delta.type === 'text_delta')
			text += event.delta.text;
		if (event.type === 'message_delta')
			stop = event.delta.stop_reason;
	}
	assert.equal(text, ANSWER);
	assert.equal(stop, 'end_turn');
});

test('tool use from anthropic/claude-x (native)', async () => {
	const message = await client.messages.create({
		model: ANTHROPIC_MODEL, max_tokens: 256, tools: [WEATHER_TOOL],
		messages: [{ role: 'user', content: TOOL2 }],
	});
	assertToolUse(message);
});

test('tool use from openai/gpt-4o (translated)', async () => {
	const message = await client.messages.create({
		model: OPENAI_MODEL, max_tokens: 256, tools: [WEATHER_TOOL],
		messages: [{ role: 'user', content: TOOL2 }],
	});
	assertToolUse(message);
	const req = lastUpstreamRequest();
	if (req !== null) {
		const tools = JSON.parse(req.body).tools;
		assert.equal(tools?.[0]?.type, 'function', `tools sent upstream: ${JSON.stringify(tools)}`);
		assert.equal(tools[0].function.name, 'get_weather');
		assert.deepEqual(tools[0].function.parameters, WEATHER_TOOL.input_schema);
	}
});

test('streamed tool use from openai/gpt-4o (translated) assembled by messages.stream', async () => {
	const stream = client.messages.stream({
		model: OPENAI_MODEL, max_tokens: 256, tools: [WEATHER_TOOL],
		messages: [{ role: 'user', content: TOOL2 }],
	});
	assertToolUse(await stream.finalMessage());
});

test('streamed tool use from google/gemini-2.5-flash (translated) assembled by messages.stream', async () => {
	const stream = client.messages.stream({
		model: GEMINI_MODEL, max_tokens: 256, tools: [WEATHER_TOOL],
		messages: [{ role: 'user', content: TOOL2 }],
	});
	assertToolUse(await stream.finalMessage());
});

test('a tool result sent back to openai/gpt-4o (translated) is answered', async () => {
	const message = await client.messages.create({
		model: OPENAI_MODEL, max_tokens: 256, tools: [WEATHER_TOOL],
		messages: [
			{ role: 'user', content: 'What is the weather in Paris?' },
			{ role: 'assistant', content: [{ type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Paris' } }] },
			{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny, 21 C' }] },
		],
	});
	assertAnswer(message);
	const req = lastUpstreamRequest();
	if (req !== null) {
		const msgs = JSON.parse(req.body).messages;
		const call = msgs.find((m) => m.role === 'assistant')?.tool_calls?.[0];
		const result = msgs.find((m) => m.role === 'tool');
		assert.deepEqual(JSON.parse(call?.function?.arguments ?? 'null'), { location: 'Paris' }, `messages sent upstream: ${req.body}`);
		assert.equal(result?.tool_call_id, call.id);
		assert.equal(result.content, 'sunny, 21 C');
	}
});

// Anthropic in, Anthropic out: DESIGN.md says the body is forwarded with only
// the model name rewritten, so what the proxy does not model (prompt caching,
// top_k, system blocks) must still reach Anthropic.
test('native: the request body reaches anthropic/claude-x unchanged but for the model', async () => {
	const params = {
		model: ANTHROPIC_MODEL,
		max_tokens: 64,
		top_k: 5,
		metadata: { user_id: 'user-42' },
		system: [{ type: 'text', text: 'be brief', cache_control: { type: 'ephemeral' } }],
		messages: [{ role: 'user', content: [{ type: 'text', text: 'hi', cache_control: { type: 'ephemeral' } }] }],
	};
	assertAnswer(await client.messages.create(params));
	const req = lastUpstreamRequest();
	if (req === null)
		return;
	const { model, stream, ...sent } = JSON.parse(req.body);
	const { model: _, ...asked } = params;
	assert.equal(model, ANTHROPIC_MODEL.replace(/^[^/]*\//, ''));
	assert.ok(stream === undefined || stream === false);
	assert.deepEqual(sent, asked);
});

test('native: client.beta.messages sends its anthropic-beta header to anthropic/claude-x', async () => {
	const message = await client.beta.messages.create({ ...hi(ANTHROPIC_MODEL), betas: ['prompt-caching-2024-07-31'] });
	assert.equal(message.content[0].text, ANSWER);
	const req = lastUpstreamRequest();
	if (req !== null)
		assert.equal(req.headers['anthropic-beta'], 'prompt-caching-2024-07-31', `headers: ${JSON.stringify(req.headers)}`);
});

// Extended thinking: the signature proves the block to Anthropic when the
// client sends it back (required with tool use); the fake signs every block.
const THINKING = { type: 'enabled', budget_tokens: 1024 };

test('native: thinking blocks from anthropic/claude-x keep their signature', async () => {
	const params = { ...hi(ANTHROPIC_MODEL, { max_tokens: 2048, thinking: THINKING }), messages: [{ role: 'user', content: 'hi [[fake:reasoning]]' }] };
	const message = await client.messages.create(params);
	assert.deepEqual(message.content.map((b) => b.type), ['thinking', 'text']);
	assert.equal(message.content[0].thinking, 'Let me think.');
	assert.equal(message.content[0].signature, FAKE_SIGNATURE, `content: ${JSON.stringify(message.content)}`);
});

test('native: streamed thinking blocks from anthropic/claude-x keep their signature', async () => {
	const params = { ...hi(ANTHROPIC_MODEL, { max_tokens: 2048, thinking: THINKING }), messages: [{ role: 'user', content: 'hi [[fake:reasoning]]' }] };
	const message = await client.messages.stream(params).finalMessage();
	assert.deepEqual(message.content.map((b) => b.type), ['thinking', 'text']);
	assert.equal(message.content[0].thinking, 'Let me think.');
	assert.equal(message.content[0].signature, FAKE_SIGNATURE, `content: ${JSON.stringify(message.content)}`);
});

test('native: a thinking block sent back reaches anthropic/claude-x with its signature', async () => {
	const thinking = { type: 'thinking', thinking: 'Let me think.', signature: FAKE_SIGNATURE };
	await client.messages.create({
		model: ANTHROPIC_MODEL, max_tokens: 2048, thinking: THINKING, tools: [WEATHER_TOOL],
		messages: [
			{ role: 'user', content: 'What is the weather in Paris?' },
			{ role: 'assistant', content: [thinking, { type: 'tool_use', id: 'toolu_1', name: 'get_weather', input: { location: 'Paris' } }] },
			{ role: 'user', content: [{ type: 'tool_result', tool_use_id: 'toolu_1', content: 'sunny, 21 C' }] },
		],
	});
	const req = lastUpstreamRequest();
	if (req === null)
		return;
	const assistant = JSON.parse(req.body).messages[1];
	assert.deepEqual(assistant?.content?.[0], thinking, `assistant turn sent upstream: ${JSON.stringify(assistant)}`);
});

// Anthropic reports the input tokens in message_start (clients such as
// Claude Code read them there); only output_tokens grows in message_delta.
test('native: message_start from anthropic/claude-x carries the input tokens', async () => {
	const stream = client.messages.stream(hi(ANTHROPIC_MODEL));
	let start = null;
	stream.on('streamEvent', (event) => { if (event.type === 'message_start') start = structuredClone(event.message); });
	await stream.finalMessage();
	const usage = start?.usage;
	assert.equal((usage?.input_tokens ?? 0) + (usage?.cache_read_input_tokens ?? 0), PROMPT_TOKENS,
		`message_start usage: ${JSON.stringify(usage)}`);
});

async function assertStreamErrorThrows(model, type) {
	let text = '';
	const stream = client.messages.stream({ ...hi(model), messages: [{ role: 'user', content: 'hi [[fake:stream_error]]' }] });
	stream.on('text', (delta) => { text += delta; });
	await assert.rejects(stream.finalMessage(), (err) => {
		assert.ok(err instanceof Anthropic.APIError, `got ${err?.constructor?.name}: ${err}`);
		if (type !== undefined)
			assert.equal(err.error?.error?.type, type, `error: ${JSON.stringify(err.error)}`);
		return true;
	});
	assert.ok(ANSWER.startsWith(text) && text.length < ANSWER.length, `text before the error: ${JSON.stringify(text)}`);
}

test('an error in the middle of a stream from openai/gpt-4o (translated) makes messages.stream throw', () =>
	assertStreamErrorThrows(OPENAI_MODEL));
test('an error in the middle of a stream from google/gemini-2.5-flash (translated) makes messages.stream throw', () =>
	assertStreamErrorThrows(GEMINI_MODEL));
// The fake's Anthropic stream error is an overloaded_error: a native stream
// must hand it on as it is (clients retry on that type).
test('native: an overloaded_error in the middle of a stream from anthropic/claude-x keeps its type', () =>
	assertStreamErrorThrows(ANTHROPIC_MODEL, 'overloaded_error'));

test('an upstream 529 from anthropic/claude-x throws OverloadedError', async () => {
	await assert.rejects(
		client.messages.create({ model: ANTHROPIC_MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hi [[fake:status=529]]' }] }),
		(err) => {
			assert.ok(err instanceof Anthropic.APIError, `got ${err?.constructor?.name}: ${err}`);
			assert.equal(err.status, 529);
			assert.ok(err instanceof Anthropic.InternalServerError, `got ${err?.constructor?.name}`);
			assert.equal(err.error?.type, 'error', `error body: ${JSON.stringify(err.error)}`);
			assert.equal(err.error?.error?.type, 'overloaded_error');
			return true;
		});
});

test('an upstream 429 from openai/gpt-4o (translated) throws RateLimitError', async () => {
	await assert.rejects(
		client.messages.create({ model: OPENAI_MODEL, max_tokens: 64, messages: [{ role: 'user', content: 'hi [[fake:status=429]]' }] }),
		(err) => {
			assert.ok(err instanceof Anthropic.RateLimitError, `got ${err?.constructor?.name}: ${err}`);
			assert.equal(err.status, 429);
			assert.equal(err.error?.error?.type, 'rate_limit_error', `error body: ${JSON.stringify(err.error)}`);
			return true;
		});
});

test('an unknown provider is a NotFoundError in Anthropic shape', async () => {
	await assert.rejects(
		client.messages.create(hi('antropic/x')),
		(err) => {
			assert.ok(err instanceof Anthropic.NotFoundError, `got ${err?.constructor?.name}: ${err}`);
			assert.equal(err.status, 404);
			assert.equal(err.error?.type, 'error', `error body: ${JSON.stringify(err.error)}`);
			assert.equal(err.error?.error?.type, 'not_found_error');
			return true;
		});
});
