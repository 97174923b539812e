"""What list_features prints of a model: its modules, and its natural levels as config lines."""
from mmengine.registry import DefaultScope

from rkd.analysis import format_table, recorder_lines
from rkd.models.algorithms.natural_levels import explore, natural_levels
from rkd.registry import MODELS

from helpers import tiny_classifier


def test_the_table_marks_the_levels_and_the_lines_write_them():
    import mmpretrain.models  # noqa: F401
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = MODELS.build(tiny_classifier(base_channels=4))
    records = explore(model, (16, 16))
    levels = natural_levels(model, records)
    table = format_table(records, levels)
    assert table[0].split() == ['module', 'type', 'calls', 'activation', 'output']
    marked = [line.split()[1] for line in table[1:] if line.startswith('*')]
    assert marked == ['backbone', 'neck']
    lines = recorder_lines('student_recorders', levels, pre_activation=True)
    assert lines[0] == 'student_recorders=[' and lines[-1] == '],'
    assert lines[1] == ("    dict(source='backbone.layer1.1.relu', io='input', call=-1),  "
                        '# (2, 4, 16, 16), pre-activation')  # the stage before its last ReLU
    assert len(lines) == 2 + len(levels)
