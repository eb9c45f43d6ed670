"""A Lambda function's deployment package as a folder the runtime imports the handler from.

A SAM `CodeUri` (and a layer's `ContentUri`) is a local folder, a local file or an S3 URI; a function
may carry `InlineCode` instead.
https://docs.aws.amazon.com/serverless-application-model/latest/developerguide/sam-resource-function.html
(AWS::Serverless::Function: CodeUri, InlineCode)
- a folder is used as it is (and `sam build` builds it: localfaas.build);
- a .zip (or .jar) is the deployment package itself: Lambda extracts it into /var/task;
- any other single file is zipped on its own by `sam package` / `aws cloudformation package` (a
  function's code is always a .zip), so it is the package's only file;
- `InlineCode` becomes `Code.ZipFile`, which CloudFormation "places in a file named index" (index.py
  for Python) and zips.
https://docs.aws.amazon.com/AWSCloudFormation/latest/TemplateReference/aws-properties-lambda-function-code.html
(AWS::Lambda::Function Code: ZipFile)
Each package is unpacked once per content (its SHA-256) into an owner-only folder under the system's
temporary folder, so loading a template twice unpacks nothing.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

__all__ = ["PackageError", "inline_package", "package_folder"]

# CloudFormation names the inline file after the runtime's language: index.py for Python.
INLINE_FILE = "index.py"
_ARCHIVES = (".zip", ".jar")


class PackageError(Exception):
    """A deployment package that cannot be opened; the message names it."""


def package_folder(path: Path) -> Path:
    """The folder behind a CodeUri/ContentUri path: a folder as it is, a file unpacked (see above)."""
    if path.is_dir() or not path.exists():
        return path  # a missing folder fails at import, as on Lambda
    data = path.read_bytes()
    if path.suffix.lower() in _ARCHIVES:
        return _unpacked(data, path.name, lambda folder: _extract(path, folder))
    return _unpacked(data, path.name, lambda folder: (folder / path.name).write_bytes(data))


def inline_package(source: str) -> Path:
    """The folder Lambda would extract an InlineCode function into: index.py holding `source`."""
    data = source.encode()
    return _unpacked(data, INLINE_FILE, lambda folder: (folder / INLINE_FILE).write_bytes(data))


def _root() -> Path:
    root = Path(tempfile.gettempdir()) / f"localfaas-packages-{os.getuid()}"
    root.mkdir(mode=0o700, exist_ok=True)
    return root


def _unpacked(data: bytes, name: str, fill) -> Path:
    digest = hashlib.sha256(name.encode() + b"\0" + data).hexdigest()[:24]
    folder = _root() / digest
    if folder.is_dir():
        return folder
    staging = Path(tempfile.mkdtemp(prefix=f".{digest}.", dir=_root()))
    try:
        fill(staging)
        staging.rename(folder)
    except OSError:
        if not folder.is_dir():
            raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)  # gone already when the rename succeeded
    return folder


def _extract(path: Path, folder: Path) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            # extractall drops absolute paths and "..", so nothing lands outside `folder`.
            archive.extractall(folder)
    except zipfile.BadZipFile:
        raise PackageError(f"{path} is not a valid zip file") from None
