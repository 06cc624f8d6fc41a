/* json-test.h - JSON fixture helpers shared by the unit tests
 * (test-dialect.c, test-ingress.c): backtick fixtures, dotted-path getters
 * that read a missing or mistyped value as a sentinel instead of crashing,
 * what a client assembles from a stream of canonical chunks, and the
 * node-replacing mutator of their fuzz loops.
 *
 * Fixtures write '"' as '`' so that JSON reads like JSON; unq() turns them
 * back before use. Header-only: every helper is static inline, so a test
 * that does not use one pays nothing for it. */
#ifndef AROUTER_JSON_TEST_H
#define AROUTER_JSON_TEST_H

#include "buf.h"
#include "util.h"

#include <json-c/json.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* s with every '`' turned into '"'; owned by the caller. */
static inline char *unq(const char *s)
{
	char *r = xstrdup(s);
	for (char *p = r; *p; p++)
		if (*p == '`')
			*p = '"';
	return r;
}

/* The backtick fixture s parsed (owned by the caller); a fixture that does
 * not parse aborts the test. */
static inline json_object *J(const char *s)
{
	char *t = unq(s);
	json_object *o = json_tokener_parse(t);
	if (!o) {
		printf("# bad fixture: %s\n", t);
		fflush(stdout);
		abort();
	}
	free(t);
	return o;
}

/* A dotted path ("messages.0.content.1.type"); numeric segments index
 * arrays. NULL when any step is missing. Borrowed from o. */
static inline json_object *jp(json_object *o, const char *path)
{
	char *copy = xstrdup(path);
	char *save = NULL;
	for (char *seg = strtok_r(copy, ".", &save); seg && o; seg = strtok_r(NULL, ".", &save)) {
		if (json_object_is_type(o, json_type_array)) {
			char *end;
			long i = strtol(seg, &end, 10);
			o = (*end || i < 0) ? NULL : json_object_array_get_idx(o, (size_t)i);
		} else if (json_object_is_type(o, json_type_object)) {
			json_object *v = NULL;
			o = json_object_object_get_ex(o, seg, &v) ? v : NULL;
		} else {
			o = NULL;
		}
	}
	free(copy);
	return o;
}

/* The string at path (borrowed), or NULL. */
static inline const char *js(json_object *o, const char *path)
{
	json_object *v = jp(o, path);
	return json_object_is_type(v, json_type_string) ? json_object_get_string(v) : NULL;
}

/* The integer at path, or -999999. */
static inline long long ji(json_object *o, const char *path)
{
	json_object *v = jp(o, path);
	if (json_object_is_type(v, json_type_int))
		return json_object_get_int64(v);
	return -999999;
}

/* The number at path, or -999999. */
static inline double jd(json_object *o, const char *path)
{
	json_object *v = jp(o, path);
	if (json_object_is_type(v, json_type_int) || json_object_is_type(v, json_type_double))
		return json_object_get_double(v);
	return -999999;
}

/* The boolean at path as 0 or 1, or -1. */
static inline int jb(json_object *o, const char *path)
{
	json_object *v = jp(o, path);
	return json_object_is_type(v, json_type_boolean) ? json_object_get_boolean(v) : -1;
}

/* The length of the array or object at path, or -1. */
static inline int jlen(json_object *o, const char *path)
{
	json_object *v = jp(o, path);
	if (json_object_is_type(v, json_type_array))
		return (int)json_object_array_length(v);
	if (json_object_is_type(v, json_type_object))
		return json_object_object_length(v);
	return -1;
}

/* The key exists (even with a null value). */
static inline bool jhas(json_object *o, const char *path)
{
	char *copy = xstrdup(path);
	char *dot = strrchr(copy, '.');
	json_object *parent = o;
	const char *key = copy;
	if (dot) {
		*dot = '\0';
		parent = jp(o, copy);
		key = dot + 1;
	}
	bool r =
	    json_object_is_type(parent, json_type_object) && json_object_object_get_ex(parent, key, NULL);
	free(copy);
	return r;
}

/* The key exists with a null value. */
static inline bool jnull(json_object *o, const char *path)
{
	return jhas(o, path) && jp(o, path) == NULL;
}

