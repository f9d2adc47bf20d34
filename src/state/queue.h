/* SPDX-License-Identifier: MIT */
/* queue: the offline queue and the public-key cache, under state_dir.
 *
 * With on_error = queue, a change that cannot reach ISC is kept here,
 * encrypted with the source's public key from the last successful lookup
 * (never in clear), until `pam_isc_ctl flush` delivers it.
 *
 *   state_dir/                  0700 root
 *     keys/<sha256(source_name)>   the cached publicKey + publicKeyId
 *     queue/<sha256(user)>      one entry per user: the newest change
 *     queue/<sha256(user)>.inflight   an entry being delivered
 *     queue/seq/<sha256(user)>  the seq of the user's newest change attempt;
 *                               stays when the entry goes (a tombstone),
 *                               a day after the last attempt (queue_gc_seq)
 *     queue/locks/<2 hex>       flock by the first byte of sha256(user): held
 *                               by a flush while it delivers the user's
 *                               entry, resends included
 *     queue/.lock               flock: short critical sections (put, claim, release)
 *     queue/.flush              flock: one flush at a time
 *
 * Every file is written atomically (temporary file, fsync, rename, fsync of
 * the directory), mode 0600, so a reader sees a whole entry or none; a
 * parser that accepts only complete entries (the last line is "end") and
 * refuses anything else guards against the rest. The seq record alone is
 * renamed into place without fsync (it must hold only against changes
 * running at the same time, which a crash ends; the removal of an entry
 * is synced); one torn by a crash counts as none.
 *
 * Order: only the newest password ever reaches ISC after an older one.
 * Every change attempt (the update phase of a live change, whatever its
 * outcome) first calls queue_attempt: it waits for the user's lock (a
 * flush delivering an older entry of the user finishes first, its resends
 * after a 429 included), then under queue/.lock records a new seq in seq/
 * (CLOCK_REALTIME ns, but always above the recorded one) and removes the
 * user's queued entry. An entry carries the seq of the attempt that made
 * it; queue_put refuses one older than the recorded seq (a slow older
 * change that queues after a newer change was attempted), and claim,
 * drop and release treat an entry older than the record as superseded.
 *
 * Binding: an entry names the local uid (getpwnam when it was queued),
 * and the identity id and account id of the lookup it was encrypted after
 * ("-" when ISC was unreachable before the lookup, or the name service did
 * not know the user); the flush drops it when NSS or ISC's fresh lookup
 * now answers otherwise, so a recycled login never gets another person's
 * password.
 *
 * Delivery and crashes: the flush takes the user's lock, then the entry
 * is renamed to .inflight (atomic) if it is still the newest; after ISC
 * accepted it the .inflight file is removed; after a refusal or an
 * unreachable ISC it is renamed back (unless a newer entry or attempt
 * came meanwhile, which then wins). A .inflight file found at the start
 * of a flush means a flush died during delivery: ISC may or may not have
 * taken it, and resending could deliver it twice, so it is dropped and
 * logged ("change the password again"). Hence an accepted entry is never
 * delivered twice, and a torn entry is never processed. */
#ifndef PAM_ISC_QUEUE_H
#define PAM_ISC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "proto.h"

#define QUEUE_MAGIC "PAM_ISC_QUEUE/2"
/* The first format (no uid, identity, account): still read, as not bound. */
#define QUEUE_MAGIC_1 "PAM_ISC_QUEUE/1"
#define QUEUE_FILE_MAX (16 * 1024)
#define QUEUE_MAX_ENTRIES 100000
#define QUEUE_UID_MAX 4294967294LL /* (uid_t)-1 is no uid */

struct queue_entry {
	char user[PROTO_USER_MAX + 1];
	long long uid;      /* local uid when queued; -1: not known then */
	char login[512];    /* ISC userName (user_name_format) */
	char source[512];   /* source_name */
	char identity[256]; /* ISC identity id it was encrypted for; "": not known */
	char account[512];  /* ISC account id it is for; "": not known */
	char key_id[256];   /* publicKeyId the ciphertext was made for */
	char *ciphertext;   /* Base64 RSA PKCS#1 v1.5 (malloc'd) */
	long long time;     /* epoch seconds when queued */
	long long seq;      /* of the change attempt (queue_attempt): the newer wins */
};

/* What the queue's operations with more than two outcomes return. The lock
 * functions return a descriptor (>= 0) or QUEUE_ERROR / QUEUE_LOCKED. */
enum queue_result {
	QUEUE_OK = 0,       /* done as asked */
	QUEUE_NOT_DONE = 1, /* nothing to do: none cached or queued, or a newer change wins */
	QUEUE_ERROR = -1,   /* err says why */
	QUEUE_LOCKED = -2,  /* a lock was not had in time (a flush is delivering) */
};

void queue_entry_free(struct queue_entry *e);

/* Text form of an entry (for the file); *out is malloc'd. 0 or -1. */
int queue_format(const struct queue_entry *e, char **out, size_t *len);
/* Parse a file's text strictly (either format; the first one reads as not
 * bound: uid -1, no identity, no account). 0 or -1 with a reason. */
