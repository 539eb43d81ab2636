"""The commit protocol: how a run's files become visible, once, and what a crash leaves.

1. The pipeline writes only under ``<root>/_tmp/<run_id>/`` (data files with their final
   relative paths, then ``files.json``: the list of files and the outcome counts). A retried
   bundle rewrites the same temp names, so the list names each file once.
2. After ``pipeline.run().wait_until_finish()`` the launcher (not a ``DoFn``: a runner may retry
   or duplicate a ``DoFn``, never the launcher) calls :func:`commit_run`:
   a. writes the *intent* ``_tmp/<run_id>/commit.json`` (every move and the manifest), atomically;
   b. moves each file into its dataset (a move already done is skipped; a published file is
      never deleted or overwritten);
   c. writes the manifest ``_runs/<run_id>.json`` naming the files: the mark of a committed run;
   d. removes ``_tmp/<run_id>/``.
   Each step can be repeated after a crash and gives the same result.
3. The next run, holding the root's lock, calls :func:`recover` first: a temp directory with an
   intent is rolled forward (steps b-d again), one without an intent is a run that never
   finished its pipeline and is rolled back (its temp files are deleted; nothing of it was
   visible).

Readers that go through :func:`committed_files` (``newsflow query``, state, history) see only
files named by a manifest, so they never see half a run. A plain glob over ``articles/**`` can
see the files of a commit in progress (between b and c) until the next run rolls it forward.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import posixpath
from typing import Any

import apache_beam as beam
from apache_beam.io.filesystems import FileSystems

from schemas import DATASET_DIRS, DATASETS, SCHEMA_VERSION
from transforms.testhook import pause_point

log = logging.getLogger(__name__)

FILES_NAME = "files.json"  # the pipeline's output: files written + counts
INTENT_NAME = "commit.json"  # the launcher's commit intent (journal)


def join(root: str, *parts: str) -> str:
    if "://" in root:
        return posixpath.join(root.rstrip("/"), *parts)
    return os.path.join(root, *parts)


def tmp_dir(root: str, run_id: str) -> str:
    return join(root, "_tmp", run_id)


def manifest_path(root: str, run_id: str) -> str:
    return join(root, "_runs", f"{run_id}.json")


def _ensure_parent(path: str) -> None:
    if "://" in path:
        return  # object stores have no directories
    os.makedirs(os.path.dirname(path), exist_ok=True)


def _read_json(path: str) -> Any:
    with FileSystems.open(path, compression_type="uncompressed") as handle:
        return json.loads(handle.read().decode("utf-8"))


def write_json_atomic(path: str, data: Any) -> None:
    """Write ``path + '.part'``, then rename: readers see the old file or the whole new one."""
    _ensure_parent(path)
    part = path + ".part"
    with FileSystems.create(part) as handle:
        handle.write(json.dumps(data, indent=2, default=str).encode("utf-8"))
    FileSystems.rename([part], [path])


# ---------------------------------------------------------------------------------------------
# inside the pipeline


def write_file_list(root: str, run_id: str, files: list[dict], counts: dict | None) -> dict:
    listing = {"run_id": run_id,
               "files": sorted(files, key=lambda f: f["path"]),
               "counts": dict(sorted((counts or {}).items()))}
    write_json_atomic(join(tmp_dir(root, run_id), FILES_NAME), listing)
    return listing


class RecordRunFiles(beam.PTransform):
    """File infos of every dataset (+ outcome counts) -> ``_tmp/<run_id>/files.json``.

    The only thing the pipeline publishes is this list; the launcher commits it."""

    def __init__(self, root: str, run_id: str, counts=None):
        super().__init__()
        self.root, self.run_id, self.counts = root, run_id, counts

    def expand(self, file_infos):
        root, run_id = self.root, self.run_id
        side = beam.pvalue.AsDict(self.counts) if self.counts is not None else None
        return (
            file_infos
            | "GatherFiles" >> beam.combiners.ToList()
            | "WriteFileList" >> beam.Map(
                lambda files, counts: write_file_list(root, run_id, files, counts), side)
        )


# ---------------------------------------------------------------------------------------------
# in the launcher


def relative_path(root: str, path: str) -> str:
    prefix = root.rstrip("/") + "/"
    if "://" not in root:
        prefix = os.path.join(root, "")
    return path[len(prefix):] if path.startswith(prefix) else path


def build_intent(root: str, run_id: str, listing: dict, manifest: dict[str, Any]) -> dict:
    """The journal of a commit: the moves (datasets first, state last) and the manifest."""
    files = sorted(listing["files"], key=lambda f: (f["dataset"] == "state", f["path"]))
    rows: dict[str, int] = {}
    for info in files:
        rows[info["dataset"]] = rows.get(info["dataset"], 0) + info["rows"]
    final = {
        **manifest,
        "counts": listing.get("counts", manifest.get("counts", {})),
        "run_id": run_id,
        "schema_version": SCHEMA_VERSION,
        "finished_at": dt.datetime.now(dt.timezone.utc).isoformat(),
        "rows": {name: rows.get(name, 0) for name in DATASETS},
        "files": [{"dataset": f["dataset"], "path": f["path"],
                   "relative": relative_path(root, f["path"]), "rows": f["rows"]}
                  for f in files],
    }
    return {"run_id": run_id, "moves": [[f["temp"], f["path"]] for f in files],
            "manifest": final}


def apply_intent(root: str, intent: dict) -> dict:
    """Steps b-d of the protocol; safe to repeat after a crash at any point."""
    run_id = intent["run_id"]
    moves = intent["moves"]
    for index, (temp, final) in enumerate(moves, 1):
        pause_point("commit", index)
        if FileSystems.exists(final):
            # moved by an earlier attempt (or copied, on a store where rename = copy + delete):
            # the published file stays; only a leftover temp copy goes
            if FileSystems.exists(temp):
                FileSystems.delete([temp])
            continue
        if not FileSystems.exists(temp):
            raise RuntimeError(f"commit of run {run_id}: {temp} is missing and {final} was "
                               "never published")
        _ensure_parent(final)
        FileSystems.rename([temp], [final])
    pause_point("commit", len(moves) + 1)
    target = manifest_path(root, run_id)
    if not FileSystems.exists(target):
        write_json_atomic(target, intent["manifest"])
    _remove_tmp(root, run_id)
    return intent["manifest"]


def _remove_tmp(root: str, run_id: str) -> None:
    directory = tmp_dir(root, run_id)
    try:
        if "://" in root:
            files = _match(directory + "/**")
            if files:
                FileSystems.delete(files)
        elif os.path.isdir(directory):
            FileSystems.delete([directory])
    except Exception as exc:  # noqa: BLE001 - leftovers of a committed run are harmless
        log.warning("could not remove %s: %s", directory, exc)


def commit_run(root: str, run_id: str, manifest: dict[str, Any]) -> dict:
    """Commit what the pipeline of ``run_id`` wrote; returns the manifest. Idempotent."""
    target = manifest_path(root, run_id)
    intent_file = join(tmp_dir(root, run_id), INTENT_NAME)
    if FileSystems.exists(intent_file):
        intent = _read_json(intent_file)
    elif FileSystems.exists(target):
        _remove_tmp(root, run_id)
        return _read_json(target)  # committed before
    else:
        listing = _read_json(join(tmp_dir(root, run_id), FILES_NAME))
        intent = build_intent(root, run_id, listing, manifest)
        write_json_atomic(intent_file, intent)
    return apply_intent(root, intent)


def publish_files(root: str, run_id: str, files: list[dict], manifest: dict[str, Any]) -> dict:
    """Commit an explicit list of file infos (what ``WriteDataset`` emits)."""
    write_file_list(root, run_id, files, manifest.get("counts"))
    return commit_run(root, run_id, manifest)


def _match(pattern: str) -> list[str]:
    try:
        return sorted(m.path for result in FileSystems.match([pattern])
                      for m in result.metadata_list)
    except Exception:  # noqa: BLE001 - no such directory
        return []


def pending_runs(root: str) -> list[str]:
    """Run ids with a temp directory under ``_tmp/``."""
    base = join(root, "_tmp")
    if "://" not in root:
        if not os.path.isdir(base):
            return []
        return sorted(name for name in os.listdir(base) if os.path.isdir(join(base, name)))
    prefix = base.rstrip("/") + "/"
    return sorted({path[len(prefix):].split("/", 1)[0] for path in _match(prefix + "**")})


def recover(root: str, keep: str | None = None) -> dict[str, str]:
    """Finish or undo what killed runs left under ``_tmp/``; run it holding the root's lock.

    Returns ``{run_id: "rolled_forward" | "rolled_back"}``."""
    actions = {}
    for run_id in pending_runs(root):
        if run_id == keep:
            continue
        intent_file = join(tmp_dir(root, run_id), INTENT_NAME)
        if FileSystems.exists(intent_file):
            log.warning("run %s was killed during its commit: completing it", run_id)
            apply_intent(root, _read_json(intent_file))
            actions[run_id] = "rolled_forward"
        else:
            log.warning("run %s did not finish: removing its temp files (none were visible)",
                        run_id)
            _remove_tmp(root, run_id)
            actions[run_id] = "rolled_back"
    return actions


# ---------------------------------------------------------------------------------------------
# readers


def manifests(root: str) -> list[dict]:
    """Every committed run's manifest, oldest first."""
    found = []
    for path in _match(join(root, "_runs", "*.json")):
        try:
            manifest = _read_json(path)
            if not isinstance(manifest, dict):
                raise ValueError(f"a manifest is a JSON object, not {type(manifest).__name__}")
            found.append(manifest)
        except Exception as exc:  # noqa: BLE001 - one unreadable manifest is reported, skipped
            log.warning("unreadable manifest %s: %s", path, exc)
    return sorted(found, key=lambda m: (m.get("finished_at") or "", m.get("run_id") or ""))


