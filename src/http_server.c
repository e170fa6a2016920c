/*
 * http_server.c — the bridge's HTTP server, see http_server.h.
 *
 * Threading: libmicrohttpd runs `threads` workers (epoll where the library
 * has it). Everything about reading a request happens on its worker: the
 * raw URI (MHD_OPTION_URI_LOG_CALLBACK, before MHD decodes and splits it),
 * routing, the allowlist, the body and its limit. A callback request is
 * then suspended and put on a FIFO; the loop thread takes it, answers it,
 * and resumes the connection; the worker then queues the parked answer
 * (MHD calls the access handler again after a resume).
 *
 * One mutex guards the FIFO, the list of taken requests and the pending
 * count. A connection is suspended under that mutex before its request
 * goes on the FIFO, so the loop can never resume a connection that is not
 * suspended yet (MHD forbids that).
 *
 * MHD_stop_daemon() must not find suspended connections: stop() answers
 * every request still on the FIFO with 503 and resumes it first. Suspended
 * connections do not time out and MHD does not notice a client going away
 * while suspended, so every pointer handed over stays valid until answered.
 *
 * Hostile clients. MHD's own connection timeout restarts on every byte, so
 * a client sending one byte every few seconds holds a connection for ever,
 * and its global connection cap is all that stops many of them. Every
 * connection is therefore tracked from MHD_OPTION_NOTIFY_CONNECTION
 * (STARTED to CLOSED) by a struct conn:
 *   - per listener, connections are counted per source address; one over
 *     max_connections_per_ip is closed at once. (MHD's own
 *     MHD_OPTION_PER_IP_CONNECTION_LIMIT works with the thread pool, it
 *     counts in the master daemon, but it refuses silently, before any
 *     callback: nothing could count the refusals.)
 *   - while the server waits for a request on it (from the accept, and
 *     again from the moment the previous request completed until the next
 *     one is handed over or answered), the connection is on the deadline
 *     list with deadline = then + request_timeout_ms. All deadlines use
 *     the same timeout, so the list is in deadline order and the sweeper
 *     thread only ever looks at its head.
 * Closing: MHD offers no call to close a connection from outside, and its
 * access handler is not called while headers trickle in, so the sweeper
 * shutdown()s the socket. The worker sees end-of-file at once and closes
 * the connection the ordinary way (completed(), then CLOSED). This is safe
 * against fd reuse because MHD sends CLOSED before it closes the socket and
 * both the sweeper and CLOSED hold conn_mu.
 *
 * Body memory: every body buffer is reserved from one atomic budget
 * (max_body_memory) before it is allocated: all of an announced
 * Content-Length in begin(), a chunked body as it grows. Announced and over
 * budget: 503 with Retry-After, nothing read. Chunked and over budget
 * halfway: the body is dropped, the rest read and dropped, then 503 (MHD
 * cannot answer in the middle of a body). The reservation is given back
 * when the request completes.
 *
 * The ops listener's /dashboard files are compiled in (dashboard.h) and
 * served as they are; /api/... goes to the caller's api callback on the
 * worker, like /metrics.
 *
 * Logging: MHD's own messages name request URLs (and so tokens); only the
 * ones from starting, which explain a failed start, are kept, for errstr.
 */
#include "http_server.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <microhttpd.h>
#include <openssl/crypto.h>

#include "dashboard.h"
#include "log.h"

#define JSON_CT "application/json"
#define TEXT_CT "text/plain; charset=utf-8"
#define METRICS_CT "text/plain; version=0.0.4; charset=utf-8"
#define DASHBOARD_CSP "default-src 'self'" /* the page's scripts and styles are files */
#define API_PREFIX "/api/"
#define API_PATH_MAX 1024        /* a longer /api/ path is 404 */
#define DEFAULT_THREADS 2
#define STOP_DRAIN_MS 1000       /* stop() waits this long for its 503s to go out */
/* GnuTLS priorities of the HTTPS listener: TLS 1.2 and 1.3 only */
#define OB_HTTP_TLS_PRIORITIES "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"
#define TLS_FILE_MAX (1 << 20)   /* a PEM key or certificate chain larger than this is a mistake */
#define IDLE_TIMEOUT_S 30u       /* MHD's own: no byte either way this long (a client that
                                    stops reading its answer); request_timeout_ms is stricter
                                    while a request is coming in */
#define OPS_THREADS 1
#define OPS_CONNECTIONS 128u     /* the ops listener's cap: scrapers and probes */
#define IP_BUCKETS 1024          /* per listener; the chains hold distinct addresses */
#define BUDGET_RETRY_AFTER "1"   /* seconds */

/* ---- types --------------------------------------------------------------- */

struct cidr {
    int family; /* AF_INET or AF_INET6 */
    unsigned bits;
    unsigned char addr[16]; /* network byte order, host bits cleared */
};

struct route {
    char *prefix; /* without trailing '/': "" for "/" */
    size_t len;
    int id;
    size_t max_body;
    struct cidr *allow;
    size_t n_allow;
};

enum req_state {
    REQ_NEW,      /* URI seen; headers not looked at yet */
    REQ_BODY,     /* a callback: reading its body */
    REQ_QUEUED,   /* suspended, on the FIFO */
    REQ_TAKEN,    /* suspended, with the loop */
    REQ_ANSWERED, /* resumed; the answer is parked in resp */
    REQ_LOCAL,    /* answered by the server itself */
};

/* Per request (MHD's con_cls), from on_uri() to completed(). */
struct request {
    struct ob_http_pending pub; /* first: the loop's pointer is the request's */
    struct ob_http_server *server;
    const struct listener *listener;
    struct MHD_Connection *conn;
    enum req_state state;
    bool handed;     /* was ever handed over (completed() must take the lock) */
    bool too_large;  /* body over max_body: the rest is read and dropped */
    bool draining;   /* answered 503 by stop(), which waits for it to go out */
    bool resp_owned; /* false: a canned response shared by all connections */
    bool over_budget; /* a chunked body outgrew max_body_memory: the rest is dropped */
    size_t reserved;  /* bytes of the body budget this request holds */
    const struct route *route;
    char *body;
    size_t len, cap;
    struct MHD_Response *resp; /* parked answer */
    unsigned status;
    struct request *prev, *next; /* FIFO or taken list */
    struct cidr peer;
    char remote[INET6_ADDRSTRLEN];
    struct ob_header headers[OB_HTTP_SERVER_MAX_HEADERS];
    size_t n_headers;
    const char *query; /* into uri, or NULL */
    char uri[];        /* raw: path, NUL, query */
};

struct list {
    struct request *head, *tail;
    size_t n;
};

struct counters {
    atomic_ullong busy, too_large, forbidden_source, not_found, handed_over;
    atomic_ullong refused_per_ip, deadline_cut, body_budget;
};

/* Open connections from one address on one listener (under conn_mu). */
struct ipcount {
    struct ipcount *next;
    struct cidr addr; /* bits unused */
    unsigned n;
};

struct listener {
    struct ob_http_server *server;
    struct MHD_Daemon *daemon;
    unsigned short port;
    bool callbacks; /* serves the routes */
    bool ops;       /* serves /metrics, /healthz, /readyz, /dashboard, /api/ */
    struct ipcount *ips[IP_BUCKETS];
};

/* One connection, MHD's socket_context, from STARTED to CLOSED. */
struct conn {
    struct listener *listener;
    int fd;
    struct ipcount *ip; /* counted there; NULL: not counted */
    int64_t deadline;   /* monotonic ms, while on the deadline list */
    bool listed;
    struct conn *prev, *next;
};

struct ob_http_server {
    struct listener main, ops_listener; /* ops_listener.daemon NULL: no ops_listen */
    unsigned max_per_ip;                /* 0: no cap */
    int64_t request_timeout_ms;
    size_t body_budget;
    atomic_size_t body_used;
    atomic_bool ready;
    struct route *routes;
    size_t n_routes;
    size_t max_pending;
    int wake_fd;
    char *(*metrics)(void *arg, const struct ob_http_server_stats *http, size_t *len);
    void *metrics_arg;
    char *(*api)(void *arg, const char *path, int *http_status, size_t *len);
    void *api_arg;
    char *tls_cert, *tls_key;
    size_t tls_key_len;

