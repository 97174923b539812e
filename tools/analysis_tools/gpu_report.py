"""The distillation step on a GPU in one command: CIFAR-100 resnet32x4 -> resnet8x4 (batch 128)
and ImageNet ResNet34 -> ResNet18 (batch 64), each as fast fp32, reference fp32, fast bf16
autocast + channels_last and, within its time box, compiled; within 6 minutes of device time.
Writes gpu_report.json and gpu_report.md (device, torch version, date, one row per form).

    python tools/analysis_tools/gpu_report.py                # on a CUDA machine
    python tools/analysis_tools/gpu_report.py --tiny         # CPU smoke run of the same code
"""
from rkd.analysis.gpu_report import main

if __name__ == '__main__':
    main()
