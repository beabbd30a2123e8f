"""How the main window is put together: its central area, docks, menus, toolbar, and the
bindings of actions and views. Small functions the window calls once; each returns what it
built (named tuples) so the window keeps handles on them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QDockWidget, QMenu, QSizePolicy, QSplitter, QStackedWidget, QToolBar

from annotator.ui.accuracy_host import AccuracyDock
from annotator.ui.actions import Actions
from annotator.ui.team_view import TeamDock

if TYPE_CHECKING:
    from annotator.ui.main_window import MainWindow


class Central(NamedTuple):
    splitter: QSplitter
    stages: QStackedWidget


class Menus(NamedTuple):
    file: QMenu
    recent: QMenu
    edit: QMenu
    view: QMenu
    go: QMenu
    stage: QMenu
    tools: QMenu
    model: QMenu
    help: QMenu


class StageStack(QStackedWidget):
    """A stack sized by its current page only (the stage-2 panel is much wider than the
    stage-1 panel; the hidden one must not widen the other)."""

    def __init__(self) -> None:
        super().__init__()
        self.currentChanged.connect(self._fit_page)

    def _fit_page(self, index: int) -> None:
        for k in range(self.count()):
            page = self.widget(k)
            policy = QSizePolicy.Policy.Preferred if k == index else QSizePolicy.Policy.Ignored
            if page is not None:
                page.setSizePolicy(policy, policy)
        self.updateGeometry()


def setup_central(w: MainWindow) -> Central:
    stages = StageStack()
    stages.addWidget(w.stage1_panel)
    stages.addWidget(w.stage2)
    splitter = QSplitter(Qt.Orientation.Horizontal)
    splitter.addWidget(w.canvas)
    splitter.addWidget(stages)
    splitter.setStretchFactor(0, 1)
    splitter.setChildrenCollapsible(False)
    stages.setCurrentIndex(1)
    stages.setCurrentIndex(0)
    w.setCentralWidget(splitter)
    return Central(splitter, stages)


def setup_dock(w: MainWindow) -> QDockWidget:
    dock = QDockWidget("Images", w)
    dock.setObjectName("images-dock")
    dock.setWidget(w.image_list)
    dock.setFeatures(
        QDockWidget.DockWidgetFeature.DockWidgetMovable
        | QDockWidget.DockWidgetFeature.DockWidgetFloatable
    )
    w.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, dock)
    w.resizeDocks([dock], [320], Qt.Orientation.Horizontal)
    return dock


def setup_accuracy_dock(w: MainWindow) -> AccuracyDock:
    dock = AccuracyDock(w)
    w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    dock.hide()
    toggle = dock.toggleViewAction()
    toggle.setShortcut("Ctrl+Shift+A")
    w.addAction(toggle)
    return dock


def setup_team_dock(w: MainWindow) -> TeamDock:
    """The Team dock (shared projects): hidden until asked for in the View menu."""
    dock = TeamDock(w)
    w.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, dock)
    dock.hide()
    return dock


def setup_menus(w: MainWindow) -> Menus:
    a, bar = w.acts, w.menuBar()
    file = bar.addMenu("&File")
    file.addActions([a.new_project, a.open_project])
    recent = file.addMenu("Open &recent")
    file.addAction(a.open_demo)
    file.addSeparator()
    file.addActions([a.add_images, a.import_coco])
    file.addSeparator()
    file.addActions([a.settings, a.quit])
    edit = bar.addMenu("&Edit")
    edit.addActions([a.undo, a.redo, a.delete_person])
    view = bar.addMenu("&View")
    view.addActions([a.fit, a.zoom_in, a.zoom_out, a.zoom_actual])
    view.addSeparator()
    view.addActions([a.show_masks, a.show_boxes, a.opacity_down, a.opacity_up, a.dark_theme])
    view.addAction(w.images_dock.toggleViewAction())
    view.addAction(w.accuracy_dock.toggleViewAction())
    view.addAction(w.team_dock.toggleViewAction())
    go = bar.addMenu("&Go")
    go.addActions([a.prev_image, a.next_image, a.prev_person, a.next_person])
    stage = bar.addMenu("&Stage")
    stage.addActions([a.stage1, a.stage2, a.parts_done])
    tools = bar.addMenu("&Tools")
    tools.addActions(a.tools())
    tools.addSeparator()
    tools.addActions([a.brush_smaller, a.brush_bigger, a.protect])
    parts = tools.addMenu("&Part")
    parts.addActions(list(a.parts))
    model = setup_model_menu(w)
    help_menu = bar.addMenu("&Help")
    help_menu.addActions([a.shortcuts_help, a.about])
    recent.aboutToShow.connect(lambda: w.projects.fill_recent_menu(recent))
    return Menus(file, recent, edit, view, go, stage, tools, model, help_menu)


def setup_model_menu(w: MainWindow) -> QMenu:
    """Model: train, evaluate, compare, runs; pre-annotate and review (docs/adr/0009)."""
    m = w.models.actions
    menu = w.menuBar().addMenu("&Model")
    menu.addActions([m.train, m.evaluate, m.compare, m.runs])
    menu.addSeparator()
    menu.addActions(
        [m.choose_model, m.preannotate_image, m.preannotate_listed, m.preannotate_project]
    )
    menu.addSeparator()
    menu.addActions([m.accept, m.reject])
    menu.addSeparator()
    menu.addAction(m.training_dock)
    return menu


def setup_toolbar(w: MainWindow) -> QToolBar:
    a = w.acts
    bar = QToolBar("Main")
    bar.setObjectName("main-toolbar")
    bar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
    bar.addActions([a.stage1, a.stage2])
    bar.addSeparator()
    bar.addActions([a.prev_image, a.next_image])
    bar.addSeparator()
    bar.addActions(a.tools())
    bar.addSeparator()
    bar.addActions([a.undo, a.redo, a.fit])
    w.addToolBar(Qt.ToolBarArea.TopToolBarArea, bar)
    return bar


def connect_actions(w: MainWindow, a: Actions) -> None:
    p = w.projects
    a.new_project.triggered.connect(lambda: p.new_dialog())
    a.open_project.triggered.connect(p.open_dialog)
    a.open_demo.triggered.connect(p.open_demo)
    a.add_images.triggered.connect(lambda: p.add_images())
    a.import_coco.triggered.connect(lambda: p.import_coco())
    a.settings.triggered.connect(w.show_settings)
    a.quit.triggered.connect(w.close)
    a.undo.triggered.connect(w.undo)
    a.redo.triggered.connect(w.redo)
    a.delete_person.triggered.connect(w.delete_person)
    a.fit.triggered.connect(w.canvas.fit)
    a.zoom_in.triggered.connect(lambda: w.canvas.zoom_by(1.25))
    a.zoom_out.triggered.connect(lambda: w.canvas.zoom_by(0.8))
    a.zoom_actual.triggered.connect(lambda: w.canvas.set_zoom(1.0))
    a.show_masks.toggled.connect(w.overlays.set_shown)
    a.show_boxes.toggled.connect(w.boxes.set_visible)
    a.dark_theme.triggered.connect(lambda on: w.set_theme("dark" if on else "light"))
    a.prev_image.triggered.connect(lambda: w.step_image(-1))
    a.next_image.triggered.connect(lambda: w.step_image(1))
    a.prev_person.triggered.connect(lambda: w.go_to_person(step=-1))
    a.next_person.triggered.connect(lambda: w.go_to_person(step=1))
    a.stage1.triggered.connect(lambda: w.set_stage(1))
    a.stage2.triggered.connect(lambda: w.set_stage(2))
    a.parts_done.triggered.connect(w.parts_done)
    for name, action in zip(("box", "brush", "eraser", "polygon", "fill"), a.tools(), strict=True):
        action.triggered.connect(lambda _=False, n=name: w.stage1.set_tool(n))
    a.brush_smaller.triggered.connect(lambda: w.stage1.grow_brush(-1))
    a.brush_bigger.triggered.connect(lambda: w.stage1.grow_brush(1))
    a.opacity_down.triggered.connect(lambda: w.change_opacity(-0.1))
    a.opacity_up.triggered.connect(lambda: w.change_opacity(0.1))
    a.protect.toggled.connect(w.stage1.set_protect)
    for k, action in enumerate(a.parts):
        action.triggered.connect(lambda _=False, part=k + 1: w.stage1.set_part(part))
    a.shortcuts_help.triggered.connect(w.show_shortcuts)
    a.about.triggered.connect(w.show_about)


def set_editable(w: MainWindow, editable: bool) -> None:
    """Enable what may change the project now (stage-1 keys only in stage 1: stage 2's panel
    has its own, some on the same keys)."""
    a = w.acts
    for action in (a.add_images, a.import_coco):
        action.setEnabled(editable)
    for action in a.stage1_only():
        action.setEnabled(editable and w.stage == 1)
