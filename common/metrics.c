/*
 * metrics.c - the registry, its per-thread shards and the text format
 * (see metrics.h for the contract).
 *
 * Layout: every series owns slots, one 64-bit value each, at the same
 * index in every shard: a counter or gauge one, a histogram one per bucket
 * (not cumulative: an observation adds to one bucket only; rendering makes
 * them cumulative), then its sum in nanoseconds. A histogram's count is the
 * sum of its buckets, so an observation is two adds. Gauges live in
 * m->gauges instead (one writer, no shards).
 */
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "metrics.h"

enum kind { KIND_COUNTER, KIND_GAUGE, KIND_AGE_GAUGE, KIND_HISTOGRAM };

struct family {
	char name[96];
	char help[192];
	enum kind kind;
	int first, last;		/* series of this family, a list by next */
	size_t nbounds;
	uint64_t bounds_ns[METRICS_BUCKETS_MAX];
	double bounds[METRICS_BUCKETS_MAX];
};

struct series {
	int family;
	int next;			/* next series of the family, -1 */
	int slot;			/* first slot (or gauge index) */
	char labels[METRICS_LABELS_MAX];
};

struct shard {
	struct metrics *owner;
	struct shard *next;		/* live list, or free list */
	struct shard *prev;		/* live list */
	_Atomic uint64_t v[METRICS_SLOTS_MAX];
};

struct metrics {
	unsigned long serial;		/* tells registries apart in the TLS cache */
	pthread_key_t key;		/* this thread's shard */
	pthread_mutex_t lock;		/* shards lists, retired; registration */
	bool sealed;
	int nfamilies, nseries, nslots, ngauges;
	struct family families[METRICS_FAMILIES_MAX];
	struct series series[METRICS_SERIES_MAX];
	struct shard *live, *free_shards;	/* guarded by lock */
	uint64_t retired[METRICS_SLOTS_MAX];	/* guarded by lock */
	_Atomic int64_t gauges[METRICS_SERIES_MAX];
};

static atomic_ulong next_serial = 1;
static __thread unsigned long tls_serial;	/* registry of tls_shard */
static __thread struct shard *tls_shard;

/* A thread that counted has ended: its counts become retired totals and
 * its shard waits for the next thread. */
static void
shard_retire(void *arg)
{
	struct shard *s = arg;
	struct metrics *m = s->owner;
	int i;

	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->nslots; i++) {
		m->retired[i] += atomic_load_explicit(&s->v[i], memory_order_relaxed);
		atomic_store_explicit(&s->v[i], 0, memory_order_relaxed);
	}
	if (s->prev) s->prev->next = s->next; else m->live = s->next;
	if (s->next) s->next->prev = s->prev;
	s->prev = NULL;
	s->next = m->free_shards;
	m->free_shards = s;
	pthread_mutex_unlock(&m->lock);
}

static struct shard *
shard_slow(struct metrics *m)
{
	struct shard *s = pthread_getspecific(m->key);

	if (s == NULL) {
		pthread_mutex_lock(&m->lock);
		if ((s = m->free_shards) != NULL)
			m->free_shards = s->next;
		else if ((s = calloc(1, sizeof(*s))) != NULL)
			s->owner = m;
		if (s) {
			s->prev = NULL;
			s->next = m->live;
			if (m->live)
				m->live->prev = s;
			m->live = s;
		}
		pthread_mutex_unlock(&m->lock);
		if (s == NULL || pthread_setspecific(m->key, s) != 0)
			return NULL;	/* out of memory: this count is lost */
	}
	tls_serial = m->serial;
	tls_shard = s;
	return s;
}

static inline struct shard *
shard_of(struct metrics *m)
{
	return tls_serial == m->serial ? tls_shard : shard_slow(m);
}

struct metrics *
metrics_new(void)
{
	struct metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	if (pthread_key_create(&m->key, shard_retire) != 0) {
		free(m);
		return NULL;
	}
	pthread_mutex_init(&m->lock, NULL);
	m->serial = atomic_fetch_add(&next_serial, 1);
	return m;
}