    pthread_mutex_t mu;
    pthread_cond_t cv; /* stop() waits on it for draining to reach 0 */
    struct list queue, taken;
    size_t pending;  /* queue.n + taken.n */
    bool signalled;  /* wake_fd written since the last take */
    bool stopping;
    size_t draining;
    bool locks_ready;
    char *readiness; /* GET /readyz's body, set_readiness(); NULL: the canned one */

    /* connections (struct conn): the per-address counts of both listeners
     * and the deadline list, in deadline order; the sweeper waits on
     * conn_cv for the head's deadline */
    pthread_mutex_t conn_mu;
    pthread_cond_t conn_cv;
    struct conn *dl_head, *dl_tail;
    bool sweeper_running, sweeper_stop;
    pthread_t sweeper;

    /* canned answers, shared by all connections (MHD refcounts them) */
    struct MHD_Response *r_ok, *r404, *r500, *r_busy, *r_stop, *r_budget, *r_ready,
        *r_not_ready;

    struct counters c;

    /* MHD's first message while starting, for errstr */
    pthread_mutex_t log_mu;
    bool started;
    char log[256];
};

#define INC(s, f) atomic_fetch_add_explicit(&(s)->c.f, 1, memory_order_relaxed)
#define GET(s, f) atomic_load_explicit(&(s)->c.f, memory_order_relaxed)

/* ---- helpers ------------------------------------------------------------- */

static void errfmt(char *buf, size_t size, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void errfmt(char *buf, size_t size, const char *fmt, ...)
{
    va_list ap;

    if (buf == NULL || size == 0)
        return;
    va_start(ap, fmt);
    vsnprintf(buf, size, fmt, ap);
    va_end(ap);
}

static int64_t now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t mono_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void ms_to_timespec(int64_t ms, struct timespec *ts)
{
    ts->tv_sec = (time_t)(ms / 1000);
    ts->tv_nsec = (long)(ms % 1000) * 1000000L;
}

/* ---- body budget --------------------------------------------------------- */

/* Take n bytes of the body budget; false (nothing taken) when they would
 * pass it. */
static bool budget_take(struct ob_http_server *s, size_t n)
{
    size_t used = atomic_load_explicit(&s->body_used, memory_order_relaxed);

    do {
        if (n > s->body_budget - used)
            return false;
    } while (!atomic_compare_exchange_weak_explicit(&s->body_used, &used, used + n,
                                                    memory_order_relaxed, memory_order_relaxed));
    return true;
}

static void budget_give(struct ob_http_server *s, size_t n)
{
    if (n > 0)
        atomic_fetch_sub_explicit(&s->body_used, n, memory_order_relaxed);
}

static void list_push(struct list *l, struct request *r)
{
    r->next = NULL;
    r->prev = l->tail;
    if (l->tail != NULL)
        l->tail->next = r;
    else
        l->head = r;
    l->tail = r;
    l->n++;
}

static void list_remove(struct list *l, struct request *r)
{
    if (r->prev != NULL)
        r->prev->next = r->next;
    else
        l->head = r->next;
    if (r->next != NULL)
        r->next->prev = r->prev;
    else
        l->tail = r->prev;
    r->prev = r->next = NULL;
    l->n--;
}

/* A decimal number of at most `max`, nothing else. */
static int parse_uint(const char *text, size_t len, unsigned long max, unsigned long *out)
{
    unsigned long v = 0;

    if (len == 0 || len > 10)
        return -1;
    for (size_t i = 0; i < len; i++) {
        if (text[i] < '0' || text[i] > '9')
            return -1;
        v = v * 10 + (unsigned long)(text[i] - '0');
    }
    if (v > max)
        return -1;
    *out = v;
    return 0;
}

/* ---- addresses ----------------------------------------------------------- */

/* An IPv4-mapped IPv6 address (::ffff:a.b.c.d) becomes plain IPv4, so that
 * a dual-stack listener matches IPv4 allowlists and logs IPv4 addresses. */
static void unmap(struct cidr *a)
{
    static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};

    if (a->family != AF_INET6 || memcmp(a->addr, mapped, sizeof(mapped)) != 0)
        return;
    memmove(a->addr, a->addr + 12, 4);
    memset(a->addr + 4, 0, 12);
    a->family = AF_INET;
    a->bits = a->bits >= 96 ? a->bits - 96 : 0;
}

/* "10.0.0.0/8", "127.0.0.1" (/32), "::1/128", "fd00::/8". Host bits are cleared. */
static int parse_cidr(const char *text, struct cidr *out)
{
    char addr[INET6_ADDRSTRLEN];
    const char *slash = strchr(text, '/');
    size_t alen = slash != NULL ? (size_t)(slash - text) : strlen(text);
    unsigned long bits;
    unsigned max;

    memset(out, 0, sizeof(*out));
    if (alen == 0 || alen >= sizeof(addr))
        return -1;
    memcpy(addr, text, alen);
    addr[alen] = '\0';
    if (inet_pton(AF_INET, addr, out->addr) == 1) {
        out->family = AF_INET;
        max = 32;
    } else if (inet_pton(AF_INET6, addr, out->addr) == 1) {
        out->family = AF_INET6;
        max = 128;
    } else {
        return -1;
    }
    bits = max;
    if (slash != NULL && parse_uint(slash + 1, strlen(slash + 1), max, &bits) != 0)
        return -1;
    out->bits = (unsigned)bits;
    unmap(out);
    for (unsigned i = 0; i < 16; i++) {
        unsigned keep = out->bits > i * 8 ? out->bits - i * 8 : 0;
        if (keep < 8)
            out->addr[i] &= (unsigned char)(0xff00u >> keep);
    }
    return 0;
}

static bool cidr_match(const struct cidr *net, const struct cidr *ip)
{
    unsigned full = net->bits / 8, rest = net->bits % 8;

    if (net->family != ip->family || memcmp(net->addr, ip->addr, full) != 0)
        return false;
    if (rest == 0)
        return true;
    unsigned char mask = (unsigned char)(0xff00u >> rest);
    return (net->addr[full] & mask) == (ip->addr[full] & mask);
}

/* The client's address, binary (for the allowlist) and as text. */
static int client_address(struct MHD_Connection *c, struct cidr *out)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);

    if (info == NULL || info->client_addr == NULL)
        return -1;
    const struct sockaddr *sa = info->client_addr;
    memset(out, 0, sizeof(*out));
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)(const void *)sa;
        out->family = AF_INET;
        out->bits = 32;
        memcpy(out->addr, &sin->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)(const void *)sa;
        out->family = AF_INET6;
        out->bits = 128;
        memcpy(out->addr, &sin6->sin6_addr, 16);
        unmap(out);
    } else {
        return -1;
    }
    return 0;
}

static int peer_address(struct MHD_Connection *c, struct request *r)
{
    if (client_address(c, &r->peer) != 0)
        return -1;
    if (inet_ntop(r->peer.family, r->peer.addr, r->remote, sizeof(r->remote)) == NULL)
        return -1;
    return 0;
}

static bool allowed(const struct route *rt, const struct cidr *peer)
{
    if (rt->n_allow == 0)
        return true;
    for (size_t i = 0; i < rt->n_allow; i++)
        if (cidr_match(&rt->allow[i], peer))
            return true;
    return false;
}

/*
 * "127.0.0.1:8080", "0.0.0.0:0", "[::1]:8080", "[::]:8080". Host names are
 * refused: the server binds one address, and resolving it is the
 * operator's business. *any6 is set for "[::]" (served dual-stack).
 */
static int parse_listen(const char *listen, struct sockaddr_storage *ss, bool *ipv6, bool *any6)
{
    char host[INET6_ADDRSTRLEN];
    const char *h, *port;
    size_t hlen;
    unsigned long pnum;

    if (listen == NULL)
        return -1;
    if (listen[0] == '[') {
        const char *end = strchr(listen, ']');
        if (end == NULL || end[1] != ':')
            return -1;
        h = listen + 1;
        hlen = (size_t)(end - h);
        port = end + 2;
    } else {
        const char *colon = strrchr(listen, ':');
        if (colon == NULL)
            return -1;
        h = listen;
        hlen = (size_t)(colon - listen);
        port = colon + 1;
        if (memchr(h, ':', hlen) != NULL)
            return -1; /* an IPv6 address without brackets */
    }
    if (hlen == 0 || hlen >= sizeof(host) || parse_uint(port, strlen(port), 65535, &pnum) != 0)
        return -1;
    memcpy(host, h, hlen);
    host[hlen] = '\0';

    memset(ss, 0, sizeof(*ss));
    struct sockaddr_in *sin = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
    if (listen[0] != '[' && inet_pton(AF_INET, host, &sin->sin_addr) == 1) {
        sin->sin_family = AF_INET;
        sin->sin_port = htons((uint16_t)pnum);
        *ipv6 = *any6 = false;
        return 0;
    }
    if (listen[0] == '[' && inet_pton(AF_INET6, host, &sin6->sin6_addr) == 1) {
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons((uint16_t)pnum);
        *ipv6 = true;
        *any6 = IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr);
        return 0;
    }
    return -1;
}

