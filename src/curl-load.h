/* curl-load.h - libcurl, opened when it is first needed.
 *
 * Plain-http upstreams go through the built-in HTTP/1 client (http1.h);
 * libcurl is for TLS and the blocking CLI transfers. With OpenSSL, GnuTLS,
 * Kerberos, LDAP and the other libraries Debian's libcurl pulls in it is
 * about 4 MB of resident memory, so it is loaded with dlopen at its first
 * use instead of at start: a proxy that has not used it, or only talks to
 * local servers, does not carry it.
 *
 * The library is the one configure found (its full path), then the usual
 * sonames; AROUTER_LIBCURL names another file and is then the only one
 * tried. */
#ifndef AROUTER_CURL_LOAD_H
#define AROUTER_CURL_LOAD_H

#include <curl/curl.h>

/* The functions of libcurl arouter calls, named without "curl_". */
struct curl_api {
	CURLcode (*global_init)(long flags);
	void (*global_cleanup)(void);
	curl_version_info_data *(*version_info)(CURLversion);
	const char *(*easy_strerror)(CURLcode);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
	CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
	CURLcode (*easy_perform)(CURL *);
	void (*easy_reset)(CURL *);
	void (*easy_cleanup)(CURL *);
	struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
	void (*slist_free_all)(struct curl_slist *);
	CURLM *(*multi_init)(void);
	CURLMcode (*multi_setopt)(CURLM *, CURLMoption, ...);
	CURLMcode (*multi_add_handle)(CURLM *, CURL *);
	CURLMcode (*multi_remove_handle)(CURLM *, CURL *);
	CURLMcode (*multi_assign)(CURLM *, curl_socket_t, void *);
	CURLMcode (*multi_socket_action)(CURLM *, curl_socket_t, int, int *);
	CURLMsg *(*multi_info_read)(CURLM *, int *);
	CURLMcode (*multi_cleanup)(CURLM *);
};

/* Opens libcurl and runs curl_global_init the first time; after that
 * returns the same table. NULL when it cannot: *err (static, may be NULL)
 * says why in one line, the same every time. */
const struct curl_api *curl_load(const char **err);

/* Whether curl_load has succeeded (without trying). */
const struct curl_api *curl_loaded(void);

/* curl_global_cleanup, when loaded; the library stays mapped. */
void curl_unload(void);

#endif
