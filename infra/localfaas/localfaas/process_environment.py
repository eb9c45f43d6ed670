"""One execution environment's environment variables, made the process's own in constant time.

An in-process function must see exactly its environment variables, both in `os.environ` and in the
C library's `environ` that subprocesses inherit and C code (time zones, drivers) reads, and the
host must get its own back after each call. Setting the variables one by one costs a `setenv` per
name, and glibc's `setenv` walks the whole `environ` array: 5 to 6 us a name with 500 variables,
so even a diff of 20 names each way outweighed the rest of an invocation. Instead each environment
keeps its variables ready in both forms (the mapping behind `os.environ`, a NULL-terminated
`char *` array) and a switch swaps two references: `os.environ`'s mapping and `environ` itself,
which a program may point at an array of its own to change the whole environment at once (POSIX,
exec, application usage). `time.tzset` runs only when TZ changes. What a function sets or unsets
stays for its next call, as in the one process of a Lambda execution environment; the variable
set on every call (the trace header) goes straight into its slot of the array.
https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html (Working with Lambda
environment variables: a function's variables are fixed for its execution environment)
https://pubs.opengroup.org/onlinepubs/9699919799/functions/exec.html (exec: environ)
https://man7.org/linux/man-pages/man7/environ.7.html (environ(7): the array and setenv)
https://docs.python.org/3/library/os.html#os.environ (os.environ mirrors the process environment)

glibc and musl copy an array they did not allocate before `setenv` grows it, and `realloc` only the
one they did; an array they made is therefore copied into one of ours before it is installed
elsewhere, so no installed array is ever theirs to reallocate. Where the C library's `environ`
cannot be reached (not Linux), variables are switched by name as before, in time linear in the
number that differ. This module reads `os.environ._data`, CPython's private mapping behind
`os.environ` and `os.environb`: the only way to replace its contents in constant time.
"""

from __future__ import annotations

import ctypes
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


def _c_environ() -> Any | None:
    if not sys.platform.startswith("linux") or not hasattr(os.environ, "_data"):
        return None
    try:
        return ctypes.c_void_p.in_dll(ctypes.CDLL(None), "environ")
    except (OSError, ValueError, AttributeError):
        return None


_ENVIRON = _c_environ()
_POINTER = ctypes.c_void_p
# Arrays this module built, by address, kept alive while they may be installed.
_OURS: dict[int, ctypes.Array[Any]] = {}
_HAS_TZSET = hasattr(time, "tzset")


class _State:
    """Process-wide: how deep switches are nested (an in-process function may invoke another), the
    host's array as the outermost switch last put back, and the TZ value time.tzset last applied."""

    depth = 0
    host_array = 0
    tz_applied: bytes | None = b"\0unknown"  # no TZ holds a NUL: the first switch applies its own


def _array_of(entries: list[bytes]) -> int:
    array = (ctypes.c_char_p * (len(entries) + 1))(*entries, None)
    _OURS[ctypes.addressof(array)] = array
    return ctypes.addressof(array)


def _copy_of(address: int) -> int:
    """Our own copy of the C library's array at `address`: its pointers, not its strings, which the
    C library never frees (glibc keeps every string setenv made; the initial ones are on the stack)."""
    source = ctypes.cast(address, ctypes.POINTER(_POINTER))
    count = 0
    while source[count]:
        count += 1
    array = (_POINTER * (count + 1))()
    ctypes.memmove(array, address, ctypes.sizeof(array))
    _OURS[ctypes.addressof(array)] = array
    return ctypes.addressof(array)


def _owned_installed(replaced: int) -> int:
    """The address of the array now installed, copied into one of ours first if the C library made
    it; then `replaced`, the array it was grown from, is no longer referenced and is let go."""
    assert _ENVIRON is not None
    address = _ENVIRON.value or 0
    if address and address not in _OURS:
        address = _copy_of(address)
        _ENVIRON.value = address
        if replaced != address:
            _OURS.pop(replaced, None)
    return address


def _apply_tz(tz: bytes | None) -> None:
    if _HAS_TZSET and tz != _State.tz_applied:
        time.tzset()
        _State.tz_applied = tz


