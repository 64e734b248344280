"""Where ingested recordings are kept and served from: one small interface, two backends.

Asterisk always writes to its own local monitor directory; the *store* is
where a recording lives once ingested (:mod:`recordings.ingest`), where the
player reads byte ranges from, what retention deletes from and what reconcile
lists. Keys are the rows' ``storage_path`` (``YYYY/MM/DD/<id>.wav``,
``failed/<id>.wav``), the same in both backends, so a site can move its files
into a bucket under the same names.

* :class:`LocalStorage`: a directory (``recordings_dir``), the layout of every
  existing site, so they need nothing.
* :class:`S3Storage`: a bucket and key prefix on any S3-compatible store
  (``endpoint_url`` for MinIO, Ceph, Garage...), through ``boto3`` (the ``s3``
  extra).

The contract both keep (``tests/unit/test_recordings_storage.py`` runs the same
tests against each):

* ``put_file`` is all or nothing: a reader sees no key, or the whole verified
  object. Local writes ``.part`` files and renames; S3 makes an object visible
  only when its PUT (or multipart upload) completes. The store's copy is
  checked after the write (local: the copy's hash; S3: the server's SHA-256
  checksum, or its ETag when the server keeps no checksum); any mismatch
  raises :class:`ChecksumMismatch` and leaves no object.
* With ``move=True`` the source is removed only after that check, so a
  recording leaves Asterisk's directory only once the store holds it.
* A missing key raises :class:`NotInStore` (a ``FileNotFoundError``) naming it;
  a transient failure (disk full, endpoint down) raises :class:`StoreUnavailable`
  and the caller retries later; the source is left as it was.
* Keys never leave the store: ``..``, absolute or empty segments are refused
  (:class:`BadKey`), so a tampered row cannot make us read or delete elsewhere.

Every method blocks (file or network I/O): callers on the event loop run them
with ``asyncio.to_thread`` (the service, retention, reconcile), or hand a
blocking iterator to Starlette, which iterates it in its thread pool.
"""
from __future__ import annotations

import base64
import contextlib
import errno
import functools
import hashlib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Iterator, Protocol

CHUNK = 1 << 16
# Below this a file goes in one PUT with its SHA-256 checked by the server;
# above it, a multipart upload (boto3 does the parts), each part checked.
MULTIPART_THRESHOLD = 64 << 20
PART_SIZE = 16 << 20


class StorageError(Exception):
    """Base of the store's errors."""


class NotInStore(StorageError, FileNotFoundError):
    """The key is not in the store."""


class StoreUnavailable(StorageError):
    """A transient problem (disk full, permission, endpoint down): nothing was
    changed, the source is intact; try again later."""


class ChecksumMismatch(StorageError):
    """The bytes in the store (or the source) are not those expected; nothing was kept."""


class BadKey(StorageError, ValueError):
    """A key that would leave the store (``..``, absolute, empty)."""


@dataclass(frozen=True)
class ObjectStat:
    key: str
    size: int
    sha256: str | None  # hex; None when the store does not know it (local: not computed on stat)


class RecordingStorage(Protocol):
    """What the recordings code needs of a store (see the module docstring)."""

    kind: str

    def prepare(self) -> None: ...
    def put_file(self, src: Path, key: str, *, sha256: str | None = None, move: bool = False) -> ObjectStat: ...
    def put_bytes(self, key: str, data: bytes) -> None: ...
    def stat(self, key: str) -> ObjectStat: ...
    def exists(self, key: str) -> bool: ...
    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]: ...
    def read_bytes(self, key: str) -> bytes: ...
    def delete(self, key: str) -> None: ...
    def keys(self, prefix: str = "") -> Iterator[str]: ...
    def local_copy(self, key: str) -> contextlib.AbstractContextManager[Path]: ...
    def scratch(self) -> contextlib.AbstractContextManager[Path]: ...


