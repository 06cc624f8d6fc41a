/* curl-load.c - libcurl, opened when it is first needed. See curl-load.h. */
#include "config.h"

#include "curl-load.h"

#include <dlfcn.h>
#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* dlsym gives a void *; each is copied into its function pointer. */
_Static_assert(sizeof(void *) == sizeof(void (*)(void)), "function pointers are not data pointers here");

#define FN(name) {"curl_" #name, offsetof(struct curl_api, name)}
static const struct {
	const char *symbol;
	size_t offset;
} functions[] = {
    FN(global_init),      FN(global_cleanup),   FN(version_info),        FN(easy_strerror),
    FN(easy_init),        FN(easy_setopt),      FN(easy_getinfo),        FN(easy_perform),
    FN(easy_reset),       FN(easy_cleanup),     FN(slist_append),        FN(slist_free_all),
    FN(multi_init),       FN(multi_setopt),     FN(multi_add_handle),    FN(multi_remove_handle),
    FN(multi_assign),     FN(multi_socket_action), FN(multi_info_read), FN(multi_cleanup),
};
#undef FN

/* 7.68: what configure asks for. */
#define OLDEST 0x074400

static struct curl_api api;
static const struct curl_api *loaded;
static bool tried;
static char why[512];

/* The files tried in order when AROUTER_LIBCURL is unset. */
static const char *const candidates[] = {
#ifdef AR_LIBCURL_PATH
    AR_LIBCURL_PATH,
#endif
    "libcurl.so.4", "libcurl-gnutls.so.4", "libcurl.4.dylib", "libcurl.dylib",
};

static void *open_library(void)
{
	const char *forced = getenv("AROUTER_LIBCURL");
	if (forced && *forced) {
		void *h = dlopen(forced, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			snprintf(why, sizeof why, "cannot load libcurl (AROUTER_LIBCURL): %s", dlerror());
		return h;
	}
	char first[256] = "";
	for (size_t i = 0; i < sizeof candidates / sizeof *candidates; i++) {
		void *h = dlopen(candidates[i], RTLD_NOW | RTLD_LOCAL);
		if (h)
			return h;
		if (!first[0])
			snprintf(first, sizeof first, "%s", dlerror());
	}
	snprintf(why, sizeof why, "cannot load libcurl (install libcurl4): %s", first);
	return NULL;
}

static const struct curl_api *load(void)
{
	/* Debian's libcurl links GnuTLS (for librtmp and libldap, whose
	 * protocols arouter never enables); its constructor would set GnuTLS
	 * up, and load p11-kit, for nothing: about 900 KB. */
	bool quiet_gnutls = !getenv("GNUTLS_NO_IMPLICIT_INIT");
	if (quiet_gnutls)
		setenv("GNUTLS_NO_IMPLICIT_INIT", "1", 1);
	void *h = open_library();
	if (quiet_gnutls)
		unsetenv("GNUTLS_NO_IMPLICIT_INIT");
	if (!h)
		return NULL;
	for (size_t i = 0; i < sizeof functions / sizeof *functions; i++) {
		void *p = dlsym(h, functions[i].symbol);
		if (!p) {
			snprintf(why, sizeof why, "cannot load libcurl: it has no %s", functions[i].symbol);
			dlclose(h);
			return NULL;
		}
		memcpy((char *)&api + functions[i].offset, &p, sizeof p);
	}
	const curl_version_info_data *v = api.version_info(CURLVERSION_NOW);
	if (!v || v->version_num < OLDEST) {
		snprintf(why, sizeof why, "libcurl %s is too old: arouter needs 7.68 or newer",
			 v && v->version ? v->version : "(unknown version)");
		dlclose(h);
		return NULL;
	}
	if (api.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		snprintf(why, sizeof why, "libcurl could not be initialised");
		dlclose(h);
		return NULL;
	}
	/* The handle is never closed: libcurl's threads and atexit state may
	 * outlive curl_global_cleanup. */
	return &api;
}

/* The proxy's event loops may ask at once; the first loads. */
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

const struct curl_api *curl_load(const char **err)
{
	pthread_mutex_lock(&mu);
	if (!tried) {
		tried = true;
		loaded = load();
	}
	const struct curl_api *api_now = loaded;
	pthread_mutex_unlock(&mu);
	if (!api_now && err)
		*err = why;
	return api_now;
}

const struct curl_api *curl_loaded(void)
{
	pthread_mutex_lock(&mu);
	const struct curl_api *api_now = loaded;
	pthread_mutex_unlock(&mu);
	return api_now;
}

void curl_unload(void)
{
	pthread_mutex_lock(&mu);
	if (loaded)
		loaded->global_cleanup();
	loaded = NULL;
	tried = false;
	pthread_mutex_unlock(&mu);
}