/* ---- connections: per-address cap and request deadline ------------------ */

static size_t ip_bucket(const struct cidr *a)
{
    uint32_t h = 2166136261u; /* FNV-1a */

    for (size_t i = 0; i < (a->family == AF_INET ? 4u : 16u); i++)
        h = (h ^ a->addr[i]) * 16777619u;
    return h % IP_BUCKETS;
}

/* conn_mu held. Count one more connection from `addr`: the entry, or NULL
 * when out of memory. */
static struct ipcount *ip_add(struct listener *l, const struct cidr *addr)
{
    struct ipcount **head = &l->ips[ip_bucket(addr)];

    for (struct ipcount *e = *head; e != NULL; e = e->next) {
        if (e->addr.family == addr->family && memcmp(e->addr.addr, addr->addr, 16) == 0) {
            e->n++;
            return e;
        }
    }
    struct ipcount *e = calloc(1, sizeof(*e));
    if (e == NULL)
        return NULL;
    e->addr = *addr;
    e->n = 1;
    e->next = *head;
    *head = e;
    return e;
}

/* conn_mu held. */
static void ip_del(struct listener *l, struct ipcount *e)
{
    if (--e->n > 0)
        return;
    for (struct ipcount **p = &l->ips[ip_bucket(&e->addr)]; *p != NULL; p = &(*p)->next) {
        if (*p == e) {
            *p = e->next;
            free(e);
            return;
        }
    }
}

/* conn_mu held. */
static void deadline_unlist(struct ob_http_server *s, struct conn *k)
{
    if (!k->listed)
        return;
    if (k->prev != NULL)
        k->prev->next = k->next;
    else
        s->dl_head = k->next;
    if (k->next != NULL)
        k->next->prev = k->prev;
    else
        s->dl_tail = k->prev;
    k->prev = k->next = NULL;
    k->listed = false;
}

/* The server waits for a request on k from now on: the request must be in
 * (handed over or answered) by now + request_timeout_ms. */
static void deadline_start(struct ob_http_server *s, struct conn *k)
{
    pthread_mutex_lock(&s->conn_mu);
    deadline_unlist(s, k);
    k->deadline = mono_ms() + s->request_timeout_ms;
    k->prev = s->dl_tail;
    k->next = NULL;
    if (s->dl_tail != NULL) {
        s->dl_tail->next = k;
    } else {
        s->dl_head = k;
        pthread_cond_signal(&s->conn_cv); /* a new head: the sweeper may wait for nothing */
    }
    s->dl_tail = k;
    k->listed = true;
    pthread_mutex_unlock(&s->conn_mu);
}

/* The request on k is in: no deadline until it completes. */
static void deadline_stop(struct ob_http_server *s, struct conn *k)
{
    if (k == NULL)
        return;
    pthread_mutex_lock(&s->conn_mu);
    deadline_unlist(s, k); /* a head removed only makes the sweeper wake early */
    pthread_mutex_unlock(&s->conn_mu);
}

static struct conn *conn_of(struct MHD_Connection *c)
{
    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return info != NULL ? info->socket_context : NULL;
}

/* conn_mu held. End-of-file for MHD's worker, which then closes the
 * connection itself; the fd stays MHD's (see the top of this file). */
static void cut(int fd)
{
    if (fd >= 0)
        shutdown(fd, SHUT_RDWR);
}

/* The sweeper thread: closes every connection whose deadline has passed. */
static void *sweep(void *arg)
{
    struct ob_http_server *s = arg;

    pthread_mutex_lock(&s->conn_mu);
    while (!s->sweeper_stop) {
        int64_t now = mono_ms();
        while (s->dl_head != NULL && s->dl_head->deadline <= now) {
            struct conn *k = s->dl_head;
            deadline_unlist(s, k);
            INC(s, deadline_cut); /* counted first: whoever sees the close sees the count */
            cut(k->fd);
        }
        if (s->dl_head == NULL) {
            pthread_cond_wait(&s->conn_cv, &s->conn_mu);
        } else {
            struct timespec until;
            ms_to_timespec(s->dl_head->deadline, &until);
            pthread_cond_timedwait(&s->conn_cv, &s->conn_mu, &until);
        }
    }
    pthread_mutex_unlock(&s->conn_mu);
    return NULL;
}

/* MHD_OPTION_NOTIFY_CONNECTION: count the connection against its address,
 * close it at once when over the cap, else start its first deadline. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    struct listener *l = cls;
    struct ob_http_server *s = l->server;

    if (code == MHD_CONNECTION_NOTIFY_CLOSED) {
        struct conn *k = *socket_context;
        if (k == NULL)
            return;
        pthread_mutex_lock(&s->conn_mu);
        deadline_unlist(s, k);
        if (k->ip != NULL)
            ip_del(l, k->ip);
        pthread_mutex_unlock(&s->conn_mu);
        free(k);
        *socket_context = NULL;
        return;
    }
    if (code != MHD_CONNECTION_NOTIFY_STARTED)
        return;

    const union MHD_ConnectionInfo *info =
        MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
    int fd = info != NULL ? info->connect_fd : -1;
    struct conn *k = calloc(1, sizeof(*k));
    if (k == NULL) {
        cut(fd); /* untracked, it would have no deadline */
        return;
    }
    k->listener = l;
    k->fd = fd;
    *socket_context = k;

    struct cidr addr;
    if (s->max_per_ip > 0 && client_address(c, &addr) == 0) {
        pthread_mutex_lock(&s->conn_mu);
        k->ip = ip_add(l, &addr);
        bool over = k->ip == NULL || k->ip->n > s->max_per_ip;
        if (over) {
            INC(s, refused_per_ip);
            cut(fd);
        }
        pthread_mutex_unlock(&s->conn_mu);
        if (over)
            return;
    }
    deadline_start(s, k);
}

/* ---- responses ----------------------------------------------------------- */

static struct MHD_Response *canned(const char *body, const char *content_type, bool close)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), (void *)body, MHD_RESPMEM_PERSISTENT);

    if (r == NULL)
        return NULL;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, content_type) != MHD_YES ||
        (close && MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") != MHD_YES)) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

static enum MHD_Result queue(struct MHD_Connection *c, unsigned status, struct MHD_Response *r,
                             bool owned)
{
    if (r == NULL)
        return MHD_NO; /* out of memory: drop the connection */
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    if (owned)
        MHD_destroy_response(r); /* MHD keeps its own reference */
    return ret;
}

/* The loop's reply as an MHD response; NULL when out of memory. */
static struct MHD_Response *from_reply(const struct ob_callback_reply *reply, unsigned *status)
{
    char ct[sizeof(reply->content_type) + 1];
    size_t len = strnlen(reply->body, sizeof(reply->body));
    size_t ctlen = strnlen(reply->content_type, sizeof(reply->content_type));

    *status = reply->status == 0 ? MHD_HTTP_OK : (unsigned)reply->status;
    if (reply->status < 0 || (reply->status != 0 && (reply->status < 200 || reply->status > 599)))
        *status = MHD_HTTP_INTERNAL_SERVER_ERROR; /* not a final status: a bug in the adapter */
    memcpy(ct, reply->content_type, ctlen);
    ct[ctlen] = '\0';
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)reply->body, MHD_RESPMEM_MUST_COPY);
    if (r == NULL)
        return NULL;
    /* MHD refuses header values with CR or LF: fall back to JSON then */
    bool typed = ct[0] != '\0' &&
                 MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, ct) == MHD_YES;
    if (!typed && MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, JSON_CT) != MHD_YES) {
        MHD_destroy_response(r);
        return NULL;
    }
    return r;
}

