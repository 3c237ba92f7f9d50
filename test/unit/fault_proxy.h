/*
 * fault_proxy.h - a small fault-injecting HTTP proxy on 127.0.0.1 for the
 * object store's retry tests.
 *
 * It reads each request whole (head + Content-Length body), takes the next
 * action from its script (or the default action once the script is used
 * up), and then: forwards the request to the upstream server (one upstream
 * connection per request, "Connection: close"), answers with a canned
 * status and S3 error document, drops the connection without a reply, or
 * forwards the request and then drops the connection instead of relaying
 * the reply (the request took effect, the client cannot know) - optionally
 * after a delay.  It records each request's head so tests can look at what
 * the client sent, and can report every request to an observer (the
 * standalone fault_proxy program counts requests and faults that way).
 */
#ifndef BRAINY_FAULT_PROXY_H
#define BRAINY_FAULT_PROXY_H

typedef enum FaultKind
{
	FAULT_FORWARD,				/* pass to the upstream */
	FAULT_REPLY,				/* answer status (+ S3 error code) */
	FAULT_DROP,					/* close the connection, no reply */
	FAULT_LOST_REPLY			/* forward, then close without the reply */
} FaultKind;

typedef struct FaultAction
{
	FaultKind	kind;
	int			delay_ms;		/* wait this long first */
	int			status;			/* FAULT_REPLY */
	const char *code;			/* FAULT_REPLY: <Code>, or NULL */
	const char *etag;			/* FAULT_REPLY 2xx: ETag header, or NULL */
	const char *body;			/* FAULT_REPLY 2xx: body, or NULL */
	int			reply_delay_ms; /* FAULT_FORWARD: hold the upstream's reply
								 * this long (the request has taken effect) */
} FaultAction;

typedef struct FaultProxy FaultProxy;

/* upstream_port 0: no upstream (FAULT_FORWARD then answers 502). */
extern FaultProxy *fault_proxy_start(int upstream_port);
extern int	fault_proxy_port(const FaultProxy *p);

/* Replace the script; actions are copied (strings must outlive the use). */
extern void fault_proxy_script(FaultProxy *p, const FaultAction *actions, int n,
							   FaultAction dflt);

/*
 * Random faults for every request not covered by the script: each request
 * independently dropped / answered 500 / answered 503 SlowDown / delayed by
 * delay_ms, with the given per-mille probabilities; otherwise forwarded.
 */
extern void fault_proxy_random(FaultProxy *p, int drop_pm, int e500_pm,
							   int e503_pm, int delay_pm, int delay_ms,
							   unsigned seed);

/*
 * Also lose the reply of this many per mille of the requests in random mode
 * (drawn after the 503s, before the delays; default 0).
 */
extern void fault_proxy_lost_reply(FaultProxy *p, int lost_reply_pm);

/*
 * Random delays hold the upstream's reply (after the request took effect)
 * instead of the request (default off).
 */
extern void fault_proxy_delay_reply(FaultProxy *p, int on);

/*
 * Faults on (default) or off: while off, every request is forwarded and
 * neither the script nor the random draw advances.
 */
extern void fault_proxy_enable(FaultProxy *p, int on);

/*
 * Called for every request with its head and the action chosen, under the
 * proxy's lock (keep it short; requests are serialized through it).
 */
typedef void (*FaultObserver) (void *arg, const char *head, const FaultAction *a);
extern void fault_proxy_observe(FaultProxy *p, FaultObserver fn, void *arg);

/* Keep request heads for fault_proxy_request_head (default on, max 4096). */
extern void fault_proxy_keep_heads(FaultProxy *p, int on);

/* Requests seen so far, and the head of the n-th (0-based; malloc'd copy). */
extern int	fault_proxy_requests(FaultProxy *p);
extern char *fault_proxy_request_head(FaultProxy *p, int n);

extern void fault_proxy_stop(FaultProxy *p);

#endif							/* BRAINY_FAULT_PROXY_H */
