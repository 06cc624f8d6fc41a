/* http-client.c - blocking libcurl transfers for the CLI. See http-client.h. */
#include "config.h"

#include "http-client.h"
#include "util.h"

#include <curl/curl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#define ERROR_BODY_CAP (64 * 1024)

struct transfer {
	const struct http_request *req;
	struct http_response *resp;
	http_body_cb cb;
	void *arg;
	CURL *curl;
	bool callback_aborted;
	bool cancelled;
	bool idle_expired;
	long long last_byte_ms;
};

static long long now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static bool curl_ready;

static bool http_client_init(void)
{
	if (!curl_ready)
		curl_ready = curl_global_init(CURL_GLOBAL_DEFAULT) == CURLE_OK;
	return curl_ready;
}

void http_client_cleanup(void)
{
	if (curl_ready)
		curl_global_cleanup();
	curl_ready = false;
}

const char *http_user_agent(void)
{
	return "arouter/" PACKAGE_VERSION;
}

static size_t on_header(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;
	t->last_byte_ms = now_ms();
	/* A new status line (redirects, 100-continue) resets what we know. */
	if (len > 5 && strncmp(data, "HTTP/", 5) == 0) {
		free(t->resp->content_type);
		t->resp->content_type = NULL;
		t->resp->retry_after_s = -1;
		return len;
	}
	const char *colon = memchr(data, ':', len);
	if (!colon)
		return len;
	size_t nlen = (size_t)(colon - data);
	const char *v = colon + 1;
	size_t vlen = len - nlen - 1;
	while (vlen && (*v == ' ' || *v == '\t')) {
		v++;
		vlen--;
	}
	while (vlen && (v[vlen - 1] == '\r' || v[vlen - 1] == '\n' || v[vlen - 1] == ' '))
		vlen--;
	if (nlen == 12 && strncasecmp(data, "content-type", 12) == 0) {
		free(t->resp->content_type);
		t->resp->content_type = xstrndup(v, vlen);
	} else if (nlen == 11 && strncasecmp(data, "retry-after", 11) == 0) {
		char *tmp = xstrndup(v, vlen);
		char *end;
		long s = strtol(tmp, &end, 10);
		if (end != tmp && *end == '\0' && s >= 0)
			t->resp->retry_after_s = s;
		free(tmp);
	}
	return len;
}

static size_t on_body(char *data, size_t size, size_t n, void *arg)
{
	struct transfer *t = arg;
	size_t len = size * n;
	t->last_byte_ms = now_ms();
	long status = 0;
	curl_easy_getinfo(t->curl, CURLINFO_RESPONSE_CODE, &status);
	if (status >= 200 && status < 300) {
		t->resp->body_started = true;
		if (t->cb && t->cb(data, len, t->arg) != 0) {
			t->callback_aborted = true;
			return 0; /* makes curl abort with CURLE_WRITE_ERROR */
		}
		return len;
	}
	struct buf *b = &t->resp->error_body;
	if (b->len < ERROR_BODY_CAP)
		buf_append(b, data, len < ERROR_BODY_CAP - b->len ? len : ERROR_BODY_CAP - b->len);
	return len;
}

static int on_progress(void *arg, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal, curl_off_t ulnow)
{
	struct transfer *t = arg;
	if (t->req->cancel && *t->req->cancel) {
		t->cancelled = true;
		return 1;
	}
	long idle = t->req->idle_timeout_ms > 0 ? t->req->idle_timeout_ms : 120000;
	if (now_ms() - t->last_byte_ms > idle) {
		t->idle_expired = true;
		return 1;
	}
	return 0;
}

enum http_outcome http_perform(const struct http_request *req, http_body_cb cb, void *arg,
			       struct http_response *resp)
{
	memset(resp, 0, sizeof *resp);
	resp->retry_after_s = -1;
	CURL *curl = http_client_init() ? curl_easy_init() : NULL;
	if (!curl) {
		resp->error = xstrdup("cannot create an HTTP handle");
		return HTTP_NETWORK;
	}
	struct transfer t = {.req = req, .resp = resp, .cb = cb, .arg = arg, .curl = curl};
	t.last_byte_ms = now_ms();

