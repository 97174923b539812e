# What every distillation config runs with, inherited once by each (directly, or through its
# family's ../distillers/ base): rkd imported before anything is built, and rkd's training hooks.
# The rest of the runtime (checkpoint and random-state hooks, logging) merges into the student's
# own base, which sets `default_hooks` itself: mmengine refuses a key that two bases both set.
# The students' own configs do not import rkd (two bases of one config may not both set
# `custom_imports`): mmengine imports rkd the first time it meets a `type='rkd.*'`.
custom_imports = dict(imports=['rkd'], allow_failed_imports=False)

# Stop at the first non-finite loss or gradient, before a non-finite checkpoint is written;
# stop a first optimizer step that changes nothing of the student (frozen after build, lr 0);
# export the student-only checkpoint (work_dir/student.pth) when training ends.
custom_hooks = [dict(type='rkd.NonFiniteGuardHook'), dict(type='rkd.StudentUpdateCheckHook'),
                dict(type='rkd.StudentExportHook')]