def check_key(key: str) -> str:
    """``key`` if it names something inside the store; else :class:`BadKey`."""
    if not key or "\\" in key or "\x00" in key or key.startswith("/"):
        raise BadKey(f"storage key {key!r} is outside the recordings store")
    parts = PurePosixPath(key).parts
    if any(p in ("", ".", "..") for p in parts) or "//" in key:
        raise BadKey(f"storage key {key!r} is outside the recordings store")
    return key


@dataclass
class Fingerprint:
    """One read of a file: what every backend's verification needs."""
    size: int
    sha256: str
    md5: str
    part_sha256: list[bytes]
    part_md5: list[bytes]


def fingerprint(path: Path, part_size: int = PART_SIZE) -> Fingerprint:
    whole, whole_md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    parts, parts_md5 = [], []
    size = 0
    with open(path, "rb") as fh:
        while True:
            block = fh.read(part_size)
            if not block:
                break
            size += len(block)
            whole.update(block)
            whole_md5.update(block)
            parts.append(hashlib.sha256(block).digest())
            parts_md5.append(hashlib.md5(block, usedforsecurity=False).digest())
    return Fingerprint(size, whole.hexdigest(), whole_md5.hexdigest(), parts, parts_md5)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- local directory ---------------------------------------------------------------

class LocalStorage:
    """Recordings in a directory: ``<root>/<key>``. Names starting with ``.``
    (``.part`` files, scratch dirs) are work in progress, never keys."""

    kind = "local"

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def __repr__(self) -> str:
        return f"LocalStorage({str(self.root)!r})"

    def path(self, key: str) -> Path:
        check_key(key)
        root = self.root.resolve()
        path = (root / key).resolve()
        try:
            path.relative_to(root)
        except ValueError:
            raise BadKey(f"storage key {key!r} is outside the recordings store") from None
        return path

    def prepare(self) -> None:
        self.root.mkdir(parents=True, exist_ok=True)

    def put_file(self, src: Path, key: str, *, sha256: str | None = None, move: bool = False) -> ObjectStat:
        dest = self.path(key)
        try:
            digest = _sha256_file(src)
            if sha256 is not None and digest != sha256:
                raise ChecksumMismatch(f"{src.name}: the file's SHA-256 is {digest}, expected {sha256}")
            size = src.stat().st_size
            dest.parent.mkdir(parents=True, exist_ok=True)
            if move:
                try:  # same file system: one atomic rename, the file is in one place or the other
                    os.rename(src, dest)
                    _fsync_dir(dest.parent)
                    return ObjectStat(key, size, digest)
                except OSError as exc:
                    if exc.errno != errno.EXDEV:
                        raise
            part = dest.with_name("." + dest.name + ".part")
            try:
                with open(src, "rb") as fin, open(part, "wb") as fout:
                    shutil.copyfileobj(fin, fout, 1 << 20)
                    fout.flush()
                    os.fsync(fout.fileno())
                if _sha256_file(part) != digest:
                    raise ChecksumMismatch(f"the copy of {src.name} in the store does not match the source")
                os.replace(part, dest)
                _fsync_dir(dest.parent)
            except BaseException:
                part.unlink(missing_ok=True)
                raise
            if move:
                src.unlink()
            return ObjectStat(key, size, digest)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and not src.exists():
                raise
            if exc.errno == errno.ENOSPC:
                raise StoreUnavailable(f"disk full in recordings storage ({dest.parent}): {exc.strerror}") from None
            raise StoreUnavailable(f"cannot store into {dest.parent}: {exc}") from None

    def put_bytes(self, key: str, data: bytes) -> None:
        dest = self.path(key)
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name("." + dest.name + ".part")
        tmp.write_bytes(data)
        os.replace(tmp, dest)

    def stat(self, key: str) -> ObjectStat:
        path = self.path(key)
        try:
            st = path.stat()
        except FileNotFoundError:
            raise NotInStore(f"no {key!r} in the recordings store {self.root}") from None
        if not path.is_file():
            raise NotInStore(f"{key!r} in the recordings store {self.root} is not a file")
        return ObjectStat(key, st.st_size, None)

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Bytes ``start``..``end`` (inclusive; None: to the end), in chunks. The
        file is opened before the first chunk is asked for, so a missing key
        raises here, not halfway through a response."""
        path = self.path(key)
        try:
            fh = open(path, "rb")
        except FileNotFoundError:
            raise NotInStore(f"no {key!r} in the recordings store {self.root}") from None
        return self._chunks(fh, start, end)

    @staticmethod
    def _chunks(fh, start: int, end: int | None) -> Iterator[bytes]:
        with fh:
            fh.seek(start)
            left = None if end is None else end - start + 1
            while left is None or left > 0:
                block = fh.read(CHUNK if left is None else min(CHUNK, left))
                if not block:
                    return
                if left is not None:
                    left -= len(block)
                yield block

    def read_bytes(self, key: str) -> bytes:
        return b"".join(self.open_range(key))

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def keys(self, prefix: str = "") -> Iterator[str]:
        root = self.root
        if not root.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(root):
            dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
            for name in sorted(filenames):
                if name.startswith("."):
                    continue
                key = (Path(dirpath) / name).relative_to(root).as_posix()
                if key.startswith(prefix):
                    yield key

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """The stored file itself (read it, do not change it)."""
        self.stat(key)
        yield self.path(key)

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        """A work directory inside the store, so moving a result in is a rename."""
        self.prepare()
        with tempfile.TemporaryDirectory(dir=self.root, prefix=".tmp-") as d:
            yield Path(d)


# -- S3-compatible object store -----------------------------------------------------

class S3Storage:
    """Recordings as objects ``<prefix><key>`` in one bucket of an S3-compatible store.

    The client is ``boto3`` (thread-safe, one per store). Credentials are
    passed to it and kept nowhere else on this object, and ``repr`` names the
    bucket, prefix and endpoint only. Uploads carry a SHA-256 checksum the
    server verifies on receipt; afterwards ``HEAD`` must report our size and
    our checksum (the whole-object one for a single PUT, the checksum of the
    parts' checksums for a multipart upload) or, from a server that keeps no
    checksums, our MD5 ETag. A failed check deletes the object.

    Incomplete multipart uploads are never objects (nothing lists or reads
    them); a crash mid-upload leaves only such an upload, which boto3 aborts
    on errors and a bucket lifecycle rule (README) cleans up after a crash.
    """

    kind = "s3"

    def __init__(self, *, bucket: str, prefix: str = "", endpoint_url: str | None = None,
                 region: str | None = None, access_key: str | None = None, secret_key: str | None = None,
                 multipart_threshold: int = MULTIPART_THRESHOLD, part_size: int = PART_SIZE) -> None:
        try:
            import boto3
            from boto3.s3.transfer import TransferConfig
            from botocore.config import Config
        except ImportError:
            raise StorageError("recordings_storage = 's3' needs boto3: pip install 'ctidesk[s3]'") from None
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.endpoint_url = endpoint_url or None
        self.part_size = part_size
        self._client = boto3.session.Session().client(
            "s3", endpoint_url=self.endpoint_url, region_name=region or None,
            aws_access_key_id=access_key or None, aws_secret_access_key=secret_key or None,
            config=Config(retries={"max_attempts": 3, "mode": "standard"}, connect_timeout=5, read_timeout=60,
                          s3={"addressing_style": "path"} if self.endpoint_url else None))
        self._transfer = TransferConfig(multipart_threshold=multipart_threshold, multipart_chunksize=part_size,
                                        use_threads=False)

    def __repr__(self) -> str:
        return f"S3Storage(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint={self.endpoint_url!r})"

    def _name(self, key: str) -> str:
        return self.prefix + check_key(key)

    def _where(self, key: str) -> str:
        return f"s3://{self.bucket}/{self.prefix}{key}"

    @staticmethod
    def _code(exc) -> str:
        return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))

    def _unavailable(self, what: str, exc: Exception) -> StoreUnavailable:
        # botocore's messages name the operation and the server's error, never the credentials
        return StoreUnavailable(f"{what} (bucket {self.bucket!r}): {exc}")

    def prepare(self) -> None:
        return None  # the bucket is the site's to create (README); a missing one shows in every put's error

    def put_file(self, src: Path, key: str, *, sha256: str | None = None, move: bool = False) -> ObjectStat:
        from boto3.exceptions import Boto3Error
        from botocore.exceptions import BotoCoreError, ClientError

        name = self._name(key)
        fp = fingerprint(src, self.part_size)
        if sha256 is not None and fp.sha256 != sha256:
            raise ChecksumMismatch(f"{src.name}: the file's SHA-256 is {fp.sha256}, expected {sha256}")
        try:
            self._client.upload_file(str(src), self.bucket, name, Config=self._transfer,
                                     ExtraArgs={"ChecksumAlgorithm": "SHA256", "Metadata": {"sha256": fp.sha256}})
            head = self._client.head_object(Bucket=self.bucket, Key=name, ChecksumMode="ENABLED")
        except (ClientError, Boto3Error) as exc:  # upload_file wraps the server's error in S3UploadFailedError
            if any(code in str(exc) for code in ("BadDigest", "InvalidDigest", "XAmzContentSHA256Mismatch")):
                raise ChecksumMismatch(f"the store refused {self._where(key)}: {exc}") from None
            raise self._unavailable(f"cannot upload {src.name} to {self._where(key)}", exc) from None
        except (BotoCoreError, OSError) as exc:
            raise self._unavailable(f"cannot upload {src.name} to {self._where(key)}", exc) from None
        problem = self._verify(head, fp)
        if problem:
            with contextlib.suppress(Exception):
                self._client.delete_object(Bucket=self.bucket, Key=name)
            raise ChecksumMismatch(f"{self._where(key)} after upload: {problem}; the object was removed")
        if move:
            src.unlink()
        return ObjectStat(key, fp.size, fp.sha256)

    @staticmethod
    def _verify(head: dict, fp: Fingerprint) -> str | None:
        """Why the object ``head`` describes is not the file ``fp``, or None."""
        if head.get("ContentLength") != fp.size:
            return f"{head.get('ContentLength')} bytes in the store, {fp.size} in the file"
        b64 = lambda raw: base64.b64encode(raw).decode()  # noqa: E731
        n = len(fp.part_sha256)
        got = head.get("ChecksumSHA256")
        if got:
            whole = b64(bytes.fromhex(fp.sha256))
            composite = b64(hashlib.sha256(b"".join(fp.part_sha256)).digest())
            if got in (whole, composite, f"{composite}-{n}"):
                return None
            return f"the store's SHA-256 checksum {got} is not the file's"
        etag = (head.get("ETag") or "").strip('"')
        composite_md5 = hashlib.md5(b"".join(fp.part_md5), usedforsecurity=False).hexdigest()
        if etag in (fp.md5, f"{composite_md5}-{n}"):
            return None
        return f"the store kept no checksum and its ETag {etag!r} is not the file's MD5"

    def put_bytes(self, key: str, data: bytes) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.put_object(Bucket=self.bucket, Key=self._name(key), Body=data, ChecksumAlgorithm="SHA256")
        except (ClientError, BotoCoreError) as exc:
            raise self._unavailable(f"cannot write {self._where(key)}", exc) from None

    def _missing(self, exc) -> bool:
        return self._code(exc) in ("404", "NoSuchKey", "NotFound")

    def stat(self, key: str) -> ObjectStat:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            head = self._client.head_object(Bucket=self.bucket, Key=self._name(key))
        except ClientError as exc:
            if self._missing(exc):
                raise NotInStore(f"no {self._where(key)} in the recordings store") from None
            raise self._unavailable(f"cannot read {self._where(key)}", exc) from None
        except BotoCoreError as exc:
            raise self._unavailable(f"cannot read {self._where(key)}", exc) from None
        return ObjectStat(key, head["ContentLength"], (head.get("Metadata") or {}).get("sha256"))

    def exists(self, key: str) -> bool:
        try:
            self.stat(key)
        except NotInStore:
            return False
        return True

    def open_range(self, key: str, start: int = 0, end: int | None = None) -> Iterator[bytes]:
        """Like :meth:`LocalStorage.open_range`: the GET is sent here (a missing key
        raises now), the body is read chunk by chunk as the caller iterates."""
        from botocore.exceptions import BotoCoreError, ClientError

        args = {"Bucket": self.bucket, "Key": self._name(key)}
        if start or end is not None:
            args["Range"] = f"bytes={start}-{'' if end is None else end}"
        try:
            body = self._client.get_object(**args)["Body"]
        except ClientError as exc:
            if self._missing(exc):
                raise NotInStore(f"no {self._where(key)} in the recordings store") from None
            raise self._unavailable(f"cannot read {self._where(key)}", exc) from None
        except BotoCoreError as exc:
            raise self._unavailable(f"cannot read {self._where(key)}", exc) from None
        return self._chunks(body)

    @staticmethod
    def _chunks(body) -> Iterator[bytes]:
        try:
            yield from body.iter_chunks(CHUNK)
        finally:
            body.close()

    def read_bytes(self, key: str) -> bytes:
        return b"".join(self.open_range(key))

    def delete(self, key: str) -> None:
        from botocore.exceptions import BotoCoreError, ClientError

        try:
            self._client.delete_object(Bucket=self.bucket, Key=self._name(key))
        except (ClientError, BotoCoreError) as exc:
            raise self._unavailable(f"cannot delete {self._where(key)}", exc) from None

    def keys(self, prefix: str = "") -> Iterator[str]:
        from botocore.exceptions import BotoCoreError, ClientError

        pages = self._client.get_paginator("list_objects_v2").paginate(Bucket=self.bucket,
                                                                       Prefix=self.prefix + prefix)
        try:
            for page in pages:
                for obj in page.get("Contents", ()):
                    yield obj["Key"][len(self.prefix):]
        except (ClientError, BotoCoreError) as exc:
            raise self._unavailable("cannot list the recordings store", exc) from None

    @contextlib.contextmanager
    def local_copy(self, key: str) -> Iterator[Path]:
        """A temporary local file with the object's bytes (for decoding), removed after."""
        with self.scratch() as d:
            path = d / PurePosixPath(check_key(key)).name
            with open(path, "wb") as fh:
                for block in self.open_range(key):
                    fh.write(block)
            yield path

    @contextlib.contextmanager
    def scratch(self) -> Iterator[Path]:
        with tempfile.TemporaryDirectory(prefix="ctidesk-rec-") as d:
            yield Path(d)


# -- choosing one ---------------------------------------------------------------------

def as_storage(store: "RecordingStorage | Path | str") -> RecordingStorage:
    """A store from a store or a directory (the local backend)."""
    return LocalStorage(Path(store)) if isinstance(store, (str, Path)) else store


@functools.lru_cache(maxsize=8)
def from_settings(settings) -> RecordingStorage:
    """The store the settings describe; one per (frozen, hashable) settings
    object, so the S3 client and its connection pool are made once."""
    if settings.recordings_storage == "s3":
        return S3Storage(bucket=settings.recordings_s3_bucket, prefix=settings.recordings_s3_prefix,
                         endpoint_url=settings.recordings_s3_endpoint or None,
                         region=settings.recordings_s3_region or None,
                         access_key=settings.recordings_s3_access_key or None,
                         secret_key=settings.recordings_s3_secret_key or None)
    return LocalStorage(settings.effective_recordings_dir)
