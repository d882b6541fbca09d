"""The install step with no network (docs/tuf.md, "No network while installing").

Everything `mirror install` hands pip was downloaded and verified before pip starts, so pip
needs no network. On Linux it runs in a private network namespace, which has only a loopback
interface that is down: a connection to anywhere, this machine included, fails. A payload
that runs while installing (an sdist's build) has nowhere to send what it read.

The namespace is entered by a small launcher run with the client's interpreter, which then
execs the command: a network namespace alone where the process may create one (root with
CAP_SYS_ADMIN), else an unprivileged user namespace with it, mapping the caller's own uid
and gid so files are created as the caller. Where neither is allowed (not Linux, a container
whose seccomp profile forbids ``unshare``, user namespaces switched off),
``unavailable_reason`` says why in one line.
"""

import subprocess
import sys

# Run with -I; argv[1:] is the command to exec inside the namespace. Exits 1 with the reason
# on stderr when no namespace can be made; nothing of the command has run then.
_LAUNCHER = """
import ctypes, os, sys
CLONE_NEWNET, CLONE_NEWUSER = 0x40000000, 0x10000000
libc = ctypes.CDLL(None, use_errno=True)

def unshare(flags):
    if libc.unshare(flags) != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))

def write(path, text):
    with open(path, "w") as handle:
        handle.write(text)

try:
    if not hasattr(libc, "unshare"):
        raise OSError("this system has no network namespaces")
    try:
        unshare(CLONE_NEWNET)
    except PermissionError:
        uid, gid = os.getuid(), os.getgid()
        unshare(CLONE_NEWUSER | CLONE_NEWNET)
        write("/proc/self/setgroups", "deny")
        write("/proc/self/uid_map", f"{uid} {uid} 1")
        write("/proc/self/gid_map", f"{gid} {gid} 1")
except OSError as exc:
    print(f"cannot make a private network namespace: {exc.strerror or exc}", file=sys.stderr)
    sys.exit(1)
os.execv(sys.argv[1], sys.argv[1:])
"""


def offline(command: list[str]) -> list[str]:
    """``command`` run inside a private network namespace (its first item is a path)."""
    return [sys.executable, "-I", "-c", _LAUNCHER, *command]


def unavailable_reason() -> str | None:
    """None when ``offline`` works here, else why not, in one line."""
    if sys.platform != "linux":
        return f"network namespaces exist only on Linux (this is {sys.platform})"
    try:
        tried = subprocess.run(
            offline([sys.executable, "-I", "-c", ""]), capture_output=True, text=True, timeout=60
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run the namespace launcher: {exc}"
    if tried.returncode != 0:
        return (tried.stderr.strip().splitlines() or ["the namespace launcher failed"])[-1]
    return None
