// openai.test.mjs - the official OpenAI SDK against `arouter proxy`'s
// /v1/chat/completions, /v1/embeddings and /v1/models, to OpenAI (same
// dialect), Anthropic and Gemini (translated) upstreams played by
// tests/fake-upstream.
//
// Run by tests/sdk.bats (one bats test per test here, by name); by hand:
//   PROXY_URL=http://127.0.0.1:PORT node --test tests/sdk/openai.test.mjs

import { test } from 'node:test';
import assert from 'node:assert/strict';
import OpenAI from 'openai';

import {
	ANSWER, ANTHROPIC_MODEL, CLIENT_KEY, COMPLETION_TOKENS, FAKE_SIGNATURE, GEMINI_EMBED_MODEL, GEMINI_MODEL,
	OPENAI_EMBED_MODEL, OPENAI_MODEL, PNG, PROMPT_TOKENS, PROXY_URL, TOOL2, WEATHER_ARGS, lastUpstreamRequest,
} from './common.mjs';

const client = new OpenAI({ baseURL: PROXY_URL + '/v1', apiKey: CLIENT_KEY, maxRetries: 0, timeout: 20000 });

const WEATHER_TOOL = {
	type: 'function',
	function: {
		name: 'get_weather',
		description: 'The current weather in a city.',
		parameters: {
			type: 'object',
			properties: { location: { type: 'string' } },
			required: ['location'],
		},
	},
};

const hi = (model, extra = {}) => ({ model, messages: [{ role: 'user', content: 'hi' }], ...extra });

function assertUsage(usage) {
	assert.ok(usage, 'usage is present');
	assert.equal(usage.prompt_tokens, PROMPT_TOKENS);
	assert.equal(usage.completion_tokens, COMPLETION_TOKENS);
	assert.equal(usage.total_tokens, PROMPT_TOKENS + COMPLETION_TOKENS);
}

function assertAnswer(completion) {
	assert.equal(completion.object, 'chat.completion');
	assert.equal(typeof completion.id, 'string');
	assert.equal(completion.choices.length, 1);
	const choice = completion.choices[0];
	assert.equal(choice.index, 0);
	assert.equal(choice.message.role, 'assistant');
	assert.equal(choice.message.content, ANSWER);
	assert.equal(choice.finish_reason, 'stop');
	assertUsage(completion.usage);
}

// What the upstream got: its own dialect's path, the proxy's provider key,
// and never the SDK's key.
function assertUpstream(path, model) {
	const req = lastUpstreamRequest();
	if (req === null)
		return;
	assert.equal(req.path, path);
	assert.ok(!JSON.stringify(req).includes(CLIENT_KEY), 'the client key reached the upstream');
	if (model !== undefined && req.body)
		assert.equal(JSON.parse(req.body).model, model);
}

async function collectStream(stream) {
	let text = '';
	const usages = [];
	const finishReasons = [];
	for await (const chunk of stream) {
		assert.equal(chunk.object, 'chat.completion.chunk');
		if (chunk.usage)
			usages.push({ usage: chunk.usage, choices: chunk.choices.length });
		for (const choice of chunk.choices) {
			text += choice.delta?.content ?? '';
			if (choice.finish_reason)
				finishReasons.push(choice.finish_reason);
		}
	}
	return { text, usages, finishReasons };
}

function assertStreamed({ text, usages, finishReasons }) {
	assert.equal(text, ANSWER);
	assert.deepEqual(finishReasons, ['stop']);
	// include_usage: exactly one usage chunk, with no choices.
	assert.equal(usages.length, 1, `usage chunks: ${JSON.stringify(usages)}`);
	assert.equal(usages[0].choices, 0);
	assertUsage(usages[0].usage);
}

function assertToolCalls(message, finishReason) {
	assert.equal(finishReason, 'tool_calls');
	const calls = message.tool_calls;
	assert.ok(Array.isArray(calls), `tool_calls: ${JSON.stringify(message)}`);
	assert.equal(calls.length, 2);
	for (const call of calls) {
		assert.equal(call.type, 'function');
		assert.equal(typeof call.id, 'string');
		assert.ok(call.id.length > 0, 'a tool call has an id');
		assert.equal(call.function.name, 'get_weather');
	}
	assert.notEqual(calls[0].id, calls[1].id);
	assert.deepEqual(calls.map((c) => JSON.parse(c.function.arguments)), WEATHER_ARGS);
}

