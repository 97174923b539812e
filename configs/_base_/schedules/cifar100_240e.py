# The CIFAR-100 recipe of the paper (and of the CIFAR KD literature it compares with): 240
# epochs at batch 128, SGD with nesterov momentum 0.9, weight decay 5e-4, lr 0.1 divided by 10 at
# epochs 150, 180 and 210. ShuffleNet and MobileNet configs lower the lr to 0.02.
optim_wrapper = dict(
    optimizer=dict(type='SGD', lr=0.1, momentum=0.9, nesterov=True, weight_decay=5e-4))
param_scheduler = dict(
    type='MultiStepLR', by_epoch=True, milestones=[150, 180, 210], gamma=0.1)

train_cfg = dict(by_epoch=True, max_epochs=240, val_interval=1)
val_cfg = dict()
test_cfg = dict()

# The lr above is for a total batch of 128; `tools/train.py --auto-scale-lr` rescales it linearly
# for another total batch (GPUs x samples per GPU).
auto_scale_lr = dict(base_batch_size=128)
