"""Models in the app: the Model menu (train, evaluate, compare, runs, pre-annotate).

The model itself never runs in the app's process: training, evaluation, comparison and
pre-annotation are ``dpstudio model`` (or ``python -m model...``) processes the app starts and
reads (docs/adr/0009-models-in-the-app.md). The Qt-free cores (``train_core``, ``runs``,
``eval_core``) are tested headless; the widgets only show them.
"""
