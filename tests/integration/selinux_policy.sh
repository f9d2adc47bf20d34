#!/bin/bash
# SPDX-License-Identifier: MIT
# The SELinux policy module (selinux/pam_isc.te, .fc, .if), built and
# installed into a private copy of the default policy store, and the
# resulting kernel policy checked with sesearch and seinfo:
#  - it builds with the reference policy's development Makefile
#    (/usr/share/selinux/devel/Makefile), without a single m4 warning;
#  - semodule installs it offline (-n: nothing is loaded into a kernel) into
#    a copy of /etc/selinux and /var/lib/selinux bound over the originals in
#    a private mount namespace; the machine's own are compared before and
#    after, and SELinux is never turned on;
#  - passwd_t (passwd, chpasswd) may connect to the service's socket and runs
#    the helper in pam_isc_helper_t, and gains nothing else: no network, no
#    secret, nothing writable in runtime_dir or state_dir (the rules the
#    module adds to passwd_t are compared with the base policy's);
#  - the login domains (sshd, login, display manager, su) get the same two;
#  - the service and pam_isc_ctl are entered from systemd under
#    NoNewPrivileges, the follower from pam_isc_ctl flush;
#  - the helper, the service and pam_isc_ctl may connect to http_port_t, the
#    proxy ports only with the boolean pam_isc_use_proxy (off by default);
#  - the client secret is readable by the pam_isc domains and, beyond them,
#    only through the base policy's rules for every file (see below);
#  - the file contexts label the installed paths;
#  - no permissive domain, no dontaudit, no unconfined shortcut in the sources.
# Skipped (77) only when the policy tools are not installed
# (scripts/install-deps.sh installs them); needs root for the private mount
# namespace, like the other integration tests. About 40 s, most of it
# semodule rebuilding the policy.
. "$(dirname "$0")/../lib.sh"

policy_src=$top_srcdir/selinux
devel_makefile=/usr/share/selinux/devel/Makefile

# --- tools -------------------------------------------------------------------
missing=()
[ -f "$devel_makefile" ] || missing+=("$devel_makefile (selinux-policy-dev)")
for tool in make:make semodule:policycoreutils sesearch:setools seinfo:setools \
	selabel_lookup:selinux-utils unshare:util-linux; do
	command -v "${tool%%:*}" >/dev/null || missing+=("${tool%%:*} (${tool#*:})")
done
[ -d /var/lib/selinux/default ] && compgen -G '/etc/selinux/default/policy/policy.*' >/dev/null ||
	missing+=("the default policy store in /var/lib/selinux/default (selinux-policy-default)")
