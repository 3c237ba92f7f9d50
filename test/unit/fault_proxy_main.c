/*
 * fault_proxy_main.c - the fault-injecting HTTP proxy of fault_proxy.h as a
 * command-line program, for the shell suites (test/suites/repl_*.sh) and
 * benchmarks that put it between PostgreSQL nodes and the S3 test server.
 *
 *   fault_proxy --upstream-port N --port-file F
 *               [--drop PM] [--e500 PM] [--e503 PM] [--lost-reply PM]
 *               [--delay PM] [--delay-ms MS] [--delay-reply] [--seed S]
 *               [--off] [--stats-file F]
 *
 * Listens on 127.0.0.1 on a free port and writes that port to F (written
 * to F.tmp, then renamed: a reader sees all of it or nothing).  Each request
 * is independently dropped, answered 500 or 503 SlowDown, forwarded with its
 * reply lost, or delayed by MS milliseconds, with the given probabilities in
 * per mille (the rest is forwarded).  With --delay-reply a delayed request
 * is forwarded at once and its reply held for MS milliseconds instead (the
 * request has taken effect; a client killed meanwhile never learns it).
 * --off starts with faults off.
 *
 * Signals: SIGUSR1 toggles faults off/on; SIGTERM or SIGINT stops it.  At
 * exit it prints one line of counts to stderr.  With --stats-file the same
 * counts are rewritten there (again via rename) about every 100 ms and at
 * exit, as "name value" lines:
 *   requests forwarded dropped e500 e503 lost_reply delayed faults_on
 *   GET PUT HEAD DELETE POST other_method
 *   log instances config stats collections locks other_key
 * (the key classes are the bucket layout of DESIGN.md section 3: requests
 * whose path contains /_brainy/log/, /_brainy/instances/, ...).
 *
 * Exit status: 0 after a signal, 2 for bad arguments, 1 if it cannot start.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fault_proxy.h"

typedef struct Counts
{
	pthread_mutex_t lock;
	long		requests,
				forwarded,
				dropped,
				e500,
				e503,
				lost_reply,
				delayed;
	long		get,
				put,
				head,
				del,
				post,
				other_method;
	long		log,
				instances,
				config,
				stats,
				collections,
				locks,
				other_key;
	int			faults_on;
} Counts;

static Counts counts = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void
usage(const char *why)
{
	fprintf(stderr, "fault_proxy: %s\n"
			"usage: fault_proxy --upstream-port N --port-file F [--drop PM] [--e500 PM]\n"
			"       [--e503 PM] [--lost-reply PM] [--delay PM] [--delay-ms MS] [--delay-reply]\n"
			"       [--seed S] [--off] [--stats-file F]\n"
			"  PM: per mille of requests (0..1000, all faults together at most 1000)\n", why);
	exit(2);
}

/* a whole decimal number in [lo, hi], or exit 2 naming the option */
static long
parse_number(const char *opt, const char *s, long lo, long hi)
{
	char	   *end;
	long		v;

	if (s == NULL)
	{
		char		msg[128];

		snprintf(msg, sizeof(msg), "%s needs a value", opt);
		usage(msg);
	}
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || v < lo || v > hi)
	{
		char		msg[256];

		snprintf(msg, sizeof(msg), "%s: \"%s\" is not a number from %ld to %ld", opt, s, lo, hi);
		usage(msg);
	}
	return v;
}

static void
observe(void *arg, const char *head, const FaultAction *a)
{
	Counts	   *c = arg;
	const char *eol = strstr(head, "\r\n");
	size_t		line_len = eol ? (size_t) (eol - head) : strlen(head);
	char		line[1024];

	if (line_len >= sizeof(line))
		line_len = sizeof(line) - 1;
	memcpy(line, head, line_len);
	line[line_len] = '\0';

	pthread_mutex_lock(&c->lock);
	c->requests++;
	switch (a->kind)
	{
		case FAULT_DROP:
			c->dropped++;
			break;
		case FAULT_REPLY:
			if (a->status == 503)
				c->e503++;
			else
				c->e500++;
			break;
		case FAULT_LOST_REPLY:
			c->lost_reply++;
			break;
		case FAULT_FORWARD:
			c->forwarded++;
			break;
	}
	if (a->delay_ms > 0 || a->reply_delay_ms > 0)
		c->delayed++;
	if (strncmp(line, "GET ", 4) == 0)
		c->get++;
	else if (strncmp(line, "PUT ", 4) == 0)
		c->put++;
	else if (strncmp(line, "HEAD ", 5) == 0)
		c->head++;
	else if (strncmp(line, "DELETE ", 7) == 0)
		c->del++;
	else if (strncmp(line, "POST ", 5) == 0)
		c->post++;
	else
		c->other_method++;
	/* keys may be in the path or, for a LIST, in prefix= of the query */
	if (strstr(line, "_brainy/log/") || strstr(line, "_brainy%2Flog%2F"))
		c->log++;
	else if (strstr(line, "_brainy/instances/") || strstr(line, "_brainy%2Finstances%2F"))
		c->instances++;
	else if (strstr(line, "_brainy/config.json"))
		c->config++;
	else if (strstr(line, "_brainy/stats/") || strstr(line, "_brainy%2Fstats%2F"))
		c->stats++;
	else if (strstr(line, "_brainy/collections/") || strstr(line, "_brainy%2Fcollections%2F"))
		c->collections++;
	else if (strstr(line, "_brainy/locks/") || strstr(line, "_brainy%2Flocks%2F"))
		c->locks++;
	else
		c->other_key++;
	pthread_mutex_unlock(&c->lock);
}

