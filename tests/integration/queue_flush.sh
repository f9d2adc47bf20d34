#!/bin/bash
# SPDX-License-Identifier: MIT
# The offline queue end to end: changes queued while ISC is down (the newer
# replaces the older), `pam_isc_ctl queue` and `pam_isc_ctl flush` (exit
# codes, syslog), delivery exactly once, a key rotated between queueing and
# delivery, an expired entry, a corrupt entry, an interrupted delivery.
. "$(dirname "$0")/../lib.sh"

isc_setup
start_server
SVC=isc_queue
pam_service "$SVC" "$(isc_line)"

up() { write_config 'on_error = queue' 'timeout = 3' "$@"; }
down() { write_config 'on_error = queue' 'timeout = 3' "api_url = $ISC_DOWN_URL" "$@"; }

# flush_drops USER REASON WHAT: a flush with the config as written exits 0,
# sends nothing for USER and logs USER's entry dropped for REASON.
flush_drops() {
	local user=$1 reason=$2 what=$3
	ctl flush
	[ "$CTL_RC" -eq 0 ] || fail "flush with $what: exit $CTL_RC"
	[ "$(count_sets "$user")" -eq 0 ] || fail "$what: $user's change was sent"
	wait_for_log "event=queue_dropped user=$user reason=$reason" 5 || fail "no $reason line"
}

# --- the key is cached by a change while ISC is up.
up
change_ok alice 'Alice-direct-password-1'

# --- ISC down: alice twice (the newer must win), bob once.
down
change_ok alice 'Alice-queued-old-2'
change_ok alice 'Alice-queued-new-3'
change_ok bob 'Bob-queued-password-4'
[ "$(queue_entries | wc -l)" -eq 2 ] || fail "expected 2 entries, got: $(queue_entries)"
for f in "$T"/state/queue/*; do
	file_has_secret "$f" && fail "a queue file holds a password in clear: $f"
done

ctl queue
[ "$CTL_RC" -eq 0 ] || fail "pam_isc_ctl queue exited $CTL_RC"
_grep -qE '^alice +[0-9]+ ' "$T/ctl.out" || fail "queue does not list alice: $(cat "$T/ctl.out")"
_grep -qE '^bob +[0-9]+ ' "$T/ctl.out" || fail "queue does not list bob"
_grep -q '2 queued' "$T/ctl.out" || fail "queue does not count 2"
_grep -qi 'ciphertext' "$T/ctl.out" && fail "queue shows the ciphertext"
log "ok: queued while down; pam_isc_ctl queue lists them"

# --- flush while ISC is still down: non-zero, everything stays.
ctl flush
[ "$CTL_RC" -eq 1 ] || fail "flush while down: exit $CTL_RC, expected 1"
[ "$(queue_entries | wc -l)" -eq 2 ] || fail "flush while down lost entries: $(queue_entries)"
wait_for_log 'pam_isc_ctl\[[0-9]+\]: event=flush delivered=0 dropped=0 remaining=2' 5 ||
	fail "no flush summary line"
log "ok: flush while down: exit 1, entries kept"

# --- ISC back: delivered, newest only, exactly once.
up
mark=$(events_mark)
ctl flush
[ "$CTL_RC" -eq 0 ] || fail "flush: exit $CTL_RC: $(cat "$T/ctl.out")"
[ -z "$(queue_entries)" ] || fail "flush left entries: $(queue_entries)"
[ "$(count_sets alice 'Alice-queued-new-3')" -eq 1 ] || fail "alice's newest password did not arrive once"
[ "$(count_sets alice 'Alice-queued-old-2')" -eq 0 ] || fail "alice's older password reached ISC"
[ "$(count_sets bob 'Bob-queued-password-4')" -eq 1 ] || fail "bob's password did not arrive once"
wait_for_log 'pam_isc_ctl\[[0-9]+\]: event=queue_delivered user=alice request=[0-9a-f]+ state=IN_PROGRESS' 5 ||
	fail "no queue_delivered line for alice"
# The delivered changes are followed to their final state.
wait_for_log 'event=final user=bob request=.* state=FINISHED' 20 || fail "bob's delivered change not followed"
mark=$(events_mark)
ctl flush
[ "$CTL_RC" -eq 0 ] || fail "second flush: exit $CTL_RC"
[ "$(events_since "$mark" | _grep -c '^set ' || true)" -eq 0 ] || fail "a second flush sent something again"
log "ok: flush: newest password of each user exactly once"

# --- a direct success removes an older queued entry.
down
change_ok carol 'Carol-queued-password-5'
[ -f "$(queue_entry_of carol)" ] || fail "carol not queued"
up
change_ok carol 'Carol-direct-password-6'
[ -f "$(queue_entry_of carol)" ] && fail "carol's older queued change survived a direct success"
wait_for_log 'event=queue_superseded user=carol' 5 || fail "no queue_superseded line"
log "ok: a direct success supersedes the queued entry"

# --- key rotated between queueing and delivery: dropped, logged, not sent.
down
change_ok dave 'Dave-queued-password-7'
server_control '{"rotate_key": true}'
up
flush_drops dave key_rotated "a rotated key (a stale ciphertext)"
[ -z "$(queue_entries)" ] || fail "rotated entry left: $(queue_entries)"
assert_log 'event=queue_dropped user=dave reason=key_rotated .*must change the password again' \
	"the key_rotated line does not tell dave to change the password again"
log "ok: key rotated: dropped and logged"

# --- expired: an entry older than queue_max_age is dropped, not sent.
down
change_ok user1 'User1-queued-password-8'
sed -i 's/^time=.*/time=1000/' "$(queue_entry_of user1)"
up
flush_drops user1 expired "an expired entry"
log "ok: expired entry dropped"

