"""HDF5 files opened so that reading them cannot reach outside them or allocate what they only declare.

:func:`open_hdf5` opens a regular file (see :func:`neurokd.io.open_regular`), hands h5py the open file (so the
checked file is the one read), and walks every object before anything is read:

- links: only hard links; an external link (to another file), a soft link or a user-defined link is refused,
  and so is an object linked from two places (the way to build a cycle);
- datasets: a virtual dataset (whose data lives in other files) or external raw storage (data in another file
  such as ``/etc/passwd``) is refused;
- sizes: the bytes every dataset and attribute *declares* (shape x item size; a 20 GiB gzip-compressed dataset
  can sit in a few KB) must fit the memory limit, and groups may nest at most ``2 x max_depth`` deep
  (:mod:`neurokd.limits`).

neurokd's NIR and netx files never use links, virtual datasets or external storage.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

import h5py

from neurokd.errors import UserError
from neurokd.io import open_regular
from neurokd.limits import ENV, check_memory, limits


def _declared_bytes(shape: tuple[int, ...] | None, itemsize: int) -> int:
    n = 1
    for d in shape or ():
        n *= int(d)
    return n * itemsize


def _check_object(obj, name: str, fail) -> int:
    """Declared bytes of ``obj`` (a dataset's data and every attribute); raises for escapes."""
    total = 0
    for attr in obj.attrs:
        aid = h5py.h5a.open(obj.id, attr.encode() if isinstance(attr, str) else attr)
        total += _declared_bytes(aid.shape, aid.dtype.itemsize)
    if isinstance(obj, h5py.Dataset):
        if obj.is_virtual:
            raise fail(f"dataset '{name}' is a virtual dataset (its data lives in other files); refused")
        if obj.external:
            raise fail(f"dataset '{name}' stores its data in another file ({obj.external[0][0]!r}); refused")
        total += _declared_bytes(obj.shape, obj.dtype.itemsize)
    return total


def check_contained(f: h5py.File, where: str, error: type[UserError] = UserError) -> None:
    """Walk ``f`` without recursion (see the module docstring); problems raise ``error("{where}: ...")``."""

    def fail(reason: str) -> UserError:
        return error(f"{where}: {reason}")

    max_groups = 2 * limits().max_depth
    total = _check_object(f, "/", fail)
    stack: list[tuple[h5py.Group, str, int]] = [(f, "", 0)]
    while stack:
        group, prefix, depth = stack.pop()
        for key in group:
            name = f"{prefix}/{key}"
            link = group.get(key, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise fail(f"'{name}' is an external link to {link.filename}:{link.path}; links out of the file "
                           "are refused")
            if not isinstance(link, h5py.HardLink):
                raise fail(f"'{name}' is a {type(link).__name__}; only plain (hard-linked) objects are read")
            obj = group[key]
            if h5py.h5o.get_info(obj.id).rc > 1:
                raise fail(f"'{name}' is linked from more than one place; refused")
            total += _check_object(obj, name, fail)
            if isinstance(obj, h5py.Group):
                if depth + 1 > max_groups:
                    raise fail(f"groups nest deeper than {max_groups} levels (or raise {ENV['max_depth'][0]})")
                stack.append((obj, name, depth + 1))
    check_memory(total, f"{where}: its arrays", "is it the right file?")


@contextlib.contextmanager
def open_hdf5(path: str | os.PathLike, what: str, error: type[UserError] = UserError) -> Iterator[h5py.File]:
    """Open ``path`` read-only after the checks of the module docstring; errors are one-line ``error``s
    starting ``"{what} {path}: "``."""

    def fail(reason: str) -> UserError:
        return error(f"{what} {path}: {reason}")

    with open_regular(path, what, error) as fh:
        if fh.read(8) != b"\x89HDF\r\n\x1a\n":
            raise fail("not an HDF5 file")
        fh.seek(0)
        try:
            f = h5py.File(fh, "r")
        except (OSError, ValueError) as e:
            raise fail(f"unreadable HDF5 (truncated or corrupt: {first_line(e)})") from None
        with f:
            try:
                check_contained(f, f"{what} {path}", error)
            except (OSError, ValueError, KeyError, RuntimeError) as e:  # h5py on a damaged object table
                raise fail(f"unreadable HDF5 (truncated or corrupt: {first_line(e)})") from None
            yield f


def first_line(e: BaseException) -> str:
    """The first line of an exception's message (h5py's span several), or its type name."""
    text = str(e).strip() or type(e).__name__
    return text.splitlines()[0]
