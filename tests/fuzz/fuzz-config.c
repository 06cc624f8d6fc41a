/* fuzz-config.c - the config file parser (conf.h) on random file text:
 * config_load strictly (as every command loads it) and, when that fails,
 * leniently (as `config check` does), then config_check,
 * config_effective_json and config_locate on the paths the file holds. A
 * file that loads strictly is then used the way the proxy and chat use
 * it: the catalog built from it (catalog_new, with and without an error
 * message, as the proxy and chat call it) and a route plan for each of
 * its routes, its default model and "auto" (route_plan_build), with keys
 * for two providers in the environment.
 *
 * Input: the file's text, written to a private temporary file (config_load
 * reads a path; there is no in-memory entry point). */
#include "config.h"

#include "catalog.h"
#include "conf.h"
#include "route.h"
#include "fuzz.h"

#include <unistd.h>

static char path[] = "/tmp/arouter-fuzz-config-XXXXXX";
static int fd = -1;

static void cleanup(void)
{
	unlink(path);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init();
	setenv("OPENAI_API_KEY", "sk-fuzz-000000000000000000", 1);
	setenv("ANTHROPIC_API_KEY", "sk-ant-fuzz-0000000000000000", 1);
	fd = mkstemp(path); /* 0600: no "readable by others" warning */
	if (fd < 0)
		abort();
	atexit(cleanup);
	return 0;
}

/* config_locate on every dotted path of o, as error messages use it. */
static void locate_all(const char *text, json_object *o, const char *prefix, int depth)
{
	if (depth > 4)
		return;
	int line, col;
	if (json_object_is_type(o, json_type_object)) {
		json_object_object_foreach(o, k, v)
		{
			size_t n = strlen(prefix) + strlen(k) + 2;
			char *p = malloc(n);
			snprintf(p, n, "%s%s%s", prefix, *prefix ? "." : "", k);
			if (config_locate(text, p, &line, &col) == 0)
				FUZZ_ASSERT(line >= 1 && col >= 1);
			locate_all(text, v, p, depth + 1);
			free(p);
		}
	} else if (json_object_is_type(o, json_type_array)) {
		size_t n = json_object_array_length(o);
		for (size_t i = 0; i < n && i < 4; i++) {
			char p[512];
			snprintf(p, sizeof p, "%s%s%zu", prefix, *prefix ? "." : "", i);
			(void)config_locate(text, p, &line, &col);
			locate_all(text, json_object_array_get_idx(o, i), p, depth + 1);
		}
	}
}

static void plan(const struct config *c, const struct catalog *cat, const char *model)
{
	struct route_plan p;
	char *err = NULL;
	if (route_plan_build(c, model, NULL, &p, &err) == 0) {
		FUZZ_ASSERT(p.n > 0);
		for (size_t i = 0; i < p.n; i++)
			FUZZ_ASSERT(p.v[i].provider && p.v[i].model && p.v[i].display);
		char **left = NULL;
		size_t n_left = route_plan_fit(&p, cat, NULL, &left);
		for (size_t i = 0; i < n_left; i++)
			free(left[i]);
		free(left);
		route_plan_clear(&p);
	} else {
		FUZZ_ASSERT(err != NULL);
		free(err);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (ftruncate(fd, 0) < 0 || pwrite(fd, data, size, 0) != (ssize_t)size)
		abort();

	struct config c;
	struct config_flags f = {.config_path = path};
	char *err = NULL;
	bool strict = config_load(&c, &f, &err) == 0;
	if (!strict) {
		FUZZ_ASSERT(err != NULL);
		free(err);
		err = NULL;
		f.lenient = true;
		if (config_load(&c, &f, &err) < 0) {
			FUZZ_ASSERT(err != NULL);
			free(err);
			return 0;
		}
	}
	FUZZ_ASSERT(json_object_is_type(c.root, json_type_object));

	char *report = NULL;
	int problems = config_check(&c, &report);
	FUZZ_ASSERT(problems >= 0 && report != NULL);
	FUZZ_ASSERT(problems == 0 || *report);
	free(report);
	json_object *eff = config_effective_json(&c);
	FUZZ_ASSERT(json_object_to_json_string(eff) != NULL);
	json_object_put(eff);
	locate_all(c.text, c.root, "", 0);

	if (strict) {
		struct catalog *cat = catalog_new(&c, &err);
		if (!cat) {
			FUZZ_ASSERT(err != NULL);
			free(err);
			err = NULL;
			/* `chat` builds its cost catalog without asking why it
			 * failed (when it succeeds, err is not touched). */
			FUZZ_ASSERT(catalog_new(&c, NULL) == NULL);
		}
		json_object *routes = json_object_object_get(c.root, "routes");
		if (json_object_is_type(routes, json_type_object)) {
			json_object_object_foreach(routes, name, v)
			{
				(void)v;
				plan(&c, cat, name);
			}
		}
		plan(&c, cat, NULL);
		plan(&c, cat, "auto");
		plan(&c, cat, "gpt-4o");
		catalog_free(cat);
	}
	config_free(&c);
	return 0;
}
