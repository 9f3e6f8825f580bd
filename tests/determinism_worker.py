"""The golden training steps of tests/test_model.py in a process of their own (tests/test_determinism.py).

    determinism_worker.py pinned|free STEPS

`pinned` calls `pin_numerics(True, 2, ...)` first, as the stages do right after loading their params;
`free` pins nothing (`deterministic: false`, `cpu_threads: 0`: torch's own choices for this CPU and
OMP_NUM_THREADS). Then the seeded tiny model of test_two_adam_steps_give_the_stored_loss takes STEPS
Adam steps on its fixed batch, and one JSON line reports the CPU kernels torch used, its threads
and the sha256 of every weight's bytes. Run it under different ATEN_CPU_CAPABILITY, MKL_ENABLE_INSTRUCTIONS
and OMP_NUM_THREADS to play different machines on one.
"""

from __future__ import annotations

import hashlib
import json
import sys

from unimse_core.determinism import pin_numerics


def main(mode: str, steps: int) -> None:
    # the pin comes first: torch and MKL choose their kernels at their first operation
    pin_numerics(mode == "pinned", 2 if mode == "pinned" else 0, group="train")

    import torch
    from transformers import T5ForConditionalGeneration

    from test_model import VOCAB, make_batch, tiny
    from unimse_core.model import UniMSE, parameter_groups, scratch_t5_config

    torch.manual_seed(1234)
    model = UniMSE(T5ForConditionalGeneration(scratch_t5_config(tiny(), VOCAB)), tiny()).train()
    optimizer = torch.optim.Adam(parameter_groups(model, trainable_blocks="all", lr_t5=1e-3, lr_other=1e-3,
                                                  weight_decay=1e-4))
    batch = make_batch()
    for _ in range(steps):
        optimizer.zero_grad()
        model(batch).loss.backward()
        optimizer.step()
    digest = hashlib.sha256()
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().contiguous().numpy().tobytes())
    print(json.dumps({"capability": torch.backends.cpu.get_cpu_capability(), "threads": torch.get_num_threads(),
                      "sha256": digest.hexdigest()}))


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