static enum MHD_Result reply_metrics(struct ob_http_server *s, struct MHD_Connection *c)
{
    struct ob_http_server_stats stats;
    size_t len = 0;

    ob_http_server_get_stats(s, &stats);
    char *text = s->metrics(s->metrics_arg, &stats, &len);

    if (text == NULL)
        return MHD_queue_response(c, MHD_HTTP_INTERNAL_SERVER_ERROR, s->r500);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, text, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(text);
        return MHD_NO;
    }
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_CT) != MHD_YES) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    return queue(c, MHD_HTTP_OK, r, true);
}

/* ---- handing over -------------------------------------------------------- */

static enum MHD_Result add_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                  const char *value)
{
    struct request *r = cls;
    (void)kind;

    if (r->n_headers >= OB_HTTP_SERVER_MAX_HEADERS)
        return MHD_NO; /* stop iterating */
    /* MHD's strings live until the request completes, longer than the
     * hand-over; the loop sees them through a const pointer */
    r->headers[r->n_headers].name = (char *)(uintptr_t)key;
    r->headers[r->n_headers].value = (char *)(uintptr_t)(value != NULL ? value : "");
    r->n_headers++;
    return MHD_YES;
}

static void signal_loop(struct ob_http_server *s)
{
    if (s->wake_fd < 0)
        return;
    ssize_t n = write(s->wake_fd, "h", 1);
    (void)n; /* EAGAIN: the pipe is full, the loop is awake anyway */
}

/*
 * Suspend the connection and queue its request for the loop, or answer 503
 * at once when max_pending are out already or the server is stopping.
 * The connection is suspended under s->mu, before the loop can see it.
 */
static enum MHD_Result hand_over(struct ob_http_server *s, struct MHD_Connection *c,
                                 struct request *r, enum ob_callback_verdict preset)
{
    struct ob_callback_request *req = &r->pub.req;
    bool wake = false;

    r->pub.route_id = r->route->id;
    r->pub.preset = preset;
    req->path = r->uri;
    req->subpath = r->uri + r->route->len;
    req->query = r->query;
    MHD_get_connection_values(c, MHD_HEADER_KIND, add_header, r);
    req->headers = r->headers;
    req->n_headers = r->n_headers;
    req->body = r->body != NULL ? r->body : "";
    req->body_len = r->len;
    req->remote_addr = r->remote;
    req->now_ms = now_ms();

    deadline_stop(s, conn_of(c)); /* before the loop can see it */
    pthread_mutex_lock(&s->mu);
    if (s->stopping || s->pending >= s->max_pending) {
        bool stopping = s->stopping;
        pthread_mutex_unlock(&s->mu);
        INC(s, busy);
        r->state = REQ_LOCAL;
        return MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE,
                                  stopping ? s->r_stop : s->r_busy);
    }
    MHD_suspend_connection(c);
    r->state = REQ_QUEUED;
    r->handed = true;
    list_push(&s->queue, r);
    s->pending++;
    if (!s->signalled) {
        s->signalled = true;
        wake = true;
    }
    /* counted under the lock: whoever sees a take() return has also seen
     * the counts of everything queued before it */
    INC(s, handed_over);
    if (preset == OB_CALLBACK_TOO_LARGE)
        INC(s, too_large);
    else if (preset == OB_CALLBACK_FORBIDDEN)
        INC(s, forbidden_source);
    pthread_mutex_unlock(&s->mu);

    if (wake)
        signal_loop(s);
    return MHD_YES;
}

/* ---- request handling ---------------------------------------------------- */

/* MHD_OPTION_URI_LOG_CALLBACK: the first look at a request, with the raw
 * URI (MHD percent-decodes the path and splits the query later). Its
 * result is the request's con_cls, freed in completed(). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    const struct listener *l = cls;
    size_t n = uri != NULL ? strlen(uri) : 0;
    struct request *r = calloc(1, sizeof(*r) + n + 1);

    if (r == NULL)
        return NULL; /* the handler then drops the connection */
    r->server = l->server;
    r->listener = l;
    r->conn = c;
    if (n > 0)
        memcpy(r->uri, uri, n + 1);
    char *q = strchr(r->uri, '?');
    if (q != NULL) {
        *q = '\0';
        r->query = q + 1;
    }
    return r;
}

static const struct route *find_route(const struct ob_http_server *s, const char *path)
{
    const struct route *best = NULL;
    size_t len = strlen(path);

    for (size_t i = 0; i < s->n_routes; i++) {
        const struct route *rt = &s->routes[i];
        if (rt->len > len || memcmp(rt->prefix, path, rt->len) != 0 ||
            (len > rt->len && path[rt->len] != '/'))
            continue;
        if (best == NULL || rt->len > best->len)
            best = rt;
    }
    return best;
}

/* The operations endpoints answered by exact path. */
static bool is_ops_path(const char *path)
{
    return strcmp(path, "/healthz") == 0 || strcmp(path, "/readyz") == 0 ||
           strcmp(path, "/metrics") == 0;
}

/* The operations trees: /dashboard (and its files) and /api/... A callback
 * route may lie under them; it wins (see begin()). */
static bool is_ops_tree(const char *path)
{
    return strncmp(path, "/dashboard", 10) == 0 ? path[10] == '\0' || path[10] == '/'
                                                : strncmp(path, API_PREFIX, 5) == 0;
}

/* Add header pairs (name, value, ..., NULL); false when MHD refused one. */
static bool add_headers(struct MHD_Response *r, ...)
{
    va_list ap;
    bool ok = true;

    va_start(ap, r);
    for (const char *name = va_arg(ap, const char *); ok && name != NULL;
         name = va_arg(ap, const char *))
        ok = MHD_add_response_header(r, name, va_arg(ap, const char *)) == MHD_YES;
    va_end(ap);
    return ok;
}

/* GET /dashboard (index.html) and /dashboard/<file>, from the embedded files. */
static enum MHD_Result reply_dashboard(struct ob_http_server *s, struct MHD_Connection *c,
                                       const char *path)
{
    const char *name = path[10] == '\0' || path[11] == '\0' ? "index.html" : path + 11;
    const struct ob_dashboard_file *f = NULL;

    for (size_t i = 0; i < ob_dashboard_n_files && f == NULL; i++)
        if (strcmp(ob_dashboard_files[i].name, name) == 0)
            f = &ob_dashboard_files[i];
    if (f == NULL) {
        INC(s, not_found);
        return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, s->r404);
    }
    struct MHD_Response *r =
        MHD_create_response_from_buffer(f->len, (void *)f->data, MHD_RESPMEM_PERSISTENT);
    if (r == NULL)
        return MHD_NO;
    if (!add_headers(r, MHD_HTTP_HEADER_CONTENT_TYPE, f->content_type,
                     "Content-Security-Policy", DASHBOARD_CSP, "X-Content-Type-Options",
                     "nosniff", MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache", NULL)) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    return queue(c, MHD_HTTP_OK, r, true);
}

static int hex_digit(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/* Percent-decode `in` into out[size]; -1 when it does not fit, has a bad
 * escape or decodes to a NUL. ('+' stays '+': this is a path.) */
static int percent_decode(const char *in, char *out, size_t size)
{
    size_t n = 0;

    for (; *in != '\0'; in++) {
        char ch = *in;
        if (ch == '%') {
            int hi = hex_digit(in[1]), lo = hi < 0 ? -1 : hex_digit(in[2]);
            if (lo < 0 || (hi | lo) == 0)
                return -1;
            ch = (char)(hi * 16 + lo);
            in += 2;
        }
        if (n + 1 >= size)
            return -1;
        out[n++] = ch;
    }
    out[n] = '\0';
    return 0;
}

/* GET /api/...: the caller's JSON. */
static enum MHD_Result reply_api(struct ob_http_server *s, struct MHD_Connection *c,
                                 const char *raw)
{
    char path[API_PATH_MAX];
    int status = MHD_HTTP_OK;
    size_t len = 0;

    if (s->api == NULL || percent_decode(raw, path, sizeof(path)) != 0) {
        INC(s, not_found);
        return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, s->r404);
    }
    char *body = s->api(s->api_arg, path, &status, &len);
    if (body == NULL) {
        if (status == MHD_HTTP_NOT_FOUND)
            INC(s, not_found);
        if (status < 400 || status > 599)
            status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        if (status == MHD_HTTP_NOT_FOUND)
            return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, s->r404);
        return MHD_queue_response(c, MHD_HTTP_INTERNAL_SERVER_ERROR, s->r500);
    }
    if (status < 200 || status > 599)
        status = MHD_HTTP_INTERNAL_SERVER_ERROR; /* a bug in the callee */
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (r == NULL) {
        free(body);
        return MHD_NO;
    }
    if (!add_headers(r, MHD_HTTP_HEADER_CONTENT_TYPE, JSON_CT, MHD_HTTP_HEADER_CACHE_CONTROL,
                     "no-store", "X-Content-Type-Options", "nosniff", NULL)) {
        MHD_destroy_response(r);
        return MHD_NO;
    }
    return queue(c, (unsigned)status, r, true);
}

