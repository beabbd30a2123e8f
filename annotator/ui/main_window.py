"""The main window. It only assembles: actions, menus, docks and panels come from the small
``setup_*`` functions of :mod:`annotator.ui.window_setup` and from binding classes; what they
do lives in their own modules.

Layout: the image list dock on the left; in the middle the canvas and, beside it, the panel
of the current stage ("1 Parts": the palette and tools; "2 Points": the stage-2 panel).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import QEvent, QTimer
from PySide6.QtGui import QCloseEvent
from PySide6.QtWidgets import (
    QApplication,
    QMainWindow,
    QMessageBox,
)

from annotator.dataset.records import Person, TaskState, is_machine
from annotator.ui.actions import setup_actions
from annotator.ui.app import apply_theme, show_error
from annotator.ui.boxes import BoxLayer
from annotator.ui.canvas import Canvas
from annotator.ui.dialogs import ABOUT, SettingsDialog, ShortcutsDialog
from annotator.ui.image_list import STATE_WORDS, ImageListPanel
from annotator.ui.images import ImageLoader
from annotator.ui.models.host import ModelHost
from annotator.ui.navigation import Navigator
from annotator.ui.overlays import OverlayLayer
from annotator.ui.palette import Stage1Panel
from annotator.ui.projects import ProjectController
from annotator.ui.session import Session
from annotator.ui.settings import Settings
from annotator.ui.stage1 import Stage1Controller
from annotator.ui.stage2_host import Stage2Host, stage2_keys
from annotator.ui.status import StatusBinding
from annotator.ui.window_setup import (
    connect_actions,
    set_editable,
    setup_accuracy_dock,
    setup_central,
    setup_dock,
    setup_menus,
    setup_team_dock,
    setup_toolbar,
)
from annotator.ui.workers import cancel_running

log = logging.getLogger(__name__)


class MainWindow(QMainWindow):
    """DensePose Studio's window: the image list, the canvas, the panel of each stage."""

    def __init__(self, settings: Settings) -> None:
        super().__init__()
        self.setObjectName("main-window")
        self.settings = settings
        self.session: Session | None = None
        self.stage = 1
        self.loader = ImageLoader(parent=self)
        self.canvas = Canvas()
        self.image_list = ImageListPanel()
        self.navigator = Navigator(self.image_list.ordered_ids, self._persons, self)
        self.boxes = BoxLayer(self.canvas, self.navigator, self)
        self.overlays = OverlayLayer(self.canvas, self.navigator, self)
        self.stage1 = Stage1Controller(
            self.canvas, self.navigator, self.boxes, lambda: self.session, self
        )
        self.acts = setup_actions(self)
        self.stage1_panel = Stage1Panel(
            self.stage1, self.overlays, self.acts.tools(), self.acts.parts_done
        )
        self.stage2 = Stage2Host(self.canvas, self._on_answers, settings)
        self.central = setup_central(self)
        self.images_dock = setup_dock(self)
        self.accuracy_dock = setup_accuracy_dock(self)
        self.team_dock = setup_team_dock(self)
        self.models = ModelHost(
            self,
            lambda: self.session,
            lambda: self.navigator.image_id,
            lambda: self.navigator.person_id,
            self.image_list.ordered_ids,
            lambda text: self.status.message(text),
        )
        self.menus = setup_menus(self)
        self.toolbar = setup_toolbar(self)
        self.status = StatusBinding(self.statusBar())
        self.projects = ProjectController(self, settings)
        connect_actions(self, self.acts)
        self._connect_views()
        self._restore_settings()
        self.set_session(None)

    # -- session ---------------------------------------------------------------------------

    def set_session(self, session: Session | None) -> None:
        """Show another project (None: none); the old one is saved and closed."""
        old, self.session = self.session, session
        self.stage2.set_session(None)
        self.accuracy_dock.set_session(None)
        if old is not None:
            self._close_session(old)
        self.loader.clear()
        self.navigator.set_image(None)
        self.image_list.model.load(session)
        self.boxes.set_session(session)
        self.overlays.set_session(session)
        self.stage2.set_session(session)
        self.accuracy_dock.set_session(session)
        self.team_dock.set_session(session)
        self.models.set_session(session)
        self.status.refresh_progress(session)
        self.status.set_server("")
        if session is None:
            self.status.set_annotator(self.settings.annotator)
            self.show_empty("Open a project (Ctrl+O), create one (Ctrl+N), or open the demo.")
            self._update_title()
            return
        session.focusPerson.connect(self._on_focus_person)
        session.personsChanged.connect(self._on_persons_changed)
        session.taskChanged.connect(lambda image_id, _: self._on_persons_changed(image_id))
        session.savePending.connect(self.status.set_saving)
        session.saveFailed.connect(self._on_save_failed)
        self.status.set_annotator(session.annotator, session.readonly)
        self.status.set_saving(False)
        set_editable(self, not session.readonly)
        ids = self.image_list.ordered_ids()
        last = self.settings.last_image(session.path)
        if ids:
            self.navigator.set_image(last if last in ids else ids[0])
        else:
            self.show_empty("This project has no images yet: add a folder of images (Ctrl+I).")
        QTimer.singleShot(1500, self.stage2.prewarm)

    def _close_session(self, session: Session) -> None:
        try:
            session.close()
        except Exception as exc:
            log.exception("closing the project failed")
            show_error("Closing the project failed", str(exc))

    def show_empty(self, message: str) -> None:
        """No image to show: a message on the canvas."""
        self.canvas.set_image(None, message)

    def _persons(self, image_id: int) -> list[Person]:
        return [] if self.session is None else self.session.persons(image_id)

    # -- images and persons ----------------------------------------------------------------

    def _on_image_changed(self, image_id: int | None) -> None:
        session = self.session
        self.canvas.show_marker(-1, -1)
        if session is None or image_id is None:
            self.canvas.set_image(None, "" if session is None else "No image")
            self.boxes.rebuild()
            self.overlays.rebuild()
            self._update_title()
            return
        session.set_current_image(image_id)
        record = session.image(image_id)
        image = self.loader.request(image_id, session.image_source(record))
        if image is not None:
            self._show_loaded(image_id)
        else:
            self.canvas.set_image(None, f"Loading {record.file_name}...")
        self.boxes.rebuild()
        self.overlays.rebuild()
        self.image_list.select_image(image_id)
        self.settings.set_last_image(session.path, image_id)
        self._update_title()

    def _on_loaded(self, image_id: int) -> None:
        if self.session is not None and image_id == self.navigator.image_id:
            self._show_loaded(image_id)

    def _show_loaded(self, image_id: int) -> None:
        session = self.session
        image = self.loader.get(image_id)
        if session is None or image is None:
            return
        record = session.image(image_id)
        if image.error:
            self.canvas.set_image(None, f"Cannot show {record.file_name}:\n{image.error}")
        else:
            self.canvas.set_image(image)
            if (image.width, image.height) != (record.width, record.height):
                self.status.message(
                    f"Warning: the file is {image.width} x {image.height} pixels, the project "
                    f"says {record.width} x {record.height}."
                )
        self._prefetch(image_id)
        self._update_stage2_task()

    def _prefetch(self, image_id: int) -> None:
        session = self.session
        ids = self.image_list.ordered_ids()
        if session is None or image_id not in ids:
            return
        k = ids.index(image_id)
        for j in (k + 1, k - 1):
            if 0 <= j < len(ids):
                self.loader.request(ids[j], session.image_source(session.image(ids[j])))

    def _on_person_changed(self, person_id: int | None) -> None:
        self._refresh_persons_list()
        self._update_person_label()
        self._update_stage2_task()
        self._update_title()

    def _on_focus_person(self, person_id: int) -> None:
        session = self.session
        if session is None:
            return
        try:
            image_id = session.person(person_id).image_id
        except KeyError:
            return
        if image_id == self.navigator.image_id:
            self.navigator.set_person(person_id)

    def _on_persons_changed(self, image_id: int) -> None:
        session = self.session
        if session is None:
            return
        self.image_list.model.refresh(session, image_id)
        if image_id == self.navigator.image_id:
            ids = {p.id for p in self.navigator.annotatable()}
            if self.navigator.person_id not in ids:
                self.navigator.set_person(next(iter(sorted(i for i in ids if i)), None))
            self._refresh_persons_list()
            self._update_person_label()
        self.status.refresh_progress(session)

    def _on_answers(self) -> None:
        if self.session is not None and self.navigator.image_id is not None:
            self._on_persons_changed(self.navigator.image_id)
            self.boxes.rebuild()  # the panel may have moved the task to "done"

    def _on_save_failed(self, message: str) -> None:
        self.status.set_failed()
        show_error(
            "Not saved",
            message + "\n\nThe edit is kept in this window; the next "
            "stroke saves the whole person again.",
        )

    def _refresh_persons_list(self) -> None:
        session, image_id = self.session, self.navigator.image_id
        if session is None or image_id is None:
            self.image_list.persons.clear()
            return
        self.image_list.show_persons(
            session.persons(image_id), self.navigator.person_id, session.gold_ids()
        )

    def _update_person_label(self) -> None:
        session, pid = self.session, self.navigator.person_id
        if session is None or pid is None:
            self.stage1_panel.person_label.setText("No person selected: draw a box (N)")
            return
        person = session.person(pid)
        gold = " · gold task" if session.is_gold(pid) else ""
        proposal = session.pending_proposals(person.image_id).get(pid)
        review = ""
        if proposal is not None:
            review = (
                f"\nproposed by {proposal.model} ({proposal.score:.2f}): K accepts, Shift+K rejects"
            )
        self.stage1_panel.person_label.setText(
            f"Person #{pid} · {STATE_WORDS[person.state]}{gold}{review}"
        )

    def _update_title(self) -> None:
        session, image_id = self.session, self.navigator.image_id
        if session is None:
            self.setWindowTitle("DensePose Studio")
            return
        i, n = self.navigator.position()
        name = session.image(image_id).file_name if image_id is not None else "no image"
        person = self.navigator.person_id
        who = f" · person #{person}" if person is not None else ""
        ro = " (read-only)" if session.readonly else ""
        self.setWindowTitle(f"{name} [{i}/{n}]{who} — {session.name}{ro} — DensePose Studio")

    # -- stages ----------------------------------------------------------------------------

    def set_stage(self, stage: int) -> None:
        """Show stage 1 (parts) or stage 2 (points)."""
        if stage == 2 and self.stage == 1:
            self._leave_stage1()
        self._save_splitter()
        self.stage = stage
        self.settings.stage = stage
        self.acts.stage1.setChecked(stage == 1)
        self.acts.stage2.setChecked(stage == 2)
        self.central.stages.setCurrentIndex(stage - 1)
        self.stage1.set_active(stage == 1)
        set_editable(self, self.session is not None and not self.session.readonly)
        if stage == 1:
            self.canvas.show_marker(-1, -1)
            self.status.set_tool(self.stage1.describe())
        else:
            self.status.set_tool("stage 2 · points")
            self.stage2.ensure_panel()
        sizes = self.settings.splitter_sizes(stage)
        width = max(self.central.splitter.width(), 800)
        default = [width - 320, 320] if stage == 1 else [width * 7 // 20, width - width * 7 // 20]
        self.central.splitter.setSizes(sizes or default)
        self._update_stage2_task()

    def _leave_stage1(self) -> None:
        """Going to stage 2: the person's parts are done if it has any."""
        session, pid = self.session, self.navigator.person_id
        if session is None or pid is None:
            return
        session.flush()
        if session.readonly or session.person(pid).state >= TaskState.SEGMENTED:
            return
        if session.label_map(pid).any():
            session.set_state(pid, TaskState.SEGMENTED)

    def parts_done(self) -> None:
        if self.stage1.parts_done():
            self.set_stage(2)

    def _update_stage2_task(self) -> None:
        if self.stage != 2 or self.session is None:
            return
        session, pid, image_id = self.session, self.navigator.person_id, self.navigator.image_id
        image = self.loader.get(image_id) if image_id is not None else None
        rgb = image.rgb() if image is not None and not image.error else None
        if pid is not None and session.person(pid).state < TaskState.SEGMENTED:
            self.status.message(f"Person #{pid}: paint its parts first (F1), then Ctrl+Enter.")
            pid = None
        session.flush()
        self.stage2.set_task(pid if rgb is not None else None, rgb if pid is not None else None)

    def _save_splitter(self) -> None:
        sizes = self.central.splitter.sizes()
        if len(sizes) == 2 and min(sizes) > 0:
            self.settings.set_splitter_sizes(self.stage, sizes)

    # -- small commands --------------------------------------------------------------------

    def undo(self) -> None:
        if self.session is not None:
            self.session.undo_group.undo()

    def redo(self) -> None:
        if self.session is not None:
            self.session.undo_group.redo()

    def delete_person(self) -> None:
        session, pid = self.session, self.navigator.person_id
        if session is None or pid is None or session.readonly or self.stage != 1:
            return
        session.delete_person(pid)
        self.status.message(f"Person #{pid} deleted (Ctrl+Z brings it back).")

    def go_to_person(self, person_id: int | None = None, step: int = 0) -> None:
        """Select a person from the keyboard or the list, and bring its box into view."""
        if step:
            self.navigator.step_person(step)
        else:
            self.navigator.set_person(person_id)
        pid = self.navigator.person_id
        item = self.boxes.item(pid) if pid is not None else None
        if item is not None and self.canvas.has_image():
            self.canvas.ensure_visible(item.rect)

    def step_image(self, step: int) -> None:
        if not self.navigator.step_image(step):
            self.status.message("Last image of the list." if step > 0 else "First image.")

    def change_opacity(self, delta: float) -> None:
        opacity = min(max(self.overlays.opacity + delta, 0.0), 1.0)
        self.stage1_panel.brush.opacity.setValue(round(opacity * 100))

    def show_settings(self) -> None:
        dialog = SettingsDialog(self.settings, self)
        if not dialog.exec():
            return
        name, theme = dialog.values()
        if is_machine(name):
            self.status.message("Names starting with 'model:' are kept for models.")
            name = ""
        if name and name != self.settings.annotator:
            self.settings.annotator = name
            if self.session is not None:
                self.session.flush()
                self.session.annotator = name
                self.stage2.set_session(self.session)
                if self.stage == 2:
                    self.set_stage(2)
            self.status.set_annotator(name, bool(self.session and self.session.readonly))
        self.set_theme(theme)

    def set_theme(self, theme: str) -> None:
        self.settings.theme = theme
        self.acts.dark_theme.setChecked(theme == "dark")
        app = QApplication.instance()
        if isinstance(app, QApplication):
            apply_theme(app, theme)

    def show_shortcuts(self) -> None:
        ShortcutsDialog([*self.acts.all(), *self.models.actions], self, stage2_keys()).exec()

    def show_about(self) -> None:
        QMessageBox.about(self, "About DensePose Studio", ABOUT)

    def _connect_views(self) -> None:
        """Bind the views to the navigator, the loader and the status bar."""
        nav, s1, status = self.navigator, self.stage1, self.status
        nav.imageChanged.connect(self._on_image_changed)
        nav.personChanged.connect(self._on_person_changed)
        self.loader.loaded.connect(self._on_loaded)
        self.image_list.imageActivated.connect(nav.set_image)
        self.image_list.personActivated.connect(self.go_to_person)
        self.image_list.model.modelReset.connect(self._update_title)
        self.canvas.zoomChanged.connect(status.set_zoom)
        self.canvas.cursorMoved.connect(status.set_position)
        s1.message.connect(status.message)
        self.stage2.statusMessage.connect(status.message)
        self.accuracy_dock.statusMessage.connect(status.message)
        self.team_dock.taskClaimed.connect(self.go_to_person)
        tool_actions = dict(
            zip(("box", "brush", "eraser", "polygon", "fill"), self.acts.tools(), strict=True)
        )
        s1.toolChanged.connect(lambda name: tool_actions[name].setChecked(True))
        s1.protectChanged.connect(self.acts.protect.setChecked)
        for signal in (s1.toolChanged, s1.partChanged, s1.brushChanged):
            signal.connect(self._show_tool)
        status.set_tool(s1.describe())

    def _show_tool(self, *_: object) -> None:
        if self.stage == 1:
            self.status.set_tool(self.stage1.describe())

    # -- settings and closing --------------------------------------------------------------

    def _restore_settings(self) -> None:
        geometry, state = self.settings.window_geometry(), self.settings.window_state()
        if geometry is not None:
            self.restoreGeometry(geometry)
        else:
            self.resize(1500, 920)
        if state is not None:
            self.restoreState(state)
        self.stage1.set_brush_size(self.settings.brush_size)
        self.stage1.set_protect(self.settings.protect_parts)
        self.stage1_panel.brush.opacity.setValue(round(self.settings.opacity * 100))
        self.acts.dark_theme.setChecked(self.settings.theme == "dark")
        self.set_stage(1)

    def _store_settings(self) -> None:
        self._save_splitter()
        self.settings.save_window(self.saveGeometry(), self.saveState())
        self.settings.brush_size = self.stage1.brush_size
        self.settings.opacity = self.overlays.opacity
        self.settings.protect_parts = self.stage1.protect
        self.settings.sync()

    def closeEvent(self, event: QCloseEvent) -> None:
        if not self.models.confirm_close():  # a model at work: asked, stopping, or kept
            event.ignore()
            return
        if cancel_running():  # close once the work in progress has stopped
            self.status.message("Stopping the work in progress; close again when it is done.")
            event.ignore()
            return
        self._store_settings()
        self.stage2.shutdown()
        self.accuracy_dock.shutdown()
        self.models.shutdown()
        if self.session is not None:
            self._close_session(self.session)
            self.session = None
        self.loader.shutdown()
        event.accept()

    def changeEvent(self, event: QEvent) -> None:
        super().changeEvent(event)
        if event.type() == QEvent.Type.ActivationChange and self.session is not None:
            self.session.flush()  # leaving the window: everything is on disk
