#!/usr/bin/python3
# SPDX-License-Identifier: MIT
# A stand-in for pam_isc.so on the per-host service's socket, for
# tests/integration/service.sh: speaks the module's protocol (src/common/
# proto.h) so that a test can hold sessions open, pick their caller uid and
# deadline, and go away at chosen moments, which pamtester cannot.
#
#   service_client.py SOCKET CONFIG USER CALLER PHASES...
# PHASES are "prelim", "update:MS" (an update request whose deadline is MS
# ms from now; the password is read from stdin, one line), "sleep:MS",
# "hold" (wait until stdin... or SIGTERM), "close" (go away at once, without
# reading the verdict). Each verdict line read is printed to stdout.
import os
import socket
import sys
import time


def request(config, user, caller, phase, deadline_ms, pw=b""):
    head = ("PAM_ISC/2\nconfig=%s\nuser=%s\nservice=test\ndebug=1\nphase=%s\n"
            "caller=%d\ndeadline=%d\nauthtok=%d\n"
            % (config, user, phase, caller, deadline_ms, len(pw)))
    return head.encode() + pw


def now_ms():
    return int(time.clock_gettime(time.CLOCK_MONOTONIC) * 1000)


def read_line(s):
    data = b""
    while not data.endswith(b"\n"):
        chunk = s.recv(1)
        if not chunk:
            break
        data += chunk
    return data.decode(errors="replace").strip()


def main():
    sock_path, config, user, caller = sys.argv[1:5]
    s = socket.socket(socket.AF_UNIX)
    s.connect(sock_path)
    greeting = s.recv(len(b"PAM_ISC_SERVICE/1\n"))
    print("greeting " + greeting.decode().strip(), flush=True)
    pw = None
    for step in sys.argv[5:]:
        if step == "prelim":
            s.sendall(request(config, user, int(caller), "prelim", now_ms() + 10000))
            print(read_line(s), flush=True)
        elif step.startswith("update:"):
            if pw is None:
                pw = sys.stdin.buffer.readline().rstrip(b"\n")
            s.sendall(request(config, user, int(caller), "update",
                              now_ms() + int(step[7:]), pw))
        elif step == "verdict":
            print(read_line(s), flush=True)
        elif step.startswith("sleep:"):
            time.sleep(int(step[6:]) / 1000)
        elif step == "hold":
            time.sleep(3600)
        elif step == "close":
            s.close()
            return
    s.close()


main()