/* The operations endpoints: GET (or HEAD) /healthz, /readyz, /metrics,
 * /dashboard[/<file>], /api/... */
static enum MHD_Result reply_ops(struct ob_http_server *s, struct MHD_Connection *c,
                                 const char *path)
{
    if (strncmp(path, API_PREFIX, 5) == 0)
        return reply_api(s, c, path);
    if (strncmp(path, "/dashboard", 10) == 0)
        return reply_dashboard(s, c, path);
    if (strcmp(path, "/healthz") == 0)
        return MHD_queue_response(c, MHD_HTTP_OK, s->r_ok);
    if (strcmp(path, "/readyz") == 0) {
        struct MHD_Response *r = NULL;
        pthread_mutex_lock(&s->mu);
        bool ready = !s->stopping && atomic_load(&s->ready);
        if (!s->stopping && s->readiness != NULL)
            r = MHD_create_response_from_buffer(strlen(s->readiness), s->readiness,
                                                MHD_RESPMEM_MUST_COPY);
        pthread_mutex_unlock(&s->mu);
        if (r == NULL)
            return MHD_queue_response(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE,
                                      ready ? s->r_ready : s->r_not_ready);
        enum MHD_Result rc = MHD_NO;
        if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, TEXT_CT) == MHD_YES)
            rc = MHD_queue_response(c, ready ? MHD_HTTP_OK : MHD_HTTP_SERVICE_UNAVAILABLE, r);
        MHD_destroy_response(r);
        return rc;
    }
    if (s->metrics != NULL)
        return reply_metrics(s, c);
    INC(s, not_found);
    return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, s->r404);
}

/* First call, headers only: what the server answers itself, the route,
 * the allowlist, an announced body over the limit. */
static enum MHD_Result begin(struct ob_http_server *s, struct MHD_Connection *c,
                             const char *method, struct request *r)
{
    bool get = strcmp(method, MHD_HTTP_METHOD_GET) == 0 ||
               strcmp(method, MHD_HTTP_METHOD_HEAD) == 0;
    bool ops_path = is_ops_path(r->uri);

    r->state = REQ_LOCAL;
    if (ops_path && r->listener->ops && get)
        return reply_ops(s, c, r->uri);
    if (is_ops_tree(r->uri) && r->listener->ops && get &&
        (!r->listener->callbacks || find_route(s, r->uri) == NULL))
        return reply_ops(s, c, r->uri);
    /* the ops paths belong to the ops listener alone when there is one */
    if (!r->listener->callbacks || (ops_path && !r->listener->ops)) {
        INC(s, not_found);
        return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, s->r404);
    }
    r->route = find_route(s, r->uri);
    if (r->route == NULL) {
        INC(s, not_found);
        return MHD_queue_response(c, MHD_HTTP_NOT_FOUND, s->r404);
    }
    if (peer_address(c, r) != 0)
        return MHD_NO;
    r->pub.req.method = method; /* MHD's copy, valid until completed() */
    if (!allowed(r->route, &r->peer))
        return hand_over(s, c, r, OB_CALLBACK_FORBIDDEN); /* the body is never read */

    /* an announced body over the limit: refused before it is read (once
     * answered, MHD discards what follows and closes the connection) */
    const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND,
                                                 MHD_HTTP_HEADER_TRANSFER_ENCODING);
    if (cl != NULL && te == NULL) {
        errno = 0;
        char *end;
        unsigned long long n = strtoull(cl, &end, 10);
        if (errno == ERANGE || n > r->route->max_body)
            return hand_over(s, c, r, OB_CALLBACK_TOO_LARGE);
        if (end != cl && n > 0) {
            /* all of it reserved before any of it is read */
            if (!budget_take(s, (size_t)n + 1)) {
                INC(s, body_budget);
                return MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, s->r_budget);
            }
            r->reserved = (size_t)n + 1;
            r->body = malloc((size_t)n + 1); /* + the NUL the loop gets */
            if (r->body == NULL)
                return MHD_NO;
            r->cap = (size_t)n + 1;
        }
    }
    r->state = REQ_BODY;
    return MHD_YES;
}

static void drop_body(struct request *r)
{
    free(r->body);
    r->body = NULL;
    r->len = r->cap = 0;
    budget_give(r->server, r->reserved);
    r->reserved = 0;
}

/* Bounded body accumulation; past max_body the body is freed and the rest
 * dropped (-> TOO_LARGE), likewise when growing it would pass the body
 * budget (-> 503). Room is always kept for a terminating NUL. */
static int append(struct request *r, const char *data, size_t n)
{
    size_t limit = r->route->max_body;

    if (r->too_large || r->over_budget)
        return 0;
    if (n > limit - r->len) {
        r->too_large = true;
        drop_body(r);
        return 0;
    }
    if (r->len + n + 1 > r->cap) {
        size_t cap = r->cap ? r->cap * 2 : 4096;
        if (cap < r->len + n + 1)
            cap = r->len + n + 1;
        if (cap > limit + 1)
            cap = limit + 1;
        if (cap > r->reserved) {
            if (!budget_take(r->server, cap - r->reserved)) {
                r->over_budget = true;
                drop_body(r);
                return 0;
            }
            r->reserved = cap;
        }
        char *p = realloc(r->body, cap);
        if (p == NULL)
            return -1;
        r->body = p;
        r->cap = cap;
    }
    memcpy(r->body + r->len, data, n);
    r->len += n;
    return 0;
}

/* Last call (the whole body is in): hand it over. */
static enum MHD_Result finish(struct ob_http_server *s, struct MHD_Connection *c, struct request *r)
{
    if (r->over_budget) {
        INC(s, body_budget);
        r->state = REQ_LOCAL;
        return MHD_queue_response(c, MHD_HTTP_SERVICE_UNAVAILABLE, s->r_budget);
    }
    if (r->too_large)
        return hand_over(s, c, r, OB_CALLBACK_TOO_LARGE);
    if (r->body != NULL)
        r->body[r->len] = '\0'; /* append() and begin() keep room for it */
    return hand_over(s, c, r, 0);
}

/* The request is in once answered here or handed over: its deadline stops.
 * (hand_over() stopped it already. Once handed over, r->state is the
 * loop's to change: only r->handed, the worker's own, may be read.) */
static enum MHD_Result request_in(struct ob_http_server *s, struct MHD_Connection *c,
                                  struct request *r, enum MHD_Result ret)
{
    if (!r->handed && r->state != REQ_BODY)
        deadline_stop(s, conn_of(c));
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload_data,
                              size_t *upload_data_size, void **con_cls)
{
    struct ob_http_server *s = ((struct listener *)cls)->server;
    struct request *r = *con_cls;
    (void)url; /* decoded: the raw path from on_uri() is used instead */
    (void)version;

    if (r == NULL)
        return MHD_NO; /* on_uri() ran out of memory */
    switch (r->state) {
    case REQ_NEW:
        return request_in(s, c, r, begin(s, c, method, r));
    case REQ_BODY:
        if (*upload_data_size != 0) {
            if (append(r, upload_data, *upload_data_size) < 0)
                return MHD_NO;
            *upload_data_size = 0;
            return MHD_YES;
        }
        return request_in(s, c, r, finish(s, c, r));
    case REQ_ANSWERED: {
        /* called again after the resume: send the parked answer (before the
         * body when handed over early; MHD then closes the connection) */
        struct MHD_Response *resp = r->resp;
        r->resp = NULL;
        r->state = REQ_LOCAL;
        return queue(c, r->status, resp, r->resp_owned);
    }
    case REQ_QUEUED:
    case REQ_TAKEN:
    case REQ_LOCAL:
        break;
    }
    return MHD_NO; /* cannot happen: suspended, or answered already */
}

