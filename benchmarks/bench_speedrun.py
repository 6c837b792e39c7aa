"""B5 CIFAR-10 speed run: from scratch to >= 94 % test accuracy on a GPU, as fast as the course's recipe goes.

Only where a GPU is present. References: airbench94 reaches 94 % in 2.6-3.1 s on an A100, Page's
ResNet-9 in 79 s on a V100. No recipe has been measured yet: this benchmark reports "not run" until
a session with a GPU writes and times one (channels_last, bf16, GPU-side augmentation with
``batch_loader(device="cuda")``, label smoothing, a one-cycle schedule).

    python benchmarks/bench_speedrun.py
"""

from __future__ import annotations

import torch

from common import Result


def run() -> Result:
    result = Result("B5", "CIFAR-10 speed run to 94 % test accuracy (GPU only)", None, "lower",
                    command="python benchmarks/bench_speedrun.py")  # fmt: skip
    if not torch.cuda.is_available():
        result.note = "not run: no GPU lent (this benchmark needs CUDA)"
    else:
        result.note = f"not run: no speed-run recipe measured yet on {torch.cuda.get_device_name(0)}"
    return result


if __name__ == "__main__":
    print(run().note)
