"""Library side of rkd's analysis tools (``tools/analysis_tools``): inspecting models and runs."""
from .feature_explorer import explore, format_table, natural_levels, paired_levels, recorder_lines

__all__ = ['explore', 'format_table', 'natural_levels', 'paired_levels', 'recorder_lines']
