"""Annotation projects and DensePose-COCO data sets (Qt-free).

* :mod:`~annotator.dataset.store`: :class:`~annotator.dataset.store.Project`, the project
  store (one SQLite file per project) and the only place with SQL
  (with :mod:`~annotator.dataset.store_tasks` and :mod:`~annotator.dataset.schema`).
* :mod:`~annotator.dataset.records`: the plain records it reads and writes.
* :mod:`~annotator.dataset.sampling`: stage-2 points by k-means inside the part masks.
* :mod:`~annotator.dataset.coco_import`: image folders and COCO instances files.
* :mod:`~annotator.dataset.densepose_io`: DensePose-COCO import and export.
* :mod:`~annotator.dataset.validate`: checks of COCO / DensePose-COCO documents.
* :mod:`~annotator.dataset.masks`: label maps, box resampling, RLE helpers.
* :mod:`~annotator.dataset.cli`: ``dpstudio project ...`` and ``dpstudio dataset validate``.

Nothing is imported here, so ``dpstudio --help`` stays fast.
"""
