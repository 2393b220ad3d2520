"""The run directory (``--out``): what it holds, who owns it, and whether a run may start,
resume or must be refused.

A finished run holds ``checkpoint.pt`` and ``metrics.json`` (plus ``history.jsonl`` and
the plots); an interrupted one holds ``state.pt``, the whole training state written
atomically after every epoch and every ``--checkpoint-every`` steps. Nothing that
``--out`` holds is replaced without ``--overwrite``: not a run with other options
(other than the run-control ones, :func:`~seqkit.engine.config.run_control`) or other
data, not a finished run with the same options, not files that are no seqkit run.

While a run owns the directory (from the decision about it, :func:`prepare_run_dir`, to
its final files) it holds an advisory lock, ``fcntl.flock`` on ``OUT/.lock``
(:func:`lock_run_dir`); a second run on the same ``--out`` is refused naming the owner.
The operating system drops the lock when its process ends, also by ``kill -9``, so a
dead run's lock file never blocks a ``--resume``. In a data-parallel run only rank 0
locks, as only rank 0 writes.
"""
from __future__ import annotations

import errno
import hashlib
import json
import os
import socket
import time

import numpy as np

from ..errors import CheckpointError, ConfigError
from .checkpoint import load as load_checkpoint
from .config import RunConfig, config_dict, run_control

STATE_FILE = "state.pt"
CHECKPOINT_FILE = "checkpoint.pt"
METRICS_FILE = "metrics.json"
HISTORY_FILE = "history.jsonl"
LOCK_FILE = ".lock"
#: the prefix of a fingerprint that covers the texts (older state.pt files hold one of
#: lengths and labels only, see :func:`fingerprint_matches`)
FINGERPRINT_VERSION = "v2:"


# -- the lock ---------------------------------------------------------------------------
class RunDirLock:
    """The lock a run holds on its ``--out`` (see :func:`lock_run_dir`); :meth:`release`
    when the run's files are written (or it failed). Also a context manager."""

    def __init__(self, out: str, fd: int | None, created: bool):
        self.out, self.fd, self.created = out, fd, created
        self.path = os.path.join(out, LOCK_FILE)

    @property
    def held(self) -> bool:
        return self.fd is not None

    def release(self) -> None:
        """Unlock, remove the lock file (and ``out`` itself if this run created it and left
        nothing in it)."""
        if self.fd is not None:
            try:  # unlinked while still held: a run that locks the old file sees it is gone and retries
                os.unlink(self.path)
            except OSError:
                pass
            try:
                import fcntl

                fcntl.flock(self.fd, fcntl.LOCK_UN)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None
        if self.created:
            try:
                os.rmdir(self.out)  # only if empty: a run that failed before writing anything
            except OSError:
                pass
            self.created = False

    def __enter__(self) -> "RunDirLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _owner(path: str) -> dict:
    """The owner recorded in a lock file: ``pid``, ``host``, ``since`` (empty if unknown)."""
    for _ in range(5):  # the owner writes it just after locking: give it a moment
        try:
            with open(path, encoding="utf-8") as f:
                text = f.read()
        except OSError:
            return {}
        if text.strip():
            try:
                owner = json.loads(text)
                return owner if isinstance(owner, dict) else {}
            except ValueError:
                return {}
        time.sleep(0.05)
    return {}


def _alive_here(owner: dict) -> bool:
    """False when ``owner`` ran on this host and its process is gone."""
    pid = owner.get("pid")
    if not isinstance(pid, int) or owner.get("host") != socket.gethostname():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # another user's process
        return True
    return True


def _owner_text(owner: dict) -> str:
    if not isinstance(owner.get("pid"), int):
        return "another seqkit run"
    host = owner.get("host")
    where = f" on {host}" if host and host != socket.gethostname() else ""
    since = f" since {owner['since']}" if owner.get("since") else ""
    return f"{owner.get('command') or 'seqkit run'} (pid {owner['pid']}{where}){since}"


#: errno values of a file system that has no locks (some network mounts)
_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL, getattr(errno, "ENOTSUP", errno.EOPNOTSUPP)}


