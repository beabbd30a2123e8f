"""Property-based: malformed input never crashes an importer and never half-imports.

Every importer either accepts the input (and then exports a valid file) or raises
InputError and leaves the project exactly as it was (and passes ``integrity_check``).
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from annotator.dataset.coco_import import import_coco, import_image_folder
from annotator.dataset.densepose_io import export_densepose, import_densepose
from annotator.dataset.errors import InputError
from annotator.dataset.records import TaskState
from annotator.dataset.store import Project
from annotator.dataset.validate import check_document, validate_file

from .conftest import add_person, densepose_doc, write_image

pytestmark = pytest.mark.slow

SETTINGS = settings(
    max_examples=int(os.environ.get("DPSTUDIO_FUZZ_EXAMPLES", "60")),  # raise it to dig deeper
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner, max_size=3)
    ),
    max_leaves=6,
)


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    root = tmp_path_factory.mktemp("src")
    return root / "imgs", densepose_doc(root / "imgs", n_images=3, persons_per_image=2)


def _paths(node: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path into a JSON tree (long number lists: a few elements only)."""
    out = [prefix]
    if isinstance(node, dict):
        for key, value in node.items():
            out += _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for k in sorted({0, 1, len(node) - 1} & set(range(len(node)))):
            out += _paths(node[k], (*prefix, k))
    return out


@st.composite
def mutated_text(draw: st.DrawFn, doc: dict[str, Any]) -> str:
    """The document as JSON text after one or two random mutations."""
    doc = json.loads(json.dumps(doc))
    for _ in range(draw(st.integers(1, 2))):
        kind = draw(st.sampled_from(["replace", "delete", "duplicate", "truncate"]))
        path = draw(st.sampled_from(_paths(doc)[1:]))
        parent = doc
        for key in path[:-1]:
            parent = parent[key]
        last = path[-1]
        if kind == "replace":
            parent[last] = draw(JSON_VALUES)
        elif kind == "delete" and isinstance(parent, dict):
            del parent[last]
        elif kind == "duplicate" and isinstance(parent, list):
            parent.append(json.loads(json.dumps(parent[last])))
        elif kind == "truncate":
            text = json.dumps(doc)
            return text[: draw(st.integers(0, len(text) - 1))]
    return json.dumps(doc)


def _try_import(importer: Any, text: str, images: Path) -> None:
    with tempfile.TemporaryDirectory() as folder:
        src = Path(folder) / "in.json"
        src.write_text(text)
        project = Project.create(Path(folder) / "p")
        add_person(project)  # something that must survive a failed import
        before = project.stats()
        try:
            importer(project, src, images)
        except InputError as exc:
            event("refused")
            assert exc.problems and all(p.file for p in exc.problems)
            assert project.stats() == before
        else:
            event("accepted")
            out = Path(folder) / "out.json"
            export_densepose(project, out, min_state=TaskState.TODO)
            report = validate_file(out)
            assert report.ok, report.problems[:3]
        assert project.integrity_check() == "ok"
        project.close()


@SETTINGS
@given(data=st.data())
def test_densepose_import_survives_malformed_json(data: st.DataObject, source: Any) -> None:
    images, doc = source
    text = data.draw(mutated_text(doc))
    _try_import(lambda p, s, i: import_densepose(p, s, i, surface_from_iuv=None), text, images)


@SETTINGS
@given(data=st.data())
def test_coco_import_survives_malformed_json(data: st.DataObject, source: Any) -> None:
    images, doc = source
    text = data.draw(mutated_text(doc))
    _try_import(import_coco, text, images)


@SETTINGS
@given(data=st.data())
def test_validator_never_crashes(data: st.DataObject, source: Any) -> None:
    _, doc = source
    text = data.draw(mutated_text(doc))
    try:
        parsed = json.loads(text)
    except ValueError:
        return
    check_document(parsed, "x.json")
    check_document(parsed, "x.json", person_only=True)


@SETTINGS
@given(
    files=st.lists(
        st.tuples(st.sampled_from([".jpg", ".png", ".bmp", ".tif"]), st.binary(max_size=300)),
        min_size=1,
        max_size=3,
    ),
    keep_good=st.booleans(),
)
def test_folder_import_survives_garbage_files(
    files: list[tuple[str, bytes]], keep_good: bool
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        photos = Path(folder) / "photos"
        if keep_good:
            write_image(photos / "good.jpg", 16, 12)
        for k, (suffix, payload) in enumerate(files):
            photos.mkdir(exist_ok=True)
            (photos / f"f{k}{suffix}").write_bytes(payload)
        project = Project.create(Path(folder) / "p")
        before = project.stats()
        with pytest.raises(InputError) as caught:
            import_image_folder(project, photos)
        assert any("not a readable image" in str(p) for p in caught.value.problems)
        assert project.stats() == before
        assert project.integrity_check() == "ok"
        project.close()
