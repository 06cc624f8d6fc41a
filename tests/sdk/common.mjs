// common.mjs - what both SDK test files share: where the proxy is, which
// models to ask for, what the fake upstream answers, and its request record.
//
// tests/sdk.bats starts the fake upstream and `arouter proxy` and exports
// PROXY_URL (and FAKE_RECORD); the model names may be overridden with
// SDK_OPENAI_MODEL, SDK_ANTHROPIC_MODEL, SDK_GEMINI_MODEL, SDK_OPENAI_EMBED_MODEL
// and SDK_GEMINI_EMBED_MODEL.

import { readFileSync } from 'node:fs';

export const PROXY_URL = (() => {
	const url = process.env.PROXY_URL;
	if (!url)
		throw new Error('PROXY_URL is not set: run these tests through tests/sdk.bats');
	return url.replace(/\/+$/, '');
})();

export const OPENAI_MODEL = process.env.SDK_OPENAI_MODEL || 'openai/gpt-4o';
export const ANTHROPIC_MODEL = process.env.SDK_ANTHROPIC_MODEL || 'anthropic/claude-x';
export const GEMINI_MODEL = process.env.SDK_GEMINI_MODEL || 'google/gemini-2.5-flash';
export const OPENAI_EMBED_MODEL = process.env.SDK_OPENAI_EMBED_MODEL || 'openai/text-embedding-3-small';
export const GEMINI_EMBED_MODEL = process.env.SDK_GEMINI_EMBED_MODEL || 'google/gemini-embedding-001';

// The key the SDKs send; the proxy has no client keys configured, so it is
// ignored and must never reach an upstream.
export const CLIENT_KEY = 'unused-local';

// The fake upstream's default answer and usage (tests/fake-upstream.c).
export const ANSWER = 'Hello from the fake upstream.';
export const PROMPT_TOKENS = 12;
export const COMPLETION_TOKENS = 5;

// Markers the fake reads from the prompt.
export const TOOL2 = 'What is the weather in Paris and Tokyo? [[fake:tool=2]]';
export const WEATHER_ARGS = [{ location: 'Paris' }, { location: 'Tokyo' }];

// The signature the fake puts on thinking blocks and Gemini function calls.
export const FAKE_SIGNATURE = 'ZmFrZS1zaWduYXR1cmU=';

// A 1x1 PNG, for image inputs.
export const PNG = 'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5ErkJggg==';

// The last request the fake upstream recorded, or null when FAKE_RECORD is
// not set (the tests are then run against a proxy started by hand).
export function lastUpstreamRequest() {
	const file = process.env.FAKE_RECORD;
	if (!file)
		return null;
	const requests = readFileSync(file, 'utf8')
		.split('\n')
		.filter((line) => line.trim() !== '')
		.map((line) => JSON.parse(line))
		.filter((r) => !('event' in r));
	return requests.length ? requests[requests.length - 1] : null;
}