def lock_run_dir(out: str, log=None, *, command: str = "seqkit run", dead_owner_wait: float = 15.0) -> RunDirLock:
    """Lock ``out`` (created if missing) for this process, or refuse in one line naming the
    run that holds it.

    The lock is ``fcntl.flock`` on ``out/.lock``, which records the owner's pid, host and
    start time. The OS drops it when the owner ends, even by ``kill -9``. Processes the
    owner forked (DataLoader workers) share its lock until they notice it is gone and exit,
    so when the recorded owner is a dead process of this host the lock is waited for up to
    ``dead_owner_wait`` seconds. Where the file system has no locks the run goes on
    unlocked (said through ``log``).
    """
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--out {out}: exists and is not a directory; choose another --out")
    created = not os.path.exists(out)
    os.makedirs(out, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # no flock on this platform
        if log is not None:
            log(f"--out {out}: this platform cannot lock files; a second run on this --out would not be refused")
        return RunDirLock(out, None, created)
    path = os.path.join(out, LOCK_FILE)
    deadline = None
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            owner = _owner(path)
            if _alive_here(owner):
                raise ConfigError(f"--out {out} is in use by {_owner_text(owner)}; wait for it or choose another "
                                  f"--out") from None
            deadline = deadline or time.monotonic() + dead_owner_wait
            if time.monotonic() > deadline:
                raise ConfigError(f"--out {out} is still locked by processes that {_owner_text(owner)} left "
                                  f"behind (it has ended; e.g. its data-loader workers); wait for them to exit "
                                  f"or choose another --out") from None
            time.sleep(0.2)
            continue
        except OSError as exc:
            os.close(fd)
            if exc.errno not in _NO_LOCKS:
                raise
            if log is not None:
                log(f"--out {out}: the file system cannot lock files ({exc.strerror}); a second run on this "
                    f"--out would not be refused")
            return RunDirLock(out, None, created)
        try:  # a run releasing the lock unlinks the file: then lock the new one
            same = os.path.samestat(os.fstat(fd), os.stat(path))
        except FileNotFoundError:
            same = False
        if not same:
            os.close(fd)
            continue
        record = {"pid": os.getpid(), "host": socket.gethostname(), "since": time.strftime("%Y-%m-%d %H:%M:%S"),
                  "command": command}
        os.ftruncate(fd, 0)
        os.pwrite(fd, (json.dumps(record) + "\n").encode("utf-8"), 0)
        return RunDirLock(out, fd, created)


def config_differences(saved: dict, config: RunConfig) -> list[str]:
    """``option: saved -> now`` for every computing option that differs."""
    from .config import migrate

    saved, now, control = migrate(saved), config_dict(config), set(run_control())
    diffs = []
    for key in sorted(set(saved) | set(now)):
        if key in control:
            continue
        a, b = saved.get(key, "<unset>"), now.get(key, "<unset>")
        if a != b:
            diffs.append(f"{key.replace('_', '-')} {a!r} -> {b!r}")
    return diffs


def _fingerprint(train_ds, test_ds, *, contents: bool) -> str:
    """labels, split sizes, lengths, label codes and, with ``contents``, the texts and targets."""
    h = hashlib.sha256()
    h.update(json.dumps(list(getattr(train_ds, "labels", None) or [])).encode())
    for part in (train_ds, test_ds):
        h.update(np.int64(len(part)).tobytes())
        h.update(np.ascontiguousarray(part.lengths(), dtype=np.int64).tobytes())
        if hasattr(part, "label_indices"):
            h.update(np.ascontiguousarray(part.label_indices(), dtype=np.int64).tobytes())
        if contents:
            _hash_contents(h, part)
    return h.hexdigest()


def _legacy_fingerprint(train_ds, test_ds) -> str:
    """The fingerprint of state.pt files written before texts were covered: labels, split
    sizes, lengths and label codes."""
    return _fingerprint(train_ds, test_ds, contents=False)


def _hash_strings(h, values) -> None:
    """Each string with its length in front, so that no two lists hash alike by accident."""
    for value in values:
        data = str(value).encode("utf-8", "surrogatepass")
        h.update(np.int64(len(data)).tobytes())
        h.update(data)


def _hash_contents(h, part) -> None:
    """The texts (and targets other than class labels) of one split."""
    corpus = getattr(part, "corpus", None)
    if callable(getattr(part, "text_hashes", None)) and corpus is not None and hasattr(corpus, "chars"):
        # a corpus's text hashes are over its symbol indices: with its symbol table they cover the characters
        h.update(np.ascontiguousarray(corpus.chars).tobytes())
        h.update(np.ascontiguousarray(part.text_hashes(), dtype=np.uint64).tobytes())
    elif getattr(part, "texts", None) is not None:
        _hash_strings(h, part.texts)
    if not hasattr(part, "label_indices") and getattr(part, "targets", None) is not None:
        for target in part.targets:  # seq2seq: a tuple of tokens per text
            tokens = list(target) if isinstance(target, (list, tuple)) else [target]
            h.update(np.int64(len(tokens)).tobytes())
            _hash_strings(h, tokens)


def data_fingerprint(train_ds, test_ds) -> str:
    """What a resume must find unchanged: labels, split sizes, lengths, label codes and the
    contents: every text (a corpus's text hashes with its symbol table, or the texts) and
    every target that is not a class label (seq2seq's token sequences)."""
    return FINGERPRINT_VERSION + _fingerprint(train_ds, test_ds, contents=True)


def fingerprint_matches(saved: str | None, fingerprint: str, train_ds, test_ds) -> bool:
    """Whether the ``saved`` fingerprint (of a state.pt) is this data's ``fingerprint``; a
    state.pt written before fingerprints covered the texts is compared as it was made."""
    if isinstance(saved, str) and not saved.startswith(FINGERPRINT_VERSION):
        return saved == _legacy_fingerprint(train_ds, test_ds)
    return saved == fingerprint


def clean_partial_writes(out: str) -> None:
    """Remove temporary files an interrupted atomic write left behind."""
    for name in os.listdir(out):
        if name.startswith(".tmp-"):
            try:
                os.unlink(os.path.join(out, name))
            except OSError:
                pass


def _not_a_run(out: str) -> list[str]:
    """What ``out`` holds besides a seqkit run's leftovers (the lock file, partial writes,
    the empty history.jsonl of a run that stopped before its first epoch ended)."""
    found = []
    for name in sorted(os.listdir(out)):
        path = os.path.join(out, name)
        if name == LOCK_FILE or name.startswith(".tmp-"):
            continue
        if name == HISTORY_FILE and os.path.isfile(path) and os.path.getsize(path) == 0:
            continue
        found.append(name + ("/" if os.path.isdir(path) else ""))
    return found


def _finished_summary(config: RunConfig, saved: dict, ckpt_path: str) -> str:
    """``top1 0.8123, 2024-05-01 12:03`` for a finished run's checkpoint."""
    from .config import make_task

    metrics = saved.get("metrics") or {}
    try:
        headline = make_task(config).headline
    except Exception:  # the summary is a courtesy; the refusal stands without it
        headline = None
    parts = []
    for key in (headline, "top1", "wer", "loss"):
        if key and isinstance(metrics.get(key), (int, float)):
            parts.append(f"{key} {metrics[key]:.4f}")
            break
    try:
        parts.append(time.strftime("%Y-%m-%d %H:%M", time.localtime(os.path.getmtime(ckpt_path))))
    except OSError:
        pass
    return ", ".join(parts)


def prepare_run_dir(config: RunConfig, log=None) -> dict | None:
    """Decide what ``config.out`` holds: ``None`` (start afresh) or the state to resume
    (``{"complete": True, ...}`` for a finished run: nothing to do). Call it while holding
    the directory's lock (:func:`lock_run_dir`).

    Without ``overwrite`` nothing is replaced: an existing run with another configuration,
    a finished run (``resume``: nothing to do), an interrupted run (``resume`` continues it)
    and files that are no seqkit run are refused in one line. An empty directory is fine.
    """
    out = config.out
    if os.path.exists(out) and not os.path.isdir(out):
        raise ConfigError(f"--out {out}: exists and is not a directory; choose another --out")
    state_path, ckpt_path = os.path.join(out, STATE_FILE), os.path.join(out, CHECKPOINT_FILE)
    existing = state_path if os.path.exists(state_path) else ckpt_path if os.path.exists(ckpt_path) else None
    if existing is None:
        other = _not_a_run(out) if os.path.isdir(out) else []
        if other and not config.overwrite:
            shown = ", ".join(other[:5]) + (f", ... ({len(other)} in all)" if len(other) > 5 else "")
            raise ConfigError(f"--out {out} holds files that are not a seqkit run ({shown}); choose another --out, "
                              f"or pass --overwrite to train into it (files of a run's names are replaced)")
        if other and log is not None:
            log(f"overwrite: training into {out}, which holds {', '.join(other[:5])}")
        if config.resume and log is not None:
            log(f"resume: {out} holds no run yet; starting a new one")
        return None
    clean_partial_writes(out)
    if config.overwrite:
        for path in (state_path, ckpt_path, os.path.join(out, METRICS_FILE)):
            if os.path.exists(path):
                os.unlink(path)
        return None
    try:
        saved = load_checkpoint(existing)
    except CheckpointError as exc:
        raise CheckpointError(f"--out {out}: {exc}; or pass --overwrite to replace what --out holds") from None
    diffs = config_differences(saved.get("config") or {}, config)
    if diffs:
        raise ConfigError(f"--out {out} holds a run with another configuration ({'; '.join(diffs[:4])}"
                          f"{'; ...' if len(diffs) > 4 else ''}); choose another --out, rerun with the same "
                          f"options, or pass --overwrite to replace it")
    interrupted = existing == state_path and not saved.get("complete", False)
    if not config.resume:
        if interrupted:
            raise ConfigError(f"--out {out} holds an interrupted run (epoch {saved['epoch']}, step {saved['step']} "
                              f"of {config.epochs} epochs); pass --resume to continue it, or --overwrite to start "
                              f"over")
        summary = _finished_summary(config, saved, ckpt_path)
        raise ConfigError(f"--out {out} holds a finished run{f' ({summary})' if summary else ''}; pass --overwrite "
                          f"to train it again, or --resume (nothing to do)")
    if existing == ckpt_path:
        saved = {"complete": True, "config": saved.get("config"), "metrics": saved.get("metrics") or {}}
    return saved
