"""Figures: pure functions from arrays and DataFrames to matplotlib Figures.

One module for the axes every figure shares (:mod:`~stdp_ray.plots.axes`: accuracy
and sample axes, epoch marks, error bars), one for the figures of one run (:mod:`~stdp_ray.plots.run`), one for
those that compare runs, sizes or snapshots (:mod:`~stdp_ray.plots.comparisons`).
Nothing here reads or writes files or touches a simulation; :mod:`stdp_ray.report`
reads run directories and writes the PNGs. Figures are built with
:class:`matplotlib.figure.Figure` directly (no ``pyplot``), so no global
figure state and no interactive backend are involved; ``fig.savefig`` renders
with Agg.
"""


from .comparisons import (CURVE_COLUMNS, EPOCH_SAMPLES, MIN_ACCURACY_SPAN, PAPER_STYLE,
                          ensemble_accuracy_figure, learning_curve_figure, paper_table_figure,
                          size_vs_ensemble_figure, snapshots_figure, sweep_figure)
from .axes import thin
from .inspection import inspection_figure
from .run import (CLASS_COLORS, IMAGE_SIDE, LABEL_LIMIT, TRAIN_STATS_COLUMNS, confusion_figure,
                  receptive_field_image, receptive_fields_figure, rolling_window,
                  tile_grid_shape, training_curves_figure)

__all__ = ["confusion_figure", "receptive_fields_figure", "receptive_field_image",
           "tile_grid_shape", "training_curves_figure", "ensemble_accuracy_figure",
           "rolling_window", "CLASS_COLORS", "LABEL_LIMIT", "IMAGE_SIDE", "TRAIN_STATS_COLUMNS",
           "learning_curve_figure", "snapshots_figure", "size_vs_ensemble_figure",
           "CURVE_COLUMNS", "sweep_figure", "paper_table_figure", "EPOCH_SAMPLES",
           "MIN_ACCURACY_SPAN", "PAPER_STYLE", "thin", "inspection_figure"]