class ProcessEnvironment:
    """A function's environment variables, ready to be installed as the process's own."""

    def __init__(self, variables: dict[str, str]) -> None:
        encode_key, encode_value = os.environ.encodekey, os.environ.encodevalue  # type: ignore[attr-defined]
        self._data = {encode_key(k): encode_value(v) for k, v in variables.items()}
        self._variables = dict(variables)  # for the by-name switch only
        self._array = 0
        self._depth = 0
        # The "name=value" strings live as long as the environment: arrays grown or copied from its
        # first one point at them.
        self._strings = [k + b"=" + v for k, v in self._data.items()]
        self._put_lines: dict[bytes, bytes] = {}
        self._slots: dict[bytes, tuple[int, int]] = {}  # name -> (index, string address) last seen
        if _ENVIRON is not None:
            self._array = _array_of(self._strings)

    def put(self, name: str, value: str) -> None:
        """os.environ[name] = value in this installed environment, for a variable set on every call
        (the trace header): where the name's slot in the array is known, the slot is pointed at the
        new string directly, since setenv would walk the whole array to find it."""
        key, encoded = os.environ.encodekey(name), os.environ.encodevalue(value)  # type: ignore[attr-defined]
        slot = self._slot_of(key)
        if slot is None:
            os.environ[name] = value
            return
        line = key + b"=" + encoded
        address = ctypes.cast(ctypes.c_char_p(line), _POINTER).value
        self._put_lines[key] = line  # alive while the slot points at it; the one before is let go
        ctypes.cast(self._array, ctypes.POINTER(_POINTER))[slot] = address
        self._slots[key] = (slot, address)
        os.environ._data[key] = encoded  # type: ignore[attr-defined]

    def _slot_of(self, key: bytes) -> int | None:
        """The index of `key` in the installed array, if this environment's array is installed; a
        remembered index is trusted only while its slot still holds the string last seen there."""
        if _ENVIRON is None or self._depth == 0 or _ENVIRON.value != self._array:
            return None
        cells = ctypes.cast(self._array, ctypes.POINTER(_POINTER))
        known = self._slots.get(key)
        if known is not None and cells[known[0]] == known[1]:
            return known[0]
        prefix, index = key + b"=", 0
        while cells[index]:
            if ctypes.string_at(cells[index], len(prefix)) == prefix:
                self._slots[key] = (index, cells[index])
                return index
            index += 1
        return None

    def __del__(self) -> None:
        if self._depth == 0:
            _OURS.pop(self._array, None)

    @contextmanager
    def installed(self) -> Iterator[None]:
        """While active, os.environ and the C library's environ hold this environment's variables;
        what the function changes stays for its next call, and the host's are put back after."""
        if _ENVIRON is None:
            with self._switched_by_name():
                yield
            return
        # Only at the outermost switch is no frame still holding the host's previous array.
        outermost = _State.depth == 0
        host_data = os.environ._data  # type: ignore[attr-defined]
        host_array = _owned_installed(_State.host_array if outermost else 0)
        _State.depth += 1
        self._depth += 1
        self._install(self._data, self._array)
        try:
            yield
        finally:
            self._depth -= 1
            _State.depth -= 1
            # A function that set a new name left the C library's grown array installed.
            array = _owned_installed(self._array if self._depth == 0 else 0)
            if array != self._array:
                self._array, self._slots = array, {}
            self._install(host_data, host_array)
            if outermost:
                _State.host_array = host_array

    @staticmethod
    def _install(data: dict[bytes, bytes], array: int) -> None:
        assert _ENVIRON is not None
        os.environ._data = data  # type: ignore[attr-defined]
        if hasattr(os, "environb"):
            os.environb._data = data  # type: ignore[attr-defined]
        _ENVIRON.value = array or None
        _apply_tz(data.get(b"TZ"))

    @contextmanager
    def _switched_by_name(self) -> Iterator[None]:
        host = dict(os.environ)
        _switch_by_name(host, self._variables)
        _apply_tz(os.fsencode(self._variables["TZ"]) if "TZ" in self._variables else None)
        try:
            yield
        finally:
            self._variables = dict(os.environ)
            _switch_by_name(self._variables, host)
            _apply_tz(os.fsencode(host["TZ"]) if "TZ" in host else None)


def _switch_by_name(current: dict[str, str], wanted: dict[str, str]) -> None:
    """Turn os.environ (equal to `current`) into `wanted`, setting and unsetting only the names that
    differ: each change is a putenv or unsetenv call."""
    for name in current.keys() - wanted.keys():
        del os.environ[name]
    for name, value in wanted.items():
        if current.get(name) != value:
            os.environ[name] = value
