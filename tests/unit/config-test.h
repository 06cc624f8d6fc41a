/* config-test.h - a config loaded from JSON text, for the unit tests that
 * need one (test-route.c, test-plan.c, test-attempt.c, test-catalog.c):
 * config_load reads a file, so the text goes through a temporary one.
 * Header-only, static inline. */
#ifndef AROUTER_CONFIG_TEST_H
#define AROUTER_CONFIG_TEST_H

#include "conf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* config_load on a file holding json; its result, *err set on failure
 * (caller frees). The file is gone afterwards. */
static inline int config_load_text(struct config *c, const char *json, char **err)
{
	char path[] = "/tmp/arouter-unit-config-XXXXXX";
	int fd = mkstemp(path);
	if (fd < 0 || write(fd, json, strlen(json)) < 0)
		abort();
	close(fd);
	struct config_flags f = {.config_path = path};
	int rc = config_load(c, &f, err);
	unlink(path);
	return rc;
}

/* The same for a config the test needs: a failure ends the test run. */
static inline void config_load_text_or_die(struct config *c, const char *json)
{
	char *err = NULL;
	if (config_load_text(c, json, &err) < 0) {
		printf("# config: %s\n", err);
		abort();
	}
}

#endif