static void completed(void *cls, struct MHD_Connection *c, void **con_cls,
                      enum MHD_RequestTerminationCode toe)
{
    struct ob_http_server *s = ((struct listener *)cls)->server;
    struct request *r = *con_cls;

    /* answered: the connection may stay open for the next request, which
     * gets a deadline of its own from now (closing: CLOSED unlists it) */
    if (toe == MHD_REQUEST_TERMINATED_COMPLETED_OK) {
        struct conn *k = conn_of(c);
        if (k != NULL)
            deadline_start(s, k);
    }
    if (r == NULL)
        return;
    if (r->handed) {
        pthread_mutex_lock(&s->mu);
        /* MHD does not end suspended requests; should it, keep the lists sound */
        if (r->state == REQ_QUEUED || r->state == REQ_TAKEN) {
            list_remove(r->state == REQ_QUEUED ? &s->queue : &s->taken, r);
            s->pending--;
        }
        if (r->draining && --s->draining == 0)
            pthread_cond_signal(&s->cv);
        pthread_mutex_unlock(&s->mu);
    }
    if (r->resp != NULL && r->resp_owned) /* never sent */
        MHD_destroy_response(r->resp);
    drop_body(r);
    free(r);
    *con_cls = NULL;
}

static void mhd_log(void *cls, const char *fmt, va_list ap)
{
    struct ob_http_server *s = cls;

    /* only while starting: later messages may carry a request's URL */
    pthread_mutex_lock(&s->log_mu);
    if (!s->started && s->log[0] == '\0') {
        vsnprintf(s->log, sizeof(s->log), fmt, ap);
        s->log[strcspn(s->log, "\n")] = '\0';
    }
    pthread_mutex_unlock(&s->log_mu);
}

/* ---- loop thread --------------------------------------------------------- */

size_t ob_http_server_take(struct ob_http_server *s, struct ob_http_pending **out, size_t max)
{
    size_t n = 0;

    if (s == NULL || (out == NULL && max > 0))
        return 0;
    pthread_mutex_lock(&s->mu);
    while (n < max && s->queue.head != NULL) {
        struct request *r = s->queue.head;
        list_remove(&s->queue, r);
        list_push(&s->taken, r);
        r->state = REQ_TAKEN;
        out[n++] = &r->pub;
    }
    s->signalled = false; /* the next arrival writes wake_fd again */
    pthread_mutex_unlock(&s->mu);
    return n;
}

void ob_http_server_answer(struct ob_http_server *s, struct ob_http_pending *p,
                           const struct ob_callback_reply *reply)
{
    struct request *r = (struct request *)p;
    struct ob_callback_reply fallback = {.status = MHD_HTTP_INTERNAL_SERVER_ERROR};
    unsigned status;

    if (s == NULL || p == NULL)
        return;
    /* built before taking the lock; NULL (out of memory) drops the connection */
    struct MHD_Response *resp = from_reply(reply != NULL ? reply : &fallback, &status);
    pthread_mutex_lock(&s->mu);
    if (r->state != REQ_TAKEN) {
        pthread_mutex_unlock(&s->mu);
        OB_ERR("HTTP server: a callback answered twice, or never taken");
        if (resp != NULL)
            MHD_destroy_response(resp);
        return;
    }
    list_remove(&s->taken, r);
    s->pending--;
    r->resp = resp;
    r->resp_owned = true;
    r->status = status;
    r->state = REQ_ANSWERED;
    pthread_mutex_unlock(&s->mu);
    MHD_resume_connection(r->conn); /* r belongs to the worker from here on */
}

void ob_http_server_get_stats(const struct ob_http_server *s, struct ob_http_server_stats *out)
{
    if (out == NULL)
        return;
    memset(out, 0, sizeof(*out));
    if (s == NULL)
        return;
    /* the counters are atomics; reading them does not change the server */
    struct ob_http_server *w = (struct ob_http_server *)(uintptr_t)s;
    out->busy = GET(w, busy);
    out->too_large = GET(w, too_large);
    out->forbidden_source = GET(w, forbidden_source);
    out->not_found = GET(w, not_found);
    out->handed_over = GET(w, handed_over);
    out->refused_per_ip = GET(w, refused_per_ip);
    out->deadline_cut = GET(w, deadline_cut);
    out->body_budget = GET(w, body_budget);
    out->body_bytes = atomic_load_explicit(&w->body_used, memory_order_relaxed);
}

unsigned short ob_http_server_port(const struct ob_http_server *s)
{
    return s != NULL ? s->main.port : 0;
}

unsigned short ob_http_server_ops_port(const struct ob_http_server *s)
{
    return s != NULL ? s->ops_listener.port : 0;
}

void ob_http_server_set_ready(struct ob_http_server *s, int ready)
{
    if (s != NULL)
        atomic_store(&s->ready, ready != 0);
}

void ob_http_server_set_readiness(struct ob_http_server *s, int ready, const char *text)
{
    char *copy = text ? strdup(text) : NULL;

    if (s == NULL) {
        free(copy);
        return;
    }
    pthread_mutex_lock(&s->mu);
    free(s->readiness);
    s->readiness = copy;
    atomic_store(&s->ready, ready != 0);
    pthread_mutex_unlock(&s->mu);
}

/* ---- start and stop ------------------------------------------------------ */

static void free_routes(struct route *routes, size_t n)
{
    if (routes == NULL)
        return;
    for (size_t i = 0; i < n; i++) {
        free(routes[i].prefix);
        free(routes[i].allow);
    }
    free(routes);
}

/* Copy and check the routes. Errors name a route by index and id, never by
 * its path (a token may be in it). */
static int copy_routes(struct ob_http_server *s, const struct ob_http_server_options *opt,
                       char *errstr, size_t errstr_size)
{
    if (opt->n_routes == 0)
        return 0;
    if (opt->routes == NULL) {
        errfmt(errstr, errstr_size, "n_routes is %zu but routes is NULL", opt->n_routes);
        return -1;
    }
    s->routes = calloc(opt->n_routes, sizeof(*s->routes));
    if (s->routes == NULL)
        goto oom;
    for (size_t i = 0; i < opt->n_routes; i++) {
        const struct ob_http_route *in = &opt->routes[i];
        struct route *rt = &s->routes[i];
        s->n_routes = i + 1;
        if (in->prefix == NULL || in->prefix[0] != '/' || strchr(in->prefix, '?') != NULL) {
            errfmt(errstr, errstr_size, "callback route %zu (id %d): the path must start with '/' "
                   "and hold no query", i, in->id);
            return -1;
        }
        rt->len = strlen(in->prefix);
        while (rt->len > 0 && in->prefix[rt->len - 1] == '/')
            rt->len--; /* "/a/" serves the same paths as "/a" */
        rt->prefix = strndup(in->prefix, rt->len);
        if (rt->prefix == NULL)
            goto oom;
        rt->id = in->id;
        rt->max_body = in->max_body ? in->max_body : OB_HTTP_SERVER_DEFAULT_BODY;
        if (rt->max_body >= SIZE_MAX / 2) {
            errfmt(errstr, errstr_size, "callback route %zu (id %d): max_body is too large", i,
                   in->id);
            return -1;
        }
        for (size_t j = 0; j < i; j++) {
            const struct route *other = &s->routes[j];
            if (other->len == rt->len && memcmp(other->prefix, rt->prefix, rt->len) == 0) {
                errfmt(errstr, errstr_size, "callback routes %zu (id %d) and %zu (id %d) have the "
                       "same path", j, s->routes[j].id, i, in->id);
                return -1;
            }
        }
        if (in->n_allow_from == 0)
            continue;
        if (in->allow_from == NULL) {
            errfmt(errstr, errstr_size, "callback route %zu (id %d): n_allow_from is %zu but "
                   "allow_from is NULL", i, in->id, in->n_allow_from);
            return -1;
        }
        rt->allow = calloc(in->n_allow_from, sizeof(*rt->allow));
        if (rt->allow == NULL)
            goto oom;
        rt->n_allow = in->n_allow_from;
        for (size_t j = 0; j < in->n_allow_from; j++) {
            const char *text = in->allow_from[j];
            if (text == NULL || parse_cidr(text, &rt->allow[j]) != 0) {
                errfmt(errstr, errstr_size, "callback route %zu (id %d): allow_from[%zu] \"%s\" is "
                       "not an IPv4 or IPv6 address or CIDR (\"10.0.0.0/8\", \"::1/128\")", i,
                       in->id, j, text != NULL ? text : "(null)");
                return -1;
            }
        }
    }
    return 0;
oom:
    errfmt(errstr, errstr_size, "out of memory");
    return -1;
}