	struct curl_slist *headers = NULL;
	for (size_t i = 0; i < req->n_headers; i++) {
		char *h = xasprintf("%s: %s", req->headers[i].name, req->headers[i].value);
		headers = curl_slist_append(headers, h);
		free(h);
	}
	/* curl would otherwise send "Expect: 100-continue" for large bodies and
	 * wait a second for an answer some servers never give. */
	headers = curl_slist_append(headers, "Expect:");

	curl_easy_setopt(curl, CURLOPT_URL, req->url);
	curl_easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
	curl_easy_setopt(curl, CURLOPT_USERAGENT, http_user_agent());
	curl_easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(curl, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(curl, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(curl, CURLOPT_TCP_NODELAY, 1L);
	curl_easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");
	curl_easy_setopt(curl, CURLOPT_CONNECTTIMEOUT_MS,
			 req->connect_timeout_ms > 0 ? req->connect_timeout_ms : 10000L);
	if (req->total_timeout_ms > 0)
		curl_easy_setopt(curl, CURLOPT_TIMEOUT_MS, req->total_timeout_ms);
	if (req->body) {
		curl_easy_setopt(curl, CURLOPT_POST, 1L);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDS, req->body);
		curl_easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)req->body_len);
	} else if (req->method && strcmp(req->method, "GET") != 0) {
		curl_easy_setopt(curl, CURLOPT_CUSTOMREQUEST, req->method);
	}
	curl_easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(curl, CURLOPT_HEADERDATA, &t);
	curl_easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(curl, CURLOPT_WRITEDATA, &t);
	curl_easy_setopt(curl, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(curl, CURLOPT_XFERINFOFUNCTION, on_progress);
	curl_easy_setopt(curl, CURLOPT_XFERINFODATA, &t);

	CURLcode rc = curl_easy_perform(curl);
	curl_easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &resp->status);
	curl_slist_free_all(headers);
	curl_easy_cleanup(curl);

	if (rc == CURLE_OK)
		return HTTP_OK;
	if (t.callback_aborted)
		return HTTP_ABORTED;
	if (t.cancelled) {
		resp->error = xstrdup("cancelled");
		return HTTP_CANCELLED;
	}
	if (t.idle_expired) {
		long idle = req->idle_timeout_ms > 0 ? req->idle_timeout_ms : 120000;
		resp->error = resp->body_started ? xasprintf("no data for %ld s; the stream stalled", idle / 1000)
						 : xasprintf("no response within %ld s", idle / 1000);
		return HTTP_TIMEOUT;
	}
	if (rc == CURLE_OPERATION_TIMEDOUT) {
		resp->error = xstrdup(resp->status ? "timed out while reading the response" : "timed out");
		return HTTP_TIMEOUT;
	}
	if (rc == CURLE_COULDNT_CONNECT) {
		/* Name the host but never the query, which may carry a key. */
		char *host = xstrdup(req->url);
		char *q = strchr(host, '?');
		if (q)
			*q = '\0';
		char *path = strstr(host, "://");
		path = path ? strchr(path + 3, '/') : NULL;
		if (path)
			*path = '\0';
		resp->error = xasprintf("cannot connect to %s", host);
		free(host);
		return HTTP_NETWORK;
	}
	if (rc == CURLE_PARTIAL_FILE || rc == CURLE_RECV_ERROR || rc == CURLE_GOT_NOTHING)
		resp->error = xstrdup(resp->body_started ? "the connection closed in the middle of the response"
							 : "the connection closed before a response");
	else
		resp->error = xstrdup(curl_easy_strerror(rc));
	return HTTP_NETWORK;
}

void http_response_clear(struct http_response *resp)
{
	free(resp->content_type);
	free(resp->error);
	buf_free(&resp->error_body);
	memset(resp, 0, sizeof *resp);
}
