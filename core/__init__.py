"""LayerLab core: data, specs, preprocessing, models, training jobs, evaluation and export.

Nothing here imports Streamlit.
"""

__version__ = "0.1.0"
