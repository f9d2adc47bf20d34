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
 *     queue/.lock               flock: short critical sections (put, claim, release)
 *     queue/.flush              flock: one flush at a time
 *
 * Every file is written atomically (temporary file, fsync, rename, fsync of
 * the directory), mode 0600, so a reader sees a whole entry or none; a
 * parser that accepts only complete entries (the last line is "end") and
 * refuses anything else guards against the rest. A later change for the
 * same user replaces the earlier entry (the newer `seq` wins even when two
 * changes race), so only the newest password ever reaches ISC.
 *
 * Delivery and crashes: before the set-password request the entry is
 * renamed to .inflight (atomic); after ISC accepted it the .inflight file
 * is removed; after a refusal or an unreachable ISC it is renamed back
 * (unless a newer entry arrived meanwhile, which then wins). A .inflight
 * file found at the start of a flush means a flush died during delivery:
 * ISC may or may not have taken it, and resending could deliver it twice,
 * so it is dropped and logged ("change the password again"). Hence an
 * accepted entry is never delivered twice, and a torn entry is never
 * processed. */
#ifndef PAM_ISC_QUEUE_H
#define PAM_ISC_QUEUE_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "proto.h"

#define QUEUE_MAGIC "PAM_ISC_QUEUE/1"
#define QUEUE_FILE_MAX (16 * 1024)
#define QUEUE_MAX_ENTRIES 100000

struct queue_entry {
	char user[PROTO_USER_MAX + 1];
	char login[512];      /* ISC userName (user_name_format) */
	char source[512];     /* source_name */
	char key_id[256];     /* publicKeyId the ciphertext was made for */
	char *ciphertext;     /* Base64 RSA PKCS#1 v1.5 (malloc'd) */
	long long time;       /* epoch seconds when queued */
	long long seq;        /* CLOCK_REALTIME ns: the newer entry wins */
};

void queue_entry_free(struct queue_entry *e);

/* Text form of an entry (for the file); *out is malloc'd. 0 or -1. */
int queue_format(const struct queue_entry *e, char **out, size_t *len);
/* Parse a file's text strictly. 0 or -1 with a reason. */
int queue_parse(const char *text, size_t len, struct queue_entry *e, char *err, size_t errsize);

/* Make sure state_dir, state_dir/queue and state_dir/keys exist, ours, 0700. */
int queue_dirs(const struct config *cfg, char *err, size_t errsize);

/* The cached public key of cfg's tenant + source. 0 with both filled
 * (malloc'd), 1 when none is cached, -1 on an error. */
int queue_key_load(const struct config *cfg, char **key_id, char **public_key, char *err,
		   size_t errsize);
/* Cache them (written only when they differ from what is cached). */
int queue_key_store(const struct config *cfg, const char *key_id, const char *public_key,
		    char *err, size_t errsize);

/* Store e as user's entry unless a newer one is there. 0 stored, 1 a newer
 * entry was kept, -1 error. Waits for the queue lock until deadline_ms
 * (CLOCK_MONOTONIC ms). */
int queue_put(const struct config *cfg, const struct queue_entry *e, long long deadline_ms,
	      char *err, size_t errsize);

/* Remove user's entry (a newer change reached ISC directly). 0 removed, 1
 * there was none, -1 error. */
int queue_remove(const struct config *cfg, const char *user, long long deadline_ms, char *err,
		 size_t errsize);

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
	       void (*on_bad)(void *ctx, const char *file, const char *why), void *ctx,
	       char *err, size_t errsize);
void queue_list_free(struct queue_list *l);

/* Delivery steps (see the header comment). claim: rename user's entry to
 * .inflight if it is still the one with e->seq (0), 1 when it changed or
 * is gone. done: remove the .inflight. release: put it back unless a
 * newer entry exists. drop: remove the entry if it is still e->seq. */
int queue_claim(const struct config *cfg, const struct queue_entry *e, char *err,
		size_t errsize);
int queue_done(const struct config *cfg, const char *user, char *err, size_t errsize);
int queue_release(const struct config *cfg, const char *user, char *err, size_t errsize);
int queue_drop(const struct config *cfg, const struct queue_entry *e, char *err,
	       size_t errsize);

/* Interrupted deliveries: each .inflight file's entry (as far as it can be
 * read) is passed to cb, then the file is removed. Returns the count, -1. */
int queue_drop_inflight(const struct config *cfg,
			void (*cb)(void *ctx, const struct queue_entry *e, const char *file),
			void *ctx, char *err, size_t errsize);

/* Take the flush lock (non-blocking). Returns an fd to close, -2 when
 * another flush holds it, -1 on an error. */
int queue_flush_lock(const struct config *cfg, char *err, size_t errsize);

/* File name of user's entry (64 hex digits + NUL). */
int queue_entry_name(const char *user, char out[65]);

#endif
