"""Annotator accuracy: geodesic error of stage-2 answers on gold tasks, stage-1 IoU, agreement
between annotators, heat maps on the body and reports. Qt-free."""