void
metrics_free(struct metrics *m)
{
	struct shard *s, *next;

	if (m == NULL)
		return;
	/* This thread's own shard would otherwise be retired at its exit. */
	pthread_setspecific(m->key, NULL);
	pthread_key_delete(m->key);
	if (tls_serial == m->serial)
		tls_serial = 0, tls_shard = NULL;
	for (s = m->live; s; s = next) {
		next = s->next;
		free(s);
	}
	for (s = m->free_shards; s; s = next) {
		next = s->next;
		free(s);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static bool
valid_name(const char *name)
{
	const char *p;

	if (name == NULL || !*name || strlen(name) >= sizeof(((struct family *)0)->name))
		return false;
	for (p = name; *p; p++) {
		bool alpha = (*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || *p == '_'
			     || *p == ':';

		if (!alpha && !(p > name && *p >= '0' && *p <= '9'))
			return false;
	}
	return true;
}

static int
add_series(struct metrics *m, enum kind kind, const char *name, const char *help,
	   const char *labels, const double *bounds, size_t nbounds)
{
	struct family *f = NULL;
	struct series *s;
	int i, slots = kind == KIND_HISTOGRAM ? (int)nbounds + 2 : 1;

	if (m == NULL || !valid_name(name) || (labels && strlen(labels) >= METRICS_LABELS_MAX)
	    || nbounds > METRICS_BUCKETS_MAX)
		return -1;
	pthread_mutex_lock(&m->lock);
	for (i = 0; i < m->nfamilies; i++)
		if (strcmp(m->families[i].name, name) == 0)
			f = &m->families[i];
	if (m->sealed || m->nseries >= METRICS_SERIES_MAX
	    || (f && (f->kind != kind || (kind == KIND_HISTOGRAM && f->nbounds != nbounds)))
	    || (f == NULL && m->nfamilies >= METRICS_FAMILIES_MAX)
	    || ((kind == KIND_COUNTER || kind == KIND_HISTOGRAM)
		&& m->nslots + slots > METRICS_SLOTS_MAX))
		goto refuse;
	for (i = 1; kind == KIND_HISTOGRAM && i < (int)nbounds; i++)
		if (!(bounds[i] > bounds[i - 1]))
			goto refuse;
	if (f == NULL) {
		f = &m->families[m->nfamilies++];
		snprintf(f->name, sizeof(f->name), "%s", name);
		snprintf(f->help, sizeof(f->help), "%s", help ? help : "");
		f->kind = kind;
		f->first = f->last = -1;
		f->nbounds = nbounds;
		for (i = 0; i < (int)nbounds; i++) {
			f->bounds[i] = bounds[i];
			f->bounds_ns[i] = (uint64_t)(bounds[i] * 1e9 + 0.5);
		}
	}
	s = &m->series[m->nseries];
	s->family = (int)(f - m->families);
	s->next = -1;
	snprintf(s->labels, sizeof(s->labels), "%s", labels ? labels : "");
	if (kind == KIND_GAUGE || kind == KIND_AGE_GAUGE) {
		s->slot = m->ngauges++;
	} else {
		s->slot = m->nslots;
		m->nslots += slots;
	}
	if (f->last >= 0)
		m->series[f->last].next = m->nseries;
	else
		f->first = m->nseries;
	f->last = m->nseries;
	pthread_mutex_unlock(&m->lock);
	return m->nseries++;
refuse:
	pthread_mutex_unlock(&m->lock);
	return -1;
}

int
metrics_counter(struct metrics *m, const char *name, const char *help, const char *labels)
{
	return add_series(m, KIND_COUNTER, name, help, labels, NULL, 0);
}

int
metrics_gauge(struct metrics *m, const char *name, const char *help, const char *labels)
{
	return add_series(m, KIND_GAUGE, name, help, labels, NULL, 0);
}

int
metrics_age_gauge(struct metrics *m, const char *name, const char *help, const char *labels)
{
	return add_series(m, KIND_AGE_GAUGE, name, help, labels, NULL, 0);
}

int
metrics_histogram(struct metrics *m, const char *name, const char *help, const char *labels,
		  const double *bounds, size_t nbounds)
{
	return add_series(m, KIND_HISTOGRAM, name, help, labels, bounds, nbounds);
}

void
metrics_seal(struct metrics *m)
{
	if (m == NULL)
		return;
	pthread_mutex_lock(&m->lock);
	m->sealed = true;
	pthread_mutex_unlock(&m->lock);
}

static inline void
slot_add(struct shard *s, int slot, uint64_t n)
{
	uint64_t v = atomic_load_explicit(&s->v[slot], memory_order_relaxed);

	atomic_store_explicit(&s->v[slot], v + n, memory_order_relaxed);
}

/* Series ids come from registration, which ends before counting starts
 * (sealed), so m->nseries is read without the lock here. */
static inline bool
counting_id(const struct metrics *m, int id)
{
	return m && id >= 0 && id < m->nseries;
}

void
metrics_add(struct metrics *m, int id, uint64_t n)
{
	struct shard *s;

	if (!counting_id(m, id) || m->families[m->series[id].family].kind != KIND_COUNTER
	    || (s = shard_of(m)) == NULL)
		return;
	slot_add(s, m->series[id].slot, n);
}

void
metrics_observe_ns(struct metrics *m, int id, uint64_t ns)
{
	const struct family *f;
	struct shard *s;
	size_t b;

	if (!counting_id(m, id))
		return;
	f = &m->families[m->series[id].family];
	if (f->kind != KIND_HISTOGRAM || (s = shard_of(m)) == NULL)
		return;
	for (b = 0; b < f->nbounds && ns > f->bounds_ns[b]; b++)
		;	/* le: a value equal to a bound is in that bound's bucket */
	slot_add(s, m->series[id].slot + (int)b, 1);
	slot_add(s, m->series[id].slot + (int)f->nbounds + 1, ns);
}

void
metrics_set(struct metrics *m, int id, int64_t value)
{
	enum kind k;

	if (!counting_id(m, id))
		return;
	k = m->families[m->series[id].family].kind;
	if (k == KIND_GAUGE || k == KIND_AGE_GAUGE)
		atomic_store_explicit(&m->gauges[m->series[id].slot], value, memory_order_relaxed);
}

/* Totals of every slot, summed over retired and live shards. */
static uint64_t *
totals(struct metrics *m)
{
	uint64_t *t = calloc(METRICS_SLOTS_MAX, sizeof(*t));
	struct shard *s;
	int i;

	if (t == NULL)
		return NULL;
	pthread_mutex_lock(&m->lock);
	memcpy(t, m->retired, (size_t)m->nslots * sizeof(*t));
	for (s = m->live; s; s = s->next)
		for (i = 0; i < m->nslots; i++)
			t[i] += atomic_load_explicit(&s->v[i], memory_order_relaxed);
	pthread_mutex_unlock(&m->lock);
	return t;
}

uint64_t
metrics_value(struct metrics *m, int id)
{
	const struct family *f;
	uint64_t *t, v = 0;
	size_t b;

	if (!counting_id(m, id))
		return 0;
	f = &m->families[m->series[id].family];
	if (f->kind == KIND_GAUGE || f->kind == KIND_AGE_GAUGE)
		return (uint64_t)atomic_load_explicit(&m->gauges[m->series[id].slot],
						      memory_order_relaxed);
	if ((t = totals(m)) == NULL)
		return 0;
	if (f->kind == KIND_COUNTER)
		v = t[m->series[id].slot];
	else
		for (b = 0; b <= f->nbounds; b++)
			v += t[m->series[id].slot + (int)b];
	free(t);
	return v;
}

struct text {
	char *buf;
	size_t len, cap;
	bool failed;
};

static void __attribute__((format(printf, 2, 3)))
put(struct text *t, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		size_t room = t->cap - t->len;

		if (t->failed)
			return;
		va_start(ap, fmt);
		n = vsnprintf(t->buf ? t->buf + t->len : NULL, t->buf ? room : 0, fmt, ap);
		va_end(ap);
		if (n < 0) {
			t->failed = true;
			return;
		}
		if (t->buf && (size_t)n < room) {
			t->len += (size_t)n;
			return;
		}
		size_t cap = t->cap ? t->cap * 2 : 16384;
		while (cap < t->len + (size_t)n + 1)
			cap *= 2;
		char *grown = realloc(t->buf, cap);

		if (grown == NULL) {
			t->failed = true;
			return;
		}
		t->buf = grown;
		t->cap = cap;
	}
}

/* `{labels}`, `{labels,extra}` or `{extra}`; "" when both are empty. */
static void
put_labels(struct text *t, const char *labels, const char *extra)
{
	if (!*labels && !*extra)
		return;
	put(t, "{%s%s%s}", labels, *labels && *extra ? "," : "", extra);
}

/* Nanoseconds as exact decimal seconds: " 5.002000001\n", " 3\n". */
static void
put_seconds(struct text *t, uint64_t ns)
{
	char frac[16];
	size_t n;

	snprintf(frac, sizeof(frac), "%09llu", (unsigned long long)(ns % 1000000000u));
	for (n = strlen(frac); n > 0 && frac[n - 1] == '0'; n--)
		frac[n - 1] = '\0';
	put(t, " %llu%s%s\n", (unsigned long long)(ns / 1000000000u), n ? "." : "", frac);
}

static void
render_series(struct text *t, const struct family *f, const struct series *s,
	      const uint64_t *tot, int64_t gauge, long now)
{
	char le[48];
	uint64_t cum = 0;
	size_t b;

	switch (f->kind) {
	case KIND_COUNTER:
		put(t, "%s", f->name);
		put_labels(t, s->labels, "");
		put(t, " %llu\n", (unsigned long long)tot[s->slot]);
		break;
	case KIND_GAUGE:
		put(t, "%s", f->name);
		put_labels(t, s->labels, "");
		put(t, " %lld\n", (long long)gauge);
		break;
	case KIND_AGE_GAUGE:
		if (gauge == 0)
			break;	/* never happened: no sample */
		put(t, "%s", f->name);
		put_labels(t, s->labels, "");
		put(t, " %lld\n", (long long)(now > gauge ? now - gauge : 0));
		break;
	case KIND_HISTOGRAM:
		for (b = 0; b <= f->nbounds; b++) {
			cum += tot[s->slot + (int)b];
			if (b < f->nbounds)
				snprintf(le, sizeof(le), "le=\"%g\"", f->bounds[b]);
			else
				snprintf(le, sizeof(le), "le=\"+Inf\"");
			put(t, "%s_bucket", f->name);
			put_labels(t, s->labels, le);
			put(t, " %llu\n", (unsigned long long)cum);
		}
		put(t, "%s_sum", f->name);
		put_labels(t, s->labels, "");
		put_seconds(t, tot[s->slot + (int)f->nbounds + 1]);
		put(t, "%s_count", f->name);
		put_labels(t, s->labels, "");
		put(t, " %llu\n", (unsigned long long)cum);
		break;
	}
}

char *
metrics_render(struct metrics *m, long now, size_t *len)
{
	static const char *const type_name[] = { "counter", "gauge", "gauge", "histogram" };
	struct text t = { 0 };
	uint64_t *tot;
	int i, j;

	if (m == NULL || (tot = totals(m)) == NULL)
		return NULL;
	put(&t, "%s", "");	/* an empty registry is "" */
	for (i = 0; i < m->nfamilies; i++) {
		const struct family *f = &m->families[i];

		if (f->help[0])
			put(&t, "# HELP %s %s\n", f->name, f->help);
		put(&t, "# TYPE %s %s\n", f->name, type_name[f->kind]);
		for (j = f->first; j >= 0; j = m->series[j].next) {
			int64_t gauge = 0;

			if (f->kind == KIND_GAUGE || f->kind == KIND_AGE_GAUGE)
				gauge = atomic_load_explicit(&m->gauges[m->series[j].slot],
							     memory_order_relaxed);
			render_series(&t, f, &m->series[j], tot, gauge, now);
		}
	}
	free(tot);
	if (t.failed) {
		free(t.buf);
		return NULL;
	}
	*len = t.len;
	return t.buf;
}