/* The whole file, NUL-terminated (MHD wants a C string), in *out. */
static int read_pem(const char *what, const char *path, char **out, size_t *len, char *errstr,
                    size_t errstr_size)
{
    FILE *f = fopen(path, "rb");
    char *buf = NULL;
    size_t n = 0;

    if (f == NULL) {
        errfmt(errstr, errstr_size, "%s %s: %s", what, path, strerror(errno));
        return -1;
    }
    buf = malloc(TLS_FILE_MAX + 1);
    if (buf == NULL) {
        fclose(f);
        errfmt(errstr, errstr_size, "out of memory");
        return -1;
    }
    n = fread(buf, 1, TLS_FILE_MAX + 1, f);
    int bad = ferror(f);
    fclose(f);
    if (bad || n == 0 || n > TLS_FILE_MAX) {
        errfmt(errstr, errstr_size, "%s %s: %s", what, path,
               bad ? "cannot read it" : n == 0 ? "empty" : "larger than 1 MiB");
        OPENSSL_cleanse(buf, n < TLS_FILE_MAX + 1 ? n : TLS_FILE_MAX + 1);
        free(buf);
        return -1;
    }
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return 0;
}

static void free_canned(struct ob_http_server *s)
{
    struct MHD_Response **all[] = {&s->r_ok,     &s->r404,   &s->r500,  &s->r_busy,
                                   &s->r_stop,   &s->r_budget, &s->r_ready, &s->r_not_ready};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++) {
        if (*all[i] != NULL)
            MHD_destroy_response(*all[i]);
        *all[i] = NULL;
    }
}

static int make_canned(struct ob_http_server *s)
{
    s->r_ok = canned("ok\n", TEXT_CT, false);
    s->r404 = canned("{\"error\":\"not found\"}", JSON_CT, false);
    s->r500 = canned("{\"error\":\"internal\"}", JSON_CT, false);
    s->r_busy = canned("{\"error\":\"busy\"}", JSON_CT, false);
    s->r_stop = canned("{\"error\":\"shutting down\"}", JSON_CT, true);
    s->r_budget = canned("{\"error\":\"busy\"}", JSON_CT, true);
    s->r_ready = canned("ready\n", TEXT_CT, false);
    s->r_not_ready = canned("not ready\n", TEXT_CT, false);
    if (s->r_budget != NULL &&
        MHD_add_response_header(s->r_budget, MHD_HTTP_HEADER_RETRY_AFTER, BUDGET_RETRY_AFTER) !=
            MHD_YES)
        return -1;
    return s->r_ok && s->r404 && s->r500 && s->r_busy && s->r_stop && s->r_budget &&
                   s->r_ready && s->r_not_ready
               ? 0
               : -1;
}

static void stop_sweeper(struct ob_http_server *s)
{
    if (!s->sweeper_running)
        return;
    pthread_mutex_lock(&s->conn_mu);
    s->sweeper_stop = true;
    pthread_cond_signal(&s->conn_cv);
    pthread_mutex_unlock(&s->conn_mu);
    pthread_join(s->sweeper, NULL);
    s->sweeper_running = false;
}

static void free_ips(struct listener *l)
{
    for (size_t i = 0; i < IP_BUCKETS; i++) {
        while (l->ips[i] != NULL) {
            struct ipcount *e = l->ips[i];
            l->ips[i] = e->next;
            free(e);
        }
    }
}

/* Free what start() made; the daemons are stopped already (or never were). */
static void destroy(struct ob_http_server *s)
{
    stop_sweeper(s);
    free_ips(&s->main);
    free_ips(&s->ops_listener);
    free_canned(s);
    free(s->readiness);
    free_routes(s->routes, s->n_routes);
    free(s->tls_cert);
    if (s->tls_key != NULL)
        OPENSSL_cleanse(s->tls_key, s->tls_key_len);
    free(s->tls_key);
    if (s->locks_ready) {
        pthread_cond_destroy(&s->conn_cv);
        pthread_mutex_destroy(&s->conn_mu);
        pthread_cond_destroy(&s->cv);
        pthread_mutex_destroy(&s->mu);
        pthread_mutex_destroy(&s->log_mu);
    }
    free(s);
}

static int init_locks(struct ob_http_server *s)
{
    pthread_condattr_t ca;
    int made = 0; /* how many of the five below exist */

    if (pthread_condattr_init(&ca) != 0)
        return -1;
    if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0)
        goto out;
    if (pthread_mutex_init(&s->mu, NULL) != 0)
        goto out;
    made++;
    if (pthread_cond_init(&s->cv, &ca) != 0)
        goto out;
    made++;
    if (pthread_mutex_init(&s->log_mu, NULL) != 0)
        goto out;
    made++;
    if (pthread_mutex_init(&s->conn_mu, NULL) != 0)
        goto out;
    made++;
    if (pthread_cond_init(&s->conn_cv, &ca) != 0)
        goto out;
    made++;
    s->locks_ready = true;
out:
    pthread_condattr_destroy(&ca);
    if (s->locks_ready)
        return 0;
    if (made >= 4)
        pthread_mutex_destroy(&s->conn_mu);
    if (made >= 3)
        pthread_mutex_destroy(&s->log_mu);
    if (made >= 2)
        pthread_cond_destroy(&s->cv);
    if (made >= 1)
        pthread_mutex_destroy(&s->mu);
    return -1;
}

/* Start one listener's daemon. `what` names the option in errors. */
static int start_listener(struct ob_http_server *s, struct listener *l, const char *what,
                          const char *listen, unsigned threads, unsigned max_connections,
                          bool tls, char *errstr, size_t errstr_size)
{
    struct sockaddr_storage ss;
    bool ipv6 = false, any6 = false;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_ALLOW_SUSPEND_RESUME |
                         MHD_USE_ERROR_LOG;

    if (parse_listen(listen, &ss, &ipv6, &any6) != 0) {
        errfmt(errstr, errstr_size, "%s \"%s\": expected IPv4:port or [IPv6]:port, e.g. "
               "\"0.0.0.0:8080\" or \"[::1]:8080\"", what, listen ? listen : "(null)");
        return -1;
    }
    l->server = s;
    if (tls)
        flags |= MHD_USE_TLS;
    /* poll(), not epoll: libmicrohttpd 0.9.75's epoll mode leaves requests
     * unread on busy keep-alive connections until the clients time out
     * (tests/unit/test_dispatch.c, two clients against one thread). */
    flags |= MHD_USE_POLL;
    if (any6)
        flags |= MHD_USE_DUAL_STACK;
    else if (ipv6)
        flags |= MHD_USE_IPv6;

    /* Options that depend on the configuration. One thread is the internal
     * polling thread alone: MHD warns about a pool of 0 or 1, so leave the
     * option out then. */
    struct MHD_OptionItem extra[5];
    size_t n_extra = 0;
    if (threads >= 2)
        extra[n_extra++] = (struct MHD_OptionItem){MHD_OPTION_THREAD_POOL_SIZE, (intptr_t)threads,
                                                   NULL};
    if (tls) {
        extra[n_extra++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_CERT, 0, s->tls_cert};
        extra[n_extra++] = (struct MHD_OptionItem){MHD_OPTION_HTTPS_MEM_KEY, 0, s->tls_key};
        /* GnuTLS's NORMAL still offers TLS 1.0 and 1.1: TLS 1.2 and 1.3 only */
        extra[n_extra++] = (struct MHD_OptionItem){
            MHD_OPTION_HTTPS_PRIORITIES, 0, (void *)"NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2"};
    }
    extra[n_extra] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};

    pthread_mutex_lock(&s->log_mu);
    s->log[0] = '\0';
    pthread_mutex_unlock(&s->log_mu);
    /* the logger goes first so it also sees complaints about later options */
    l->daemon = MHD_start_daemon(
        flags, 0, NULL, NULL, handle, l,
        MHD_OPTION_EXTERNAL_LOGGER, mhd_log, s,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss,
        MHD_OPTION_ARRAY, extra,
        MHD_OPTION_URI_LOG_CALLBACK, on_uri, l,
        MHD_OPTION_NOTIFY_COMPLETED, completed, l,
        MHD_OPTION_NOTIFY_CONNECTION, on_connection, l,
        MHD_OPTION_CONNECTION_LIMIT, max_connections,
        MHD_OPTION_CONNECTION_TIMEOUT, IDLE_TIMEOUT_S,
        MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
        MHD_OPTION_END);
    if (l->daemon == NULL) {
        pthread_mutex_lock(&s->log_mu);
        errfmt(errstr, errstr_size, "cannot listen on %s: %s", listen,
               s->log[0] ? s->log : "MHD_start_daemon failed");
        pthread_mutex_unlock(&s->log_mu);
        return -1;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(l->daemon, MHD_DAEMON_INFO_BIND_PORT);
    l->port = info != NULL ? info->port : 0;
    if (l->port == 0) {
        errfmt(errstr, errstr_size, "%s %s: cannot read the bound port", what, listen);
        return -1;
    }
    return 0;
}