/* the counts as "name value" lines into buf */
static int
format_counts(char *buf, size_t size)
{
	int			n;

	pthread_mutex_lock(&counts.lock);
	n = snprintf(buf, size,
				 "requests %ld\nforwarded %ld\ndropped %ld\ne500 %ld\ne503 %ld\n"
				 "lost_reply %ld\ndelayed %ld\nfaults_on %d\n"
				 "GET %ld\nPUT %ld\nHEAD %ld\nDELETE %ld\nPOST %ld\nother_method %ld\n"
				 "log %ld\ninstances %ld\nconfig %ld\nstats %ld\ncollections %ld\n"
				 "locks %ld\nother_key %ld\n",
				 counts.requests, counts.forwarded, counts.dropped, counts.e500,
				 counts.e503, counts.lost_reply, counts.delayed, counts.faults_on,
				 counts.get, counts.put, counts.head, counts.del, counts.post,
				 counts.other_method, counts.log, counts.instances, counts.config,
				 counts.stats, counts.collections, counts.locks, counts.other_key);
	pthread_mutex_unlock(&counts.lock);
	return n;
}

/* write text to path via path.tmp + rename; 0 on success */
static int
write_file_atomic(const char *path, const char *text)
{
	char		tmp[PATH_MAX];
	FILE	   *f;
	int			ok;

	if (snprintf(tmp, sizeof(tmp), "%s.tmp", path) >= (int) sizeof(tmp))
		return -1;
	f = fopen(tmp, "w");
	if (f == NULL)
		return -1;
	ok = fputs(text, f) >= 0;
	if (fclose(f) != 0)
		ok = 0;
	if (!ok || rename(tmp, path) != 0)
	{
		unlink(tmp);
		return -1;
	}
	return 0;
}

