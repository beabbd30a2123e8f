"""Project commands in the window: new, add images, import COCO boxes, recent projects."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from annotator.dataset.store import Project

from .helpers import draw_figure

pytestmark = pytest.mark.gui


def write_images(folder: Path, n: int) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for k in range(n):
        cv2.imwrite(str(folder / f"photo{k}.png"), draw_figure(200, 160, k))
    return folder


def test_new_project_then_add_a_folder_of_images(window, tmp_path, qtbot) -> None:
    assert window.projects.new_dialog(str(tmp_path / "fresh"))
    assert window.session is not None and window.image_list.ordered_ids() == []
    assert window.canvas._message.isVisible()
    images = write_images(tmp_path / "photos", 3)
    assert window.projects.add_images(str(images))
    assert window.session is not None and not window.session.readonly
    assert len(window.image_list.ordered_ids()) == 3
    qtbot.waitUntil(window.canvas.has_image, timeout=5000)
    assert "[1/3]" in window.windowTitle()


def test_import_coco_boxes_adds_persons_and_keeps_the_place(window, tmp_path, qtbot) -> None:
    window.projects.new_dialog(str(tmp_path / "proj"))
    images = write_images(tmp_path / "photos", 2)
    doc = {
        "images": [
            {"id": 7, "file_name": "photo0.png", "width": 200, "height": 160},
            {"id": 8, "file_name": "photo1.png", "width": 200, "height": 160},
        ],
        "annotations": [
            {
                "id": 70,
                "image_id": 7,
                "category_id": 1,
                "bbox": [60, 10, 80, 140],
                "iscrowd": 0,
                "area": 11200,
            },
            {
                "id": 80,
                "image_id": 8,
                "category_id": 1,
                "bbox": [10, 10, 50, 100],
                "iscrowd": 0,
                "area": 5000,
            },
            {
                "id": 81,
                "image_id": 8,
                "category_id": 1,
                "bbox": [100, 10, 50, 100],
                "iscrowd": 1,
                "area": 5000,
            },
        ],
        "categories": [{"id": 1, "name": "person", "supercategory": "person"}],
    }
    json_path = tmp_path / "instances.json"
    json_path.write_text(json.dumps(doc))
    assert window.projects.import_coco(str(json_path), str(images))
    qtbot.waitUntil(window.canvas.has_image, timeout=5000)
    assert window.image_list.ordered_ids() == [7, 8]
    assert window.navigator.person_id == 70
    window.navigator.set_image(8)
    assert [p.id for p in window.navigator.annotatable()] == [80]  # the crowd is no task
    assert len(window.boxes.items()) == 2


def test_a_failed_import_leaves_the_project_open_and_says_why(
    window, project_path, tmp_path, monkeypatch, qtbot
) -> None:
    shown = []
    monkeypatch.setattr("annotator.ui.projects.show_error", lambda t, m, d="": shown.append(m))
    window.projects.open_path(project_path)
    assert not window.projects.add_images(str(tmp_path / "no such folder"))
    assert shown and "not a folder" in shown[0]
    assert window.session is not None and window.session.path == str(project_path)


def test_recent_projects_fill_the_menu(window, project_path, tmp_path) -> None:
    window.projects.open_path(project_path)
    menu = window.menus.recent
    window.projects.fill_recent_menu(menu)
    assert [a.text() for a in menu.actions()] == [str(project_path)]
    with Project.open(project_path, readonly=True) as project:
        assert project.stats().images == 3
