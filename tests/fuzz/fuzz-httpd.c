/* fuzz-httpd.c - the proxy's HTTP/1.1 server (httpd.c) fed arbitrary
 * bytes by a client: request lines, headers, Content-Length and chunked
 * bodies (extensions, trailers), Expect, Connection, pipelining, limits.
 * The server serves one end of a socket pair (httpd_adopt); the input is
 * written into the other end in pieces, the loop turning between them,
 * and the client end is then closed (or only its writing side shut), so
 * that every path through a connection's end is taken.
 *
 * Input: one byte of flags, then the client's bytes.
 *   bits 0-1: the limits: 0 roomy (64 KiB head, 1 MiB body), 1 a 256-byte
 *             head, 2 a 64-byte body, 3 both small;
 *   bits 2-3: how the bytes are written: 0 at once, 1 in pieces of 1 to 16
 *             bytes picked from the input's hash, 2 one byte at a time
 *             (the first 64, then the rest), 3 cut at up to 7 points;
 *   bit 4:    at the end the client shuts down its writing side and reads
 *             on (a half-close), instead of closing;
 *   bit 5:    the answers go out as streams (three chunks) rather than
 *             whole;
 *   bit 6:    requests to a path starting "/h" are held, watched, and
 *             answered only after the next piece is written (or the
 *             client's hang-up ends them);
 *   bit 7:    held requests are not watched (answered late, or never:
 *             then httpd_free frees them).
 *
 * Asserted beyond memory errors, UB and leaks, for every request handed
 * over: its method is one of the served ones; its path and query hold no
 * byte below 0x21 or above 0x7e; every header name is a token and no value
 * holds a CR, an LF or a NUL, or starts or ends with a space (what reaches
 * an upstream's request cannot be split); a body is within the body limit,
 * and a request over a limit has none; and what the server wrote back
 * starts with "HTTP/1.1 " whenever it wrote anything. */
#include "config.h"

#include "buf.h"
#include "httpd.h"
#include "fuzz.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/queue.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

static struct {
	struct event_base *base;
	struct httpd *srv;
	struct httpd_options o;
	bool stream, hold, unwatched;
	struct hreq *held[8];
	int n_held;
} F;

static void on_hangup(void *owner)
{
	struct hreq **slot = owner;
	*slot = NULL;
}

static bool is_token_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr("!#$%&'*+-.^_`|~", c));
}

static void check_request(struct hreq *r)
{
	enum hmethod m = hreq_method(r);
	FUZZ_ASSERT(m == HM_GET || m == HM_POST || m == HM_PUT || m == HM_DELETE || m == HM_PATCH || m == HM_OPTIONS);
	for (const unsigned char *p = (const unsigned char *)hreq_path(r); *p; p++)
		FUZZ_ASSERT(*p > 0x20 && *p < 0x7f);
	if (hreq_query(r))
		for (const unsigned char *p = (const unsigned char *)hreq_query(r); *p; p++)
			FUZZ_ASSERT(*p > 0x20 && *p < 0x7f);
	for (struct evkeyval *h = hreq_input_headers(r)->tqh_first; h; h = h->next.tqe_next) {
		FUZZ_ASSERT(*h->key);
		for (const unsigned char *p = (const unsigned char *)h->key; *p; p++)
			FUZZ_ASSERT(is_token_char(*p));
		FUZZ_ASSERT(!strpbrk(h->value, "\r\n"));
		size_t vl = strlen(h->value);
		FUZZ_ASSERT(!vl || (h->value[0] != ' ' && h->value[0] != '\t' && h->value[vl - 1] != ' ' &&
				    h->value[vl - 1] != '\t'));
	}
	size_t len;
	hreq_body(r, &len);
	FUZZ_ASSERT(len <= F.o.max_body_bytes);
	if (hreq_too_large(r))
		FUZZ_ASSERT(len == 0 && (hreq_too_large(r) == 431 || hreq_too_large(r) == 413));
}

static void answer(struct hreq *r)
{
	size_t len;
	const char *b = hreq_body(r, &len);
	evhttp_add_header(hreq_output_headers(r), "Content-Type", "text/plain");
	if (F.stream) {
		hreq_send_reply_start(r, 200);
		hreq_send_reply_chunk(r, "x", 1);
		hreq_send_reply_chunk(r, b, len);
		hreq_send_reply_chunk(r, "", 0);
		hreq_send_reply_end(r);
	} else {
		hreq_send_reply(r, hreq_too_large(r) ? hreq_too_large(r) : 200, b, len);
	}
}