static void stop_daemons(struct ob_http_server *s)
{
    if (s->ops_listener.daemon != NULL)
        MHD_stop_daemon(s->ops_listener.daemon);
    s->ops_listener.daemon = NULL;
    if (s->main.daemon != NULL)
        MHD_stop_daemon(s->main.daemon);
    s->main.daemon = NULL;
}

int ob_http_server_start(const struct ob_http_server_options *opt, struct ob_http_server **out,
                         char *errstr, size_t errstr_size)
{
    struct ob_http_server *s = NULL;
    struct sockaddr_storage ss;
    bool ipv6, any6, tls = false;

    if (out != NULL)
        *out = NULL;
    if (opt == NULL || out == NULL) {
        errfmt(errstr, errstr_size, "no options");
        return -1;
    }
    /* checked here too so that a bad address fails before anything starts */
    if (parse_listen(opt->listen, &ss, &ipv6, &any6) != 0) {
        errfmt(errstr, errstr_size, "listen \"%s\": expected IPv4:port or [IPv6]:port, e.g. "
               "\"0.0.0.0:8080\" or \"[::1]:8080\"", opt->listen ? opt->listen : "(null)");
        return -1;
    }
    if (opt->ops_listen != NULL && parse_listen(opt->ops_listen, &ss, &ipv6, &any6) != 0) {
        errfmt(errstr, errstr_size, "ops_listen \"%s\": expected IPv4:port or [IPv6]:port, "
               "e.g. \"127.0.0.1:9090\"", opt->ops_listen);
        return -1;
    }
    if ((opt->tls_cert == NULL) != (opt->tls_key == NULL)) {
        errfmt(errstr, errstr_size, "TLS needs both tls_cert and tls_key");
        return -1;
    }
    tls = opt->tls_cert != NULL;
    if (tls && MHD_is_feature_supported(MHD_FEATURE_TLS) != MHD_YES) {
        errfmt(errstr, errstr_size, "TLS is configured but libmicrohttpd %s was built without it",
               MHD_get_version());
        return -1;
    }

    s = calloc(1, sizeof(*s));
    if (s == NULL) {
        errfmt(errstr, errstr_size, "out of memory");
        return -1;
    }
    if (init_locks(s) != 0) {
        free(s);
        errfmt(errstr, errstr_size, "out of memory or resources");
        return -1;
    }
    s->max_pending = opt->max_pending ? opt->max_pending : OB_HTTP_SERVER_DEFAULT_PENDING;
    s->wake_fd = opt->wake_fd;
    s->metrics = opt->metrics;
    s->metrics_arg = opt->metrics_arg;
    s->api = opt->api;
    s->api_arg = opt->api_arg;
    s->max_per_ip = opt->max_connections_per_ip;
    s->request_timeout_ms = opt->request_timeout_ms ? opt->request_timeout_ms
                                                    : OB_HTTP_SERVER_DEFAULT_REQUEST_TIMEOUT_MS;
    s->body_budget = opt->max_body_memory ? opt->max_body_memory
                                          : OB_HTTP_SERVER_DEFAULT_BODY_MEMORY;
    atomic_init(&s->body_used, 0);
    atomic_init(&s->ready, false);
    s->main.callbacks = true;
    s->main.ops = opt->ops_listen == NULL;
    s->ops_listener.ops = true;
    if (copy_routes(s, opt, errstr, errstr_size) != 0)
        goto fail;
    if (tls && (read_pem("tls_cert", opt->tls_cert, &s->tls_cert, &(size_t){0}, errstr,
                         errstr_size) != 0 ||
                read_pem("tls_key", opt->tls_key, &s->tls_key, &s->tls_key_len, errstr,
                         errstr_size) != 0))
        goto fail;
    if (make_canned(s) != 0) {
        errfmt(errstr, errstr_size, "out of memory");
        goto fail;
    }
    if (pthread_create(&s->sweeper, NULL, sweep, s) != 0) {
        errfmt(errstr, errstr_size, "cannot start a thread");
        goto fail;
    }
    s->sweeper_running = true;

    unsigned threads = opt->threads ? opt->threads : DEFAULT_THREADS;
    unsigned max_connections = opt->max_connections ? opt->max_connections
                                                    : OB_HTTP_SERVER_DEFAULT_CONNECTIONS;
    if (start_listener(s, &s->main, "listen", opt->listen, threads, max_connections, tls, errstr,
                       errstr_size) != 0)
        goto fail;
    if (opt->ops_listen != NULL &&
        start_listener(s, &s->ops_listener, "ops_listen", opt->ops_listen, OPS_THREADS,
                       OPS_CONNECTIONS, false, errstr, errstr_size) != 0)
        goto fail;
    pthread_mutex_lock(&s->log_mu);
    s->started = true;
    pthread_mutex_unlock(&s->log_mu);
    *out = s;
    return 0;

fail:
    stop_daemons(s);
    destroy(s);
    return -1;
}

void ob_http_server_stop(struct ob_http_server *s)
{
    struct request *answer = NULL, *last = NULL;

    if (s == NULL)
        return;

    /* From here on hand_over() answers 503 itself, so nothing new reaches
     * the loop. (Not MHD_quiesce_daemon(): in 0.9.75 it races the epoll
     * workers over the listen socket and can abort the process; the
     * listen socket stays open until MHD_stop_daemon() below.) Everything
     * still suspended gets 503 too: MHD_stop_daemon() must not see
     * suspended connections. Taken ones should have been answered (the
     * contract); answering them here keeps MHD from aborting. */
    pthread_mutex_lock(&s->mu);
    s->stopping = true;
    if (s->taken.n > 0)
        OB_ERR("HTTP server stopping with %zu callback(s) taken and not answered: 503",
               s->taken.n);
    struct list *lists[] = {&s->queue, &s->taken};
    for (size_t i = 0; i < 2; i++) {
        while (lists[i]->head != NULL) {
            struct request *r = lists[i]->head;
            list_remove(lists[i], r);
            s->pending--;
            r->resp = s->r_stop;
            r->resp_owned = false;
            r->status = MHD_HTTP_SERVICE_UNAVAILABLE;
            r->state = REQ_ANSWERED;
            r->draining = true;
            s->draining++;
            if (last != NULL)
                last->next = r;
            else
                answer = r;
            last = r;
        }
    }
    pthread_mutex_unlock(&s->mu);
    while (answer != NULL) {
        struct request *r = answer;
        answer = r->next; /* r may be freed once resumed */
        MHD_resume_connection(r->conn);
    }

    /* let the 503s go out before closing (bounded: a client may not read) */
    struct timespec deadline;
    clock_gettime(CLOCK_MONOTONIC, &deadline);
    deadline.tv_sec += STOP_DRAIN_MS / 1000;
    deadline.tv_nsec += (long)(STOP_DRAIN_MS % 1000) * 1000000L;
    if (deadline.tv_nsec >= 1000000000L) {
        deadline.tv_sec++;
        deadline.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&s->mu);
    while (s->draining > 0 && s->main.daemon != NULL)
        if (pthread_cond_timedwait(&s->cv, &s->mu, &deadline) == ETIMEDOUT)
            break;
    pthread_mutex_unlock(&s->mu);

    stop_sweeper(s); /* MHD_stop_daemon() closes every connection anyway */
    stop_daemons(s);
    destroy(s);
}