[ ${#missing[@]} -eq 0 ] ||
	skip "SELinux policy tools missing: ${missing[*]}; scripts/install-deps.sh installs them"
if [ "$(id -u)" -ne 0 ]; then
	skip "this test needs root (private mount namespace over /etc/selinux and /var/lib/selinux); run it as root"
fi
for f in pam_isc.te pam_isc.fc pam_isc.if; do
	[ -f "$policy_src/$f" ] || hard_error "$policy_src/$f is missing"
done

# --- a private mount namespace: the store copy is bound over the real one ---
if [ "${_ISC_SELINUX_NS:-0}" != 1 ]; then
	export _ISC_SELINUX_NS=1
	exec unshare --mount --propagation private -- "$BASH" "$0" "$@" ||
		hard_error "cannot create a private mount namespace (unshare -m)"
fi

started=$SECONDS
W=$(mktemp -d "${TMPDIR:-/tmp}/pam_isc_selinux.XXXXXX")
bound=()
cleanup() {
	local rc=$? i
	trap - EXIT
	for ((i = ${#bound[@]} - 1; i >= 0; i--)); do
		umount "${bound[$i]}" 2>/dev/null || umount -l "${bound[$i]}" 2>/dev/null
	done
	if [ "${KEEP_TMP:-0}" = 1 ]; then
		log "kept $W"
	else
		rm -rf --one-file-system -- "$W"
	fi
	exit "$rc"
}
trap cleanup EXIT

# What the machine's store looks like: names, sizes, times, modes.
fingerprint() {
	find /etc/selinux /var/lib/selinux -printf '%p %y %s %T@ %m\n' | LC_ALL=C sort | sha256sum
}
host_before=$(fingerprint)
getenforce_before=$(getenforce 2>/dev/null || echo unknown)

# --- build ---------------------------------------------------------------------
mkdir "$W/build"
cp "$policy_src"/pam_isc.te "$policy_src"/pam_isc.fc "$policy_src"/pam_isc.if "$W/build/"
# Without the make variables of a parallel `make check` (its jobserver would
# only be warned about, and the warning check below must see the policy's).
if ! (cd "$W/build" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL -u MAKEOVERRIDES \
	make -f "$devel_makefile" pam_isc.pp) >"$W/build.log" 2>&1; then
	cat "$W/build.log" >&2
	fail "the module does not build"
fi
# An apostrophe in a comment ends an m4 quote and shows up as warnings
# (non-numeric argument to builtin incr), a deprecated interface as one too.
if _grep -iE 'warning|error|incr' "$W/build.log" >&2; then
	fail "the module builds with warnings (above)"
fi
log "built pam_isc.pp"

# --- install into a copy of the store ----------------------------------------------
policy_file=$(printf '%s\n' /etc/selinux/default/policy/policy.* | sort -V | tail -n 1)
policy_name=$(basename "$policy_file")
cp "$policy_file" "$W/base.policy"
cp -a /etc/selinux "$W/etc-selinux"
cp -a /var/lib/selinux "$W/var-lib-selinux"
mount --bind "$W/etc-selinux" /etc/selinux || hard_error "cannot bind a copy over /etc/selinux"
bound+=(/etc/selinux)
mount --bind "$W/var-lib-selinux" /var/lib/selinux || hard_error "cannot bind a copy over /var/lib/selinux"
bound+=(/var/lib/selinux)
# -n: build the policy, load nothing.
if ! semodule -n -s default -i "$W/build/pam_isc.pp" >"$W/semodule.log" 2>&1; then
	cat "$W/semodule.log" >&2
	fail "semodule -n -i pam_isc.pp failed on a copy of the default store"
fi
semodule -n -s default -l >"$W/modules" 2>/dev/null
_grep -qx 'pam_isc' "$W/modules" || fail "pam_isc is not among the installed modules of the copy"
P=$W/pam_isc.policy
cp "/etc/selinux/default/policy/$policy_name" "$P"
cmp -s "$P" "$W/base.policy" && fail "semodule left the policy file as it was"

# File contexts, looked up in the copy (its contexts/files/file_contexts).
fc_fail=0
fc_expect() {
	local path=$1 type=$2 mode=$3 got
	got=$(selabel_lookup -b file -k "$path" -t "$mode" 2>&1 | sed -n 's/^Default context: //p')
	if [ "${got#*:object_r:}" != "$type:s0" ]; then
		log "FAIL: $path is labelled '$got', not $type"
		fc_fail=1
	fi
}
# selabel_lookup -t takes the file type bits (S_IFREG, S_IFDIR, S_IFSOCK) in decimal
reg=$((8#100000)) dir=$((8#40000)) sock=$((8#140000))
fc_expect /usr/libexec/pam_isc/pam_isc_helper pam_isc_helper_exec_t $reg
fc_expect /usr/local/libexec/pam_isc/pam_isc_helper pam_isc_helper_exec_t $reg
fc_expect /usr/sbin/pam_isc_ctl pam_isc_ctl_exec_t $reg
fc_expect /usr/bin/pam_isc_ctl pam_isc_ctl_exec_t $reg
fc_expect /etc/security/pam_isc.conf pam_isc_conf_t $reg
fc_expect /etc/security/pam_isc.secret pam_isc_secret_t $reg
fc_expect /run/pam_isc pam_isc_var_run_t $dir
fc_expect /run/pam_isc/token pam_isc_var_run_t $reg
fc_expect /run/pam_isc/pending pam_isc_var_run_t $dir
fc_expect /run/pam_isc/service.sock pam_isc_service_sock_t $sock
fc_expect /var/run/pam_isc/service.sock pam_isc_service_sock_t $sock
fc_expect /var/lib/pam_isc pam_isc_var_lib_t $dir
fc_expect /var/lib/pam_isc/queue/x pam_isc_var_lib_t $reg
# and what pam_isc does not own stays as it was
fc_expect /usr/bin/passwd passwd_exec_t $reg
[ "$fc_fail" -eq 0 ] || fail "file contexts (above)"

for ((i = ${#bound[@]} - 1; i >= 0; i--)); do
	umount "${bound[$i]}" || fail "cannot unmount ${bound[$i]}"
done
bound=()
[ "$(fingerprint)" = "$host_before" ] ||
	fail "the machine's /etc/selinux or /var/lib/selinux changed"
[ "$(getenforce 2>/dev/null || echo unknown)" = "$getenforce_before" ] ||
	fail "SELinux changed state: $(getenforce)"
log "installed into a private copy of the store ($((SECONDS - started)) s); the machine's store is unchanged"

# --- assertions on the kernel policy -------------------------------------------------
# The queries first, a few at a time (each loads the whole policy, a second
# or two), their answers in $W/q.NAME.
qpids=()
query() {
	local name=$1
	shift
	"$@" >"$W/q.$name" 2>"$W/q.$name.err" &
	qpids+=($!)
	if [ ${#qpids[@]} -ge 4 ]; then
		wait_queries
	fi
}
wait_queries() {
	local pid
	for pid in "${qpids[@]}"; do
		wait "$pid" || { cat "$W"/q.*.err >&2; fail "a sesearch or seinfo query failed"; }
	done
	qpids=()
}
query passwd_new sesearch -A -s passwd_t "$P"
query passwd_base sesearch -A -s passwd_t "$W/base.policy"
query transitions sesearch -T -t pam_isc_helper_exec_t -c process "$P"
query ctl_transitions sesearch -T -t pam_isc_ctl_exec_t -c process "$P"
query connectors sesearch -A -t pam_isc_service_t -c unix_stream_socket -p connectto "$P"
query entrypoint sesearch -A -s pam_isc_helper_t -t pam_isc_helper_exec_t -c file -p entrypoint "$P"
for d in pam_isc_helper_t pam_isc_service_t pam_isc_ctl_t; do
	query "net_$d" sesearch -A -s "$d" -c tcp_socket -p name_connect "$P"
done
query passwd_http sesearch -A -s passwd_t -t http_port_t -c tcp_socket -p name_connect "$P"
query passwd_var_lib sesearch -A -s passwd_t -t pam_isc_var_lib_t "$P"
query secret_readers sesearch -A -t pam_isc_secret_t -c file -p read "$P"
query nnp_service sesearch -A -t pam_isc_service_t -c process2 -p nnp_transition "$P"
query nnp_ctl sesearch -A -t pam_isc_ctl_t -c process2 -p nnp_transition "$P"
query roles seinfo -r -x "$P"
query types seinfo -t -x "$P"
query boolean seinfo -b pam_isc_use_proxy -x "$P"
query permissive seinfo --permissive -x "$P"
wait_queries
r() { cat "$W/q.$1"; }

bad=0
# has WHAT TEXT PATTERN: TEXT has a line matching PATTERN (extended regex)
has() {
	# (a here-string, not a pipe: grep -q stops reading early, and
	# pipefail would take the writer's SIGPIPE for a failure)
	if ! _grep -qE -- "$3" <<<"$2"; then
		log "FAIL: $1"
		log "  no line matches: $3"
		bad=1
	fi
}
# hasnt WHAT TEXT PATTERN: no line of TEXT matches PATTERN
hasnt() {
	local lines
	lines=$(_grep -E -- "$3" <<<"$2" || true)
	if [ -n "$lines" ]; then
		log "FAIL: $1"
		printf '%s\n' "$lines" | sed 's/^/  /' >&2
		bad=1
	fi
}
# only WHAT TEXT PATTERN: every rule line of TEXT matches PATTERN
only() {
	local lines
	lines=$(_grep -E '^(allow|type_transition) ' <<<"$2" | _grep -vE -- "$3" || true)
	if [ -n "$lines" ]; then
		log "FAIL: $1; these are not:"
		printf '%s\n' "$lines" | sed 's/^/  /' >&2
		bad=1
	fi
}

# 1. passwd_t (passwd, chpasswd): connect to the service (connectto on its
#    domain, write on the socket file), run the helper in its own domain.
passwd_new=$(r passwd_new)
transitions=$(r transitions)
has "passwd_t may connect to the service" "$passwd_new" \
	'^allow passwd_t pam_isc_service_t:unix_stream_socket .*connectto'
has "passwd_t may write the socket file of the service" "$passwd_new" \
	'^allow passwd_t pam_isc_service_sock_t:sock_file .*write'
has "passwd_t runs the helper in pam_isc_helper_t" "$transitions" \
	'^type_transition passwd_t pam_isc_helper_exec_t:process pam_isc_helper_t;'
has "passwd_t may transition to pam_isc_helper_t" "$passwd_new" \
	'^allow passwd_t pam_isc_helper_t:process .*transition'
has "pam_isc_helper_exec_t is an entry point of pam_isc_helper_t" "$(r entrypoint)" \
	'^allow pam_isc_helper_t pam_isc_helper_exec_t:file .*entrypoint'
has "passwd_t may read the configuration (the module parses it)" "$passwd_new" \
	'^allow passwd_t pam_isc_conf_t:file .*read'

# 2. The login domains that change an expired password get the same two.
#    Nobody else is given the socket: only the base policy's unconfined
#    domains (connectto on every domain) may connect beyond them.
clients='passwd_t|sshd_t|local_login_t|xdm_t|sysadm_su_t|staff_su_t|user_su_t'
connectors=$(r connectors)
for d in sshd_t local_login_t xdm_t sysadm_su_t staff_su_t user_su_t; do
	has "$d may connect to the service" "$connectors" \
		"^allow $d pam_isc_service_t:unix_stream_socket .*connectto"
	has "$d runs the helper in pam_isc_helper_t" "$transitions" \
		"^type_transition $d pam_isc_helper_exec_t:process pam_isc_helper_t;"
done
only "only the PAM applications may connect to the service" "$connectors" \
	"^allow ($clients|unconfined_domain_type) "
# The service domain is entered from init (the unit) and, for the follower
# and a service left behind, from the helper and pam_isc_ctl; the helper
# domain only from the PAM applications.
has "init runs the service in pam_isc_service_t" "$transitions" \
	'^type_transition init_t pam_isc_helper_exec_t:process pam_isc_service_t;'
has "the helper starts the follower in pam_isc_service_t" "$transitions" \
	'^type_transition pam_isc_helper_t pam_isc_helper_exec_t:process pam_isc_service_t;'
has "pam_isc_ctl starts the follower in pam_isc_service_t" "$transitions" \
	'^type_transition pam_isc_ctl_t pam_isc_helper_exec_t:process pam_isc_service_t;'
only "only the PAM applications enter pam_isc_helper_t, only init and pam_isc pam_isc_service_t" \
	"$transitions" \
	"^type_transition (($clients) pam_isc_helper_exec_t:process pam_isc_helper_t|(init_t|initrc_t|pam_isc_helper_t|pam_isc_ctl_t) pam_isc_helper_exec_t:process pam_isc_service_t);\$"
has "systemd runs pam_isc_ctl (pam-isc-flush.service) in pam_isc_ctl_t" "$(r ctl_transitions)" \
	'^type_transition init_t pam_isc_ctl_exec_t:process pam_isc_ctl_t;'
has "sysadm runs pam_isc_ctl in pam_isc_ctl_t" "$(r ctl_transitions)" \
	'^type_transition sysadm_t pam_isc_ctl_exec_t:process pam_isc_ctl_t;'
# The units run with NoNewPrivileges=yes, and so does the follower that
# pam_isc_ctl flush starts: without nnp_transition their exec would fail.
has "systemd may start the service under NoNewPrivileges" "$(r nnp_service)" \
	'^allow init_t pam_isc_service_t:process2 .*nnp_transition'
has "pam_isc_ctl may start the follower under NoNewPrivileges" "$(r nnp_service)" \
	'^allow pam_isc_ctl_t pam_isc_service_t:process2 .*nnp_transition'
has "systemd may start pam_isc_ctl under NoNewPrivileges" "$(r nnp_ctl)" \
	'^allow init_t pam_isc_ctl_t:process2 .*nnp_transition'

# 3. Every role that may run passwd_t may run the helper (and the service
#    that a helper run by root leaves behind): else the transition fails.
roles=$(r roles)
passwd_roles=$(printf '%s\n' "$roles" | _grep -E '^ *role [a-z_]+ types \{.* passwd_t ' |
	sed -E 's/^ *role ([a-z_]+) types.*/\1/')
[ -n "$passwd_roles" ] || fail "no role runs passwd_t (seinfo -r -x)"
for role in $passwd_roles; do
	for t in pam_isc_helper_t pam_isc_service_t; do
		has "role $role runs passwd_t, so it must allow $t" "$roles" "^ *role $role types \{.* $t .*\};"
	done
done
log "roles that run passwd_t and the helper: $(tr '\n' ' ' <<<"$passwd_roles")"

# 4. The network: the helper, the service and pam_isc_ctl reach ISC (443 is
#    http_port_t) and DNS; the proxy ports only with pam_isc_use_proxy (off
#    by default); beyond that only what name service lookups (nsswitch:
#    LDAP, Kerberos, NIS) get from their own booleans. passwd_t: nothing.
proxy_ports='http_cache_port_t|squid_port_t|socks_port_t'
nss_booleans='allow_kerberos|allow_ypbind|authlogin_nsswitch_use_ldap|nis_enabled|kerberos_enabled'
for d in pam_isc_helper_t pam_isc_service_t pam_isc_ctl_t; do
	out=$(r "net_$d")
	has "$d may connect to http_port_t" "$out" "^allow $d http_port_t:tcp_socket .*name_connect.*;\$"
	for port in http_cache_port_t squid_port_t; do
		has "$d may connect to $port with pam_isc_use_proxy" "$out" \
			"^allow $d $port:tcp_socket .*name_connect.*; \[ pam_isc_use_proxy \]:True\$"
	done
	only "$d reaches the proxy ports only with pam_isc_use_proxy" \
		"$(printf '%s\n' "$out" | _grep -E " ($proxy_ports):tcp_socket " || true)" \
		'; \[ pam_isc_use_proxy \]:True$'
	only "$d may connect to ISC, DNS and the proxy only" "$out" \
		"( (http_port_t|dns_port_t):tcp_socket [^;]*;|; \[ pam_isc_use_proxy \]:True|; \[ ($nss_booleans) \]:True)\$"
done
has "pam_isc_use_proxy exists and is off by default" "$(r boolean)" '^ *bool pam_isc_use_proxy false;'
hasnt "passwd_t must not connect to http_port_t" "$(r passwd_http)" '^allow '

# 5. What the module adds to passwd_t, compared with the base policy: only
#    rules on pam_isc types (and the getattr of the namespace files that the
#    module compares with those of the service), none on state_dir or the
#    secret, nothing that writes runtime_dir, no network.
added=$(LC_ALL=C comm -13 <(r passwd_base | LC_ALL=C sort) <(printf '%s\n' "$passwd_new" | LC_ALL=C sort))
[ -n "$added" ] || fail "the module adds nothing to passwd_t"
log "the rules the module adds to passwd_t:"
printf '%s\n' "$added" | sed 's/^/  /' >&2
only "passwd_t gains rules on pam_isc types only" "$added" \
	'^allow passwd_t (pam_isc_[a-z_]+:|nsfs_t:file getattr;$)'
hasnt "passwd_t gains nothing on state_dir or the secret" "$added" 'pam_isc_(var_lib|secret)_t'
hasnt "passwd_t gains nothing that writes runtime_dir" "$added" \
	'pam_isc_var_run_t:[a-z_]+ \{[^}]*\b(write|add_name|remove_name|create|unlink|rename|setattr)\b'
hasnt "passwd_t gains no network access" "$added" 'name_connect|tcp_socket|udp_socket'
hasnt "passwd_t may not touch pam_isc_var_lib_t" "$(r passwd_var_lib)" '^allow '

# 6. The client secret: read by the pam_isc domains; beyond them only by the
#    base policy's rules for every file (file_type), the same that reach
#    /etc/shadow: the unconfined domains (files_unconfined_type: unconfined_t,
#    init, the kernel, dpkg and apt, and in this policy the display manager
#    and the X server), the integrity checkers that hash every file (aide,
#    tripwire, samhain, siggen), the backup tools (amanda, backup, bacula)
#    and quota. This module gives none of them anything.
readers=$(r secret_readers)
has "the pam_isc domains may read the secret" "$readers" '^allow pam_isc_domain pam_isc_secret_t:file '
only "the secret is read by pam_isc and by the rules for every file only" "$readers" \
	'^allow (pam_isc_domain pam_isc_secret_t|(aide_t|tripwire_t|samhain_t|samhaind_t|siggen_t|amanda_t|backup_t|bacula_t|quota_t|files_unconfined_type) file_type):file '
hasnt "the PAM applications may not read the secret" "$readers" "^allow ($clients) "
# Like /etc/shadow, it is none of the attributes that many domains may read
# (backups, file servers by boolean, ...).
types=$(r types)
has "the policy knows pam_isc_secret_t" "$types" '^ *type pam_isc_secret_t[,;]'
hasnt "the secret is not a non_auth_file_type or non_security_file_type" "$types" \
	'^ *type pam_isc_secret_t,.*non_(auth|security)_file_type'

# 7. No shortcuts: no permissive, no dontaudit, no unconfined domain in the
#    sources; no pam_isc type permissive or unconfined in the policy.
src=$(_grep -nE '^[^#]*\b(permissive|dontaudit|unconfined_domain|domain_unconfined|files_unconfined)' \
	"$policy_src/pam_isc.te" "$policy_src/pam_isc.if" || true)
[ -z "$src" ] || { log "FAIL: shortcuts in the sources:"; printf '%s\n' "$src" | sed 's/^/  /' >&2; bad=1; }
hasnt "no pam_isc domain is permissive" "$(r permissive)" 'pam_isc'
hasnt "no pam_isc domain is unconfined" "$types" '^ *type pam_isc_[a-z_]+,.*unconfined'

[ "$bad" -eq 0 ] || fail "policy assertions failed (above)"
log "PASS ($((SECONDS - started)) s)"
exit 0