static void on_request(struct hreq *r, void *arg)
{
	(void)arg;
	check_request(r);
	if (F.hold && !hreq_too_large(r) && strncmp(hreq_path(r), "/h", 2) == 0 && F.n_held < 8) {
		struct hreq **slot = &F.held[F.n_held++];
		*slot = r;
		if (!F.unwatched)
			hreq_watch(r, on_hangup, slot);
		return;
	}
	answer(r);
}

/* Answers the held requests still waiting (a watched one that has been
 * answered is let go of). */
static void release_held(void)
{
	for (int i = 0; i < F.n_held; i++) {
		struct hreq *r = F.held[i];
		F.held[i] = NULL;
		if (!r)
			continue;
		answer(r);
		if (!F.unwatched)
			hreq_unwatch(r);
	}
	F.n_held = 0;
}

static void drain(int fd, struct buf *out)
{
	char tmp[4096];
	ssize_t n;
	while ((n = read(fd, tmp, sizeof tmp)) > 0 && out->len < (1 << 20))
		buf_append(out, tmp, (size_t)n);
}

/* Two turns of the loop: one reads and answers, the second writes what
 * the first queued for the end of its turn. */
static void turn(int cli, struct buf *out)
{
	for (int i = 0; i < 2; i++)
		event_base_loop(F.base, EVLOOP_NONBLOCK);
	drain(cli, out);
}

static struct event_base *the_base; /* one for all inputs: making one costs three system calls */

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	(void)argc;
	(void)argv;
	fuzz_env_init();
	the_base = event_base_new();
	return the_base ? 0 : 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	uint8_t flags = data[0];
	data++;
	size--;
	uint64_t seed = fuzz_hash(data, size);
	memset(&F, 0, sizeof F);
	F.o.max_header_bytes = flags & 1 ? 256 : 65536;
	F.o.max_body_bytes = flags & 2 ? 64 : 1 << 20;
	F.o.timeout_s = 60;
	F.stream = flags & 0x20;
	F.hold = flags & 0x40;
	F.unwatched = flags & 0x80;
	F.base = the_base;
	F.srv = httpd_new(F.base, &F.o, on_request, NULL, NULL);
	int sv[2];
	FUZZ_ASSERT(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	int cli = sv[0];
	fcntl(cli, F_SETFL, fcntl(cli, F_GETFL) | O_NONBLOCK);
	FUZZ_ASSERT(httpd_adopt(F.srv, sv[1], 1234) == 0);
	struct buf out = BUF_INIT;

	size_t cuts[8], n_cuts = 0;
	int mode = (flags >> 2) & 3;
	if (mode == 3)
		for (int i = 0; i < 7 && size; i++)
			cuts[n_cuts++] = (size_t)(fuzz_rand(&seed) % size);
	size_t off = 0;
	while (off < size) {
		size_t piece = size - off;
		if (mode == 1)
			piece = 1 + (size_t)(fuzz_rand(&seed) % 16);
		else if (mode == 2 && off < 64)
			piece = 1;
		else if (mode == 3) {
			size_t next = size;
			for (size_t i = 0; i < n_cuts; i++)
				if (cuts[i] > off && cuts[i] < next)
					next = cuts[i];
			piece = next - off;
		}
		if (piece > size - off)
			piece = size - off;
		ssize_t w = write(cli, data + off, piece);
		if (w > 0)
			off += (size_t)w;
		else if (w < 0 && errno != EAGAIN && errno != EWOULDBLOCK)
			break; /* the server closed */
		turn(cli, &out);
		release_held();
		turn(cli, &out);
	}
	if (flags & 0x10) {
		shutdown(cli, SHUT_WR);
		turn(cli, &out);
		release_held();
		turn(cli, &out);
	}
	close(cli);
	for (int i = 0; i < 2; i++)
		event_base_loop(F.base, EVLOOP_NONBLOCK);
	release_held();
	if (out.len)
		FUZZ_ASSERT(out.len >= 9 && memcmp(out.data, "HTTP/1.1 ", 9) == 0);
	httpd_free(F.srv);
	buf_free(&out);
	return 0;
}