int
main(int argc, char **argv)
{
	long		upstream_port = -1;
	const char *port_file = NULL;
	const char *stats_file = NULL;
	long		drop_pm = 0,
				e500_pm = 0,
				e503_pm = 0,
				lost_pm = 0,
				delay_pm = 0,
				delay_ms = 1000,
				seed = 1;
	int			faults_on = 1;
	int			delay_reply = 0;
	FaultProxy *proxy;
	sigset_t	sigs;
	char		buf[1024];
	int			i;

	for (i = 1; i < argc; i++)
	{
		const char *opt = argv[i];
		const char *val = i + 1 < argc ? argv[i + 1] : NULL;

		if (strcmp(opt, "--off") == 0)
		{
			faults_on = 0;
			continue;
		}
		if (strcmp(opt, "--delay-reply") == 0)
		{
			delay_reply = 1;
			continue;
		}
		if (strcmp(opt, "--help") == 0 || strcmp(opt, "-h") == 0)
			usage("a fault-injecting HTTP proxy on 127.0.0.1");
		if (strcmp(opt, "--upstream-port") == 0)
			upstream_port = parse_number(opt, val, 1, 65535);
		else if (strcmp(opt, "--port-file") == 0)
		{
			if (val == NULL || *val == '\0')
				usage("--port-file needs a path");
			port_file = val;
		}
		else if (strcmp(opt, "--stats-file") == 0)
		{
			if (val == NULL || *val == '\0')
				usage("--stats-file needs a path");
			stats_file = val;
		}
		else if (strcmp(opt, "--drop") == 0)
			drop_pm = parse_number(opt, val, 0, 1000);
		else if (strcmp(opt, "--e500") == 0)
			e500_pm = parse_number(opt, val, 0, 1000);
		else if (strcmp(opt, "--e503") == 0)
			e503_pm = parse_number(opt, val, 0, 1000);
		else if (strcmp(opt, "--lost-reply") == 0)
			lost_pm = parse_number(opt, val, 0, 1000);
		else if (strcmp(opt, "--delay") == 0)
			delay_pm = parse_number(opt, val, 0, 1000);
		else if (strcmp(opt, "--delay-ms") == 0)
			delay_ms = parse_number(opt, val, 0, 600000);
		else if (strcmp(opt, "--seed") == 0)
			seed = parse_number(opt, val, 0, UINT_MAX);
		else
		{
			snprintf(buf, sizeof(buf), "unknown option \"%s\"", opt);
			usage(buf);
		}
		i++;					/* the value */
	}
	if (upstream_port < 0)
		usage("--upstream-port is required");
	if (port_file == NULL)
		usage("--port-file is required");
	if (drop_pm + e500_pm + e503_pm + lost_pm + delay_pm > 1000)
		usage("the fault probabilities add up to more than 1000 per mille");

	/*
	 * Block the signals before any thread exists, so every thread inherits
	 * the mask and only sigtimedwait below receives them.
	 */
	sigemptyset(&sigs);
	sigaddset(&sigs, SIGTERM);
	sigaddset(&sigs, SIGINT);
	sigaddset(&sigs, SIGUSR1);
	sigaddset(&sigs, SIGHUP);
	if (pthread_sigmask(SIG_BLOCK, &sigs, NULL) != 0)
	{
		fprintf(stderr, "fault_proxy: cannot block signals\n");
		return 1;
	}

	proxy = fault_proxy_start((int) upstream_port);
	if (proxy == NULL)
	{
		fprintf(stderr, "fault_proxy: cannot listen on 127.0.0.1: %s\n", strerror(errno));
		return 1;
	}
	fault_proxy_keep_heads(proxy, 0);
	counts.faults_on = faults_on;
	fault_proxy_observe(proxy, observe, &counts);
	fault_proxy_random(proxy, (int) drop_pm, (int) e500_pm, (int) e503_pm,
					   (int) delay_pm, (int) delay_ms, (unsigned) seed);
	fault_proxy_lost_reply(proxy, (int) lost_pm);
	fault_proxy_delay_reply(proxy, delay_reply);
	fault_proxy_enable(proxy, faults_on);

	snprintf(buf, sizeof(buf), "%d\n", fault_proxy_port(proxy));
	if (write_file_atomic(port_file, buf) != 0)
	{
		fprintf(stderr, "fault_proxy: cannot write %s: %s\n", port_file, strerror(errno));
		fault_proxy_stop(proxy);
		return 1;
	}
	fprintf(stderr, "fault_proxy: 127.0.0.1:%d -> 127.0.0.1:%ld, faults %s "
			"(drop %ld, 500 %ld, 503 %ld, lost reply %ld, delay %ld x %ld ms%s, per mille; seed %ld)\n",
			fault_proxy_port(proxy), upstream_port, faults_on ? "on" : "off",
			drop_pm, e500_pm, e503_pm, lost_pm, delay_pm, delay_ms,
			delay_reply ? " of the reply" : "", seed);

	for (;;)
	{
		struct timespec tick = {0, 100 * 1000 * 1000};
		int			sig = sigtimedwait(&sigs, NULL, &tick);

		if (sig == SIGUSR1)
		{
			pthread_mutex_lock(&counts.lock);
			counts.faults_on = !counts.faults_on;
			faults_on = counts.faults_on;
			pthread_mutex_unlock(&counts.lock);
			fault_proxy_enable(proxy, faults_on);
			fprintf(stderr, "fault_proxy: faults %s\n", faults_on ? "on" : "off");
		}
		else if (sig == SIGTERM || sig == SIGINT)
			break;
		else if (sig < 0 && errno != EAGAIN && errno != EINTR)
		{
			fprintf(stderr, "fault_proxy: sigtimedwait: %s\n", strerror(errno));
			break;
		}
		/* SIGHUP and timeouts: just refresh the stats file */
		if (stats_file != NULL)
		{
			format_counts(buf, sizeof(buf));
			if (write_file_atomic(stats_file, buf) != 0)
				fprintf(stderr, "fault_proxy: cannot write %s: %s\n", stats_file, strerror(errno));
		}
	}

	fault_proxy_stop(proxy);
	format_counts(buf, sizeof(buf));
	if (stats_file != NULL)
		write_file_atomic(stats_file, buf);
	/* one line for the log */
	for (char *c = buf; *c; c++)
		if (*c == '\n')
			*c = ' ';
	fprintf(stderr, "fault_proxy: stopped; %s\n", buf);
	return 0;
}