test('chat completion through openai/gpt-4o', async () => {
	const completion = await client.chat.completions.create(hi(OPENAI_MODEL));
	assertAnswer(completion);
	assertUpstream('/v1/chat/completions', OPENAI_MODEL.replace(/^[^/]*\//, ''));
});

test('chat completion through anthropic/claude-x (translated)', async () => {
	const completion = await client.chat.completions.create({
		model: ANTHROPIC_MODEL,
		max_tokens: 64,
		messages: [
			{ role: 'system', content: 'be brief' },
			{ role: 'user', content: 'hi' },
		],
	});
	assertAnswer(completion);
	assertUpstream('/v1/messages', ANTHROPIC_MODEL.replace(/^[^/]*\//, ''));
});

test('chat completion through google/gemini-2.5-flash (translated)', async () => {
	const completion = await client.chat.completions.create(hi(GEMINI_MODEL));
	assertAnswer(completion);
	assertUpstream(`/v1beta/models/${GEMINI_MODEL.replace(/^[^/]*\//, '')}:generateContent`);
});

test('withResponse gives the raw HTTP response', async () => {
	const { data, response } = await client.chat.completions.create(hi(OPENAI_MODEL)).withResponse();
	assert.equal(response.status, 200);
	assert.match(response.headers.get('content-type') ?? '', /^application\/json/);
	assertAnswer(data);
});

test('streaming with include_usage through openai/gpt-4o', async () => {
	const stream = await client.chat.completions.create(
		hi(OPENAI_MODEL, { stream: true, stream_options: { include_usage: true } }));
	assertStreamed(await collectStream(stream));
});

test('streaming with include_usage through anthropic/claude-x (translated)', async () => {
	const stream = await client.chat.completions.create(
		hi(ANTHROPIC_MODEL, { stream: true, stream_options: { include_usage: true } }));
	assertStreamed(await collectStream(stream));
});

test('streaming with include_usage through google/gemini-2.5-flash (translated)', async () => {
	const stream = await client.chat.completions.create(
		hi(GEMINI_MODEL, { stream: true, stream_options: { include_usage: true } }));
	assertStreamed(await collectStream(stream));
});

test('streaming without include_usage sends no usage chunk', async () => {
	const stream = await client.chat.completions.create(hi(ANTHROPIC_MODEL, { stream: true }));
	const { text, usages } = await collectStream(stream);
	assert.equal(text, ANSWER);
	assert.equal(usages.length, 0, `usage chunks: ${JSON.stringify(usages)}`);
});

test('tool calls through openai/gpt-4o', async () => {
	const completion = await client.chat.completions.create({
		model: OPENAI_MODEL,
		messages: [{ role: 'user', content: TOOL2 }],
		tools: [WEATHER_TOOL],
	});
	assertToolCalls(completion.choices[0].message, completion.choices[0].finish_reason);
});

test('tool calls through anthropic/claude-x (translated)', async () => {
	const completion = await client.chat.completions.create({
		model: ANTHROPIC_MODEL,
		messages: [{ role: 'user', content: TOOL2 }],
		tools: [WEATHER_TOOL],
	});
	assertToolCalls(completion.choices[0].message, completion.choices[0].finish_reason);
	const req = lastUpstreamRequest();
	if (req !== null) {
		const tools = JSON.parse(req.body).tools;
		assert.equal(tools?.[0]?.name, 'get_weather', `tools sent upstream: ${JSON.stringify(tools)}`);
		assert.deepEqual(tools[0].input_schema, WEATHER_TOOL.function.parameters);
	}
});

test('streamed tool calls assembled by the SDK through anthropic/claude-x (translated)', async () => {
	const stream = client.chat.completions.stream({
		model: ANTHROPIC_MODEL,
		messages: [{ role: 'user', content: TOOL2 }],
		tools: [WEATHER_TOOL],
	});
	const completion = await stream.finalChatCompletion();
	assertToolCalls(completion.choices[0].message, completion.choices[0].finish_reason);
});

test('tool calls through google/gemini-2.5-flash (translated)', async () => {
	const completion = await client.chat.completions.create({
		model: GEMINI_MODEL,
		messages: [{ role: 'user', content: TOOL2 }],
		tools: [WEATHER_TOOL],
	});
	assertToolCalls(completion.choices[0].message, completion.choices[0].finish_reason);
});

test('streamed tool calls assembled by the SDK through openai/gpt-4o', async () => {
	const stream = client.chat.completions.stream({
		model: OPENAI_MODEL,
		messages: [{ role: 'user', content: TOOL2 }],
		tools: [WEATHER_TOOL],
	});
	const completion = await stream.finalChatCompletion();
	assertToolCalls(completion.choices[0].message, completion.choices[0].finish_reason);
});

test('streamed tool calls assembled by the SDK through google/gemini-2.5-flash (translated)', async () => {
	const stream = client.chat.completions.stream({
		model: GEMINI_MODEL,
		messages: [{ role: 'user', content: TOOL2 }],
		tools: [WEATHER_TOOL],
	});
	const completion = await stream.finalChatCompletion();
	assertToolCalls(completion.choices[0].message, completion.choices[0].finish_reason);
});

// Gemini wants a function call's thoughtSignature back on the next turn;
// its OpenAI-compatible API carries it as extra_content.google.thought_signature.
// The fake signs the first call of every tool answer.
test('tool calls through google/gemini-2.5-flash (translated) keep the thought signature', async () => {
	const completion = await client.chat.completions.create({
		model: GEMINI_MODEL,
		messages: [{ role: 'user', content: TOOL2 }],
		tools: [WEATHER_TOOL],
	});
	const calls = completion.choices[0].message.tool_calls;
	assert.equal(calls?.[0]?.extra_content?.google?.thought_signature, FAKE_SIGNATURE,
		`tool_calls: ${JSON.stringify(calls)}`);
});

test('streamed tool calls through google/gemini-2.5-flash (translated) keep the thought signature', async () => {
	const stream = client.chat.completions.stream({
		model: GEMINI_MODEL,
		messages: [{ role: 'user', content: TOOL2 }],
		tools: [WEATHER_TOOL],
	});
	const calls = (await stream.finalChatCompletion()).choices[0].message.tool_calls;
	assert.equal(calls?.[0]?.extra_content?.google?.thought_signature, FAKE_SIGNATURE,
		`tool_calls: ${JSON.stringify(calls)}`);
});

test('a tool result sent back is answered', async () => {
	const completion = await client.chat.completions.create({
		model: ANTHROPIC_MODEL,
		tools: [WEATHER_TOOL],
		messages: [
			{ role: 'user', content: 'What is the weather in Paris?' },
			{
				role: 'assistant',
				content: null,
				tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"location":"Paris"}' } }],
			},
			{ role: 'tool', tool_call_id: 'call_1', content: 'sunny, 21 C' },
		],
	});
	assertAnswer(completion);
	const req = lastUpstreamRequest();
	if (req !== null) {
		const body = JSON.parse(req.body);
		const blocks = body.messages.flatMap((m) => (Array.isArray(m.content) ? m.content : []));
		const use = blocks.find((b) => b.type === 'tool_use');
		const result = blocks.find((b) => b.type === 'tool_result');
		assert.deepEqual(use?.input, { location: 'Paris' }, `messages sent upstream: ${req.body}`);
		assert.equal(result?.tool_use_id, use.id);
	}
});

test('request parameters reach anthropic/claude-x translated', async () => {
	await client.chat.completions.create({
		model: ANTHROPIC_MODEL,
		max_completion_tokens: 77,
		stop: ['END'],
		temperature: 0.5,
		user: 'user-42',
		tools: [WEATHER_TOOL],
		tool_choice: 'required',
		parallel_tool_calls: false,
		messages: [
			{ role: 'developer', content: 'be brief' },
			{ role: 'user', content: [{ type: 'text', text: 'look' }, { type: 'image_url', image_url: { url: `data:image/png;base64,${PNG}` } }] },
		],
	});
	const req = lastUpstreamRequest();
	if (req === null)
		return;
	const body = JSON.parse(req.body);
	assert.equal(body.max_tokens, 77);
	assert.deepEqual(body.stop_sequences, ['END']);
	assert.equal(body.temperature, 0.5);
	assert.deepEqual(body.metadata, { user_id: 'user-42' });
	assert.deepEqual(body.tool_choice, { type: 'any', disable_parallel_tool_use: true });
	assert.ok(body.system === 'be brief' || (Array.isArray(body.system) && body.system[0]?.text === 'be brief'), `system: ${JSON.stringify(body.system)}`);
	assert.deepEqual(body.messages, [{ role: 'user', content: [
		{ type: 'text', text: 'look' },
		{ type: 'image', source: { type: 'base64', media_type: 'image/png', data: PNG } },
	] }]);
});

// The fake answers the text of a reply= directive (no ';' or ']]' in it).
async function assertTextSurvives(model) {
	const text = 'Grüße, 世界 👋 "quoted" back\\slash\ttab';
	const messages = [{ role: 'user', content: `hi [[fake:reply=${text}]]` }];
	const completion = await client.chat.completions.create({ model, messages });
	assert.equal(completion.choices[0].message.content, text);
	const { text: streamed } = await collectStream(await client.chat.completions.create({ model, messages, stream: true }));
	assert.equal(streamed, text);
}

test('non-ASCII text and JSON escapes survive openai/gpt-4o', () => assertTextSurvives(OPENAI_MODEL));
test('non-ASCII text and JSON escapes survive anthropic/claude-x (translated)', () => assertTextSurvives(ANTHROPIC_MODEL));
test('non-ASCII text and JSON escapes survive google/gemini-2.5-flash (translated)', () => assertTextSurvives(GEMINI_MODEL));

// stream_error: the upstream sends two content events, then its dialect's
// in-stream error.
async function assertStreamErrorThrows(model) {
	let text = '';
	await assert.rejects(async () => {
		const stream = await client.chat.completions.create(
			{ model, stream: true, messages: [{ role: 'user', content: 'hi [[fake:stream_error]]' }] });
		for await (const chunk of stream)
			text += chunk.choices[0]?.delta?.content ?? '';
	}, (err) => {
		assert.ok(err instanceof OpenAI.APIError, `got ${err?.constructor?.name}: ${err}`);
		return true;
	});
	assert.ok(ANSWER.startsWith(text) && text.length < ANSWER.length, `text before the error: ${JSON.stringify(text)}`);
}

test('an error in the middle of a stream from openai/gpt-4o makes the SDK throw', () => assertStreamErrorThrows(OPENAI_MODEL));
test('an error in the middle of a stream from anthropic/claude-x (translated) makes the SDK throw', () => assertStreamErrorThrows(ANTHROPIC_MODEL));
test('an error in the middle of a stream from google/gemini-2.5-flash (translated) makes the SDK throw', () => assertStreamErrorThrows(GEMINI_MODEL));

// The SDK asks for base64 unless told otherwise and decodes it to floats
// itself, so a proxy that answers floats to a base64 request hands the
// caller garbage; compare with an explicit float request.
async function assertEmbeddings(model) {
	const input = ['first text', 'second text'];
	const floats = await client.embeddings.create({ model, input, encoding_format: 'float' });
	assert.equal(floats.object, 'list');
	assert.deepEqual(floats.data.map((d) => d.index), [0, 1]);
	for (const d of floats.data) {
		assert.ok(Array.isArray(d.embedding) && d.embedding.length > 0, `embedding: ${JSON.stringify(d.embedding)}`);
		assert.ok(d.embedding.every((x) => typeof x === 'number'));
	}
	const decoded = await client.embeddings.create({ model, input });
	assert.deepEqual(decoded.data.map((d) => Array.from(d.embedding)), floats.data.map((d) => d.embedding),
		'the SDK\'s default (base64) request decodes to other vectors than encoding_format float');
}

test('embeddings through openai/text-embedding-3-small, base64 and float', () => assertEmbeddings(OPENAI_EMBED_MODEL));
test('embeddings through google/gemini-embedding-001 (translated), base64 and float', () => assertEmbeddings(GEMINI_EMBED_MODEL));

test('embeddings dimensions reach google/gemini-embedding-001 (translated)', async () => {
	const res = await client.embeddings.create({ model: GEMINI_EMBED_MODEL, input: 'hi', dimensions: 4, encoding_format: 'float' });
	assert.equal(res.data[0].embedding.length, 4, `embedding: ${JSON.stringify(res.data[0].embedding)}`);
});

test('models.list() lists the models of providers with keys', async () => {
	const ids = [];
	for await (const model of client.models.list()) {
		assert.equal(model.object, 'model');
		assert.equal(typeof model.id, 'string');
		ids.push(model.id);
	}
	assert.ok(ids.length > 0, 'no models listed');
	assert.ok(ids.includes('openai/gpt-4o-mini'), `ids: ${ids.join(' ')}`);
	assert.ok(ids.some((id) => id.startsWith('anthropic/')), `ids: ${ids.join(' ')}`);
	assert.ok(!ids.some((id) => id.startsWith('deepseek/')), 'a provider without a key is listed');
});

test('an upstream 429 through openai/gpt-4o throws RateLimitError', async () => {
	await assert.rejects(
		client.chat.completions.create({ model: OPENAI_MODEL, messages: [{ role: 'user', content: 'hi [[fake:status=429]]' }] }),
		(err) => {
			assert.ok(err instanceof OpenAI.RateLimitError, `got ${err?.constructor?.name}: ${err}`);
			assert.equal(err.status, 429);
			return true;
		});
});

test('an upstream 429 through anthropic/claude-x (translated) throws RateLimitError', async () => {
	await assert.rejects(
		client.chat.completions.create({ model: ANTHROPIC_MODEL, messages: [{ role: 'user', content: 'hi [[fake:status=429]]' }] }),
		(err) => {
			assert.ok(err instanceof OpenAI.RateLimitError, `got ${err?.constructor?.name}: ${err}`);
			assert.equal(err.status, 429);
			assert.equal(typeof err.error?.message, 'string', `error body: ${JSON.stringify(err.error)}`);
			return true;
		});
});

test('an unknown provider is a NotFoundError', async () => {
	await assert.rejects(
		client.chat.completions.create(hi('antropic/x')),
		(err) => {
			assert.ok(err instanceof OpenAI.NotFoundError, `got ${err?.constructor?.name}: ${err}`);
			assert.equal(err.status, 404);
			return true;
		});
});