def use_pipeline_options(options=None) -> None:
    """Beam's S3 and GCS filesystems need pipeline options even outside a pipeline (the
    launcher's lock, commit and manifests; ``newsflow query``/``compact``): without them
    ``s3://`` raises "Must provide one of client or options". Credentials then come from the
    options (``--s3_*``) or the store's usual environment variables."""
    from apache_beam.options.pipeline_options import PipelineOptions

    if options is not None or FileSystems._pipeline_options is None:
        FileSystems.set_options(options if options is not None else PipelineOptions([]))


def committed_files(root: str, dataset: str | None = None) -> list[str]:
    """Files named by committed manifests (of one dataset, or all), resolved against ``root``,
    minus those a committed compaction replaced (``replaces``, see ``pipelines/compact.py``)."""
    found = manifests(root)
    replaced = {r for manifest in found for r in manifest.get("replaces", [])}
    files = []
    for manifest in found:
        for info in manifest.get("files", []):
            if dataset is not None and info.get("dataset") != dataset:
                continue
            relative = info.get("relative")
            if relative in replaced:
                continue
            files.append(join(root, relative) if relative else info["path"])
    return sorted(set(files))


def replaced_files(root: str) -> set[str]:
    """Paths that a committed compaction replaced (still on disk for a grace period)."""
    return {join(root, r) for manifest in manifests(root) for r in manifest.get("replaces", [])}


def live_files(root: str, paths: list[str]) -> list[str]:
    """``paths`` (e.g. a glob's result) without the files a compaction replaced."""
    replaced = replaced_files(root)
    return [p for p in paths if p not in replaced] if replaced else list(paths)


def dataset_dir(root: str, dataset: str) -> str:
    return join(root, DATASET_DIRS[dataset])
