/*
 * fault_proxy.c - the fault-injecting HTTP proxy of fault_proxy.h: one
 * thread accepting on 127.0.0.1, one thread per client connection.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "fault_proxy.h"

#define MAX_CONNS 256
#define MAX_HEADS 4096
#define SCRIPT_MAX 64

struct FaultProxy
{
	int			listen_fd;
	int			port;
	int			upstream_port;
	volatile int stopping;
	pthread_t	acceptor;
	pthread_mutex_t lock;
	FaultAction script[SCRIPT_MAX];
	int			script_len;
	int			script_pos;
	FaultAction dflt;
	int			rand_on;
	int			enabled;		/* 0: forward everything */
	int			delay_reply;	/* random delays hold the reply, not the request */
	int			keep_heads;
	int			drop_pm,
				e500_pm,
				e503_pm,
				lost_reply_pm,
				delay_pm,
				delay_ms;
	FaultObserver observer;
	void	   *observer_arg;
	unsigned	seed;
	int			nreq;
	char	   *heads[MAX_HEADS];
	int			conn_fds[MAX_CONNS];	/* -1: free slot */
	int			active;			/* connection threads running */
};

typedef struct ConnArg
{
	FaultProxy *p;
	int			fd;
	int			slot;
} ConnArg;

static void
sleep_ms(int ms)
{
	struct timespec ts = {ms / 1000, (long) (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
}

static int
send_all(int fd, const char *buf, size_t len)
{
	while (len > 0)
	{
		ssize_t		w = send(fd, buf, len, MSG_NOSIGNAL);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t) w;
	}
	return 0;
}

/* Read one request: head (up to and with the blank line) and body. */
static int
read_request(int fd, char **head, size_t *head_len, char **body, size_t *body_len)
{
	size_t		cap = 8192;
	size_t		len = 0;
	char	   *buf = malloc(cap);
	char	   *end = NULL;
	long long	clen = 0;
	const char *cl;

	if (buf == NULL)
		return -1;
	while (end == NULL)
	{
		ssize_t		r;

		if (len + 1 >= cap)
		{
			char	   *nb = (cap > (1 << 20)) ? NULL : realloc(buf, cap * 2);

			if (nb == NULL)
				goto fail;
			buf = nb;
			cap *= 2;
		}
		r = recv(fd, buf + len, cap - len - 1, 0);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			goto fail;
		len += (size_t) r;
		buf[len] = '\0';
		end = strstr(buf, "\r\n\r\n");
	}
	*head_len = (size_t) (end + 4 - buf);
	for (cl = buf; (cl = strcasestr(cl, "\r\ncontent-length:")) != NULL && cl < end; cl++)
	{
		clen = atoll(cl + 17);
		break;
	}
	if (clen < 0 || clen > (1LL << 30))
		goto fail;
	*body_len = (size_t) clen;
	*body = malloc(*body_len + 1);
	if (*body == NULL)
		goto fail;
	{
		size_t		have = len - *head_len;

		if (have > *body_len)
			have = *body_len;	/* pipelined bytes: not used by our client */
		memcpy(*body, buf + *head_len, have);
		while (have < *body_len)
		{
			ssize_t		r = recv(fd, *body + have, *body_len - have, 0);

			if (r < 0 && errno == EINTR)
				continue;
			if (r <= 0)
			{
				free(*body);
				goto fail;
			}
			have += (size_t) r;
		}
	}
	buf[*head_len] = '\0';
	*head = buf;
	return 0;
fail:
	free(buf);
	return -1;
}

static FaultAction
next_action(FaultProxy *p, const char *head)
{
	FaultAction a;

	pthread_mutex_lock(&p->lock);
	if (p->keep_heads && p->nreq < MAX_HEADS)
		p->heads[p->nreq] = strdup(head);
	p->nreq++;
	if (!p->enabled)
	{
		memset(&a, 0, sizeof(a));
		a.kind = FAULT_FORWARD;
	}
	else if (p->script_pos < p->script_len)
		a = p->script[p->script_pos++];
	else if (p->rand_on)
	{
		int			r = (int) (rand_r(&p->seed) % 1000);

		memset(&a, 0, sizeof(a));
		a.kind = FAULT_FORWARD;
		if (r < p->drop_pm)
			a.kind = FAULT_DROP;
		else if ((r -= p->drop_pm) < p->e500_pm)
		{
			a.kind = FAULT_REPLY;
			a.status = 500;
			a.code = "InternalError";
		}
		else if ((r -= p->e500_pm) < p->e503_pm)
		{
			a.kind = FAULT_REPLY;
			a.status = 503;
			a.code = "SlowDown";
		}
		else if ((r -= p->e503_pm) < p->lost_reply_pm)
			a.kind = FAULT_LOST_REPLY;
		else if ((r -= p->lost_reply_pm) < p->delay_pm)
		{
			if (p->delay_reply)
				a.reply_delay_ms = p->delay_ms;
			else
				a.delay_ms = p->delay_ms;
		}
	}
	else
		a = p->dflt;
	if (p->observer)
		p->observer(p->observer_arg, head, &a);
	pthread_mutex_unlock(&p->lock);
	return a;
}

static int
reply(int fd, const FaultAction *a, int is_head)
{
	char		body[512];
	char		hdr[1024];
	int			blen;
	int			hlen;

	if (a->status >= 200 && a->status < 300)
		blen = snprintf(body, sizeof(body), "%s", a->body ? a->body : "");
	else
		blen = snprintf(body, sizeof(body),
						"<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>%s</Code>"
						"<Message>injected by the fault proxy</Message></Error>",
						a->code ? a->code : "");
	hlen = snprintf(hdr, sizeof(hdr),
					"HTTP/1.1 %d Injected\r\nContent-Length: %d\r\n%s%s%s"
					"Last-Modified: Fri, 24 May 2013 00:00:00 GMT\r\n\r\n",
					a->status, blen, a->etag ? "ETag: \"" : "", a->etag ? a->etag : "",
					a->etag ? "\"\r\n" : "");
	if (send_all(fd, hdr, (size_t) hlen) < 0)
		return -1;
	if (!is_head && send_all(fd, body, (size_t) blen) < 0)
		return -1;
	return 0;
}

/*
 * Forward one request upstream and relay the reply until upstream closes;
 * with lose_reply, read the whole reply (so the request completes upstream)
 * and relay nothing.
 */
static int
forward(FaultProxy *p, int fd, const char *head, size_t head_len,
		const char *body, size_t body_len, int lose_reply, int reply_delay_ms)
{
	struct sockaddr_in addr;
	int			up;
	char		buf[65536];
	const char *eol = strstr(head, "\r\n");
	int			rc = 0;

	if (p->upstream_port == 0)
	{
		FaultAction a = {.kind = FAULT_REPLY, .status = 502, .code = "NoUpstream"};

		reply(fd, &a, 0);
		return -1;
	}
	up = socket(AF_INET, SOCK_STREAM, 0);
	if (up < 0)
		return -1;
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_port = htons((unsigned short) p->upstream_port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(up, (struct sockaddr *) &addr, sizeof(addr)) < 0)
	{
		close(up);
		return -1;
	}
	/* request line, our Connection header, then the client's headers */
	if (send_all(up, head, (size_t) (eol + 2 - head)) < 0 ||
		send_all(up, "Connection: close\r\n", 19) < 0 ||
		send_all(up, eol + 2, head_len - (size_t) (eol + 2 - head)) < 0 ||
		(body_len > 0 && send_all(up, body, body_len) < 0))
	{
		close(up);
		return -1;
	}
	for (;;)
	{
		ssize_t		r = recv(up, buf, sizeof(buf), 0);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		if (lose_reply)
			continue;
		/* the upstream has acted on the request: hold its reply once */
		if (reply_delay_ms > 0)
		{
			sleep_ms(reply_delay_ms);
			reply_delay_ms = 0;
		}
		if (send_all(fd, buf, (size_t) r) < 0)
		{
			rc = -1;
			break;
		}
	}
	close(up);
	if (lose_reply)
		return -1;
	return rc < 0 ? -1 : 1;		/* 1: the client connection must close */
}

static void *
conn_main(void *arg)
{
	ConnArg    *ca = arg;
	FaultProxy *p = ca->p;
	int			fd = ca->fd;
	int			slot = ca->slot;

	free(ca);
	while (!p->stopping)
	{
		char	   *head = NULL;
		char	   *body = NULL;
		size_t		head_len = 0;
		size_t		body_len = 0;
		FaultAction a;
		int			rc = 0;

		if (read_request(fd, &head, &head_len, &body, &body_len) < 0)
			break;
		a = next_action(p, head);
		if (a.delay_ms > 0)
			sleep_ms(a.delay_ms);
		if (a.kind == FAULT_DROP)
			rc = -1;
		else if (a.kind == FAULT_REPLY)
		{
			rc = reply(fd, &a, strncmp(head, "HEAD ", 5) == 0);
			/* a client (e.g. another proxy) that asked to close waits for it */
			if (rc == 0 && strcasestr(head, "\r\nConnection: close\r\n") != NULL)
				rc = 1;
		}
		else
			rc = forward(p, fd, head, head_len, body, body_len,
						 a.kind == FAULT_LOST_REPLY, a.reply_delay_ms);
		free(head);
		free(body);
		if (rc != 0)
			break;
	}
	pthread_mutex_lock(&p->lock);
	close(fd);
	p->conn_fds[slot] = -1;
	p->active--;
	pthread_mutex_unlock(&p->lock);
	return NULL;
}

static void *
accept_main(void *arg)
{
	FaultProxy *p = arg;

	while (!p->stopping)
	{
		struct pollfd pfd = {p->listen_fd, POLLIN, 0};
		int			fd;
		ConnArg    *ca;

		if (poll(&pfd, 1, 50) <= 0)
			continue;
		fd = accept(p->listen_fd, NULL, NULL);
		if (fd < 0)
			continue;
		{
			int			one = 1;

			setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		}
		pthread_mutex_lock(&p->lock);
		{
			int			slot = -1;
			pthread_t	t;
			pthread_attr_t attr;

			for (int i = 0; i < MAX_CONNS && slot < 0; i++)
				if (p->conn_fds[i] < 0)
					slot = i;
			if (slot < 0 || (ca = malloc(sizeof(ConnArg))) == NULL)
			{
				pthread_mutex_unlock(&p->lock);
				close(fd);
				continue;
			}
			ca->p = p;
			ca->fd = fd;
			ca->slot = slot;
			pthread_attr_init(&attr);
			pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
			if (pthread_create(&t, &attr, conn_main, ca) != 0)
			{
				pthread_attr_destroy(&attr);
				pthread_mutex_unlock(&p->lock);
				free(ca);
				close(fd);
				continue;
			}
			pthread_attr_destroy(&attr);
			p->conn_fds[slot] = fd;
			p->active++;
		}
		pthread_mutex_unlock(&p->lock);
	}
	return NULL;
}

FaultProxy *
fault_proxy_start(int upstream_port)
{
	FaultProxy *p = calloc(1, sizeof(FaultProxy));
	struct sockaddr_in addr;
	socklen_t	alen = sizeof(addr);
	int			one = 1;

	if (p == NULL)
		return NULL;
	p->upstream_port = upstream_port;
	p->dflt.kind = FAULT_FORWARD;
	p->enabled = 1;
	p->keep_heads = 1;
	for (int i = 0; i < MAX_CONNS; i++)
		p->conn_fds[i] = -1;
	pthread_mutex_init(&p->lock, NULL);
	p->listen_fd = socket(AF_INET, SOCK_STREAM, 0);
	if (p->listen_fd < 0)
		goto fail;
	setsockopt(p->listen_fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&addr, 0, sizeof(addr));
	addr.sin_family = AF_INET;
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	addr.sin_port = 0;
	if (bind(p->listen_fd, (struct sockaddr *) &addr, sizeof(addr)) < 0 ||
		listen(p->listen_fd, 64) < 0 ||
		getsockname(p->listen_fd, (struct sockaddr *) &addr, &alen) < 0)
		goto fail;
	p->port = ntohs(addr.sin_port);
	if (pthread_create(&p->acceptor, NULL, accept_main, p) != 0)
		goto fail;
	return p;
fail:
	if (p->listen_fd >= 0)
		close(p->listen_fd);
	pthread_mutex_destroy(&p->lock);
	free(p);
	return NULL;
}

int
fault_proxy_port(const FaultProxy *p)
{
	return p->port;
}

void
fault_proxy_script(FaultProxy *p, const FaultAction *actions, int n, FaultAction dflt)
{
	pthread_mutex_lock(&p->lock);
	if (n > SCRIPT_MAX)
		n = SCRIPT_MAX;
	if (n > 0)
		memcpy(p->script, actions, sizeof(FaultAction) * (size_t) n);
	p->script_len = n;
	p->script_pos = 0;
	p->dflt = dflt;
	p->rand_on = 0;
	pthread_mutex_unlock(&p->lock);
}

void
fault_proxy_random(FaultProxy *p, int drop_pm, int e500_pm, int e503_pm,
				   int delay_pm, int delay_ms, unsigned seed)
{
	pthread_mutex_lock(&p->lock);
	p->script_len = p->script_pos = 0;
	p->rand_on = 1;
	p->drop_pm = drop_pm;
	p->e500_pm = e500_pm;
	p->e503_pm = e503_pm;
	p->delay_pm = delay_pm;
	p->delay_ms = delay_ms;
	p->seed = seed;
	pthread_mutex_unlock(&p->lock);
}

void
fault_proxy_lost_reply(FaultProxy *p, int lost_reply_pm)
{
	pthread_mutex_lock(&p->lock);
	p->lost_reply_pm = lost_reply_pm;
	pthread_mutex_unlock(&p->lock);
}

void
fault_proxy_delay_reply(FaultProxy *p, int on)
{
	pthread_mutex_lock(&p->lock);
	p->delay_reply = on ? 1 : 0;
	pthread_mutex_unlock(&p->lock);
}

void
fault_proxy_enable(FaultProxy *p, int on)
{
	pthread_mutex_lock(&p->lock);
	p->enabled = on ? 1 : 0;
	pthread_mutex_unlock(&p->lock);
}

void
fault_proxy_observe(FaultProxy *p, FaultObserver fn, void *arg)
{
	pthread_mutex_lock(&p->lock);
	p->observer = fn;
	p->observer_arg = arg;
	pthread_mutex_unlock(&p->lock);
}

void
fault_proxy_keep_heads(FaultProxy *p, int on)
{
	pthread_mutex_lock(&p->lock);
	p->keep_heads = on ? 1 : 0;
	pthread_mutex_unlock(&p->lock);
}

int
fault_proxy_requests(FaultProxy *p)
{
	int			n;

	pthread_mutex_lock(&p->lock);
	n = p->nreq;
	pthread_mutex_unlock(&p->lock);
	return n;
}

char *
fault_proxy_request_head(FaultProxy *p, int n)
{
	char	   *r = NULL;

	pthread_mutex_lock(&p->lock);
	if (n >= 0 && n < p->nreq && n < MAX_HEADS && p->heads[n])
		r = strdup(p->heads[n]);
	pthread_mutex_unlock(&p->lock);
	return r;
}

void
fault_proxy_stop(FaultProxy *p)
{
	if (p == NULL)
		return;
	p->stopping = 1;
	pthread_join(p->acceptor, NULL);
	/* wake every connection thread blocked in recv, then wait for them */
	for (;;)
	{
		int			active;

		pthread_mutex_lock(&p->lock);
		for (int i = 0; i < MAX_CONNS; i++)
			if (p->conn_fds[i] >= 0)
				shutdown(p->conn_fds[i], SHUT_RDWR);
		active = p->active;
		pthread_mutex_unlock(&p->lock);
		if (active == 0)
			break;
		sleep_ms(5);
	}
	close(p->listen_fd);
	for (int i = 0; i < p->nreq && i < MAX_HEADS; i++)
		free(p->heads[i]);
	pthread_mutex_destroy(&p->lock);
	free(p);
}