# --- a torn / corrupt entry is never processed; flush says so (exit 1).
down
change_ok user2 'User2-queued-password-9'
f=$(queue_entry_of user2)
head -c 100 "$f" >"$f.cut" && cat "$f.cut" >"$f" && rm -f "$f.cut"
up
ctl flush
[ "$CTL_RC" -eq 1 ] || fail "flush with a corrupt entry: exit $CTL_RC, expected 1"
[ "$(count_sets user2)" -eq 0 ] || fail "a corrupt entry was sent"
wait_for_log 'event=queue_bad file=' 5 || fail "no queue_bad line"
rm -f "$f"

# --- a writer killed before its rename leaves only a temporary file: never
# an entry; an old one is cleaned up by flush.
tmpf="$T/state/queue/.$(sha256_of user4).Ab12Cd"
printf 'PAM_ISC_QUEUE/1\nuser=user4\nlogin=us' >"$tmpf"
chmod 0600 "$tmpf"
touch -d '1 hour ago' "$tmpf"
ctl flush
[ "$CTL_RC" -eq 0 ] || fail "flush with a torn temporary file: exit $CTL_RC"
[ "$(count_sets user4)" -eq 0 ] || fail "a torn temporary file was delivered"
[ ! -e "$tmpf" ] || fail "the stale temporary file was not cleaned up"

# --- an interrupted delivery (.inflight left by a crash) is not resent.
down
change_ok user3 'User3-queued-password-10'
f=$(queue_entry_of user3)
mv "$f" "$f.inflight"
up
ctl queue
_grep -q 'interrupted' "$T/ctl.out" || fail "queue does not show the interrupted delivery"
flush_drops user3 interrupted "an interrupted delivery"
[ ! -e "$f.inflight" ] || fail ".inflight file left"
log "ok: corrupt entry never processed; interrupted delivery never resent"

# --- a real kill -9 of a flush after ISC got the set-password (its answer
# held back by delay_ms): the entry is never delivered a second time.
down
change_ok user5 'User5-queued-password-11'
up 'timeout = 20'
server_control '{"delay_ms": 4000}'
ctl_start flush
wait_for_event '^set user=user5 ' 15
[ "$(count_sets user5)" -eq 1 ] || fail "the held set-password never reached the server"
kill -KILL "$CTL_PID"
ctl_wait
server_control '{"delay_ms": 0}'
[ -e "$(queue_entry_of user5).inflight" ] || fail "no .inflight entry after the kill"
ctl flush
[ "$CTL_RC" -eq 0 ] || fail "flush after the kill: exit $CTL_RC"
[ "$(count_sets user5)" -eq 1 ] || fail "user5 was delivered $(count_sets user5) times"
wait_for_log 'event=queue_dropped user=user5 reason=interrupted' 5 || fail "no interrupted line for user5"
[ -z "$(queue_entries)" ] || fail "entries left: $(queue_entries)"
log "ok: kill -9 during delivery: delivered once, never again"

# --- a user put in skip_users since: the queued change is dropped, not sent.
down
change_ok user4 'User4-queued-password-12'
up 'skip_users = root, user4'
flush_drops user4 skip_users "a user now in skip_users"
# ... likewise a user now below min_uid (multi1 has uid 1005).
down
change_ok multi1 'Multi1-queued-password-13'
[ -e "$(queue_entry_of multi1)" ] || fail "multi1's change was not queued"
up 'min_uid = 1006'
flush_drops multi1 min_uid "a user now below min_uid"
# ... but a user the name service does not know right now (LDAP down, say)
# is kept, not dropped: pam_isc_ctl without the test's users, then with them.
down
change_ok ambig1 'Ambig1-queued-password-14'
up
ctl_no_nss flush
[ "$CTL_RC" -eq 1 ] || fail "flush without the name service's users: exit $CTL_RC, expected 1"
[ -e "$(queue_entry_of ambig1)" ] || fail "an entry was dropped because the name service did not know the user"
wait_for_log 'event=queue_kept user=ambig1 reason=unknown_user' 5 || fail "no queue_kept line"
# With the name service back, the entry is processed (ISC has two accounts
# for ambig1, none named like the user: dropped as a refusal, not resent).
ctl flush
[ ! -e "$(queue_entry_of ambig1)" ] || fail "ambig1's entry is still queued with the name service back"
wait_for_log 'event=queue_dropped user=ambig1 ' 5 || fail "ambig1's entry was not processed"

# --- check shows the key cache and the queue.
up
ctl check alice
[ "$CTL_RC" -eq 0 ] || fail "check alice: exit $CTL_RC: $(cat "$T/ctl.out")"
_grep -q '^keycache ok: key ' "$T/ctl.out" || fail "check: no key cache line: $(cat "$T/ctl.out")"
_grep -q '^queue    0 queued, 0 unreadable' "$T/ctl.out" || fail "check: no queue line"
log "ok: skip_users drop; check shows key cache and queue"

# --- flush is non-interactive and refuses a second concurrent run (exit 4).
exec {lk}>>"$T/state/queue/.flush"
flock -n "$lk" || hard_error "cannot take the flush lock in the test"
CTL_NO_RETRY=1 ctl flush
exec {lk}>&-
[ "$CTL_RC" -eq 4 ] || fail "flush while another runs: exit $CTL_RC, expected 4"
ctl bogus
[ "$CTL_RC" -eq 2 ] || fail "unknown command: exit $CTL_RC, expected 2"
_grep -q 'usage: pam_isc_ctl' "$T/ctl.out" || fail "no usage text"
log "ok: exit codes 4 (busy) and 2 (usage)"

isc_done