int queue_parse(const char *text, size_t len, struct queue_entry *e, char *err, size_t errsize);

/* Make sure state_dir, state_dir/queue (with seq/ and locks/) and
 * state_dir/keys exist, ours, 0700. */
int queue_dirs(const struct config *cfg, char *err, size_t errsize);

/* The cached public key of cfg's tenant + source. 0 with both filled
 * (malloc'd), 1 when none is cached, -1 on an error. */
enum queue_result queue_key_load(const struct config *cfg, char **key_id, char **public_key,
				 char *err, size_t errsize);
/* Cache them (written only when they differ from what is cached). */
int queue_key_store(const struct config *cfg, const char *key_id, const char *public_key, char *err,
		    size_t errsize);

/* Store e as user's entry unless a newer entry is there or a newer attempt
 * was recorded (e->seq below the user's seq record). e->seq 0: a new seq, above
 * the recorded one, is taken under the lock. 0 stored, 1 refused for a
 * newer change, -1 error. Waits for the queue lock until deadline_ms
 * (CLOCK_MONOTONIC ms). */
enum queue_result queue_put(const struct config *cfg, const struct queue_entry *e,
			    long long deadline_ms, char *err, size_t errsize);

/* A change attempt for user begins: wait for the user's delivery lock (a
 * flush sending an older entry), record a new seq (*seq, may be NULL) and
 * remove user's queued entry, which the new change supersedes. 0 an entry
 * was removed, 1 there was none, -2 a lock was not had by deadline_ms (a
 * flush is delivering the user's older entry; nothing was done), -1
 * another error (the entry is removed if it can be, even when the record
 * could not be written). */
enum queue_result queue_attempt(const struct config *cfg, const char *user, long long deadline_ms,
				long long *seq, char *err, size_t errsize);
/* queue_attempt without the seq. */
enum queue_result queue_remove(const struct config *cfg, const char *user, long long deadline_ms,
			       char *err, size_t errsize);

/* The user's delivery lock: a flush holds it from its claim to done or
 * release (every resend of one set-password inside). An fd for
 * queue_user_unlock, -2 when not had by deadline_ms, -1 on an error. */
int queue_user_lock(const struct config *cfg, const char *user, long long deadline_ms, char *err,
		    size_t errsize);
void queue_user_unlock(int fd);

/* All entries, oldest first (*n of them; free with queue_list_free). Files
 * that do not parse are counted in *bad and named in the log callback
 * (may be NULL) but never returned. */
struct queue_list {
	struct queue_entry *items;
	size_t n;
	size_t bad;
	size_t inflight; /* .inflight files: interrupted deliveries */
};
int queue_list(const struct config *cfg, struct queue_list *out,
	       void (*on_bad)(void *ctx, const char *file, const char *why), void *ctx, char *err,
	       size_t errsize);
void queue_list_free(struct queue_list *l);

/* How many entries wait, and since when, without reading them (a file's
 * modification time is when it was queued). */
struct queue_summary {
	size_t entries;
	size_t inflight;
	long long oldest; /* epoch seconds, 0: no entry */
};
int queue_summary(const struct config *cfg, struct queue_summary *out, char *err, size_t errsize);

/* Delivery steps (see the header comment), under the user's lock. claim:
 * rename user's entry to .inflight if it is still the one with e->seq and
 * no newer attempt was recorded (0), 1 when it changed, is gone or was
 * superseded (then it is removed). done: remove the .inflight. release:
 * put it back unless a newer entry or attempt exists. drop: remove the
 * entry if it is still e->seq (0), 1 as for claim. */
enum queue_result queue_claim(const struct config *cfg, const struct queue_entry *e, char *err,
			      size_t errsize);
int queue_done(const struct config *cfg, const char *user, char *err, size_t errsize);
int queue_release(const struct config *cfg, const char *user, char *err, size_t errsize);
enum queue_result queue_drop(const struct config *cfg, const struct queue_entry *e, char *err,
			     size_t errsize);

/* Interrupted deliveries: each .inflight file's entry (as far as it can be
 * read) is passed to cb, then the file is removed. Returns the count, -1. */
int queue_drop_inflight(const struct config *cfg,
			void (*cb)(void *ctx, const struct queue_entry *e, const char *file),
			void *ctx, char *err, size_t errsize);

/* Remove the seq records (and torn temporary files) of users without an
 * entry whose last attempt is older than a day: no change of before it
 * can still be running. Returns the count, -1. */
int queue_gc_seq(const struct config *cfg, char *err, size_t errsize);

/* Take the flush lock (non-blocking). Returns an fd to close, -2 when
 * another flush holds it, -1 on an error. */
int queue_flush_lock(const struct config *cfg, char *err, size_t errsize);

/* File name of user's entry (64 hex digits + NUL). */
int queue_entry_name(const char *user, char out[65]);

#endif
