"""Which repository a source event comes from, and whether it is the pipeline's: URLs and full names, normalised."""

from __future__ import annotations

import re
from collections.abc import Iterable
from urllib.parse import unquote, urlsplit

_SCP_LIKE = re.compile(r"^(?:[^@/\s]+@)?(?P<host>[^:/\s]+):(?!//)(?P<path>.+)$")  # git@github.com:octo/hello.git
_REMOTE_SCHEMES = ("https", "http", "ssh", "git")


def normalize_repository(url: str) -> str:
    """One spelling per repository: `host/owner/name` (host lowercased, no user, port, scheme or `.git`) for
    remote URLs and `git@host:owner/name`, and the absolute path for local paths and `file://` URLs.

    `https://github.com/Octo/Hello.git`, `git@github.com:Octo/Hello` and `ssh://git@github.com/Octo/Hello`
    all give `github.com/Octo/Hello`.
    """
    text = url.strip()
    parts = urlsplit(text)
    if parts.scheme == "file":
        return _clean_path(unquote(parts.path))
    if parts.scheme in _REMOTE_SCHEMES and parts.hostname:
        return f"{parts.hostname.lower()}/{_clean_path(unquote(parts.path)).strip('/')}"
    scp = _SCP_LIKE.match(text)
    if scp and not text.startswith("/"):
        return f"{scp['host'].lower()}/{_clean_path(scp['path']).strip('/')}"
    return _clean_path(text)


def _clean_path(path: str) -> str:
    cleaned = path.rstrip("/").removesuffix(".git").rstrip("/")
    return cleaned or "/"


def is_same_repository(configured: str, urls: Iterable[str], full_name: str) -> bool:
    """True if the event's URLs (clone, ssh, web) or its full name on one of their hosts name `configured`.

    Paths compare case-insensitively on remote hosts, as GitHub, GitLab and Gitee do; local paths exactly.
    """
    wanted = normalize_repository(configured)
    local = wanted.startswith("/")
    named = {normalize_repository(url) for url in urls if url}
    if full_name and not local:
        named |= {f"{name.split('/', 1)[0]}/{full_name.strip('/')}" for name in named if not name.startswith("/")}
    if local:
        return wanted in named
    return wanted.lower() in {name.lower() for name in named}
