"""Plain one-line explanations for the pages other than Evaluate (whose texts live in core.evaluation.metrics).

METRIC_HELP is shown on hover over a metric (what it means, what is good); CHART_HELP as a caption under a chart;
NEXT_STEPS as the first line of a page (what to do here, what comes next), one entry per page and situation."""

from __future__ import annotations

METRIC_HELP = {
    "rows": "How many examples the table has. More rows usually make a better model; a few hundred is a workable "
    "start.",
    "columns": "How many columns the table has: one is the value to predict, the others can be inputs.",
    "missing_cells": "Empty cells in the whole table. 0 is ideal; a few are fine, they are filled in before training.",
    "parameters": "How many numbers the network learns. More can fit harder patterns but need more rows; far more "
    "than training rows risks memorising.",
    "model_size": "The size of the model file (float32 weights): smaller is quicker to download and to run.",
    "training_memory": "Memory training needs at this batch size, plus a few hundred MB for the framework: it must "
    "fit on this server.",
    "seconds_per_epoch": "How long one pass over the training rows takes on this server; press Measure speed to "
    "time it.",
    "whole_run": "About how long the whole run takes: seconds per epoch times the epochs.",
    "prediction": "What the model predicts for this row; for classes, the table below shows how sure it is.",
}

CHART_HELP = {
    "histogram": "How the column's values are spread: each bar counts the rows in one range of values.",
    "top_values": "The most frequent values: each bar counts the rows with that value.",
    "target_classes": "Rows per class of the target: similar bars are easiest to learn; a tiny class is hard.",
    "target_histogram": "How the values to predict are spread: a few extreme values can pull the model off.",
    "model_diagram": "Your network, inputs at the top and the prediction at the bottom: each box is a layer, "
    "with its size.",
    "training_curves": "Loss (left, lower is better) and score (right) per epoch: both curves should improve; a "
    "validation curve turning worse while training improves means overfitting.",
    "learning_rate": "How big each learning step was per epoch, next to the plan: a schedule lowers it over time.",
    "learning_rate_plan": "How big each learning step will be during training: a schedule lowers it over time.",
}

NEXT_STEPS = {
    "data": {
        "start": "Pick a sample or upload a table, then choose the column to predict.",
        "no_target": "Choose the column to predict below, then go on to Prepare.",
        "ready": "Check the target and the inputs below, then go on to Prepare.",
    },
    "prepare": {
        "no_table": "First load a table on the Data page.",
        "ready": "Fix what the checks below found, then build the model on Model.",
    },
    "model": {
        "no_table": "First load a table on the Data page.",
        "ready": "Pick a preset or add layers, then train it on Train.",
    },
    "train": {
        "no_table": "First load a table on the Data page.",
        "ready": "Press Train to start a run; watch the curves; then see Evaluate.",
        "running": "Your run is training: watch the curves, then see Evaluate.",
        "finished": "Your run finished: see how it scores on Evaluate.",
        "failed": "Your run failed: read the message below, change a setting and press Train again.",
    },
    "predict": {
        "no_run": "First train a model on Train, then predict here.",
        "ready": "Type in one row or upload a file of rows to get predictions, then take the model from Download.",
        "uploaded": "Upload a .keras file made by LayerLab, then upload rows to get predictions.",
    },
    "download": {
        "no_run": "First train a model on Train, then download it here.",
        "ready": "Download the model to use it outside LayerLab: this is the last step.",
    },
}


def next_step(page: str, situation: str) -> str:
    """The first line of a page: what to do here and what comes next."""
    return NEXT_STEPS[page][situation]