/* Compact serialisation, owned by o (valid until o changes or is freed). */
static inline const char *dump(json_object *o)
{
	return json_object_to_json_string_ext(o, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
}

/* ---------- canonical chunk streams ---------- */

/* What a client would assemble from the chunks of choice 0. Everything
 * in it is owned by the summary; release with summary_free. */
struct summary {
	struct buf content, reasoning;
	int roles;       /* deltas carrying "role" */
	bool role_first; /* the first chunk carries the role */
	char finish[32]; /* the last finish_reason */
	int finishes;
	json_object *usage; /* the last usage chunk's "usage" */
	int usage_chunks;
	bool usage_last;  /* the usage chunk comes after every finish */
	bool same_id;     /* one id and one created across the stream */
	char *id, *model; /* the first chunk's id, the last chunk's model */
	int ntools;
	struct {
		char *id, *name;
		struct buf args;
		int ids; /* how many deltas named the id */
	} tools[8];
	bool ordered_tools; /* canonical tool indices are 0, 1, 2, … in order */
};

/* A copy of s (owned by the caller), or NULL. */
static inline char *summary_dup(const char *s)
{
	return s ? xstrdup(s) : NULL;
}

/* Summarizes the array of canonical chunks into s (overwritten). */
static inline void summarize(json_object *chunks, struct summary *s)
{
	memset(s, 0, sizeof *s);
	s->same_id = true;
	s->ordered_tools = true;
	size_t n = json_object_array_length(chunks);
	long long created = -1;
	for (size_t i = 0; i < n; i++) {
		json_object *c = json_object_array_get_idx(chunks, i);
		if (i == 0) {
			s->id = summary_dup(js(c, "id"));
			created = ji(c, "created");
			s->role_first = js(c, "choices.0.delta.role") != NULL;
		} else if (!s->id || !js(c, "id") || strcmp(s->id, js(c, "id")) ||
		           created != ji(c, "created")) {
			s->same_id = false;
		}
		free(s->model);
		s->model = summary_dup(js(c, "model"));
		if (jlen(c, "choices") == 0) {
			s->usage_chunks++;
			json_object_put(s->usage);
			s->usage = json_object_get(jp(c, "usage"));
			s->usage_last = i == n - 1;
			continue;
		}
		json_object *d = jp(c, "choices.0.delta");
		if (js(d, "role"))
			s->roles++;
		if (js(d, "content"))
			buf_puts(&s->content, js(d, "content"));
		if (js(d, "reasoning_content"))
			buf_puts(&s->reasoning, js(d, "reasoning_content"));
		int nt = jlen(d, "tool_calls");
		for (int t = 0; t < nt; t++) {
			char path[32];
			snprintf(path, sizeof path, "tool_calls.%d", t);
			json_object *tc = jp(d, path);
			long long idx = ji(tc, "index");
			if (idx < 0 || idx >= 8)
				continue;
			if (idx > s->ntools)
				s->ordered_tools = false;
			if (idx >= s->ntools)
				s->ntools = (int)idx + 1;
			if (js(tc, "id")) {
				s->tools[idx].ids++;
				free(s->tools[idx].id);
				s->tools[idx].id = xstrdup(js(tc, "id"));
			}
			if (js(tc, "function.name")) {
				free(s->tools[idx].name);
				s->tools[idx].name = xstrdup(js(tc, "function.name"));
			}
			if (js(tc, "function.arguments"))
				buf_puts(&s->tools[idx].args, js(tc, "function.arguments"));
		}
		const char *fr = js(c, "choices.0.finish_reason");
		if (fr) {
			s->finishes++;
			snprintf(s->finish, sizeof s->finish, "%s", fr);
			if (s->usage_chunks)
				s->usage_last = false;
		}
	}
}

static inline void summary_free(struct summary *s)
{
	buf_free(&s->content);
	buf_free(&s->reasoning);
	json_object_put(s->usage);
	free(s->id);
	free(s->model);
	for (int i = 0; i < 8; i++) {
		free(s->tools[i].id);
		free(s->tools[i].name);
		buf_free(&s->tools[i].args);
	}
	memset(s, 0, sizeof *s);
}

/* ---------- mutations ---------- */

/* The number of nodes of o, o itself included. */
static inline size_t count_nodes(json_object *o)
{
	size_t n = 1;
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach (o, k, v) {
			(void)k;
			n += count_nodes(v);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		size_t len = json_object_array_length(o);
		for (size_t i = 0; i < len; i++)
			n += count_nodes(json_object_array_get_idx(o, i));
	}
	return n;
}

/* Replaces the *n-th node below o (pre-order, o's first member or element
 * is 0) with a new reference to rep; counts *n down on the way. */
static inline bool replace_nth(json_object *o, size_t *n, json_object *rep)
{
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach (o, k, v) {
			if ((*n)-- == 0) {
				json_object_object_add(o, k, json_object_get(rep));
				return true;
			}
			if (replace_nth(v, n, rep))
				return true;
		}
	} else if (json_object_is_type(o, json_type_array)) {
		size_t len = json_object_array_length(o);
		for (size_t i = 0; i < len; i++) {
			if ((*n)-- == 0) {
				json_object_array_put_idx(o, i, json_object_get(rep));
				return true;
			}
			if (replace_nth(json_object_array_get_idx(o, i), n, rep))
				return true;
		}
	}
	return false;
}

/* A deep copy of root with node number node (pre-order as count_nodes
 * counts, root itself is 0) replaced by the JSON text alt parsed; node 0
 * gives alt alone. Owned by the caller (NULL for alt "null" at node 0). */
static inline json_object *mutated(json_object *root, size_t node, const char *alt)
{
	json_object *rep = json_tokener_parse(alt);
	if (node == 0)
		return rep;
	json_object *copy = NULL;
	json_object_deep_copy(root, &copy, NULL);
	size_t n = node - 1;
	replace_nth(copy, &n, rep);
	json_object_put(rep);
	return copy;
}

#endif
