"""Library side of rkd's analysis tools (``tools/analysis_tools``): inspecting models and runs."""
from .feature_explorer import format_table, recorder_lines

__all__ = ['format_table', 'recorder_lines']
